"""The local stack: everything `make local`, `make demo` and the tests run on this machine.

The layer's code (shared/) is importable here as it is in Lambda (/opt/python).
"""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.append(_SHARED)
