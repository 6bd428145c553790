"""Nothing secret in traces: each API function (submit, query) runs with X-Ray tracing on (an in-memory
emitter instead of the daemon) and every segment it emits is searched for the secret and
the presigned URLs its answers carry. In a fresh process: Powertools' Tracer state is global."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_VHJhY2VkU2VjcmV0VmFsdWU="
PRESIGNED = "https://b.s3.amazonaws.com/k?X-Amz-Signature=tracedsignature0123"

PROBE = r"""
import json, sys
from aws_xray_sdk.core import xray_recorder

sent = []

class Emitter:
    def send_entity(self, entity):
        sent.append(entity.serialize())

    def set_daemon_address(self, address):
        pass

xray_recorder.configure(emitter=Emitter(), sampling=False, streaming_threshold=0)
import app
from pipeline.callbacks import callback_secrets
from pipeline.submit import queries

callback_secrets.current_secret = lambda client_id: SECRET
callback_secrets.rotate = lambda client_id: SECRET
queries.get_job = lambda client_id, job_id: {"job_id": job_id, "outputs": [{"download_url": PRESIGNED}]}
queries.list_jobs = lambda *args: {"jobs": [{"outputs": [{"download_url": PRESIGNED}]}], "next_cursor": None}

class Context:
    function_name = "SubmitFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:SubmitFunction"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self):
        return 10000

statuses = []
for name in sys.argv[1:]:
    event = json.load(open(name))
    statuses.append(app.lambda_handler(event, Context())["statusCode"])
print(json.dumps({"statuses": statuses, "segments": sent}))
"""


# Each API function with the events whose answers carry a secret or a presigned URL, and one
# route of it that must have been traced.
CASES = {
    "submit": (["submit-rotate-callback-secret.json"], "## app.rotate_callback_secret"),
    "query": (
        ["query-get-callback-secret.json", "query-get-job.json", "query-list-jobs.json"],
        "## app.get_callback_secret",
    ),
}


@pytest.mark.parametrize("function", sorted(CASES))
def test_api_traces_hold_no_secret_and_no_presigned_url(function: str) -> None:
    names, traced = CASES[function]
    events = [str(ROOT / "events" / name) for name in names]
    environment = {
        **os.environ,
        # As in Lambda: Powertools traces only when it sees the Lambda task root.
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "AWS_LAMBDA_FUNCTION_NAME": f"{function.title()}Function",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "test",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / function), str(ROOT / "shared")]),
    }
    probe = f"SECRET = {SECRET!r}\nPRESIGNED = {PRESIGNED!r}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", probe, *events],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["statuses"] == [200] * len(events)
    segments = "\n".join(result["segments"])
    assert traced in segments  # tracing really ran
    for value in (SECRET, SECRET.removeprefix("whsec_"), "tracedsignature0123"):
        assert value not in segments
