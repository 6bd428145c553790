"""The jobs table: one item per job, moved forward by conditional writes only.

Every transition names the statuses it may start from, so a duplicate or late event can never move
a job backwards: DynamoDB refuses the write and the caller learns nothing changed.

This module is the table's one name for the rest of the code (`from pipeline.store import jobs as
job_store`, and what tests/fakes.py replaces); the code lives by seam:
- job_items.py: the item a job is stored as, its indexes, its size limit;
- job_reads.py: one job, the fair queue's head, a client's pages, the sweep's due jobs;
- job_moves.py: the first write and the status moves, with their slot, batch and usage parts
  (the transaction shapes in job_transactions.py);
- job_marks.py: the small writes beside the moves (downloads, outputs, callbacks, the schedule).
"""

from __future__ import annotations

# Re-exported: submit/queries.py catches it as job_store.InvalidCursor.
from pipeline.store.cursor import InvalidCursor as InvalidCursor
from pipeline.store.job_items import ACTIVE as ACTIVE
from pipeline.store.job_items import ACTIVE_INDEX as ACTIVE_INDEX
from pipeline.store.job_items import JobTooLarge as JobTooLarge
from pipeline.store.job_items import check_storable as check_storable
from pipeline.store.job_marks import claim_queueing as claim_queueing
from pipeline.store.job_marks import end_submit_claim as end_submit_claim
from pipeline.store.job_marks import mark_callback_queued as mark_callback_queued
from pipeline.store.job_marks import mark_create_unknown as mark_create_unknown
from pipeline.store.job_marks import mark_downloads_queued as mark_downloads_queued
from pipeline.store.job_marks import note_download_attempt as note_download_attempt
from pipeline.store.job_marks import postpone_check as postpone_check
from pipeline.store.job_marks import record_callback_attempt as record_callback_attempt
from pipeline.store.job_marks import record_late_output as record_late_output
from pipeline.store.job_marks import record_output as record_output
from pipeline.store.job_marks import release_queueing as release_queueing
from pipeline.store.job_marks import schedule_check as schedule_check
from pipeline.store.job_moves import attach_project as attach_project
from pipeline.store.job_moves import claim_for_create as claim_for_create
from pipeline.store.job_moves import claim_late_project as claim_late_project
from pipeline.store.job_moves import delete_submitting_job as delete_submitting_job
from pipeline.store.job_moves import fail as fail
from pipeline.store.job_moves import put_new_job as put_new_job
from pipeline.store.job_moves import take_open_slot as take_open_slot
from pipeline.store.job_moves import transition as transition
from pipeline.store.job_reads import BATCH_GET_KEYS as BATCH_GET_KEYS
from pipeline.store.job_reads import JobPage as JobPage
from pipeline.store.job_reads import WaitingEntry as WaitingEntry
from pipeline.store.job_reads import due_for_check as due_for_check
from pipeline.store.job_reads import find_job_by_project as find_job_by_project
from pipeline.store.job_reads import get_job as get_job
from pipeline.store.job_reads import get_jobs as get_jobs
from pipeline.store.job_reads import list_jobs as list_jobs
from pipeline.store.job_reads import waiting_jobs as waiting_jobs
