"""What keeps data safe in template.yaml: the output bucket's versioning and expiry, access logs
as an option, and Retain on what cannot be recreated."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import Resolver, load_template


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


def bucket(document: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = document["Resources"]["OutputBucket"]["Properties"]
    return properties


def rule(document: dict[str, Any], rule_id: str) -> dict[str, Any]:
    rules = {r["Id"]: r for r in bucket(document)["LifecycleConfiguration"]["Rules"]}
    assert rules[rule_id]["Status"] == "Enabled"
    return rules[rule_id]


def test_output_bucket_is_versioned_and_old_versions_expire(document: dict[str, Any]) -> None:
    assert bucket(document)["VersioningConfiguration"] == {"Status": "Enabled"}
    expiry = rule(document, "ExpireNoncurrentVersions")["NoncurrentVersionExpiration"]
    assert expiry == {"NoncurrentDays": {"Ref": "OutputNoncurrentVersionDays"}}
    assert rule(document, "RemoveExpiredDeleteMarkers")["ExpiredObjectDeleteMarker"] is True


def test_outputs_expire_with_their_job(document: dict[str, Any]) -> None:
    outputs = rule(document, "ExpireOutputsWithTheirJob")
    assert outputs["Prefix"] == "jobs/"
    assert outputs["ExpirationInDays"] == {"Ref": "JobRetentionDays"}
    # ... the same days as the job record's TTL (settings.job_ttl_days).
    assert document["Globals"]["Function"]["Environment"]["Variables"]["JOB_TTL_DAYS"] == {
        "Ref": "JobRetentionDays"
    }


def test_access_logs_are_an_option(document: dict[str, Any]) -> None:
    logging = bucket(document)["LoggingConfiguration"]
    assert logging["Fn::If"][0] == "HasAccessLogBucket"
    assert logging["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert document["Parameters"]["AccessLogBucketName"]["Default"] == ""

    def resolved(name: str) -> dict[str, Any]:
        resolver = Resolver({"AccessLogBucketName": name}, {}, {}, {}, document["Conditions"])
        properties: dict[str, Any] = resolver.resolve({"LoggingConfiguration": logging})
        return properties

    assert resolved("") == {}
    assert resolved("my-logs") == {
        "LoggingConfiguration": {"DestinationBucketName": "my-logs", "LogFilePrefix": "output-bucket/"}
    }


@pytest.mark.parametrize(
    "name",
    [
        "DownloadDeadLetterQueue",
        "CallbackDeadLetterQueue",
        "MagicHourApiKeySecret",
        "MagicHourWebhookSecret",
        "CallbackSigningSecret",
        "OutputBucket",
        "JobsTable",
        "ClientsTable",
    ],
)
def test_what_cannot_be_recreated_is_retained(document: dict[str, Any], name: str) -> None:
    resource = document["Resources"][name]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_resolver_conditions_and_no_value() -> None:
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {
            "Fn::And": [
                {"Condition": "IsProd"},
                {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "IsProd"}]},
            ]
        },
    }
    value = {
        "A": {"Fn::If": ["IsProd", "p", {"Ref": "AWS::NoValue"}]},
        "B": [{"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]}, "y"],
        "C": {"Fn::If": ["Both", 1, 2]},
    }
    assert Resolver({"Stage": "prod"}, {}, {}, {}, conditions).resolve(value) == {
        "A": "p",
        "B": ["y"],
        "C": 1,
    }
    assert Resolver({"Stage": "dev"}, {}, {}, {}, conditions).resolve(value) == {"B": ["x", "y"], "C": 2}
