"""Every queue's RedrivePolicy agrees with its consumer's retry policy (template.yaml against
pipeline.jobs.retry_policy).

The one rule: maxReceiveCount is exactly the number of attempts the consumer's policy makes. The
function decides its last attempt itself (it gives up and dead-letters with the reason); SQS's
redrive fires at the same count, only for messages whose attempts all crashed before deciding. A
smaller count would dead-letter a message the function still retries (the job or callback is
never marked failed); a larger one would let a crashing message run past the schedule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from local import code_actions
from local.template import Resolver, Template, load_template
from pipeline.jobs.retry_policy import RetryPolicy, callback_policy, download_policy
from pipeline.platform.settings import Settings, _from_environment

# Queue -> (its consumer, how the consumer's app.py builds its policy, the settings that feed it).
POLICIES: dict[str, tuple[str, Callable[[Settings], RetryPolicy], tuple[str, ...]]] = {
    "DownloadQueue": (
        "DownloaderFunction",
        download_policy,
        ("download_retry_delays_seconds", "download_max_attempts"),
    ),
    "CallbackQueue": ("CallbackFunction", callback_policy, ("callback_retry_delays_seconds",)),
}
# Queues whose consumer makes no per-message retry decision (it never sets a message's visibility
# or fails a record): a message comes back only when a whole invocation failed, after the queue's
# visibility timeout, and maxReceiveCount alone is the policy. Dispatch messages are wake-ups; a
# lost one is covered by the sweep.
NO_POLICY = {"DispatchQueue": "DispatchFunction"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def template(document: dict[str, Any]) -> Template:
    return Template(document)


def _resolver(template: Template) -> Resolver:
    # Parameters at their defaults: what a deploy without overrides gets.
    return Resolver(template.parameter_defaults(), refs={}, attributes={}, pseudo={})


def _redriven_queues(template: Template) -> dict[str, dict[str, Any]]:
    return {
        name: spec["Properties"]
        for name, spec in template.of_type("AWS::SQS::Queue").items()
        if "RedrivePolicy" in spec.get("Properties", {})
    }


def _deployed_settings(template: Template, function: str, fields: tuple[str, ...]) -> Settings:
    """The settings `function` gets from its template environment, with parameter defaults."""
    environment = template.functions()[function].environment
    missing = [name.upper() for name in fields if name.upper() not in environment]
    assert not missing, f"{function}'s environment does not set {missing}: the code default would rule"
    resolver = _resolver(template)
    return _from_environment(
        {name.upper(): str(resolver.resolve(environment[name.upper()])) for name in fields}
    )


def _max_receive_count(template: Template, properties: dict[str, Any]) -> int:
    return int(_resolver(template).resolve(properties["RedrivePolicy"]["maxReceiveCount"]))


def _retries_per_message(document: dict[str, Any], function: str) -> bool:
    """Whether the function's code can set a message's visibility (a retry delay of its own)."""
    used = code_actions.actions_used(code_actions.handler_path(document, function))
    return "sqs:ChangeMessageVisibility" in used


def test_every_queue_with_a_redrive_policy_is_classified(template: Template) -> None:
    assert set(_redriven_queues(template)) == set(POLICIES) | set(NO_POLICY)


def test_each_queue_is_consumed_by_the_function_whose_policy_it_follows(
    document: dict[str, Any], template: Template
) -> None:
    consumers = {trigger.queue: trigger.function for trigger in template.queue_triggers()}
    for queue, (function, _, _) in POLICIES.items():
        assert consumers[queue] == function
        assert _retries_per_message(document, function), f"{function} sets no retry delay of its own"
    for queue, function in NO_POLICY.items():
        assert consumers[queue] == function
        # A consumer that starts retrying per message needs a policy here, tied to its queue.
        assert not _retries_per_message(document, function), f"{function} retries: give it a policy"


@pytest.mark.parametrize("queue", sorted(POLICIES))
def test_max_receive_count_is_exactly_the_consumers_attempts(template: Template, queue: str) -> None:
    function, policy_of, fields = POLICIES[queue]
    policy = policy_of(_deployed_settings(template, function, fields))
    assert _max_receive_count(template, _redriven_queues(template)[queue]) == policy.max_attempts


@pytest.mark.parametrize("queue", sorted(POLICIES))
def test_parameter_defaults_make_the_same_policy_as_the_code_defaults(template: Template, queue: str) -> None:
    function, policy_of, fields = POLICIES[queue]
    assert policy_of(_deployed_settings(template, function, fields)) == policy_of(Settings())


@pytest.mark.parametrize("queue", sorted(POLICIES))
def test_a_message_outlives_its_whole_retry_schedule(template: Template, queue: str) -> None:
    function, policy_of, fields = POLICIES[queue]
    policy = policy_of(_deployed_settings(template, function, fields))
    retention = int(_redriven_queues(template)[queue]["MessageRetentionPeriod"])
    assert retention > policy.total_delay_seconds()


def test_the_deployed_callback_schedule_is_about_a_day(template: Template) -> None:
    function, policy_of, fields = POLICIES["CallbackQueue"]
    policy = policy_of(_deployed_settings(template, function, fields))
    assert policy.max_attempts == 10
    assert 23 * 3600 <= policy.total_delay_seconds() <= 25 * 3600


def test_a_deployer_cannot_give_the_callbacks_more_attempts_than_the_queue_delivers(
    document: dict[str, Any], template: Template
) -> None:
    # The policy makes one attempt per CallbackRetryDelays value plus the first; the queue
    # dead-letters at maxReceiveCount. CloudFormation refuses a value list that would outrun it.
    parameter = document["Parameters"]["CallbackRetryDelays"]
    pattern = re.compile(parameter["AllowedPattern"])
    receives = _max_receive_count(template, _redriven_queues(template)["CallbackQueue"])
    most = ",".join(["60"] * (receives - 1))
    assert pattern.fullmatch(parameter["Default"])
    assert pattern.fullmatch(most)
    assert RetryPolicy.schedule([60] * (receives - 1)).max_attempts == receives
    for refused in (f"{most},60", "", "30,,60", "30, 60", "-5", "1.5", "123456"):
        assert not pattern.fullmatch(refused), refused
