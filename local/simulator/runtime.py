"""The parts of one simulator instance, wired together, with an orderly shutdown."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from local.simulator.account import Ledger
from local.simulator.config import SimulatorConfig
from local.simulator.inputs import FetchLimits
from local.simulator.lifecycle import Lifecycle
from local.simulator.scheduler import Scheduler
from local.simulator.signing import UrlSigner
from local.simulator.state import Store
from local.simulator.tools import ToolCatalogue
from local.simulator.views import UrlFactory
from local.simulator.webhooks import WebhookSender


class Runtime:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.catalogue = ToolCatalogue(config.tools_path)
        self.store = Store(config.max_upload_total_bytes)
        self.ledger = Ledger()
        self.urls = UrlFactory(UrlSigner())
        self.scheduler = Scheduler()
        self.executor = ThreadPoolExecutor(
            max_workers=config.webhook_workers, thread_name_prefix="sim-webhook"
        )
        self.sender = WebhookSender(config, self.store, self.scheduler, self.executor)
        fetch_limits = FetchLimits(
            read_timeout_seconds=config.input_timeout_seconds,
            total_seconds=config.input_total_seconds,
            max_bytes=config.input_max_bytes,
        )
        self.lifecycle = Lifecycle(self.store, self.scheduler, self.sender, self.urls, fetch_limits)

    def close(self) -> None:
        self.scheduler.stop()
        # Deliveries in flight may wait on a slow receiver; stopping must not wait for them.
        self.executor.shutdown(wait=False, cancel_futures=True)
