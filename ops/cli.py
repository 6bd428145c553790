"""`python -m ops COMMAND` (or `make ops ARGS="COMMAND ..."`).

Where: `--stack NAME` reads the deployed stack's outputs (CloudFormation, the operator's
credentials); `--local [NAME]` (the default) uses the local stack's names on its moto server;
`--jobs-table`, `--callback-queue-url`, ... name things explicitly. `--endpoint-url` (or
AWS_ENDPOINT_URL) points at another endpoint. Every action is logged as one JSON line on stderr
and is safe to repeat.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ops import account, clients_cli, jobs, pipeline_env, queues, secrets, targets
from pipeline.magic_hour.errors import MagicHourError
from pipeline.store import jobs as job_store
from pipeline.store import usage

SECRETS = {
    "magic-hour-api-key": "magic_hour_api_key_secret",
    "magic-hour-webhook-secret": "magic_hour_webhook_secret",
    "callback-signing-secret": "callback_signing_secret",
    "webhook-path-token": "webhook_path_token_secret",
}


def log(action: str, **fields: Any) -> None:
    """The audit line of one action (never a secret value)."""
    line = {"at": jobs.iso(datetime.now(UTC)), "operator": getpass.getuser(), "action": action, **fields}
    print(json.dumps(line, default=str), file=sys.stderr, flush=True)


def out(document: Any) -> None:
    print(json.dumps(document, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal.
    return (
        int(value)
        if hasattr(value, "to_integral_value") and value == value.to_integral_value()
        else str(value)
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m ops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = top.add_mutually_exclusive_group()
    where.add_argument(
        "--stack", default=os.environ.get("OPS_STACK"), help="deployed stack name (CloudFormation outputs)"
    )
    where.add_argument(
        "--local",
        nargs="?",
        const=targets.LOCAL_STACK_NAME,
        metavar="NAME",
        help=f"the local stack (default {targets.LOCAL_STACK_NAME}, on http://127.0.0.1:$LOCAL_AWS_PORT)",
    )
    top.add_argument(
        "--endpoint-url", default=None, help="AWS endpoint (default: AWS_ENDPOINT_URL, else AWS)"
    )
    top.add_argument(
        "--region", default=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    )
    for name in targets.field_names():
        top.add_argument(
            "--" + name.replace("_", "-"),
            default=os.environ.get("OPS_" + name.upper()),
            help=argparse.SUPPRESS,
        )
    commands = top.add_subparsers(dest="command", required=True)

    find = commands.add_parser("jobs", help="find jobs across clients by status and age")
    find.add_argument(
        "--status", action="append", choices=jobs.STATUSES, help="repeatable; default: every status"
    )
    find.add_argument(
        "--stuck", action="store_true", help="not ended and not moved for --older-than (default 1h)"
    )
    find.add_argument("--given-up", action="store_true", help="failed by the sweep (error.code gave_up)")
    find.add_argument(
        "--failed-by", choices=["submit", "magic_hour", "download"], help="failed, by error.source"
    )
    find.add_argument("--code", help="failed with this error.code")
    find.add_argument("--older-than", help="not moved for this long: 90s, 15m, 6h, 2d")
    find.add_argument("--client", help="only this client")
    find.add_argument("--limit", type=int, default=100)

    show = commands.add_parser("show", help="one job, with what is known of its history")
    show.add_argument("job_id")
    show.add_argument(
        "--logs",
        type=float,
        metavar="HOURS",
        help="deployed stacks: also every log line about it (Logs Insights)",
    )

    fail = commands.add_parser("fail", help="fail a job that has not ended (its callback is sent)")
    fail.add_argument("job_id")
    fail.add_argument("--reason", required=True)

    resweep = commands.add_parser("resweep", help="have the next sweep check a job now (back-off reset)")
    resweep.add_argument("job_id")

    redrive = commands.add_parser("redrive", help="move a dead-letter queue's messages back")
    redrive.add_argument("queue", choices=["download", "callback"])
    redrive.add_argument("--limit", type=int, default=None)

    commands.add_parser("queues", help="depth of every queue")

    account_command = commands.add_parser(
        "account", help="the Magic Hour account's credit balance and tier, and the limit `auto` takes"
    )
    account_command.add_argument(
        "--magic-hour-url", help="Magic Hour's API (default MAGIC_HOUR_BASE_URL, locally the simulator)"
    )

    budget = commands.add_parser("set-budget", help="set a client's daily credit budget")
    budget.add_argument("client_id")
    amount = budget.add_mutually_exclusive_group(required=True)
    amount.add_argument("--credits", type=int)
    amount.add_argument("--unlimited", action="store_true", help="remove the budget")

    rotate = commands.add_parser("rotate-secret", help="rotate one of the stack's secrets")
    rotate.add_argument("secret", choices=sorted(SECRETS))
    rotate.add_argument("--from-file", help="read the new value from this file ('-': stdin)")
    rotate.add_argument(
        "--generate", action="store_true", help="callback-signing-secret: make a new random one"
    )
    rotate.add_argument(
        "--phase",
        choices=["begin", "finish"],
        help=(
            "magic-hour-webhook-secret: begin (accept old and new) then finish (new only); "
            "webhook-path-token: begin (a new token, the old one still accepted) then finish"
        ),
    )
    clients_cli.add_parser(commands)
    return top


def resolve(args: argparse.Namespace) -> tuple[targets.Session, targets.Targets]:
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    overrides = {name: getattr(args, name) for name in targets.field_names()}
    stack = None if args.local else args.stack  # --local wins over OPS_STACK from the environment
    explicit = any(overrides.values()) and not args.local
    local = None if (stack or explicit) else (args.local or targets.LOCAL_STACK_NAME)
    if local and not endpoint:
        endpoint = f"http://127.0.0.1:{os.environ.get('LOCAL_AWS_PORT', '5000')}"
    session = targets.Session(
        endpoint, args.region, local_credentials=bool(local) and "AWS_ACCESS_KEY_ID" not in os.environ
    )
    if stack:
        found = targets.from_stack_outputs(session.client("cloudformation"), stack)
    elif local:
        found = targets.from_local_naming(session.client("sqs"), local)
    else:
        found = targets.Targets()
    return session, targets.with_overrides(found, overrides)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        session, where = resolve(args)
        return run(args, session, where)
    except (LookupError, ValueError) as problem:
        print(f"ops: {problem}", file=sys.stderr)
        return 1
    except MagicHourError as problem:  # ops account: Magic Hour refused or could not be reached
        print(f"ops: Magic Hour: {problem.message}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, session: targets.Session, where: targets.Targets) -> int:
    command = args.command
    if command == "clients":
        return clients_cli.run(args, session, where, log, out)
    if command == "jobs":
        return _find(args, session.table(where.need("jobs_table")))
    if command == "show":
        item = jobs.get(session.table(where.need("jobs_table")), args.job_id)
        if item is None:
            raise LookupError(f"no job {args.job_id}")
        story = jobs.story(item)
        story["logs_query"] = logs_query(args.job_id)
        if args.logs:
            groups = [g for g in where.log_groups if "/aws/lambda/" in g]
            if not groups:
                raise LookupError(
                    "--logs needs a deployed stack (--stack NAME): its log groups are its outputs"
                )
            story["logs"] = job_logs(session.client("logs"), groups, args.job_id, args.logs)
        out(story)
        return 0
    if command == "fail":
        return _fail(args, session, where)
    if command == "resweep":
        where.need("jobs_table")
        with pipeline_env.bound(session, where):
            due = jobs.resweep(args.job_id, int(time.time()))
        log("resweep", job_id=args.job_id, result="due" if due else "not_watched")
        if not due:
            print(f"{args.job_id}: the sweep does not watch this job (it ended and its callback is settled)")
            return 0
        print(f"{args.job_id}: due at the next sweep")
        return 0
    if command == "redrive":
        return _redrive(args, session, where)
    if command == "queues":
        sqs = session.client("sqs")
        out(
            {
                name: queues.depth(sqs, where.need(name))
                for name in (
                    "download_queue_url",
                    "download_dead_letter_queue_url",
                    "callback_queue_url",
                    "callback_dead_letter_queue_url",
                )
            }
        )
        return 0
    if command == "account":
        url = account.base_url(args.magic_hour_url, local=not args.stack)
        out(account.show(session, where, url))
        log("account")
        return 0
    if command == "set-budget":
        return _set_budget(args, session, where)
    if command == "rotate-secret":
        return _rotate(args, session, where)
    raise ValueError(f"unknown command {command}")


def _find(args: argparse.Namespace, table: Any) -> int:
    older = jobs.parse_age(args.older_than) if args.older_than else None
    statuses = list(args.status or [])
    code = args.code
    if args.stuck:
        statuses = statuses or list(jobs.NOT_ENDED)
        older = jobs.parse_age("1h") if older is None else older
    if args.given_up:
        statuses, code = ["failed"], "gave_up"
    if args.failed_by or args.code:
        statuses = ["failed"]
    found = [
        jobs.summary(item)
        for item in jobs.find(
            table,
            statuses or list(jobs.STATUSES),
            older_than=older,
            error_code=code,
            error_source=args.failed_by,
            client_id=args.client,
            limit=args.limit,
        )
    ]
    out({"count": len(found), "jobs": found})
    return 0


def _fail(args: argparse.Namespace, session: targets.Session, where: targets.Targets) -> int:
    # Everything a failure touches: the job, the usage counters and slots, the two queues.
    for name in ("jobs_table", "clients_table", "callback_queue_url", "dispatch_queue_url"):
        where.need(name)
    with pipeline_env.bound(session, where, metrics=session.client("cloudwatch")):
        failed = jobs.fail(args.job_id, args.reason)
        # The move queued its callback, or (SQS refused) left it to the sweep, which queues a
        # pending, unqueued callback itself.
        after = job_store.get_job(args.job_id) if failed is not None and failed.callback_url else None
    if failed is None:
        log("fail", job_id=args.job_id, result="already_ended")
        print(f"{args.job_id}: already ended; its status is final, nothing changed")
        return 0
    result = "failed"
    if failed.callback_url:
        result = (
            "failed_callback_queued" if after and after.callback_queued else "failed_callback_left_to_sweep"
        )
    log("fail", job_id=args.job_id, client_id=failed.client_id, reason=args.reason, result=result)
    print(f"{args.job_id}: failed ({result})")
    return 0


def _redrive(args: argparse.Namespace, session: targets.Session, where: targets.Targets) -> int:
    sqs = session.client("sqs")
    if args.queue == "download":
        report = queues.redrive(
            sqs,
            where.need("download_dead_letter_queue_url"),
            where.need("download_queue_url"),
            # Marks each failed job first: only a redriven message may revive it.
            prepare=jobs.download_redrive_check(session.table(where.need("jobs_table"))),
            limit=args.limit,
        )
    else:
        table = session.table(where.need("jobs_table"))

        def reopen(body: dict[str, Any]) -> str:
            if isinstance(body.get("batch_id"), str) and isinstance(body.get("client_id"), str):
                clients = session.table(where.need("clients_table"))
                return jobs.reopen_batch_end(clients, body["client_id"], body["batch_id"])
            job_id = body.get("job_id")
            if not isinstance(job_id, str) or "webhook_id" not in body:
                return "not_a_task"
            state = jobs.reopen_callback(table, job_id)
            log("reopen_callback", job_id=job_id, result=state)
            return "send" if state in ("reopened", "already_pending") else state

        report = queues.redrive(
            sqs,
            where.need("callback_dead_letter_queue_url"),
            where.need("callback_queue_url"),
            prepare=reopen,
            limit=args.limit,
        )
    log("redrive", queue=args.queue, moved=report.moved, dropped=report.dropped, outcomes=report.outcomes)
    print(f"redrive {args.queue}: moved {report.moved}, dropped {report.dropped} {report.outcomes}")
    return 0


def _set_budget(args: argparse.Namespace, session: targets.Session, where: targets.Targets) -> int:
    where.need("clients_table")
    with pipeline_env.bound(session, where):
        usage.set_budget(args.client_id, None if args.unlimited else args.credits)
    budget = "unlimited" if args.unlimited else args.credits
    log("set-budget", client_id=args.client_id, daily_credit_budget=budget)
    print(f"{args.client_id}: daily credit budget {budget}")
    return 0


def _read_value(path: str | None) -> str:
    if path is None:
        raise ValueError("give the new value with --from-file PATH (or '-' for stdin); it is never a flag")
    text = sys.stdin.read() if path == "-" else open(path).read()  # noqa: SIM115 - read once
    return text.strip()


def _rotate(args: argparse.Namespace, session: targets.Session, where: targets.Targets) -> int:
    client = session.client("secretsmanager")
    secret_id = where.need(SECRETS[args.secret])
    if args.secret == "magic-hour-webhook-secret":  # noqa: S105 - a name
        if args.phase is None:
            raise ValueError(
                "magic-hour-webhook-secret rotates in two phases: --phase begin, then --phase finish"
            )
        result = (
            secrets.webhook_begin(client, secret_id, _read_value(args.from_file))
            if args.phase == "begin"
            else secrets.webhook_finish(client, secret_id)
        )
    elif args.secret == "webhook-path-token":  # noqa: S105 - a name
        if args.phase is None:
            raise ValueError("webhook-path-token rotates in two phases: --phase begin, then --phase finish")
        # The token is generated here and never printed: read it from the secret to register it.
        begin = args.phase == "begin"
        result = (secrets.path_token_begin if begin else secrets.path_token_finish)(client, secret_id)
    elif args.secret == "callback-signing-secret" and args.generate:  # noqa: S105 - a name
        result = secrets.put(client, secret_id, secrets.new_callback_secret())
    else:
        result = secrets.put(client, secret_id, _read_value(args.from_file))
    log("rotate-secret", secret=args.secret, phase=args.phase, result=result)
    print(f"{args.secret}: {result} (functions pick it up within 5 minutes)")
    return 0


def job_logs(
    logs: Any,
    groups: list[str],
    job_id: str,
    hours: float,
    timeout: float = 60.0,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, str]]:
    """Run the job's Logs Insights query over the function log groups and wait for its rows."""
    end = int(now())
    query_id = logs.start_query(
        logGroupNames=groups,
        startTime=end - int(hours * 3600),
        endTime=end,
        queryString=logs_query(job_id),
        limit=1000,
    )["queryId"]
    deadline = now() + timeout
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout", "Unknown"):
            break
        if now() > deadline:
            raise LookupError(f"the logs query did not finish in {timeout:.0f}s (query {query_id})")
        sleep(1.0)
    if answer["status"] != "Complete":
        raise LookupError(f"the logs query ended {answer['status']}")
    return [
        {cell["field"]: cell["value"] for cell in row if not cell["field"].startswith("@ptr")}
        for row in answer.get("results", [])
    ]


def logs_query(job_id: str) -> str:
    """The CloudWatch Logs Insights query that shows one job's whole story (every function)."""
    return (
        "fields @timestamp, service, level, message, status, outcome, error, reason\n"
        f"| filter job_id = '{job_id}'\n"
        "| sort @timestamp asc"
    )
