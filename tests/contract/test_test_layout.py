"""The suite collects on a clean clone: pytest's default import mode refuses two test modules with
the same name in folders that are not packages (a stale cache in a working tree can hide it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_modules_outside_packages_share_a_name() -> None:
    names = Counter(
        path.name for path in TESTS.rglob("test_*.py") if not (path.parent / "__init__.py").exists()
    )
    assert [name for name, count in names.items() if count > 1] == []
