"""DynamoDB mechanics every table module shares: conditional writes, transactions with one retry
policy, and update expressions.

The write itself stays in the table module, passed here as a callable: local/code_actions.py
finds each function's IAM actions from the calls it can see on a table, and the table module is
where a reader looks for what is written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

# A transaction cancelled only because another one touched the same item wrote nothing; DynamoDB
# cancels rather than queues, and boto3 does not retry a cancelled transaction. Six tries cover a
# burst of one client's requests on its day counter.
CONFLICT_ATTEMPTS = 6


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: ClientError) -> bool:
    """A single write whose condition did not hold (nothing was written)."""
    return _code(error) == "ConditionalCheckFailedException"


def is_cancelled(error: ClientError) -> bool:
    """A transaction DynamoDB cancelled (nothing was written)."""
    return _code(error) == "TransactionCanceledException"


def cancelled_by(error: ClientError) -> list[bool]:
    """Per part of a cancelled transaction: did its own condition fail?"""
    return [code == "ConditionalCheckFailed" for code in _reasons(error)]


def _reasons(error: ClientError) -> list[str]:
    return [str(reason.get("Code")) for reason in error.response.get("CancellationReasons") or []]


def conditionally(write: Callable[[], T]) -> T | None:
    """The write's answer, or None when its condition did not hold. Any other error raises."""
    try:
        return write()
    except ClientError as error:
        if is_condition_failure(error):
            return None
        raise


def transact(write: Callable[[], object]) -> None:
    """Run a TransactWriteItems call, again (after a short jitter) while it is cancelled for a
    TransactionConflict alone. A cancellation with a failed condition, or the last conflict,
    raises as it came: the caller reads it with `is_cancelled` and `cancelled_by`."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            write()
        except ClientError as error:
            reasons = _reasons(error) if is_cancelled(error) else []
            conflict_only = "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons
            if conflict_only and attempt + 1 < CONFLICT_ATTEMPTS:
                # Jitter only, nothing secret.
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311
                continue
            raise
        return


def update_expression(
    assignments: dict[str, Any], removals: list[str], *extra_sets: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The UpdateExpression that sets `assignments` (then `extra_sets`, written out) and removes
    `removals`, with its attribute names and values (every name a placeholder: no reserved word
    can break it)."""
    names = {f"#f{i}": name for i, name in enumerate([*assignments, *removals])}
    values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(assignments.values())}
    expression = "SET " + ", ".join([*(f"#f{i} = :v{i}" for i in range(len(assignments))), *extra_sets])
    if removals:
        expression += " REMOVE " + ", ".join(f"#f{len(assignments) + i}" for i in range(len(removals)))
    return expression, names, values
