"""EventBridge schedules, locally: every scheduled function in template.yaml is invoked with a
genuine "Scheduled Event" every LOCAL_SCHEDULE_SECONDS (one invocation at a time per schedule)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from local.runtime import Invocation
from local.template import Schedule


class Scheduler:
    def __init__(
        self,
        schedules: list[Schedule],
        period_seconds: float,
        invoke: Callable[[str, dict[str, Any]], Invocation],
        region: str,
        account: str,
    ) -> None:
        self.schedules = schedules
        self.period = period_seconds
        self.invoke = invoke
        self.region = region
        self.account = account
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._run, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True
            )
            for schedule in schedules
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, schedule: Schedule) -> None:
        while not self._stop.wait(self.period):
            self.invoke(schedule.function, self.event(schedule))

    def event(self, schedule: Schedule) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region,
            "resources": [
                f"arn:aws:events:{self.region}:{self.account}:rule/{schedule.function}-{schedule.name}"
            ],
            "detail": {},
        }
