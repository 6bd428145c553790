"""LOCAL_CLIENT_BUDGETS (local/config.py): comma-separated client_id=credits, none by default."""

from __future__ import annotations

import pytest

from local.config import LocalConfig


def test_no_budgets_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_CLIENT_BUDGETS", raising=False)
    assert LocalConfig.from_environment().client_budgets == {}


def test_budgets_are_parsed_per_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_CLIENT_BUDGETS", " local=500, other=0,")
    assert LocalConfig.from_environment().client_budgets == {"local": 500, "other": 0}


@pytest.mark.parametrize("raw", ["local", "local=", "=500", "local=-5", "local=five", "local=1.5"])
def test_a_malformed_budget_stops_the_stack_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("LOCAL_CLIENT_BUDGETS", raw)
    with pytest.raises(SystemExit, match="LOCAL_CLIENT_BUDGETS"):
        LocalConfig.from_environment()
