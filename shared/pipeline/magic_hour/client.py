"""Magic Hour over urllib3, with explicit timeouts, no redirects and no automatic retries (a retried
create could charge twice; retrying is the caller's decision).

urllib3 rather than `requests`: botocore already loads it, so every function that talks to Magic
Hour starts ~20 ms sooner, and its exceptions say plainly whether a connection was ever made."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeGuard

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, LocationValueError, ReadTimeoutError

from pipeline.magic_hour.credits import storable_credits
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourKeyUnavailable,
    MagicHourNotFound,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourPlanRestricted,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.magic_hour.outcomes import Answer, answer_of
from pipeline.models.job import Kind

DEFAULT_RETRY_AFTER_SECONDS = 5
# An input file streamed to Magic Hour's storage may be large; each read of the answer waits this long.
_UPLOAD_READ_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class CreatedProject:
    project_id: str
    credits_charged: int | None
    # Magic Hour answered a credits_charged we cannot store (negative, absurd, not a number): it is
    # recorded as unknown instead. The project is real and paid for; it is never dropped over this.
    credits_out_of_range: bool = False


@dataclass(frozen=True)
class Account:
    """GET /v1/account: what the account can still spend, and its plan's tier."""

    credits: int
    tier: str  # free | creator | pro | business (an unknown newer one is passed on as is)


@dataclass(frozen=True)
class UploadUrl:
    upload_url: str
    file_path: str


def new_pool(maxsize: int = 4) -> urllib3.PoolManager:
    # The CA bundle requests used (certifi), so trust does not depend on the runtime image.
    return urllib3.PoolManager(ca_certs=certifi.where(), retries=False, maxsize=maxsize)


class MagicHourClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        timeout: tuple[float, float],
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._http = http or new_pool()

    def create_project(self, tool: str, body: dict[str, Any]) -> CreatedProject:
        answer = self._call("POST", f"/v1/{tool}", json=body)
        project_id = answer.get("id")
        if not _is_project_id(project_id):
            # No id we can store and look up: whether a project exists is unknown (the webhook
            # still finds its job by name), never a reason to create again.
            raise MagicHourOutcomeUnknown("Magic Hour answered the create without a usable project id")
        credits, out_of_range = storable_credits(answer.get("credits_charged"))
        return CreatedProject(project_id, credits, out_of_range)

    def get_project(self, kind: Kind, project_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/{kind}-projects/{project_id}")

    def get_account(self) -> Account:
        answer = self._call("GET", "/v1/account")
        credits, tier = answer.get("credits"), answer.get("tier")
        if isinstance(credits, bool) or not isinstance(credits, int) or not isinstance(tier, str) or not tier:
            raise MagicHourUnavailable("Magic Hour answered the account read without credits and tier")
        return Account(credits, tier[:40])

    def delete_project(self, kind: Kind, project_id: str) -> None:
        self._call("DELETE", f"/v1/{kind}-projects/{project_id}")

    def upload_url(self, asset_type: Kind, extension: str) -> UploadUrl:
        """A place in Magic Hour's own storage for one input file (nothing is charged)."""
        try:
            answer = self._call(
                "POST",
                "/v1/files/upload-urls",
                json={"items": [{"type": asset_type, "extension": extension}]},
            )
        except MagicHourOutcomeUnknown as unknown:
            # Asking for an upload URL creates nothing that costs credits: whatever its answer,
            # the create it serves was not sent, so the job may simply be tried again.
            raise MagicHourUnavailable(f"Magic Hour's upload URL call failed: {unknown.message}") from unknown
        items = answer.get("items")
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        url, file_path = item.get("upload_url"), item.get("file_path")
        if not isinstance(url, str) or not isinstance(file_path, str) or not url or not file_path:
            raise MagicHourUnavailable("Magic Hour answered the upload request without an upload URL")
        return UploadUrl(url, file_path)

    def put_file(self, upload_url: str, body: IO[bytes], size_bytes: int) -> None:
        """Streams `size_bytes` from `body` to an upload URL (a signed storage URL: no bearer token)."""
        try:
            # An explicit Content-Length: signed storage URLs refuse chunked bodies; the body is
            # still read block by block, never held whole.
            response = self._http.request(
                "PUT",
                upload_url,
                body=body,
                headers={"Content-Length": str(size_bytes)},
                timeout=urllib3.Timeout(connect=self._timeout[0], read=_UPLOAD_READ_TIMEOUT_SECONDS),
                redirect=False,
                retries=False,
            )
        except (HTTPError, OSError) as exc:
            raise MagicHourUnavailable(f"could not upload to Magic Hour: {exc.__class__.__name__}") from exc
        if not 200 <= response.status < 300:
            raise MagicHourUnavailable(f"Magic Hour's storage answered the upload {response.status}")

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            api_key = self._api_key()
        except Exception as exc:  # the secret store is down or the secret is missing: nothing was sent
            raise MagicHourKeyUnavailable("the Magic Hour API key could not be read") from exc
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                json=json,
                headers=headers,
                timeout=urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1]),
                redirect=False,
                retries=False,
            )
        # Only these mean no connection was ever made, so Magic Hour cannot have seen the request.
        # (NewConnectionError and NameResolutionError are ConnectTimeoutErrors in urllib3 2.)
        except ConnectTimeoutError as exc:
            raise MagicHourUnavailable(f"could not connect to Magic Hour: {exc.__class__.__name__}") from exc
        except LocationValueError as exc:
            raise MagicHourUnavailable(f"could not call Magic Hour: {exc.__class__.__name__}") from exc
        except ReadTimeoutError as exc:
            raise MagicHourOutcomeUnknown("Magic Hour did not answer in time") from exc
        # Anything else happened on an open connection (reset, cut answer, TLS failure): the
        # request may have reached Magic Hour.
        except (HTTPError, OSError) as exc:
            raise MagicHourOutcomeUnknown(
                f"the connection to Magic Hour failed before a whole answer ({exc.__class__.__name__})"
            ) from exc
        return _interpret(response)


def _is_project_id(value: Any) -> TypeGuard[str]:
    # Ids are short cuids; bounds as for webhook payloads (ProjectPayload.id), printable ASCII so it
    # is safe in a DynamoDB key and in a URL path.
    return isinstance(value, str) and 1 <= len(value) <= 200 and value.isascii() and value.isprintable()


def client_from_settings(connections: int = 4) -> MagicHourClient:
    """The client every function uses: base URL and timeouts from settings, key from the secret
    store; `connections` kept open (the sweep's checks run several at once)."""
    from pipeline.platform import secret_store
    from pipeline.platform.settings import get_settings

    settings = get_settings()
    return MagicHourClient(
        settings.magic_hour_base_url,
        secret_store.magic_hour_api_key,
        timeout=(settings.magic_hour_connect_timeout_seconds, settings.magic_hour_read_timeout_seconds),
        http=new_pool(connections),
    )


def _interpret(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    status = response.status
    if status == 204:
        return {}
    body: Any
    try:
        body = json.loads(response.data or b"")
    except ValueError:  # not JSON, or not UTF-8
        body = None
    if answer_of(status) is Answer.OK:
        if not isinstance(body, dict):
            raise MagicHourOutcomeUnknown(f"Magic Hour answered {status} without a JSON object")
        return body
    message = _message_of(body) or response.reason or f"HTTP {status}"
    answer = answer_of(status)
    if answer is Answer.RATE_LIMITED:
        raise MagicHourRateLimited(message, _retry_after(response))
    if answer is Answer.UNKNOWN:
        raise MagicHourOutcomeUnknown(
            f"Magic Hour (or a proxy in front of it) answered {status}: {message}", status
        )
    raise _ERRORS[answer](message, status)


# What the client raises for each answer of the outcome table (pipeline.magic_hour.outcomes).
_ERRORS: dict[Answer, type[MagicHourError]] = {
    Answer.OK: MagicHourError,  # never raised: a 2xx returned above
    Answer.NOTHING_CREATED: MagicHourUnavailable,
    Answer.REJECTED: MagicHourRejected,
    Answer.PAYMENT_REQUIRED: MagicHourPaymentRequired,
    Answer.AUTH_FAILED: MagicHourAuthFailed,
    # The key is good, the plan does not allow the feature (docs/api.md, "Errors": plan_restricted).
    Answer.PLAN_RESTRICTED: MagicHourPlanRestricted,
    Answer.NOT_FOUND: MagicHourNotFound,
}


def _message_of(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:500]
    return None


def _retry_after(response: urllib3.BaseHTTPResponse) -> int:
    value = response.headers.get("Retry-After", "")
    value = value.strip()
    return (
        int(value) if value.isascii() and value.isdigit() and len(value) < 7 else DEFAULT_RETRY_AFTER_SECONDS
    )
