"""Each function's role grants exactly what its code (found by reading it, local/code_actions.py)
and Lambda itself (from the template) use: no more, no less.

A grant that fails here as UNUSED is a permission no code path needs: remove it. One that fails
as MISSING is a call the code makes that its role does not allow (the local stack would refuse it
with AccessDenied): add the action, on exactly the resource the call uses, to the function's
role in template.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local import code_actions
from local.iam import every_statement, sam_transform
from local.template import load_template

FUNCTIONS = [
    "SubmitFunction",
    "QueryFunction",
    "WebhookFunction",
    "DownloaderFunction",
    "SweepFunction",
    "CallbackFunction",
    "DispatchFunction",
    "EventsFunction",
]


@pytest.fixture(scope="module")
def report() -> dict[str, dict[str, list[str]]]:
    return code_actions.report()


def _table(report: dict[str, dict[str, list[str]]], function: str) -> str:
    facts = report[function]
    lines = [f"{function}:"]
    for action in facts["granted"]:
        source = "code" if action in facts["code"] else "Lambda" if action in facts["platform"] else "UNUSED"
        lines.append(f"  {action:34} {source}")
    return "\n".join(lines)


def test_every_function_has_its_own_role(report: dict[str, dict[str, list[str]]]) -> None:
    assert sorted(report) == sorted(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_action_is_granted_that_no_code_path_uses(
    report: dict[str, dict[str, list[str]]], function: str
) -> None:
    facts = report[function]
    print(_table(report, function))  # the listing, shown with -s or on failure
    unused = set(facts["granted"]) - set(facts["code"]) - set(facts["platform"])
    assert not unused, f"{function} is granted actions no code path uses: {sorted(unused)}\n" + _table(
        report, function
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_action_the_code_uses_is_granted(
    report: dict[str, dict[str, list[str]]], function: str
) -> None:
    facts = report[function]
    missing = (set(facts["code"]) | set(facts["platform"])) - set(facts["granted"])
    where = [line for line in facts["where"] if line.split(" <- ")[0] in missing]
    assert not missing, f"{function} uses actions its role does not grant: {sorted(missing)}\n" + "\n".join(
        where
    )


def test_no_grant_is_a_wildcard_action() -> None:
    document = sam_transform(load_template())
    for name, resource in document["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        assert not resource["Properties"].get("ManagedPolicyArns"), name
        for policy in resource["Properties"]["Policies"]:
            for statement in every_statement(policy["PolicyDocument"]["Statement"]):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all("*" not in action for action in actions), (name, actions)
                if statement["Resource"] == "*":
                    # X-Ray's actions have no resource-level permissions; nothing else may use "*".
                    assert all(action.startswith("xray:") for action in actions), (name, actions)


def test_the_internet_facing_webhook_cannot_put_delete_or_scan(
    report: dict[str, dict[str, list[str]]],
) -> None:
    granted = set(report["WebhookFunction"]["granted"])
    assert not granted & {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan", "s3:PutObject"}


def test_sqs_functions_poll_only_their_own_queue() -> None:
    document = sam_transform(load_template())
    for function, queue in (
        ("DownloaderFunction", "DownloadQueue"),
        ("CallbackFunction", "CallbackQueue"),
        ("DispatchFunction", "DispatchQueue"),
    ):
        statements = document["Resources"][f"{function}Role"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ]
        polling = [s for s in every_statement(statements) if "sqs:ReceiveMessage" in s["Action"]]
        assert polling == [
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": {"Fn::GetAtt": [queue, "Arn"]},
            }
        ]


# -- the scan itself, on small handlers of its own ----------------------------------------------


def _scan(tmp_path: Path, source: str) -> dict[str, Any]:
    handler = tmp_path / "app.py"
    handler.write_text(source)
    return code_actions.actions_used(handler)


def test_scan_follows_only_the_functions_a_handler_reaches(tmp_path: Path) -> None:
    used = _scan(
        tmp_path, "from pipeline.store import jobs\n\ndef handler(event, context):\n    jobs.get_job('x')\n"
    )
    # The jobs table also queries, updates, puts and deletes, in functions this handler never
    # reaches. store/jobs.py only re-exports get_job: the scan follows it to its definition.
    assert sorted(used) == ["dynamodb:GetItem"]
    assert used["dynamodb:GetItem"][0].where.startswith("pipeline.store.job_reads.get_job:")


def test_scan_maps_helpers_and_presigning_to_iam_actions(tmp_path: Path) -> None:
    used = _scan(
        tmp_path,
        "from pipeline.store import outputs\n\n"
        "def handler(event, context):\n"
        "    upload = outputs.start_multipart('k', 'video/mp4', {})\n"
        "    outputs.abort_multipart('k', upload)\n"
        "    outputs.presigned_get('k', 60)\n",
    )
    assert sorted(used) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]


def test_scan_sees_a_function_passed_as_a_value_and_library_seams(tmp_path: Path) -> None:
    used = _scan(
        tmp_path,
        "from pipeline.platform import secret_store\n\n"
        "def handler(event, context):\n"
        "    keys = [secret_store.webhook_secrets]\n",
    )
    assert sorted(used) == ["secretsmanager:GetSecretValue"]


def test_scan_finds_direct_boto3_clients_and_transactions(tmp_path: Path) -> None:
    used = _scan(
        tmp_path,
        "import boto3\n\n"
        "def handler(event, context):\n"
        "    client = boto3.client('dynamodb')\n"
        "    client.transact_write_items(TransactItems=[{'Put': {}}, {'ConditionCheck': {}}])\n"
        "    boto3.client('sqs').delete_message_batch(QueueUrl='q', Entries=[])\n",
    )
    assert sorted(used) == ["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "sqs:DeleteMessage"]


def test_scan_resolves_transaction_parts_built_in_other_functions(tmp_path: Path) -> None:
    # delete_submitting_job passes a Delete of the job and slots.give_back's Update to
    # job_transactions.transact.
    used = _scan(
        tmp_path,
        "from pipeline.store import jobs\n\n"
        "def handler(event, context):\n"
        "    jobs.delete_submitting_job(None)\n",
    )
    assert sorted(used) == ["dynamodb:DeleteItem", "dynamodb:UpdateItem"]
    assert any("transaction parts built elsewhere" in use.where for use in used["dynamodb:UpdateItem"])
