"""A load of watched jobs for one client, written straight into the local stack's jobs table.

Used by the fair-sweep test and `make bench`: thousands of `rendering` jobs, as a client with
long renders (or a receiver that keeps failing) holds them, all on one long render at the
simulator, each due for the sweep at `due_at` and already at the sweep's longest back-off.
Writing them through the API would cost thousands of creates for nothing the sweep looks at.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from boto3.dynamodb.types import TypeSerializer

from local.resources import client
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import iso
from pipeline.store.job_items import to_item

VOICE = {"style": {"prompt": "a long render", "voice_name": "Elon Musk"}}
_BATCH = 25  # DynamoDB's BatchWriteItem maximum


def long_render(magic_hour_url: str, api_key: str, seconds: float = 86400) -> str:
    """One project at the simulator that stays `rendering` for `seconds`; its id."""
    scenario = f"{magic_hour_url}/_sim/scenario"
    before = requests.get(scenario, timeout=5).json()
    requests.patch(scenario, json={"render_seconds": seconds}, timeout=5).raise_for_status()
    try:
        answer = requests.post(
            f"{magic_hour_url}/v1/ai-voice-generator",
            json={"name": "watched load", **VOICE},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["id"])
    finally:
        requests.patch(scenario, json={"render_seconds": before["render_seconds"]}, timeout=5)


def seed(
    aws_url: str, region: str, table: str, client_id: str, project_id: str, count: int, due_at: int
) -> list[str]:
    """`count` rendering jobs of `client_id` on `project_id`, due at `due_at`; their ids."""
    serializer = TypeSerializer()
    created = iso(datetime.fromtimestamp(due_at, UTC))
    jobs = []
    for n in range(count):
        job_id = ids.job_id_for_idempotency_key(client_id, f"watched-{due_at}-{n}")
        job = Job(
            job_id=job_id,
            client_id=client_id,
            tool="ai-voice-generator",
            kind="audio",
            status=JobStatus.RENDERING,
            project_id=project_id,
            created_at=created,
            updated_at=created,
            magic_hour_name=ids.project_name_for(job_id, "watched"),
            sweep_checks=20,
        )
        item = to_item(job, due_at)
        jobs.append({"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in item.items()}}})
    dynamodb = client("dynamodb", aws_url, region)

    def write(batch: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, [jobs[i : i + _BATCH] for i in range(0, len(jobs), _BATCH)]))
    return [j["PutRequest"]["Item"]["job_id"]["S"] for j in jobs]
