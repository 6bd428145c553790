"""The official SDK creates each of the catalogue's 31 tools against the simulator (CONTRACT §1b, §3)."""

from __future__ import annotations

import pytest
from magic_hour import Client
from schema_inputs import minimal_valid

from pipeline.magic_hour.catalogue import all_tools

from .helpers import API_KEY, SimClient

TOOLS = sorted(all_tools())


def test_the_catalogue_has_31_tools() -> None:
    assert len(TOOLS) == 31


@pytest.mark.parametrize("tool", TOOLS)
def test_sdk_creates_the_tool_with_a_minimal_input(sim: SimClient, tool: str) -> None:
    entry = all_tools()[tool]
    body = minimal_valid(entry.request_schema)
    resource = getattr(Client(token=API_KEY, base_url=sim.url).v1, tool.replace("-", "_"))
    created = resource.create(**body)
    project = sim.sim_project(created.id)
    assert project["tool"] == tool
    assert project["kind"] == entry.kind
    assert project["request"] == body  # the SDK sent exactly the minimal body, and it was valid
    assert sim.wait_status(entry.kind, created.id)["status"] == "complete"
