"""The lazy tracer: importing a handler never loads the X-Ray SDK; a disabled tracer never does.
Nor does a handler's import load the other packages kept off the cold start (docs/performance.md,
"What keeps cold starts short")."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layer_path import ROOT, SHARED_DIR
from pipeline.platform.observability import LazyTracer, tracing_enabled

# Per function: what only some of its paths need, loaded by the first request on such a path.
KEPT_OFF = {
    # The create path (POST /v1/jobs, POST /v1/uploads): catalogue schemas and their validator, the
    # state machine's moves, the Magic Hour client. Reads (status polls) never load it.
    "submit": (
        "pipeline.submit.submission",
        "pipeline.submit.idempotency",
        "pipeline.create.inputs",
        "pipeline.magic_hour.client",
        "fastjsonschema",
    ),
    # The reads never create: the query function has no create path to load at all.
    "query": (
        "pipeline.submit.submission",
        "pipeline.submit.idempotency",
        "pipeline.create",
        "pipeline.magic_hour.client",
        "fastjsonschema",
    ),
    # Our API's answer models belong to the functions that answer clients.
    "webhook": ("pipeline.models.api",),
    "downloader": ("pipeline.models.api",),
}


def _lambda_path(function: str) -> str:
    """A fresh interpreter's path as Lambda lays it out: the function's code, then the layer's."""
    return os.pathsep.join([str(ROOT / "functions" / function), str(SHARED_DIR)])


@pytest.mark.parametrize(
    "function", sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").exists())
)
def test_importing_a_handler_loads_nothing_kept_off_the_cold_start(function: str) -> None:
    # aws_xray_sdk: ~140 ms, loaded on the first traced call only. requests: ~20 ms, urllib3 (which
    # botocore loads anyway) does its work. Powertools' parser models: ~60 ms, loaded by its batch
    # utility when pydantic was imported before it, so the SQS handlers import batch first.
    kept_off = (
        "aws_xray_sdk",
        "requests",
        "aws_lambda_powertools.utilities.parser",
        *KEPT_OFF.get(function, ()),
    )
    code = (
        "import sys, json; import app; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({kept_off!r}))))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": "/var/task",
        "PYTHONPATH": _lambda_path(function),
    }
    answer = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ],
)
def test_tracing_follows_powertools_rule(environ: dict[str, str], expected: bool) -> None:
    assert tracing_enabled(environ) is expected


def test_disabled_tracer_calls_through_without_building_the_real_one(override_env) -> None:
    override_env({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"})
    tracer = LazyTracer()

    @tracer.capture_method
    def double(value: int) -> int:
        return value * 2

    assert double(21) == 42
    assert tracer._tracer is None


def test_enabled_tracer_builds_the_real_one_once_on_first_call(monkeypatch, override_env) -> None:
    override_env({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": None})
    tracer = LazyTracer()
    built: list[str] = []

    class FakeTracer:
        def capture_method(self, function):
            built.append("capture_method")
            return lambda *a, **k: ("traced", function(*a, **k))

    monkeypatch.setattr(tracer, "real", lambda: FakeTracer())

    @tracer.capture_method
    def double(value: int) -> int:
        return value * 2

    assert built == []
    assert double(2) == ("traced", 4)
    assert double(3) == ("traced", 6)
    assert built == ["capture_method"]


def test_decorator_options_reach_the_real_tracer(monkeypatch, override_env) -> None:
    override_env({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": None})
    tracer = LazyTracer()
    seen: list[dict[str, object]] = []

    class FakeTracer:
        def capture_lambda_handler(self, function, **options):
            seen.append(options)
            return function

    monkeypatch.setattr(tracer, "real", lambda: FakeTracer())

    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event, context):
        return "ok"

    assert handler({}, None) == "ok"
    assert seen == [{"capture_response": False}]


def test_the_template_spares_every_cold_start_pydantics_plugin_scan() -> None:
    from local.template import load_template

    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    code = "import app; from pydantic.plugin import _loader; print(_loader._plugins is None)"
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYDANTIC_DISABLE_PLUGINS": str(variables.get("PYDANTIC_DISABLE_PLUGINS", "")),
        "PYTHONPATH": _lambda_path("webhook"),
    }
    answer = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    # None: no distribution's entry points were read looking for plugins.
    assert answer.stdout.strip().splitlines()[-1] == "True"
