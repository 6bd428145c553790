"""CallerAuth as CloudFormation sees it: each route's authorization after the SAM transform, and
the resource policies each CallerAuth value leaves in force."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import sam_transform
from local.template import Resolver, Template, load_template

# Every route a client calls. Each must be on the key API with an API key and on the IAM API with
# AWS_IAM; a new client route (cancel, batches, ...) goes here and gets its twin in template.yaml.
CLIENT_ROUTES = {
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{job_id}"),
    ("post", "/v1/jobs/{job_id}/cancel"),
    ("post", "/v1/batches"),
    ("get", "/v1/batches"),
    ("get", "/v1/batches/{batch_id}"),
    ("get", "/v1/batches/{batch_id}/jobs"),
    ("post", "/v1/batches/{batch_id}/cancel"),
    ("get", "/v1/tools"),
    ("get", "/v1/usage"),
    ("post", "/v1/uploads"),
    ("get", "/v1/callback-secret"),
    ("post", "/v1/callback-secret/rotate"),
}
WEBHOOK = ("post", "/webhooks/magic-hour")
# The same receiver on the secret path Magic Hour is registered with: its token is checked by the
# function, so API Gateway asks for no credential there either.
WEBHOOK_SECRET_PATH = ("post", "/webhooks/magic-hour/{token}")
WEBHOOKS = {WEBHOOK, WEBHOOK_SECRET_PATH}
ACCOUNT = "111111111111"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def transformed(document: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(document)


def methods(transformed: dict[str, Any], api: str) -> dict[tuple[str, str], dict[str, Any]]:
    body = transformed["Resources"][api]["Properties"]["Body"]
    return {
        (method, path): operation
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
        if method != "options"
    }


def test_each_client_route_takes_an_api_key_on_the_key_api(transformed: dict[str, Any]) -> None:
    routes = methods(transformed, "Api")
    assert set(routes) == CLIENT_ROUTES | WEBHOOKS
    for route in CLIENT_ROUTES:
        assert routes[route]["security"] == [{"api_key": []}], route


def test_the_webhook_takes_no_credential_but_its_signature(transformed: dict[str, Any]) -> None:
    for webhook in WEBHOOKS:
        assert methods(transformed, "Api")[webhook].get("security", []) == [], webhook
        assert webhook not in methods(transformed, "IamApi"), webhook


def test_each_client_route_has_an_iam_twin_that_callers_need_no_lambda_grant_for(
    transformed: dict[str, Any],
) -> None:
    routes = methods(transformed, "IamApi")
    assert set(routes) == CLIENT_ROUTES
    for route, operation in routes.items():
        assert operation["security"] == [{"AWS_IAM": []}], route
        # InvokeRole NONE: API Gateway invokes with its own permission, not the caller's credentials.
        assert "credentials" not in operation["x-amazon-apigateway-integration"], route
        assert operation["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    body = transformed["Resources"]["IamApi"]["Properties"]["Body"]
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def policy_for(
    document: dict[str, Any], transformed: dict[str, Any], api: str, caller_auth: str, accounts: list[str]
) -> list[dict[str, Any]]:
    parameters: dict[str, Any] = {"CallerAuth": caller_auth, "IamCallerAccountIds": accounts}
    resolver = Resolver(parameters, {}, {}, {"AWS::AccountId": ACCOUNT}, document["Conditions"])
    policy = transformed["Resources"][api]["Properties"]["Body"]["x-amazon-apigateway-policy"]
    statements: list[dict[str, Any]] = resolver.resolve(policy["Statement"])
    return statements


def effects(statements: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    return [(s["Effect"], s["Principal"], s["Resource"]) for s in statements]


@pytest.mark.parametrize(
    ("caller_auth", "key_api", "iam_api"),
    [
        ("api-key", [("Allow", "*", "execute-api:/*")], [("Deny", "*", "execute-api:/*")]),
        (
            "iam",
            [("Allow", "*", "execute-api:/*"), ("Deny", "*", "execute-api:/*/*/v1/*")],
            [("Allow", {"AWS": ACCOUNT}, "execute-api:/*")],
        ),
        ("both", [("Allow", "*", "execute-api:/*")], [("Allow", {"AWS": ACCOUNT}, "execute-api:/*")]),
    ],
)
def test_caller_auth_switches_each_api_by_its_resource_policy(
    document: dict[str, Any],
    transformed: dict[str, Any],
    caller_auth: str,
    key_api: list[Any],
    iam_api: list[Any],
) -> None:
    assert effects(policy_for(document, transformed, "Api", caller_auth, [""])) == key_api
    assert effects(policy_for(document, transformed, "IamApi", caller_auth, [""])) == iam_api


def test_listed_accounts_may_call_the_iam_api_only_when_it_is_on(
    document: dict[str, Any], transformed: dict[str, Any]
) -> None:
    others = ["222222222222", "333333333333"]
    assert effects(policy_for(document, transformed, "IamApi", "both", others)) == [
        ("Allow", {"AWS": ACCOUNT}, "execute-api:/*"),
        ("Allow", {"AWS": others}, "execute-api:/*"),
    ]
    assert effects(policy_for(document, transformed, "IamApi", "api-key", others)) == [
        ("Deny", "*", "execute-api:/*")
    ]


def test_both_apis_redeploy_so_a_changed_policy_takes_effect(document: dict[str, Any]) -> None:
    # API Gateway applies a changed resource policy only with a new deployment.
    for api in ("Api", "IamApi"):
        assert document["Resources"][api]["Properties"]["AlwaysDeploy"] is True


def test_signature_failures_answer_forbidden_in_our_error_shape(document: dict[str, Any]) -> None:
    responses = document["Resources"]["IamApi"]["Properties"]["GatewayResponses"]
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "ACCESS_DENIED", "INVALID_SIGNATURE", "EXPIRED_TOKEN"):
        assert int(responses[kind]["StatusCode"]) == 403, kind
        assert '"code":"forbidden"' in responses[kind]["ResponseTemplates"]["application/json"], kind


def test_locally_each_client_route_takes_either_credential(document: dict[str, Any]) -> None:
    routes = {(route.method.lower(), route.path): route for route in Template(document).routes()}
    for route in CLIENT_ROUTES:
        assert routes[route].api_key_required, route
        assert routes[route].iam, route
    for webhook in WEBHOOKS:
        assert not routes[webhook].api_key_required, webhook
        assert not routes[webhook].iam, webhook


@pytest.mark.parametrize("function", ["SubmitFunction", "QueryFunction"])
def test_the_api_functions_are_told_the_caller_auth(document: dict[str, Any], function: str) -> None:
    variables = document["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables["CALLER_AUTH"] == {"Ref": "CallerAuth"}
