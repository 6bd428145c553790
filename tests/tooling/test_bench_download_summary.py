"""`make bench`'s download row: the median ratio's round, with every round listed."""

from __future__ import annotations

from typing import Any

from bench.download import summary


def _round(ratio: float, peak: float, upload: float = 150.0) -> dict[str, Any]:
    return {
        "size": "1GB",
        "ok": True,
        "reference": {"raw_get_mib_per_s": 1500.0, "raw_upload_mib_per_s": upload},
        "handler_mib_per_s": round(ratio * upload, 1),
        "ratio_to_limit": ratio,
        "peak_rss_mib": peak,
    }


def test_one_round_is_its_own_row() -> None:
    only = _round(0.9, 130)
    assert summary([only]) is only


def test_the_row_is_the_median_ratios_round_and_keeps_the_highest_peak() -> None:
    row = summary([_round(0.95, 120, upload=110), _round(0.7, 140), _round(0.82, 135, upload=160)])
    assert row["ratio_median"] == row["ratio_to_limit"] == 0.82
    assert row["reference"]["raw_upload_mib_per_s"] == 160  # that round's own figures, not a mix
    assert row["peak_rss_mib_highest"] == 140
    assert [r["ratio_to_limit"] for r in row["rounds"]] == [0.95, 0.7, 0.82]


def test_a_failed_round_is_the_row() -> None:
    failed = {"size": "1GB", "ok": False, "error": "boom"}
    assert summary([_round(0.9, 130), failed]) is failed
