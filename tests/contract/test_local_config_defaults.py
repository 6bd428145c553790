"""The local stack's settings table (in the README and in docs/local-stack.md) says what
local/config.py does with an empty environment, and the production figures it quotes are the
Settings defaults."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from local.config import LocalConfig
from pipeline.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# The README keeps the defaults the contract says it documents; docs/local-stack.md has the same table.
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "local-stack.md"]
# A row of the table: | what | default | `SETTING` |
_ROW = re.compile(r"^\| (?P<what>.+?) \| (?P<default>[^|]+?) \| `(?P<setting>[A-Z_]+)` \|$")
_UNITS = {"s": 1, "min": 60, "h": 3600}

# How each documented default appears in the configuration.
AS_DOCUMENTED: dict[str, Callable[[LocalConfig], str]] = {
    "LOCAL_API_PORT": lambda config: config.api_url,
    "LOCAL_AWS_PORT": lambda config: config.aws_url,
    "LOCAL_MAGIC_HOUR_PORT": lambda config: config.magic_hour_url,
    "LOCAL_API_KEYS": lambda config: ",".join(f"{key}={client}" for key, client in config.api_keys.items()),
    "LOCAL_CLIENT_BUDGETS": lambda config: (
        ",".join(f"{c}={n}" for c, n in config.client_budgets.items()) or "none"
    ),
    "LOCAL_IAM_CALLERS": lambda config: (
        ",".join(
            f"{c.access_key_id}:{c.secret_access_key}={c.client_id}" for c in config.iam_callers.values()
        )
        or "none"
    ),
    "LOCAL_MAGIC_HOUR_API_KEY": lambda config: config.magic_hour_api_key,
    "LOCAL_WEBHOOK_SECRET": lambda config: config.webhook_secret,
    "LOCAL_CALLBACK_SECRET": lambda config: config.callback_secret,
    "LOCAL_WEBHOOK_PATH_TOKEN": lambda config: config.webhook_path_token,
    "LOCAL_SCHEDULE_SECONDS": lambda config: f"{config.schedule_seconds:g}",
    "LOCAL_DOWNLOAD_RETRY_DELAYS": lambda config: config.download_retry_delays,
    "LOCAL_CALLBACK_RETRY_DELAYS": lambda config: config.callback_retry_delays,
    "LOCAL_MAGIC_HOUR_MAX_CONCURRENCY": lambda config: str(config.magic_hour_max_concurrency),
    "LOCAL_CREATE_DEADLINE_SECONDS": lambda config: str(config.create_deadline_seconds),
    "LOCAL_CREATE_RETRY_DELAYS": lambda config: config.create_retry_delays,
    "AWS_DEFAULT_REGION": lambda config: config.region,
    "LOCAL_AWS_FAULTS": lambda config: str(int(config.aws_faults)),
    "LOCAL_FAULTS_PORT": lambda config: str(config.faults_port),
}
# Production values the table quotes: setting -> the Settings default they describe.
PRODUCTION: dict[str, Callable[[Settings], list[int]]] = {
    "LOCAL_DOWNLOAD_RETRY_DELAYS": lambda settings: settings.download_retry_delays_seconds,
    "LOCAL_CREATE_DEADLINE_SECONDS": lambda settings: [settings.create_deadline_seconds],
    "LOCAL_CREATE_RETRY_DELAYS": lambda settings: settings.create_retry_delays_seconds,
}


def _rows(document: Path) -> dict[str, tuple[str, str]]:
    """Setting -> (what, default as written, without backticks or a trailing unit)."""
    rows = {}
    for line in document.read_text().splitlines():
        match = _ROW.match(line.strip())
        if match and match["setting"] in AS_DOCUMENTED:
            default = re.sub(r"\s+s$", "", match["default"].strip()).strip("`")
            rows[match["setting"]] = (match["what"], default)
    return rows


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> LocalConfig:
    for name in AS_DOCUMENTED:
        monkeypatch.delenv(name, raising=False)
    return LocalConfig.from_environment()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_the_readme_documents_every_local_setting(document: Path) -> None:
    assert set(_rows(document)) == set(AS_DOCUMENTED)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
@pytest.mark.parametrize("setting", sorted(AS_DOCUMENTED))
def test_the_documented_local_default_is_the_default(
    defaults: LocalConfig, setting: str, document: Path
) -> None:
    assert AS_DOCUMENTED[setting](defaults) == _rows(document)[setting][1]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
@pytest.mark.parametrize("setting", sorted(PRODUCTION))
def test_the_production_figures_quoted_are_the_settings_defaults(setting: str, document: Path) -> None:
    what = _rows(document)[setting][0]
    quoted = re.search(r"\(production: ([^;)]+)", what)
    assert quoted is not None, what
    seconds = [
        int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+) (s|min|h)\b", quoted.group(1))
    ]
    assert seconds == PRODUCTION[setting](Settings())
