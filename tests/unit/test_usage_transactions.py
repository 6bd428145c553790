"""How the usage store reads a cancelled DynamoDB transaction (pipeline.store.usage), with the
table's client faked: moto serializes transactions, so it never shows a conflict."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.store import usage


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


def test_a_conflict_with_another_transaction_is_retried(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    table = FakeTable(_cancelled("None", "TransactionConflict"), _cancelled("TransactionConflict", "None"))
    _use(monkeypatch, table)
    assert usage.record_charge("client-a", "job_1", 10, "2026-12-01") is True
    assert table.calls == 3


def test_a_failed_condition_means_already_charged(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    table = FakeTable(_cancelled("ConditionalCheckFailed", "None"))
    _use(monkeypatch, table)
    assert usage.record_charge("client-a", "job_1", 10, "2026-12-01") is False
    assert table.calls == 1


def test_endless_conflicts_and_other_cancellations_raise(
    monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    _use(monkeypatch, FakeTable(*[_cancelled("TransactionConflict")] * 10))
    with pytest.raises(ClientError):
        usage.record_charge("client-a", "job_1", 10, "2026-12-01")
    _use(monkeypatch, FakeTable(_cancelled("ValidationError")))
    with pytest.raises(ClientError):
        usage.record_charge("client-a", "job_1", 10, "2026-12-01")
