"""What a Magic Hour create will cost, estimated before anything is sent.

The rates live beside the tool catalogue (data/magic_hour_rates.json, each with its source), so a
price change is a data edit. The estimate is what a job reserves of its client's daily budget
(jobs/reservations.py) until Magic Hour's own `credits_charged` replaces it. It errs high where
the input leaves the cost open: a video whose duration cannot be read is estimated at the longest
the tool accepts, an image count that cannot be read at the most images the tool makes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.magic_hour.catalogue import Tool, find_tool

RATES_PATH = Path(__file__).parent / "data" / "magic_hour_rates.json"
# The longest video any tool accepts when its schema sets no bound (catalogue.INPUT_BOUNDS).
_DEFAULT_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Rate:
    """One tool's price: per requested second (video), per image, or per job (audio)."""

    credits_per_second: int = 0
    credits_per_image: int = 0
    credits_per_job: int = 0
    # Where the requested duration is read: `end_seconds - start_seconds` (video) unless the tool
    # names a field of its own (the music generator's `duration`).
    duration_field: str | None = None
    source: str = ""


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RATES_PATH.read_text())
    return loaded


def rate_of(tool: Tool) -> Rate:
    """The tool's own entry, else its kind's."""
    table = _table()
    entry = table["tools"].get(tool.name) or table["kinds"][tool.kind]
    return Rate(
        credits_per_second=int(entry.get("credits_per_second", 0)),
        credits_per_image=int(entry.get("credits_per_image", 0)),
        credits_per_job=int(entry.get("credits_per_job", 0)),
        duration_field=entry.get("duration_field"),
        source=str(entry["source"]),  # every rate names its source
    )


def estimate_credits(tool: str, tool_input: dict[str, Any]) -> int:
    """The credits a create of `tool` with `tool_input` is expected to cost (at least 1).
    Raises KeyError for a tool the catalogue does not have."""
    found = find_tool(tool)
    if found is None:
        raise KeyError(tool)
    rate = rate_of(found)
    credits = rate.credits_per_job
    if rate.credits_per_second:
        seconds = (
            requested_seconds(found, tool_input)
            if rate.duration_field is None
            else field_seconds(found, tool_input, rate.duration_field)
        )
        credits += math.ceil(seconds * rate.credits_per_second)
    if rate.credits_per_image:
        credits += image_count(found, tool_input) * rate.credits_per_image
    return max(1, credits)


def requested_seconds(tool: Tool, tool_input: dict[str, Any]) -> float:
    """`end_seconds - start_seconds` (start 0 when absent); the tool's longest when either cannot
    be read as a number, or they make no positive duration."""
    longest = _bound(tool, "end_seconds", _DEFAULT_MAX_SECONDS)
    end = _number(tool_input.get("end_seconds"))
    start = _number(tool_input.get("start_seconds", 0))
    if end is None or start is None or end - start <= 0:
        return longest
    return min(end - start, longest)


def field_seconds(tool: Tool, tool_input: dict[str, Any], field: str) -> float:
    """A duration the tool asks for in one field; the tool's longest when it cannot be read."""
    longest = _bound(tool, field, _DEFAULT_MAX_SECONDS)
    seconds = _number(tool_input.get(field))
    if seconds is None or seconds <= 0:
        return longest
    return min(seconds, longest)


def image_count(tool: Tool, tool_input: dict[str, Any]) -> int:
    """`image_count` where the tool takes one (absent: 1, the spec's default); the most the tool
    makes when it is there but not a whole positive number."""
    field = tool.request_schema.get("properties", {}).get("image_count")
    if field is None or "image_count" not in tool_input:
        return 1
    count = _number(tool_input["image_count"])
    if count is None or count < 1 or count != int(count):
        return int(max(field.get("enum") or [_bound(tool, "image_count", 1)]))
    return int(count)


def _bound(tool: Tool, field: str, default: float) -> float:
    maximum = (tool.request_schema.get("properties", {}).get(field) or {}).get("maximum")
    return float(maximum) if isinstance(maximum, int | float) else default


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
