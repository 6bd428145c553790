"""The submit function's stage: a new job (submission.py: parsing and writing it; idempotency.py:
`Idempotency-Key`), what a client reads (queries.py), and the uploads route (uploads.py).
Used by functions/submit only; it builds on create/, jobs/ and store/, never on another stage."""
