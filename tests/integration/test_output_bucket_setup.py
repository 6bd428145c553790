"""The local output bucket is made as template.yaml says: versioned, with its expiry rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import StackHandle


def test_local_output_bucket_is_versioned_with_the_templates_lifecycle(
    stack: StackHandle, aws: Callable[[str], Any]
) -> None:
    bucket = stack.stack.resolver.refs["OutputBucket"]
    s3 = aws("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["ExpireOutputsWithTheirJob"]["Expiration"] == {"Days": 90}
    assert rules["ExpireOutputsWithTheirJob"]["Filter"] == {"Prefix": "jobs/"}
    assert rules["ExpireNoncurrentVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    assert rules["AbortIncompleteMultipartUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
