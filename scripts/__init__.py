"""The generators and checks behind `make openapi`, `make sync-spec`, `make requirements` and the
sample events, each run from the repository's root as `python -m scripts.<name>`.

The layer's code (shared/) is importable here as it is in Lambda (/opt/python).
"""

import layer_path

layer_path.use_layer()
