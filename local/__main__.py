"""`python -m local` (make local): run the whole pipeline in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Protocol

from local.config import LocalConfig
from local.stack import LocalStack


class _Running(Protocol):
    def failure(self) -> str | None: ...


def serve(stack: _Running, stopping: threading.Event, poll_seconds: float = 0.5) -> int:
    """Wait until asked to stop (0) or until the stack can no longer work (1, said on stderr):
    a stack whose AWS endpoint died would otherwise keep answering with errors only."""
    while not stopping.wait(poll_seconds):
        failed = stack.failure()
        if failed is not None:
            print(f"local stack: {failed}; stopping", file=sys.stderr, flush=True)
            return 1
    return 0


def main() -> int:
    config = LocalConfig.from_environment()
    stack = LocalStack(config)
    started = time.perf_counter()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    code = 0
    try:
        stack.start()
        for name, value in stack.describe().items():
            print(f"  {name:<18} {value}", flush=True)
        print(f"  api keys           {', '.join(f'{k} (client {v})' for k, v in config.api_keys.items())}")
        if config.iam_callers:  # access key ids only, never their secrets
            callers = ", ".join(
                f"{c.access_key_id} (client {c.client_id})" for c in config.iam_callers.values()
            )
            print(f"  sigv4 callers      {callers}")
        print(f"local stack ready in {time.perf_counter() - started:.1f}s (Ctrl-C stops it)", flush=True)
        code = serve(stack, stopping)
    except KeyboardInterrupt:
        pass
    finally:
        print("local stack stopping", flush=True)
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
