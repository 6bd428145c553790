"""A job too large to store is refused before anything is written (`413 payload_too_large`), and
text is stored as UTF-8, so every body the API accepts (256 KB) fits DynamoDB's 400 KB item with
room for what the job's life adds."""

from __future__ import annotations

from typing import Any

import pytest
from test_idempotent_submission import VOICE, Clock, Creates, creates, fakes, make_submission, once, settings

from pipeline.jobs import errors
from pipeline.magic_hour.catalogue import find_tool
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobStatus
from pipeline.store import job_items
from pipeline.submit.submission import Submission
from tests.fakes import Fakes

__all__ = ["creates", "fakes", "settings"]  # fixtures, used by name

EMOJI = "\U0001f600"


def job_with_prompt(prompt: str, **changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": "job_size",
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": JobStatus.SUBMITTING,
        "created_at": "2026-12-01T10:00:00.000Z",
        "updated_at": "2026-12-01T10:00:00.000Z",
        "input": {"style": {"prompt": prompt, "voice_name": "Elon Musk"}},
    }
    return Job(**{**fields, **changes})


def stored_bytes(job: Job) -> int:
    item = job_items.to_item(job)
    return sum(len(name.encode()) + job_items.item_size_bytes(value) for name, value in item.items())


def test_a_body_of_emoji_is_stored_as_utf8_not_as_escapes() -> None:
    # 60,000 emoji: 240 KB of UTF-8 (a body the API accepts); escaped they were 720 KB.
    job = job_with_prompt(EMOJI * 60_000)
    assert 240_000 < stored_bytes(job) < 250_000
    job_items.check_storable(job)  # fits, with room to grow
    assert job_items.from_item(job_items.to_item(job)).input == job.input


def test_a_job_over_the_new_job_limit_is_too_large() -> None:
    with pytest.raises(job_items.JobTooLarge):
        job_items.check_storable(job_with_prompt("x" * job_items.NEW_JOB_LIMIT_BYTES))


def test_the_limit_keeps_room_for_what_a_job_gains_later() -> None:
    assert job_items.ITEM_LIMIT_BYTES == 400 * 1024
    assert job_items.NEW_JOB_LIMIT_BYTES <= job_items.ITEM_LIMIT_BYTES - 32 * 1024


@pytest.mark.parametrize(
    ("value", "size"),
    [("abc", 3), (EMOJI, 4), (True, 1), (None, 1), ({"a": "bc"}, 3 + 1 + 1 + 2), (["ab", "c"], 3 + 3 + 2)],
)
def test_item_sizes_are_counted_as_dynamodb_counts_them(value: Any, size: int) -> None:
    assert job_items.item_size_bytes(value) == size


def test_a_submission_too_large_to_store_is_refused_and_nothing_is_written(
    fakes: Fakes, creates: Creates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_items, "NEW_JOB_LIMIT_BYTES", 2_000)
    tool = find_tool("ai-voice-generator")
    assert tool is not None
    body = {**VOICE, "input": {"style": {"prompt": "y" * 3_000, "voice_name": "Elon Musk"}}}
    big = Submission("client-a", CreateJobRequest.model_validate(body), tool, "fp-big", None)
    with pytest.raises(errors.BodyTooLarge, match=r"bytes to store"):
        once(Clock(), big)
    assert fakes.store.writes == []
    assert creates.jobs == []  # nothing sent to Magic Hour


def test_an_ordinary_submission_is_stored(fakes: Fakes, creates: Creates) -> None:
    once(Clock(), make_submission())
    assert fakes.store.writes[0] == ("put_new_job", "submitting")
