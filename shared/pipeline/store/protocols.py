"""The seams of the store that the logic calls and the unit tests' fakes stand in for.

`JobStore` is the part of the jobs table (store/jobs.py) the logic moves jobs with; tests/fakes.py
replaces exactly these functions, and `make lint` has mypy hold both to this protocol (the module,
as a protocol's implementation, below; the fake in tests/fakes.py). Change a signature here, in
the store and in the fake together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus

if TYPE_CHECKING:
    from pipeline.store.job_reads import WaitingEntry


class JobStore(Protocol):
    def put_new_job(self, job: Job, next_check_at: int | None) -> bool: ...

    def end_submit_claim(self, job_id: str) -> None: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def find_job_by_project(self, project_id: str) -> Job | None: ...

    def waiting_jobs(self, limit: int) -> list[WaitingEntry]: ...

    def transition(
        self,
        job: Job,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        keeping: Bookkeeping,
        sets: dict[str, Any] | None = None,
    ) -> Job | None: ...

    def fail(
        self,
        job: Job,
        error: JobError,
        allowed_from: Iterable[JobStatus],
        keeping: Bookkeeping,
        sets: dict[str, Any] | None = None,
    ) -> Job | None: ...

    def attach_project(
        self, job: Job, project_id: str, credits_charged: int | None, keeping: Bookkeeping
    ) -> Job | None: ...

    def claim_for_create(self, job: Job, slot: int, keeping: Bookkeeping) -> Job | None: ...

    def take_open_slot(self, job: Job, slot: int) -> Job | None: ...

    def claim_late_project(
        self, job: Job, project_id: str, credits_charged: int | None, output_count: int
    ) -> Job | None: ...

    def mark_downloads_queued(self, job_id: str) -> None: ...

    def release_queueing(self, job_id: str) -> None: ...

    def claim_queueing(self, job_id: str, lease_seconds: int) -> bool: ...

    def postpone_check(self, job_id: str, next_check_at: int, checks: int) -> None: ...

    def mark_callback_queued(self, job_id: str) -> None: ...

    def record_callback_attempt(
        self, job_id: str, outcome: str, error: str | None, keeping: Bookkeeping
    ) -> Job | None: ...

    def delete_submitting_job(self, job: Job) -> None: ...

    def mark_create_unknown(self, job_id: str) -> Job | None: ...

    def note_download_attempt(self, job_id: str, at: int) -> None: ...


# The protocol's names: what tests/fakes.py replaces in the store module, no more, no fewer.
JOB_STORE_FUNCTIONS = tuple(name for name in vars(JobStore) if not name.startswith("_"))

if TYPE_CHECKING:
    from pipeline.store import jobs as _jobs

    # mypy holds the module itself to the protocol (a module can implement one).
    _store_conforms: JobStore = _jobs
