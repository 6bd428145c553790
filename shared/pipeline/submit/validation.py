"""Everything a create request (or one job of a batch) must pass before any state is written:
the body's size, key and JSON, the job envelope, the tool's input schema, the callback URL, and
last the s3:// inputs (it asks S3). Each refusal is a precise 4xx (jobs/errors.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from pipeline.create import inputs
from pipeline.jobs import errors
from pipeline.magic_hour.catalogue import Tool, check_input, find_tool
from pipeline.models.api import CreateJobRequest
from pipeline.platform import strict_json
from pipeline.platform.settings import CALLBACK_WEB_PORTS, get_settings

MAX_BODY_BYTES = 256 * 1024
IDEMPOTENCY_KEY_MAX = 255
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


@dataclass(frozen=True)
class Submission:
    client_id: str
    request: CreateJobRequest
    tool: Tool
    fingerprint: str
    idempotency_key: str | None


def parse_submission(
    client_id: str, raw_body: bytes, idempotency_key: str | None, require_https_callbacks: bool
) -> Submission:
    """Everything a create request must pass before any state is written."""
    document = parse_body(raw_body, idempotency_key)
    return submission_of(client_id, document, idempotency_key, require_https_callbacks)


def parse_body(raw_body: bytes, idempotency_key: str | None) -> dict[str, Any]:
    """The request body as a JSON object, checked as every create route checks it (size, key,
    strict JSON, Unicode text), before anything of its meaning is looked at."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise errors.BodyTooLarge(f"request body is over {MAX_BODY_BYTES // 1024} KB")
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    try:
        document = strict_json.loads(raw_body)
    except strict_json.NotJson as exc:
        raise errors.MalformedBody("request body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise errors.MalformedBody("request body must be a JSON object")
    _refuse_lone_surrogates(document)
    return document


def submission_of(
    client_id: str, document: dict[str, Any], idempotency_key: str | None, require_https_callbacks: bool
) -> Submission:
    """One job envelope (a create's body, or one job of a batch), validated; `loc`s start at
    `"body"` as for a create."""
    if isinstance(document.get("tool"), str) and find_tool(document["tool"]) is None:
        raise errors.UnknownTool(
            f"'{document['tool'][:100]}' is not a Magic Hour tool this deployment accepts; "
            "GET /v1/tools lists them",
        )
    try:
        request = CreateJobRequest.model_validate(document)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()],
            "request body breaks the job schema",
        ) from exc
    tool = find_tool(request.tool)
    assert tool is not None  # narrows the type; checked above, before the envelope  # nosec B101
    problem = check_input(tool, request.input)
    if problem is not None:
        raise errors.ValidationFailed(
            [{"loc": list(problem.loc), "msg": problem.msg}], f"input breaks the schema of '{tool.name}'"
        )
    if request.callback_url is not None:
        check_callback_url(request.callback_url, require_https_callbacks)
    # Last: it asks S3 about each s3:// input, so everything cheaper is refused first.
    s3_problems = inputs.check_s3_inputs(client_id, request.input)
    if s3_problems:
        raise errors.ValidationFailed(
            [{"loc": list(p.loc), "msg": p.msg} for p in s3_problems], "an s3:// input cannot be used"
        )
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return Submission(
        client_id=client_id,
        request=request,
        tool=tool,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        idempotency_key=idempotency_key,
    )


def _refuse_lone_surrogates(document: dict[str, Any]) -> None:
    """Anywhere in the body (input included): such a string can be neither stored nor answered,
    and refusing it before the tool is even looked at keeps it out of every message we write."""
    found = strict_json.lone_surrogate(document)
    if found is None:
        return
    loc, where = found
    what = "a key holds" if where == "key" else "holds"
    raise errors.ValidationFailed(
        [{"loc": ["body", *loc], "msg": f"{what} a lone surrogate escape (not Unicode text)"}],
        "request body holds text that is not valid Unicode",
    )


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not set(key) <= _PRINTABLE:
        raise errors.ValidationFailed(
            [{"loc": ["header", "Idempotency-Key"], "msg": "must be 1..255 printable ASCII characters"}],
            "Idempotency-Key header is invalid",
        )


def check_callback_url(url: str, require_https: bool) -> None:
    if not _is_callback_url(url, ("https",) if require_https else ("https", "http")):
        need = "an https URL" if require_https else "an http(s) URL"
        raise errors.ValidationFailed(
            [
                {
                    "loc": ["body", "callback_url"],
                    "msg": f"must be {need} with a valid host, a port in 1..65535 and no credentials",
                }
            ],
            "callback_url is invalid",
        )
    # The rule delivery applies (callbacks/destination.py), told now rather than as a failed
    # callback when the job ends. Locally (private addresses allowed) receivers use any port.
    if not get_settings().callback_allow_private_addresses and _port_of(url) not in CALLBACK_WEB_PORTS:
        ports = ", ".join(str(port) for port in CALLBACK_WEB_PORTS)
        raise errors.ValidationFailed(
            [{"loc": ["body", "callback_url"], "msg": f"port must be one of {ports}"}],
            "callback_url is invalid",
        )


def _port_of(url: str) -> int:
    parts = urlsplit(url)  # already parsed once by _is_callback_url: cannot raise here
    return parts.port or (443 if parts.scheme == "https" else 80)


# One DNS label (RFC 1123, plus the underscore some internal names carry; IDNs in punycode form).
_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


def _is_callback_url(url: str, schemes: tuple[str, ...]) -> bool:
    """A URL the callback sender can certainly POST to later: everything a later parse could
    trip over (bad brackets, a port out of range, whitespace, a host that is no host name) is
    found now, while the caller can still be told."""
    if not url.isascii() or any(char.isspace() or not char.isprintable() for char in url):
        return False
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # both parse lazily and raise ValueError
    except ValueError:
        return False
    if parts.scheme not in schemes or not host or parts.username is not None or parts.password is not None:
        return False
    if port is not None and not 1 <= port <= 65535:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_DNS_LABEL.match(label) for label in labels)
