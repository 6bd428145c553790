"""Magic Hour's webhook routes have a throttle of their own and, when the deployer asks, a WAF rate
rule (issue #23). The local stack has neither API Gateway's throttles nor WAF, so what the deployed
stack does is checked here, on template.yaml and on what SAM's transform makes of it."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import sam_transform
from local.template import Resolver, Template, load_template

WEBHOOK_PATHS = ("/webhooks/magic-hour", "/webhooks/magic-hour/{token}")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def stage(document: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = sam_transform(document)["Resources"]["ApiStage"]["Properties"]
    return properties


def _encoded(path: str) -> str:
    # API Gateway's MethodSetting names a resource path with its slashes written ~1.
    return "/" + path.replace("/", "~1")


def _default(document: dict[str, Any], value: Any) -> int:
    if isinstance(value, dict):
        return int(document["Parameters"][value["Ref"]]["Default"])
    return int(value)


def test_each_webhook_route_has_its_own_throttle_above_the_client_routes(
    document: dict[str, Any], stage: dict[str, Any]
) -> None:
    settings = {(item["ResourcePath"], item["HttpMethod"]): item for item in stage["MethodSettings"]}
    clients = settings[("/*", "*")]
    routes = {route.path for route in Template(document).routes() if route.function == "WebhookFunction"}
    assert routes == set(WEBHOOK_PATHS)  # every webhook route, and only those, is covered below
    for path in WEBHOOK_PATHS:
        own = settings[(_encoded(path), "POST")]
        assert own["ThrottlingRateLimit"] == {"Ref": "WebhookThrottleRateLimit"}, path
        assert own["ThrottlingBurstLimit"] == {"Ref": "WebhookThrottleBurstLimit"}, path
        assert _default(document, own["ThrottlingRateLimit"]) > _default(
            document, clients["ThrottlingRateLimit"]
        )
        assert _default(document, own["ThrottlingBurstLimit"]) > _default(
            document, clients["ThrottlingBurstLimit"]
        )
    # The IAM API serves no webhook, so its stage needs no such setting.
    iam = sam_transform(document)["Resources"]["IamApiStage"]["Properties"]["MethodSettings"]
    assert [item["ResourcePath"] for item in iam] == ["/*"]


def _resolver(document: dict[str, Any], **overrides: str) -> Resolver:
    parameters = {name: str(spec.get("Default", "")) for name, spec in document["Parameters"].items()}
    parameters.update(overrides)
    return Resolver(parameters, {}, {}, {}, document["Conditions"])


def test_the_waf_rule_exists_only_when_asked_for(document: dict[str, Any]) -> None:
    resources = document["Resources"]
    for name in ("WebhookWebAcl", "WebhookWebAclAssociation"):
        assert resources[name]["Condition"] == "HasWebhookWaf", name
    assert document["Parameters"]["WebhookWafRateLimit"]["Default"] == 0
    assert _resolver(document).condition("HasWebhookWaf") is False
    assert _resolver(document, WebhookWafRateLimit="300").condition("HasWebhookWaf") is True


def test_the_waf_rule_limits_each_address_on_the_webhook_paths_of_the_key_apis_stage(
    document: dict[str, Any],
) -> None:
    acl = document["Resources"]["WebhookWebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    (rule,) = acl["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == {"Ref": "WebhookWafRateLimit"}
    assert rate["AggregateKeyType"] == "IP"
    match = rate["ScopeDownStatement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"UriPath": {}}
    assert match["PositionalConstraint"] == "STARTS_WITH"
    assert match["SearchString"] == {"Fn::Sub": "/${StageName}/webhooks/"}
    assert all(path.startswith("/webhooks/") for path in WEBHOOK_PATHS)
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 429
    body = acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]
    assert '"code":"rate_limited"' in body["Content"]


def test_the_waf_acl_is_associated_with_the_key_apis_stage(document: dict[str, Any]) -> None:
    transformed = sam_transform(document)["Resources"]
    association = transformed["WebhookWebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["WebhookWebAcl", "Arn"]}
    # SAM resolved Api.Stage to its stage resource: the association waits for the stage.
    assert association["ResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/${ApiStage}"
    }
    assert transformed["ApiStage"]["Type"] == "AWS::ApiGateway::Stage"
