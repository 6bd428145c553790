"""What can go wrong when talking to Magic Hour, sorted by what the caller should do about it."""

from __future__ import annotations


class MagicHourError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class MagicHourRejected(MagicHourError):
    """400/422: the input is wrong; retrying the same request cannot help."""


class MagicHourPaymentRequired(MagicHourError):
    """402: the account has not enough credits."""


class MagicHourPlanRestricted(MagicHourError):
    """403: the key is valid, but the model, resolution or feature asked for is not on the plan.

    One job's choice, not the deployment's: Magic Hour's quick-start documents 403 so since
    July 2026 (before, we read it as a bad key)."""


class MagicHourAuthFailed(MagicHourError):
    """401: our API key is wrong: an operator problem, not the caller's."""


class MagicHourNotFound(MagicHourError):
    """404: no such project (or deleted)."""


class MagicHourRateLimited(MagicHourError):
    """429: nothing was created; back off."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, 429)
        self.retry_after_seconds = retry_after_seconds


class MagicHourUnavailable(MagicHourError):
    """500/503 or no connection: the request was not processed, so nothing was created."""


class MagicHourKeyUnavailable(MagicHourUnavailable):
    """Our own secret store could not give us the API key: nothing was sent."""


class MagicHourOutcomeUnknown(MagicHourError):
    """The request was sent but no usable answer came back (read timeout, connection dropped, or
    a 502/504 from a proxy in front of Magic Hour, which can fail after Magic Hour committed):
    Magic Hour may or may not have created the project, so it is never sent again."""
