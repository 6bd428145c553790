"""DynamoDB mechanics every table module shares: conditional writes, reading a cancelled
transaction, and update expressions. Every transaction goes through store/usage.py's `transact`,
the one retry policy for TransactionConflict (a job's usage moves in the job's own transaction).

The write itself stays in the table module, passed here as a callable: local/code_actions.py
finds each function's IAM actions from the calls it can see on a table, and the table module is
where a reader looks for what is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")


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
