"""`python -m ops`: what an operator needs at 3 a.m., against any AWS endpoint (see docs/runbook.md).

The pipeline's own code (shared/, the Lambda layer) is importable here as it is in Lambda
(/opt/python): ops applies the pipeline's rules through it rather than copies of them.
"""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.append(_SHARED)
