"""The JSON Schema of each event as a rule's target receives it (EventBridge's envelope around our
detail), generated from the detail models: docs/schemas/ holds them (scripts/make_event_schemas.py)."""

from __future__ import annotations

from typing import Any

from pipeline.events.models import DETAIL_MODELS, SOURCE

SCHEMA_FILES = {"Job Status Changed": "job-status-changed.json", "Batch Ended": "batch-ended.json"}


def event_schema(detail_type: str) -> dict[str, Any]:
    detail = DETAIL_MODELS[detail_type].model_json_schema(ref_template="#/$defs/{model}")
    definitions = detail.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": detail_type,
        "description": f"A `{detail_type}` event of the bus `EventBusName`, as a rule's target receives it.",
        "type": "object",
        # `account` is always there on AWS (moto leaves it out locally).
        "required": ["version", "id", "detail-type", "source", "time", "region", "detail"],
        "properties": {
            "version": {"const": "0"},
            "id": {"type": "string", "description": "EventBridge's id: new on every delivery of a change"},
            "detail-type": {"const": detail_type},
            "source": {"const": SOURCE},
            "account": {"type": "string"},
            "time": {"type": "string", "description": "when the change was made (the job's updated_at)"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": detail,
        },
        "$defs": definitions,
    }
