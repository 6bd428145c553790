"""What an HTTP status from Magic Hour means, in one table: the one place that decides whether a
create may have made a project.

Magic Hour documents only 429 (rate limited), 500 and 503 (before a project id) as "nothing was
created". Every other answer that is neither a 2xx nor a 4xx (501, 502, 504, 505, 520-599 from a
CDN after the origin received the request, any 1xx or 3xx) may come from something in front of
Magic Hour that failed after Magic Hour committed the project: its outcome is unknown, and such a
create is never sent again. A 4xx is Magic Hour looking at the request and refusing it.

Transport failures are decided by the client (pipeline.magic_hour.client): only a connection
that was never made (refused, connect timeout, no such host) means nothing was sent; a cut or
silent connection and a read timeout are unknown, like the statuses here.
"""

from __future__ import annotations

from enum import StrEnum


class Answer(StrEnum):
    # 2xx: Magic Hour did what was asked (for a create: the project exists, if the body names it).
    OK = "ok"
    # 429: nothing created; back off (at least Retry-After) and send again.
    RATE_LIMITED = "rate_limited"
    # 500, 503: nothing created; send again later.
    NOTHING_CREATED = "nothing_created"
    # Anything not a 2xx or 4xx but 429's siblings above: the project may exist; never again.
    UNKNOWN = "unknown"
    # 400, 422 and any 4xx without a row of its own: Magic Hour refused the request as it is.
    REJECTED = "rejected"
    # 402: the account has not enough credits.
    PAYMENT_REQUIRED = "payment_required"
    # 401: our API key is wrong (an operator problem, not the caller's).
    AUTH_FAILED = "auth_failed"
    # 403: the key is good but the plan does not allow this model, resolution or feature.
    PLAN_RESTRICTED = "plan_restricted"
    # 404: no such project (or deleted).
    NOT_FOUND = "not_found"


# The only 5xx answers Magic Hour documents as "nothing was created".
NOTHING_CREATED_STATUSES = frozenset({500, 503})

_CLIENT_ERRORS: dict[int, Answer] = {
    400: Answer.REJECTED,
    401: Answer.AUTH_FAILED,
    402: Answer.PAYMENT_REQUIRED,
    403: Answer.PLAN_RESTRICTED,
    404: Answer.NOT_FOUND,
    422: Answer.REJECTED,
    429: Answer.RATE_LIMITED,
}


def answer_of(status: int) -> Answer:
    """What Magic Hour's answer with HTTP status `status` means."""
    if 200 <= status <= 299:
        return Answer.OK
    if 400 <= status <= 499:
        return _CLIENT_ERRORS.get(status, Answer.REJECTED)
    if status in NOTHING_CREATED_STATUSES:
        return Answer.NOTHING_CREATED
    # 1xx, 3xx (redirects are never followed: a create must not be sent twice), 501, 502, 504,
    # 505..599, and anything outside 100..599.
    return Answer.UNKNOWN
