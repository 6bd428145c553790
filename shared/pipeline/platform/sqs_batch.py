"""The batch wiring every SQS-triggered function with retries shares (Powertools batch processing).

Each record succeeds, fails alone (it set its own retry delay: `RetryLater`) or is settled; the
answer lists only the failed ones (`ReportBatchItemFailures` on the event source mapping).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# A batch whose every record failed is still a partial-failure answer (each record has already set
# its own retry delay), not a function error that would retry them all on the queue's timeout.
_PROCESSOR = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process(
    event: dict[str, Any], context: LambdaContext, handle_record: Callable[[SQSRecord], None]
) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=_PROCESSOR, context=context
    )
