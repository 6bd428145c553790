"""The outcome table (pipeline.magic_hour.outcomes) walked over every HTTP status from 100 to 599,
through the table itself and through the client that raises by it: only 429, 500 and 503 say
"nothing was created"; any other answer that is neither a 2xx nor a 4xx may have made a project.
The expectations are written out here, apart from the table, so a changed row fails."""

from __future__ import annotations

import pytest

from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourNotFound,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourPlanRestricted,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.magic_hour.outcomes import Answer, answer_of
from tests.magic_hour_answers import create, response

ALL_STATUSES = range(100, 600)
NOTHING_CREATED = {500, 503}


def expected(status: int) -> Answer:
    if 200 <= status < 300:
        return Answer.OK
    if status == 429:
        return Answer.RATE_LIMITED
    if status in NOTHING_CREATED:
        return Answer.NOTHING_CREATED
    special = {
        401: Answer.AUTH_FAILED,
        402: Answer.PAYMENT_REQUIRED,
        403: Answer.PLAN_RESTRICTED,
        404: Answer.NOT_FOUND,
    }
    if 400 <= status < 500:
        return special.get(status, Answer.REJECTED)
    return Answer.UNKNOWN


def test_every_status_from_100_to_599_has_the_expected_meaning() -> None:
    wrong = {status: answer_of(status) for status in ALL_STATUSES if answer_of(status) != expected(status)}
    assert wrong == {}


def test_only_429_500_and_503_are_answers_that_created_nothing() -> None:
    retryable = {
        status
        for status in ALL_STATUSES
        if answer_of(status) in (Answer.RATE_LIMITED, Answer.NOTHING_CREATED)
    }
    assert retryable == {429, 500, 503}


@pytest.mark.parametrize(
    "status", [100, 101, 300, 301, 302, 304, 307, 308, 501, 502, 504, 505, 520, 521, 522, 524, 599]
)
def test_a_redirect_an_informational_or_an_unlisted_5xx_is_unknown(status: int) -> None:
    assert answer_of(status) is Answer.UNKNOWN


@pytest.mark.parametrize("status", [0, 99, 600, 999, -1])
def test_a_status_outside_http_is_unknown(status: int) -> None:
    assert answer_of(status) is Answer.UNKNOWN


_RAISED: dict[Answer, type[MagicHourError]] = {
    Answer.RATE_LIMITED: MagicHourRateLimited,
    Answer.NOTHING_CREATED: MagicHourUnavailable,
    Answer.UNKNOWN: MagicHourOutcomeUnknown,
    Answer.REJECTED: MagicHourRejected,
    Answer.PAYMENT_REQUIRED: MagicHourPaymentRequired,
    Answer.AUTH_FAILED: MagicHourAuthFailed,
    Answer.PLAN_RESTRICTED: MagicHourPlanRestricted,
    Answer.NOT_FOUND: MagicHourNotFound,
}


def test_the_client_raises_by_the_table_for_every_status() -> None:
    wrong: dict[int, str] = {}
    for status in ALL_STATUSES:
        meaning = expected(status)
        try:
            created = create(response(status, {"id": "proj_1", "credits_charged": 5, "message": "m"}))
        except MagicHourError as raised:
            if status == 204 and type(raised) is MagicHourOutcomeUnknown:
                continue  # a create answered without a body names no project: unknown, never again
            if meaning is Answer.OK or type(raised) is not _RAISED[meaning] or raised.status_code != status:
                wrong[status] = f"{type(raised).__name__}({raised.status_code})"
        else:
            if meaning is not Answer.OK or created.project_id != "proj_1":
                wrong[status] = f"created {created.project_id}"
    assert wrong == {}


def test_an_unavailable_answer_is_never_an_unknown_one() -> None:
    # MagicHourUnavailable means "send again": the class the unknown answers raise must not be it.
    assert not issubclass(MagicHourOutcomeUnknown, MagicHourUnavailable)
    assert not issubclass(MagicHourUnavailable, MagicHourOutcomeUnknown)


@pytest.mark.parametrize("status", [502, 504, 520])
def test_an_unknown_answer_to_the_upload_url_call_created_nothing(status: int) -> None:
    # The upload URL call costs nothing and creates no project: the create it serves was not
    # sent, so the job may wait and be tried again instead of sitting `submitting`.
    from tests.magic_hour_answers import client_with

    client, _ = client_with(response(status, {"message": "gateway"}))
    with pytest.raises(MagicHourUnavailable):
        client.upload_url("video", "mp4")
