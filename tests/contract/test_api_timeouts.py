"""An API function never outlives API Gateway's 29 s integration timeout: past it the caller has
its `504` and whatever the function still does answers no one (the local gateway relies on it too:
it waits for the invocation, then answers the 504)."""

from __future__ import annotations

from local.gateway import INTEGRATION_TIMEOUT_SECONDS
from local.template import Template, load_template


def test_every_function_behind_the_api_times_out_within_the_integration_timeout() -> None:
    template = Template(load_template())
    behind_api = {route.function for route in template.routes()}
    assert behind_api >= {"SubmitFunction", "WebhookFunction"}
    timeouts = {name: spec.timeout for name, spec in template.functions().items() if name in behind_api}
    assert {name: t for name, t in timeouts.items() if t > INTEGRATION_TIMEOUT_SECONDS} == {}
