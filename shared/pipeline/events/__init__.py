"""Events on the stack's EventBridge bus: every job status change and every batch ending
(CONTRACT §1 "Events"), published from the jobs table's stream, never from the writer."""
