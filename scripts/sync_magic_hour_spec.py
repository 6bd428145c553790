"""Derive the tool catalogue the product ships from Magic Hour's OpenAPI spec and official SDK.

Usage: python -m scripts.sync_magic_hour_spec [path/to/openapi.json]   (default: spec/magic-hour/openapi.json)

Writes shared/pipeline/magic_hour/data/magic_hour_tools.json: for each create endpoint, its kind (from the
project GET it belongs to), its required fields and its request body as a JSON Schema (draft 7)
that rejects unknown fields. The spec is the base; the pinned `magic-hour` SDK (a dev dependency,
scripts/magic_hour_sdk.py) adds the create endpoints and fields the spec lacks and the enum values
it does not list yet: the newer of the two wins, a bound the spec sets is kept. Every addition is
listed in docs/magic-hour-tools.md, written here too. The product never reads the spec or the SDK
at run time; updating is replacing spec/magic-hour/openapi.json and/or the SDK pin, running this
script and committing the results (tests/unit/test_catalogue.py and
tests/contract/test_catalogue_sdk.py check they agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from layer_path import ROOT
from scripts import magic_hour_sdk, sdk_merge

# A copy of Magic Hour's published spec lives in the repository, so a clean clone can re-derive
# (and the tests can check) the catalogue; updating is replacing that file and running this script.
DEFAULT_SPEC = ROOT / "spec" / "magic-hour" / "openapi.json"
OUTPUT = ROOT / "shared" / "pipeline" / "magic_hour" / "data" / "magic_hour_tools.json"
DOC = ROOT / "docs" / "magic-hour-tools.md"

# Keywords that only document a schema; dropping them keeps the shipped file small.
DOC_ONLY = {"description", "example", "examples", "title", "deprecated", "externalDocs", "xml"}
# OpenAPI `format` values JSON Schema validators do not know; the type already says it.
NUMERIC_FORMATS = {"float", "double", "int32", "int64"}


def to_json_schema(node: Any) -> Any:
    """Turn an OpenAPI 3.0 schema object into a strict JSON Schema object."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DOC_ONLY:
            continue
        if key == "format" and value in NUMERIC_FORMATS:
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "default":
            out[key] = value
        else:
            out[key] = to_json_schema(value)
    if node.get("nullable"):
        out.pop("nullable", None)
        if "type" in out:
            out["type"] = [out["type"], "null"]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        # Unknown fields are a caller's typo far more often than a feature: reject them before
        # any credit is spent.
        out["additionalProperties"] = False
    return out


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    tools: dict[str, Any] = {}
    for path, operations in spec["paths"].items():
        post = operations.get("post")
        tag_list = (post or {}).get("tags") or []
        kind = next((tag.split()[0].lower() for tag in tag_list if tag.endswith("Projects")), None)
        if post is None or kind not in {"video", "image", "audio"}:
            continue
        tool = path.removeprefix("/v1/")
        raw_schema = post["requestBody"]["content"]["application/json"]["schema"]
        schema = to_json_schema(raw_schema)
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        tools[tool] = {
            "kind": kind,
            "summary": post.get("summary", ""),
            "operation_id": post.get("operationId", ""),
            "required": sorted(raw_schema.get("required", [])),
            "request_schema": schema,
        }
    return {
        "source": {"title": spec["info"].get("title"), "version": spec["info"].get("version")},
        "tools": dict(sorted(tools.items())),
    }


def derive_all(spec: dict[str, Any]) -> tuple[dict[str, Any], list[sdk_merge.Addition]]:
    """The shipped catalogue: the spec's, completed from the SDK; and what the SDK added."""
    catalogue = derive(spec)
    additions = sdk_merge.complete(catalogue, magic_hour_sdk.create_endpoints())
    catalogue["source"]["sdk"] = f"magic-hour {magic_hour_sdk.sdk_version()}"
    return catalogue, additions


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    catalogue, additions = derive_all(json.loads(spec_path.read_text()))
    OUTPUT.write_text(json.dumps(catalogue, indent=1, sort_keys=False) + "\n")
    DOC.write_text(sdk_merge.document(catalogue, additions))
    kinds: dict[str, int] = {}
    for entry in catalogue["tools"].values():
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(catalogue['tools'])} tools {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
