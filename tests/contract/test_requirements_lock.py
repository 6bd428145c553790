"""shared/requirements.txt (what `sam build` installs) agrees with pyproject.toml, the one source
of truth, and pins every package with hashes (scripts/lock_requirements.py)."""

from __future__ import annotations

import importlib.metadata

from scripts import lock_requirements as lock

LOCK_TEXT = lock.LOCK.read_text()


def test_the_lock_agrees_with_pyproject() -> None:
    assert lock.problems(LOCK_TEXT, lock.dependencies()) == []


def test_every_runtime_dependency_is_pinned_exactly_and_locked() -> None:
    direct = lock.pins("\n".join(lock.dependencies()))
    assert set(direct) == {
        "aws-lambda-powertools",
        "boto3",
        "certifi",
        "pydantic",
        "standardwebhooks",
        "urllib3",
    }
    locked = lock.pins(LOCK_TEXT)
    assert {name: locked[name] for name in direct} == direct
    # Transitive dependencies are locked too (the layer gets nothing unpinned).
    assert {"botocore", "s3transfer", "pydantic-core", "urllib3", "aws-xray-sdk"} <= set(locked)


def test_a_changed_or_loose_dependency_is_caught() -> None:
    bumped = [d.replace("urllib3==2.8.0", "urllib3==2.99.0") for d in lock.dependencies()]
    found = lock.problems(LOCK_TEXT, bumped)
    assert any("urllib3: pyproject.toml pins 2.99.0" in problem for problem in found)
    assert any("not generated from the current" in problem for problem in found)
    loose = [*lock.dependencies(), "httpx>=0.27"]
    assert any(
        "'httpx>=0.27' is not pinned exactly" in problem for problem in lock.problems(LOCK_TEXT, loose)
    )


def test_a_requirement_without_hashes_is_caught() -> None:
    unhashed = LOCK_TEXT + "six==1.17.0\n"
    assert "no hash for six==1.17.0" in lock.problems(unhashed, lock.dependencies())


def test_the_local_venv_runs_what_lambda_runs() -> None:
    # make setup installs with the lock as constraints, so tests run the layer's versions.
    for name, version in lock.pins(LOCK_TEXT).items():
        assert importlib.metadata.version(name) == version, name
