"""Signed webhook delivery with Magic Hour's retry-on-non-2xx, in scaled time."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from local.simulator.config import SimulatorConfig
from local.simulator.scheduler import Scheduler, SerialDispatcher
from local.simulator.signing import webhook_signature, wrong_webhook_signature
from local.simulator.state import DeliveryAttempt, DeliveryRecord, Store

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "magic-hour-event-timestamp"
SIGNATURE_HEADER = "magic-hour-event-signature"


def encode_event(event_type: str, payload: Any) -> bytes:
    """The exact bytes Magic Hour signs and sends: compact JSON with exactly two keys."""
    return json.dumps({"type": event_type, "payload": payload}, separators=(",", ":")).encode()


class WebhookSender:
    def __init__(
        self,
        config: SimulatorConfig,
        store: Store,
        scheduler: Scheduler,
        executor: ThreadPoolExecutor,
    ) -> None:
        self._config = config
        self._store = store
        self._scheduler = scheduler
        self._executor = executor
        # First attempts of one project's events go out in order; retries are free to interleave,
        # which matches "nothing promises order" without making the common case chaotic.
        self._serial = SerialDispatcher(executor)

    @property
    def url(self) -> str | None:
        return self._config.webhook_url

    def enqueue(
        self,
        project_id: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        copies: int,
        bad_signature: bool,
        delay: float,
    ) -> None:
        """Deliver `copies` identical events in the background after `delay` seconds."""
        url = self._config.webhook_url
        if url is None:
            return
        body = encode_event(event_type, payload)
        for copy in range(copies):
            record = self._store.new_delivery(event_type, project_id, url, copy, bad_signature)
            first_attempt = functools.partial(self._attempt, record, body, 1)
            self._scheduler.call_later(
                delay, functools.partial(self._serial.submit, project_id, first_attempt)
            )

    def send_now(
        self, event_type: str, payload: Any, *, timestamp: str | None = None, bad_signature: bool = False
    ) -> DeliveryAttempt:
        """One synchronous attempt, no retries (POST /_sim/webhooks)."""
        url = self._config.webhook_url
        if url is None:
            raise LookupError("the simulator has no webhook_url configured")
        project_id = payload.get("id") if isinstance(payload, dict) else None
        record = self._store.new_delivery(
            event_type, project_id if isinstance(project_id, str) else None, url, 0, bad_signature
        )
        attempt = self._post(record, encode_event(event_type, payload), timestamp=timestamp)
        with self._store.lock:
            record.state = "delivered" if _is_success(attempt.status_code) else "failed"
        return attempt

    def _attempt(self, record: DeliveryRecord, body: bytes, number: int) -> None:
        attempt = self._post(record, body)
        if _is_success(attempt.status_code):
            with self._store.lock:
                record.state = "delivered"
            return
        if number >= self._config.webhook_max_attempts:
            with self._store.lock:
                record.state = "failed"
            log.warning("webhook %s for %s gave up after %d attempts", record.type, record.project_id, number)
            return
        backoff = self._config.webhook_retry_base_seconds * (2 ** (number - 1))
        retry = functools.partial(self._attempt, record, body, number + 1)
        self._scheduler.call_later(backoff, functools.partial(self._submit, retry))

    def _submit(self, task: functools.partial[None]) -> None:
        with contextlib.suppress(RuntimeError):  # pool shut down: the simulator is stopping
            self._executor.submit(task)

    def _post(self, record: DeliveryRecord, body: bytes, *, timestamp: str | None = None) -> DeliveryAttempt:
        # Every attempt is signed afresh with the current time, so a retry never carries a stale
        # timestamp that the receiver's 300 s window would reject.
        stamp = timestamp if timestamp is not None else str(int(time.time()))
        sign = wrong_webhook_signature if record.bad_signature else webhook_signature
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "magic-hour-simulator/1.0",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self._config.webhook_secret, stamp, body),
        }
        self._store.count("webhook_attempts")
        status_code: int | None = None
        error: str | None = None
        try:
            response = requests.post(
                record.url,
                data=body,
                headers=headers,
                timeout=self._config.webhook_timeout_seconds,
                allow_redirects=False,
            )
            status_code = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = DeliveryAttempt(time.time(), stamp, status_code, error)
        with self._store.lock:
            record.attempts.append(attempt)
        return attempt


def _is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300
