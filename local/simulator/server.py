"""Running the simulator: a threaded werkzeug server on a daemon thread."""

from __future__ import annotations

import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.simulator.app import create_app
from local.simulator.config import SimulatorConfig
from local.simulator.runtime import Runtime

# serve_forever checks for shutdown this often; short so stop() (and test fixtures) return quickly.
_POLL_INTERVAL_SECONDS = 0.05


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _RedactingRequestHandler(WSGIRequestHandler):
    """Logs each request without its query string: download and upload URLs are signed there."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        full_path = self.path
        self.path = full_path.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = full_path


class RunningSimulator:
    """A started simulator; `url` has the real port even when port 0 was asked for."""

    def __init__(self, config: SimulatorConfig, server: BaseWSGIServer, runtime: Runtime) -> None:
        self.config = config
        self.host = config.host
        self.port = server.server_port
        self.url = f"http://{config.host}:{self.port}"
        self._server = server
        self._runtime = runtime
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_SECONDS},
            name=f"magic-hour-simulator:{self.port}",
            daemon=True,
        )
        self._stopped = False

    def _start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._runtime.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(config: SimulatorConfig | None = None) -> RunningSimulator:
    """Start serving; returns once the socket is listening, so requests can be sent at once."""
    cfg = config if config is not None else SimulatorConfig()
    runtime = Runtime(cfg)
    try:
        server = make_server(
            cfg.host,
            cfg.port,
            create_app(runtime),
            threaded=True,
            request_handler=_RedactingRequestHandler if cfg.log_requests else _QuietRequestHandler,
        )
    except BaseException:
        runtime.close()
        raise
    simulator = RunningSimulator(cfg, server, runtime)
    runtime.urls.base_url = simulator.url
    simulator._start()
    return simulator
