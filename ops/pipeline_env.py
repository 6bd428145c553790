"""Running the pipeline's own code (shared/pipeline) against the stack ops found.

The pipeline learns where its tables and queues are from its settings, read once from the
environment variables the template gives each function (pipeline/platform/settings.py), and builds its boto3
clients, once, from the default session (region, credentials and endpoint from the environment,
pipeline/platform/aws.py). So ops hands it exactly that: while `bound` is open the targets are those
variables, the caches holding what was read before are emptied, and afterwards the environment
is put back. Nothing in shared/ knows about ops; the Lambda code path is unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ops import targets
from pipeline.platform import environment as pipeline_environment
from pipeline.platform import observability

# Target field -> the pipeline's environment variable for it (template.yaml, each function's
# Environment; the setting's name upper-cased).
VARIABLES = {
    "jobs_table": "JOBS_TABLE_NAME",
    "clients_table": "CLIENTS_TABLE_NAME",
    "download_queue_url": "DOWNLOAD_QUEUE_URL",
    "download_dead_letter_queue_url": "DOWNLOAD_DEAD_LETTER_QUEUE_URL",
    "callback_queue_url": "CALLBACK_QUEUE_URL",
    "callback_dead_letter_queue_url": "CALLBACK_DEAD_LETTER_QUEUE_URL",
    "dispatch_queue_url": "DISPATCH_QUEUE_URL",
    "magic_hour_api_key_secret": "MAGIC_HOUR_API_KEY_SECRET",
    "magic_hour_webhook_secret": "MAGIC_HOUR_WEBHOOK_SECRET",
    "callback_signing_secret": "CALLBACK_SIGNING_SECRET",
}


def environment(session: targets.Session, where: targets.Targets) -> dict[str, str | None]:
    """The variables the pipeline reads, as this session and these targets give them (None: unset,
    so nothing from the operator's own environment stands in for a target ops did not find)."""
    values: dict[str, str | None] = {
        variable: getattr(where, field) or None for field, variable in VARIABLES.items()
    }
    values["AWS_REGION"] = values["AWS_DEFAULT_REGION"] = session.region
    values["AWS_ENDPOINT_URL"] = session.endpoint_url
    if session.local_credentials:
        values["AWS_ACCESS_KEY_ID"] = values["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - moto's
    return values


@contextlib.contextmanager
def bound(session: targets.Session, where: targets.Targets, metrics: Any = None) -> Iterator[None]:
    """The pipeline's code, while this is open, works on `where` through `session`'s endpoint.

    What it prints for Lambda's log (its log lines, its metrics as EMF records) goes to stderr:
    stdout is the command's. Off Lambda nobody turns EMF records into metrics, so with a CloudWatch
    client as `metrics` they are published as the pipeline's own (JobsEnded of an operator's fail
    counts like any other)."""
    values = environment(session, where)
    saved = {name: os.environ.get(name) for name in values}
    handler = observability.logger.registered_handler
    stream = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    printed = io.StringIO()
    _set(values)
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        _set(saved)
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
        lines = printed.getvalue().splitlines()
        for line in lines:
            print(line, file=sys.stderr)
        if metrics is not None:
            publish(metrics, lines)


def metric_data(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData entries by namespace for the EMF records among printed lines, one per metric
    and dimension set, as CloudWatch would extract them from a function's log."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        meta = record["_aws"]
        moment = datetime.fromtimestamp(meta["Timestamp"] / 1000, UTC)
        for directive in meta["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                values = [float(v) for v in (value if isinstance(value, list) else [value])]
                for names in directive["Dimensions"]:
                    found.setdefault(directive["Namespace"], []).append(
                        {
                            "MetricName": metric["Name"],
                            "Unit": metric["Unit"],
                            "Values": values,
                            "Dimensions": [{"Name": name, "Value": str(record[name])} for name in names],
                            "Timestamp": moment,
                        }
                    )
    return found


def publish(cloudwatch: Any, lines: list[str]) -> None:
    """Best effort: the work the metrics describe is done whatever happens to them."""
    for namespace, data in metric_data(lines).items():
        try:
            for start in range(0, len(data), 1000):  # PutMetricData's limit per call
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])
        except Exception as exc:
            print(f"ops: metrics not published ({exc.__class__.__name__})", file=sys.stderr)


def _set(values: dict[str, str | None]) -> None:
    pipeline_environment.apply(values)
