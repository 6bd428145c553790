"""Errors our HTTP API answers with (CONTRACT §1 error table)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details) if details else None
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def body_json(self) -> str:
        return json.dumps(self.body(), separators=(",", ":"))


def validation_failed(details: Sequence[dict[str, Any]], message: str = "request is invalid") -> ApiError:
    return ApiError(422, "validation_failed", message, details)


def not_found(message: str = "no such job") -> ApiError:
    return ApiError(404, "not_found", message)


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "missing or unknown API key")
