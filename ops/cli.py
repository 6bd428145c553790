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
from datetime import UTC, datetime
from typing import Any

from ops import account, clients_cli, jobs, logs_cli, pipeline_env, queues, secrets_cli, targets
from ops.arguments import parser as _parser
from pipeline.magic_hour.errors import MagicHourError
from pipeline.store import jobs as job_store
from pipeline.store import usage


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
    return _parser(__doc__)


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
        story["logs_query"] = logs_cli.logs_query(args.job_id)
        if args.logs:
            groups = [g for g in where.log_groups if "/aws/lambda/" in g]
            if not groups:
                raise LookupError(
                    "--logs needs a deployed stack (--stack NAME): its log groups are its outputs"
                )
            story["logs"] = logs_cli.job_logs(session.client("logs"), groups, args.job_id, args.logs)
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
        return secrets_cli.rotate(args, session, where, log)
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
