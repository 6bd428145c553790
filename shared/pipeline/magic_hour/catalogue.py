"""The Magic Hour tools this deployment accepts, and validation of a tool's `input`.

The catalogue is derived from Magic Hour's OpenAPI spec by scripts/sync_magic_hour_spec.py and
shipped inside the layer, so no request depends on reading the spec at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.models.job import Kind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

CATALOGUE_PATH = Path(__file__).parent / "data" / "magic_hour_tools.json"

# Magic Hour's spec (and its docs) set no upper bound on most numbers. Unbounded, a request such as
# `"end_seconds": 1e60` passes validation, is charged, and comes back with a credits_charged no
# store can hold. So where the spec is silent we bound them, by field name wherever the field
# appears, well beyond any real render; a bound the spec does set is never loosened. (Added here
# at load time rather than in the derived catalogue, so `make sync-spec` keeps them.)
#   field                              min     max      why this max
INPUT_BOUNDS: dict[str, tuple[float, float]] = {
    "start_seconds": (0, 3600),  # an hour: Magic Hour renders clips of minutes
    "end_seconds": (0, 3600),
    "time_seconds": (0, 3600),
    "fps": (1, 120),  # no output format Magic Hour renders goes beyond 120 fps
    "max_fps_limit": (1, 120),
    "width": (64, 8192),  # 8K
    "height": (64, 8192),
    "max_resolution": (1, 8192),
    "position_x": (0, 16384),  # a point on a frame of at most 8K, with room for off-frame points
    "position_y": (0, 16384),
    "scale_factor": (1, 16),  # the upscaler's factors are small integers (2, 4)
    "font_size": (1, 1000),
    "stroke_width": (0, 1000),
}
# Any other number the spec leaves open on a side: far beyond any count, size or duration.
DEFAULT_NUMBER_BOUND = 1_000_000


@dataclass(frozen=True)
class Tool:
    name: str
    kind: Kind
    required: tuple[str, ...]
    request_schema: dict[str, Any]

    @property
    def takes_name(self) -> bool:
        """Whether the create body has a `name` (every tool but ai-ugc-ad in SDK 0.90.0)."""
        return "name" in self.request_schema.get("properties", {})


@dataclass(frozen=True)
class InputProblem:
    loc: tuple[str | int, ...]
    msg: str


@lru_cache(maxsize=1)
def all_tools() -> dict[str, Tool]:
    raw = json.loads(CATALOGUE_PATH.read_text())
    return {
        name: Tool(name, entry["kind"], tuple(entry["required"]), _bounded(entry["request_schema"]))
        for name, entry in raw["tools"].items()
    }


def _bounded(schema: Any, field: str | None = None) -> Any:
    """`schema` with INPUT_BOUNDS (or DEFAULT_NUMBER_BOUND) on every number the spec left open."""
    if isinstance(schema, list):
        return [_bounded(item, field) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded(value, field) for key, value in schema.items() if key != "properties"}
    if "properties" in schema:
        bounded["properties"] = {name: _bounded(value, name) for name, value in schema["properties"].items()}
    types = schema.get("type")
    if {"number", "integer"} & set(types if isinstance(types, list) else [types]):
        low, high = INPUT_BOUNDS.get(field or "", (-DEFAULT_NUMBER_BOUND, DEFAULT_NUMBER_BOUND))
        if "minimum" not in schema and "exclusiveMinimum" not in schema:
            bounded["minimum"] = low
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            bounded["maximum"] = high
    return bounded


def find_tool(name: str) -> Tool | None:
    return all_tools().get(name)


def check_input(tool: Tool, tool_input: dict[str, Any]) -> InputProblem | None:
    """The first way `tool_input` breaks the tool's schema, or None when it is valid.

    Validation never rewrites the input (no defaults filled in): Magic Hour gets exactly what the
    caller sent, as the official SDK does.
    """
    import fastjsonschema
    from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

    try:
        _validator(tool.name)(tool_input)
    except fastjsonschema.JsonSchemaValueException as e:
        # As Powertools' validate() would raise it (which compiles the schema on every call).
        problem = SchemaValidationError(
            e.message,
            validation_message=e.message,
            name=e.name,
            path=e.path,
            value=e.value,
            definition=e.definition,
            rule=e.rule,
            rule_definition=e.rule_definition,
        )
        return InputProblem(_location(problem), _message(problem))
    return None


@cache
def _validator(name: str) -> Any:
    """The tool's schema compiled once per container (fastjsonschema generates and compiles Python
    code: 0.1-0.25 s a schema, once per job if done each call; a 10,000-job manifest needs it
    once). Loaded by the first check: reading the catalogue (GET /v1/tools) needs no validator."""
    import fastjsonschema

    tool = find_tool(name)
    assert tool is not None  # nosec B101 - called with a found tool's name
    return fastjsonschema.compile(tool.request_schema, use_default=False)


def _location(problem: SchemaValidationError) -> tuple[str | int, ...]:
    # fastjsonschema paths start with "data"; ours start at the request body.
    path: list[str | int] = list(problem.path or [])[1:]
    if problem.rule == "required" and isinstance(problem.value, dict):
        # Point at the missing field itself, not at the object that lacks it.
        missing = [field for field in problem.rule_definition or [] if field not in problem.value]
        path.extend(missing[:1])
    return ("body", "input", *path)


def _message(problem: SchemaValidationError) -> str:
    message = str(problem.validation_message or "invalid value")
    return message.removeprefix("data.").removeprefix("data ")
