"""The core every function loads: the job state machine (moves, transitions, bookkeeping), budgets,
the callback's state, the logic's errors, the job resource, and the retry policy of queued messages."""
