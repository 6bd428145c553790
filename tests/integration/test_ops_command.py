"""`python -m ops` against the real local stack (its moto server), as an operator would run it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

from ops.cli import main
from tests.observe import CallbackReceiver
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
STACK_NAME = "pipeline-test"  # tests/conftest.py start_stack


class Receiver(CallbackReceiver):
    """A client's callback endpoint that refuses deliveries while `failing` is set."""

    def __init__(self) -> None:
        self.failing = True
        super().__init__("/hooks?token=s3cr3t-token", refuses=lambda _count: self.failing)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()


@pytest.fixture
def ops(stack: StackHandle, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--local", STACK_NAME, "--endpoint-url", stack.aws, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def callback_of(stack: StackHandle, job_id: str) -> dict[str, Any]:
    return dict(stack.get_job(job_id).json().get("callback") or {})


def spent(stack: StackHandle, key: str = "key-alpha") -> tuple[int, int]:
    """Today's usage of the key's client: (credits charged, jobs counted)."""
    answer = requests.get(f"{stack.api}/v1/usage", headers=stack.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["credits_charged"]), int(answer.json()["jobs"])


def test_jobs_finds_stuck_jobs_across_clients(stack, ops) -> None:
    stack.scenario(webhook_send=False)
    alpha = stack.post_job(VOICE, key="key-alpha").json()["job_id"]
    beta = stack.post_job(VOICE, key="key-beta").json()["job_id"]
    stack.wait_for(alpha, {"queued", "rendering"})
    code, out, _ = ops("jobs", "--stuck", "--older-than", "0s", "--limit", "1000")
    assert code == 0
    found = {job["job_id"]: job for job in json.loads(out)["jobs"]}
    assert {alpha, beta} <= set(found)
    assert found[alpha]["client_id"] == "client-alpha"
    assert found[beta]["client_id"] == "client-beta"
    # Young jobs are not stuck by the default threshold (1 h).
    code, out, _ = ops("jobs", "--stuck")
    assert alpha not in {job["job_id"] for job in json.loads(out)["jobs"]}
    # One client only.
    code, out, _ = ops("jobs", "--stuck", "--older-than", "0s", "--client", "client-beta", "--limit", "1000")
    ids = {job["job_id"] for job in json.loads(out)["jobs"]}
    assert beta in ids
    assert alpha not in ids


def test_fail_ends_a_job_sends_its_callback_and_repeating_changes_nothing(stack, ops, receiver) -> None:
    receiver.failing = False
    stack.scenario(webhook_send=False)
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    credits = int(stack.wait_for(job_id, {"queued", "rendering"})["credits_charged"])
    assert credits > 0
    charged = spent(stack)

    code, out, err = ops("fail", job_id, "--reason", "Magic Hour lost the project")
    assert code == 0
    assert "failed (failed_callback_queued)" in out
    job = stack.get_job(job_id).json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "operator_failed"
    assert "Magic Hour lost the project" in job["error"]["message"]
    audit = json.loads(err.strip().splitlines()[-1])
    assert audit["action"] == "fail"
    assert audit["job_id"] == job_id
    assert audit["result"] == "failed_callback_queued"
    # Magic Hour created (and charges) the project whatever an operator says: it keeps counting.
    assert spent(stack) == charged
    # Counted as an ending (the pipeline's metric record, echoed on stderr).
    ended = [json.loads(line) for line in err.splitlines() if '"JobsEnded"' in line]
    assert [(record["status"], record["kind"]) for record in ended] == [("failed", "audio")]
    _, _, body = poll(receiver.accepted, what="the callback")[0]
    assert json.loads(body)["status"] == "failed"
    assert poll(lambda: callback_of(stack, job_id).get("state") == "delivered")

    code, out, err = ops("fail", job_id, "--reason", "again")
    assert code == 0
    assert "already ended" in out
    after = stack.get_job(job_id).json()
    assert after["error"]["message"] == job["error"]["message"]
    assert len(receiver.accepted()) == 1
    assert spent(stack) == charged  # never refunded


def test_failed_by_source_and_given_up_are_found(stack, ops) -> None:
    stack.scenario(webhook_send=False)
    job_id = stack.post_job(VOICE).json()["job_id"]
    stack.wait_for(job_id, {"queued", "rendering"})
    ops("fail", job_id, "--reason", "test")
    code, out, _ = ops("jobs", "--failed-by", "magic_hour", "--code", "operator_failed", "--limit", "1000")
    assert code == 0
    assert job_id in {job["job_id"] for job in json.loads(out)["jobs"]}
    _, out, _ = ops("jobs", "--failed-by", "download", "--limit", "1000")
    assert job_id not in {job["job_id"] for job in json.loads(out)["jobs"]}
    _, out, _ = ops("jobs", "--given-up", "--limit", "1000")
    assert job_id not in {job["job_id"] for job in json.loads(out)["jobs"]}


def test_show_tells_the_story_without_the_callback_token(stack, ops, receiver) -> None:
    receiver.failing = False
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    stack.wait_for(job_id, {"completed"})
    code, out, _ = ops("show", job_id)
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == "completed"
    assert shown["client_id"] == "client-alpha"
    assert shown["outputs"]["0"]["s3_key"].startswith(f"jobs/{job_id}/")
    assert next(event["what"] for event in shown["history"]) == "accepted"
    assert f"filter job_id = '{job_id}'" in shown["logs_query"]
    assert "s3cr3t-token" not in out
    assert shown["callback_url"].endswith("/hooks?…")
    code, _, err = ops("show", "job_doesnotexist")
    assert code == 1
    assert "no job" in err


def test_resweep_makes_a_watched_job_due_now(stack, ops, aws) -> None:
    stack.scenario(webhook_send=False)
    job_id = stack.post_job(VOICE).json()["job_id"]
    stack.wait_for(job_id, {"queued", "rendering"})
    table = aws("dynamodb")
    before = int(
        table.get_item(TableName=f"{STACK_NAME}-JobsTable", Key={"job_id": {"S": job_id}})["Item"][
            "next_check_at"
        ]["N"]
    )
    assert before > time.time()
    assert ops("resweep", job_id)[0] == 0
    item = table.get_item(TableName=f"{STACK_NAME}-JobsTable", Key={"job_id": {"S": job_id}})["Item"]
    assert int(item["next_check_at"]["N"]) <= time.time()
    assert item["sweep_checks"]["N"] == "0"


def test_callback_dead_letters_are_really_redelivered(stack, ops, receiver, aws) -> None:
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    assert poll(lambda: callback_of(stack, job_id).get("state") == "failed", what="callback failed")
    sqs = aws("sqs")
    dlq = sqs.get_queue_url(QueueName=f"{STACK_NAME}-CallbackDeadLetterQueue")["QueueUrl"]
    poll(
        lambda: int(
            sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        ),
        what="the dead letter",
    )
    receiver.failing = False
    code, out, _err = ops("redrive", "callback")
    assert code == 0
    assert "moved" in out
    _, _, body = poll(receiver.accepted, what="the redelivered callback")[0]
    assert json.loads(body)["job_id"] == job_id
    assert poll(lambda: callback_of(stack, job_id).get("state") == "delivered")
    # Nothing left to redrive: repeating it moves nothing and sends nothing.
    code, out, _ = ops("redrive", "callback")
    assert "moved 0" in out
    assert len(receiver.accepted()) == 1


def test_download_dead_letters_are_redriven_and_the_job_completes(stack, ops) -> None:
    # An outage of the file host that outlasts the six attempts, then ends.
    def dead_letters() -> int:
        return int(json.loads(ops("queues")[1])["download_dead_letter_queue_url"]["visible"])

    # Earlier tests on this stack may have left dead letters: wait for this job's own.
    before = dead_letters()
    stack.scenario(download_fail_first=6, download_fail_status=503)
    job_id = stack.post_job(VOICE).json()["job_id"]
    failed = stack.wait_for(job_id, {"failed", "completed"}, timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"]["source"] == "download"
    poll(lambda: dead_letters() > before, what="the job's dead letter")
    code, _out, _ = ops("redrive", "download")
    assert code == 0
    assert stack.wait_for(job_id, {"completed"}, timeout=60)["status"] == "completed"


def test_set_budget_writes_the_clients_profile(stack, ops, aws) -> None:
    table = aws("dynamodb")
    key = {"client_id": {"S": "client-gamma"}, "item": {"S": "profile"}}
    for _ in range(2):  # safe to repeat
        assert ops("set-budget", "client-gamma", "--credits", "500")[0] == 0
        item = table.get_item(TableName=f"{STACK_NAME}-ClientsTable", Key=key)["Item"]
        assert item["daily_credit_budget"]["N"] == "500"
    assert ops("set-budget", "client-gamma", "--unlimited")[0] == 0
    item = table.get_item(TableName=f"{STACK_NAME}-ClientsTable", Key=key)["Item"]
    assert "daily_credit_budget" not in item


def test_a_budget_is_a_whole_number_of_credits(stack, ops, aws) -> None:
    assert ops("set-budget", "client-gamma", "--credits", "7")[0] == 0
    code, _, err = ops("set-budget", "client-gamma", "--credits", "-1")
    assert code == 1
    assert "0 or more" in err
    key = {"client_id": {"S": "client-gamma"}, "item": {"S": "profile"}}
    item = aws("dynamodb").get_item(TableName=f"{STACK_NAME}-ClientsTable", Key=key)["Item"]
    assert item["daily_credit_budget"]["N"] == "7"  # unchanged
    assert ops("set-budget", "client-gamma", "--unlimited")[0] == 0


def test_rotating_secrets_never_prints_them(stack, ops, aws, tmp_path: Path) -> None:
    manager = aws("secretsmanager")
    webhook_id = f"{STACK_NAME}/magic-hour/webhook-secret"
    old = manager.get_secret_value(SecretId=webhook_id)["SecretString"]
    new_file = tmp_path / "new"
    new_file.write_text("whsec_brand_new_secret\n")
    try:
        for _ in range(2):
            code, out, err = ops(
                "rotate-secret", "magic-hour-webhook-secret", "--phase", "begin", "--from-file", str(new_file)
            )
            assert code == 0
            stored = json.loads(manager.get_secret_value(SecretId=webhook_id)["SecretString"])
            assert stored == {"current": old, "next": "whsec_brand_new_secret"}
            assert "whsec_brand_new_secret" not in out + err
            assert old not in out + err
        code, out, err = ops("rotate-secret", "magic-hour-webhook-secret", "--phase", "finish")
        assert manager.get_secret_value(SecretId=webhook_id)["SecretString"] == "whsec_brand_new_secret"
        assert "unchanged" in ops("rotate-secret", "magic-hour-webhook-secret", "--phase", "finish")[1]
    finally:
        manager.put_secret_value(SecretId=webhook_id, SecretString=old)

    callback_id = f"{STACK_NAME}/callbacks/signing-secret"
    before = manager.get_secret_value(SecretId=callback_id)["SecretString"]
    try:
        code, out, err = ops("rotate-secret", "callback-signing-secret", "--generate")
        after = manager.get_secret_value(SecretId=callback_id)["SecretString"]
        assert after != before
        assert after.startswith("whsec_")
        assert after not in out + err
    finally:
        manager.put_secret_value(SecretId=callback_id, SecretString=before)
    # A value is never taken from the command line.
    assert ops("rotate-secret", "magic-hour-api-key")[0] == 1


# -- a failure gives back its Magic Hour slot at once ---------------------------------------------


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """One render at a time, and a sweep that runs hourly: whatever frees the slot within this
    test is the fail itself, not the sweep reclaiming it."""
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"MagicHourMaxConcurrency": "1"}
    )
    try:
        yield handle
    finally:
        stack.stop()


def slot_holders(stack: StackHandle) -> set[str]:
    from local.resources import client

    answer = client("dynamodb", stack.aws, "us-east-1").query(
        TableName=f"{STACK_NAME}-ClientsTable",
        KeyConditionExpression="client_id = :p AND begins_with(#i, :s)",
        ExpressionAttributeNames={"#i": "item"},
        ExpressionAttributeValues={":p": {"S": "#pipeline"}, ":s": {"S": "slot#"}},
        ConsistentRead=True,
    )
    return {item["holder"]["S"] for item in answer["Items"] if "holder" in item}


def test_fail_gives_back_the_slot_and_the_next_waiting_job_is_created(
    one_slot: StackHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    one_slot.scenario(webhook_send=False, render_seconds=0.3)
    holder = one_slot.post_job(VOICE).json()["job_id"]
    one_slot.wait_for(holder, {"queued", "rendering"})
    waiting = one_slot.post_job(VOICE, key="key-beta").json()["job_id"]
    assert one_slot.wait_for(waiting, {"waiting"}, key="key-beta")["status"] == "waiting"
    assert slot_holders(one_slot) == {holder}

    capsys.readouterr()
    code = main(["--local", STACK_NAME, "--endpoint-url", one_slot.aws, "fail", holder, "--reason", "stuck"])
    assert code == 0, capsys.readouterr().err
    assert one_slot.get_job(holder).json()["status"] == "failed"
    # In the write that failed it, not at the next sweep (an hour away).
    assert holder not in slot_holders(one_slot)
    # And the dispatcher was woken: the waiting job gets the slot now.
    moved = one_slot.wait_for(waiting, {"submitting", "queued", "rendering"}, timeout=20, key="key-beta")
    assert moved["status"] != "waiting"
    assert poll(lambda: slot_holders(one_slot) == {waiting}, what="the slot taken by the waiting job")


# -- make smoke ---------------------------------------------------------------------------------


def test_smoke_passes_against_the_local_stack(stack, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.smoke import main as smoke_main

    code = smoke_main(["--api-url", stack.api, "--api-key", "key-alpha", "--timeout", "60"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   submit POST /v1/jobs" in out
    assert "ok   download outputs and check sha256" in out
    assert "matches" in out
    assert "key-alpha" not in out
    assert "X-Amz-Signature" not in out


def test_smoke_fails_clearly_when_the_job_fails(stack, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.smoke import main as smoke_main

    stack.scenario(outcome="error")
    code = smoke_main(["--api-url", stack.api, "--api-key", "key-alpha", "--timeout", "60"])
    captured = capsys.readouterr()
    assert code == 1
    assert "smoke test FAILED" in captured.err
    assert "ended failed" in captured.err


def test_smoke_fails_clearly_with_a_wrong_key(stack, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.smoke import main as smoke_main

    code = smoke_main(["--api-url", stack.api, "--api-key", "not-a-key", "--timeout", "5"])
    captured = capsys.readouterr()
    assert code == 1
    assert "HTTP 401 unauthorized" in captured.err


def test_smoke_catches_a_corrupted_output(
    stack, aws, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """The check must bite: bytes that differ from the recorded sha256 fail the smoke test."""
    import ops.smoke as smoke_module

    real_get = smoke_module.requests.get

    def corrupting_get(url: str, **kwargs: Any) -> Any:
        answer = real_get(url, **kwargs)
        if "/v1/jobs" not in url:
            answer.iter_content = lambda size: iter([b"not the stored bytes"])  # type: ignore[method-assign]
        return answer

    monkeypatch.setattr(smoke_module.requests, "get", corrupting_get)
    code = smoke_module.main(["--api-url", stack.api, "--api-key", "key-alpha", "--timeout", "60"])
    assert code == 1
    assert "sha256" in capsys.readouterr().err


# -- one job's story in the logs ------------------------------------------------------------------


def _log_lines(stack: StackHandle) -> list[dict[str, Any]]:
    lines = []
    text = Path(stack.stack.function_log).read_text(errors="replace")
    # Functions still running append to the log as it is read: its last line may be half-written.
    # Split on "\n" only: str.splitlines also breaks at U+2028, NEL and friends, which a hostile
    # project id from the webhook tests carries inside a JSON string.
    complete = text[: text.rfind("\n") + 1]
    for raw in complete.split("\n"):
        if raw.startswith("{") and '"level"' in raw:
            lines.append(json.loads(raw))
    return lines


def _lines_about(stack: StackHandle, job_id: str) -> list[dict[str, Any]]:
    return [line for line in _log_lines(stack) if line.get("job_id") == job_id]


def test_every_function_names_the_job_and_its_client_on_its_log_lines(stack, receiver) -> None:
    """What the runbook's Logs Insights query relies on: filter job_id = X shows the job's story."""
    stack.scenario(download_fail_first=1)  # one retried download: the downloader logs about it
    receiver.failing = False
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    stack.wait_for(job_id, {"completed"})
    poll(lambda: callback_of(stack, job_id).get("state") == "delivered")
    poll(
        lambda: {"webhook", "downloader"} <= {line["service"] for line in _lines_about(stack, job_id)},
        what="log lines of the webhook and the downloader",
    )
    story = _lines_about(stack, job_id)
    webhook_lines = [line for line in story if line["service"] == "webhook"]
    assert webhook_lines
    assert all(line.get("client_id") == "client-alpha" for line in webhook_lines)
    # The next job's lines, in the same warm containers, never carry the first job's id.
    other = stack.post_job(VOICE, key="key-beta").json()["job_id"]
    stack.wait_for(other, {"completed"}, key="key-beta")
    poll(lambda: _lines_about(stack, other), what="log lines of the second job")
    leaked = [line for line in _log_lines(stack) if other in json.dumps(line) and line.get("job_id") != other]
    assert leaked == []


# -- the sweep never overlaps itself ------------------------------------------------------------


def test_a_sweep_does_nothing_while_another_holds_the_lease(stack, aws) -> None:
    table = f"{STACK_NAME}-ClientsTable"
    lease = {"client_id": {"S": "#pipeline"}, "item": {"S": "lease#sweep"}}
    dynamodb = aws("dynamodb")
    dynamodb.put_item(
        TableName=table,
        Item={**lease, "holder": {"S": "a-slow-sweep"}, "until": {"N": str(int(time.time()) + 600)}},
    )
    try:
        blocked = stack.stack.invoke("SweepFunction", {"source": "aws.events"})
        assert blocked.ok, blocked.error
        assert blocked.payload["stopped"] == "overlap"
        assert blocked.payload["checked"] == 0
        # The other sweep's lease is left alone.
        assert dynamodb.get_item(TableName=table, Key=lease)["Item"]["holder"]["S"] == "a-slow-sweep"
    finally:
        dynamodb.delete_item(TableName=table, Key=lease)
    free = stack.stack.invoke("SweepFunction", {"source": "aws.events"})
    assert free.ok, free.error
    assert free.payload["stopped"] is None
    assert "Item" not in dynamodb.get_item(TableName=table, Key=lease)  # released when done


def test_account_shows_the_balance_tier_and_the_auto_limit(stack, ops) -> None:
    stack.scenario(account_credits=4321, account_tier="pro")
    code, printed, _ = ops("account", "--magic-hour-url", stack.magic_hour)
    assert code == 0
    shown = json.loads(printed)
    assert (shown["credits"], shown["tier"], shown["auto_concurrency_limit"]) == (4321, "pro", 5)
    assert "mh-" not in printed  # the stack's Magic Hour key is used, never shown
    stack.scenario(account_credits=1_000_000, account_tier="business")
    shown = json.loads(ops("account", "--magic-hour-url", stack.magic_hour)[1])
    assert (shown["tier"], shown["auto_concurrency_limit"]) == ("business", 0)


def test_account_says_when_magic_hour_refuses(stack, ops) -> None:
    code, _, errors = ops("account", "--magic-hour-url", stack.magic_hour + "/nowhere")
    assert code == 1
    assert "Magic Hour" in errors
