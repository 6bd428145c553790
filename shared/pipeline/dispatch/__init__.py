"""The dispatcher function's stage: creating `waiting` jobs as slots free, fairest first."""
