"""UTC timestamps in the one format the job resource uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return iso(utc_now())


def epoch_seconds() -> int:
    return int(time.time())


def parse_iso(text: str) -> datetime:
    """The one parser of ISO 8601 timestamps (`Z` or an offset; none means UTC), aware.
    ValueError when `text` is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def epoch_of(iso_text: str) -> int:
    return int(parse_iso(iso_text).timestamp())
