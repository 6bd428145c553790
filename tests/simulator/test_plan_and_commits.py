"""plan_concurrency (429 while the plan's slots are taken), max_active, and create_commits."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from .helpers import AUDIO_BODY, FACE_SWAP_BODY, Receiver, SimClient

# Long enough that no project of a test ends on its own while the test looks at the slots.
LONG_RENDER = 60.0


def sim_projects(sim: SimClient) -> list[dict[str, Any]]:
    return list(requests.get(f"{sim.url}/_sim/projects", timeout=30).json()["projects"])


def concurrent_creates(sim: SimClient, count: int) -> list[requests.Response]:
    # A barrier releases every request at once, so they really race for the slots.
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        barrier.wait()
        return sim.create_raw("ai-voice-generator", AUDIO_BODY)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_50_concurrent_creates_against_3_slots_admit_exactly_3(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(plan_concurrency=3, render_seconds=LONG_RENDER)
    responses = concurrent_creates(sim, 50)
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(admitted) == 3
    assert {r.status_code for r in refused} == {429}
    for response in refused:
        assert set(response.json()) == {"message"}
        assert response.headers["Retry-After"] == "1"
    # A refused create creates nothing.
    assert sorted(p["id"] for p in sim_projects(sim)) == sorted(r.json()["id"] for r in admitted)
    stats = sim.stats()
    assert stats["creates"] == 50
    assert stats["rejected_creates"] == 47
    assert stats["max_active"] == 3


def test_a_slot_frees_when_a_project_ends(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(plan_concurrency=1, render_seconds=0.3)
    first = sim.create("ai-voice-generator", AUDIO_BODY)
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 429
    sim.wait_status("audio", first)
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 200
    assert sim.stats()["rejected_creates"] == 1


@pytest.mark.parametrize("outcome", ["error", "canceled"])
def test_error_and_canceled_free_their_slot(make_sim: Any, outcome: str) -> None:
    sim = make_sim()
    sim.scenario(plan_concurrency=1, render_seconds=0.3, outcome=outcome)
    sim.wait_status("audio", sim.create("ai-voice-generator", AUDIO_BODY))
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 200


def test_a_deleted_project_frees_its_slot(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(plan_concurrency=2, render_seconds=LONG_RENDER)
    first = sim.create("ai-voice-generator", AUDIO_BODY)
    sim.create("ai-voice-generator", AUDIO_BODY)
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 429
    deleted = requests.delete(f"{sim.url}/v1/audio-projects/{first}", headers=sim.auth, timeout=10)
    assert deleted.status_code == 204
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 200
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 429
    assert sim.stats()["max_active"] == 2


def test_the_limit_counts_projects_created_before_it_was_set(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=LONG_RENDER)
    sim.create("ai-voice-generator", AUDIO_BODY)
    sim.create("ai-voice-generator", AUDIO_BODY)
    sim.scenario(plan_concurrency=2)
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 429
    sim.scenario(plan_concurrency=0)  # unlimited again
    assert sim.create_raw("ai-voice-generator", AUDIO_BODY).status_code == 200


def test_max_active_is_the_peak_not_the_current_count(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=0.5)
    responses = concurrent_creates(sim, 8)
    assert [r.status_code for r in responses] == [200] * 8
    for response in responses:
        sim.wait_status("audio", response.json()["id"])
    stats = sim.stats()
    assert stats["max_active"] == 8
    assert stats["rejected_creates"] == 0
    # Later, smaller bursts do not lower the peak.
    sim.wait_status("audio", sim.create("ai-voice-generator", AUDIO_BODY))
    assert sim.stats()["max_active"] == 8
    requests.post(f"{sim.url}/_sim/reset", timeout=10)
    assert sim.stats()["max_active"] == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_commits_runs_the_project_behind_a_5xx(make_sim: Any, receiver: Receiver, status: int) -> None:
    sim = make_sim(webhook_url=receiver.url)
    sim.scenario(create_status=status, create_commits=True, render_seconds=0.2)
    name = "clip [job_01HXYZ]"
    response = sim.create_raw("face-swap", {**FACE_SWAP_BODY, "name": name})
    assert response.status_code == status
    assert set(response.json()) == {"message"}
    assert "id" not in response.json()
    (project,) = sim_projects(sim)
    assert project["name"] == name
    done = sim.wait_status("video", project["id"])
    assert done["status"] == "complete"
    assert done["name"] == name
    deliveries = receiver.wait_for(2)
    assert [d.type for d in deliveries] == ["video.started", "video.completed"]
    assert deliveries[1].json["payload"]["name"] == name
    download = requests.get(done["downloads"][0]["url"], timeout=10)
    assert download.status_code == 200
    assert len(download.content) == 65536


@pytest.mark.parametrize("status", [400, 402, 422, 429])
def test_create_commits_does_not_apply_to_refusals(make_sim: Any, status: int) -> None:
    sim = make_sim()
    sim.scenario(create_status=status, create_commits=True)
    assert sim.create_raw("face-swap", FACE_SWAP_BODY).status_code == status
    assert sim_projects(sim) == []


def test_without_create_commits_a_5xx_creates_nothing(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(create_status=502)
    assert sim.create_raw("face-swap", FACE_SWAP_BODY).status_code == 502
    assert sim_projects(sim) == []


def test_a_full_plan_refuses_even_a_committing_create(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(plan_concurrency=1, render_seconds=LONG_RENDER)
    sim.create("ai-voice-generator", AUDIO_BODY)
    sim.scenario(create_status=500, create_commits=True)
    response = sim.create_raw("ai-voice-generator", AUDIO_BODY)
    assert response.status_code == 429
    assert len(sim_projects(sim)) == 1
    assert sim.stats()["rejected_creates"] == 1


def test_slots_are_exact_while_projects_move_through_rendering(make_sim: Any) -> None:
    """Creates keep arriving while earlier projects go queued -> rendering -> complete."""
    sim = make_sim()
    sim.scenario(plan_concurrency=2, render_seconds=0.3)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        concurrent_creates(sim, 6)
        assert sim.stats()["max_active"] <= 2
    assert sim.stats()["max_active"] == 2
