"""One Logger and Tracer per function, and the metric catalogue; service name and namespace come from the
POWERTOOLS_* environment variables set in template.yaml.

The tracer is lazy: Powertools' Tracer imports and patches the X-Ray SDK when it is constructed
(~110 ms of every cold start measured, `make bench`), even when tracing is disabled. Here the
real Tracer is only built on the first traced call, and never when Powertools would disable
tracing anyway (POWERTOOLS_TRACE_DISABLED, or not running in Lambda), so an import of a handler
costs nothing for tracing and a disabled tracer never loads the SDK.

Metrics: a fixed catalogue. Every metric has one name and a fixed set of dimensions; `emit`
refuses anything else, so no name is built at run time and one fact has one metric. Each value is
published with all its dimensions (dashboards split by outcome, kind, status), with its first one
alone, and without any (alarms and totals), in one EMF record. The `service` dimension Powertools
would add is left out: a fact counted by several functions (a job ending) stays one series.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics.base import SingleMetric

from pipeline.platform.redaction import RedactingFormatter
from pipeline.platform.settings import runtime_environment
from pipeline.platform.timeutil import parse_iso

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

_TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled), without importing the tracer."""
    environ = runtime_environment() if environ is None else environ
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    if not environ.get("LAMBDA_TASK_ROOT"):
        return False
    return not (environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))


class LazyTracer:
    """The two decorators the functions use, with the real Tracer built on first use."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return tracing_enabled()

    def real(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                from aws_lambda_powertools import Tracer

                self._tracer = Tracer()
            return self._tracer

    @overload
    def capture_lambda_handler(self, handler: F) -> F: ...
    @overload
    def capture_lambda_handler(self, handler: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_lambda_handler(self, handler: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """`@tracer.capture_lambda_handler` or `@tracer.capture_lambda_handler(capture_response=...)`,
        as with Powertools' Tracer."""
        if handler is None:
            return lambda function: self._lazily("capture_lambda_handler", function, options)
        return self._lazily("capture_lambda_handler", handler, options)

    @overload
    def capture_method(self, method: F) -> F: ...
    @overload
    def capture_method(self, method: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_method(self, method: F | None = None, **options: Any) -> F | Callable[[F], F]:
        if method is None:
            return lambda function: self._lazily("capture_method", function, options)
        return self._lazily("capture_method", method, options)

    def _lazily(self, decorator: str, function: F, options: dict[str, Any]) -> F:
        traced: list[Callable[..., Any]] = []

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not tracing_enabled():
                return function(*args, **kwargs)
            if not traced:
                traced.append(getattr(self.real(), decorator)(function, **options))
            return traced[0](*args, **kwargs)

        return call  # type: ignore[return-value]


# Every line is redacted on its way out: a signed URL in an exception text never reaches the logs.
logger = Logger(logger_formatter=RedactingFormatter())
tracer = LazyTracer()
NAMESPACE = "MagicHourPipeline"  # template.yaml sets POWERTOOLS_METRICS_NAMESPACE to the same


def about_job(job_id: str | None, client_id: str | None = None) -> None:
    """From here on, every log line names this job (and its client), so one Logs Insights query
    on `job_id` tells a job's whole story across functions. None: lines about no job. Handlers
    clear it per invocation (inject_lambda_context(clear_state=True)); batch handlers per record."""
    logger.remove_keys(["job_id", "client_id"])
    keys = {k: v for k, v in (("job_id", job_id), ("client_id", client_id)) if v}
    if keys:
        logger.append_keys(**keys)


def about_job_in_thread(job_id: str | None, client_id: str | None = None) -> None:
    """`about_job` for one thread of several working at once (the sweep's checks): only this
    thread's lines name the job."""
    logger.thread_safe_remove_keys(["job_id", "client_id"])
    keys = {k: v for k, v in (("job_id", job_id), ("client_id", client_id)) if v}
    if keys:
        logger.thread_safe_append_keys(**keys)


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    dimensions: tuple[str, ...] = ()


# Magic Hour's answer to a create. outcome: created | refused | unknown | auth_failed.
MAGIC_HOUR_CREATES = Metric("MagicHourCreates", "Count", ("outcome",))
# A job reached completed, failed or canceled. status, kind.
JOBS_ENDED = Metric("JobsEnded", "Count", ("status", "kind"))
# From accepted to its end (p50/p95 of status=completed is "time to completed"). status.
JOB_DURATION = Metric("JobDuration", "Seconds", ("status",))
# Credits Magic Hour reports for a job, counted when it ends, and for a project that completed
# after its job had failed. status (failed: paid for, not delivered).
CREDITS_CHARGED = Metric("CreditsCharged", "Count", ("status",))
# A webhook delivery. outcome: applied | already_applied | unknown_project | signature_rejected |
# malformed | processing_failed | wrong_path (a token in the path that is not ours, or the plain
# route while WebhookPlainRoute is off: answered 404 like an unknown route).
WEBHOOKS = Metric("Webhooks", "Count", ("outcome",))
# Download work. outcome: stored | attempt_failed | dead_lettered | job_failed | url_refreshed.
DOWNLOADS = Metric("Downloads", "Count", ("outcome",))
DOWNLOADED_BYTES = Metric("DownloadedBytes", "Bytes")
# Download messages sent. outcome: queued | requeued.
DOWNLOAD_TASKS = Metric("DownloadTasks", "Count", ("outcome",))
# Client callbacks. outcome: delivered | attempt_failed | failed | dead_lettered | malformed |
# lane_full (the client had its most attempts in flight; the message waits, not an attempt).
CALLBACKS = Metric("Callbacks", "Count", ("outcome",))
# One job looked at by the sweep. outcome: what the sweep did (gave_up, recovered_completed, ...).
SWEEP_CHECKS = Metric("SweepChecks", "Count", ("outcome",))
# A sweep that did not look at everything due. outcome: overlap | cut_short.
SWEEP_RUNS = Metric("SweepRuns", "Count", ("outcome",))
# At the end of each sweep run: how long the oldest check it left undone has been due (0: none).
SWEEP_OVERDUE = Metric("SweepOldestOverdue", "Seconds")
# A create put off for a later try (Magic Hour 429/5xx, or our key unreadable): nothing was created.
CREATE_RETRIES = Metric("MagicHourCreateRetries", "Count")
# Magic Hour completed a project for a job that had already failed (its outputs are kept apart).
LATE_PROJECTS = Metric("LateProjects", "Count")
# A Magic Hour plan slot given back by the sweep because its holder no longer held it.
SLOTS_RECLAIMED = Metric("SlotsReclaimed", "Count")
# Magic Hour reported credits DynamoDB cannot hold (kept as unknown; the project is kept).
CREDITS_OUT_OF_RANGE = Metric("MagicHourCreditsOutOfRange", "Count")
# The Magic Hour account's credit balance (GET /v1/account), published by the sweep at most once a
# minute (alarm MagicHourCreditsLow).
# tier (the dashboard shows it; the alarm reads the total, published without it too).
MAGIC_HOUR_CREDITS = Metric("MagicHourCredits", "Count", ("tier",))
# A submitting job whose project was found by its name.
ORPHAN_PROJECTS_ATTACHED = Metric("OrphanProjectsAttached", "Count")
# An error no handler expected (the submit API answered 503 for it).
UNHANDLED_ERRORS = Metric("UnhandledErrors", "Count")
# Daily credit budgets. outcome: exceeded (a job's estimate did not fit: a create refused 402, or a
# waiting job failed at its turn). Usage is written in the job move's own transaction: it cannot
# be lost on its own.
BUDGETS = Metric("Budgets", "Count", ("outcome",))

CATALOGUE = (
    MAGIC_HOUR_CREATES,
    JOBS_ENDED,
    JOB_DURATION,
    CREDITS_CHARGED,
    WEBHOOKS,
    DOWNLOADS,
    DOWNLOADED_BYTES,
    DOWNLOAD_TASKS,
    CALLBACKS,
    SWEEP_CHECKS,
    SWEEP_RUNS,
    SWEEP_OVERDUE,
    CREATE_RETRIES,
    LATE_PROJECTS,
    SLOTS_RECLAIMED,
    CREDITS_OUT_OF_RANGE,
    ORPHAN_PROJECTS_ATTACHED,
    UNHANDLED_ERRORS,
    BUDGETS,
    MAGIC_HOUR_CREDITS,
)


def emf_record(metric: Metric, value: float, dimensions: dict[str, str]) -> dict[str, object]:
    if set(dimensions) != set(metric.dimensions):
        raise ValueError(f"{metric.name} takes dimensions {metric.dimensions}, got {sorted(dimensions)}")
    namespace = runtime_environment().get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    single = SingleMetric(namespace=namespace, service="")
    single.add_metric(name=metric.name, unit=metric.unit, value=value)
    for key in metric.dimensions:
        single.add_dimension(name=key, value=dimensions[key])
    record: dict[str, object] = single.serialize_metric_set()
    directive = record["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    directive["Dimensions"] = dimension_sets(metric)
    return record


def dimension_sets(metric: Metric) -> list[list[str]]:
    """All dimensions, the first alone (JobsEnded by status across kinds), and none (totals)."""
    sets: list[list[str]] = []
    for candidate in (list(metric.dimensions), list(metric.dimensions[:1]), []):
        if candidate not in sets:
            sets.append(candidate)
    return sets


def emit(metric: Metric, value: float = 1, **dimensions: str) -> None:
    """Publish one value of a catalogued metric (an EMF line on stdout, as Powertools does)."""
    try:
        line = json.dumps(emf_record(metric, value, dimensions), separators=(",", ":"))
    except Exception:  # a metric must never break the work it measures
        logger.exception("metric not recorded", extra={"metric": metric.name})
        return
    # One write per line: the sweep's checks emit from several threads at once.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def job_ended(status: str, kind: str, created_at: str, ended_at: str, credits_charged: int | None) -> None:
    """The facts of one ending: that it ended, how long it took since it was accepted, and the
    credits it cost (a job revived by a redrive and ending again counts again)."""
    emit(JOBS_ENDED, status=status, kind=kind)
    try:
        seconds = (_moment(ended_at) - _moment(created_at)).total_seconds()
    except ValueError:
        seconds = None
    if seconds is not None and seconds >= 0:
        emit(JOB_DURATION, seconds, status=status)
    if credits_charged:
        emit(CREDITS_CHARGED, credits_charged, status=status)


def _moment(iso_text: str) -> datetime:
    return parse_iso(iso_text)
