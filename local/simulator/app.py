"""The Flask application: routes from api.py and control.py, and JSON for every error."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from local.simulator import account, api, control
from local.simulator.responses import json_error
from local.simulator.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(rt: Runtime) -> Flask:
    app = Flask("local.simulator")
    # Bounds uploads (the only large request bodies); Flask answers 413 beyond it.
    app.config["MAX_CONTENT_LENGTH"] = rt.config.max_upload_bytes

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Magic Hour's error body is {"message": ...}; "Not Found" is its exact 404 wording.
        return json_error(exc.code or 500, exc.name)

    @app.errorhandler(Exception)
    def unexpected_error(_exc: Exception) -> Response:
        log.exception("simulator request failed")
        return json_error(500, "Internal Server Error")

    account.register(app, rt)
    api.register(app, rt)
    control.register(app, rt)
    return app
