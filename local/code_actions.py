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
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from local.iam import CLIENT_HELPERS, actions_of

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"

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


@dataclass
class _Module:
    name: str
    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    defs: dict[str, ast.AST] = field(default_factory=dict)  # qualified name -> node


def _module_name(path: Path) -> str:
    relative = path.relative_to(SHARED).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _shared_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in (SHARED / "pipeline").rglob("*.py")}


@cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> operation name, from botocore's service model (offline)."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(operation): operation for operation in model.operation_names}


def _load(name: str, path: Path) -> _Module:
    module = _Module(name, ast.parse(path.read_text(), str(path)))
    package = name.rsplit(".", 1)[0] if "." in name else name
    # Imports anywhere count (a function-level import is how some modules avoid import cycles).
    for node in ast.walk(module.tree):
        _collect_imports(module, node, package)
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.defs[f"{name}.{node.name}"] = node
        elif isinstance(node, ast.ClassDef):
            module.defs[f"{name}.{node.name}"] = node
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    module.defs[f"{name}.{node.name}.{item.name}"] = item
    return module


def _collect_imports(module: _Module, node: ast.AST, package: str) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            module.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: level 1 is the module's own package
            parents = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parents, base]).strip(".")
        for alias in node.names:
            module.aliases[alias.asname or alias.name] = f"{base}.{alias.name}"


class _Code:
    """Every module reachable from one handler, and name resolution across them."""

    def __init__(self, handler: Path) -> None:
        self.modules: dict[str, _Module] = {}
        self.handler = _load("app", handler)
        self.modules["app"] = self.handler
        pending = [self.handler]
        while pending:
            module = pending.pop()
            for target in module.aliases.values():
                name = self._module_of(target)
                if name and name not in self.modules:
                    self.modules[name] = _load(name, _shared_modules()[name])
                    pending.append(self.modules[name])
        self.defs = {qualified: node for m in self.modules.values() for qualified, node in m.defs.items()}

    def _module_of(self, qualified: str) -> str | None:
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in _shared_modules():
                return ".".join(parts[:end])
        return None

    def qualify(self, module: _Module, node: ast.AST, cls: str | None) -> str | None:
        """The qualified name an expression like `a`, `a.b.c` or `self.m` stands for."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        if node.id == "self" and cls is not None:
            base = cls
        elif node.id in module.aliases:
            base = module.aliases[node.id]
        elif f"{module.name}.{node.id}" in module.defs:
            base = f"{module.name}.{node.id}"
        else:
            return None
        return self._through_reexports(".".join([base, *attrs]))

    def _through_reexports(self, qualified: str) -> str:
        """A name a module only imports (a re-export, as store/jobs.py's) stands for its
        definition: `pipeline.store.jobs.get_job` is `pipeline.store.job_reads.get_job`."""
        for _ in range(8):  # re-exports of re-exports, without looping on a cycle
            module = self._module_of(qualified)
            if module is None or module not in self.modules or qualified == module:
                return qualified
            name, _, rest = qualified[len(module) + 1 :].partition(".")
            target = self.modules[module].aliases.get(name)
            if target is None or f"{module}.{name}" in self.modules[module].defs:
                return qualified
            qualified = ".".join([target, rest]) if rest else target
        return qualified


def _scopes(module: _Module) -> Iterator[tuple[str, ast.AST, str | None]]:
    """(qualified name, node, enclosing class) of each function; the module's own top-level code
    runs at import and counts as a scope of its own."""
    for qualified, node in module.defs.items():
        parent = qualified.rsplit(".", 1)[0]
        cls = parent if parent in module.defs and isinstance(module.defs[parent], ast.ClassDef) else None
        if not isinstance(node, ast.ClassDef):
            yield qualified, node, cls
    yield (
        f"{module.name}.<module>",
        ast.Module(
            body=[n for n in module.tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))],
            type_ignores=[],
        ),
        None,
    )


def _factories(code: _Code) -> dict[str, tuple[str, str]]:
    """Functions that return a boto3 client or DynamoDB table: name -> (service, "client"|"table")."""
    found: dict[str, tuple[str, str]] = {}
    changed = True
    while changed:
        changed = False
        for module in code.modules.values():
            for qualified, node, cls in _scopes(module):
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
    code: _Code,
    module: _Module,
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
    code: _Code,
    module: _Module,
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


@dataclass(frozen=True)
class Reached:
    """One scope (a function, a class's method, a module's top level) the handler can run."""

    qualified: str
    module: Any
    node: ast.AST
    cls: str | None
    # Every name or attribute in it that names a definition, with that definition's name.
    references: tuple[tuple[ast.Name | ast.Attribute, str], ...]


def reachable(code: _Code) -> Iterator[Reached]:
    """Every scope reachable from the handler module, following references (not only calls:
    functions passed as values run too); a class in use brings all its methods."""
    scopes = {q: (m, n, c) for m in code.modules.values() for q, n, c in _scopes(m)}
    # Entry points: everything the handler module defines, and every imported module's top level.
    pending = [q for q in scopes if q.startswith("app.")] + [f"{name}.<module>" for name in code.modules]
    seen: set[str] = set()
    while pending:
        qualified = pending.pop()
        if qualified in seen:
            continue
        seen.add(qualified)
        if qualified not in scopes:
            continue
        module, node, cls = scopes[qualified]
        references = []
        for inner in ast.walk(node):
            if not isinstance(inner, (ast.Name, ast.Attribute)):
                continue
            target = code.qualify(module, inner, cls)
            if target is None:
                continue
            references.append((inner, target))
            if target in code.defs and isinstance(code.defs[target], ast.ClassDef):
                pending.extend(q for q in scopes if q.startswith(f"{target}."))
            else:
                pending.append(target)
        yield Reached(qualified, module, node, cls, tuple(references))


def actions_used(handler: Path) -> dict[str, list[Use]]:
    """IAM action -> where the code reachable from this handler module uses it."""
    code = _Code(handler)
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
