"""The local stack: everything `make local`, `make demo` and the tests run on this machine.

The layer's code (shared/) is importable here as it is in Lambda (/opt/python).
"""

import layer_path

layer_path.use_layer()
