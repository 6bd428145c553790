"""The sweep function's stage: reconciliation, so that nothing stays stuck."""
