"""Business logic in plain functions: no event parsing, no HTTP, no boto3 calls of its own."""
