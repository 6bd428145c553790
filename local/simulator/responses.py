"""Magic Hour's error body is always {"message": ...}; every simulator answer uses that shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)
