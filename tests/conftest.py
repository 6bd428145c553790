"""Shared fixtures. Integration and end-to-end tests share one real local stack per session:
the moto server, the Magic Hour simulator, the local API gateway and the SQS trigger, on free
ports, with the test's own API keys and secrets (as the contract's independent tests would)."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_socket import disable_socket

from tests.polling import poll

WEBHOOK_SECRET = "whsec_integration_secret"
CALLBACK_SECRET = "whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtMzItYnl0ZXMhIQ=="
MAGIC_HOUR_KEY = "mh-integration-key"
CLIENT_KEYS = {"key-alpha": "client-alpha", "key-beta": "client-beta", "key-gamma": "client-gamma"}
# SigV4 callers (LOCAL_IAM_CALLERS): alpha's and beta's services inside AWS, and one whose client
# has no mapping left once a test removes it.
IAM_CALLERS = (
    "AKIDALPHA:alpha-secret=client-alpha,AKIDBETA:beta-secret=client-beta,AKIDDELTA:delta-secret=client-delta"
)


UNIT_TESTS = Path(__file__).parent / "unit"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """tests/unit has sockets off (unix sockets aside), its fixtures included: a unit test that
    reaches a server is an adapter test (tests/adapters). Set here rather than in a
    tests/unit/conftest.py, which would shadow the `from conftest import` of the other folders.
    pytest-socket lifts it after each test."""
    if item.path.is_relative_to(UNIT_TESTS):
        disable_socket(allow_unix_socket=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class StackHandle:
    api: str
    aws: str
    magic_hour: str
    webhook_secret: str
    stack: Any

    def headers(self, key: str = "key-alpha", **extra: str) -> dict[str, str]:
        return {"x-api-key": key, "Content-Type": "application/json", **extra}

    def post_job(self, body: Any, key: str = "key-alpha", **headers: str) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else None
        return requests.post(
            f"{self.api}/v1/jobs",
            json=None if data is not None else body,
            data=data,
            headers=self.headers(key, **headers),
            timeout=30,
        )

    def get_job(self, job_id: str, key: str = "key-alpha") -> requests.Response:
        return requests.get(f"{self.api}/v1/jobs/{job_id}", headers=self.headers(key), timeout=30)

    def wait_for(
        self, job_id: str, statuses: set[str], timeout: float = 30.0, key: str = "key-alpha"
    ) -> dict[str, Any]:
        job: dict[str, Any] = poll(
            lambda: self.get_job(job_id, key).json(),
            timeout,
            f"job {job_id} in {statuses}",
            until=lambda job: job.get("status") in statuses,
            interval=0.2,
        )
        return job

    def scenario(self, **fields: Any) -> None:
        requests.put(f"{self.magic_hour}/_sim/scenario", json=fields, timeout=5).raise_for_status()

    def sim_project(self, project_id: str) -> dict[str, Any]:
        answer = requests.get(f"{self.magic_hour}/_sim/projects/{project_id}", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def sim_stats(self) -> dict[str, int]:
        return dict(requests.get(f"{self.magic_hour}/_sim/stats", timeout=5).json())


def start_stack(
    tmp_path_factory: pytest.TempPathFactory,
    schedule_seconds: float,
    parameters: dict[str, str] | None = None,
) -> tuple[Any, StackHandle]:
    from local.config import LocalConfig
    from local.resources import ACCOUNT_ID
    from local.sigv4 import parse_callers
    from local.stack import LocalStack

    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=dict(CLIENT_KEYS),
        iam_callers=parse_callers(IAM_CALLERS, ACCOUNT_ID),
        magic_hour_api_key=MAGIC_HOUR_KEY,
        webhook_secret=WEBHOOK_SECRET,
        callback_secret=CALLBACK_SECRET,
        stack_name="pipeline-test",
        download_retry_delays="1,1,1,1,1",
        callback_retry_delays="1,1,1",
        schedule_seconds=schedule_seconds,
    )
    log_path = Path(tmp_path_factory.mktemp("stack")) / "functions.log"
    stack = LocalStack(config, function_log=str(log_path), fault_injection=True, parameters=parameters)
    stack.start()
    return stack, StackHandle(config.api_url, config.aws_url, config.magic_hour_url, WEBHOOK_SECRET, stack)


@contextlib.contextmanager
def own_stack(
    tmp_path_factory: pytest.TempPathFactory,
    schedule_seconds: float = 3600,
    parameters: dict[str, str] | None = None,
    budgets: str | None = None,
) -> Iterator[StackHandle]:
    """A stack started for one test module (settings other than the shared one's), stopped after
    it. `budgets` is LOCAL_CLIENT_BUDGETS ("client-gamma=100, ..."), the clients' daily budgets."""
    with pytest.MonkeyPatch.context() as env:
        if budgets is not None:
            env.setenv("LOCAL_CLIENT_BUDGETS", budgets)
        stack, handle = start_stack(tmp_path_factory, schedule_seconds, parameters)
    try:
        yield handle
    finally:
        stack.stop()


def fresh_scenario(handle: StackHandle, render_seconds: float | None = None) -> StackHandle:
    """The simulator's scenario back at its defaults, renders taking `render_seconds` if given."""
    requests.delete(f"{handle.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    if render_seconds is not None:
        handle.scenario(render_seconds=render_seconds)
    return handle


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """The shared stack. Its sweep runs hourly, so a test that drives a job by hand sees only what
    it does itself; tests of the sweep use their own stack with a one-second schedule."""
    with own_stack(tmp_path_factory) as handle:
        yield handle


@pytest.fixture
def stack(local_stack: StackHandle) -> Iterator[StackHandle]:
    """The shared stack with the simulator's scenario back at its defaults for each test."""
    yield fresh_scenario(local_stack, render_seconds=0.3)
    requests.delete(f"{local_stack.magic_hour}/_sim/scenario", timeout=5)
    local_stack.stack.faults.clear()


@pytest.fixture
def aws(local_stack: StackHandle) -> Callable[[str], Any]:
    from local.resources import client

    return lambda service: client(service, local_stack.aws, "us-east-1")


# The stack name of the store tests' own moto server (resource names are `<stack>-<LogicalId>`).
STORE_STACK = "store-test"


@contextlib.contextmanager
def running_moto_server() -> Iterator[str]:
    """A moto server of the caller's own (local.moto_server, as the local stack runs it) on a free
    port: its URL while it answers, stopped on exit."""
    import subprocess
    import sys

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # polls readiness: moto has no start-up signal of its own
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server of the test module's own, with the template's tables, queues and buckets:
    for tests that call a store module (pipeline.store) directly."""
    from local import resources
    from local.template import Template, load_template

    with running_moto_server() as url:
        template = Template(load_template())
        secrets = {name: "unused" for name in template.of_type("AWS::SecretsManager::Secret")}
        resources.create_all(template, url, "us-east-1", STORE_STACK, template.parameter_defaults(), secrets)
        yield url


@pytest.fixture
def override_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mapping[str, str | None]], None]]:
    """The tests' one override point of what the pipeline reads from its environment: sets each
    variable (None removes it) for this test only, and the settings, the Lambda and Powertools
    variables and the boto3 clients are read again (pipeline.platform.environment.forget)."""
    from pipeline.platform import environment

    def apply(values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        environment.forget()

    yield apply
    # monkeypatch puts the variables back after this; nothing reads them before then.
    environment.forget()


@pytest.fixture
def pointed_at_moto(moto_endpoint: str, override_env: Callable[[Mapping[str, str | None]], None]) -> None:
    """The pipeline's settings and boto3 clients pointed at `moto_endpoint`."""
    override_env(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "CLIENTS_TABLE_NAME": f"{STORE_STACK}-ClientsTable",
            "JOBS_TABLE_NAME": f"{STORE_STACK}-JobsTable",
            "CALLBACK_LANES_TABLE_NAME": f"{STORE_STACK}-CallbackLanesTable",
        }
    )
