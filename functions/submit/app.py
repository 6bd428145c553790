"""Our HTTP API for services: create jobs, read them, list tools (CONTRACT §1)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import secret_store
from pipeline.http import client_id_of, error_response, json_response, raw_body
from pipeline.logic import queries
from pipeline.logic.api_errors import ApiError
from pipeline.logic.idempotent_submission import submit_once
from pipeline.logic.job_view import to_resource
from pipeline.logic.submission import parse_submission, refusal_error
from pipeline.magic_hour.client import MagicHourClient
from pipeline.observability import logger, metrics, tracer
from pipeline.settings import get_settings

app = APIGatewayRestResolver()
settings = get_settings()
magic_hour = MagicHourClient(
    settings.magic_hour_base_url,
    secret_store.magic_hour_api_key,
    timeout=(settings.magic_hour_connect_timeout_seconds, settings.magic_hour_read_timeout_seconds),
)


@app.post("/v1/jobs")
@tracer.capture_method
def create_job() -> Response[str]:
    event = app.current_event
    client_id = client_id_of(event)
    submission = parse_submission(
        client_id,
        raw_body(event),
        event.headers.get("idempotency-key"),
        settings.require_https_callbacks,
    )
    job = submit_once(submission, magic_hour, app.lambda_context)
    refused = refusal_error(job)
    if refused is not None:
        raise refused
    return json_response(202, to_resource(job), headers={"Location": f"/v1/jobs/{job.job_id}"})


@app.get("/v1/jobs/<job_id>")
@tracer.capture_method
def get_job(job_id: str) -> Response[str]:
    return json_response(200, queries.get_job(client_id_of(app.current_event), job_id))


@app.get("/v1/jobs")
@tracer.capture_method
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


@app.get("/v1/tools")
def list_tools() -> Response[str]:
    return json_response(200, queries.list_tools())


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response[str]:
    if error.status >= 500:
        logger.warning("request failed", extra={"code": error.code, "status": error.status})
    return error_response(error)


@app.not_found
def handle_not_found(_: Exception) -> Response[str]:
    return error_response(ApiError(404, "not_found", "no such route"))


@app.exception_handler(Exception)
def handle_unexpected(_: Exception) -> Response[str]:
    # Our own fault (a dependency down, a bug): logged with its trace, answered without one.
    logger.exception("unhandled error")
    metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
    return error_response(
        ApiError(
            503,
            "service_unavailable",
            "the service could not complete the request; retry shortly",
            headers={"Retry-After": "2"},
        )
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
