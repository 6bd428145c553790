"""Short leases in the clients table, so a scheduled job never runs twice at once.

A lease is an item `lease#<name>` in the pipeline's own partition (no API key's id starts with "#",
see store/clients.py), holding the holder's id and when it runs out; a holder that crashes simply lets
it run out.
"""

from __future__ import annotations

import contextlib

from botocore.exceptions import ClientError

from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import clients, dynamo

LEASE_PARTITION = clients.PIPELINE


def acquire(name: str, holder: str, seconds: int) -> bool:
    """True when `holder` now holds the lease `name` for `seconds`; False while another holds it."""
    now = epoch_seconds()
    try:
        clients.table().put_item(
            Item={
                "client_id": LEASE_PARTITION,
                "item": f"lease#{name}",
                "holder": holder,
                "until": now + seconds,
            },
            ConditionExpression="attribute_not_exists(client_id) OR #until < :now OR holder = :holder",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues={":now": now, ":holder": holder},
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


def release(name: str, holder: str) -> None:
    """Best effort: if this fails the lease runs out on its own."""
    with contextlib.suppress(ClientError):
        clients.table().delete_item(
            Key={"client_id": LEASE_PARTITION, "item": f"lease#{name}"},
            ConditionExpression="holder = :holder",
            ExpressionAttributeValues={":holder": holder},
        )
