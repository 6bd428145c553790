"""Who is calling: the client an API key or a SigV4 signer belongs to (docs/api.md).

API Gateway has already authenticated the caller (the key is in a usage plan; the signature is
valid and the resource policy admits the account) when the function runs. What is left is the
client: an API key's id is the client id; an IAM principal is mapped to a client by the operator
(`python -m ops clients add --principal`), in the clients table under the principal's own
partition, so finding it is one read.
"""

from __future__ import annotations

import re
from typing import Literal

from pipeline.jobs import errors
from pipeline.store import clients

# The partition of a principal's mapping item; client ids never contain "#" (ops refuses them).
PRINCIPAL_PREFIX = "principal#"
PRINCIPAL_ITEM = "principal"
MAPPED_CLIENT = "mapped_client_id"

CallerAuth = Literal["api-key", "iam", "both"]

_PARTITION_ACCOUNT = r"arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>\d{12}):"
# A role session is served as its role. Its ARN carries the role's name but not its path, so a
# role is mapped by account and name (a role's path is dropped from the mapping too).
_ASSUMED_ROLE = re.compile(_PARTITION_ACCOUNT + r"assumed-role/(?P<name>[\w+=,.@-]{1,64})/[\w+=,.@-]{2,64}")
_ROLE = re.compile(_PARTITION_ACCOUNT + r"role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]{1,64})")
_USER = re.compile(_PARTITION_ACCOUNT + r"user/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}")


def principal_key(arn: str) -> str | None:
    """The principal as mappings name it: `arn:<partition>:iam::<account>:role/<name>` for a role
    or any of its sessions, the user's ARN for a user; None for anything else (roots, federated
    users, malformed ARNs), which is never served."""
    for pattern in (_ASSUMED_ROLE, _ROLE):
        found = pattern.fullmatch(arn)
        if found and (pattern is _ROLE) == (found["service"] == "iam"):
            return f"arn:{found['partition']}:iam::{found['account']}:role/{found['name']}"
    found = _USER.fullmatch(arn)
    if found and found["service"] == "iam":
        return arn
    return None


def mapped_client(arn: str) -> str | None:
    key = principal_key(arn)
    if key is None:
        return None
    item = clients.get_item(PRINCIPAL_PREFIX + key, PRINCIPAL_ITEM)
    mapped = item.get(MAPPED_CLIENT) if item else None
    return str(mapped) if mapped else None


def client_of(api_key_id: str | None, user_arn: str | None, caller_auth: CallerAuth) -> str:
    """The client of a request, from what API Gateway put in `requestContext.identity`."""
    if user_arn:
        if caller_auth == "api-key":
            raise errors.Forbidden("this deployment does not accept SigV4-signed callers")
        client_id = mapped_client(user_arn)
        if client_id is None:
            raise errors.Forbidden("the signing principal is not mapped to a client")
        if api_key_id and api_key_id != client_id:
            raise errors.Forbidden("the API key and the signature belong to different clients")
        return client_id
    if not api_key_id:
        raise errors.Unauthenticated()
    if caller_auth == "iam":
        raise errors.Unauthenticated("this deployment accepts SigV4-signed callers only")
    return api_key_id
