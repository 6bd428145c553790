"""Our HTTP API's reads: jobs, batches, tools, usage, the callback secret (docs/api.md).

A function of its own, with its own reserved concurrency (QueryMaxConcurrency), so a client's
status polls never queue behind another client's creates waiting on Magic Hour in the submit
function; and a role that can read and nothing else.
"""

# No `from __future__ import annotations` here: Powertools reads the route signatures at run time
# to describe the API (scripts/export_openapi.py).
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.callbacks import callback_secrets
from pipeline.http import client_id_of, install_error_handlers, json_response, unexpected_response
from pipeline.jobs import batch_view
from pipeline.models.api import (
    BatchList,
    BatchResource,
    CallbackSecret,
    JobList,
    JobResource,
    ToolList,
    UsageReport,
)
from pipeline.platform.observability import UNHANDLED_ERRORS, emit, logger, tracer
from pipeline.submit import queries
from pipeline.submit.route_docs import answers

app = APIGatewayRestResolver()


@app.get(
    "/v1/jobs/<job_id>",
    summary="Get a job",
    tags=["jobs"],
    responses=answers(200, JobResource, "The job, with presigned download URLs once stored", 404),
)
@tracer.capture_method(capture_response=False)  # presigned URLs stay out of traces
def get_job(job_id: str) -> Response[str]:
    return json_response(200, queries.get_job(client_id_of(app.current_event), job_id))


@app.get(
    "/v1/jobs",
    summary="List jobs",
    description="Query: status (optional), limit 1..100 (default 20), cursor (next_cursor of the last page).",
    tags=["jobs"],
    responses=answers(200, JobList, "The client's jobs, newest first", 400, 422),
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
    "/v1/batches",
    summary="List batches",
    description=(
        "The client's batches, newest first. Query: limit 1..100 (default 20), cursor (next_cursor "
        "of the last page)."
    ),
    tags=["batches"],
    responses=answers(200, BatchList, "The client's batches, newest first", 400, 422),
)
@tracer.capture_method
def list_batches() -> Response[str]:
    # The batches module holds the batch writes too (manifests, the create path's inputs): loaded
    # by the first batch read, so a container that only answers job polls never pays for it.
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
    responses=answers(200, BatchResource, "The batch, with its counts", 404),
)
@tracer.capture_method(capture_response=False)  # results_url is a presigned URL
def get_batch(batch_id: str) -> Response[str]:
    from pipeline.submit import batches

    item = batches.get_batch(client_id_of(app.current_event), batch_id)
    return json_response(200, batch_view.with_results_url(item))


@app.get(
    "/v1/batches/<batch_id>/jobs",
    summary="List a batch's jobs",
    description=(
        "The batch's jobs in the batch's order. Query: status (optional), limit 1..100 (default 20), "
        "cursor (next_cursor of the last page)."
    ),
    tags=["batches"],
    responses=answers(200, JobList, "The batch's jobs", 400, 404, 422),
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


@app.get(
    "/v1/tools",
    summary="List the Magic Hour tools this deployment accepts",
    tags=["tools"],
    responses=answers(200, ToolList, "Tools with their kind and required input fields"),
)
def list_tools() -> Response[str]:
    client_id_of(app.current_event)  # the same for everyone, but only a client's caller is served
    return json_response(200, queries.list_tools())


@app.get(
    "/v1/callback-secret",
    summary="Get your callback signing secret",
    description=(
        "The secret that signs your callbacks (Standard Webhooks, whsec_...). It is yours alone: "
        "no other client's secret verifies your callbacks."
    ),
    tags=["callbacks"],
    responses=answers(200, CallbackSecret, "Your current callback signing secret", 503),
)
@tracer.capture_method(capture_response=False)  # a secret never goes into a trace
def get_callback_secret() -> Response[str]:
    secret = callback_secrets.current_secret(client_id_of(app.current_event))
    return json_response(200, CallbackSecret(secret=secret), headers={"Cache-Control": "no-store"})


@app.get(
    "/v1/usage",
    summary="The client's spending for one UTC day",
    description=(
        "Query: day YYYY-MM-DD (default today, UTC). Credits charged and jobs that day (failed jobs "
        "excluded: Magic Hour refunds them), the client's daily credit budget (null when none), and "
        "the upload URLs minted that day."
    ),
    tags=["usage"],
    responses=answers(200, UsageReport, "Usage of the day", 422),
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
