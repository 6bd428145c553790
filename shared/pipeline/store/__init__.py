"""Data access: every read and write of DynamoDB, S3 and SQS lives in this package.

One module per table, bucket or queue; dynamo.py holds the DynamoDB mechanics they share, and
protocols.py the `JobStore` seam the logic calls and the unit tests' fake stands in for. Used by
jobs/, create/ and the stages; it imports only models/ and platform/.
"""
