"""openapi.json describes the API the template routes, and is what the code generates today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]


def _exporter():
    spec = importlib.util.spec_from_file_location("export_openapi", ROOT / "scripts" / "export_openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_matches_the_routes() -> None:
    assert (ROOT / "openapi.json").read_text() == _exporter().render(), "run: make openapi"


def test_every_template_route_is_described_and_nothing_else() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    routed = {(route.method, route.path) for route in Template(load_template()).routes()}
    assert described == routed


def test_error_answers_use_the_contract_shape() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    error = document["components"]["schemas"]["ErrorInfo"]
    assert set(error["required"]) == {"code", "message"}
    create = document["paths"]["/v1/jobs"]["post"]
    assert {"202", "400", "401", "402", "409", "413", "422", "502", "503"} <= set(create["responses"])
    assert "429" not in create["responses"]  # a create Magic Hour could not take waits; never a 429
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CreateJobRequest"
    )
