"""Our HTTP API's writes: create and cancel jobs and batches, uploads, the callback secret's
rotation (docs/api.md). The reads are the query function's (functions/query/app.py)."""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time
# to describe the API (scripts/export_openapi.py).
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.callbacks import callback_secrets
from pipeline.http import (
    client_id_of,
    install_error_handlers,
    json_response,
    raw_body,
    unexpected_response,
)
from pipeline.jobs import batch_view
from pipeline.jobs.job_view import to_resource
from pipeline.models.api import BatchResource, CallbackSecret, JobResource, UploadResource
from pipeline.platform.observability import UNHANDLED_ERRORS, emit, logger, tracer
from pipeline.platform.settings import get_settings
from pipeline.submit.route_docs import answers

if TYPE_CHECKING:
    from pipeline.magic_hour.client import MagicHourClient

app = APIGatewayRestResolver()
settings = get_settings()
# What a batch's writing leaves of the function's time: a chunk of jobs and the answer.
_BATCH_RESERVE_MS = 8000


@cache
def _magic_hour() -> "MagicHourClient":
    from pipeline.magic_hour.client import client_from_settings

    return client_from_settings()


@app.post(
    "/v1/jobs",
    summary="Create a job",
    description=(
        "Validates the job and the tool's input, records it, creates the Magic Hour project. "
        "Optional header Idempotency-Key (1..255 printable ASCII): the same key and body return the "
        "same job and never create a second project, for as long as the job is kept (90 days by default). "
        "Request body: CreateJobRequest."
    ),
    tags=["jobs"],
    responses=answers(202, JobResource, "The job", 400, 402, 403, 409, 413, 422, 502, 503),
)
@tracer.capture_method(capture_response=False)  # job resources carry presigned URLs
def create_job() -> Response[str]:
    # The create path (tool catalogue and input schemas, the state machine's moves, the Magic Hour
    # client) is loaded by the first create: a container that only answered cancels, uploads or a
    # secret's rotation never paid for it at cold start (`make bench`, "cold start").
    from pipeline.submit.idempotency import submit_once
    from pipeline.submit.submission import refusal_error
    from pipeline.submit.validation import parse_submission

    event = app.current_event
    client_id = client_id_of(event)
    submission = parse_submission(
        client_id,
        raw_body(event),
        event.headers.get("idempotency-key"),
        settings.require_https_callbacks,
    )
    job = submit_once(submission, _magic_hour())
    refused = refusal_error(job)
    if refused is not None:
        raise refused
    return json_response(202, to_resource(job), headers={"Location": f"/v1/jobs/{job.job_id}"})


@app.post(
    "/v1/jobs/<job_id>/cancel",
    summary="Cancel a job not yet sent to Magic Hour",
    description=(
        "A waiting job ends canceled (error.code canceled_by_client, source submit) at no cost. A job "
        "already sent to Magic Hour runs to its end (Magic Hour has no cancellation API): 409 "
        "not_cancelable, as for an ended job, except that repeating the cancel that ended it answers 202."
    ),
    tags=["jobs"],
    responses=answers(202, JobResource, "The canceled job", 404, 409, 503),
)
@tracer.capture_method(capture_response=False)
def cancel_job(job_id: str) -> Response[str]:
    from pipeline.submit.cancel import cancel_job as cancel  # the move's modules, as for a create

    job = cancel(client_id_of(app.current_event), job_id)
    return json_response(202, to_resource(job))


@app.post(
    "/v1/batches",
    summary="Create a batch of jobs",
    description=(
        "Request body: {jobs: [1..500 job envelopes, each with a custom_id], callback_url?, metadata?}, "
        "or {manifest: s3://... (a jsonl upload of yours, up to 10,000 lines), callback_url?, metadata?}. "
        "Every job is validated before anything is written (422 with loc [body, jobs, i, ...], or for a "
        "manifest [body, manifest, line, ...] with line, custom_id and code); the "
        "batch's estimate is checked against the daily budget as a whole (402). Optional header "
        "Idempotency-Key as for jobs. The jobs wait in the fair queue as any job."
    ),
    tags=["batches"],
    responses=answers(202, BatchResource, "The batch", 400, 402, 409, 413, 422, 503),
)
@tracer.capture_method
def create_batch() -> Response[str]:
    from pipeline.submit import batches, manifest

    event = app.current_event
    batch = manifest.parse_batch(
        client_id_of(event),
        raw_body(event),
        event.headers.get("idempotency-key"),
        settings.require_https_callbacks,
    )
    # Jobs are written while a chunk of them still fits before API Gateway's 29 s; the rest by a
    # retry with the same key or the sweep (the batch answers `validating` until then).
    context = app.lambda_context
    item = batches.create_batch(batch, lambda: context.get_remaining_time_in_millis() > _BATCH_RESERVE_MS)
    headers = {"Location": f"/v1/batches/{item['batch_id']}"}
    return json_response(202, batch_view.to_resource(item), headers=headers)


@app.post(
    "/v1/batches/<batch_id>/cancel",
    summary="Cancel every job of a batch not yet sent to Magic Hour",
    description=(
        "Every job still waiting ends canceled (canceled_by_client); jobs already at Magic Hour run "
        "to their end, and the batch then ends canceled. 202 with the batch while it has not ended "
        "(repeating it is harmless), 409 not_cancelable once it has."
    ),
    tags=["batches"],
    responses=answers(202, BatchResource, "The batch", 404, 409, 503),
)
@tracer.capture_method(capture_response=False)  # results_url is a presigned URL
def cancel_batch(batch_id: str) -> Response[str]:
    from pipeline.submit import batches

    item = batches.cancel_batch(client_id_of(app.current_event), batch_id)
    return json_response(202, batch_view.with_results_url(item))


@app.post(
    "/v1/uploads",
    summary="Upload an input file",
    description=(
        'Body: CreateUploadRequest ({"extension": "mp4"}, optional content_type and size_bytes). PUT '
        "the file's bytes to upload_url (with upload_headers) before expires_at, then use file_path "
        "(s3://...) in any *_file_path field of a job's input. Only this client can use it. With "
        "size_bytes the URL takes exactly that many bytes; without it, a job naming an upload over "
        "the deployment's limit is refused (422). Each upload counts against a daily quota (429)."
    ),
    tags=["uploads"],
    responses=answers(
        201, UploadResource, "Where to PUT the file, and its file_path", 400, 413, 422, 429, 503
    ),
)
@tracer.capture_method(capture_response=False)  # the answer carries a presigned URL
def create_upload() -> Response[str]:
    from pipeline.submit import uploads  # as the create path: loaded by the first POST that needs it

    event = app.current_event
    client_id = client_id_of(event)
    request = uploads.parse_upload_request(raw_body(event))
    return json_response(201, uploads.create_upload(client_id, request))


@app.post(
    "/v1/callback-secret/rotate",
    summary="Rotate your callback signing secret",
    description=(
        "Makes a new secret and answers it. For 24 h callbacks carry two signatures (the previous "
        "and the new secret), so receivers can switch without losing a delivery."
    ),
    tags=["callbacks"],
    responses=answers(200, CallbackSecret, "Your new callback signing secret", 503),
)
@tracer.capture_method(capture_response=False)  # a secret never goes into a trace
def rotate_callback_secret() -> Response[str]:
    secret = callback_secrets.rotate(client_id_of(app.current_event))
    logger.info("callback secret rotated")
    return json_response(200, CallbackSecret(secret=secret), headers={"Cache-Control": "no-store"})


def handle_unexpected(_: Exception) -> Response[str]:
    # Our own fault (a dependency down, a bug): logged with its trace, answered without one.
    logger.exception("unhandled error")
    emit(UNHANDLED_ERRORS)
    return unexpected_response()


install_error_handlers(app, handle_unexpected)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
# Answers carry presigned URLs and callback secrets: never captured into traces.
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
