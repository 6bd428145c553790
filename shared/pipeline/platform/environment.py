"""The one override point for what the functions read from their environment.

Settings (settings.py, with the Lambda and Powertools variables) and boto3's clients (aws.py) are
read once per container. A process that points them elsewhere at run time (ops, tests) changes the
variables and then calls `forget`, here, rather than clearing each cache itself: a cache added
later is cleared in this one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import boto3

from pipeline.platform import aws, settings


def forget() -> None:
    """Drop everything read from the environment: settings, the boto3 clients and tables, and
    boto3's default session (it keeps the credentials and region it found first)."""
    settings.get_settings.cache_clear()
    settings.runtime_environment.cache_clear()
    aws.dynamodb_table.cache_clear()
    aws.s3_client.cache_clear()
    aws.sqs_client.cache_clear()
    boto3.DEFAULT_SESSION = None


def apply(values: Mapping[str, str | None]) -> None:
    """Set each variable (None removes it), then `forget` what was read before."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    forget()
