"""Inputs made from a tool's JSON Schema: the smallest valid one, and ways to break it."""

from __future__ import annotations

from typing import Any


def minimal_valid(schema: dict[str, Any]) -> Any:
    """The smallest value the schema accepts: required properties only, lowest bounds, first enum."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: minimal_valid(properties[name]) for name in schema.get("required", []) if name in properties
        }
    if kind == "array":
        return [minimal_valid(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low + (1 if "exclusiveMinimum" in schema else 0)
        step = schema.get("multipleOf")
        if step:
            value = step * -(-value // step)
        high = schema.get("maximum")
        value = min(value, high) if high is not None else value
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "uri":
            return "https://example.com/file.png"
        return "a" * max(1, schema.get("minLength", 1))
    return None


def first_required_path(schema: dict[str, Any]) -> list[str]:
    """The path to the first required leaf (the field an invalid input leaves out)."""
    path: list[str] = []
    node = schema
    while node.get("type") == "object" and node.get("required"):
        name = node["required"][0]
        path.append(name)
        node = node["properties"].get(name, {})
        if node.get("type") != "object" or not node.get("required"):
            break
    return path


def without(value: dict[str, Any], path: list[str]) -> dict[str, Any]:
    copy: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in value.items()}
    node = copy
    for name in path[:-1]:
        node[name] = dict(node[name])
        node = node[name]
    node.pop(path[-1])
    return copy
