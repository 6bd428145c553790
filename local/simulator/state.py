"""Everything the simulator remembers, behind one lock."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from local.simulator.scenario import Scenario
from local.simulator.tools import Kind

STAT_NAMES = ("creates", "gets", "deletes", "downloads", "webhook_attempts", "rejected_creates")
TERMINAL_STATUSES = frozenset({"complete", "error", "canceled"})
# The statuses that hold one of the plan's concurrent render slots.
ACTIVE_STATUSES = frozenset({"queued", "rendering"})
MAX_DELIVERY_RECORDS = 1000


@dataclass(frozen=True)
class OutputFile:
    index: int
    size_bytes: int
    extension: str
    content_type: str

    def filename(self, project_id: str) -> str:
        # Unique per project and index: the official SDK saves each download under the URL's file
        # name, so a shared name like output.png would make several images overwrite each other.
        return f"{project_id}-{self.index}.{self.extension}"


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    start_seconds: float
    end_seconds: float


@dataclass(frozen=True)
class InputFile:
    """One `*_file_path` of a create body and what fetching it gave (local/simulator/README.md)."""

    field: str  # key path in the body, e.g. assets.video_file_path
    kind: Kind
    url: str
    fetched: bool
    status_code: int | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    # Why the fetch did not give a whole file (timeout, too large, ...); never shown to clients.
    problem: str | None = None

    @property
    def failed(self) -> bool:
        return self.fetched and (self.status_code != 200 or self.problem is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "url": self.url,
            "fetched": self.fetched,
            "status_code": self.status_code,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "problem": self.problem,
        }


@dataclass
class Project:
    id: str
    tool: str
    kind: Kind
    project_type: str
    name: str | None
    body: dict[str, Any]
    scenario: Scenario
    created_at: float
    credits_quoted: int
    outputs: list[OutputFile]
    video: VideoInfo | None
    status: str = "queued"
    error: dict[str, str] | None = None
    deleted: bool = False
    updated_at: float = 0.0
    # Per output index: download requests answered so far, for fail-first and truncate-first.
    download_requests: dict[int, int] = field(default_factory=dict)
    served_responses: dict[int, int] = field(default_factory=dict)
    # The started payload held back when webhook_reverse_order asks for it after the terminal event.
    held_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES and not self.deleted

    @property
    def credits_charged(self) -> int:
        # Magic Hour refunds a failed job and reports the refund in credits_charged.
        return 0 if self.status == "error" else self.credits_quoted

    @property
    def available_outputs(self) -> list[OutputFile]:
        return self.outputs if self.status == "complete" and not self.deleted else []


@dataclass
class DeliveryAttempt:
    at: float
    timestamp: str
    status_code: int | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "timestamp": self.timestamp,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass
class DeliveryRecord:
    id: int
    type: str
    project_id: str | None
    url: str
    copy: int
    bad_signature: bool
    state: str = "pending"  # pending -> delivered | failed
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "project_id": self.project_id,
            "url": self.url,
            "copy": self.copy,
            "bad_signature": self.bad_signature,
            "state": self.state,
            "attempts": [attempt.to_json() for attempt in self.attempts],
        }


@dataclass
class Upload:
    file_path: str
    data: bytes


class Store:
    """Projects, scenario, counters, uploads and the delivery log.

    Callers take `lock` around every read-modify-write; it is re-entrant so helpers can nest.
    """

    def __init__(self, max_upload_total_bytes: int) -> None:
        self.lock = threading.RLock()
        self.scenario = Scenario()
        self.projects: dict[str, Project] = {}
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self.deliveries: deque[DeliveryRecord] = deque(maxlen=MAX_DELIVERY_RECORDS)
        # Ids of the projects holding a plan slot, kept exact under `lock` by every status change.
        self.active: set[str] = set()
        self.max_active = 0
        # Bumped by reset so timers of projects from before the reset find nothing to do.
        self.generation = 0
        self._delivery_ids = 0
        self._upload_bytes = 0
        self._max_upload_total_bytes = max_upload_total_bytes

    def count(self, stat: str) -> None:
        with self.lock:
            self.stats[stat] += 1

    def stats_snapshot(self) -> dict[str, int]:
        with self.lock:
            return {**self.stats, "max_active": self.max_active}

    def project(self, project_id: str) -> Project | None:
        with self.lock:
            return self.projects.get(project_id)

    def admit(self, project: Project, plan_concurrency: int) -> bool:
        """Adds the project unless the plan's concurrent slots are all taken (0 = unlimited).

        Check and insert happen under one lock hold, so concurrent creates can never overshoot.
        """
        with self.lock:
            if plan_concurrency > 0 and len(self.active) >= plan_concurrency:
                self.stats["rejected_creates"] += 1
                return False
            self.projects[project.id] = project
            self.refresh_active(project)
            return True

    def refresh_active(self, project: Project) -> None:
        """Call (under `lock`) after every change of a project's status or deleted flag."""
        with self.lock:
            if project.active:
                self.active.add(project.id)
                self.max_active = max(self.max_active, len(self.active))
            else:
                self.active.discard(project.id)

    def new_delivery(
        self, event_type: str, project_id: str | None, url: str, copy: int, bad_signature: bool
    ) -> DeliveryRecord:
        with self.lock:
            self._delivery_ids += 1
            record = DeliveryRecord(self._delivery_ids, event_type, project_id, url, copy, bad_signature)
            self.deliveries.append(record)
            return record

    def put_upload(self, file_path: str, data: bytes) -> None:
        with self.lock:
            previous = self.uploads.pop(file_path, None)
            if previous is not None:
                self._upload_bytes -= len(previous.data)
            self.uploads[file_path] = Upload(file_path, data)
            self._upload_bytes += len(data)
            # Oldest uploads go first; inputs are never read back by renders, so this is harmless.
            while self._upload_bytes > self._max_upload_total_bytes and len(self.uploads) > 1:
                _, evicted = self.uploads.popitem(last=False)
                self._upload_bytes -= len(evicted.data)

    def reset(self) -> list[str]:
        """Forget everything; returns the ids of the projects that were dropped."""
        with self.lock:
            dropped = list(self.projects)
            self.scenario = Scenario()
            self.projects.clear()
            self.stats = dict.fromkeys(STAT_NAMES, 0)
            self.active.clear()
            self.max_active = 0
            self.uploads.clear()
            self._upload_bytes = 0
            self.deliveries.clear()
            self.generation += 1
            return dropped
