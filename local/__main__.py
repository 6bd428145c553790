"""`python -m local` (make local): run the whole pipeline in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
import time

from local.config import LocalConfig
from local.stack import LocalStack


def main() -> int:
    config = LocalConfig.from_environment()
    stack = LocalStack(config)
    started = time.perf_counter()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        for name, value in stack.describe().items():
            print(f"  {name:<18} {value}", flush=True)
        print(f"  api keys           {', '.join(f'{k} (client {v})' for k, v in config.api_keys.items())}")
        print(f"local stack ready in {time.perf_counter() - started:.1f}s (Ctrl-C stops it)", flush=True)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("local stack stopping", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
