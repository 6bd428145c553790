"""Creating a job's Magic Hour project: the only code that spends credits, shared by submit, the
dispatcher and the sweep (and the `s3://` inputs a create hands Magic Hour)."""
