"""One redactor for text that leaves the function: log lines, trace annotations, and what clients
read in a job's `error.message` or `callback.last_error`.

Signed URLs carry their credential in the query string (Magic Hour's download URLs, S3 presigned
URLs), so every query string goes; userinfo in URLs, Standard Webhooks secrets, bearer tokens and
AWS access key ids go too. Text meant for clients also loses ARNs and account ids, which raw
botocore errors carry.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

REDACTED = "<redacted>"
# Characters that end a URL inside prose, JSON (quotes, escapes) or a repr.
_STOP = r"\s\"'<>\\`"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A query string, whether in a full URL or in a bare path ("with url: /x?sig=...").
    (re.compile(rf"\?[^{_STOP}?#]*=[^{_STOP}]*"), f"?{REDACTED}"),
    # user:password@ in a URL.
    (re.compile(rf"(://)[^{_STOP}/@]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), f"whsec_{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (
        re.compile(r"(?i)\b(token|api[_-]?key|secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
)
_CLIENT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\barn:aws[a-z-]*:[^{_STOP}]*"), "arn:<redacted>"),
    (re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])"), REDACTED),
)


def redact(text: str) -> str:
    """The text without credentials: safe for logs and traces."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def for_client(text: str) -> str:
    """The text as a client may read it: redacted, and without ARNs or account ids."""
    text = redact(text)
    for pattern, replacement in _CLIENT_RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log formatter with every serialized line (message, extra keys, exception
    and traceback text) passed through `redact`, so no code path can log a signed URL."""

    def serialize(self, log: Any) -> str:
        return redact(super().serialize(log))
