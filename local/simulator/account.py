"""`GET /v1/account`: the account's credit balance and tier, as Magic Hour answers it
(local/simulator/README.md).

The balance is derived, never kept in step by hand: it is what the scenario's `account_credits`
set (1000000 after a reset) minus what every project has been charged since then. A project's
`credits_charged` is its quote, and 0 once it errored (Magic Hour refunds a failed render), so a
charge lowers the balance and a refund raises it again, with no hook in the project's lifecycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response

from local.simulator.responses import json_response
from local.simulator.state import Store

if TYPE_CHECKING:
    from local.simulator.runtime import Runtime

DEFAULT_CREDITS = 1_000_000
TIERS = ("free", "creator", "pro", "business")
ACCOUNT_ID = "acct_simulator"
ACCOUNT_EMAIL = "simulator@example.com"
# What each paid tier is called and costs, in the shape of the SDK's subscription model.
_PLANS: dict[str, tuple[str, int]] = {
    "creator": ("Creator", 1500),
    "pro": ("Pro", 4900),
    "business": ("Business", 24900),
}


class Ledger:
    """The balance's starting point; read and changed under the store's lock."""

    def __init__(self) -> None:
        self.credits = DEFAULT_CREDITS
        self.charged_at_set = 0

    def set(self, store: Store, credits: int) -> None:
        with store.lock:
            self.credits = credits
            self.charged_at_set = charged_total(store)

    def balance(self, store: Store) -> int:
        with store.lock:
            return self.credits - (charged_total(store) - self.charged_at_set)


def charged_total(store: Store) -> int:
    with store.lock:
        return sum(project.credits_charged for project in store.projects.values())


def account_body(balance: int, tier: str) -> dict[str, Any]:
    plan = _PLANS.get(tier)
    subscription = None
    if plan is not None:
        name, amount = plan
        subscription = {
            "billing_interval": "month",
            "cancel_at_period_end": False,
            "current_period_end": "2099-01-01T00:00:00.000Z",
            "discount": None,
            "name": name,
            "price": {"amount": amount, "currency": "usd"},
            "status": "active",
        }
    return {
        "id": ACCOUNT_ID,
        "email": ACCOUNT_EMAIL,
        "credits": balance,
        "tier": tier,
        "subscription": subscription,
    }


def register(app: Flask, rt: Runtime) -> None:
    store = rt.store

    @app.get("/v1/account")
    def account() -> Response:
        with store.lock:
            tier = store.scenario.account_tier
            balance = rt.ledger.balance(store)
        return json_response(account_body(balance, tier))
