"""events/ holds a sample for every function and every API route of the template."""

from __future__ import annotations

import json
from pathlib import Path

from local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def test_every_function_has_a_sample_event() -> None:
    for spec in Template(load_template()).functions().values():
        folder = Path(spec.code_uri).name
        assert list(EVENTS.glob(f"{folder}-*.json")), f"no events/{folder}-*.json for {spec.logical_id}"


def test_every_route_has_a_sample_event() -> None:
    samples = [json.loads(path.read_text()) for path in EVENTS.glob("*.json")]
    covered = {(event.get("httpMethod"), event.get("resource")) for event in samples}
    for route in Template(load_template()).routes():
        assert (route.method, route.path) in covered, f"no sample event for {route.method} {route.path}"


def test_webhook_sample_is_signed_for_the_documented_test_secret() -> None:
    from pipeline.webhook.signature import verify

    event = json.loads((EVENTS / "webhook-video-completed.json").read_text())
    headers = event["headers"]
    timestamp = headers["magic-hour-event-timestamp"]
    verify(
        event["body"].encode(),
        timestamp,
        headers["magic-hour-event-signature"],
        ["whsec_test_secret"],
        now=int(timestamp),
    )
