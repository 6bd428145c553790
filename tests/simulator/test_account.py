"""GET /v1/account (CONTRACT §3): balance and tier, charges and refunds, reset; the plan's 403."""

from __future__ import annotations

import pytest
import requests
from magic_hour import Client
from make_api_request import ApiError

from .helpers import API_KEY, SimClient

VOICE = {"style": {"prompt": "hello", "voice_name": "Elon Musk"}}


def account(sim: SimClient) -> dict[str, object]:
    answer = requests.get(f"{sim.url}/v1/account", headers=sim.auth, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_default_account_is_business_with_a_million_credits(sim: SimClient) -> None:
    body = account(sim)
    assert set(body) == {"id", "email", "credits", "tier", "subscription"}
    assert body["credits"] == 1_000_000
    assert body["tier"] == "business"
    assert isinstance(body["subscription"], dict)
    assert body["subscription"]["name"] == "Business"


def test_account_needs_the_bearer_key(sim: SimClient) -> None:
    answer = requests.get(f"{sim.url}/v1/account", timeout=10)
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized"}


def test_credits_go_down_by_each_charge_and_up_by_a_refund(sim: SimClient) -> None:
    sim.scenario(account_credits=500)
    assert account(sim)["credits"] == 500
    done = sim.create("ai-voice-generator", VOICE)
    charged = sim.wait_status("audio", done)["credits_charged"]
    assert charged > 0
    assert account(sim)["credits"] == 500 - charged
    # An errored render is refunded: its charge comes back once it ends.
    sim.scenario(outcome="error")
    failed = sim.create("ai-voice-generator", VOICE)
    assert account(sim)["credits"] == 500 - 2 * charged  # charged at create
    assert sim.wait_status("audio", failed)["status"] == "error"
    assert account(sim)["credits"] == 500 - charged


def test_setting_credits_again_starts_from_the_new_figure(sim: SimClient) -> None:
    sim.wait_status("audio", sim.create("ai-voice-generator", VOICE))
    sim.scenario(account_credits=10)
    assert account(sim)["credits"] == 10


@pytest.mark.parametrize("reset", ["scenario", "all"])
def test_a_reset_restores_a_million(sim: SimClient, reset: str) -> None:
    sim.scenario(account_credits=3, account_tier="pro")
    sim.wait_status("audio", sim.create("ai-voice-generator", VOICE))
    if reset == "scenario":
        assert requests.delete(f"{sim.url}/_sim/scenario", timeout=10).status_code == 200
    else:
        assert requests.post(f"{sim.url}/_sim/reset", timeout=10).status_code == 200
    body = account(sim)
    assert body["credits"] == 1_000_000
    assert body["tier"] == "business"


@pytest.mark.parametrize(("tier", "plan"), [("free", None), ("creator", "Creator"), ("pro", "Pro")])
def test_tier_follows_the_scenario_and_the_sdk_reads_it(sim: SimClient, tier: str, plan: str | None) -> None:
    sim.scenario(account_tier=tier, account_credits=42)
    answer = Client(token=API_KEY, base_url=sim.url).v1.account.list()
    assert answer.tier == tier
    assert answer.credits == 42
    assert (answer.subscription.name if answer.subscription else None) == plan


@pytest.mark.parametrize(
    "bad", [{"account_tier": "gold"}, {"account_credits": "many"}, {"account_credits": 1.5}]
)
def test_bad_account_scenario_fields_are_refused(sim: SimClient, bad: dict[str, object]) -> None:
    answer = requests.put(f"{sim.url}/_sim/scenario", json=bad, timeout=10)
    assert answer.status_code == 400
    assert next(iter(bad)) in answer.json()["message"]


def test_create_status_403_says_the_plan_lacks_it_and_creates_nothing(sim: SimClient) -> None:
    sim.scenario(create_status=403)
    answer = sim.create_raw("ai-voice-generator", VOICE)
    assert answer.status_code == 403
    assert answer.json() == {
        "message": "Your key is valid but the model, resolution, or feature is not available on your plan"
    }
    assert requests.get(f"{sim.url}/_sim/projects", timeout=10).json()["projects"] == []
    assert account(sim)["credits"] == 1_000_000
    with pytest.raises(ApiError) as raised:
        Client(token=API_KEY, base_url=sim.url).v1.ai_voice_generator.create(**VOICE)  # type: ignore[arg-type]
    assert raised.value.status_code == 403
