"""What we deploy: bytecode in the built artifact, and cold starts measured on it.

`python -m bench.artifact compile DIR` byte-compiles every .py under DIR (make build runs it on
.aws-sam/build after `sam build`); `python -m bench.artifact check DIR` fails when a built layer or
function ships a module without bytecode. Both must run on the runtime's Python minor version
(3.13): a .pyc of another version is ignored, and Lambda's /opt and /var/task are read-only, so
every new execution environment would compile every module it imports before the first request.

Invalidation mode `unchecked-hash`: the default (timestamp) .pyc records the source's mtime and
size, and is recompiled when they differ; zip files keep mtimes at 2 s resolution in local time
and build tools normalise them, so after extraction the recorded mtime may no longer match and
the .pyc is ignored (and cannot be rewritten on a read-only file system). `checked-hash` survives
that but hashes every source file on every import. `unchecked-hash` is neither: the artifact is
immutable once built, so its bytecode is trusted as is.

Standard library only (the measured processes import nothing of the benchmark).
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = (3, 13)
# What the layer would not need to carry if it used the runtime's own boto3.
BOTO_FAMILY = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")


def compile_tree(path: Path) -> bool:
    _require_runtime()
    return bool(
        compileall.compile_dir(
            str(path),
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    )


def missing_bytecode(path: Path) -> list[Path]:
    """Every .py under `path` without a .pyc for this interpreter next to it."""
    tag = sys.implementation.cache_tag
    missing = []
    for source in path.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not compiled.exists():
            missing.append(source)
    return missing


def check(build_dir: Path) -> list[str]:
    problems = []
    _require_runtime()
    parts = [item for item in sorted(build_dir.iterdir()) if item.is_dir()]
    if not parts:
        return [f"{build_dir}: nothing built"]
    for part in parts:
        sources = list(part.rglob("*.py"))
        missing = missing_bytecode(part)
        if not sources:
            continue
        if missing:
            problems.append(
                f"{part.name}: {len(missing)} of {len(sources)} modules have no bytecode, e.g. {missing[0]}"
            )
    return problems


def _require_runtime() -> None:
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(
            f"bytecode must be made by Python {RUNTIME[0]}.{RUNTIME[1]} (Lambda's runtime), "
            f"not {sys.version_info[0]}.{sys.version_info[1]}"
        )


def directory_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def zipped_bytes(path: Path, work: Path, exclude: tuple[str, ...] = ()) -> tuple[int, float]:
    """Size of `path` zipped (as SAM uploads it) and the time to extract it (as Lambda does)."""
    archive = work / f"{path.name}-{len(exclude)}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for item in sorted(path.rglob("*")):
            relative = item.relative_to(path)
            if item.is_file() and relative.parts[0].split("-")[0].removesuffix(".py") not in exclude:
                handle.write(item, relative)
    target = work / f"unzipped-{len(exclude)}"
    started = time.perf_counter()
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(target)
    extracted = time.perf_counter() - started
    shutil.rmtree(target)
    size = archive.stat().st_size
    archive.unlink()
    return size, extracted


def same_arch_layer(target: Path) -> Path:
    """The layer as `sam build` makes it (shared/requirements.txt + shared/), for this machine's
    architecture: the deployed build is arm64, whose compiled extensions (pydantic_core) cannot be
    loaded on an x86 machine. Pure-Python modules are the same bytes either way."""
    python = target / "python"
    if python.exists():
        shutil.rmtree(target)
    python.mkdir(parents=True)
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--target",
            str(python),
            "--python-version",
            f"{RUNTIME[0]}.{RUNTIME[1]}",
            "--python-platform",
            "x86_64-manylinux2014" if os.uname().machine == "x86_64" else "aarch64-manylinux2014",
            "--only-binary",
            ":all:",
            # Exactly the locked set: the lock names every package, transitive ones included.
            "--no-deps",
            "-r",
            str(_versions_only(ROOT / "shared" / "requirements.txt", target)),
        ],
        check=True,
        timeout=600,
    )
    shutil.copytree(ROOT / "shared" / "pipeline", python / "pipeline", ignore=_no_caches)
    return python


def _versions_only(lock: Path, work: Path) -> Path:
    """The lock's `name==version` lines without its hashes: those are of the arm64 wheels, and
    this copy is for the machine's own architecture."""
    joined = lock.read_text().replace("\\\n", " ")
    pins = [
        line.split()[0] for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    plain = work / "requirements-versions.txt"
    plain.write_text("\n".join(pins) + "\n")
    return plain


def _no_caches(_directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("__pycache__",) or name.endswith(".pyc")]


def read_only(path: Path) -> None:
    """Like Lambda's /opt and /var/task: nothing may be written, not even a __pycache__."""
    for item in [path, *path.rglob("*")]:
        mode = item.stat().st_mode
        item.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("compile", "check"):
        print("usage: python -m bench.artifact compile|check DIR", file=sys.stderr)
        return 2
    directory = Path(argv[2])
    if argv[1] == "compile":
        compile_tree(directory)
    problems = check(directory)
    for problem in problems:
        print(f"bytecode check: {problem}", file=sys.stderr)
    if not problems:
        count = sum(1 for _ in directory.rglob("*.pyc"))
        print(f"bytecode check: {directory}: every module compiled ({count} .pyc, unchecked-hash)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
