"""In-memory stand-ins for the seams of the pipeline's logic: the job store (pipeline.store.jobs), the
download, dispatch and callback queues. Unit tests install them with `install(monkeypatch)`.

The fake job store keeps the semantics the logic relies on: every move names the statuses it may
start from and changes nothing otherwise; it writes the bookkeeping it is given as given (giving
back the job's slot in the same write when told to); a late project is claimed once, only on a
failed job; the right to queue a job's downloads is a lease. It records every write that
succeeded, so a test can say exactly what a call changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import pytest

from pipeline.jobs.bookkeeping import NEXT_CHECK_AT
from pipeline.magic_hour.client import CreatedProject, UploadUrl
from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.models.tasks import CallbackTask, DownloadTask
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import (
    callback_queue,
    dispatch_queue,
    download_queue,
    due_checks,
    fair_queue,
    slots,
    upload_counts,
    usage,
)
from pipeline.store import jobs as job_store
from pipeline.store.protocols import JOB_STORE_FUNCTIONS, JobStore

Write = tuple[Any, ...]


@dataclass
class FakeUsage:
    """The clients table's budgets and day counters (store/usage.py): a change is written only with
    the job write it belongs to, and a reservation only while it fits."""

    budgets: dict[str, int] = field(default_factory=dict)
    # (client_id, day) -> {"reserved", "charged", "jobs"}
    days: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    # (client_id, day) -> upload URLs minted (store/upload_counts.py)
    uploads: dict[tuple[str, str], int] = field(default_factory=dict)

    def count_upload(self, client_id: str, day: str, quota: int) -> bool:
        count = self.uploads.get((client_id, day), 0)
        if quota and count >= quota:
            return False
        self.uploads[(client_id, day)] = count + 1
        return True

    def budget_of(self, client_id: str) -> int | None:
        return self.budgets.get(client_id)

    def day(self, client_id: str, day: str) -> dict[str, int]:
        return self.days.get((client_id, day), {"reserved": 0, "charged": 0, "jobs": 0})

    def usage_of(self, client_id: str, day: str) -> usage.Usage:
        counters = self.day(client_id, day)
        return usage.Usage(
            day,
            counters["charged"],
            counters["jobs"],
            counters["charged"] + counters["reserved"],
            self.uploads.get((client_id, day), 0),
        )

    def check(self, changes: tuple[UsageChange, ...]) -> None:
        for change in changes:
            counters = self.day(change.client_id, change.day)
            if change.within is not None and counters["charged"] + counters["reserved"] > change.within:
                raise OverBudget(change.client_id)

    def apply(self, changes: tuple[UsageChange, ...]) -> None:
        self.check(changes)
        for change in changes:
            counters = dict(self.day(change.client_id, change.day))
            counters["reserved"] += change.reserved
            counters["charged"] += change.charged
            counters["jobs"] += change.jobs
            self.days[(change.client_id, change.day)] = counters


@dataclass
class FakeJobStore:
    usage: FakeUsage = field(default_factory=FakeUsage)
    jobs: dict[str, Job] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    released_slots: list[int] = field(default_factory=list)
    # queue_lease_until per job (not a field of Job: the logic never reads it, only the store).
    leases: dict[str, int] = field(default_factory=dict)
    postponed: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The sweep's index: when the sweep next looks at each job it watches (absent: not watched).
    next_checks: dict[str, int] = field(default_factory=dict)
    callbacks_queued: list[str] = field(default_factory=list)
    # The limit Magic Hour's 429s showed (store/fair_queue.py's dispatch item; 0: none yet).
    learned_limit: int = 0

    def put(self, job: Job, lease_until: int | None = None) -> Job:
        self.jobs[job.job_id] = job.model_copy(deep=True)
        if lease_until is not None:
            self.leases[job.job_id] = lease_until
        return job

    # --- the functions of pipeline.store.jobs the logic calls -------------------------------------

    def put_new_job(self, job: Job, next_check_at: int | None, changes: tuple[UsageChange, ...] = ()) -> bool:
        if job.job_id in self.jobs:
            return False
        self.usage.apply(changes)
        self.put(job)
        if next_check_at is not None:
            self.next_checks[job.job_id] = next_check_at
        self.writes.append(("put_new_job", job.status.value))
        return True

    def mark_create_unknown(self, job_id: str) -> Job | None:
        stored = self.jobs.get(job_id)
        if stored is None or stored.status is not JobStatus.SUBMITTING or stored.project_id is not None:
            return None
        self.jobs[job_id] = stored.model_copy(update={"create_outcome_unknown": True})
        self.writes.append(("mark_create_unknown",))
        return self.get_job(job_id)

    def note_download_attempt(self, job_id: str, at: int) -> None:
        stored = self.jobs.get(job_id)
        if stored is not None and stored.status is JobStatus.DOWNLOADING:
            self.jobs[job_id] = stored.model_copy(update={"download_attempted_at": at})
            self.writes.append(("note_download_attempt",))

    def end_submit_claim(self, job_id: str) -> None:
        stored = self.jobs.get(job_id)
        if stored is not None:
            self.jobs[job_id] = stored.model_copy(update={"submit_claim_until": None})
            self.writes.append(("end_submit_claim",))

    def get_job(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        return job.model_copy(deep=True) if job is not None else None

    def waiting_jobs(self, limit: int) -> list[job_store.WaitingEntry]:
        """The fair queue's head, as the sparse index orders it: waiting jobs by fair key."""
        waiting = sorted(
            (job.fair_key, job.job_id, job.client_id)
            for job in self.jobs.values()
            if job.status is JobStatus.WAITING and job.fair_key is not None
        )
        return [job_store.WaitingEntry(job_id, key, client_id) for key, job_id, client_id in waiting[:limit]]

    def find_job_by_project(self, project_id: str) -> Job | None:
        for job in self.jobs.values():
            if job.project_id == project_id:
                return job.model_copy(deep=True)
        return None

    def transition(
        self,
        job: Job,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        keeping: Bookkeeping,
        sets: dict[str, Any] | None = None,
    ) -> Job | None:
        return self._transition(job, to, list(allowed_from), keeping, sets, record=("transition", to.value))

    def take_open_slot(self, job: Job, slot: int) -> Job | None:
        if any(other.slot == slot for other in self.jobs.values() if other.job_id != job.job_id):
            return None  # the slot is taken: the transaction is cancelled
        stored = self.jobs.get(job.job_id)
        if stored is None or stored.status is not JobStatus.SUBMITTING or stored.slot is not None:
            return None
        self.jobs[job.job_id] = stored.model_copy(update={"slot": slot})
        self.writes.append(("take_open_slot", str(slot)))
        return self.get_job(job.job_id)

    # --- pipeline.store.slots and the learned limit of pipeline.store.fair_queue, from the jobs ----

    def slot_holders(self) -> dict[int, str]:
        """The slot items: a job's slot is given back in the write that moves it out (as stored)."""
        return {job.slot: job.job_id for job in self.jobs.values() if job.slot is not None}

    def held_by_client(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for job in self.jobs.values():
            if job.slot is not None:
                held[job.client_id] = held.get(job.client_id, 0) + 1
        return held

    def learn_limit(self, in_flight: int) -> None:
        self.learned_limit = max(1, in_flight)

    def raise_learned_limit(self, in_flight: int) -> None:
        if self.learned_limit and in_flight > self.learned_limit:
            self.learned_limit = in_flight

    def claim_for_create(self, job: Job, slot: int, keeping: Bookkeeping) -> Job | None:
        if any(other.slot == slot for other in self.jobs.values() if other.job_id != job.job_id):
            return None  # the slot is taken: the transaction is cancelled
        return self._transition(
            job,
            JobStatus.SUBMITTING,
            [JobStatus.WAITING],
            keeping,
            {"slot": slot},
            record=("claim", str(slot)),
        )

    def fail(
        self,
        job: Job,
        error: JobError,
        allowed_from: Iterable[JobStatus],
        keeping: Bookkeeping,
        sets: dict[str, Any] | None = None,
    ) -> Job | None:
        return self._transition(
            job,
            JobStatus.FAILED,
            list(allowed_from),
            keeping,
            {"error": error.model_dump(), **(sets or {})},
            record=("fail", error.code, error.source),
        )

    def attach_project(
        self,
        job: Job,
        project_id: str,
        credits_charged: int | None,
        # Tests that stand in for a create call this directly, with no bookkeeping to write.
        keeping: Bookkeeping = Bookkeeping(),  # noqa: B008 (frozen: one shared value is safe)
    ) -> Job | None:
        sets: dict[str, Any] = {"project_id": project_id}
        if credits_charged is not None:
            sets["credits_charged"] = credits_charged
        return self._transition(
            job,
            JobStatus.QUEUED,
            [JobStatus.SUBMITTING, JobStatus.WAITING],
            keeping,
            sets,
            record=("attach_project", project_id),
        )

    def claim_late_project(
        self,
        job: Job,
        project_id: str,
        credits_charged: int | None,
        output_count: int,
        money: Bookkeeping = Bookkeeping(),  # noqa: B008 (frozen: one shared value is safe)
    ) -> Job | None:
        stored = self.jobs.get(job.job_id)
        if stored is None or stored.status is not JobStatus.FAILED or stored.late_project_id is not None:
            return None
        if not self._money_as_expected(stored, money):
            return None
        self.usage.apply(money.usage)
        update: dict[str, Any] = {
            "late_project_id": project_id,
            "late_output_count": output_count,
            "updated_at": now_iso(),
            **money.sets,
        }
        if credits_charged is not None:
            update["late_credits_charged"] = credits_charged
        self.jobs[job.job_id] = stored.model_copy(update=update)
        self.writes.append(("claim_late_project", project_id))
        return self.get_job(job.job_id)

    def mark_downloads_queued(self, job_id: str) -> None:
        stored = self.jobs[job_id]
        self.jobs[job_id] = stored.model_copy(update={"downloads_queued": True})
        self.leases.pop(job_id, None)
        self.writes.append(("mark_downloads_queued",))

    def release_queueing(self, job_id: str) -> None:
        self.leases.pop(job_id, None)
        self.writes.append(("release_queueing",))

    def claim_queueing(self, job_id: str, lease_seconds: int) -> bool:
        stored = self.jobs.get(job_id)
        now = epoch_seconds()
        if (
            stored is None
            or stored.status is not JobStatus.DOWNLOADING
            or stored.downloads_queued
            or self.leases.get(job_id, 0) >= now
        ):
            return False
        self.leases[job_id] = now + lease_seconds
        self.writes.append(("claim_queueing",))
        return True

    def postpone_check(self, job_id: str, next_check_at: int, checks: int) -> None:
        # Not a write a test compares (every sweep check ends with one): kept apart.
        self.postponed[job_id] = (next_check_at, checks)

    def mark_callback_queued(self, job_id: str) -> None:
        stored = self.jobs[job_id]
        self.jobs[job_id] = stored.model_copy(update={"callback_queued": True})

    def delete_submitting_job(self, job: Job, changes: tuple[UsageChange, ...] = ()) -> None:
        stored = self.jobs.get(job.job_id)
        if stored is None or stored.status is not JobStatus.SUBMITTING:
            return
        self.usage.apply(changes)
        del self.jobs[job.job_id]
        if job.slot is not None:
            self.released_slots.append(job.slot)
        self.writes.append(("delete_submitting_job",))

    def record_callback_attempt(
        self, job_id: str, outcome: str, error: str | None, keeping: Bookkeeping
    ) -> Job | None:
        stored = self.jobs.get(job_id)
        if stored is None or stored.callback_state != "pending":
            return None
        update: dict[str, Any] = {
            "callback_state": outcome,
            "callback_attempts": stored.callback_attempts + 1,
        }
        if error is not None:
            update["callback_last_error"] = error[:500]
        self._keep(job_id, keeping)
        self.jobs[job_id] = stored.model_copy(update=update)
        self.writes.append(("record_callback_attempt", outcome))
        return self.get_job(job_id)

    # --- semantics of pipeline.store.jobs.transition -----------------------------------------------

    @staticmethod
    def _money_as_expected(stored: Job, keeping: Bookkeeping) -> bool:
        return all(getattr(stored, name) == value for name, value in keeping.expects)

    def _keep(self, job_id: str, keeping: Bookkeeping) -> None:
        # next_check_at is no field of Job: the store keeps the sweep's index beside the jobs.
        if NEXT_CHECK_AT in keeping.sets:
            self.next_checks[job_id] = int(keeping.sets[NEXT_CHECK_AT])
        if NEXT_CHECK_AT in keeping.removes:
            self.next_checks.pop(job_id, None)

    def _transition(
        self,
        job: Job,
        to: JobStatus,
        allowed_from: list[JobStatus],
        keeping: Bookkeeping,
        sets: dict[str, Any] | None,
        record: Write,
    ) -> Job | None:
        stored = self.jobs.get(job.job_id)
        if stored is None or stored.status not in allowed_from:
            return None
        if not self._money_as_expected(stored, keeping):
            return None
        releases = keeping.release_slot and job.slot is not None
        # The real write conditions the release on the job still holding the slot it names.
        if releases and stored.slot != job.slot:
            return None
        self.usage.apply(keeping.usage)  # raises OverBudget, with nothing written
        data = stored.model_dump()
        data.update({"status": to, "updated_at": now_iso()})
        self._keep(job.job_id, keeping)
        data.update({key: value for key, value in keeping.sets.items() if key != NEXT_CHECK_AT})
        for key in keeping.removes:
            data.pop(key, None)
        if releases:
            assert job.slot is not None
            data["slot"] = None
            self.released_slots.append(job.slot)
        data.update(sets or {})
        if "queue_lease_until" in data:  # not a Job field: the store keeps it beside the job
            self.leases[job.job_id] = int(data.pop("queue_lease_until"))
        self.jobs[job.job_id] = Job.model_validate(data)
        self.writes.append(record)
        return self.get_job(job.job_id)


@dataclass
class FakeQueues:
    downloads: list[DownloadTask] = field(default_factory=list)
    wakeups: list[int] = field(default_factory=list)
    callbacks: list[CallbackTask] = field(default_factory=list)
    fail_download_send: bool = False

    def send_download_tasks(self, tasks: Iterable[DownloadTask]) -> None:
        if self.fail_download_send:
            raise download_queue.QueueSendFailed("SQS refused")
        self.downloads.extend(tasks)

    def send_wakeup(self, delay_seconds: int = 0) -> None:
        self.wakeups.append(delay_seconds)

    def send_callback_task(self, task: CallbackTask, delay_seconds: int = 0) -> None:
        self.callbacks.append(task)


class FakeMagicHour:
    """Magic Hour's client as the logic calls it (pipeline.magic_hour.client), scripted: a create or
    a project read answers `answer` (raised when it is an exception); an upload URL is numbered.
    Every call is recorded, so a test can say what was asked and sent."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.tools: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.asked: list[tuple[str, str]] = []  # (kind, project_id) read, or (asset_type, extension) uploaded
        self.put: list[tuple[str, bytes, int]] = []

    def _answer(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def create_project(self, tool: str, body: dict[str, Any]) -> CreatedProject:
        self.tools.append(tool)
        self.bodies.append(body)
        return self._answer()  # type: ignore[no-any-return]

    def get_project(self, kind: str, project_id: str) -> dict[str, Any]:
        self.asked.append((kind, project_id))
        return self._answer()  # type: ignore[no-any-return]

    def upload_url(self, asset_type: str, extension: str) -> UploadUrl:
        self.asked.append((asset_type, extension))
        number = len(self.asked)
        return UploadUrl(f"https://storage.test/{number}", f"api-assets/{number}/{asset_type}.{extension}")

    def put_file(self, upload_url: str, body: BinaryIO, size_bytes: int) -> None:
        self.put.append((upload_url, body.read(), size_bytes))


if TYPE_CHECKING:
    # mypy (make lint) holds the fake to the store's protocol, as it holds the store.
    _fake_conforms: JobStore = FakeJobStore()


@dataclass
class Fakes:
    store: FakeJobStore
    queues: FakeQueues


def install(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """Replace the job store and the queues everywhere the logic reaches them (every logic module
    calls them through their module, so patching the module's functions is enough)."""
    store = FakeJobStore()
    queues = FakeQueues()
    for name in JOB_STORE_FUNCTIONS:
        monkeypatch.setattr(job_store, name, getattr(store, name))
    for name in ("budget_of", "usage_of"):
        monkeypatch.setattr(usage, name, getattr(store.usage, name))
    monkeypatch.setattr(upload_counts, "count_one", store.usage.count_upload)
    monkeypatch.setattr(download_queue, "send_download_tasks", queues.send_download_tasks)
    monkeypatch.setattr(dispatch_queue, "send_wakeup", queues.send_wakeup)
    monkeypatch.setattr(callback_queue, "send_callback_task", queues.send_callback_task)
    monkeypatch.setattr(slots, "holders", store.slot_holders)
    monkeypatch.setattr(slots, "held_by_client", store.held_by_client)
    monkeypatch.setattr(fair_queue, "learned_limit", lambda: store.learned_limit)
    monkeypatch.setattr(fair_queue, "learn_limit", store.learn_limit)
    monkeypatch.setattr(fair_queue, "raise_learned_limit", store.raise_learned_limit)
    return Fakes(store, queues)


class Signals:
    """Stands in for a logic module's metrics (`emit`), its logger and `about_job`, recording what
    the module tells the operator. `install_signals(monkeypatch, module)` puts it in place."""

    def __init__(self) -> None:
        self.metrics: list[tuple[str, dict[str, str]]] = []
        self.values: list[tuple[str, float, dict[str, str]]] = []
        self.lines: list[tuple[str, str, dict[str, Any] | None]] = []
        self.jobs: list[tuple[str | None, str | None]] = []

    def emit(self, metric: Any, value: float = 1, **dimensions: str) -> None:
        self.metrics.append((metric.name, dimensions))
        self.values.append((metric.name, value, dimensions))

    def about_job(self, job_id: str | None, client_id: str | None = None) -> None:
        self.jobs.append((job_id, client_id))

    def __getattr__(self, level: str) -> Any:
        if level not in ("debug", "info", "warning", "error", "exception"):
            raise AttributeError(level)

        def write(message: str, *args: Any, extra: dict[str, Any] | None = None, **_: Any) -> None:
            self.lines.append((level, message, extra))

        return write


def install_signals(monkeypatch: pytest.MonkeyPatch, module: Any) -> Signals:
    signals = Signals()
    monkeypatch.setattr(module, "emit", signals.emit)
    monkeypatch.setattr(module, "about_job", signals.about_job)
    monkeypatch.setattr(module, "logger", signals)
    return signals


def serve_due_index(monkeypatch: pytest.MonkeyPatch, due: Any) -> None:
    """Stand in for the sweep's index (store/due_checks.py) with `due(after, now, limit)`, the
    due entries oldest first: `due_checks` is it, and `due_page` reads it page by page as the
    index does, each page starting after the last one's key (due time, job id)."""

    def page(after: int | None, now: int, start: Any, size: int) -> tuple[list[Any], Any]:
        found = sorted(due(after, now, 10**9), key=lambda e: (e.next_check_at, e.job_id))
        if start is not None:
            found = [e for e in found if (e.next_check_at, e.job_id) > start]
        chunk = found[:size]
        return chunk, ((chunk[-1].next_check_at, chunk[-1].job_id) if len(found) > size else None)

    monkeypatch.setattr(due_checks, "due_checks", due)
    monkeypatch.setattr(due_checks, "due_page", page)
