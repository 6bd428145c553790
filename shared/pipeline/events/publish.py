"""PutEvents for a batch of stream records, telling which records' events did not get out.

The caller reports the earliest failed record to Lambda (`batchItemFailures`), which then
checkpoints before it and delivers it again with everything after: at least once, never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.platform.aws import events_client

# PutEvents takes at most 10 entries per call (and 256 KB; a job event is a few KB: metadata is
# at most 2 KB).
MAX_ENTRIES = 10


def put_events(entries: Sequence[dict[str, Any]]) -> list[int]:
    """Publish `entries` in order; the indexes of those EventBridge did not accept (after one
    retry of just those), ascending."""
    failed: list[int] = []
    for start in range(0, len(entries), MAX_ENTRIES):
        indexes = list(range(start, min(start + MAX_ENTRIES, len(entries))))
        for _attempt in range(2):
            indexes = _put(entries, indexes)
            if not indexes:
                break
        failed.extend(indexes)
    return failed


def _put(entries: Sequence[dict[str, Any]], indexes: list[int]) -> list[int]:
    answer = events_client().put_events(Entries=[entries[i] for i in indexes])
    if not answer.get("FailedEntryCount"):
        return []
    # Results come back in the order sent; a failed one carries an ErrorCode.
    return [i for i, result in zip(indexes, answer["Entries"], strict=True) if result.get("ErrorCode")]
