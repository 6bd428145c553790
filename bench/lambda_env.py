"""What a benchmark probe runs a handler in, as the local runtime's workers do (local/runtime.py,
`_init_worker`), in a process of our own. Standard library only, so the probes measure the handler
and not the benchmark.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping

_CLEARED_PREFIXES = ("AWS_", "POWERTOOLS_", "_X_AMZN")


def function_environment(
    function_env: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What a worker of the local runtime runs with: the shell's environment minus anything that
    decides which AWS to talk to, plus exactly the function's environment."""
    source = os.environ if base is None else base
    environment = {name: value for name, value in source.items() if not name.startswith(_CLEARED_PREFIXES)}
    environment.update(function_env)
    return environment


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_seconds: int) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.function_version = "$LATEST"
        self.log_group_name = ""
        self.log_stream_name = "bench"
        self._deadline = time.time() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))
