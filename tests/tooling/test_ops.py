"""The ops command's plain parts, with fakes at the AWS seam (tests/integration/test_ops_command.py drives
it against the local stack)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ops import cli, jobs, logs_cli, queues, secrets, targets


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("2d", 172800), ("0s", 0)]
)
def test_ages(text: str, seconds: int) -> None:
    assert jobs.parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1w", "-5m", "ten"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        jobs.parse_age(text)


def test_callback_urls_are_shown_without_their_secrets() -> None:
    shown = jobs.redact_url("https://user:pw@hooks.example.com:8443/in/magic?token=abc")
    assert shown == "https://hooks.example.com:8443/in/magic?…"
    assert jobs.redact_url("https://hooks.example.com/in") == "https://hooks.example.com/in"


def test_the_story_of_a_job_orders_what_happened() -> None:
    item = {
        "job_id": "job_1",
        "client_id": "c",
        "status": "failed",
        "project_id": "p1",
        "created_at": "2026-11-23T00:00:00.000Z",
        "updated_at": "2026-11-23T00:05:00.000Z",
        "outputs": {"0": {"s3_key": "k", "size_bytes": 5, "stored_at": "2026-11-23T00:04:00.000Z"}},
        "error": {"source": "download", "code": "download_failed", "message": "m"},
        "callback_url": "https://x.example/cb?sig=1",
        "callback_state": "failed",
        "callback_attempts": 4,
        "active": "1",
        "next_check_at": 0,
    }
    story = jobs.story(item)
    whats = [event["what"] for event in story["history"]]
    assert whats[0] == "accepted"
    assert whats.index("output 0 stored (5 B)") < whats.index("failed: download/download_failed")
    assert story["callback_url"] == "https://x.example/cb?…"
    assert story["sweep"]["watched"] is True


class FakeSqs:
    def __init__(self, messages: list[str]) -> None:
        self.dead = [{"Body": body, "ReceiptHandle": str(i)} for i, body in enumerate(messages)]
        self.sent: list[str] = []
        self.deleted: list[str] = []

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {"Attributes": {"ApproximateNumberOfMessages": str(len(self.dead))}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        batch, self.dead = self.dead[:10], self.dead[10:]
        return {"Messages": batch}

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        self.sent.append(MessageBody)

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


def test_redrive_sends_back_what_its_check_allows_and_drops_the_rest() -> None:
    bodies = [json.dumps({"job_id": f"job_{i}", "webhook_id": "w"}) for i in range(12)] + ["not json"]
    sqs = FakeSqs(bodies)
    report = queues.redrive(
        sqs, "dlq", "src", prepare=lambda body: "send" if body["job_id"] != "job_3" else "delivered"
    )
    assert report.moved == 11
    assert report.dropped == 2
    assert report.outcomes == {"send": 11, "delivered": 1, "not_a_task": 1}
    assert json.dumps({"job_id": "job_3", "webhook_id": "w"}) not in sqs.sent
    assert len(sqs.deleted) == 13


class FakeSecrets:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.puts = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        if self.value is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetSecretValue")
        return {"SecretString": self.value}

    def put_secret_value(self, SecretId: str, SecretString: str) -> None:
        self.value = SecretString
        self.puts += 1


def test_webhook_secret_rotation_accepts_both_then_only_the_new() -> None:
    store = FakeSecrets("old")
    assert secrets.webhook_begin(store, "id", "new") == "stored"
    assert json.loads(store.value or "") == {"current": "old", "next": "new"}
    assert secrets.webhook_begin(store, "id", "new") == "unchanged"
    assert secrets.webhook_finish(store, "id") == "stored"
    assert store.value == "new"
    assert secrets.webhook_finish(store, "id") == "unchanged"
    assert store.puts == 2


def test_webhook_path_token_rotation_accepts_both_then_only_the_new() -> None:
    store = FakeSecrets("tok-old")
    assert secrets.path_token_begin(store, "id") == "stored"
    document = json.loads(store.value or "")
    assert document["previous"] == "tok-old"
    new = document["current"]
    assert len(new) == 40
    assert new != "tok-old"
    # A repeated begin keeps the token Magic Hour may already have been given.
    assert secrets.path_token_begin(store, "id") == "unchanged"
    assert json.loads(store.value or "")["current"] == new
    assert secrets.path_token_finish(store, "id") == "stored"
    assert store.value == new
    assert secrets.path_token_finish(store, "id") == "unchanged"
    assert store.puts == 2


def test_empty_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        secrets.put(FakeSecrets("x"), "id", "  ")


def test_generated_callback_secrets_are_standard_webhooks_secrets() -> None:
    from standardwebhooks.webhooks import Webhook

    made = secrets.new_callback_secret()
    assert made.startswith("whsec_")
    assert made != secrets.new_callback_secret()
    Webhook(made)  # parses


class FakeCloudFormation:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        outputs = {
            "JobsTableName": "prod-jobs",
            "CallbackQueueUrl": "https://sqs/cb",
            "CallbackDeadLetterQueueUrl": "https://sqs/cb-dlq",
            "DispatchQueueUrl": f"https://sqs/{StackName}-dispatch",
            "SubmitLogGroupName": "/aws/lambda/prod-submit",
        }
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}


def test_a_deployed_stack_is_found_from_its_outputs_and_flags_win() -> None:
    found = targets.from_stack_outputs(FakeCloudFormation(), "prod")
    assert found.jobs_table == "prod-jobs"
    assert found.callback_dead_letter_queue_url == "https://sqs/cb-dlq"
    assert found.log_groups == ("/aws/lambda/prod-submit",)
    assert found.dispatch_queue_url == "https://sqs/prod-dispatch"
    assert targets.with_overrides(found, {"jobs_table": "other", "clients_table": None}).jobs_table == "other"
    with pytest.raises(SystemExit, match="clients_table unknown"):
        found.need("clients_table")


def test_an_output_the_stack_lacks_is_unknown_until_a_flag_names_it() -> None:
    class Older(FakeCloudFormation):
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            stacks = super().describe_stacks(StackName)
            outputs = stacks["Stacks"][0]["Outputs"]
            stacks["Stacks"][0]["Outputs"] = [o for o in outputs if o["OutputKey"] != "DispatchQueueUrl"]
            return stacks

    found = targets.from_stack_outputs(Older(), "prod")
    assert found.dispatch_queue_url == ""
    with pytest.raises(SystemExit, match="--dispatch-queue-url"):
        found.need("dispatch_queue_url")


def test_every_stack_output_the_ops_command_reads_exists_in_the_template() -> None:
    from local.template import load_template

    template = load_template()
    assert set(targets.OUTPUTS) <= set(template["Outputs"])
    assert template["Resources"]["DispatchQueue"]["Type"] == "AWS::SQS::Queue"


def test_explicit_names_need_no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    args = cli.parser().parse_args(["--jobs-table", "t", "--endpoint-url", "http://x", "show", "job_1"])
    session, where = cli.resolve(args)
    assert where.jobs_table == "t"
    assert session.endpoint_url == "http://x"
    assert session.local_credentials is False


def test_the_logs_query_filters_on_the_job() -> None:
    assert "filter job_id = 'job_1'" in logs_cli.logs_query("job_1")


class FakeLogs:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.started: dict[str, Any] = {}

    def start_query(self, **request: Any) -> dict[str, str]:
        self.started = request
        return {"queryId": "q1"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        status = self.statuses.pop(0)
        rows = [
            [
                {"field": "@timestamp", "value": "t1"},
                {"field": "message", "value": "m"},
                {"field": "@ptr", "value": "x"},
            ]
        ]
        return {"status": status, "results": rows if status == "Complete" else []}


def test_the_job_logs_are_the_rows_of_its_query_once_complete() -> None:
    logs = FakeLogs(["Running", "Running", "Complete"])
    naps: list[float] = []
    rows = logs_cli.job_logs(
        logs, ["/aws/lambda/s-SubmitFunction"], "job_1", 2, now=lambda: 10_000.0, sleep=naps.append
    )
    assert rows == [{"@timestamp": "t1", "message": "m"}]
    assert logs.started["logGroupNames"] == ["/aws/lambda/s-SubmitFunction"]
    assert logs.started["startTime"] == 10_000 - 7200
    assert "job_1" in logs.started["queryString"]
    assert naps == [1.0, 1.0]


def test_a_query_that_never_finishes_is_reported() -> None:
    clock = iter(range(0, 1000, 30))
    with pytest.raises(LookupError, match="did not finish"):
        logs_cli.job_logs(
            FakeLogs(["Running"] * 50),
            ["g"],
            "job_1",
            1,
            now=lambda: float(next(clock)),
            sleep=lambda _: None,
        )
    with pytest.raises(LookupError, match="ended Failed"):
        logs_cli.job_logs(FakeLogs(["Failed"]), ["g"], "job_1", 1, sleep=lambda _: None)


class FakeBatchTable:
    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item
        self.updates: list[dict[str, Any]] = []

    def get_item(self, Key: dict[str, str], ConsistentRead: bool) -> dict[str, Any]:
        return {"Item": self.item} if self.item else {}

    def update_item(self, **update: Any) -> None:
        self.updates.append(update)


@pytest.mark.parametrize(
    ("item", "outcome", "reopened"),
    [
        (None, "missing", False),
        ({"status": "completed"}, "send", False),  # no results file yet: the task writes it
        ({"results_key": "k"}, "delivered", False),
        (
            {"results_key": "k", "callback_url": "https://x", "callback_state": "delivered"},
            "delivered",
            False,
        ),
        ({"results_key": "k", "callback_url": "https://x", "callback_state": "failed"}, "send", True),
        ({"results_key": "k", "callback_url": "https://x", "callback_state": "pending"}, "send", False),
    ],
)
def test_a_dead_lettered_batch_end_is_sent_back_while_it_has_work_left(
    item: dict[str, Any] | None, outcome: str, reopened: bool
) -> None:
    table = FakeBatchTable(item)
    assert jobs.reopen_batch_end(table, "c", "batch_1") == outcome
    assert bool(table.updates) is reopened
