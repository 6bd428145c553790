"""Data access: every read and write of DynamoDB, S3 and SQS lives in this package."""
