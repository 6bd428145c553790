"""The fair queue's rounds and the dispatch hold, kept in the clients table's `dispatch` item.

Rounds make the queue fair: a client's next job gets round max(its last round + 1, the round last
dispatched), and the dispatcher takes the lowest (round, submitted at). A burst of 500 jobs from one
client takes rounds r..r+499; another client's single job gets the round being dispatched now, so
it waits for at most one slot release behind the burst. The queue itself is the jobs table's sparse
WaitingJobsIndex, ordered by the `fair_key` made here.

The hold is the pipeline's pause after Magic Hour refused creates for the whole account.
"""

from __future__ import annotations

import contextlib

from botocore.exceptions import ClientError

from pipeline.store import clients, dynamo

PIPELINE = clients.PIPELINE
DISPATCH = "dispatch"


def hold() -> tuple[int, int]:
    """(until when no create may be sent, how many refusals in a row led to it). Magic Hour's
    429/500/503 speak for the whole account, so the pause is the pipeline's, not one job's."""
    item = clients.get_item(PIPELINE, DISPATCH) or {}
    return int(item.get("hold_until", 0)), int(item.get("hold_streak", 0))


def set_hold(until: int, streak: int) -> None:
    clients.table().update_item(
        Key={"client_id": PIPELINE, "item": DISPATCH},
        UpdateExpression="SET hold_until = :until, hold_streak = :streak",
        ExpressionAttributeValues={":until": until, ":streak": streak},
    )


def clear_hold() -> None:
    """A create went through: Magic Hour has room again."""
    with contextlib.suppress(ClientError):
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": DISPATCH},
            UpdateExpression="REMOVE hold_until, hold_streak",
            ConditionExpression="attribute_exists(hold_streak)",
        )


def learned_limit() -> int:
    """With no limit of ours, the limit Magic Hour's 429s showed (0: none seen yet): the cap on
    what one client holds while others wait counts against it (create/fair_share.py)."""
    item = clients.get_item(PIPELINE, DISPATCH) or {}
    return int(item.get("learned_limit", 0))


def learn_limit(in_flight: int) -> None:
    """Magic Hour answered 429 with `in_flight` of our projects rendering: that is its limit now
    (up or down: a plan changes, and projects of the account not ours count too)."""
    clients.table().update_item(
        Key={"client_id": PIPELINE, "item": DISPATCH},
        UpdateExpression="SET learned_limit = :n",
        ExpressionAttributeValues={":n": max(1, in_flight)},
    )


def raise_learned_limit(in_flight: int) -> None:
    """A create went through with `in_flight` rendering: the limit is at least that. Only raised,
    and only once a 429 set one (without it nothing is capped)."""
    with contextlib.suppress(ClientError):
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": DISPATCH},
            UpdateExpression="SET learned_limit = :n",
            ConditionExpression="learned_limit < :n",
            ExpressionAttributeValues={":n": in_flight},
        )


def dispatched_round() -> int:
    item = clients.get_item(PIPELINE, DISPATCH) or {}
    return int(item.get("round", 0))


def note_dispatched(round_: int) -> None:
    """Rounds only move forward; a dispatcher that lost a race changes nothing."""
    with contextlib.suppress(ClientError):
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": DISPATCH},
            UpdateExpression="SET #r = :r",
            ConditionExpression="attribute_not_exists(#r) OR #r < :r",
            ExpressionAttributeNames={"#r": "round"},
            ExpressionAttributeValues={":r": round_},
        )


def next_round_for(client_id: str) -> int:
    """The round of a client's next job: max(its last round + 1, the round dispatched now)."""
    now = dispatched_round()
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": clients.PROFILE},
            UpdateExpression="SET fair_round = :r",
            ConditionExpression="attribute_not_exists(fair_round) OR fair_round < :r",
            ExpressionAttributeValues={":r": now},
        )
        return now
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
    answer = clients.table().update_item(
        Key={"client_id": client_id, "item": clients.PROFILE},
        UpdateExpression="ADD fair_round :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(answer["Attributes"]["fair_round"])


def fair_key(round_: int, created_at: str, job_id: str) -> str:
    return f"{round_:012d}#{created_at}#{job_id}"


def round_of(key: str | None) -> int:
    try:
        return int((key or "").split("#", 1)[0])
    except ValueError:
        return 0


def next_rounds_for(client_id: str, count: int) -> int:
    """The first of `count` consecutive rounds for a client's next jobs: what `count` calls of
    next_round_for would hand out, in at most three calls (a batch's jobs, a chunk at a time)."""
    now = dispatched_round()
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": clients.PROFILE},
            UpdateExpression="SET fair_round = :last",
            ConditionExpression="attribute_not_exists(fair_round) OR fair_round < :r",
            ExpressionAttributeValues={":r": now, ":last": now + count - 1},
        )
        return now
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
    answer = clients.table().update_item(
        Key={"client_id": client_id, "item": clients.PROFILE},
        UpdateExpression="ADD fair_round :n",
        ExpressionAttributeValues={":n": count},
        ReturnValues="UPDATED_NEW",
    )
    return int(answer["Attributes"]["fair_round"]) - count + 1
