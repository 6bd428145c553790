"""JSON Schema validation with Magic Hour-style messages that name the offending field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema

Validator = Callable[[Any], Any]


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
