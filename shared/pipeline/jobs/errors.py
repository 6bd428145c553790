"""What can go wrong with a request, said the way the logic knows it.

Logic raises these, named for what happened and carrying its data; it knows no HTTP. How each one
is answered on the wire (status, error code, Retry-After) is decided in one table at the handler
edge, `pipeline.http.WIRE_ERRORS`, which a unit test keeps total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Detail = dict[str, Any]


class RequestRefused(Exception):
    """A request the system will not carry out. `message` is shown to the caller as it is, so it
    never holds a secret, a signed URL or another client's data."""

    def __init__(self, message: str, details: Sequence[Detail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[Detail] | None = list(details) if details else None


class DeliveryInProgress(Exception):
    """A webhook delivery arrived while another delivery of the same job is mid-way through its
    change (queueing its downloads): the sender must retry. Not a refusal: nothing is wrong with
    the delivery itself."""


# -- the request itself is wrong -------------------------------------------------------------------


class BodyTooLarge(RequestRefused):
    """The body is over the limit of its route."""


class MalformedBody(RequestRefused):
    """The body is not JSON, not a JSON object, or not decodable at all."""


class ValidationFailed(RequestRefused):
    """A field breaks its schema; `details` point at each field."""

    def __init__(self, details: Sequence[Detail], message: str = "request is invalid") -> None:
        super().__init__(message, details)


class UnknownTool(RequestRefused):
    """The job names a tool this deployment does not accept."""


class InvalidCursor(RequestRefused):
    """A list cursor this API did not issue to this client."""


class Unauthenticated(RequestRefused):
    def __init__(self, message: str = "missing or unknown API key") -> None:
        super().__init__(message)


class Forbidden(RequestRefused):
    """A SigV4 signer no client is mapped to, or an API key and a signature naming two clients."""


class JobNotFound(RequestRefused):
    """No such job for this client (another client's job is not found either)."""

    def __init__(self, message: str = "no such job") -> None:
        super().__init__(message)


class BatchNotFound(RequestRefused):
    """No such batch for this client (another client's batch is not found either)."""

    def __init__(self, message: str = "no such batch") -> None:
        super().__init__(message)


class NotCancelable(RequestRefused):
    """The job (or no job of the batch) can no longer be cancelled: it was sent to Magic Hour,
    which has no cancellation API, or it has ended some other way."""


class RouteNotFound(RequestRefused):
    def __init__(self, message: str = "no such route") -> None:
        super().__init__(message)


# -- Idempotency-Key -------------------------------------------------------------------------------


class IdempotencyConflict(RequestRefused):
    """The key already names a job made from a different body."""

    def __init__(self, message: str = "this Idempotency-Key was used with a different request body") -> None:
        super().__init__(message)


class RequestInProgress(RequestRefused):
    """The first request with this key is still creating its job; the same request, retried
    shortly, answers that job."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            [{"loc": ["job_id"], "msg": job_id}],
        )
        self.job_id = job_id


# -- spending ----------------------------------------------------------------------------------------


class BudgetExceeded(RequestRefused):
    """The job's estimated cost does not fit in what is left of the client's daily budget."""

    def __init__(
        self, client_id: str, day: str, budget: int, spent: int, retry_after_seconds: int, estimate: int = 0
    ) -> None:
        self.summary = (
            f"daily credit budget of {budget} cannot take a job estimated at {estimate} credits: "
            f"{spent} credits charged or reserved on {day} (UTC)"
        )
        super().__init__(f"{self.summary}; no job was created. Spending starts again at 00:00 UTC")
        self.client_id = client_id
        self.day = day
        self.budget = budget
        self.spent = spent
        self.estimate = estimate
        # Until the next UTC midnight, when the day's spending starts again from 0.
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        # What a waiting job that ran into the budget records as its error (create/claims.py): no
        # word of a request that was refused, as there was none.
        return self.summary


class UploadQuotaExceeded(RequestRefused):
    """The client has minted its daily number of upload URLs (DailyUploadQuota); no URL was made."""

    def __init__(self, quota: int, day: str, retry_after_seconds: int) -> None:
        super().__init__(
            f"the daily quota of {quota} uploads is used up for {day} (UTC); no upload was made. "
            "Uploads start again at 00:00 UTC"
        )
        # Until the next UTC midnight, when the day's count starts again from 0.
        self.retry_after_seconds = retry_after_seconds


# -- Magic Hour's answer to the create -------------------------------------------------------------


class CreateRefused(RequestRefused):
    """Magic Hour looked at the job and refused it; the job is kept `failed` with this error."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message, [{"loc": ["job_id"], "msg": job_id}])
        self.job_id = job_id


class UpstreamRejected(CreateRefused):
    """Magic Hour refused the input (400/422)."""


class InsufficientCredits(CreateRefused):
    """Magic Hour answered 402: the account has not enough credits."""


class PlanRestricted(CreateRefused):
    """Magic Hour answered 403: the model, resolution or feature is not on the account's plan."""


class UpstreamMisconfigured(RequestRefused):
    """Magic Hour rejected this deployment's API key: nothing was created, no job is kept."""


class DependencyUnavailable(RequestRefused):
    """One of our own dependencies failed before anything was created: the same request, retried
    shortly, may succeed."""


# -- Magic Hour's webhook deliveries -----------------------------------------------------------------


class SignatureRejected(RequestRefused):
    """A webhook whose signature is missing, wrong or outside the tolerance."""


class UnknownEvent(RequestRefused):
    """A signed webhook of an event type we do not know."""


class InvalidEvent(RequestRefused):
    """A signed webhook that breaks its event's schema."""
