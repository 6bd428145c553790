"""`make invoke FN=<logical id> EVENT=<file>`: run one function of template.yaml with one event,
without Docker, against a fresh local stack (moto, simulator), and print what it returned.

Webhook samples are signed for the documented test secret at a fixed time, so by default they are
re-signed with the local stack's secret and the current time (--as-is sends them unchanged, and
the function rightly answers 401 for the stale timestamp).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from local.config import LocalConfig
from local.stack import LocalStack
from pipeline.webhook.signature import sign


def resign(event: dict[str, Any], secret: str) -> dict[str, Any]:
    headers = event.get("headers") or {}
    if "magic-hour-event-signature" not in headers:
        return event
    body = (event.get("body") or "").encode()
    timestamp = str(int(time.time()))
    headers = {
        **headers,
        "magic-hour-event-timestamp": timestamp,
        "magic-hour-event-signature": sign(secret, timestamp, body),
    }
    multi = {name: [value] for name, value in headers.items()}
    return {**event, "headers": headers, "multiValueHeaders": multi}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. WebhookFunction")
    parser.add_argument("event", type=Path, help="JSON event file, e.g. events/webhook-video-completed.json")
    parser.add_argument("--as-is", action="store_true", help="do not re-sign webhook events")
    args = parser.parse_args(argv)

    config = LocalConfig.from_environment()
    stack = LocalStack(config)
    functions = stack.template.functions()
    if args.function not in functions:
        print(
            f"no function {args.function!r} in template.yaml; choose from {', '.join(functions)}",
            file=sys.stderr,
        )
        return 2
    event = json.loads(args.event.read_text())
    if not args.as_is:
        event = resign(event, config.webhook_secret)
    stack.start(warm=False)
    try:
        result = stack.invoke(args.function, event)
    finally:
        stack.stop()
    print(json.dumps(result.payload, indent=2))
    print(
        f"({args.function}: {'ok' if result.ok else 'function error: ' + str(result.error)}, "
        f"{result.duration_ms:.0f} ms including cold start)",
        file=sys.stderr,
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
