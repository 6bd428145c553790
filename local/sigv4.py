"""SigV4 callers of the local gateway, checked as API Gateway's AWS_IAM authorization checks them.

`LOCAL_IAM_CALLERS` names the credentials the local gateway accepts (docs/local-stack.md). A signed
request's signature is recomputed with botocore's own signer over the request as received (its
method, path, query, the headers it says it signed, its body) and compared; nothing of SigV4 is
written here but reading the Authorization header. The signer covers the body's hash, so a body
changed after signing fails. The date must be within 5 minutes of our clock, either way.

Each access key is a local IAM user, `arn:aws:iam::<account>:user/<name>`, handed to the function
in `requestContext.identity` as API Gateway would; the function maps that user to its client (the
local stack creates the mapping with the ops tool's code, as an operator would).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
# API Gateway's window: a signature dated more than this from our clock is refused.
CLOCK_WINDOW_SECONDS = 300
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_USER_NAME = re.compile(r"[\w+=,.@-]{1,50}")


@dataclass(frozen=True)
class IamCaller:
    access_key_id: str
    secret_access_key: str
    client_id: str
    account_id: str

    @property
    def user_name(self) -> str:
        # A readable name when the key id can be one; otherwise a stable one derived from it.
        if _USER_NAME.fullmatch(self.access_key_id):
            return f"caller-{self.access_key_id}"
        return "caller-" + hashlib.sha256(self.access_key_id.encode()).hexdigest()[:16]

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.user_name}"

    @property
    def user_id(self) -> str:
        """The user's unique id, as IAM gives one (AIDA...): `identity.caller` and `identity.user`."""
        return "AIDA" + hashlib.sha256(self.user_arn.encode()).hexdigest()[:17].upper()


class SignatureRefused(Exception):
    """A signed request API Gateway would refuse; `kind` is its gateway response type."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def parse_callers(raw: str, account_id: str) -> dict[str, IamCaller]:
    """`access_key_id:secret_access_key=client_id,...`."""
    callers: dict[str, IamCaller] = {}
    for entry in raw.split(","):
        if not entry.strip():
            continue
        credentials, _, client_id = entry.strip().rpartition("=")
        key_id, _, secret = credentials.partition(":")
        if not (key_id and secret and client_id) or "#" in client_id:
            raise SystemExit(
                "LOCAL_IAM_CALLERS must hold comma-separated access_key_id:secret_access_key=client_id "
                "entries (client ids without '#')"
            )
        callers[key_id] = IamCaller(key_id, secret, client_id, account_id)
    return callers


def authorization_of(headers: Iterable[tuple[str, str]]) -> str | None:
    """The Authorization header when it claims a SigV4 signature (any other scheme is not ours)."""
    value = next((value for name, value in headers if name.lower() == "authorization"), None)
    return value if value is not None and value.strip().upper().startswith("AWS4-") else None


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's signer, told which headers were signed (it would otherwise pick them itself,
    leaving out some a client may sign, such as User-Agent)."""

    def __init__(self, credentials: Credentials, region: str, signed: HTTPHeaders) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:  # noqa: ARG002
        return self._signed


def _fields(authorization: str) -> dict[str, str]:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureRefused("INVALID_SIGNATURE", f"unsupported signing algorithm; use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields[name] = value
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise SignatureRefused("INVALID_SIGNATURE", f"Authorization header requires '{name}' parameter")
    return fields


def _signed_time(amz_date: str | None, now: float) -> datetime:
    if amz_date is None:
        raise SignatureRefused("INVALID_SIGNATURE", "a signed request needs an X-Amz-Date header")
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureRefused("INVALID_SIGNATURE", "X-Amz-Date is not YYYYMMDDTHHMMSSZ") from exc
    if abs(signed_at.timestamp() - now) > CLOCK_WINDOW_SECONDS:
        raise SignatureRefused(
            "INVALID_SIGNATURE", "signature expired: X-Amz-Date is more than 5 minutes off"
        )
    return signed_at


def verify(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    callers: dict[str, IamCaller],
    region: str,
    now: float,
) -> IamCaller:
    """The caller who signed this request, or SignatureRefused saying why API Gateway would not."""
    authorization = authorization_of(headers)
    if authorization is None:
        raise SignatureRefused("MISSING_AUTHENTICATION_TOKEN", "the request is not signed")
    fields = _fields(authorization)
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureRefused(
            "INVALID_SIGNATURE", "Credential must be <access key id>/<date>/<region>/<service>/aws4_request"
        )
    key_id, day, scope_region, service, _ = scope
    caller = callers.get(key_id)
    if caller is None:
        raise SignatureRefused("UNAUTHORIZED", "the security token included in the request is invalid")
    if service != SERVICE:
        raise SignatureRefused("INVALID_SIGNATURE", f"Credential should be scoped to service '{SERVICE}'")
    if scope_region != region:
        raise SignatureRefused("INVALID_SIGNATURE", f"Credential should be scoped to region '{region}'")
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower(), []).append(value)
    amz_date = received["x-amz-date"][0] if "x-amz-date" in received else None
    signed_at = _signed_time(amz_date, now)
    if day != signed_at.strftime("%Y%m%d"):
        raise SignatureRefused("INVALID_SIGNATURE", "the Credential's date is not the day of X-Amz-Date")
    names = fields["SignedHeaders"].split(";")
    missing = [name for name in ("host", "x-amz-date") if name not in names]
    missing += [name for name in names if name not in received]
    if missing:
        raise SignatureRefused(
            "INVALID_SIGNATURE", f"signed headers missing from the request: {', '.join(missing)}"
        )
    # botocore takes a sent x-amz-content-sha256 as the body's hash: it must be the body's.
    declared = received["x-amz-content-sha256"][0] if "x-amz-content-sha256" in received else None
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        raise SignatureRefused("INVALID_SIGNATURE", "x-amz-content-sha256 is not the hash of the body")
    signed = HTTPHeaders()
    for name in names:
        for value in received[name]:
            signed[name] = value
    # Only the path and query of this URL are read (the Host signed is the header received).
    request = AWSRequest(method=method, url=f"http://localhost{target}", data=body)
    request.context["timestamp"] = amz_date
    signer = _ReceivedRequestSigner(Credentials(key_id, caller.secret_access_key), region, signed)
    try:
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
    except ValueError as exc:  # a target no signer could have signed
        raise SignatureRefused("INVALID_SIGNATURE", "the request cannot be canonicalised for SigV4") from exc
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise SignatureRefused(
            "INVALID_SIGNATURE",
            "the request signature we calculated does not match the signature you provided",
        )
    return caller


def identity_of(caller: IamCaller) -> dict[str, Any]:
    """The fields of `requestContext.identity` API Gateway fills for an IAM user's request."""
    return {
        "accountId": caller.account_id,
        "caller": caller.user_id,
        "accessKey": caller.access_key_id,
        "userArn": caller.user_arn,
        "user": caller.user_id,
    }
