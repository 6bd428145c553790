"""The Magic Hour tools this deployment accepts, and validation of a tool's `input`.

The catalogue is derived from Magic Hour's OpenAPI spec by scripts/sync_magic_hour_spec.py and
shipped inside the layer, so no request depends on reading the spec at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.validation import validate
from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

from pipeline.models.job import Kind

CATALOGUE_PATH = Path(__file__).parent / "data" / "magic_hour_tools.json"


@dataclass(frozen=True)
class Tool:
    name: str
    kind: Kind
    required: tuple[str, ...]
    request_schema: dict[str, Any]


@dataclass(frozen=True)
class InputProblem:
    loc: tuple[str | int, ...]
    msg: str


@lru_cache(maxsize=1)
def all_tools() -> dict[str, Tool]:
    raw = json.loads(CATALOGUE_PATH.read_text())
    return {
        name: Tool(name, entry["kind"], tuple(entry["required"]), entry["request_schema"])
        for name, entry in raw["tools"].items()
    }


def find_tool(name: str) -> Tool | None:
    return all_tools().get(name)


def check_input(tool: Tool, tool_input: dict[str, Any]) -> InputProblem | None:
    """The first way `tool_input` breaks the tool's schema, or None when it is valid.

    Validation never rewrites the input (no defaults filled in): Magic Hour gets exactly what the
    caller sent, as the official SDK does.
    """
    try:
        validate(event=tool_input, schema=tool.request_schema, provider_options={"use_default": False})
    except SchemaValidationError as problem:
        return InputProblem(_location(problem), _message(problem))
    return None


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
