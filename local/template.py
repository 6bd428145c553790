"""Reading template.yaml the way CloudFormation would, for the local stack.

The local stack has no second description of the system: tables, queues, buckets, secrets, routes,
event sources and schedules all come from template.yaml, with intrinsic functions resolved against
the local resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template with CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) in their long
    form, parsed as the SAM translator parses it (which registers the tags on yaml.SafeLoader)."""
    from samtranslator.yaml_helper import yaml_parse

    document: dict[str, Any] = yaml_parse(path.read_text())
    return document


@dataclass(frozen=True)
class Route:
    function: str
    method: str
    path: str
    api_key_required: bool
    pattern: re.Pattern[str]
    param_names: tuple[str, ...]
    # Also served on an AWS_IAM API (SigV4). Locally one port serves both of a route's APIs.
    iam: bool = False


@dataclass(frozen=True)
class QueueTrigger:
    function: str
    queue: str  # logical id
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class Schedule:
    function: str
    name: str
    # As written in the template (it may be a !Ref); locally the period is LOCAL_SCHEDULE_SECONDS.
    expression: Any


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)


# What `!Ref AWS::NoValue` resolves to: the property or list item is left out.
NO_VALUE: Any = object()


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split and Fn::If (with the
    template's Conditions) against local values."""

    def __init__(
        self,
        parameters: dict[str, str],
        refs: dict[str, str],
        attributes: dict[tuple[str, str], str],
        pseudo: dict[str, str],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self.refs = refs
        self.attributes = attributes
        self.pseudo = pseudo
        self.conditions = conditions or {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" and argument == "AWS::NoValue":
                return NO_VALUE
            if key == "Fn::If":
                name, if_true, if_false = argument
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Ref":
                return self._ref(str(argument))
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.attributes[(logical, attribute)]
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return self._truth(self.conditions[name])

    def _truth(self, expression: Any) -> bool:
        ((key, argument),) = expression.items()
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._truth(argument[0])
        if key == "Fn::And":
            return all(self._truth(item) for item in argument)
        if key == "Fn::Or":
            return any(self._truth(item) for item in argument)
        raise ValueError(f"unsupported condition function {key}")

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.refs[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                logical, attribute = token.split(".", 1)
                return self.attributes[(logical, attribute)]
            return self._ref(token)

        # "${!Literal}" is CloudFormation's escape for a literal "${Literal}".
        resolved = re.sub(r"\$\{([^}!][^}]*)\}", replace, text)
        return resolved.replace("${!", "${")


class Template:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})

    def parameter_defaults(self) -> dict[str, str]:
        return {
            name: str(spec["Default"])
            for name, spec in self.document.get("Parameters", {}).items()
            if "Default" in spec
        }

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.resources.items() if spec.get("Type") == resource_type}

    def functions(self) -> dict[str, FunctionSpec]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        result = {}
        for name, spec in self.of_type("AWS::Serverless::Function").items():
            properties = spec.get("Properties", {})
            environment = dict(globals_.get("Environment", {}).get("Variables", {}))
            environment.update(properties.get("Environment", {}).get("Variables", {}))
            result[name] = FunctionSpec(
                logical_id=name,
                code_uri=str(properties["CodeUri"]).rstrip("/"),
                handler=str(properties.get("Handler", globals_.get("Handler", "app.lambda_handler"))),
                timeout=int(properties.get("Timeout", globals_.get("Timeout", 3))),
                memory=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
                environment=environment,
            )
        return result

    def routes(self) -> list[Route]:
        apis = self.of_type("AWS::Serverless::Api")
        routes: dict[tuple[str, str, str], Route] = {}
        for name, spec in self.of_type("AWS::Serverless::Function").items():
            for event in spec.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "Api":
                    continue
                properties = event["Properties"]
                api_id = (
                    properties.get("RestApiId", {}).get("Ref")
                    if isinstance(properties.get("RestApiId"), dict)
                    else None
                )
                api_auth = apis.get(api_id or "", {}).get("Properties", {}).get("Auth", {})
                required = bool(
                    properties.get("Auth", {}).get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))
                )
                authorizer = properties.get("Auth", {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
                signed = authorizer == "AWS_IAM"
                method = str(properties["Method"]).upper()
                key = (name, method, properties["Path"])
                if key in routes:  # the same route's twin on the other API
                    seen = routes[key]
                    required, signed = required or seen.api_key_required, signed or seen.iam
                pattern, params = _path_pattern(properties["Path"])
                routes[key] = Route(name, method, properties["Path"], required, pattern, params, signed)
        # Literal segments beat parameters, as in API Gateway.
        return sorted(routes.values(), key=lambda route: route.path.count("{"))

    def gateway_responses(self) -> dict[str, dict[str, Any]]:
        responses: dict[str, dict[str, Any]] = {}
        # The first API's answer wins where two differ (the key API's 404 for no route).
        for spec in self.of_type("AWS::Serverless::Api").values():
            for kind, response in spec.get("Properties", {}).get("GatewayResponses", {}).items():
                responses.setdefault(kind, response)
        return responses

    def queue_triggers(self) -> list[QueueTrigger]:
        triggers = []
        for name, spec in self.of_type("AWS::Serverless::Function").items():
            for event in spec.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "SQS":
                    continue
                properties = event["Properties"]
                queue = properties["Queue"]
                logical = (
                    queue["Fn::GetAtt"][0]
                    if isinstance(queue, dict) and "Fn::GetAtt" in queue
                    else str(queue)
                )
                triggers.append(
                    QueueTrigger(
                        name,
                        logical,
                        int(properties.get("BatchSize", 10)),
                        "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
                    )
                )
        return triggers

    def schedules(self) -> list[Schedule]:
        schedules = []
        for name, spec in self.of_type("AWS::Serverless::Function").items():
            for event_name, event in spec.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") in ("Schedule", "ScheduleV2"):
                    schedules.append(
                        Schedule(
                            name,
                            event_name,
                            event["Properties"].get(
                                "Schedule", event["Properties"].get("ScheduleExpression", "")
                            ),
                        )
                    )
        return schedules


def _path_pattern(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    regex = ""
    for segment in path.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", segment)
        if match:
            names.append(match.group(1))
            regex += f"/(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})"
        else:
            regex += "/" + re.escape(segment)
    return re.compile(f"^{regex or '/'}$"), tuple(names)
