"""`python -m ops clients add|list|show|limit|remove`: the commands over ops/clients.py.

Every action prints what it did (JSON on stdout) and one audit line (stderr); none prints an API
key's value: `aws apigateway get-api-key --api-key <id> --include-value` shows it to whoever may.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ops import clients, targets

Log = Callable[..., None]
Out = Callable[[Any], None]


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, help="usage plan: steady requests per second")
    parser.add_argument("--burst", type=int, help="usage plan: burst of requests")
    parser.add_argument("--quota", type=int, help="usage plan: requests per --quota-period")
    parser.add_argument("--quota-period", choices=["DAY", "WEEK", "MONTH"], default="DAY")


def add_parser(commands: Any) -> None:
    top = commands.add_parser("clients", help="add, list, show, limit and remove clients")
    verbs = top.add_subparsers(dest="verb", required=True)

    add = verbs.add_parser(
        "add",
        help="a client: an API key in its own usage plan (--api-key) and/or IAM principals (--principal)",
    )
    add.add_argument(
        "name", help="--api-key: the key's name (the client id is the key's id); else the client id"
    )
    add.add_argument("--api-key", action="store_true", help="create the client's API key and usage plan")
    add.add_argument(
        "--principal", action="append", default=[], metavar="ARN", help="a role or user ARN; repeatable"
    )
    add.add_argument("--budget", type=int, help="daily credit budget")
    _limits(add)

    verbs.add_parser("list", help="every client")
    show = verbs.add_parser("show", help="one client: budget, principals, API key and usage plan")
    show.add_argument("client_id")

    limit = verbs.add_parser("limit", help="a client's budget and its usage plan's throttle and quota")
    limit.add_argument("client_id")
    budget = limit.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=int, help="daily credit budget")
    budget.add_argument("--unlimited", action="store_true", help="remove the daily credit budget")
    _limits(limit)

    remove = verbs.add_parser("remove", help="a client's credentials and profile (its jobs stay)")
    remove.add_argument("client_id")
    remove.add_argument("--principal", metavar="ARN", help="only this principal's mapping")


def _given_limits(args: argparse.Namespace, defaults: clients.Limits | None = None) -> clients.Limits:
    base = defaults or clients.Limits()
    return clients.Limits(
        rate=args.rate if args.rate is not None else base.rate,
        burst=args.burst if args.burst is not None else base.burst,
        quota=args.quota if args.quota is not None else base.quota,
        quota_period=args.quota_period,
    )


def run(
    args: argparse.Namespace, session: targets.Session, where: targets.Targets, log: Log, out: Out
) -> int:
    table = session.table(where.need("clients_table"))
    verb = args.verb
    if verb == "add":
        return _add(args, session, where, table, log, out)
    if verb == "list":
        out({"clients": [clients.describe(session, where, c) for c in clients.every_client(session, where)]})
        return 0
    if verb == "show":
        shown = clients.describe(session, where, args.client_id)
        if shown is None:
            raise clients.ClientError(f"no client {args.client_id}")
        out(shown)
        return 0
    if verb == "limit":
        return _limit(args, session, where, table, log, out)
    if args.principal:
        key = clients.principal_key(args.principal)
        clients.unmap_principal(table, args.client_id, key)
        log("clients-remove", client_id=args.client_id, removed=[key])
        out({"client_id": args.client_id, "removed": [key]})
        return 0
    removed = clients.remove(session, where, args.client_id)
    log("clients-remove", client_id=args.client_id, removed=removed)
    out({"client_id": args.client_id, "removed": removed})
    return 0


def _add(
    args: argparse.Namespace, session: targets.Session, where: targets.Targets, table: Any, log: Log, out: Out
) -> int:
    if not args.api_key and not args.principal:
        raise clients.ClientError("say what the client calls with: --api-key and/or --principal ARN")
    keys = [clients.principal_key(arn) for arn in args.principal]  # every ARN checked before any write
    if args.budget is not None and args.budget < 0:
        raise clients.ClientError("a daily credit budget is a whole number of credits, 0 or more")
    done: dict[str, Any] = {}
    if args.api_key:
        client_id, outcome = clients.add_key_client(
            session, where, args.name, _given_limits(args, clients.DEFAULT_LIMITS)
        )
        done = {"client_id": client_id, "api_key": outcome, "api_key_id": client_id}
    else:
        client_id = clients.check_client_id(args.name)
        done = {"client_id": client_id}
    done["principals"] = {key: clients.map_principal(table, client_id, key) for key in keys}
    if args.budget is not None:
        clients.set_budget(table, client_id, args.budget)
        done["daily_credit_budget"] = args.budget
    log("clients-add", **done)
    out(done)
    return 0


def _limit(
    args: argparse.Namespace, session: targets.Session, where: targets.Targets, table: Any, log: Log, out: Out
) -> int:
    found = clients.profile(table, args.client_id)
    if found is None:
        raise clients.ClientError(f"no client {args.client_id}")
    limits = _given_limits(args)
    changed: dict[str, Any] = {}
    if limits.rate is not None or limits.burst is not None or limits.quota is not None:
        plan_id = found.get("usage_plan_id")
        if not plan_id:
            raise clients.ClientError(f"client {args.client_id} has no API key, so no usage plan to limit")
        clients.set_limits(session, str(plan_id), limits)
        changed["usage_plan"] = {k: v for k, v in vars(limits).items() if v is not None}
    if args.unlimited or args.budget is not None:
        clients.set_budget(table, args.client_id, None if args.unlimited else args.budget)
        changed["daily_credit_budget"] = None if args.unlimited else args.budget
    if not changed:
        raise clients.ClientError("nothing to change: give --budget/--unlimited or --rate/--burst/--quota")
    log("clients-limit", client_id=args.client_id, **changed)
    out(clients.describe(session, where, args.client_id))
    return 0
