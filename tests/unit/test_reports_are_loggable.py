"""Handlers log their run's report as `extra`: a field named like a LogRecord attribute (`created`,
`name`, `msg`, ...) makes logging raise, and the invocation fail after its work was done."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from pipeline.dispatch.dispatch import DispatchReport
from pipeline.sweep.sweep import SweepReport

RESERVED = set(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {"message", "asctime"}


@pytest.mark.parametrize("report", [DispatchReport, SweepReport])
def test_report_fields_never_clash_with_log_record_attributes(report: type) -> None:
    assert {field.name for field in dataclasses.fields(report)} & RESERVED == set()
