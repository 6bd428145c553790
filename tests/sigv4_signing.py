"""Signing requests as an AWS caller does: botocore's SigV4Auth for service execute-api."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    key_id: str = "AKIDALPHA",
    secret: str = "alpha-secret",
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
    region: str = REGION,
    service: str = "execute-api",
) -> dict[str, str]:
    """The headers (Authorization, X-Amz-Date and those given) of the request signed as botocore
    signs it, at `at` (default now)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(key_id, secret), service, region)
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=at.astimezone(UTC).replace(tzinfo=None)
        ):
            signer.add_auth(request)
    return dict(request.headers.items())
