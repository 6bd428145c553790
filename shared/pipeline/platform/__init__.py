"""What every function loads that is not job logic: boto3 clients, settings, logging and metrics,
redaction, secrets, time, ids, SQS batch wiring, strict JSON."""
