"""Least privilege as the local stack enforces it: a function may make only the calls its role in
template.yaml allows (refused like AWS would, with a one-line explanation in the function log),
while the AWS endpoint itself stays open to any credentials for tests and operators."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.iam import Policy
from local.runtime import FunctionPool
from tests.conftest import StackHandle

ROOT = Path(__file__).resolve().parents[2]


def test_tests_and_operators_may_call_anything_with_any_credentials(
    stack: StackHandle, aws: Callable[[str], Any]
) -> None:
    # No function may scan the jobs table; the endpoint does not care who else does.
    table = stack.stack.resolver.refs["JobsTable"]
    assert aws("dynamodb").scan(TableName=table, Limit=1)["ResponseMetadata"]["HTTPStatusCode"] == 200


def _without(policy: Policy, action: str) -> Policy:
    statements = []
    for statement in policy.statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        kept = [a for a in actions if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    return Policy(policy.function, policy.role, tuple(statements))


def test_a_function_missing_a_grant_is_refused_and_says_what_to_grant(
    stack: StackHandle, tmp_path: Path
) -> None:
    running = stack.stack.pools["QueryFunction"]
    assert running.policy is not None
    log = tmp_path / "submit.log"
    pool = FunctionPool(
        running.spec,
        running.environment,
        1,
        log_path=str(log),
        policy=_without(running.policy, "dynamodb:Query"),
        place=running.place,
    )
    try:
        event = json.loads((ROOT / "events" / "query-list-jobs.json").read_text())
        answer = pool.invoke(event)
    finally:
        pool.shutdown()
    assert answer.ok
    # Our own dependency refused us: the contract's 503, no trace, no ARN for the client.
    assert answer.payload["statusCode"] == 503
    assert json.loads(answer.payload["body"])["error"]["code"] == "service_unavailable"
    assert "arn:" not in answer.payload["body"]

    index = f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.stack.resolver.refs['JobsTable']}/index/"
    expected = "QueryFunction is not authorized to perform: dynamodb:Query on resource: " + index
    # Written (and flushed) by the worker before it answered.
    text = log.read_text()
    assert expected in text
    denial = next(json.loads(line) for line in text.splitlines() if "local.iam" in line)
    assert denial["function"] == "QueryFunction"
    assert denial["message"].startswith("AccessDenied: ")


def test_the_real_roles_allow_what_a_listing_needs(stack: StackHandle) -> None:
    answer = stack.stack.invoke(
        "QueryFunction", json.loads((ROOT / "events" / "query-list-jobs.json").read_text())
    )
    assert answer.payload["statusCode"] == 200
