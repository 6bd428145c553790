"""One retry policy for the messages of SQS-triggered functions (downloads, callbacks).

The rule, the same for every queue: attempt N is the Nth delivery of a message (SQS's
ApproximateReceiveCount). Attempts 1 .. max_attempts - 1 that fail come back after the delay for
their number (the last delay repeats); attempt max_attempts that fails is the last: the function
gives up itself (its domain action, then the message goes to the dead-letter queue with the
reason, and is deleted). The queue's RedrivePolicy maxReceiveCount equals max_attempts, so SQS
never dead-letters a message the function would still retry, and dead-letters at the same count
any message whose attempts all crashed before deciding (tests/contract/test_retry_template.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.platform.observability import CALLBACKS, DOWNLOADS, Metric, emit, logger
from pipeline.store import redelivery as redelivery
from pipeline.store.redelivery import MAX_VISIBILITY_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from pipeline.platform.settings import Settings


@dataclass(frozen=True)
class Retry:
    delay_seconds: int


@dataclass(frozen=True)
class GiveUp:
    pass


Decision = Retry | GiveUp


@dataclass(frozen=True)
class RetryPolicy:
    """`delays_seconds[i]` is the wait before attempt i + 2; the last one repeats."""

    delays_seconds: tuple[int, ...]
    max_attempts: int

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.max_attempts > 1 and not self.delays_seconds:
            raise ValueError("a policy that retries needs at least one delay")
        for delay in self.delays_seconds:
            # Refused here, at cold start, rather than clipped on the queue: a longer delay cannot
            # be set on an SQS message.
            if not 0 <= delay <= MAX_VISIBILITY_TIMEOUT_SECONDS:
                raise ValueError(
                    f"retry delays must be 0 to {MAX_VISIBILITY_TIMEOUT_SECONDS} s (SQS's visibility "
                    f"timeout maximum), not {delay}"
                )

    @classmethod
    def schedule(cls, delays_seconds: Sequence[int]) -> RetryPolicy:
        """A first attempt and one more after each delay: as many retries as delays."""
        return cls(tuple(delays_seconds), len(delays_seconds) + 1)

    def decide(self, attempt: int) -> Decision:
        """What to do after attempt number `attempt` (1 = the first delivery) failed."""
        attempt = max(attempt, 1)  # a missing or odd count is a first attempt, never a give-up
        if attempt >= self.max_attempts:
            return GiveUp()
        return Retry(self.delays_seconds[min(attempt, len(self.delays_seconds)) - 1])

    def total_delay_seconds(self) -> int:
        """The waits between the first and the last attempt (how long a message can keep retrying)."""
        waits = (self.decide(attempt) for attempt in range(1, self.max_attempts))
        return sum(wait.delay_seconds for wait in waits if isinstance(wait, Retry))


def download_policy(settings: Settings) -> RetryPolicy:
    """The download queue's: DownloadMaxAttempts attempts, DownloadRetryDelays between them."""
    return RetryPolicy(tuple(settings.download_retry_delays_seconds), settings.download_max_attempts)


def callback_policy(settings: Settings) -> RetryPolicy:
    """The callback queue's: the first attempt and one after each of CallbackRetryDelays."""
    return RetryPolicy.schedule(settings.callback_retry_delays_seconds)


class RetryLater(Exception):
    """Raised for a record that failed and will come back: the batch reports it as a failure."""


def attempt_of(record: SQSRecord) -> int:
    """The record's attempt number: SQS's ApproximateReceiveCount (a record without one is a first)."""
    count = record.attributes.get("ApproximateReceiveCount")
    return int(count) if count and str(count).isdigit() else 1


@dataclass(frozen=True)
class FailedAttempts:
    """What one SQS-triggered function does with a message whose attempt failed, with the same
    log lines and metric outcomes (attempt_failed, dead_lettered) for every function."""

    policy: RetryPolicy
    work: str  # names the log lines: "download", "callback"
    metric: Metric  # takes an `outcome` dimension
    # Read when a message is dead-lettered (Settings.require), not when the function starts.
    dead_letter_queue_url: Callable[[], str]

    def settle(
        self,
        record: SQSRecord,
        reason: str,
        give_up: Callable[[int, str], None],
        on_retry: Callable[[str], None] | None = None,
        attempt: int | None = None,
        **context: object,
    ) -> None:
        """Retry the record after the policy's delay (raises RetryLater) or, on its last attempt,
        give up: `give_up(attempt, reason)`, then dead-letter it (returns; the record is deleted).
        `attempt` is the record's attempt number when it is not its receive count (a callback
        sent again while its client's lane was full)."""
        attempt = attempt_of(record) if attempt is None else attempt
        emit(self.metric, outcome="attempt_failed")
        decision = self.policy.decide(attempt)
        if isinstance(decision, GiveUp):
            logger.error(
                f"{self.work} failed on its last attempt; dead-lettered",
                extra={**context, "attempt": attempt, "reason": reason},
            )
            # The domain action first: if it fails, the record fails and SQS's redrive moves it on
            # its next receive (maxReceiveCount is this same last attempt).
            give_up(attempt, reason)
            self.dead_letter(record, reason, log=False)
            return
        logger.warning(
            f"{self.work} attempt failed; will retry",
            extra={**context, "attempt": attempt, "delay": decision.delay_seconds, "reason": reason},
        )
        if on_retry is not None:
            try:
                on_retry(reason)
            except Exception:  # recording the attempt must not stop the retry
                logger.exception(f"could not record the failed {self.work} attempt")
        try:
            redelivery.delay_next_attempt(
                record.event_source_arn, record.receipt_handle, decision.delay_seconds
            )
        except Exception:  # the queue's own visibility timeout still brings it back
            logger.exception("could not set the retry delay")
        raise RetryLater(reason)

    def dead_letter(self, record: SQSRecord, reason: str, *, log: bool = True, **context: object) -> None:
        """Straight to the dead-letter queue with the reason (a message that can never succeed)."""
        if log:
            logger.error(f"{self.work} cannot succeed; dead-lettered", extra={**context, "reason": reason})
        redelivery.dead_letter(self.dead_letter_queue_url(), record.body, reason)
        emit(self.metric, outcome="dead_lettered")


def download_attempts(settings: Settings) -> FailedAttempts:
    """The downloader's: built at cold start, so a delay SQS cannot hold stops the function there."""
    return FailedAttempts(
        policy=download_policy(settings),
        work="download",
        metric=DOWNLOADS,
        dead_letter_queue_url=lambda: settings.require("download_dead_letter_queue_url"),
    )


def callback_attempts(settings: Settings) -> FailedAttempts:
    """The callbacks function's: built at cold start, like the downloader's."""
    return FailedAttempts(
        policy=callback_policy(settings),
        work="callback",
        metric=CALLBACKS,
        dead_letter_queue_url=lambda: settings.require("callback_dead_letter_queue_url"),
    )
