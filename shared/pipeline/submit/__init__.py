"""The submit function's stage: a new job (submission.py: parsing and writing it; idempotency.py:
`Idempotency-Key`), and what a client reads (queries.py). Used by functions/submit only."""
