"""`python -m ops rotate-secret NAME`: the command over ops/secrets.py. No value is ever printed
or given as a flag: it comes from a file or stdin, or is generated and stays in the secret."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ops import secrets, targets

Log = Callable[..., None]

SECRETS = {
    "magic-hour-api-key": "magic_hour_api_key_secret",
    "magic-hour-webhook-secret": "magic_hour_webhook_secret",
    "callback-signing-secret": "callback_signing_secret",
    "webhook-path-token": "webhook_path_token_secret",
}


def _read_value(path: str | None) -> str:
    if path is None:
        raise ValueError("give the new value with --from-file PATH (or '-' for stdin); it is never a flag")
    text = sys.stdin.read() if path == "-" else open(path).read()  # noqa: SIM115 - read once
    return text.strip()


def rotate(args: argparse.Namespace, session: targets.Session, where: targets.Targets, log: Log) -> int:
    """`python -m ops rotate-secret NAME`: a new value, read from a file or stdin (never a flag)."""
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
