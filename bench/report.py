"""The compact table on stdout."""

from __future__ import annotations

from typing import Any


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text.rjust(width)


def _table(headers: list[tuple[str, int]], rows: list[list[Any]]) -> list[str]:
    lines = ["  " + " ".join(name.rjust(width) for name, width in headers)]
    for row in rows:
        lines.append(
            "  " + " ".join(_cell(value, width) for value, (_, width) in zip(row, headers, strict=True))
        )
    return lines


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    downloads = results.get("downloads")
    if downloads:
        lines.append("Downloader: one output -> S3, fresh process per size (RSS in MiB, throughput in MiB/s)")
        lines += _table(
            [
                ("size", 7),
                ("baseline", 9),
                ("peak", 7),
                ("peak-base", 9),
                ("life-peak", 9),
                ("stream MiB/s", 12),
                ("stream s", 8),
                ("meta-copy s", 11),
                ("handler s", 9),
                ("wall s", 7),
                ("moto peak", 9),
                ("sha256", 8),
            ],
            [
                [
                    d.get("size"),
                    d.get("baseline_rss_mib"),
                    d.get("peak_rss_mib"),
                    d.get("peak_over_baseline_mib"),
                    d.get("lifetime_peak_rss_mib"),
                    d.get("stream_mib_per_s"),
                    d.get("stream_s"),
                    d.get("metadata_copy_s"),
                    d.get("handler_s"),
                    d.get("process_wall_s"),
                    (d.get("moto_rss_mib") or {}).get("peak_during"),
                    "ok" if d.get("sha256_verified") else "FAILED",
                ]
                for d in downloads
            ],
        )
        lines.append(
            "  baseline = RSS after the handler's import; peak = VmHWM of the invocation alone; "
            "life-peak = the process's VmHWM;"
        )
        lines.append(
            "  stream = GET + sha256 + multipart upload into S3; meta-copy = the S3 copy that adds "
            "the sha256 metadata (moto emulates it slowly); moto peak = the moto server's RSS"
        )
        largest = max(downloads, key=lambda d: d.get("size_bytes", 0))
        timeline = largest.get("rss_timeline_s_mib") or []
        if timeline:
            step = -(-len(timeline) // 12)  # at most 12 groups, each shown by its highest slice
            groups = [timeline[i : i + step] for i in range(0, len(timeline), step)]
            points = ", ".join(f"{group[-1][0]:g}s {max(mib for _, mib in group):g}" for group in groups)
            lines.append(f"  downloader RSS, highest per slice of the run, {largest.get('size')}: {points}")
        lines.append("")
    submit = results.get("submit")
    webhook = results.get("webhook")
    if submit or webhook:
        lines.append("Latency through the local gateway, sequential, new connection each, warm (ms)")
        rows: list[list[Any]] = []
        if submit:
            rows.append(["POST /v1/jobs", submit["n"], submit["p50_ms"], submit["p95_ms"], submit["max_ms"]])
        if webhook:
            for name, key in (("webhook *.started", "started"), ("webhook *.completed", "completed")):
                s = webhook[key]
                rows.append([name, s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"]])
            for outcome, s in webhook.get("started_by_outcome", {}).items():
                rows.append([f"  started, {outcome}", s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"]])
        gateway = results.get("gateway_only")
        if gateway:
            for label, key in (
                ("(ref) gateway only, new conn", "new_connection"),
                ("(ref) gateway only, keep-alive", "keep_alive"),
            ):
                g = gateway[key]
                rows.append([label, g["n"], g["p50_ms"], g["p95_ms"], g["max_ms"]])
        moto = results.get("moto_get_item")
        if moto:
            rows.append(
                ["(ref) moto DynamoDB GetItem", moto["n"], moto["p50_ms"], moto["p95_ms"], moto["max_ms"]]
            )
        lines += _table([("request", 31), ("n", 4), ("p50", 8), ("p95", 8), ("max", 8)], rows)
        lines.append("")
    cold = results.get("cold_start")
    if cold:
        lines.append("Cold start: import of the handler module in a fresh process (ms; RSS MiB)")
        lines += _table(
            [
                ("function", 20),
                ("runs", 4),
                ("median", 8),
                ("min", 8),
                ("max", 8),
                ("process", 8),
                ("RSS", 6),
            ],
            [
                [
                    name,
                    c["runs"],
                    c["import_median_ms"],
                    c["import_min_ms"],
                    c["import_max_ms"],
                    c["process_median_ms"],
                    c["rss_after_import_mib"],
                ]
                for name, c in cold.items()
            ],
        )
        lines.append("")
    failures = results.get("failures") or []
    if failures:
        lines.append(f"FAILED ({len(failures)}):")
        lines += [f"  - {failure}" for failure in failures]
    return "\n".join(lines)
