"""SigV4 callers through the real local stack: signed with botocore, verified by the local
gateway, mapped to their client by the submit function through the clients table."""

from __future__ import annotations

import json
from typing import Any

import requests
from conftest import StackHandle
from sigv4_signing import signed_headers

from local.resources import ACCOUNT_ID
from ops import clients as client_ops
from ops import targets

IMAGE = {"tool": "ai-image-generator", "input": {"image_count": 1, "style": {"prompt": "a fox"}}}


def signed(
    stack: StackHandle, method: str, path: str, payload: Any = None, **options: Any
) -> requests.Response:
    body = json.dumps(payload).encode() if payload is not None else b""
    host = stack.api.removeprefix("http://")
    extra = options.pop("headers", {})
    headers = signed_headers(
        method,
        f"{stack.api}{path}",
        body,
        headers={"Host": host, "Content-Type": "application/json", **extra},
        **options,
    )
    return requests.request(method, f"{stack.api}{path}", data=body, headers=headers, timeout=30)


def job_ids(stack: StackHandle, key: str) -> set[str]:
    answer = requests.get(f"{stack.api}/v1/jobs?limit=100", headers=stack.headers(key), timeout=10)
    return {job["job_id"] for job in answer.json()["jobs"]}


def test_a_signed_job_is_its_clients_like_any_other(stack: StackHandle) -> None:
    created = signed(stack, "POST", "/v1/jobs", IMAGE, headers={"Idempotency-Key": "iam-e2e-1"})
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    # The same client by its API key sees it; another client does not, signed or not.
    assert stack.get_job(job_id, "key-alpha").status_code == 200
    assert stack.get_job(job_id, "key-beta").status_code == 404
    assert (
        signed(stack, "GET", f"/v1/jobs/{job_id}", key_id="AKIDBETA", secret="beta-secret").status_code == 404
    )
    # Idempotency is the client's, whichever way it authenticates.
    again = stack.post_job(IMAGE, "key-alpha", **{"Idempotency-Key": "iam-e2e-1"})
    assert again.status_code == 202
    assert again.json()["job_id"] == job_id
    done = stack.wait_for(job_id, {"completed"}, timeout=60)
    assert done["outputs"]
    read = signed(stack, "GET", f"/v1/jobs/{job_id}")
    assert read.status_code == 200
    assert read.json()["status"] == "completed"
    assert signed(stack, "GET", "/v1/usage").json()["jobs"] >= 1


def test_refused_signatures_write_nothing(stack: StackHandle) -> None:
    before = job_ids(stack, "key-alpha")
    for options in ({"key_id": "AKIDNOBODY"}, {"secret": "wrong"}):
        answer = signed(stack, "POST", "/v1/jobs", IMAGE, **options)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
    host = stack.api.removeprefix("http://")
    headers = signed_headers(
        "POST", f"{stack.api}/v1/jobs", json.dumps(IMAGE).encode(), headers={"Host": host}
    )
    tampered = requests.post(
        f"{stack.api}/v1/jobs", data=json.dumps({**IMAGE, "name": "x"}), headers=headers, timeout=30
    )
    assert tampered.status_code == 403
    both = requests.post(
        f"{stack.api}/v1/jobs",
        data=json.dumps(IMAGE),
        headers={**headers, "x-api-key": "key-beta"},
        timeout=30,
    )
    assert both.status_code == 403
    assert job_ids(stack, "key-alpha") == before


def test_a_signer_whose_mapping_is_removed_is_forbidden(stack: StackHandle) -> None:
    session = targets.Session(stack.aws, "us-east-1", local_credentials=True)
    where = targets.Targets(clients_table="pipeline-test-ClientsTable")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/caller-AKIDDELTA"
    options = {"key_id": "AKIDDELTA", "secret": "delta-secret"}
    assert signed(stack, "GET", "/v1/tools", **options).status_code == 200
    client_ops.remove(session, where, "client-delta")
    try:
        answer = signed(stack, "GET", "/v1/tools", **options)
        assert answer.status_code == 403
        assert "not mapped" in answer.json()["error"]["message"]
    finally:
        client_ops.map_principal(session.table(where.clients_table), "client-delta", arn)
    assert signed(stack, "GET", "/v1/tools", **options).status_code == 200


def test_a_signed_callers_budget_is_its_clients(stack: StackHandle) -> None:
    session = targets.Session(stack.aws, "us-east-1", local_credentials=True)
    table = session.table("pipeline-test-ClientsTable")
    options = {"key_id": "AKIDDELTA", "secret": "delta-secret"}
    client_ops.set_budget(table, "client-delta", 0)
    try:
        answer = signed(stack, "POST", "/v1/jobs", IMAGE, **options)
        assert answer.status_code == 402, answer.text
        assert answer.json()["error"]["code"] == "budget_exceeded"
        assert signed(stack, "GET", "/v1/usage", **options).json()["daily_credit_budget"] == 0
    finally:
        client_ops.set_budget(table, "client-delta", None)
    assert signed(stack, "POST", "/v1/jobs", IMAGE, **options).status_code == 202
