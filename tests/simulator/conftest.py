"""Fixtures: an in-process simulator on a free port and a tiny webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.simulator import RunningSimulator, SimulatorConfig, start_simulator

from .helpers import API_KEY, WEBHOOK_SECRET, Receiver, SimClient, SimFactory


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    started: list[RunningSimulator] = []

    def factory(**overrides: Any) -> SimClient:
        settings: dict[str, Any] = {
            "port": 0,
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "log_requests": False,
        }
        settings.update(overrides)
        sim = start_simulator(SimulatorConfig(**settings))
        started.append(sim)
        return SimClient(sim)

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: SimFactory, receiver: Receiver) -> SimClient:
    """A simulator delivering webhooks to `receiver`, with fast renders."""
    client = make_sim(webhook_url=receiver.url)
    client.scenario(render_seconds=0.15)
    return client
