"""The submit function's stage: a new job (parsing, writing, idempotency), the client's queries, uploads."""
