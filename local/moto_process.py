"""A moto server of the caller's own, for the tests and the benchmarks: `local.moto_server` (the
local stack's AWS endpoint) in a process of its own on a free port, and the template's tables,
queues and buckets made on it as the local stack makes them."""

from __future__ import annotations

import socket
import subprocess  # nosec B404 - our own moto server, fixed argv
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running() -> Iterator[str]:
    """The server's URL while it answers; stopped on exit."""
    port = free_port()
    server = subprocess.Popen(  # nosec B603 - fixed argv
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


def make_resources(url: str, stack: str, region: str = "us-east-1") -> Any:
    """The template's resources named `<stack>-<LogicalId>` (secrets hold "unused"); what
    local.resources.create_all made (its `refs` name each resource)."""
    from local import resources
    from local.template import Template, load_template

    template = Template(load_template())
    secrets = {name: "unused" for name in template.of_type("AWS::SecretsManager::Secret")}
    return resources.create_all(template, url, region, stack, template.parameter_defaults(), secrets)
