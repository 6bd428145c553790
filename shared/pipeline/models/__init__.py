"""Pydantic models: the job as stored, the HTTP payloads, Magic Hour's events, queue messages."""
