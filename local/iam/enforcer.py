"""Enforcement in a Lambda worker: every boto3 call checked against the function's policy (local IAM)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.iam.actions import Place, requests_of
from local.iam.policies import Policy


class _EmptyBody:
    def stream(self, **_: Any) -> Iterable[bytes]:
        return iter(())

    def read(self, *_: Any) -> bytes:
        return b""


_ERROR_SHAPES = {
    # service: (error code, HTTP status), as each service answers an unauthorized call
    "dynamodb": ("AccessDeniedException", 400),
    "secretsmanager": ("AccessDeniedException", 400),
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "events": ("AccessDeniedException", 400),
    "streams.dynamodb": ("AccessDeniedException", 400),
}


@dataclass
class Enforcer:
    policy: Policy
    place: Place
    denials: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def denial(self, service: str, operation: str, params: Mapping[str, Any]) -> str | None:
        for action, resource in requests_of(service, operation, params, self.place):
            if not self.policy.allows(action, resource):
                return (
                    f"User: arn:aws:sts::{self.place.account}:assumed-role/{self.policy.role}/"
                    f"{self.policy.function} is not authorized to perform: {action} on resource: "
                    f"{resource} because no identity-based policy allows the {action} action "
                    f"(local IAM: grant it to {self.policy.function} in template.yaml, {self.policy.role})"
                )
        return None

    def record(self, message: str, action_call: str) -> None:
        with self._lock:
            self.denials.append(message)
        # One JSON line in the function's log, like a Powertools error line.
        print(
            json.dumps(
                {
                    "level": "ERROR",
                    "location": "local.iam",
                    "message": f"AccessDenied: {message}",
                    "function": self.policy.function,
                    "call": action_call,
                }
            ),
            file=sys.stderr,
            flush=True,
        )

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.endpoint_prefix
        events = client.meta.events

        def check(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            message = self.denial(service, model.name, params)
            if message is None:
                return
            self.record(message, f"{service}.{model.name}")
            if context.get("is_presign_request"):
                # AWS would sign the URL and refuse it when used; moto serves anything, so the
                # refusal comes when signing.
                from botocore.exceptions import ClientError

                code, status = _ERROR_SHAPES.get(service, ("AccessDenied", 403))
                error: Any = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                raise ClientError(error, model.name)
            context["local_iam_denial"] = message

        def note_listing(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
            context["local_iam_may_list"] = self.policy.allows("s3:ListBucket", bucket)

        def hide_missing(
            http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
        ) -> None:
            # S3 answers 403, not 404, for a missing key to a caller without s3:ListBucket on the
            # bucket (so code that tells "not stored yet" by a 404 needs that grant).
            if http_response.status_code == 404 and context.get("local_iam_may_list") is False:
                http_response.status_code = 403
                parsed["Error"] = {
                    "Code": "AccessDenied" if parsed.get("Error", {}).get("Message") else "403",
                    "Message": "Access Denied",
                }
                parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403

        def refuse(context: dict[str, Any], **_: Any) -> Any:
            message = context.get("local_iam_denial")
            if message is None:
                return None
            from botocore.awsrequest import AWSResponse

            code, status = _ERROR_SHAPES.get(service, ("AccessDenied", 403))
            headers: Any = {}
            http = AWSResponse("local-iam", status, headers, _EmptyBody())
            parsed = {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
            }
            return http, parsed

        events.register("before-parameter-build", check, unique_id="local-iam-check")
        events.register("before-call", refuse, unique_id="local-iam-refuse")
        if service == "s3":
            for operation in ("HeadObject", "GetObject"):
                events.register(f"before-parameter-build.s3.{operation}", note_listing)
                events.register(f"after-call.s3.{operation}", hide_missing)


_installed: Enforcer | None = None


def install(policy: Policy, place: Place) -> Enforcer:
    """Check every boto3 client made in this process from now on (the worker calls this before
    importing the handler, so the product code never knows)."""
    global _installed
    import botocore.session

    enforcer = Enforcer(policy, place)
    if _installed is None:
        original = botocore.session.Session.create_client

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            if _installed is not None:
                _installed.attach(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    _installed = enforcer
    return enforcer
