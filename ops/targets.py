"""Where the stack's tables, queues and secrets are: from CloudFormation outputs (a deployed
stack), from the local stack's naming (`<stack>-<LogicalId>`), or from explicit flags."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import boto3

LOCAL_STACK_NAME = "magic-hour-local"

# Stack output -> field (template.yaml Outputs).
OUTPUTS = {
    "JobsTableName": "jobs_table",
    "ClientsTableName": "clients_table",
    "DownloadQueueUrl": "download_queue_url",
    "DownloadDeadLetterQueueUrl": "download_dead_letter_queue_url",
    "CallbackQueueUrl": "callback_queue_url",
    "CallbackDeadLetterQueueUrl": "callback_dead_letter_queue_url",
    "DispatchQueueUrl": "dispatch_queue_url",
    "MagicHourApiKeySecretArn": "magic_hour_api_key_secret",
    "MagicHourWebhookSecretArn": "magic_hour_webhook_secret",
    "CallbackSigningSecretArn": "callback_signing_secret",
    "WebhookPathTokenSecretArn": "webhook_path_token_secret",
    "SweepFunctionName": "sweep_function",
    "ApiId": "api_id",
    "ApiStageName": "api_stage",
}


@dataclass(frozen=True)
class Targets:
    jobs_table: str = ""
    clients_table: str = ""
    download_queue_url: str = ""
    download_dead_letter_queue_url: str = ""
    callback_queue_url: str = ""
    callback_dead_letter_queue_url: str = ""
    magic_hour_api_key_secret: str = ""
    magic_hour_webhook_secret: str = ""
    callback_signing_secret: str = ""
    webhook_path_token_secret: str = ""
    sweep_function: str = ""
    dispatch_queue_url: str = ""
    # The key API and its stage, for each API-key client's own usage plan (none locally).
    api_id: str = ""
    api_stage: str = ""
    log_groups: tuple[str, ...] = ()

    def need(self, name: str) -> str:
        value = str(getattr(self, name))
        if not value:
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"ops: {name} unknown; pass --stack NAME, --local, or {flag}")
        return value


def field_names() -> list[str]:
    return [f.name for f in fields(Targets) if f.name != "log_groups"]


def from_stack_outputs(cloudformation: Any, stack: str) -> Targets:
    answer = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in answer.get("Outputs", [])}
    values = {field: outputs[key] for key, field in OUTPUTS.items() if key in outputs}
    groups = tuple(v for k, v in sorted(outputs.items()) if k.endswith("LogGroupName"))
    return Targets(**values, log_groups=groups)


def from_local_naming(sqs: Any, stack: str) -> Targets:
    """The local stack names each resource `<stack>-<LogicalId>` and each secret as the template."""

    def queue(logical: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=f"{stack}-{logical}")["QueueUrl"])
        except Exception as exc:
            raise SystemExit(
                f"ops: no queue {stack}-{logical} at {sqs.meta.endpoint_url} ({exc.__class__.__name__}); "
                "is the local stack running (make local)?"
            ) from exc

    return Targets(
        jobs_table=f"{stack}-JobsTable",
        clients_table=f"{stack}-ClientsTable",
        download_queue_url=queue("DownloadQueue"),
        download_dead_letter_queue_url=queue("DownloadDeadLetterQueue"),
        callback_queue_url=queue("CallbackQueue"),
        callback_dead_letter_queue_url=queue("CallbackDeadLetterQueue"),
        dispatch_queue_url=queue("DispatchQueue"),
        magic_hour_api_key_secret=f"{stack}/magic-hour/api-key",
        magic_hour_webhook_secret=f"{stack}/magic-hour/webhook-secret",
        callback_signing_secret=f"{stack}/callbacks/signing-secret",
        webhook_path_token_secret=f"{stack}/magic-hour/webhook-path-token",
    )


def with_overrides(targets: Targets, overrides: dict[str, str | None]) -> Targets:
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v}
    return replace(targets, **given)


@dataclass(frozen=True)
class Session:
    """boto3 clients for one endpoint (None: AWS itself, or AWS_ENDPOINT_URL as boto3 reads it)."""

    endpoint_url: str | None
    region: str
    # The local moto server takes any credentials; anywhere else boto3 finds the operator's own.
    local_credentials: bool = False

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"endpoint_url": self.endpoint_url, "region_name": self.region}
        if self.local_credentials:
            options.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
        return options

    def client(self, service: str) -> Any:
        factory: Any = boto3.client
        return factory(service, **self._options())

    def table(self, name: str) -> Any:
        factory: Any = boto3.resource
        return factory("dynamodb", **self._options()).Table(name)
