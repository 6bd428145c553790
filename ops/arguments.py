"""The command line of `python -m ops`: where (a deployed stack, the local one, or names given),
and each command's arguments. The help's description is ops/cli.py's docstring."""

from __future__ import annotations

import argparse
import os

from ops import clients_cli, jobs, secrets_cli, targets


def parser(cli_doc: str | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m ops", description=cli_doc, formatter_class=argparse.RawDescriptionHelpFormatter
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
    rotate.add_argument("secret", choices=sorted(secrets_cli.SECRETS))
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
