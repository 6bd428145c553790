"""Which IAM actions each function's code can use, found by reading the code (no hand-kept list).

From a function's handler module, every function and class it references is followed through the
`pipeline` package (a reference counts, not only a call: functions passed as values are followed
too). In what is reachable, each method call on a boto3 client or DynamoDB table (as made by a
factory such as `pipeline.platform.aws.s3_client`, found by what it returns) is mapped to its operation and
from there to IAM actions (local.iam.actions_of). Libraries that call AWS themselves are seams
named in LIBRARY_ACTIONS. It over-approximates (a reachable branch may never run), which is the
safe side for "is this grant used by any code path".
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from layer_path import ROOT
from local.code_graph import Code, Module, reachable, scopes_of
from local.iam import CLIENT_HELPERS, actions_of

# Libraries that make AWS calls of their own: the qualified name the code references -> actions.
LIBRARY_ACTIONS: dict[str, tuple[str, ...]] = {
    "aws_lambda_powertools.utilities.parameters.get_secret": ("secretsmanager:GetSecretValue",),
    "aws_lambda_powertools.utilities.parameters.SecretsProvider": ("secretsmanager:GetSecretValue",),
}
# Beyond what AWS authorizes the call against: S3 answers HeadObject of a missing key with 403
# instead of 404 unless the caller may list the bucket, so code that tells "not there" by a 404
# uses s3:ListBucket too.
STATIC_EXTRA: dict[tuple[str, str], tuple[str, ...]] = {("s3", "HeadObject"): ("s3:ListBucket",)}
# DynamoDB Table resource methods -> operations.
_TABLE_METHODS = {
    "put_item": "PutItem",
    "get_item": "GetItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "batch_writer": "BatchWriteItem",
}


@dataclass(frozen=True)
class Use:
    action: str
    where: str  # module.function:line


@cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> operation name, from botocore's service model (offline)."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(operation): operation for operation in model.operation_names}


def _factories(code: Code) -> dict[str, tuple[str, str]]:
    """Functions that return a boto3 client or DynamoDB table: name -> (service, "client"|"table")."""
    found: dict[str, tuple[str, str]] = {}
    changed = True
    while changed:
        changed = False
        for module in code.modules.values():
            for qualified, node, cls in scopes_of(module):
                if qualified in found or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        kind = _client_kind(code, module, inner.value, cls, found, {})
                        if kind is not None:
                            found[qualified] = kind
                            changed = True
                            break
    return found


def _client_kind(
    code: Code,
    module: Module,
    node: ast.AST,
    cls: str | None,
    factories: dict[str, tuple[str, str]],
    local: dict[str, tuple[str, str]],
) -> tuple[str, str] | None:
    if isinstance(node, ast.Name) and node.id in local:
        return local[node.id]
    if isinstance(node, ast.Attribute) and node.attr == "client" and isinstance(node.value, ast.Attribute):
        # table.meta.client
        inner = _client_kind(code, module, node.value.value, cls, factories, local)
        if inner is not None and inner[1] == "table":
            return inner[0], "client"
    if not isinstance(node, ast.Call):
        return None
    target = code.qualify(module, node.func, cls)
    if target in factories:
        return factories[target]
    if target in ("boto3.client", "boto3.resource") and node.args and isinstance(node.args[0], ast.Constant):
        return str(node.args[0].value), "client" if target == "boto3.client" else "resource"
    if isinstance(node.func, ast.Attribute) and node.func.attr == "Table":
        inner = _client_kind(code, module, node.func.value, cls, factories, local)
        if inner is not None and inner == ("dynamodb", "resource"):
            return "dynamodb", "table"
    return None


def _transact_kinds(scope: ast.AST) -> list[str]:
    kinds = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and key.value in (
                    "Put",
                    "Update",
                    "Delete",
                    "ConditionCheck",
                    "Get",
                ):
                    kinds.add(str(key.value))
    return sorted(kinds)


def _calls_in(
    code: Code,
    module: Module,
    qualified: str,
    node: ast.AST,
    cls: str | None,
    factories: dict[str, tuple[str, str]],
) -> list[Use]:
    local: dict[str, tuple[str, str]] = {}
    for inner in ast.walk(node):
        if (
            isinstance(inner, ast.Assign)
            and len(inner.targets) == 1
            and isinstance(inner.targets[0], ast.Name)
        ):
            kind = _client_kind(code, module, inner.value, cls, factories, local)
            if kind is not None:
                local[inner.targets[0].id] = kind
    uses = []
    for inner in ast.walk(node):
        if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)):
            continue
        kind = _client_kind(code, module, inner.func.value, cls, factories, local)
        if kind is None:
            continue
        service, shape = kind
        method = inner.func.attr
        where = f"{qualified}:{inner.lineno}"
        operations: list[str] = []
        if shape == "table":
            operations = [_TABLE_METHODS[method]] if method in _TABLE_METHODS else []
        elif (service, method) in CLIENT_HELPERS:
            operations = CLIENT_HELPERS[(service, method)]
        elif method == "generate_presigned_url" and inner.args and isinstance(inner.args[0], ast.Constant):
            operations = [_operations(service)[str(inner.args[0].value)]]
        elif method in _operations(service):
            operations = [_operations(service)[method]]
        for operation in operations:
            if operation in ("TransactWriteItems", "TransactGetItems") and not _transact_kinds(node):
                # The parts are built elsewhere (passed in): resolved once every reachable scope
                # is known, from the transaction parts they build.
                uses.append(Use(f"<{operation}>", where))
                continue
            for action in actions_of(service, operation, _transact_kinds(node)):
                uses.append(Use(action, where))
            if method not in ("copy", "download_file", "download_fileobj"):
                # (the transfer manager's own HeadObject is of an object it knows is there)
                uses.extend(Use(action, where) for action in STATIC_EXTRA.get((service, operation), ()))
    return uses


def actions_used(handler: Path) -> dict[str, list[Use]]:
    """IAM action -> where the code reachable from this handler module uses it."""
    code = Code(handler)
    factories = _factories(code)
    used: dict[str, list[Use]] = defaultdict(list)
    kinds: set[str] = set()
    for scope in reachable(code):
        for use in _calls_in(code, scope.module, scope.qualified, scope.node, scope.cls, factories):
            used[use.action].append(use)
        for inner, target in scope.references:
            for action in LIBRARY_ACTIONS.get(target, ()):
                used[action].append(Use(action, f"{scope.qualified}:{inner.lineno} ({target})"))
        kinds.update(_transact_kinds(scope.node))
    for operation in ("TransactWriteItems", "TransactGetItems"):
        for use in used.pop(f"<{operation}>", []):
            for action in actions_of("dynamodb", operation, sorted(kinds)):
                used[action].append(Use(action, f"{use.where} (transaction parts built elsewhere)"))
    return dict(used)


def platform_actions(document: dict[str, Any], function: str) -> dict[str, str]:
    """What Lambda itself does with the function's role, from the template: action -> why."""
    globals_ = document.get("Globals", {}).get("Function", {})
    properties = document["Resources"][function].get("Properties", {})
    actions = {
        "logs:CreateLogStream": "the Lambda runtime writes the function's logs",
        "logs:PutLogEvents": "the Lambda runtime writes the function's logs",
    }
    if "LoggingConfig" not in properties and "LoggingConfig" not in globals_:
        actions["logs:CreateLogGroup"] = "no log group of its own: Lambda creates /aws/lambda/<name>"
    if properties.get("Tracing", globals_.get("Tracing")) == "Active":
        actions["xray:PutTraceSegments"] = "Tracing: Active"
        actions["xray:PutTelemetryRecords"] = "Tracing: Active"
    for event in properties.get("Events", {}).values():
        if event.get("Type") == "SQS":
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                actions[action] = "its SQS event source polls with the function's role"
        if event.get("Type") == "DynamoDB":
            for action in (
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ):
                actions[action] = "its stream event source reads with the function's role"
            if "OnFailure" in event["Properties"].get("DestinationConfig", {}):
                actions["sqs:SendMessage"] = "its stream event source sends failed batches there"
    return actions


def handler_path(document: dict[str, Any], function: str) -> Path:
    properties = document["Resources"][function]["Properties"]
    module = str(properties.get("Handler", "app.lambda_handler")).rsplit(".", 1)[0]
    return ROOT / str(properties["CodeUri"]).strip("/") / f"{module}.py"


def report() -> dict[str, dict[str, list[str]]]:
    """Per function: actions granted by its role, used by its code (where), used by Lambda itself."""
    from local.iam import every_statement, role_statements, sam_transform
    from local.template import load_template

    document = load_template()
    roles = role_statements(sam_transform(document))
    result = {}
    for function, (_, statements) in sorted(roles.items()):
        granted = sorted(
            {
                str(action)
                for statement in every_statement(statements)
                if statement.get("Effect") == "Allow"
                for action in (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
            }
        )
        used = actions_used(handler_path(document, function))
        result[function] = {
            "granted": granted,
            "code": sorted(used),
            "platform": sorted(platform_actions(document, function)),
            "where": sorted({f"{action} <- {use.where}" for action, uses in used.items() for use in uses}),
        }
    return result


if __name__ == "__main__":
    for name, facts in report().items():
        print(f"{name}: {len(facts['granted'])} actions granted")
        needed = set(facts["code"]) | set(facts["platform"])
        for action in facts["granted"]:
            source = (
                "code" if action in facts["code"] else "Lambda" if action in facts["platform"] else "UNUSED"
            )
            print(f"  {action:34} {source}")
        for action in sorted(needed - set(facts["granted"])):
            print(f"  {action:34} MISSING (used, not granted)")
