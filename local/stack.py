"""The whole pipeline on one machine: moto server, Magic Hour simulator, API gateway, SQS triggers
and schedules, with every resource created from template.yaml."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import requests

from local import iam, resources
from local.config import LocalConfig
from local.faults import FaultProxy
from local.gateway import Gateway, serve
from local.runtime import FunctionPool, Invocation
from local.scheduler import Scheduler
from local.simulator import SimulatorConfig, start_simulator
from local.sqs_trigger import QueuePoller
from local.stream_trigger import StreamPoller, stream_triggers
from local.template import Template, load_template
from ops import clients as client_ops
from ops import targets as ops_targets
from pipeline.platform.settings import MAGIC_HOUR_CONNECT_TIMEOUT_SECONDS

# Which local value seeds which secret of the template.
SECRET_SOURCES = {
    "MagicHourApiKeySecret": "magic_hour_api_key",
    "MagicHourWebhookSecret": "webhook_secret",
    "WebhookPathTokenSecret": "webhook_path_token",
    "CallbackSigningSecret": "callback_secret",
}
# Added to the create timeout plus two sweep periods, the grace the functions require to be
# exceeded: whole seconds of slack, so rounding never lands the grace on the refused boundary.
_GRACE_MARGIN_SECONDS = 10
WORKERS_PER_FUNCTION = {
    "SubmitFunction": 4,
    # The reads' own workers: a client's polls never wait for the submit function's (Reserved
    # concurrency, QueryMaxConcurrency deployed).
    "QueryFunction": 2,
    "WebhookFunction": 4,
    "DownloaderFunction": 2,
    "SweepFunction": 1,
    # Two places in each client's lane locally (CallbackClientConcurrency), so another client's
    # callbacks always find a worker free.
    "CallbackFunction": 4,
    "DispatchFunction": 2,
    # One invocation per stream shard at a time, as the mapping's ParallelizationFactor 1.
    "EventsFunction": 1,
}


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class LocalStack:
    def __init__(
        self,
        config: LocalConfig,
        function_log: str | None = None,
        log_requests: bool = False,
        fault_injection: bool = False,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.extra_parameters = parameters or {}
        self.fault_injection = fault_injection
        self.faults: FaultProxy | None = None
        self.log_requests = log_requests
        self.function_log = function_log
        self.template = Template(load_template())
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[QueuePoller] = []
        self.stream_pollers: list[StreamPoller] = []
        self.scheduler: Scheduler | None = None
        self._moto: subprocess.Popen[bytes] | None = None
        self._gateway_server: Any = None
        self._simulator: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, warm: bool = True) -> None:
        config = self.config
        ports = [("API", config.api_port), ("AWS", config.aws_port), ("Magic Hour", config.magic_hour_port)]
        if config.aws_faults:
            ports.append(("AWS faults", config.faults_port))
        for name, port in ports:
            if not _port_free(config.host, port):
                raise SystemExit(
                    f"local stack: port {port} ({name}) is in use; stop what uses it or set its LOCAL_*_PORT"
                )
        self._start_moto()
        # Once: both the stack's data resources and the functions' roles come from it. Made while
        # the moto server starts.
        transformed = iam.sam_transform(self.template.document, config.region)
        self._wait_for_moto()
        if self.fault_injection or config.aws_faults:
            # Tests ask for it on a free port; LOCAL_AWS_FAULTS=1 puts it on LOCAL_FAULTS_PORT.
            self.faults = FaultProxy(
                config.aws_url, config.host, config.faults_port if config.aws_faults else 0
            )
            self.faults.start()
        self._simulator = start_simulator(
            SimulatorConfig(
                host=config.host,
                port=config.magic_hour_port,
                api_key=config.magic_hour_api_key,
                webhook_secret=config.webhook_secret,
                webhook_url=self.webhook_url(),
                log_requests=self.log_requests,
            )
        )
        parameters = self.template.parameter_defaults()
        parameters.update(self.parameter_overrides())
        secret_values = {logical: getattr(config, source) for logical, source in SECRET_SOURCES.items()}
        self.resolver = resources.create_all(
            self.template,
            config.aws_url,
            config.region,
            config.stack_name,
            parameters,
            secret_values,
            transformed,
        )
        self._create_clients()
        # Each function may call only what its role in template.yaml allows (local/iam/).
        policies = iam.function_policies(self.template.document, self.resolver, config.region, transformed)
        place = iam.place_of(self.template, self.resolver, config.region, resources.ACCOUNT_ID)
        for name, spec in self.template.functions().items():
            environment = {k: str(v) for k, v in self.resolver.resolve(spec.environment).items()}
            environment.update(self.runtime_environment(name, spec.memory, spec.timeout))
            self.pools[name] = FunctionPool(
                spec,
                environment,
                WORKERS_PER_FUNCTION.get(name, 2),
                log_path=self.function_log,
                policy=policies[name],
                place=place,
            )
        if warm:
            for pool in self.pools.values():
                pool.warm_up()
        gateway = Gateway(
            self.template.routes(),
            self.template.gateway_responses(),
            config.api_keys,
            self.invoke,
            config.stage,
            config.iam_callers,
            config.region,
        )
        self._gateway_server = serve(gateway, config.host, config.api_port)
        for trigger in self.template.queue_triggers():
            # Lambda's poller receives and deletes with the function's role: so does this one.
            sqs = resources.client("sqs", config.aws_url, config.region)
            iam.Enforcer(policies[trigger.function], place).attach(sqs)
            poller = QueuePoller(
                trigger,
                sqs,
                self.resolver.refs[trigger.queue],
                self.resolver.attributes[(trigger.queue, "Arn")],
                config.region,
                self.invoke,
                concurrency=WORKERS_PER_FUNCTION.get(trigger.function, 2),
                failure_visibility_seconds=1,
                local_sqs=resources.client("sqs", config.aws_url, config.region),
            )
            poller.start()
            self.pollers.append(poller)
        self._start_stream_pollers(policies, place)
        self.scheduler = Scheduler(
            self.template.schedules(),
            config.schedule_seconds,
            self.invoke,
            config.region,
            resources.ACCOUNT_ID,
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        for stream_poller in self.stream_pollers:
            stream_poller.stop()
        if self._gateway_server is not None:
            self._gateway_server.shutdown()
        if self._simulator is not None:
            self._simulator.stop()
        for pool in self.pools.values():
            pool.shutdown()
        if self.faults is not None:
            self.faults.stop()
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._moto.kill()

    # -- wiring ------------------------------------------------------------------------------

    def _start_stream_pollers(self, policies: dict[str, iam.Policy], place: iam.Place) -> None:
        """A table stream's event source mapping; like Lambda's, it reads the stream and sends to
        its on-failure destination with the function's role."""
        config = self.config
        for trigger in stream_triggers(self.template):
            streams = resources.client("dynamodbstreams", config.aws_url, config.region)
            sqs = resources.client("sqs", config.aws_url, config.region)
            for service_client in (streams, sqs):
                iam.Enforcer(policies[trigger.function], place).attach(service_client)
            poller = StreamPoller(
                trigger,
                streams,
                self.resolver.attributes[(trigger.table, "StreamArn")],
                config.region,
                self.invoke,
                sqs=sqs,
                failure_queue_url=self.resolver.refs[trigger.on_failure] if trigger.on_failure else None,
            )
            poller.start()
            self.stream_pollers.append(poller)

    def webhook_url(self) -> str:
        """Where the simulator delivers: the plain route, or, once a stack turns it off
        (WebhookPlainRoute=false), the secret path with the seeded token, as a deployer registers
        it with Magic Hour. Never printed: it carries the token."""
        if self.extra_parameters.get("WebhookPlainRoute", "true") == "false":
            return f"{self.config.api_url}/webhooks/magic-hour/{self.config.webhook_path_token}"
        return f"{self.config.api_url}/webhooks/magic-hour"

    def parameter_overrides(self) -> dict[str, str]:
        """What `sam deploy --parameter-overrides` would say for this machine. The sweep's
        thresholds scale with the local schedule period, so a missed webhook is recovered within a
        few periods."""
        period = self.config.schedule_seconds

        def periods(count: float) -> str:
            return str(max(1, round(period * count)))

        # The grace before an unconfirmed create fails must outlast the create timeout plus two
        # sweeps (the functions check it), whatever the local period.
        read_timeout = float(
            self.extra_parameters.get(
                "MagicHourReadTimeoutSeconds",
                self.template.parameter_defaults()["MagicHourReadTimeoutSeconds"],
            )
        )
        create_timeout = MAGIC_HOUR_CONNECT_TIMEOUT_SECONDS + read_timeout
        grace = max(round(period * 3), int(create_timeout + 2 * period) + _GRACE_MARGIN_SECONDS)
        return {
            "SweepQuietSeconds": periods(1),
            "SweepBackoffBaseSeconds": periods(1),
            "SweepBackoffMaxSeconds": periods(4),
            "SweepSubmitGraceSeconds": str(grace),
            "SweepIntervalMinutes": f"{period / 60:.6g}",
            "MagicHourMaxConcurrency": str(self.config.magic_hour_max_concurrency),
            "CreateDeadlineSeconds": str(self.config.create_deadline_seconds),
            "CreateRetryDelays": self.config.create_retry_delays,
            "SweepDownloadStuckSeconds": periods(3),
            "CallbackRetryDelays": self.config.callback_retry_delays,
            "CallbackClientConcurrency": "2",
            "CallbackLaneWaitSeconds": "1",
            "AllowPrivateCallbackAddresses": "true",
            "MagicHourBaseUrl": self.config.magic_hour_url,
            "DownloadAllowedHosts": "127.0.0.1,localhost",
            "RequireHttpsDownloads": "false",
            "DownloadRetryDelays": self.config.download_retry_delays,
            "RequireHttpsCallbacks": "false",
            "StageName": self.config.stage,
            # One local port serves both APIs; a route takes an API key or a signature.
            "CallerAuth": "both",
            "LogLevel": os.environ.get("LOCAL_LOG_LEVEL", "INFO"),
            **self.extra_parameters,
        }

    def runtime_environment(self, function: str, memory: int, timeout: int) -> dict[str, str]:
        """What the Lambda runtime itself puts in a function's environment, pointed at moto."""
        # With the fault proxy every AWS call of the functions goes through it.
        endpoint = self.faults.url if self.faults is not None else self.config.aws_url
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
            # No X-Ray daemon here; Tracer becomes a no-op, as Powertools documents.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def _create_clients(self) -> None:
        """The local clients, made as an operator makes them (`python -m ops clients`): each API
        key's client in a usage plan of its own, each SigV4 caller's user mapped to its client,
        and the budgets. The local gateway still maps keys to clients from LOCAL_API_KEYS."""
        session = ops_targets.Session(self.config.aws_url, self.config.region, local_credentials=True)
        where = ops_targets.Targets(clients_table=self.resolver.refs["ClientsTable"])
        table = session.table(where.clients_table)
        for client_id in sorted(set(self.config.api_keys.values())):
            client_ops.add_key_client(session, where, name=client_id, client_id=client_id)
        for caller in self.config.iam_callers.values():
            client_ops.map_principal(table, caller.client_id, caller.user_arn)
        for client_id, credits in self.config.client_budgets.items():
            client_ops.set_budget(table, client_id, credits)

    def invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        return self.pools[function].invoke(event)

    def _start_moto(self) -> None:
        self._moto = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.moto_server",
                "-H",
                self.config.host,
                "-p",
                str(self.config.aws_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_for_moto(self) -> None:
        assert self._moto is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                raise SystemExit("local stack: the moto server exited at start")
            try:
                requests.get(f"{self.config.aws_url}/moto-api/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise SystemExit("local stack: the moto server did not start within 30 s")

    def failure(self) -> str | None:
        """Why the running stack can no longer work (its moto server, the AWS of every function,
        exited), or None while it can."""
        if self._moto is not None and self._moto.poll() is not None:
            code = self._moto.returncode
            return f"the moto server (AWS endpoint {self.config.aws_url}) exited with code {code}"
        return None

    @property
    def moto_pid(self) -> int | None:
        return self._moto.pid if self._moto is not None else None

    def describe(self) -> dict[str, str]:
        faults = {"aws_faults": f"{self.faults.url}/_faults"} if self.faults is not None else {}
        return {
            "api": self.config.api_url,
            "webhook": f"{self.config.api_url}/webhooks/magic-hour",
            "aws": self.config.aws_url,
            "magic_hour": self.config.magic_hour_url,
            "jobs_table": self.resolver.refs.get("JobsTable", ""),
            "download_queue": self.resolver.refs.get("DownloadQueue", ""),
            "dead_letter_queue": self.resolver.refs.get("DownloadDeadLetterQueue", ""),
            "bucket": self.resolver.refs.get("OutputBucket", ""),
            "event_bus": self.resolver.refs.get("EventBus", ""),
            "input_bucket": self.resolver.refs.get("InputBucket", ""),
            **faults,
        }
