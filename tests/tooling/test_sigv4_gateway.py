"""The local gateway's SigV4 check: requests signed by botocore, verified by botocore's signer over
what was received; each refusal a 403 `forbidden` before the function runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sigv4_signing import signed_headers

from local.gateway import Gateway
from local.resources import ACCOUNT_ID
from local.runtime import Invocation
from local.sigv4 import parse_callers
from local.template import Template, load_template

HOST = "127.0.0.1:3000"
URL = f"http://{HOST}"
BODY = json.dumps({"tool": "ai-image-generator", "input": {}}).encode()


class Gate:
    def __init__(self) -> None:
        template = Template(load_template())
        self.events: list[dict[str, Any]] = []
        self.gateway = Gateway(
            template.routes(),
            template.gateway_responses(),
            {"key-alpha": "client-alpha", "key-beta": "client-beta"},
            self._invoke,
            "local",
            parse_callers("AKIDALPHA:alpha-secret=client-alpha,AKIDBETA:beta-secret=client-beta", ACCOUNT_ID),
            "us-east-1",
        )

    def _invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        self.events.append(event)
        return Invocation(True, {"statusCode": 202, "body": "{}"}, None, 1.0)

    def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, Any]]:
        status, _, payload = self.gateway.handle(method, target, list(headers.items()), body)
        return status, json.loads(payload)


@pytest.fixture
def gate() -> Gate:
    return Gate()


def post_headers(**options: Any) -> dict[str, str]:
    return signed_headers(
        "POST", f"{URL}/v1/jobs", BODY, headers={"Host": HOST, "Content-Type": "application/json"}, **options
    )


def test_a_signed_request_reaches_the_function_with_the_identity_api_gateway_gives(gate: Gate) -> None:
    status, _ = gate.send("POST", "/v1/jobs", post_headers(), BODY)
    assert status == 202
    (event,) = gate.events
    identity = event["requestContext"]["identity"]
    assert identity["userArn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/caller-AKIDALPHA"
    assert identity["accessKey"] == "AKIDALPHA"
    assert identity["accountId"] == ACCOUNT_ID
    assert identity["caller"].startswith("AIDA")
    assert identity["apiKeyId"] is None


def test_a_signed_get_with_a_query_passes(gate: Gate) -> None:
    headers = signed_headers("GET", f"{URL}/v1/jobs?limit=5&status=queued", headers={"Host": HOST})
    assert gate.send("GET", "/v1/jobs?limit=5&status=queued", headers)[0] == 202


def refused(gate: Gate, headers: dict[str, str], body: bytes = BODY, target: str = "/v1/jobs") -> str:
    status, answer = gate.send("POST", target, headers, body)
    assert status == 403, answer
    assert answer["error"]["code"] == "forbidden"
    assert gate.events == []  # the function never ran: nothing written
    return str(answer["error"]["message"])


def test_unknown_credentials_are_forbidden(gate: Gate) -> None:
    assert "invalid" in refused(gate, post_headers(key_id="AKIDNOBODY"))


def test_a_wrong_secret_is_forbidden(gate: Gate) -> None:
    assert "does not match" in refused(gate, post_headers(secret="not-alphas"))


def test_a_body_changed_after_signing_is_forbidden(gate: Gate) -> None:
    assert "does not match" in refused(gate, post_headers(), BODY.replace(b"image", b"video"))


def test_another_path_than_signed_is_forbidden(gate: Gate) -> None:
    assert "does not match" in refused(gate, post_headers(), target="/v1/uploads")


def test_a_signed_header_changed_or_missing_is_forbidden(gate: Gate) -> None:
    headers = post_headers()
    assert "does not match" in refused(gate, {**headers, "Content-Type": "text/plain"})
    without = {k: v for k, v in headers.items() if k != "Content-Type"}
    assert "content-type" in refused(gate, without)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_date_outside_five_minutes_is_forbidden(gate: Gate, offset: timedelta) -> None:
    assert "expired" in refused(gate, post_headers(at=datetime.now(UTC) + offset))


def test_a_date_inside_five_minutes_passes(gate: Gate) -> None:
    assert (
        gate.send("POST", "/v1/jobs", post_headers(at=datetime.now(UTC) - timedelta(minutes=4)), BODY)[0]
        == 202
    )


def test_a_wrong_service_or_region_is_forbidden(gate: Gate) -> None:
    assert "service" in refused(gate, post_headers(service="s3"))
    assert "region" in refused(gate, post_headers(region="eu-west-1"))


def test_an_unsigned_payload_hash_is_forbidden(gate: Gate) -> None:
    headers = {**post_headers(), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    assert "x-amz-content-sha256" in refused(gate, headers)


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        ("AWS4-HMAC-SHA256", "Credential"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDALPHA/20260101/us-east-1/execute-api/aws4_request",
            "SignedHeaders",
        ),
        ("AWS4-HMAC-SHA512 Credential=x, SignedHeaders=host, Signature=00", "algorithm"),
        ("AWS4-HMAC-SHA256 Credential=AKIDALPHA, SignedHeaders=host, Signature=00", "Credential must be"),
    ],
)
def test_a_malformed_authorization_header_is_forbidden_saying_what_is_wrong(
    gate: Gate, authorization: str, says: str
) -> None:
    assert says in refused(gate, {**post_headers(), "Authorization": authorization})


def test_a_missing_date_is_forbidden(gate: Gate) -> None:
    headers = {k: v for k, v in post_headers().items() if k != "X-Amz-Date"}
    assert "X-Amz-Date" in refused(gate, headers)


def test_an_api_key_of_another_client_beside_the_signature_is_forbidden(gate: Gate) -> None:
    assert "different clients" in refused(gate, {**post_headers(), "x-api-key": "key-beta"})
    assert "different clients" in refused(gate, {**post_headers(), "x-api-key": "no-such-key"})


def test_an_api_key_of_the_same_client_beside_the_signature_passes(gate: Gate) -> None:
    status, _ = gate.send("POST", "/v1/jobs", {**post_headers(), "x-api-key": "key-alpha"}, BODY)
    assert status == 202
    assert gate.events[0]["requestContext"]["identity"]["apiKeyId"] == "client-alpha"


def test_an_unsigned_request_still_takes_an_api_key(gate: Gate) -> None:
    assert gate.send("POST", "/v1/jobs", {"x-api-key": "key-alpha"}, BODY)[0] == 202
    assert gate.events[0]["requestContext"]["identity"]["userArn"] is None
    status, answer = gate.send("POST", "/v1/jobs", {}, BODY)
    assert (status, answer["error"]["code"]) == (401, "unauthorized")


def test_the_webhook_ignores_a_signature(gate: Gate) -> None:
    headers = signed_headers(
        "POST", f"{URL}/webhooks/magic-hour", b"{}", key_id="AKIDNOBODY", headers={"Host": HOST}
    )
    assert gate.send("POST", "/webhooks/magic-hour", headers, b"{}")[0] == 202


def test_local_iam_callers_parse_and_refuse_what_is_malformed() -> None:
    callers = parse_callers(" AK1:s:e:c=client-a , AK2:t=client-b ", ACCOUNT_ID)
    assert callers["AK1"].secret_access_key == "s:e:c"
    assert callers["AK2"].client_id == "client-b"
    for bad in ("AK1=client", "AK1:secret", ":s=c", "AK1:s=client#x"):
        with pytest.raises(SystemExit):
            parse_callers(bad, ACCOUNT_ID)


def test_a_host_header_no_url_could_hold_is_only_a_signed_header(gate: Gate) -> None:
    # The signature covers the Host header as sent; it is never parsed as part of a URL.
    headers = signed_headers("GET", f"{URL}/v1/jobs", headers={"Host": "["})
    assert gate.send("GET", "/v1/jobs", headers)[0] == 202
    gate.events.clear()
    assert "does not match" in refused(gate, {**headers, "Host": "[::1"})
