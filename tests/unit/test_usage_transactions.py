"""How the usage store reads a cancelled DynamoDB transaction (pipeline.store.usage.transact),
with the table's client faked: moto serializes transactions, so it never shows a conflict."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.models.job import Job, JobStatus
from pipeline.store import job_items, usage
from pipeline.store import jobs as job_store


def _cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


class FakeTable:
    name = "clients"

    def __init__(self, *failures: ClientError) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.meta = SimpleNamespace(client=SimpleNamespace(transact_write_items=self.transact_write_items))

    def transact_write_items(self, **_: Any) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage.time, "sleep", lambda _: None)


def _use(monkeypatch: pytest.MonkeyPatch, table: FakeTable) -> None:
    monkeypatch.setattr(usage.clients, "table", lambda: table)


PARTS: list[dict[str, Any]] = [{"Update": {}}, {"Update": {}}]


def test_a_conflict_with_another_transaction_is_retried(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    table = FakeTable(_cancelled("None", "TransactionConflict"), _cancelled("TransactionConflict", "None"))
    _use(monkeypatch, table)
    assert usage.transact(PARTS) is None
    assert table.calls == 3


def test_a_failed_condition_says_which_part_failed(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    table = FakeTable(_cancelled("None", "ConditionalCheckFailed"))
    _use(monkeypatch, table)
    assert usage.transact(PARTS) == [False, True]
    assert table.calls == 1
    # A condition failure wins over a conflict in the same answer: retrying cannot help.
    _use(monkeypatch, FakeTable(_cancelled("ConditionalCheckFailed", "TransactionConflict")))
    assert usage.transact(PARTS) == [True, False]


def test_endless_conflicts_and_other_cancellations_raise(
    monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    table = FakeTable(*[_cancelled("TransactionConflict")] * 10)
    _use(monkeypatch, table)
    with pytest.raises(ClientError):
        usage.transact(PARTS)
    assert table.calls == 8
    _use(monkeypatch, FakeTable(_cancelled("ValidationError")))
    with pytest.raises(ClientError):
        usage.transact(PARTS)
    other = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "T")
    _use(monkeypatch, FakeTable(other))
    with pytest.raises(ClientError):
        usage.transact(PARTS)


def test_apply_raises_over_budget_when_a_bound_fails(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    from pipeline.models.usage import OverBudget, UsageChange

    _use(monkeypatch, FakeTable(_cancelled("ConditionalCheckFailed")))
    with pytest.raises(OverBudget):
        usage.apply((UsageChange("client-a", "2026-12-01", reserved=5, within=0),))
    table = FakeTable()
    _use(monkeypatch, table)
    usage.apply(())
    assert table.calls == 0


def _submitting_job_with_slot() -> Job:
    return Job(
        job_id="job_1",
        client_id="client-a",
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.SUBMITTING,
        created_at="2026-12-01T00:00:00Z",
        updated_at="2026-12-01T00:00:00Z",
        input={},
        slot=3,
    )


def test_the_jobs_table_retries_a_conflict_as_the_usage_table_does(
    monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    # One retry policy: a job's transaction (here: delete it and give back its slot) is tried
    # again after a conflict, and not after a failed condition.
    table = FakeTable(_cancelled("TransactionConflict", "None"))
    monkeypatch.setattr(job_items, "table", lambda: table)
    monkeypatch.setattr(usage.clients, "table", lambda: table)
    job_store.delete_submitting_job(_submitting_job_with_slot())
    assert table.calls == 2
