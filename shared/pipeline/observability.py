"""One Logger, Tracer and Metrics per function; service name and namespace come from the
POWERTOOLS_* environment variables set in template.yaml."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from pipeline.redaction import RedactingFormatter

# Every line is redacted on its way out: a signed URL in an exception text never reaches the logs.
logger = Logger(logger_formatter=RedactingFormatter())
tracer = Tracer()
metrics = Metrics()
