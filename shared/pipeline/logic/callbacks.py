"""Telling a client its job ended: one signed POST of the job resource (Standard Webhooks),
delivered from a queue with retries, never inline with the work that ended the job."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from standardwebhooks.webhooks import Webhook

from pipeline import secret_store
from pipeline.dal import callback_queue
from pipeline.dal import jobs as job_store
from pipeline.logic.job_view import to_resource
from pipeline.models.job import Job
from pipeline.models.tasks import CallbackTask
from pipeline.observability import logger, metrics
from pipeline.settings import get_settings

USER_AGENT = "magic-hour-pipeline-callbacks/1"


class CallbackFailed(Exception):
    """This attempt did not get a 2xx; worth trying again later."""


class CallbackRefused(Exception):
    """The URL can never be delivered to (for example it points into a private network)."""


def webhook_id_for(job: Job) -> str:
    """Stable across retries of one callback; a job that ends again (a download failure redriven
    to success) gets a new one, so receivers that drop repeats do not drop it."""
    return f"msg_{job.job_id}_{job.status.value}"


def announce_end(job: Job) -> None:
    """Queue the callback of a job that just ended. If this fails, the sweep queues it later:
    the job stays in its index while its callback is `pending` and not yet queued."""
    if not job.callback_url or job.callback_state != "pending":
        return
    try:
        callback_queue.send_callback_task(CallbackTask(job_id=job.job_id, webhook_id=webhook_id_for(job)))
        job_store.mark_callback_queued(job.job_id)
    except Exception:
        logger.exception("could not queue the callback; the sweep will", extra={"job_id": job.job_id})


def deliver(task: CallbackTask) -> Job | None:
    """One attempt. Returns the job once its callback is settled, raises CallbackFailed or
    CallbackRefused otherwise."""
    job = job_store.get_job(task.job_id)
    if job is None or job.callback_url is None or job.callback_state != "pending":
        return job  # already delivered, given up, or nothing to deliver
    check_destination(job.callback_url)
    payload = to_resource(job).model_dump_json()
    timestamp = datetime.now(UTC)
    signature = Webhook(secret_store.read_secret(get_settings().callback_signing_secret)).sign(
        task.webhook_id, timestamp, payload
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": task.webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    try:
        answer = requests.post(
            job.callback_url,
            data=payload.encode(),
            headers=headers,
            allow_redirects=False,
            timeout=(3.05, get_settings().callback_timeout_seconds),
        )
    except requests.RequestException as exc:
        raise CallbackFailed(f"{exc.__class__.__name__} calling the callback URL") from exc
    if not 200 <= answer.status_code < 300:
        raise CallbackFailed(f"callback URL answered HTTP {answer.status_code}")
    metrics.add_metric(name="CallbacksDelivered", unit="Count", value=1)
    return job_store.record_callback_attempt(job.job_id, "delivered", None)


def check_destination(url: str) -> None:
    """SSRF guard: http(s) only, and, when deployed, no address inside a private network."""
    settings = get_settings()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CallbackRefused("callback URL must be http(s) with a host")
    if settings.require_https_callbacks and parts.scheme != "https":
        raise CallbackRefused("callback URL must be https")
    if settings.callback_allow_private_addresses:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except OSError as exc:
        raise CallbackFailed(f"cannot resolve {parts.hostname}") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise CallbackRefused(f"callback host {parts.hostname} resolves to a non-public address")


def give_up(job_id: str, reason: str) -> None:
    metrics.add_metric(name="CallbacksFailed", unit="Count", value=1)
    job_store.record_callback_attempt(job_id, "failed", reason)


def note_failed_attempt(job_id: str, reason: str) -> None:
    job_store.record_callback_attempt(job_id, "pending", reason)
