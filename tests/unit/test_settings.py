"""Settings from the function's environment (pipeline.platform.settings._from_environment)."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from pipeline.platform.settings import MissingSetting, ResourceSetting, Settings, _from_environment


def test_empty_environment_gives_the_defaults() -> None:
    settings = _from_environment({})
    assert settings == Settings()
    assert settings.download_allowed_hosts == ["videos.magichour.ai"]
    assert settings.download_require_https is True
    assert settings.download_retry_delays_seconds == [10, 30, 120, 600, 1800]
    assert settings.require_https_callbacks is True
    assert settings.delete_project_after_download is False
    assert settings.webhook_tolerance_seconds == 300


def test_allowed_hosts_comma_list_is_split_trimmed_and_lower_cased() -> None:
    settings = _from_environment(
        {"DOWNLOAD_ALLOWED_HOSTS": " MagicHour.ai, amazonaws.com ,,CloudFront.net, "}
    )
    assert settings.download_allowed_hosts == ["magichour.ai", "amazonaws.com", "cloudfront.net"]


def test_single_allowed_host() -> None:
    assert _from_environment({"DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1"}).download_allowed_hosts == ["127.0.0.1"]


def test_retry_delays_comma_list_becomes_integers() -> None:
    settings = _from_environment({"DOWNLOAD_RETRY_DELAYS_SECONDS": "1, 2,3 ,600"})
    assert settings.download_retry_delays_seconds == [1, 2, 3, 600]


def test_non_numeric_retry_delay_is_refused() -> None:
    with pytest.raises(ValidationError):
        _from_environment({"DOWNLOAD_RETRY_DELAYS_SECONDS": "10,soon"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False), ("1", True), ("0", False)],
)
def test_booleans_are_parsed_from_text(text: str, expected: bool) -> None:
    settings = _from_environment({"REQUIRE_HTTPS_CALLBACKS": text, "DELETE_PROJECT_AFTER_DOWNLOAD": text})
    assert settings.require_https_callbacks is expected
    assert settings.delete_project_after_download is expected


def test_unparseable_boolean_is_refused() -> None:
    with pytest.raises(ValidationError):
        _from_environment({"REQUIRE_HTTPS_CALLBACKS": "maybe"})


def test_numbers_strings_and_bounds() -> None:
    settings = _from_environment(
        {
            "DOWNLOAD_MAX_ATTEMPTS": "9",
            "MAGIC_HOUR_READ_TIMEOUT_SECONDS": "12.5",
            "JOBS_TABLE_NAME": "stack-JobsTable-ABC",
            "PRESIGNED_URL_TTL_SECONDS": "60",
        }
    )
    assert settings.download_max_attempts == 9
    assert settings.magic_hour_read_timeout_seconds == 12.5
    assert settings.jobs_table_name == "stack-JobsTable-ABC"
    assert settings.presigned_url_ttl_seconds == 60
    with pytest.raises(ValidationError):
        _from_environment({"PRESIGNED_URL_TTL_SECONDS": "59"})


def test_only_upper_case_field_names_are_read_and_others_ignored() -> None:
    settings = _from_environment(
        {
            "download_max_attempts": "2",  # lower case is not how Lambda spells it
            "PATH": "/usr/bin",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert settings.download_max_attempts == 6


# -- resource settings: no defaults, a clear failure naming the variable -----------------------

RESOURCE_SETTINGS = sorted(get_args(ResourceSetting))


@pytest.mark.parametrize("name", RESOURCE_SETTINGS)
def test_a_resource_setting_without_its_variable_fails_naming_the_variable(name: str) -> None:
    settings = _from_environment({"OTHER_VARIABLE": "x"})
    with pytest.raises(MissingSetting) as failure:
        settings.require(name)  # type: ignore[arg-type]
    assert failure.value.variable == name.upper()
    assert name.upper() in str(failure.value)


@pytest.mark.parametrize("name", RESOURCE_SETTINGS)
def test_a_resource_setting_set_empty_fails_too(name: str) -> None:
    with pytest.raises(MissingSetting, match=name.upper()):
        _from_environment({name.upper(): ""}).require(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", RESOURCE_SETTINGS)
def test_a_resource_setting_is_read_from_its_variable(name: str) -> None:
    value = f"stack-{name}-ABC123"
    assert _from_environment({name.upper(): value}).require(name) == value  # type: ignore[arg-type]


def test_every_resource_name_url_and_secret_name_is_a_required_setting() -> None:
    """A table, bucket, queue or secret field added with a default would quietly name a resource
    no template made; each must be in ResourceSetting, with None as its default."""
    resource_like = {
        name
        for name in Settings.model_fields
        if name.endswith(("_table_name", "_bucket_name", "_bus_name", "_queue_url", "_secret"))
    }
    assert resource_like == set(RESOURCE_SETTINGS)
    for name in RESOURCE_SETTINGS:
        assert Settings.model_fields[name].default is None, name


def test_reading_settings_without_resource_variables_succeeds() -> None:
    """Parsing never fails for a missing resource (not every function has every one): only the
    code that reads one does."""
    assert _from_environment({}).jobs_table_name is None
