"""The functions' identity policies, from the template after the SAM transform, and their
evaluation: an explicit Deny wins, then any Allow (local IAM)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.template import Resolver

# What SAM attaches to the roles it generates. Listed so the "before" figures and any role that
# still uses one are evaluated as AWS would (these are the managed policies' documents).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    for pattern in patterns:
        # IAM's wildcards are only '*' (any run, ':' and '/' included) and '?' (one character).
        regex = re.escape(str(pattern)).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE):
            return True
    return False


@dataclass(frozen=True)
class Policy:
    """One function's identity policy, resolved to concrete ARNs."""

    function: str
    role: str
    statements: tuple[dict[str, Any], ...]

    def allows(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if not self._applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                if "Condition" not in statement:
                    return False
            elif "Condition" not in statement:
                allowed = True
        return allowed

    @staticmethod
    def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
        if "Action" in statement:
            if not _matches(_as_list(statement["Action"]), action, case_sensitive=False):
                return False
        elif "NotAction" in statement:
            if _matches(_as_list(statement["NotAction"]), action, case_sensitive=False):
                return False
        else:
            return False
        if "Resource" in statement:
            return _matches(_as_list(statement["Resource"]), resource, case_sensitive=True)
        if "NotResource" in statement:
            return not _matches(_as_list(statement["NotResource"]), resource, case_sensitive=True)
        return False


def sam_transform(document: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml as CloudFormation sees it after `Transform: AWS::Serverless-2016-10-31`."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(dict(document))
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            # `sam build`/`sam package` put the code in S3 before the transform runs.
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://local-code/{properties[key].strip('/')}"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    transformed: dict[str, Any] = translator.translate(
        sam,
        {},
        get_managed_policy_map=lambda: {name: f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES},
    )
    # Hand its usage metrics to the translator's offline (no-op) publisher, or it warns at exit.
    translator.metrics.publish()
    return transformed


def role_statements(transformed: Mapping[str, Any]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Function logical id -> (role logical id, unresolved statements) of its execution role."""
    resources = transformed["Resources"]
    result = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"].get("Role", {})
        role_name = (
            role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref else ""
        )
        role = resources.get(role_name, {}).get("Properties", {})
        statements: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            statements.extend(_as_list(policy["PolicyDocument"]["Statement"]))
        for arn in role.get("ManagedPolicyArns", []):
            text = arn if isinstance(arn, str) else json.dumps(arn)
            managed = text.split(":policy/", 1)[-1]
            statements.extend(MANAGED_POLICIES.get(managed, []))
        result[name] = (role_name, statements)
    return result


def every_statement(statements: Iterable[Any]) -> list[dict[str, Any]]:
    """The statements a role may hold, whichever way its conditions go: each branch of an
    `Fn::If` statement counts (for static listings; enforcement resolves the conditions)."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            _, if_true, if_false = statement["Fn::If"]
            found.extend(every_statement([if_true, if_false]))
        elif isinstance(statement, dict) and "Effect" in statement:
            found.append(statement)
    return found


def function_policies(
    document: Mapping[str, Any],
    resolver: Resolver,
    region: str,
    transformed: Mapping[str, Any] | None = None,
) -> dict[str, Policy]:
    """Every function's policy, with Ref/GetAtt/Sub resolved against the local resources.
    `transformed` is `document` after the SAM transform, when the caller has it already."""
    if transformed is None:
        transformed = sam_transform(document, region)
    return {
        function: Policy(function, role, tuple(resolver.resolve(statements)))
        for function, (role, statements) in role_statements(transformed).items()
    }
