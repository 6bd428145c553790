"""The test-control API under /_sim/ (local/simulator/README.md)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response

from local.simulator import content
from local.simulator.account import DEFAULT_CREDITS
from local.simulator.api import parse_json_body
from local.simulator.responses import json_error, json_response
from local.simulator.runtime import Runtime
from local.simulator.scenario import Scenario
from local.simulator.schema import ValidationFailed, compile_schema, validate
from local.simulator.views import add_hashes, sim_project_snapshot

_MANUAL_WEBHOOK = compile_schema(
    {
        "type": "object",
        "required": ["type", "payload"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "minLength": 1},
            "payload": {},
            # Extras for testing a receiver: a chosen (e.g. stale) timestamp, or a wrong signature.
            "timestamp": {"type": ["string", "integer"]},
            "bad_signature": {"type": "boolean"},
        },
    }
)


def register(app: Flask, rt: Runtime) -> None:
    store = rt.store

    @app.get("/_sim/health")
    def health() -> Response:
        return json_response({"status": "ok", "url": rt.urls.base_url, "webhook_url": rt.config.webhook_url})

    @app.get("/_sim/scenario")
    def get_scenario() -> Response:
        with store.lock:
            return json_response(store.scenario.to_json())

    @app.route("/_sim/scenario", methods=["PUT", "PATCH"])
    def put_scenario() -> Response:
        try:
            patch = parse_json_body()
            with store.lock:
                store.scenario = store.scenario.merged(patch)
                if "account_credits" in patch:
                    rt.ledger.set(store, store.scenario.account_credits)
                return json_response(store.scenario.to_json())
        except ValidationFailed as exc:
            return json_error(400, str(exc))

    @app.delete("/_sim/scenario")
    def reset_scenario() -> Response:
        with store.lock:
            store.scenario = Scenario()
            rt.ledger.set(store, DEFAULT_CREDITS)
            return json_response(store.scenario.to_json())

    @app.get("/_sim/projects")
    def list_projects() -> Response:
        with store.lock:
            snapshots = [sim_project_snapshot(project) for project in store.projects.values()]
        # Hashing streams every file once, so it happens outside the lock.
        return json_response({"projects": [add_hashes(snapshot) for snapshot in snapshots]})

    @app.get("/_sim/projects/<project_id>")
    def one_project(project_id: str) -> Response:
        with store.lock:
            project = store.projects.get(project_id)
            snapshot = sim_project_snapshot(project) if project is not None else None
        if snapshot is None:
            return json_error(404, "Not Found")
        return json_response(add_hashes(snapshot))

    @app.get("/_sim/webhooks")
    def list_deliveries() -> Response:
        with store.lock:
            deliveries = [record.to_json() for record in store.deliveries]
        return json_response({"webhook_url": rt.config.webhook_url, "deliveries": deliveries})

    @app.post("/_sim/webhooks")
    def send_webhook() -> Response:
        try:
            body: Any = parse_json_body()
            validate(_MANUAL_WEBHOOK, body)
        except ValidationFailed as exc:
            return json_error(400, str(exc))
        timestamp = body.get("timestamp")
        try:
            attempt = rt.sender.send_now(
                body["type"],
                body["payload"],
                timestamp=str(timestamp) if timestamp is not None else None,
                bad_signature=bool(body.get("bad_signature", False)),
            )
        except LookupError as exc:
            return json_error(409, str(exc))
        if attempt.status_code is None:
            return json_response({"status_code": None, "message": attempt.error}, status=502)
        return json_response({"status_code": attempt.status_code})

    @app.get("/_sim/stats")
    def stats() -> Response:
        return json_response(store.stats_snapshot())

    @app.post("/_sim/reset")
    def reset() -> Response:
        for project_id in store.reset():
            content.forget(project_id)
        with store.lock:
            rt.ledger.set(store, DEFAULT_CREDITS)
            return json_response({"reset": True, "scenario": store.scenario.to_json()})
