"""Magic Hour as a scripted client: answers built as urllib3 responses, and a pool that gives them
in order and records what was sent. Used by the client's own tests (adapters/) and by the unit
tests of what the create path does with each answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3

from pipeline.magic_hour.client import CreatedProject, MagicHourClient

BASE_URL = "https://api.magichour.test/"


def response(
    status: int,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
    reason: str = "",
) -> urllib3.HTTPResponse:
    if raw_body is None:
        raw_body = b"" if payload is None else json.dumps(payload).encode()
    answer_headers = dict(headers or {})
    if payload is not None:
        answer_headers.setdefault("Content-Type", "application/json")
    return urllib3.HTTPResponse(body=raw_body, headers=answer_headers, status=status, reason=reason)


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    options: dict[str, Any]


class FakePool:
    """Answers every request from a script; records what was sent and with which options."""

    def __init__(self, *answers: urllib3.HTTPResponse | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[Sent] = []

    def request(self, method: str, url: str, **options: Any) -> urllib3.HTTPResponse:
        headers = options.pop("headers", {})
        body = options.pop("json", None)
        if body is not None:
            body = json.dumps(body).encode()
        self.sent.append(
            Sent(method, url, headers, body if body is not None else options.get("body"), options)
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_with(
    *answers: urllib3.HTTPResponse | Exception, key: Callable[[], str] = lambda: "mh-key"
) -> tuple[MagicHourClient, FakePool]:
    pool = FakePool(*answers)
    return MagicHourClient(BASE_URL, key, timeout=(1.0, 2.0), http=pool), pool  # type: ignore[arg-type]


def create(*answers: urllib3.HTTPResponse | Exception) -> CreatedProject:
    client, _ = client_with(*answers)
    return client.create_project("face-swap", {"start_seconds": 0})
