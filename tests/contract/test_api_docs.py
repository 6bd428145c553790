"""docs/api.md is the reference for the services that call us: it must name every route and schema
of openapi.json and every error code the code (or API Gateway, by the template) can answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pipeline
from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "api.md"

# Job error codes held in constants (creation.RATE_LIMITED, ...): documented as not HTTP answers.
_CONSTANT_CODE = re.compile(r"^[A-Z_]+ = \"(upstream_[a-z_]+)\"", re.MULTILINE)
_TEMPLATE_CODE = re.compile(r"\"code\":\"([a-z_]+)\"")


def _docs() -> str:
    return DOCS.read_text()


def _sources() -> dict[Path, str]:
    # The layer as imported (under mutation testing it is not at shared/pipeline).
    folders = (Path(pipeline.__file__).parent, ROOT / "functions")
    return {path: path.read_text() for folder in folders for path in sorted(folder.rglob("*.py"))}


def code_answered_error_codes() -> set[str]:
    # Every HTTP error code is in the one table at the handler edge (pipeline/http.py).
    from pipeline.http import UNEXPECTED, WIRE_ERRORS

    codes = {wire.code for wire in WIRE_ERRORS.values()} | {UNEXPECTED.code}
    for text in _sources().values():
        codes.update(_CONSTANT_CODE.findall(text))
    return codes


def gateway_error_codes() -> set[str]:
    responses = load_template()["Resources"]["Api"]["Properties"]["GatewayResponses"]
    codes: set[str] = set()
    for response in responses.values():
        for template in response.get("ResponseTemplates", {}).values():
            codes.update(_TEMPLATE_CODE.findall(template))
    return codes


def test_the_scan_finds_the_codes_it_must() -> None:
    # Guards the scan itself: a regex that silently matched nothing would pass every check below.
    assert {
        "invalid_json",
        "unknown_tool",
        "invalid_cursor",
        "unauthorized",
        "invalid_signature",
        "not_found",
        "idempotency_conflict",
        "payload_too_large",
        "validation_failed",
        "upstream_rejected",
        "insufficient_credits",
        "upstream_misconfigured",
        "service_unavailable",
    } <= code_answered_error_codes()
    assert {"unauthorized", "not_found", "payload_too_large", "rate_limited"} <= gateway_error_codes()


def test_every_error_code_the_code_answers_is_documented() -> None:
    docs = _docs()
    missing = sorted(code for code in code_answered_error_codes() if f"`{code}`" not in docs)
    assert not missing, f"error codes missing from docs/api.md: {missing}"


def test_every_gateway_response_code_is_documented() -> None:
    docs = _docs()
    missing = sorted(code for code in gateway_error_codes() if f"`{code}`" not in docs)
    assert not missing, f"gateway response codes missing from docs/api.md: {missing}"


def test_every_job_error_code_is_documented() -> None:
    # The `error.code` values the pipeline itself sets on a failed job.
    codes: set[str] = set()
    for text in _sources().values():
        codes.update(re.findall(r"_fail\(\s*job,\s*\"([a-z_]+)\"", text))
        codes.update(
            re.findall(r"^(?:SUBMIT_UNCONFIRMED|DOWNLOAD_FAILED) = \"([a-z_]+)\"", text, re.MULTILINE)
        )
    assert {"gave_up", "project_not_found", "submit_unconfirmed", "download_failed"} <= codes
    docs = _docs()
    missing = sorted(code for code in codes if f"`{code}`" not in docs)
    assert not missing, f"job error codes missing from docs/api.md: {missing}"


def test_every_route_of_openapi_json_is_documented() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    docs = _docs()
    routes = [
        f"{method.upper()} {re.sub(r'[?].*', '', path)}"
        for path, item in document["paths"].items()
        for method in item
    ]
    assert len(routes) >= 5
    missing = [route for route in routes if f"`{route}" not in docs]
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_every_schema_and_its_fields_of_openapi_json_are_documented() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    docs = _docs()
    schemas = document["components"]["schemas"]
    assert "JobResource" in schemas
    missing = [name for name in schemas if f"`{name}`" not in docs and f"`{name}[]`" not in docs]
    assert not missing, f"schemas missing from docs/api.md: {missing}"
    fields = sorted(
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field in schema.get("properties", {})
        if f"`{field}`" not in docs and f'"{field}"' not in docs
    )
    assert not fields, f"fields missing from docs/api.md: {fields}"


def test_every_job_status_is_documented() -> None:
    from pipeline.models.job import JobStatus

    docs = _docs()
    assert [status.value for status in JobStatus if f"| `{status.value}` |" not in docs] == []


def test_the_repository_does_not_reach_outside_itself() -> None:
    # A clean clone must have everything: no link to, import of or read from the reference folder beside it.
    outside = re.compile(
        r"/work/shared|(?<!\.\./)\.\./shared/(?!pipeline)|\"shared\"\s*/\s*\"(magic-hour|CONTRACT)"
        r"|shared/(magic-hour|CONTRACT|LOCAL-AWS)"
    )
    offenders = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if not path.is_file() or parts[0] in {".git", ".venv", ".local", ".mypy_cache", ".ruff_cache"}:
            continue
        if path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".cfg", ".txt", ""}:
            continue
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if outside.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
