"""A project's life in scaled time: queued -> rendering -> complete | error | canceled."""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

from local.simulator.ids import new_cuid
from local.simulator.inputs import FetchLimits, fetch_inputs, input_error
from local.simulator.scenario import Scenario
from local.simulator.scheduler import Scheduler
from local.simulator.state import TERMINAL_STATUSES, OutputFile, Project, Store, VideoInfo
from local.simulator.tools import CONTENT_TYPES, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, Tool
from local.simulator.views import UrlFactory, api_project
from local.simulator.webhooks import WebhookSender

Event = tuple[str, dict[str, Any]]

# Rendering starts a third of the way in, so a poller sees queued, then rendering, then the end.
_RENDER_START_FRACTION = 1 / 3


class Lifecycle:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        sender: WebhookSender,
        urls: UrlFactory,
        fetch_limits: FetchLimits,
    ) -> None:
        self._fetch_limits = fetch_limits
        self._store = store
        self._scheduler = scheduler
        self._sender = sender
        self._urls = urls

    def plan(self, tool: Tool, body: dict[str, Any], scenario: Scenario) -> Project:
        """The project a create would make; raises Unprocessable for a body no bill can be made for."""
        now = time.time()
        extension = tool.output_extension(body)
        count = tool.output_count(body, scenario.outputs)
        outputs = [
            OutputFile(index, scenario.output_bytes, extension, CONTENT_TYPES[extension])
            for index in range(count)
        ]
        name = body.get("name")
        return Project(
            id=new_cuid(),
            tool=tool.name,
            kind=tool.kind,
            project_type=tool.project_type,
            name=name if isinstance(name, str) else None,
            body=body,
            scenario=scenario,
            created_at=now,
            credits_quoted=tool.credits(body, count),
            outputs=outputs,
            video=_video_info(body) if tool.kind == "video" else None,
            updated_at=now,
        )

    def start(self, project: Project) -> bool:
        """Admits the project (False: the plan's concurrent slots are full), reads its inputs, and
        sets its timers. The inputs are fetched before the create is answered, as Magic Hour does."""
        now = time.time()
        project.created_at = project.updated_at = now
        if not self._store.admit(project, project.scenario.plan_concurrency):
            return False
        with self._store.lock:
            generation = self._store.generation
        # Outside the lock: a slow input must not stall every other request.
        inputs = fetch_inputs(project.body, project.kind, self._fetch_limits)
        with self._store.lock:
            project.inputs = inputs
        render = project.scenario.render_seconds
        self._scheduler.call_later(
            render * _RENDER_START_FRACTION, functools.partial(self._start_rendering, project.id, generation)
        )
        self._scheduler.call_later(render, functools.partial(self._finish, project.id, generation))
        return True

    def _live(self, project_id: str, generation: int) -> Project | None:
        if self._store.generation != generation:
            return None  # a reset happened since this timer was set
        return self._store.projects.get(project_id)

    def _start_rendering(self, project_id: str, generation: int) -> None:
        events: list[Event] = []
        with self._store.lock:
            project = self._live(project_id, generation)
            if project is None or project.status != "queued":
                return
            project.status = "rendering"
            project.updated_at = time.time()
            self._store.refresh_active(project)
            scenario = project.scenario
            if (
                scenario.webhook_send
                and scenario.webhook_started
                and not project.deleted
                and not (
                    project.kind == "image" and _skips_started(project.id, scenario.image_started_skip_ratio)
                )
            ):
                event = (f"{project.kind}.started", api_project(project, self._urls))
                if scenario.webhook_reverse_order:
                    project.held_events.append(event)
                else:
                    events.append(event)
        self._emit(project, events)

    def _finish(self, project_id: str, generation: int) -> None:
        events: list[Event] = []
        with self._store.lock:
            project = self._live(project_id, generation)
            if project is None or project.status in TERMINAL_STATUSES:
                return
            scenario = project.scenario
            unreadable = input_error(project.inputs)
            project.status = "error" if unreadable is not None else scenario.outcome
            project.updated_at = time.time()
            self._store.refresh_active(project)
            if project.status == "error":
                project.error = unreadable if unreadable is not None else dict(scenario.error)
            if scenario.webhook_send and not project.deleted:
                # Cancellation has no event of its own, as on the real service.
                if project.status == "complete":
                    events.append((f"{project.kind}.completed", api_project(project, self._urls)))
                elif project.status == "error":
                    events.append((f"{project.kind}.errored", api_project(project, self._urls)))
                # With webhook_reverse_order the held-back started event follows the terminal one.
                events.extend(project.held_events)
            project.held_events.clear()
        self._emit(project, events)

    def _emit(self, project: Project, events: list[Event]) -> None:
        scenario = project.scenario
        for event_type, payload in events:
            with self._store.lock:
                project.events.append(event_type)
            self._sender.enqueue(
                project.id,
                event_type,
                payload,
                copies=1 + scenario.webhook_duplicates,
                bad_signature=scenario.webhook_bad_signature,
                delay=scenario.webhook_delay_seconds,
            )


def _video_info(body: dict[str, Any]) -> VideoInfo:
    def number(key: str, default: float) -> float:
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return default

    return VideoInfo(
        width=int(number("width", DEFAULT_WIDTH)),
        height=int(number("height", DEFAULT_HEIGHT)),
        fps=number("fps", DEFAULT_FPS),
        start_seconds=number("start_seconds", 0.0),
        end_seconds=number("end_seconds", 5.0),
    )


def _skips_started(project_id: str, ratio: float) -> bool:
    """Whether this image project is one whose `image.started` Magic Hour skips (stable per id)."""
    if ratio <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(project_id.encode()).digest()[:4], "big") / 2**32
    return bucket < ratio
