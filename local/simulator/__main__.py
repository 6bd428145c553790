"""`python -m local.simulator`: run the simulator alone in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import time
from types import FrameType

from local.simulator import SimulatorConfig, start_simulator


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    # Raising is the only thing that is safe here: setting a threading.Event from a signal handler
    # can deadlock when the signal lands while the main thread holds that Event's lock.
    raise KeyboardInterrupt


def main() -> None:
    config = SimulatorConfig.from_env()
    simulator = start_simulator(config)
    # Installed explicitly because a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"Magic Hour simulator: {simulator.url}", flush=True)
    print(f"  webhooks -> {config.webhook_url or '(none)'}", flush=True)
    print("Magic Hour simulator ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal during the graceful stop ends the process the default way.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        simulator.stop()


if __name__ == "__main__":
    main()
