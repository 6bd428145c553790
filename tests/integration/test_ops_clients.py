"""`python -m ops clients` against the real local stack (its moto server, API Gateway included),
and the API answering the clients it makes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import StackHandle
from sigv4_signing import signed_headers

from local.resources import ACCOUNT_ID
from ops.cli import main

STACK_NAME = "pipeline-test"  # tests/conftest.py start_stack
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/teams/video/RenderWorker"
ROLE_KEY = f"arn:aws:iam::{ACCOUNT_ID}:role/RenderWorker"

Ops = Callable[..., tuple[int, Any, list[dict[str, Any]]]]


@pytest.fixture
def ops(stack: StackHandle, capsys: pytest.CaptureFixture[str]) -> Ops:
    def run(*argv: str) -> tuple[int, Any, list[dict[str, Any]]]:
        capsys.readouterr()
        code = main(["--local", STACK_NAME, "--endpoint-url", stack.aws, "clients", *argv])
        captured = capsys.readouterr()
        audit = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
        return code, json.loads(captured.out) if captured.out.strip() else None, audit

    return run


def test_an_api_key_client_gets_a_usage_plan_of_its_own_and_is_idempotent(ops: Ops, aws: Any) -> None:
    code, added, audit = ops(
        "add", "acme-render", "--api-key", "--rate", "5", "--burst", "10", "--budget", "300"
    )
    assert code == 0
    client_id = added["client_id"]
    assert added["api_key"] == "added"
    assert audit[0]["action"] == "clients-add"
    assert "value" not in json.dumps(added)  # the key's value is never printed
    gateway = aws("apigateway")
    plans = [p for p in gateway.get_usage_plans()["items"] if p["name"] == "client-acme-render"]
    assert len(plans) == 1
    assert plans[0]["throttle"] == {"rateLimit": 5.0, "burstLimit": 10}
    assert [k["id"] for k in gateway.get_usage_plan_keys(usagePlanId=plans[0]["id"])["items"]] == [client_id]

    _, again, _ = ops("add", "acme-render", "--api-key")
    assert (again["client_id"], again["api_key"]) == (client_id, "unchanged")
    assert len([p for p in gateway.get_usage_plans()["items"] if p["name"] == "client-acme-render"]) == 1

    _, limited, audit = ops("limit", client_id, "--rate", "1", "--quota", "50", "--unlimited")
    assert limited["usage_plan"]["throttle"]["rateLimit"] == 1.0
    assert (limited["usage_plan"]["quota"]["limit"], limited["usage_plan"]["quota"]["period"]) == (50, "DAY")
    assert limited["daily_credit_budget"] is None
    assert audit[0]["action"] == "clients-limit"

    _, removed, _ = ops("remove", client_id)
    assert "profile" in removed["removed"]
    assert not [p for p in gateway.get_usage_plans()["items"] if p["name"] == "client-acme-render"]
    assert client_id not in {k["id"] for k in gateway.get_api_keys()["items"]}
    _, gone, _ = ops("remove", client_id)
    assert gone["removed"] == []
    with pytest.raises(SystemExit, match="no client"):
        ops("show", client_id)


def signed_get(stack: StackHandle, path: str) -> requests.Response:
    host = stack.api.removeprefix("http://")
    headers = signed_headers("GET", f"{stack.api}{path}", headers={"Host": host})
    return requests.get(f"{stack.api}{path}", headers=headers, timeout=10)


def test_a_principal_client_is_served_with_its_budget_and_removed(stack: StackHandle, ops: Ops) -> None:
    code, added, _ = ops("add", "client-omega", "--principal", ROLE, "--budget", "120")
    assert code == 0
    assert added["principals"] == {ROLE_KEY: "added"}
    _, again, _ = ops("add", "client-omega", "--principal", ROLE)
    assert again["principals"] == {ROLE_KEY: "unchanged"}
    _, shown, _ = ops("show", "client-omega")
    assert shown["principals"] == [ROLE_KEY]
    assert shown["daily_credit_budget"] == 120
    _, listed, _ = ops("list")
    assert "client-omega" in {c["client_id"] for c in listed["clients"]}
    # A principal is one client's: mapping it to another is refused, and nothing changes.
    with pytest.raises(SystemExit, match="mapped to client client-omega"):
        ops("add", "client-other", "--principal", ROLE)
    with pytest.raises(SystemExit, match="not a role or user ARN"):
        ops("add", "client-other", "--principal", "arn:aws:iam::123456789012:root")
    _, removed, _ = ops("remove", "client-omega", "--principal", ROLE)
    assert removed["removed"] == [ROLE_KEY]
    _, shown, _ = ops("show", "client-omega")
    assert shown["principals"] == []
    ops("remove", "client-omega")


def test_the_local_stack_made_its_clients_with_the_same_code(ops: Ops) -> None:
    _, listed, _ = ops("list")
    by_id = {c["client_id"]: c for c in listed["clients"]}
    # Each LOCAL_API_KEYS client has its usage plan; each LOCAL_IAM_CALLERS user its mapping.
    assert by_id["client-beta"]["usage_plan"]["throttle"] == {"rateLimit": 20.0, "burstLimit": 50}
    assert f"arn:aws:iam::{ACCOUNT_ID}:user/caller-AKIDBETA" in by_id["client-beta"]["principals"]


def test_the_api_serves_a_principal_only_while_it_is_mapped(stack: StackHandle, ops: Ops) -> None:
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/caller-AKIDALPHA"
    assert signed_get(stack, "/v1/usage").status_code == 200
    ops("remove", "client-alpha", "--principal", arn)
    try:
        answer = signed_get(stack, "/v1/usage")
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "forbidden"
    finally:
        ops("add", "client-alpha", "--principal", arn)
    assert signed_get(stack, "/v1/usage").status_code == 200
