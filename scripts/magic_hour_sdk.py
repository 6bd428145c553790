"""Read the create endpoints and their request types out of the official `magic-hour` SDK.

Magic Hour publishes its SDK more often than its spec: in 0.90.0 four create endpoints and several
fields (e.g. `character-replace`'s `model`) exist only there. The SDK's request types are
TypedDicts (`magic_hour.types.params.V1<Tool>CreateBody`), so each becomes a JSON Schema here:
`Required[...]` keys are required, `Literal[...]` an enum, nested TypedDicts closed objects.
Numbers carry no bounds in the types (only in the prose), so `SDK_BOUNDS` states them, each with
the SDK's sentence it comes from; docs/magic-hour-tools.md lists every field taken from the SDK.

Used by scripts/sync_magic_hour_spec.py and tests/contract/test_catalogue_sdk.py; never at run time.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

import typing_extensions

KINDS = ("video", "image", "audio")

# Bounds the SDK's types cannot express, read from the field's docstring in magic-hour 0.90.0
# (quoted for each field in docs/magic-hour-tools.md). Bounds that depend on another field (a clip
# length per model) are left to Magic Hour; the catalogue's name-based bounds (INPUT_BOUNDS in
# shared/pipeline/magic_hour/catalogue.py) still apply on top.
#   (tool, dotted field path) -> JSON Schema keywords
SDK_BOUNDS: dict[tuple[str, str], dict[str, Any]] = {
    ("ai-music-generator", "duration"): {"minimum": 15, "maximum": 300},  # "from 15 to 300"
    ("ai-music-generator", "style.prompt"): {"minLength": 1},  # ours: an empty prompt describes nothing
    ("ai-ugc-ad", "end_seconds"): {"minimum": 1, "maximum": 141},  # the union of every model's durations
    ("ai-ugc-ad", "script"): {"minLength": 1, "maxLength": 2500},  # the longest model limit
    ("ai-video-translator", "start_seconds"): {"minimum": 0},  # "Must be ≥ 0"
    ("ai-video-translator", "end_seconds"): {"exclusiveMinimum": 0},  # "greater than start_seconds"
    ("ai-video-upscaler", "start_seconds"): {"minimum": 0},
    ("ai-video-upscaler", "end_seconds"): {"exclusiveMinimum": 0},
    ("text-to-video", "references"): {"maxItems": 10},  # "Maximum 10 references total"
    ("text-to-video", "references[].file_path"): {"minLength": 1},  # a file path, as every *_file_path
    ("text-to-video", "references[].name"): {"minLength": 1},  # ours: referred to as @name
}
# File path fields: the SDK uploads a local file and sends its path, never an empty string.
FILE_PATH_BOUND: dict[str, Any] = {"minLength": 1}


@dataclass(frozen=True)
class SdkTool:
    name: str
    kind: str
    body_type: type
    summary: str
    request_schema: dict[str, Any]
    # dotted field path -> (the SDK type that declares it, its docstring), for the docs
    fields: dict[str, tuple[str, str]]


def sdk_version() -> str:
    from importlib.metadata import version

    return version("magic-hour")


def create_endpoints() -> dict[str, SdkTool]:
    """Every SDK resource whose `create` POSTs to /v1/<tool> and polls a video/image/audio project."""
    import magic_hour.resources.v1 as v1
    from magic_hour.types import params

    found: dict[str, SdkTool] = {}
    for module_info in pkgutil.iter_modules(v1.__path__):
        try:
            module = importlib.import_module(f"{v1.__name__}.{module_info.name}.client")
        except ImportError:
            continue
        source = inspect.getsource(module)
        # A create endpoint's `generate` polls the project GET of its kind (face-detection,
        # files/upload-urls poll nothing: they are not tools).
        kind = next((k for k in KINDS if f"{k}_projects.client" in source), None)
        for name, cls in vars(module).items():
            if not inspect.isclass(cls) or name.startswith("Async") or not hasattr(cls, "create"):
                continue
            create = inspect.getsource(cls.create)
            path = re.search(r'method="POST",\s*path="/v1/([^"]+)"', create)
            serializer = re.search(r"dump_with=params\._Serializer(\w+)", create)
            if kind is None or path is None or serializer is None:
                continue
            body_type = getattr(params, serializer.group(1))
            tool = path.group(1)
            fields: dict[str, tuple[str, str]] = {}
            schema = _object_schema(tool, body_type, "", fields)
            summary = (inspect.getdoc(cls.create) or tool).splitlines()[0]
            found[tool] = SdkTool(tool, kind, body_type, summary, schema, fields)
    return dict(sorted(found.items()))


def _object_schema(
    tool: str, typed_dict: type, prefix: str, fields: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    docs = _docstrings(typed_dict)
    properties: dict[str, Any] = {}
    for key, hint in hints.items():
        path = f"{prefix}{key}"
        fields[path] = (typed_dict.__name__, docs.get(key, ""))
        properties[key] = _field_schema(tool, _unwrap(hint), path, fields)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        # Closed like the spec's objects: an unknown field is a caller's typo, refused before any
        # credit is spent.
        "additionalProperties": False,
    }
    required = sorted(typed_dict.__required_keys__)  # type: ignore[attr-defined]
    if required:
        schema["required"] = required
    return schema


def _unwrap(hint: Any) -> Any:
    while typing.get_origin(hint) in (typing.Required, typing.NotRequired):
        hint = typing.get_args(hint)[0]
    return hint


def _field_schema(tool: str, hint: Any, path: str, fields: dict[str, tuple[str, str]]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    schema: dict[str, Any]
    if origin is typing.Literal:
        values = list(typing.get_args(hint))
        schema = {"type": _json_type(type(values[0])), "enum": values}
    elif origin in (list, typing.List):  # noqa: UP006 - the SDK spells it typing.List
        schema = {
            "type": "array",
            "items": _field_schema(tool, typing.get_args(hint)[0], f"{path}[]", fields),
        }
    elif origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        nullable = len(options) < len(typing.get_args(hint))
        if len(options) == 1 and not typing_extensions.is_typeddict(options[0]):
            schema = _field_schema(tool, options[0], path, fields)
            if nullable:  # Optional[int]: the SDK sends null as "not given"
                schema["type"] = [schema["type"], "null"]
        else:
            schema = {"anyOf": [_field_schema(tool, arg, path, fields) for arg in options]}
            if nullable:
                schema["anyOf"].append({"type": "null"})
    elif typing_extensions.is_typeddict(hint):
        schema = _object_schema(tool, hint, f"{path}.", fields)
    else:
        schema = {"type": _json_type(hint)}
    if path.endswith("_file_path") and schema.get("type") == "string":
        schema.update(FILE_PATH_BOUND)
    schema.update(SDK_BOUNDS.get((tool, path), {}))
    return schema


def _docstrings(typed_dict: type) -> dict[str, str]:
    """A TypedDict's attribute docstrings (the string after each annotation), whitespace folded."""
    body = ast.parse(textwrap.dedent(inspect.getsource(typed_dict))).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[node.target.id] = " ".join(after.value.value.split())
    return found


def _json_type(python_type: Any) -> str:
    names = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object"}
    if python_type in names:
        return names[python_type]
    if typing.get_origin(python_type) in (dict, typing.Dict):  # noqa: UP006
        return "object"
    raise TypeError(f"the SDK has a field type this reader does not know: {python_type!r}")
