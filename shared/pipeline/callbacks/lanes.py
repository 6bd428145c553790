"""Callbacks per client: one client's failing receivers never delay another client's callbacks.

Two parts (docs/design.md, "Callbacks"). The callback queue is an SQS fair queue (each message's
`MessageGroupId` is its client, store/callback_queue.py), so SQS hands out other clients' messages
ahead of a client whose messages pile up in flight. And each client has a lane of
`callback_client_concurrency` places (store/callback_lanes.py): an attempt holds a place from
before its name lookup to its end, so at most that many of one client's attempts (each at most
5 s) ever hold the function's concurrency, and the rest of it stays free for everyone else. A
message that finds its client's lane full is sent again to come back shortly: the wait is not an
attempt, and the retry schedule counts on from where it was.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.models.tasks import CallbackTask
from pipeline.platform.observability import CALLBACKS, emit, logger
from pipeline.platform.settings import get_settings
from pipeline.store import callback_lanes, callback_queue

# How long a place is held: longer than the callback function's 60 s timeout (template.yaml), so a
# live attempt never loses its place, and an attempt that crashed frees it within this long.
HOLD_SECONDS = 70


class LaneFull(Exception):
    """The client has its most attempts in flight: this message waits, it is not an attempt."""

    def __init__(self, client_id: str) -> None:
        super().__init__(f"callback lane of {client_id} is full")
        self.client_id = client_id


@contextmanager
def place_in_lane(client_id: str) -> Iterator[None]:
    """Hold one of the client's places for the attempt inside, or raise LaneFull."""
    holder = uuid.uuid4().hex
    place = callback_lanes.take(client_id, holder, get_settings().callback_client_concurrency, HOLD_SECONDS)
    if place is None:
        raise LaneFull(client_id)
    try:
        yield
    finally:
        callback_lanes.give_back(client_id, place, holder)


def wait_in_lane(task: CallbackTask, client_id: str, attempt: int) -> None:
    """Send the message again to come back after about the lane's wait; `attempt` is this
    delivery's number, which made no attempt. Raises if the queue refuses it: the message then
    fails and SQS brings it back itself."""
    wait = get_settings().callback_lane_wait_seconds
    # Spread over half to one and a half waits, so a full lane's messages do not all come back at once.
    delay = max(1, round(wait * (0.5 + random.random())))  # noqa: S311  # nosec B311 - jitter, not a secret
    again = task.model_copy(update={"client_id": client_id, "prior_attempts": attempt - 1})
    callback_queue.send_callback_task(again, delay_seconds=delay)
    emit(CALLBACKS, outcome="lane_full")
    logger.info("callback lane full; the callback waits", extra={"job_id": task.job_id, "delay": delay})
