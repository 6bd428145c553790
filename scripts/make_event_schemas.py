"""Regenerate docs/schemas/*.json, the JSON Schema of each event on the bus, from the detail
models (python -m scripts.make_event_schemas). tests/unit/test_event_mapping.py keeps them equal."""

from __future__ import annotations

import json

from layer_path import ROOT
from pipeline.events.schema import SCHEMA_FILES, event_schema


def main() -> None:
    for detail_type, name in SCHEMA_FILES.items():
        path = ROOT / "docs" / "schemas" / name
        path.write_text(json.dumps(event_schema(detail_type), indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
