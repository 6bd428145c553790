"""JSON as RFC 8259 defines it, for bodies that come from outside.

Python's parser is lenient in ways that bite later, far from the request: it accepts NaN and
Infinity (not JSON; `requests` then refuses to send them), turns 1e400 into inf, and decodes
"\\udd9c" into a lone surrogate that no UTF-8 encoder (DynamoDB, our JSON answers) can write. A body
is refused here, before anything is stored or sent, instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotJson(ValueError):
    pass


Loc = tuple[str | int, ...]


def loads(raw: bytes) -> Any:
    """The document, or NotJson when `raw` is not strict JSON (lone surrogates are found apart,
    by `lone_surrogate`, so the caller can name the field)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotJson(str(exc)[:200]) from exc


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 is valid JSON but no number Magic Hour (or JSON out) can take
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def has_surrogate(text: str) -> bool:
    # Only surrogates make strict UTF-8 encoding fail; the codec is C, a Python loop is not.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate(document: Any) -> tuple[Loc, str] | None:
    """Where the first string (value or key) holding a lone surrogate is, and which it is.

    json.loads pairs valid surrogate escapes ("\\ud83d\\ude00") into one code point, so any
    surrogate left in a decoded string is a lone one: not Unicode text at all. Iterative, so a
    document as deep as the parser allows cannot exhaust the stack here.
    """
    pending: list[tuple[Loc, Any]] = [((), document)]
    while pending:
        loc, node = pending.pop()
        if isinstance(node, str):
            if has_surrogate(node):
                return loc, "value"
        elif isinstance(node, dict):
            for key in node:
                if has_surrogate(key):
                    return loc, "key"
            pending.extend(((*loc, key), value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            pending.extend(((*loc, index), item) for index, item in reversed(list(enumerate(node))))
    return None
