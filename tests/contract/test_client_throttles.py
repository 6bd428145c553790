"""Each client's own throttle (issue #23): `python -m ops clients` gives every API-key client a
usage plan of its own, and a client at its plan's limit leaves the stage's shared per-method
throttle room for the others. The local gateway emulates neither the usage plans' throttles nor
the stage's (docs/local-stack.md), so this is checked on the template and the ops tool's plan, not
over HTTP; tests/integration/test_ops_clients.py checks the plan it makes against moto."""

from __future__ import annotations

from typing import Any

from local.template import load_template
from ops import clients


def _client_routes_throttle(document: dict[str, Any], api: str) -> tuple[float, int]:
    settings = document["Resources"][api]["Properties"]["MethodSettings"]
    (shared,) = [s for s in settings if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*"]
    return float(shared["ThrottlingRateLimit"]), int(shared["ThrottlingBurstLimit"])


def test_a_clients_default_plan_leaves_the_shared_stage_throttle_room_for_others() -> None:
    rate, burst = _client_routes_throttle(load_template(), "Api")
    limits = clients.DEFAULT_LIMITS
    assert limits.rate is not None
    assert limits.burst is not None
    # One client at its own limit takes under half of any route's shared bucket.
    assert limits.rate * 2 <= rate, (limits.rate, rate)
    assert limits.burst * 2 <= burst, (limits.burst, burst)
    assert limits.quota is not None
    assert limits.quota > 0


def test_the_plan_sets_throttle_and_quota_as_given_and_only_what_is_given() -> None:
    settings = clients._plan_settings(clients.Limits(rate=5, burst=10, quota=500, quota_period="WEEK"))
    assert settings == {
        "throttle": {"rateLimit": 5, "burstLimit": 10},
        "quota": {"limit": 500, "period": "WEEK"},
    }
    assert clients._plan_settings(clients.Limits(rate=2)) == {"throttle": {"rateLimit": 2}}


def test_a_throttled_or_over_quota_key_is_answered_429_rate_limited_in_our_shape() -> None:
    responses = load_template()["Resources"]["Api"]["Properties"]["GatewayResponses"]
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        assert int(responses[kind]["StatusCode"]) == 429, kind
        assert '"code":"rate_limited"' in responses[kind]["ResponseTemplates"]["application/json"], kind
