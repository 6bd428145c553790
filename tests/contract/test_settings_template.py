"""Settings (shared/pipeline/platform/settings.py) and template.yaml agree.

What a function "needs" is read from its code, the way tests/contract/test_iam_grants.py finds its AWS
calls (local/code_actions.py): from the handler module, every function and class it references is
followed through the `pipeline` package; in what is reachable, `settings.require("<field>")` is a
resource it needs and `<anything>.<field>` (a Settings field name) is a setting it reads. The
Settings class's own validators count for every function (each one builds its settings at start).
Like the IAM scan, it over-approximates (a reachable branch may never run): the safe side for
"is this variable set wherever it can be read".
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from local.code_actions import handler_path
from local.code_graph import Code, reachable
from local.template import Template, load_template
from pipeline.platform.settings import ResourceSetting, Settings, _from_environment
from pipeline.sweep.sweep import CALLBACK_SETTLE_SECONDS

FIELDS = set(Settings.model_fields)
# Variables read by the libraries themselves (Powertools, pydantic), not by our settings.
LIBRARY_PREFIXES = ("POWERTOOLS_", "PYDANTIC_")
RESOURCES = set(get_args(ResourceSetting))
# Settings no template Parameter sets, and why each is not one: not deployment choices, so the
# template's surface stays what an operator decides. A new field must be set by the template or
# be listed here with its reason.
CODE_ONLY = {
    "secret_max_age_seconds": "how long a rotated secret may lag; rotation is an operator's runbook step",
    "magic_hour_connect_timeout_seconds": "TCP connect to Magic Hour; the read timeout is the Parameter",
    "download_chunk_bytes": "part size; with download_parallel_ranges it sets the memory the "
    "downloader's MemorySize is measured for",
    "download_parallel_ranges": "memory bound, sized with the downloader's MemorySize",
    "download_connect_timeout_seconds": "transport detail of the file server fetch",
    "download_read_timeout_seconds": "transport detail of the file server fetch",
    "webhook_tolerance_seconds": "the signature scheme's replay window, not ours to choose",
    "webhook_queue_wait_seconds": "bounded by the webhook's 10 s answer time, not a choice",
    "sweep_scan_limit": "a memory bound, sized with the sweep's MemorySize",
    "callback_timeout_seconds": "the contract's bound on one callback attempt",
    "callback_connect_timeout_seconds": "part of the callback attempt bound",
}


@dataclass(frozen=True)
class Reads:
    resources: frozenset[str]  # fields read through Settings.require
    fields: frozenset[str]  # every Settings field named


def _reachable_scopes(handler: Path) -> list[ast.AST]:
    """The scopes (functions, module top levels) reachable from a handler module: the same walk
    as the IAM test's (local.code_actions)."""
    return [scope.node for scope in reachable(Code(handler))]


def _reads(handler: Path) -> Reads:
    resources: set[str] = set()
    fields: set[str] = set()
    for scope in _reachable_scopes(handler):
        for node in ast.walk(scope):
            if isinstance(node, ast.Attribute) and node.attr in FIELDS:
                fields.add(node.attr)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "require"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                resources.add(str(node.args[0].value))
    return Reads(frozenset(resources), frozenset(fields | resources))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def environments(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's environment as Lambda gets it: Globals, then its own Environment."""
    return {name: spec.environment for name, spec in Template(document).functions().items()}


@pytest.fixture(scope="module")
def reads(document: dict[str, Any], environments: dict[str, dict[str, Any]]) -> dict[str, Reads]:
    return {function: _reads(handler_path(document, function)) for function in environments}


def test_the_code_scan_finds_what_each_function_reads(reads: dict[str, Reads]) -> None:
    """The scan is not vacuous: known reads are found, and reads of another function are not."""
    assert "download_dead_letter_queue_url" in reads["DownloaderFunction"].resources
    assert "magic_hour_webhook_secret" in reads["WebhookFunction"].resources
    assert "callback_signing_secret" in reads["SubmitFunction"].resources
    assert "callback_dead_letter_queue_url" in reads["CallbackFunction"].resources
    assert "download_max_attempts" in reads["DownloaderFunction"].fields
    assert "sweep_give_up_seconds" in reads["SweepFunction"].fields
    # The Settings validator runs in every function.
    assert all("sweep_submit_grace_seconds" in found.fields for found in reads.values())
    assert "magic_hour_webhook_secret" not in reads["SubmitFunction"].resources
    assert "download_max_attempts" not in reads["CallbackFunction"].fields
    assert "output_bucket_name" not in reads["WebhookFunction"].resources


def test_every_resource_a_function_reads_is_set_in_its_environment(
    reads: dict[str, Reads], environments: dict[str, dict[str, Any]]
) -> None:
    """Else the code raises MissingSetting when it gets there."""
    missing = {
        function: sorted(
            name.upper() for name in found.resources if name.upper() not in environments[function]
        )
        for function, found in reads.items()
    }
    assert missing == {function: [] for function in reads}


def test_only_resource_settings_are_read_through_require(reads: dict[str, Reads]) -> None:
    assert set().union(*(found.resources for found in reads.values())) <= RESOURCES


def test_a_setting_the_template_sets_reaches_every_function_that_reads_it(
    reads: dict[str, Reads], environments: dict[str, dict[str, Any]]
) -> None:
    """A Parameter set for one function but not another that reads the same setting would leave
    the second on the code's default: the operator's choice silently half-applied."""
    set_anywhere = {variable for environment in environments.values() for variable in environment}
    unset = {
        function: sorted(
            name.upper()
            for name in found.fields
            if name.upper() in set_anywhere and name.upper() not in environments[function]
        )
        for function, found in reads.items()
    }
    assert unset == {function: [] for function in reads}


def test_a_functions_own_environment_sets_only_what_its_code_reads(
    document: dict[str, Any], reads: dict[str, Reads]
) -> None:
    """Globals holds what several functions share; a variable in one function's own Environment
    that its code never reads is dead configuration."""
    unread = {}
    for function, found in reads.items():
        own = document["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        unread[function] = sorted(
            variable
            for variable in own
            if not variable.startswith(LIBRARY_PREFIXES) and variable.lower() not in found.fields
        )
    assert unread == {function: [] for function in reads}


def test_every_global_variable_is_read_by_some_function(
    document: dict[str, Any], reads: dict[str, Reads]
) -> None:
    variables = document["Globals"]["Function"]["Environment"]["Variables"]
    read_anywhere = set().union(*(found.fields for found in reads.values()))
    unread = sorted(
        variable
        for variable in variables
        if not variable.startswith(LIBRARY_PREFIXES) and variable.lower() not in read_anywhere
    )
    assert unread == []


# -- defaults ----------------------------------------------------------------------------------


def _template_values(
    document: dict[str, Any], environments: dict[str, dict[str, Any]]
) -> dict[str, tuple[str, str]]:
    """Setting -> (where, the text the template gives it by default), for every variable set
    from a Parameter or a literal (resources, set by !Ref to a resource or !GetAtt, have none)."""
    parameters = document["Parameters"]
    values: dict[str, tuple[str, str]] = {}
    for environment in environments.values():
        for variable, value in environment.items():
            if variable.startswith(LIBRARY_PREFIXES):
                continue
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
                values[variable.lower()] = (
                    f"Parameter {value['Ref']}",
                    str(parameters[value["Ref"]]["Default"]),
                )
            elif isinstance(value, (str, int, float, bool)):
                values[variable.lower()] = (f"literal {variable}", str(value))
    return values


def test_settings_defaults_equal_the_template_defaults(
    document: dict[str, Any], environments: dict[str, dict[str, Any]]
) -> None:
    """Parsed the way a function parses its environment, so "5,15" and [5, 15] compare equal."""
    values = _template_values(document, environments)
    assert len(values) > 20  # the comparison covers the template's settings, not none of them
    drift = {}
    for field, (where, text) in sorted(values.items()):
        parsed = getattr(_from_environment({field.upper(): text}), field)
        default = Settings.model_fields[field].get_default(call_default_factory=True)
        if parsed != default:
            drift[field] = f"{where} default {text!r} parses to {parsed!r}; Settings default is {default!r}"
    assert drift == {}


def test_every_setting_is_a_resource_set_by_the_template_or_code_only_with_a_reason(
    document: dict[str, Any], environments: dict[str, dict[str, Any]]
) -> None:
    templated = set(_template_values(document, environments))
    set_anywhere = {variable.lower() for environment in environments.values() for variable in environment}
    assert set_anywhere >= RESOURCES
    unplaced = FIELDS - RESOURCES - templated - set(CODE_ONLY)
    assert unplaced == set(), (
        "a new setting: set it from a Parameter in template.yaml or list it in CODE_ONLY"
    )
    # A setting listed as code-only that the template sets after all is listed wrongly.
    assert set(CODE_ONLY) & templated == set()
    assert set(CODE_ONLY) <= FIELDS


def test_resource_settings_have_no_default_to_compare() -> None:
    assert all(Settings.model_fields[name].default is None for name in RESOURCES)


# -- numbers in the template that the code's numbers depend on ---------------------------------


def test_callback_retries_fit_in_the_callback_queue(document: dict[str, Any]) -> None:
    queue = document["Resources"]["CallbackQueue"]["Properties"]
    retention = int(queue["MessageRetentionPeriod"])
    delays = Settings().callback_retry_delays_seconds
    # Every attempt (the first, then one per delay) is a receive; the queue must not dead-letter
    # a callback the function would still retry, nor expire it before its last attempt.
    assert len(delays) + 1 <= int(queue["RedrivePolicy"]["maxReceiveCount"])
    assert sum(delays) < retention
    # The sweep settles a callback still `pending` only once its message can no longer exist.
    assert retention < CALLBACK_SETTLE_SECONDS


def test_function_timeouts_outlast_what_they_wait_for(document: dict[str, Any]) -> None:
    functions = Template(document).functions()
    settings = Settings()
    read_timeout = document["Parameters"]["MagicHourReadTimeoutSeconds"]
    # Submit waits for a Magic Hour create within API Gateway's 29 s, at the longest read allowed.
    longest_create = settings.magic_hour_connect_timeout_seconds + float(read_timeout["MaxValue"])
    assert functions["SubmitFunction"].timeout > longest_create
    assert functions["CallbackFunction"].timeout > settings.callback_timeout_seconds
    assert functions["WebhookFunction"].timeout > settings.webhook_queue_wait_seconds
