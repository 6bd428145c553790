"""Regenerate the sample events in events/ (python -m scripts.make_events).

API Gateway events are built by the local gateway itself, so the samples are exactly what the
functions get locally; the webhook sample carries a valid signature for the documented test secret
`whsec_test_secret` (Magic Hour's test vector from API.md).
"""

from __future__ import annotations

import json

from layer_path import ROOT
from local.gateway import Gateway
from local.resources import ACCOUNT_ID
from local.sigv4 import IamCaller
from local.template import Template, load_template
from pipeline.webhook.signature import sign

EVENTS = ROOT / "events"
TEST_SECRET = "whsec_test_secret"
VECTOR_TIMESTAMP = "1729314984"
VECTOR_BODY = (
    '{"type":"video.completed","payload":{"id":"clx7uu86w0a5qp55yxz315r6r","status":"complete",'
    '"downloads":[{"url":"https://videos.magichour.ai/id/output.mp4","expires_at":"2024-10-19T05:16:19.027Z"}]}}'
)


def api_event(
    gateway: Gateway,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
    signer: IamCaller | None = None,
) -> dict[str, object]:
    found = gateway.match(method, path)
    assert found is not None, path
    route, params = found
    all_headers = {"Host": "localhost:3000", "User-Agent": "sample", **(headers or {})}
    if route.api_key_required and signer is None:
        all_headers["x-api-key"] = "dev-key"
    return gateway.build_event(
        route,
        params,
        method,
        path,
        query,
        list(all_headers.items()),
        body,
        all_headers.get("x-api-key"),
        signer,
    )


def main() -> None:
    template = Template(load_template())
    gateway = Gateway(
        template.routes(),
        template.gateway_responses(),
        {"dev-key": "local"},
        lambda *_: None,  # type: ignore[arg-type]
        "local",
    )
    create = {
        "tool": "ai-image-generator",
        "input": {"image_count": 2, "style": {"prompt": "a lighthouse at dawn"}},
        "name": "sample",
        "metadata": {"order_id": "A-17"},
    }
    samples: dict[str, object] = {
        "submit-create-job.json": api_event(
            gateway,
            "POST",
            "/v1/jobs",
            json.dumps(create).encode(),
            {"Content-Type": "application/json", "Idempotency-Key": "sample-0001"},
        ),
        # The same create from a SigV4 caller, as the IAM API hands it over (signature already checked).
        "submit-create-job-signed.json": api_event(
            gateway,
            "POST",
            "/v1/jobs",
            json.dumps(create).encode(),
            {"Content-Type": "application/json", "Idempotency-Key": "sample-0002"},
            signer=IamCaller("AKIDLOCAL", "local-secret", "local", ACCOUNT_ID),
        ),
        "query-get-job.json": api_event(gateway, "GET", "/v1/jobs/job_aaaaaaaaaaaaaaaaaaaaaaaaaa"),
        "query-list-jobs.json": api_event(gateway, "GET", "/v1/jobs", query="status=completed&limit=10"),
        "submit-cancel-job.json": api_event(
            gateway, "POST", "/v1/jobs/job_aaaaaaaaaaaaaaaaaaaaaaaaaa/cancel"
        ),
        "query-get-batch.json": api_event(gateway, "GET", "/v1/batches/batch_aaaaaaaaaaaaaaaaaaaaaaaaaa"),
        "submit-create-batch.json": api_event(
            gateway,
            "POST",
            "/v1/batches",
            json.dumps({"jobs": [{"custom_id": "row-1", **create}]}).encode(),
            {"Content-Type": "application/json"},
        ),
        "submit-cancel-batch.json": api_event(
            gateway, "POST", "/v1/batches/batch_aaaaaaaaaaaaaaaaaaaaaaaaaa/cancel"
        ),
        "query-list-batches.json": api_event(gateway, "GET", "/v1/batches", query="limit=10"),
        "query-list-batch-jobs.json": api_event(
            gateway, "GET", "/v1/batches/batch_aaaaaaaaaaaaaaaaaaaaaaaaaa/jobs", query="limit=10"
        ),
        "query-list-tools.json": api_event(gateway, "GET", "/v1/tools"),
        "submit-create-upload.json": api_event(
            gateway,
            "POST",
            "/v1/uploads",
            json.dumps({"extension": "mp4"}).encode(),
            {"Content-Type": "application/json"},
        ),
        "query-get-callback-secret.json": api_event(gateway, "GET", "/v1/callback-secret"),
        "submit-rotate-callback-secret.json": api_event(gateway, "POST", "/v1/callback-secret/rotate"),
        "query-get-usage.json": api_event(gateway, "GET", "/v1/usage", query="day=2026-11-23"),
        "webhook-video-completed.json": api_event(
            gateway,
            "POST",
            "/webhooks/magic-hour",
            VECTOR_BODY.encode(),
            {
                "Content-Type": "application/json",
                "magic-hour-event-timestamp": VECTOR_TIMESTAMP,
                "magic-hour-event-signature": sign(TEST_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY.encode()),
            },
        ),
        # The secret path, with the token of the documented test value (local/config.py's default).
        "webhook-video-completed-secret-path.json": api_event(
            gateway,
            "POST",
            "/webhooks/magic-hour/local-webhook-path-token",
            VECTOR_BODY.encode(),
            {
                "Content-Type": "application/json",
                "magic-hour-event-timestamp": VECTOR_TIMESTAMP,
                "magic-hour-event-signature": sign(TEST_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY.encode()),
            },
        ),
        "downloader-sqs-batch.json": {
            "Records": [
                {
                    "messageId": "b7f9ef43-4bfb-4f2e-9e2e-7a1c7f1d2a01",
                    "receiptHandle": "sample-receipt-handle",
                    "body": json.dumps(
                        {
                            "job_id": "job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
                            "project_id": "clx7uu86w0a5qp55yxz315r6r",
                            "kind": "video",
                            "index": 0,
                            "url": "https://videos.magichour.ai/id/output.mp4",
                            "expires_at": "2024-10-19T05:16:19.027Z",
                        }
                    ),
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1729314984000",
                        "SenderId": "AIDAEXAMPLE",
                        "ApproximateFirstReceiveTimestamp": "1729314984001",
                    },
                    "messageAttributes": {},
                    "md5OfBody": "0" * 32,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:magic-hour-local-DownloadQueue",
                    "awsRegion": "us-east-1",
                }
            ]
        },
    }
    samples["sweep-scheduled.json"] = {
        "version": "0",
        "id": "5f1e2c7a-53c4-4b36-9a8c-0f4d1a2b3c4d",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-23T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/SweepFunction-Sweep"],
        "detail": {},
    }
    callback_record = dict(samples["downloader-sqs-batch.json"]["Records"][0])  # type: ignore[index]
    callback_record.update(
        messageId="0c1d7a52-8f0e-4b8e-a1e5-5d7c3f2b9e10",
        body=json.dumps(
            {
                "job_id": "job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
                "webhook_id": "msg_job_aaaaaaaaaaaaaaaaaaaaaaaaaa_completed",
            }
        ),
        eventSourceARN="arn:aws:sqs:us-east-1:123456789012:magic-hour-local-CallbackQueue",
    )
    samples["callback-sqs-batch.json"] = {"Records": [callback_record]}
    wakeup_record = dict(samples["downloader-sqs-batch.json"]["Records"][0])  # type: ignore[index]
    wakeup_record.update(
        messageId="5b2f0c1e-3a4d-4e6f-9a8b-7c6d5e4f3a2b",
        body='{"wake":true}',
        eventSourceARN="arn:aws:sqs:us-east-1:123456789012:magic-hour-local-DispatchQueue",
    )
    samples["dispatch-sqs-wakeup.json"] = {"Records": [wakeup_record]}
    EVENTS.mkdir(exist_ok=True)
    for name, event in samples.items():
        (EVENTS / name).write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
