"""Our HTTP API for services: create jobs, read them, list tools (docs/api.md)."""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time
# to describe the API (scripts/export_openapi.py).
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

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
from pipeline.models.api import (
    BatchList,
    BatchResource,
    CallbackSecret,
    ErrorBody,
    JobList,
    JobResource,
    ToolList,
    UploadResource,
    UsageReport,
)
from pipeline.platform.observability import UNHANDLED_ERRORS, emit, logger, tracer
from pipeline.platform.settings import get_settings
from pipeline.submit import queries

if TYPE_CHECKING:
    from pipeline.magic_hour.client import MagicHourClient

app = APIGatewayRestResolver()
settings = get_settings()


@cache
def _magic_hour() -> "MagicHourClient":
    from pipeline.magic_hour.client import client_from_settings

    return client_from_settings()


def _answers(ok: int, model: type[BaseModel], description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route (the committed openapi.json is generated from these)."""
    answers: dict[int, OpenAPIResponse] = {
        ok: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for status in (401, 403, *errors):
        answers[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return answers


ERROR_DESCRIPTIONS = {
    400: "invalid_json, unknown_tool or invalid_cursor",
    401: "unauthorized: missing or unknown API key",
    402: "insufficient_credits (Magic Hour answered 402) or budget_exceeded (daily credit budget spent)",
    403: (
        "forbidden: a SigV4 signer mapped to no client, or an API key and a signature of different "
        "clients; POST /v1/jobs also plan_restricted: Magic Hour answered 403 (the model, resolution "
        "or feature is not on the plan)"
    ),
    404: "not_found: no such job for this client",
    409: (
        "idempotency_conflict: same Idempotency-Key, different body; idempotency_in_progress: the "
        "first request with this key is still being processed (Retry-After set); not_cancelable: "
        "the job was sent to Magic Hour or has ended"
    ),
    413: "payload_too_large: body over 256 KB",
    422: "validation_failed (details point at the field) or upstream_rejected",
    502: "upstream_misconfigured: Magic Hour rejected our API key",
    503: "service_unavailable: our own dependency failed; retry (Retry-After set)",
}


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
    responses=_answers(202, JobResource, "The job", 400, 402, 403, 409, 413, 422, 502, 503),
)
@tracer.capture_method(capture_response=False)  # job resources carry presigned URLs
def create_job() -> Response[str]:
    # The create path (tool catalogue and input schemas, the state machine's moves, the Magic Hour
    # client) is loaded by the first POST: a container that only answers reads, as most do (status
    # polls), never pays for it at cold start (`make bench`, "cold start").
    from pipeline.submit.idempotency import submit_once
    from pipeline.submit.submission import parse_submission, refusal_error

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


@app.get(
    "/v1/jobs/<job_id>",
    summary="Get a job",
    tags=["jobs"],
    responses=_answers(200, JobResource, "The job, with presigned download URLs once stored", 404),
)
@tracer.capture_method(capture_response=False)  # presigned URLs stay out of traces
def get_job(job_id: str) -> Response[str]:
    return json_response(200, queries.get_job(client_id_of(app.current_event), job_id))


@app.post(
    "/v1/jobs/<job_id>/cancel",
    summary="Cancel a job not yet sent to Magic Hour",
    description=(
        "A waiting job ends canceled (error.code canceled_by_client, source submit) at no cost. A job "
        "already sent to Magic Hour runs to its end (Magic Hour has no cancellation API): 409 "
        "not_cancelable, as for an ended job, except that repeating the cancel that ended it answers 202."
    ),
    tags=["jobs"],
    responses=_answers(202, JobResource, "The canceled job", 404, 409, 503),
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
        "Request body: {jobs: [1..500 job envelopes, each with a custom_id], callback_url?, metadata?}. "
        "Every job is validated before anything is written (422 with loc [body, jobs, i, ...]); the "
        "batch's estimate is checked against the daily budget as a whole (402). Optional header "
        "Idempotency-Key as for jobs. The jobs wait in the fair queue as any job."
    ),
    tags=["batches"],
    responses=_answers(202, BatchResource, "The batch", 400, 402, 409, 413, 422, 503),
)
@tracer.capture_method
def create_batch() -> Response[str]:
    from pipeline.submit import batches
    from pipeline.submit.batch_request import parse_inline_batch

    event = app.current_event
    batch = parse_inline_batch(
        client_id_of(event),
        raw_body(event),
        event.headers.get("idempotency-key"),
        settings.require_https_callbacks,
    )
    item = batches.create_batch(batch)
    headers = {"Location": f"/v1/batches/{item['batch_id']}"}
    return json_response(202, batch_view.to_resource(item), headers=headers)


@app.get(
    "/v1/batches",
    summary="List batches",
    description=(
        "The client's batches, newest first. Query: limit 1..100 (default 20), cursor (next_cursor "
        "of the last page)."
    ),
    tags=["batches"],
    responses=_answers(200, BatchList, "The client's batches, newest first", 400, 422),
)
@tracer.capture_method
def list_batches() -> Response[str]:
    from pipeline.submit import batches

    event = app.current_event
    return json_response(
        200,
        batches.list_batches(
            client_id_of(event),
            event.get_query_string_value("limit"),
            event.get_query_string_value("cursor"),
        ),
    )


@app.get(
    "/v1/batches/<batch_id>",
    summary="Get a batch",
    tags=["batches"],
    responses=_answers(200, BatchResource, "The batch, with its counts", 404),
)
@tracer.capture_method
def get_batch(batch_id: str) -> Response[str]:
    from pipeline.submit import batches

    item = batches.get_batch(client_id_of(app.current_event), batch_id)
    return json_response(200, batch_view.to_resource(item))


@app.get(
    "/v1/batches/<batch_id>/jobs",
    summary="List a batch's jobs",
    description=(
        "The batch's jobs in the batch's order. Query: status (optional), limit 1..100 (default 20), "
        "cursor (next_cursor of the last page)."
    ),
    tags=["batches"],
    responses=_answers(200, JobList, "The batch's jobs", 400, 404, 422),
)
@tracer.capture_method(capture_response=False)  # presigned URLs stay out of traces
def list_batch_jobs(batch_id: str) -> Response[str]:
    from pipeline.submit import batches

    event = app.current_event
    return json_response(
        200,
        batches.list_batch_jobs(
            client_id_of(event),
            batch_id,
            event.get_query_string_value("status"),
            event.get_query_string_value("limit"),
            event.get_query_string_value("cursor"),
        ),
    )


@app.post(
    "/v1/batches/<batch_id>/cancel",
    summary="Cancel every job of a batch not yet sent to Magic Hour",
    description=(
        "Every job still waiting ends canceled (canceled_by_client); jobs already at Magic Hour run "
        "to their end, and the batch then ends canceled. 202 with the batch while it has not ended "
        "(repeating it is harmless), 409 not_cancelable once it has."
    ),
    tags=["batches"],
    responses=_answers(202, BatchResource, "The batch", 404, 409, 503),
)
@tracer.capture_method
def cancel_batch(batch_id: str) -> Response[str]:
    from pipeline.submit import batches

    item = batches.cancel_batch(client_id_of(app.current_event), batch_id)
    return json_response(202, batch_view.to_resource(item))


@app.get(
    "/v1/jobs",
    summary="List jobs",
    description="Query: status (optional), limit 1..100 (default 20), cursor (next_cursor of the last page).",
    tags=["jobs"],
    responses=_answers(200, JobList, "The client's jobs, newest first", 400, 422),
)
@tracer.capture_method(capture_response=False)  # presigned URLs stay out of traces
def list_jobs() -> Response[str]:
    event = app.current_event
    return json_response(
        200,
        queries.list_jobs(
            client_id_of(event),
            event.get_query_string_value("status"),
            event.get_query_string_value("limit"),
            event.get_query_string_value("cursor"),
        ),
    )


@app.get(
    "/v1/tools",
    summary="List the Magic Hour tools this deployment accepts",
    tags=["tools"],
    responses=_answers(200, ToolList, "Tools with their kind and required input fields"),
)
def list_tools() -> Response[str]:
    client_id_of(app.current_event)  # the same for everyone, but only a client's caller is served
    return json_response(200, queries.list_tools())


@app.post(
    "/v1/uploads",
    summary="Upload an input file",
    description=(
        'Body: CreateUploadRequest ({"extension": "mp4"}, optional content_type). PUT the file\'s '
        "bytes to upload_url (with upload_headers) before expires_at, then use file_path (s3://...) "
        "in any *_file_path field of a job's input. Only this client can use it."
    ),
    tags=["uploads"],
    responses=_answers(201, UploadResource, "Where to PUT the file, and its file_path", 400, 413, 422, 503),
)
@tracer.capture_method(capture_response=False)  # the answer carries a presigned URL
def create_upload() -> Response[str]:
    from pipeline.submit import uploads  # as the create path: loaded by the first POST that needs it

    event = app.current_event
    client_id = client_id_of(event)
    request = uploads.parse_upload_request(raw_body(event))
    return json_response(201, uploads.create_upload(client_id, request))


@app.get(
    "/v1/callback-secret",
    summary="Get your callback signing secret",
    description=(
        "The secret that signs your callbacks (Standard Webhooks, whsec_...). It is yours alone: "
        "no other client's secret verifies your callbacks."
    ),
    tags=["callbacks"],
    responses=_answers(200, CallbackSecret, "Your current callback signing secret", 503),
)
@tracer.capture_method(capture_response=False)  # a secret never goes into a trace
def get_callback_secret() -> Response[str]:
    secret = callback_secrets.current_secret(client_id_of(app.current_event))
    return json_response(200, CallbackSecret(secret=secret), headers={"Cache-Control": "no-store"})


@app.post(
    "/v1/callback-secret/rotate",
    summary="Rotate your callback signing secret",
    description=(
        "Makes a new secret and answers it. For 24 h callbacks carry two signatures (the previous "
        "and the new secret), so receivers can switch without losing a delivery."
    ),
    tags=["callbacks"],
    responses=_answers(200, CallbackSecret, "Your new callback signing secret", 503),
)
@tracer.capture_method(capture_response=False)  # a secret never goes into a trace
def rotate_callback_secret() -> Response[str]:
    secret = callback_secrets.rotate(client_id_of(app.current_event))
    logger.info("callback secret rotated")
    return json_response(200, CallbackSecret(secret=secret), headers={"Cache-Control": "no-store"})


@app.get(
    "/v1/usage",
    summary="The client's spending for one UTC day",
    description=(
        "Query: day YYYY-MM-DD (default today, UTC). Credits charged and jobs that day (failed jobs "
        "excluded: Magic Hour refunds them), and the client's daily credit budget (null when none)."
    ),
    tags=["usage"],
    responses=_answers(200, UsageReport, "Usage of the day", 422),
)
@tracer.capture_method
def get_usage() -> Response[str]:
    event = app.current_event
    return json_response(200, queries.usage_report(client_id_of(event), event.get_query_string_value("day")))


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
