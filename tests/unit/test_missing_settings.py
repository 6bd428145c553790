"""Every place that names a stack resource fails with MissingSetting, naming the variable, when
the function's environment lacks it: before any AWS call, and never with a made-up name such as
s3://None/... in a URI or a table called "jobs"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from pipeline.create import inputs
from pipeline.models.api import CreateUploadRequest
from pipeline.models.tasks import CallbackTask
from pipeline.platform import environment, secret_store
from pipeline.platform.settings import MissingSetting, Settings
from pipeline.store import callback_queue, clients, dispatch_queue, download_queue, job_items, jobs, outputs
from pipeline.submit import uploads

UPLOAD = "s3://some-bucket/uploads/client-a/" + "a" * 32 + ".mp4"
FACE_SWAP = {"assets": {"video_source": "file", "video_file_path": UPLOAD, "image_file_path": UPLOAD}}

# (module whose get_settings is used, the call, the variable it must name)
CASES: list[tuple[ModuleType, Callable[[], Any], str]] = [
    (job_items, lambda: jobs.get_job("job_x"), "JOBS_TABLE_NAME"),
    (clients, lambda: clients.get_profile("client-a"), "CLIENTS_TABLE_NAME"),
    (outputs, lambda: outputs.s3_uri("jobs/x/output-0.mp4"), "OUTPUT_BUCKET_NAME"),
    (outputs, lambda: outputs.head("jobs/x/output-0.mp4"), "OUTPUT_BUCKET_NAME"),
    (outputs, lambda: outputs.presigned_get("jobs/x/output-0.mp4", 60), "OUTPUT_BUCKET_NAME"),
    (download_queue, lambda: download_queue.send_download_tasks([]), "DOWNLOAD_QUEUE_URL"),
    (
        callback_queue,
        lambda: callback_queue.send_callback_task(CallbackTask(job_id="job_x", webhook_id="msg_x")),
        "CALLBACK_QUEUE_URL",
    ),
    (dispatch_queue, dispatch_queue.send_wakeup, "DISPATCH_QUEUE_URL"),
    (secret_store, secret_store.magic_hour_api_key, "MAGIC_HOUR_API_KEY_SECRET"),
    (secret_store, secret_store.webhook_secrets, "MAGIC_HOUR_WEBHOOK_SECRET"),
    (secret_store, secret_store.callback_master_secret, "CALLBACK_SIGNING_SECRET"),
    (
        uploads,
        lambda: uploads.create_upload("client-a", CreateUploadRequest(extension="mp4")),
        "INPUT_BUCKET_NAME",
    ),
    (inputs, lambda: inputs.check_s3_inputs("client-a", FACE_SWAP), "INPUT_BUCKET_NAME"),
]


def _clear_clients() -> None:
    environment.forget()


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clients can be made (that is local), but any request would fail loudly, not reach AWS;
    none made here outlives the test."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(secret_store, "read_secret", _no_secret_read)
    _clear_clients()
    yield
    _clear_clients()


def _no_secret_read(name: str) -> str:
    raise AssertionError(f"a secret was read by the name {name!r}")


@pytest.mark.parametrize(
    ("module", "call", "variable"), CASES, ids=[f"{m.__name__}-{v}-{i}" for i, (m, _, v) in enumerate(CASES)]
)
def test_a_missing_resource_setting_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, call: Callable[[], Any], variable: str
) -> None:
    monkeypatch.setattr(module, "get_settings", lambda: Settings())
    with pytest.raises(MissingSetting) as failure:
        call()
    assert failure.value.variable == variable
    assert variable in str(failure.value)
