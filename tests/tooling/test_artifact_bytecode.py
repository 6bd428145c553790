"""The build's bytecode check (bench.artifact, run by `make build`): a built layer or function
without bytecode fails it; after the compile step it passes, with unchecked-hash .pyc files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bench import artifact

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != artifact.RUNTIME, reason="bytecode is made by the runtime's Python (3.13) only"
)


def _built(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    (build / "SharedLayer" / "python" / "pipeline").mkdir(parents=True)
    (build / "SharedLayer" / "python" / "pipeline" / "__init__.py").write_text("")
    (build / "SharedLayer" / "python" / "pipeline" / "thing.py").write_text("VALUE = 1\n")
    (build / "WebhookFunction").mkdir()
    (build / "WebhookFunction" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return build


def test_a_build_without_bytecode_fails_the_check(tmp_path: Path) -> None:
    problems = artifact.check(_built(tmp_path))
    assert [problem.split(":")[0] for problem in problems] == ["SharedLayer", "WebhookFunction"]
    assert artifact.main(["bench.artifact", "check", str(tmp_path / "build")]) == 1


def test_one_module_left_uncompiled_fails_the_check(tmp_path: Path) -> None:
    build = _built(tmp_path)
    artifact.compile_tree(build)
    (build / "SharedLayer" / "python" / "pipeline" / "late.py").write_text("X = 2\n")
    assert artifact.check(build) == [
        f"SharedLayer: 1 of 3 modules have no bytecode, e.g. {build}/SharedLayer/python/pipeline/late.py"
    ]


def test_compiled_build_passes_with_unchecked_hash_bytecode(tmp_path: Path) -> None:
    build = _built(tmp_path)
    assert artifact.main(["bench.artifact", "compile", str(build)]) == 0
    assert artifact.check(build) == []
    compiled = next((build / "WebhookFunction" / "__pycache__").glob("app.*.pyc"))
    flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based (bit 0), not checked against the source (bit 1 clear)
    assert compiled.read_bytes()[:4] == importlib.util.MAGIC_NUMBER
