"""The account watched (pipeline/magic_hour/account.py): balance metric, plan limit from the tier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from pipeline.magic_hour import account
from pipeline.magic_hour.client import Account, MagicHourClient
from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.platform.settings import Settings


class FakeClient:
    def __init__(self, *answers: Account | Exception) -> None:
        self.answers = list(answers)
        self.reads = 0

    def get_account(self) -> Account:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    account.forget()
    yield
    account.forget()


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(account, "emit", lambda metric, value=1, **dims: seen.append((metric.name, value)))
    return seen


def use(monkeypatch: pytest.MonkeyPatch, limit: int | str) -> None:
    settings = Settings(magic_hour_max_concurrency=limit)
    monkeypatch.setattr(account, "get_settings", lambda: settings)


@pytest.mark.parametrize(
    ("tier", "limit"), [("free", 1), ("creator", 3), ("pro", 5), ("business", 0), ("gold", 3)]
)
def test_auto_takes_the_limit_from_the_tier(monkeypatch: pytest.MonkeyPatch, tier: str, limit: int) -> None:
    use(monkeypatch, "auto")
    assert account.concurrency_limit(FakeClient(Account(10, tier)), now=0) == limit  # type: ignore[arg-type]


def test_a_number_is_used_as_is_and_nothing_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, 7)
    client = FakeClient(Account(10, "pro"))
    assert account.concurrency_limit(client, now=0) == 7  # type: ignore[arg-type]
    assert client.reads == 0


def test_the_limit_is_re_read_hourly(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, "auto")
    client = FakeClient(Account(10, "creator"), Account(10, "pro"))
    assert account.concurrency_limit(client, now=0) == 3  # type: ignore[arg-type]
    assert account.concurrency_limit(client, now=3599) == 3  # type: ignore[arg-type]
    assert client.reads == 1
    assert account.concurrency_limit(client, now=3600) == 5  # type: ignore[arg-type]
    assert client.reads == 2


def test_a_failed_read_keeps_the_last_limit_and_retries_a_minute_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(monkeypatch, "auto")
    client = FakeClient(Account(10, "pro"), MagicHourUnavailable("down", 503), Account(10, "business"))
    assert account.concurrency_limit(client, now=0) == 5  # type: ignore[arg-type]
    assert account.concurrency_limit(client, now=3600) == 5  # type: ignore[arg-type]
    assert account.concurrency_limit(client, now=3630) == 5  # type: ignore[arg-type]
    assert client.reads == 2
    assert account.concurrency_limit(client, now=3661) == 0  # type: ignore[arg-type]


def test_never_read_falls_back_to_the_smallest_paid_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, "auto")
    client = FakeClient(MagicHourUnavailable("down", 503))
    assert account.concurrency_limit(client, now=0) == account.FALLBACK_LIMIT == 3  # type: ignore[arg-type]
    assert account.concurrency_limit(client, now=30) == 3  # type: ignore[arg-type]
    assert client.reads == 1


def test_balance_is_published_at_most_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, emitted: list[tuple[str, float]]
) -> None:
    use(monkeypatch, 0)
    client = FakeClient(Account(900, "pro"), Account(800, "pro"))
    assert account.publish_balance(client, now=0) == Account(900, "pro")  # type: ignore[arg-type]
    assert account.publish_balance(client, now=59) is None  # type: ignore[arg-type]
    assert account.publish_balance(client, now=60) == Account(800, "pro")  # type: ignore[arg-type]
    assert emitted == [("MagicHourCredits", 900), ("MagicHourCredits", 800)]
    assert client.reads == 2


def test_a_failed_balance_read_publishes_nothing(monkeypatch: pytest.MonkeyPatch, emitted: list[Any]) -> None:
    use(monkeypatch, 0)
    client = FakeClient(MagicHourUnavailable("down", 503), Account(5, "pro"))
    assert account.publish_balance(client, now=0) is None  # type: ignore[arg-type]
    assert emitted == []
    assert account.publish_balance(client, now=1) == Account(5, "pro")  # type: ignore[arg-type]


def test_the_balance_read_refreshes_an_auto_limit(
    monkeypatch: pytest.MonkeyPatch, emitted: list[Any]
) -> None:
    use(monkeypatch, "auto")
    account.publish_balance(FakeClient(Account(5, "creator")), now=0)  # type: ignore[arg-type]
    silent = FakeClient(MagicHourUnavailable("must not be read", 503))
    assert account.concurrency_limit(silent, now=1) == 3  # type: ignore[arg-type]
    assert silent.reads == 0


class OnePool:
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body, self.calls = status, body, []  # type: list[tuple[str, str]]

    def request(self, method: str, url: str, **_: Any) -> urllib3.HTTPResponse:
        self.calls.append((method, url))
        return urllib3.HTTPResponse(body=json.dumps(self.body).encode(), status=self.status)


@pytest.mark.parametrize(
    ("body", "read"),
    [
        (
            {"id": "a", "email": None, "credits": 1200, "tier": "pro", "subscription": None},
            Account(1200, "pro"),
        ),
        ({"credits": "1200", "tier": "pro"}, None),
        ({"credits": True, "tier": "pro"}, None),
        ({"credits": 5}, None),
    ],
)
def test_get_account_reads_credits_and_tier(body: dict[str, Any], read: Account | None) -> None:
    pool = OnePool(200, body)
    client = MagicHourClient("https://mh.example", lambda: "k", timeout=(1, 1), http=pool)  # type: ignore[arg-type]
    if read is None:
        with pytest.raises(MagicHourUnavailable):
            client.get_account()
    else:
        assert client.get_account() == read
    assert pool.calls == [("GET", "https://mh.example/v1/account")]
