"""The one place that lays out Python's path as Lambda does, for everything run outside Lambda.

On Lambda the function's code is /var/task and the layer's code (shared/) is /opt/python, both on
the path before anything runs. Here `local/`, `ops/` and the benchmarks call `use_layer()` when
imported, the runtime workers and the benchmark probes `load_handler()`, and pytest reads the same
layout from `pythonpath` in pyproject.toml. Standard library only: the probes that measure a cold
start import this first, and whatever it imported would show in their figures.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
SHARED_DIR = ROOT / "shared"


def use_layer() -> None:
    """Make the layer's code (`import pipeline`) importable, after whatever is already found."""
    if str(SHARED_DIR) not in sys.path:
        sys.path.append(str(SHARED_DIR))


def load_handler(code_dir: str, handler: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import a function's handler module as Lambda's cold start does and return the handler."""
    # Lambda puts the function's code first on the path, then the layers (/opt/python).
    sys.path[:0] = [code_dir, str(SHARED_DIR)]
    module_name, function_name = handler.rsplit(".", 1)
    spec = importlib.util.spec_from_file_location(module_name, Path(code_dir) / f"{module_name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {handler} from {code_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    found: Callable[[dict[str, Any], Any], Any] = getattr(module, function_name)
    return found
