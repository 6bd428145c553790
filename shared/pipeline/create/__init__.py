"""Creating a job's Magic Hour project: the only code that spends credits (creation.py), taking a
waiting job and its slot (claims.py), and the `s3://` inputs a create hands Magic Hour (inputs.py).

Used by submit (a new job's immediate try), the dispatcher (waiting jobs, fairest first) and the
sweep (a create's deadline); it builds on jobs/ and store/ only (docs/design.md, "Where things live").
"""
