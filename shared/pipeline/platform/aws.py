"""boto3 clients, created once per container.

The endpoint is boto3's own business: the standard AWS_ENDPOINT_URL (and per-service
AWS_ENDPOINT_URL_<SERVICE>) variables point the same code at AWS, the moto server or LocalStack.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Standard retry mode backs off on throttling; a short connect timeout keeps a sick endpoint from
# eating the whole function timeout.
_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3, read_timeout=30)


@cache
def dynamodb_table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


# Bodies are not hashed a second time for the SigV4 signature (UNSIGNED-PAYLOAD): each upload
# carries its CRC32 checksum, which S3 verifies, and the downloader hashes every byte for the sha256
# anyway. Over HTTPS that is botocore's own default for uploads; said explicitly, plain-HTTP
# endpoints (the moto server) do the same work as AWS, not an extra pass over every byte.
S3_CONFIG = Config(
    retries={"max_attempts": 6, "mode": "standard"},
    signature_version="s3v4",
    s3={"payload_signing_enabled": False},
    connect_timeout=3,
    read_timeout=60,
)


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    return boto3.client("s3", config=S3_CONFIG)


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    return boto3.client("sqs", config=_CONFIG)


@lru_cache(maxsize=1)
def events_client() -> Any:
    return boto3.client("events", config=_CONFIG)


def warm_up(*table_names: str) -> None:
    """Create the clients a pool of threads will share, before it starts: boto3 creates clients
    from one session, which is not thread-safe; a created client (and table) is."""
    for name in table_names:
        dynamodb_table(name)
    sqs_client()
