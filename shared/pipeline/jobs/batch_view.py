"""A batch item as clients see it: the batch resource GET /v1/batches/{batch_id} answers, and the
one `Batch Ended` carries (CONTRACT §1 "Batches", "Events"). Here, below the stages, so the API
and the events publisher render it the same way."""

from __future__ import annotations

import json
from typing import Any

from pipeline.models.api import BatchCountsResource, BatchResource
from pipeline.store import batch_counts


def to_resource(item: dict[str, Any]) -> BatchResource:
    counts = batch_counts.counts_of(item)
    return BatchResource(
        batch_id=str(item["batch_id"]),
        status=str(item["status"]),
        counts=BatchCountsResource(total=int(item["total"]), **counts),
        credits_charged=batch_counts.credits_of(item),
        metadata=json.loads(str(item.get("metadata_json") or "{}")),
        created_at=str(item["created_at"]),
        updated_at=str(item["updated_at"]),
        ended_at=item.get("ended_at"),
        results_url=None,
        errors=None,
        callback=None,
    )
