"""JSON Schema validation with Magic Hour-style messages that name the offending field."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import fastjsonschema

Validator = Callable[[Any], Any]

_LARGEST_FLOAT = int(sys.float_info.max)


class ValidationFailed(ValueError):
    """A request body broke its schema; the message is ready for `{"message": ...}`."""


def compile_schema(schema: dict[str, Any]) -> Validator:
    # use_default=False: validation must never fill defaults into the body we store and echo.
    validator: Validator = fastjsonschema.compile(schema, use_default=False)
    return validator


def validate(validator: Validator, value: Any) -> None:
    try:
        validator(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ValidationFailed(describe(exc.message)) from exc


def describe(message: str) -> str:
    """'data.end_seconds must be number' -> 'end_seconds must be number'."""
    if message.startswith("data."):
        return message[len("data.") :]
    if message.startswith("data["):
        return "body" + message[len("data") :]
    if message.startswith("data "):
        return "body " + message[len("data ") :]
    return message


def require_finite_numbers(value: Any) -> None:
    """Raises ValidationFailed naming the first number no arithmetic can take (1e309, 10**400).

    Python parses 1e309 as inf and keeps huge integers exact; Magic Hour, a JavaScript service,
    would see neither as a usable number. Walked without recursion: depth is the client's choice.
    """
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            pending.extend((f"{path}.{key}" if path else str(key), child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationFailed(f"{path or 'body'} must be a finite number")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > _LARGEST_FLOAT:
            raise ValidationFailed(f"{path or 'body'} is out of range")
