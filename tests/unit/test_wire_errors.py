"""The one table from the logic's refusals to HTTP answers (pipeline/http.py): total, and the
statuses and codes of the contract's error table, unchanged."""

from __future__ import annotations

import inspect
import json

import pytest

from pipeline import http
from pipeline.jobs import errors
from pipeline.submit import submission

# The bases are never raised themselves: each has subclasses for what happened.
_BASES = {errors.RequestRefused, errors.CreateRefused}

# What each refusal answers on the wire: the API reference (docs/api.md, "Errors") fixes these.
EXPECTED: dict[type[Exception], tuple[int, str]] = {
    errors.MalformedBody: (400, "invalid_json"),
    errors.UnknownTool: (400, "unknown_tool"),
    errors.InvalidCursor: (400, "invalid_cursor"),
    errors.UnknownEvent: (400, "unknown_event"),
    errors.InvalidEvent: (400, "invalid_event"),
    errors.Unauthenticated: (401, "unauthorized"),
    errors.Forbidden: (403, "forbidden"),
    errors.SignatureRejected: (401, "invalid_signature"),
    errors.InsufficientCredits: (402, "insufficient_credits"),
    errors.BudgetExceeded: (402, "budget_exceeded"),
    errors.PlanRestricted: (403, "plan_restricted"),
    errors.UploadQuotaExceeded: (429, "upload_quota_exceeded"),
    errors.JobNotFound: (404, "not_found"),
    errors.RouteNotFound: (404, "not_found"),
    errors.BatchNotFound: (404, "not_found"),
    errors.IdempotencyConflict: (409, "idempotency_conflict"),
    errors.RequestInProgress: (409, "idempotency_in_progress"),
    errors.NotCancelable: (409, "not_cancelable"),
    errors.BodyTooLarge: (413, "payload_too_large"),
    errors.ValidationFailed: (422, "validation_failed"),
    errors.UpstreamRejected: (422, "upstream_rejected"),
    errors.UpstreamMisconfigured: (502, "upstream_misconfigured"),
    errors.DependencyUnavailable: (503, "service_unavailable"),
    errors.DeliveryInProgress: (503, "retry_later"),
}


def refusals() -> list[type[errors.RequestRefused]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.RequestRefused) and kind not in _BASES
    ]


def test_every_refusal_of_the_logic_has_its_own_row() -> None:
    assert len(refusals()) >= 15  # guards the scan itself
    missing = [kind.__name__ for kind in refusals() if kind not in http.WIRE_ERRORS]
    assert missing == [], f"add these to pipeline.http.WIRE_ERRORS: {missing}"


def test_the_table_answers_the_contracts_statuses_and_codes() -> None:
    assert {kind: (wire.status, wire.code) for kind, wire in http.WIRE_ERRORS.items()} == EXPECTED


def test_a_refusal_without_a_row_is_answered_as_our_own_failure() -> None:
    class Unmapped(errors.RequestRefused):
        pass

    response = http.error_response(Unmapped("a secret-free message that must not be shown"))
    assert response.status_code == 503
    assert json.loads(str(response.body))["error"]["code"] == "service_unavailable"
    assert "secret-free" not in str(response.body)


@pytest.mark.parametrize("code", sorted(submission._KEPT_FAILURES))
def test_a_kept_refusal_answers_the_code_its_job_records(code: str) -> None:
    wire = http.wire_error_of(submission._KEPT_FAILURES[code]("job_x", "no"))
    assert wire is not None
    assert wire.code == code


def _answer(error: Exception) -> tuple[int, dict[str, object], dict[str, str]]:
    response = http.error_response(error)
    return response.status_code, json.loads(str(response.body)), dict(response.headers)


def test_the_body_carries_code_message_and_details() -> None:
    status, body, headers = _answer(
        errors.ValidationFailed([{"loc": ["body", "tool"], "msg": "required"}], "bad")
    )
    assert status == 422
    assert body == {
        "error": {
            "code": "validation_failed",
            "message": "bad",
            "details": [{"loc": ["body", "tool"], "msg": "required"}],
        }
    }
    assert "Retry-After" not in headers


def test_a_refusal_without_details_has_none_in_its_body() -> None:
    _, body, _ = _answer(errors.JobNotFound())
    assert body == {"error": {"code": "not_found", "message": "no such job"}}


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (errors.DependencyUnavailable("key unreadable"), str(http.DEPENDENCY_RETRY_AFTER_SECONDS)),
        (errors.DeliveryInProgress("busy"), str(http.WEBHOOK_RETRY_LATER_SECONDS)),
        (errors.RequestInProgress("job_x"), str(http.IN_PROGRESS_RETRY_AFTER_SECONDS)),
        (errors.BudgetExceeded("c", "2026-01-01", 10, 10, retry_after_seconds=3600), "3600"),
        (errors.UploadQuotaExceeded(1000, "2026-01-01", retry_after_seconds=1800), "1800"),
    ],
)
def test_retry_after_comes_from_the_table_or_the_error(error: Exception, retry_after: str) -> None:
    assert _answer(error)[2]["Retry-After"] == retry_after


def test_an_unexpected_failure_asks_for_a_prompt_retry() -> None:
    response = http.unexpected_response()
    assert (response.status_code, response.headers["Retry-After"]) == (
        503,
        str(http.UNEXPECTED_RETRY_AFTER_SECONDS),
    )


def test_budget_exceeded_tells_the_caller_more_than_the_job_it_fails() -> None:
    exceeded = errors.BudgetExceeded("c", "2026-01-01", 10, 12, retry_after_seconds=60)
    assert "no job was created" in exceeded.message
    assert "no job was created" not in str(exceeded)
