"""Who a caller is: principal ARNs as mappings name them, and the refusals that need no lookup."""

from __future__ import annotations

import pytest

from pipeline import callers
from pipeline.jobs import errors


@pytest.mark.parametrize(
    ("arn", "key"),
    [
        ("arn:aws:sts::123456789012:assumed-role/Worker/i-0abc", "arn:aws:iam::123456789012:role/Worker"),
        ("arn:aws:iam::123456789012:role/Worker", "arn:aws:iam::123456789012:role/Worker"),
        # A session's ARN has no path, so the role is mapped without it.
        ("arn:aws:iam::123456789012:role/teams/video/Worker", "arn:aws:iam::123456789012:role/Worker"),
        ("arn:aws-cn:sts::123456789012:assumed-role/W/s1", "arn:aws-cn:iam::123456789012:role/W"),
        ("arn:aws:iam::123456789012:user/ci/deployer", "arn:aws:iam::123456789012:user/ci/deployer"),
        ("arn:aws:iam::123456789012:root", None),
        ("arn:aws:sts::123456789012:federated-user/bob", None),
        ("arn:aws:sts::123456789012:role/Worker", None),
        ("arn:aws:iam::123456789012:assumed-role/Worker/s1", None),
        ("arn:aws:sts::12345:assumed-role/Worker/s1", None),
        ("not an arn", None),
    ],
)
def test_principal_key(arn: str, key: str | None) -> None:
    assert callers.principal_key(arn) == key


def test_an_api_key_caller_is_the_keys_client() -> None:
    assert callers.client_of("key-id-1", None, "api-key") == "key-id-1"
    assert callers.client_of("key-id-1", None, "both") == "key-id-1"


def test_no_credential_is_unauthorized() -> None:
    with pytest.raises(errors.Unauthenticated):
        callers.client_of(None, None, "both")


def test_an_api_key_on_an_iam_only_deployment_is_unauthorized() -> None:
    with pytest.raises(errors.Unauthenticated, match="SigV4"):
        callers.client_of("key-id-1", None, "iam")


def test_a_signer_on_a_key_only_deployment_is_forbidden() -> None:
    with pytest.raises(errors.Forbidden):
        callers.client_of(None, "arn:aws:iam::123456789012:user/u", "api-key")


def test_a_principal_that_is_never_mapped_is_forbidden_without_a_lookup() -> None:
    # A root or federated principal has no key, so no table is read (none exists in this test).
    with pytest.raises(errors.Forbidden, match="not mapped"):
        callers.client_of(None, "arn:aws:iam::123456789012:root", "both")
