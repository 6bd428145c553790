"""The Magic Hour surface: /v1 routes plus the upload and download URLs the simulator hands out."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, cast

from flask import Flask, Response, request

from local.simulator.downloads import serve_download
from local.simulator.ids import iso_timestamp, new_cuid
from local.simulator.responses import json_error, json_response
from local.simulator.runtime import Runtime
from local.simulator.schema import ValidationFailed, compile_schema, require_finite_numbers, validate
from local.simulator.tools import Unprocessable
from local.simulator.views import FILES_PREFIX, UPLOADS_PREFIX, api_project, create_answer

_COLLECTIONS = {"video-projects": "video", "image-projects": "image", "audio-projects": "audio"}

_FORCED_MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "Unauthorized",
    402: "Insufficient credits. Please upgrade your plan or purchase more credits.",
    # Magic Hour's quick-start, word for word: a per-job refusal, not a bad key (that is 401).
    403: "Your key is valid but the model, resolution, or feature is not available on your plan",
    422: "Unable to create {kind}",
    429: "Too many requests. Please slow down and try again later.",
    500: "Internal server error",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service temporarily unavailable. Please try again later.",
    504: "Gateway timeout",
}
# Magic Hour's CDN answers these itself, with an HTML page (not Magic Hour's JSON error body),
# after the origin received the request: 520 the origin's answer was unusable, 524 it was too slow.
_CDN_PAGES: dict[int, str] = {
    520: "<html><body><h1>520: Web server is returning an unknown error</h1></body></html>",
    524: "<html><body><h1>524: A timeout occurred</h1></body></html>",
}
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_RETRY_AFTER_SECONDS = "1"
# The forced statuses create_commits applies to: those a proxy could answer after Magic Hour acted.
_COMMITTING_STATUSES = frozenset({500, 501, 502, 503, 504, 520, 524})
_PLAN_FULL_MESSAGE = (
    "You have reached the maximum number of concurrent jobs for your plan. "
    "Please wait for a job to finish and try again."
)

_UPLOAD_REQUEST = compile_schema(
    {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["type", "extension"],
                    "properties": {
                        "type": {"type": "string", "enum": ["video", "audio", "image"]},
                        "extension": {"type": "string", "pattern": "^[a-z0-9]+$"},
                    },
                },
            }
        },
    }
)


def parse_json_body() -> Any:
    """The request's JSON, or ValidationFailed with Magic Hour's wording."""
    raw = request.get_data()
    if not raw.strip():
        raise ValidationFailed("Missing request body")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack, which is no body Magic Hour takes.
        raise ValidationFailed("Invalid JSON body") from exc
    require_finite_numbers(body)
    return body


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not JSON")


def _forced_error(status: int, kind: str) -> Response:
    if status in _CDN_PAGES:
        return Response(_CDN_PAGES[status], status=status, mimetype="text/html")
    headers = {"Retry-After": _RETRY_AFTER_SECONDS} if status in _RETRY_AFTER_STATUSES else {}
    return json_error(status, _FORCED_MESSAGES[status].format(kind=kind), headers)


def is_authorized(header: str | None, api_key: str) -> bool:
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def register(app: Flask, rt: Runtime) -> None:
    store = rt.store

    @app.before_request
    def require_bearer() -> Response | None:
        # Only the Magic Hour API is authenticated; control routes and signed URLs are not.
        is_api = request.path == "/v1" or request.path.startswith("/v1/")
        if is_api and not is_authorized(request.headers.get("Authorization"), rt.config.api_key):
            return json_error(401, "Unauthorized")
        return None

    @app.post("/v1/<tool_name>")
    def create_project(tool_name: str) -> Response:
        tool = rt.catalogue.get(tool_name)
        if tool is None:
            return json_error(404, "Not Found")
        store.count("creates")
        try:
            body = parse_json_body()
            rt.catalogue.validate(tool, body)
        except ValidationFailed as exc:
            return json_error(400, str(exc))
        with store.lock:
            scenario = store.scenario
        try:
            project = rt.lifecycle.plan(tool, cast(dict[str, Any], body), scenario)
        except Unprocessable:
            return json_error(422, _FORCED_MESSAGES[422].format(kind=tool.kind))
        if scenario.create_delay_seconds > 0:
            time.sleep(scenario.create_delay_seconds)
        status = scenario.create_status
        commits = status == 200 or (scenario.create_commits and status in _COMMITTING_STATUSES)
        if not commits:
            # A refused create leaves no project behind, like Magic Hour's 4xx and pre-id 5xx.
            return _forced_error(status, tool.kind)
        if not rt.lifecycle.start(project):
            return json_error(429, _PLAN_FULL_MESSAGE, {"Retry-After": _RETRY_AFTER_SECONDS})
        if status != 200:
            # create_commits: Magic Hour committed the project, but the answer is lost on the way.
            return _forced_error(status, tool.kind)
        return json_response(create_answer(project))

    @app.route("/v1/<collection>/<project_id>", methods=["GET", "DELETE"])
    def project_resource(collection: str, project_id: str) -> Response:
        kind = _COLLECTIONS.get(collection)
        if kind is None:
            return json_error(404, "Not Found")
        store.count("deletes" if request.method == "DELETE" else "gets")
        with store.lock:
            project = store.projects.get(project_id)
            if project is None or project.kind != kind or project.deleted:
                return json_error(404, "Not Found")
            if request.method == "DELETE":
                project.deleted = True
                project.updated_at = time.time()
                store.refresh_active(project)
                return Response(status=204)
            body = api_project(project, rt.urls)
        return json_response(body)

    @app.post("/v1/files/upload-urls")
    def upload_urls() -> Response:
        try:
            body = parse_json_body()
            validate(_UPLOAD_REQUEST, body)
        except ValidationFailed as exc:
            return json_error(400, str(exc))
        with store.lock:
            forced = store.scenario.upload_url_status
        if forced != 200:
            return _forced_error(forced, "file")
        now = time.time()
        items = []
        for item in body["items"]:
            file_path = f"api-assets/{new_cuid()}/{item['type']}.{item['extension']}"
            url, expires_at = rt.urls.signed(
                f"{UPLOADS_PREFIX}/{file_path}", rt.config.upload_url_expire_seconds, now
            )
            items.append({"upload_url": url, "expires_at": iso_timestamp(expires_at), "file_path": file_path})
        return json_response({"items": items})

    @app.route("/v1/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @app.route("/v1/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown_v1(rest: str) -> Response:  # noqa: ARG001 - the route needs the parameter
        return json_error(404, "Not Found")

    @app.put(f"{UPLOADS_PREFIX}/<path:file_path>")
    def put_upload(file_path: str) -> Response:
        refusal = rt.urls.check(request.path, request.args, time.time())
        if refusal is not None:
            return json_error(403, refusal)
        store.put_upload(file_path, request.get_data())
        return Response(status=200)

    @app.get(f"{UPLOADS_PREFIX}/<path:file_path>")
    def get_upload(file_path: str) -> Response:
        # Not part of Magic Hour; lets a developer check what the pipeline uploaded.
        with store.lock:
            upload = store.uploads.get(file_path)
        if upload is None:
            return json_error(404, "Not Found")
        return Response(upload.data, mimetype="application/octet-stream")

    @app.get(f"{FILES_PREFIX}/<project_id>/<int:index>/<filename>")
    def download(project_id: str, index: int, filename: str) -> Response:
        return serve_download(store, rt.urls, request, project_id, index, filename)
