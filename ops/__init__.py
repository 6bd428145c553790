"""`python -m ops`: what an operator needs at 3 a.m., against any AWS endpoint (see docs/runbook.md).

The pipeline's own code (shared/, the Lambda layer) is importable here as it is in Lambda
(/opt/python): ops applies the pipeline's rules through it rather than copies of them.
"""

import layer_path

layer_path.use_layer()
