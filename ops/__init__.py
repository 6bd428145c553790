"""`python -m ops`: what an operator needs at 3 a.m., against any AWS endpoint (see docs/runbook.md)."""
