"""A batch item as clients see it: the batch resource GET /v1/batches/{batch_id} answers, and the
one `Batch Ended` carries (CONTRACT §1 "Batches", "Events"). Here, below the stages, so the API,
the batch's callback and the events publisher render it the same way."""

from __future__ import annotations

import json
from typing import Any

from pipeline.models.api import BatchCountsResource, BatchResource, CallbackResource
from pipeline.platform.settings import get_settings
from pipeline.store import batch_counts, results


def to_resource(item: dict[str, Any]) -> BatchResource:
    """The resource without its results URL (an event carries none)."""
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
        # Owed from the start, as a job's: `pending` with no attempt until the batch ends.
        callback=CallbackResource(
            state=str(item.get("callback_state") or "pending"),
            attempts=int(item.get("callback_attempts", 0)),
            last_error=item.get("callback_last_error"),
        )
        if item.get("callback_url")
        else None,
    )


def with_results_url(item: dict[str, Any]) -> BatchResource:
    """The resource as the API and the batch's callback show it: once its results file is written,
    `results_url` is a short-lived presigned GET of it (null before)."""
    resource = to_resource(item)
    key = item.get("results_key")
    if key:
        resource.results_url = results.presigned_get(str(key), get_settings().presigned_url_ttl_seconds)
    return resource
