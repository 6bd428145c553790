"""`Idempotency-Key` handling with Powertools idempotency (DynamoDB persistence).

Powertools gives replay of the first answer, `409` for a different body under the same key
(payload validation) and mutual exclusion of concurrent duplicates. Under it, the job id is derived
from (client, key), so even a re-execution after the first attempt crashed midway finds the job it
made and never calls Magic Hour a second time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import ids
from pipeline.dal import jobs as job_store
from pipeline.logic import errors
from pipeline.logic.submission import Submission, submit
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.job import Job
from pipeline.settings import get_settings

# A concurrent duplicate waits this long for the first request to finish, then answers with the
# job as it stands.
IN_PROGRESS_WAIT_SECONDS = 8.0
_POLL_SECONDS = 0.1


@lru_cache(maxsize=1)
def _idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[client_id, idempotency_key]",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
        raise_on_no_idempotency_key=True,
    )


@lru_cache(maxsize=1)
def _recorded_submit() -> Callable[..., dict[str, Any]]:
    def submit_recorded(
        submission: Submission, magic_hour: MagicHourClient, idempotency_data: dict[str, Any]
    ) -> dict[str, Any]:
        job_id = ids.job_id_for_idempotency_key(submission.client_id, idempotency_data["idempotency_key"])
        return {"job_id": submit(submission, job_id, magic_hour).job_id}

    persistence = DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table_name)
    return idempotent_function(  # type: ignore[no-any-return]
        submit_recorded,
        data_keyword_argument="idempotency_data",
        persistence_store=persistence,
        config=_idempotency_config(),
    )


def submit_once(submission: Submission, magic_hour: MagicHourClient, context: LambdaContext | None) -> Job:
    if submission.idempotency_key is None:
        return submit(submission, ids.new_job_id(), magic_hour)
    if context is not None:
        # Lets Powertools expire an in-progress record when this invocation times out.
        _idempotency_config().register_lambda_context(context)
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    job_id = ids.job_id_for_idempotency_key(submission.client_id, submission.idempotency_key)
    while True:
        try:
            result = _recorded_submit()(
                submission, magic_hour, idempotency_data=submission.as_idempotency_data()
            )
            job_id = result["job_id"]
            break
        except IdempotencyValidationError as exc:
            raise errors.IdempotencyConflict() from exc
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
    job = job_store.get_job(job_id)
    if job is None:
        raise errors.DependencyUnavailable("an identical request is still being processed; retry shortly")
    if job.request_fingerprint != submission.fingerprint:
        raise errors.IdempotencyConflict()
    return job
