"""The layering of shared/pipeline (pyproject.toml, [tool.importlinter]): each stage builds on the
layers below it and on no other stage, so a newcomer can read a stage knowing what it may touch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "shared" / "pipeline"
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports(shared: Path) -> subprocess.CompletedProcess[str]:
    # A process of its own: the import graph is built from `shared` on its path, not from ours.
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True))",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(shared), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )


def _layered_packages() -> set[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    names: set[str] = set()
    for contract in config["contracts"]:
        for layer in contract["layers"]:
            names.update(part.strip() for part in layer.replace(":", "|").split("|"))
    return names


def test_the_layer_keeps_its_layering() -> None:
    result = _lint_imports(ROOT / "shared")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stage_importing_another_stage_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PIPELINE, tmp_path / "pipeline")
    submission = tmp_path / "pipeline" / "submit" / "submission.py"
    submission.write_text(submission.read_text() + "\nfrom pipeline.sweep import sweep  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "pipeline.submit.submission -> pipeline.sweep.sweep" in result.stdout


def test_every_package_of_the_layer_has_its_place_in_a_layer() -> None:
    packages = {f"pipeline.{init.parent.name}" for init in PIPELINE.glob("*/__init__.py")}
    modules = {f"pipeline.{module.stem}" for module in PIPELINE.glob("*.py") if module.stem != "__init__"}
    assert packages | modules == _layered_packages()
