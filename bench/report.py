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
                ("copy MiB/s", 10),
                ("copy s", 7),
                ("handler s", 9),
                ("MiB/s", 6),
                ("raw GET", 7),
                ("raw PUT", 7),
                ("ratio", 5),
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
                    d.get("handler_s"),
                    d.get("handler_mib_per_s"),
                    (d.get("reference") or {}).get("raw_get_mib_per_s"),
                    (d.get("reference") or {}).get("raw_upload_mib_per_s"),
                    d.get("ratio_to_limit"),
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
            "  copy = GET (parallel ranges) + sha256 + each part written once + the sha256 tag; "
            "handler = the whole invocation (MiB/s of it);"
        )
        lines.append(
            "  raw GET / raw PUT = one plain GET from the simulator / one plain upload_fileobj into "
            "the same moto, same run; ratio = handler MiB/s / min(raw GET, raw PUT); moto peak = its RSS"
        )
        for d in downloads:
            if d.get("rounds"):
                each = "; ".join(
                    f"{r['handler_mib_per_s']:g} vs {r['raw_get_mib_per_s']:g}/{r['raw_upload_mib_per_s']:g}"
                    f" = {r['ratio_to_limit']:g}"
                    for r in d["rounds"]
                )
                lines.append(
                    f"  {d.get('size')}: {len(d['rounds'])} rounds (MiB/s vs raw GET/raw PUT = ratio): "
                    f"{each}; median {d.get('ratio_median')}, "
                    f"highest peak RSS {d.get('peak_rss_mib_highest')}"
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
    recovery = results.get("recovery")
    if recovery:
        calm, chaos = recovery["without_kills"], recovery["with_kills"]
        lines.append(
            f"Recovery: {calm['jobs']} jobs settle in {calm['settle_s']} s undisturbed, "
            f"{chaos['settle_s']} s with {chaos['kills_per_minute']:g} kills/min "
            f"({chaos['environments_killed']} environments killed, {chaos['killed_mid_invocation']} "
            f"mid-invocation): ratio {recovery['settle_ratio']}; ended completed/failed "
            f"{calm['completed']}/{calm['failed']} vs {chaos['completed']}/{chaos['failed']}"
        )
    burst = results.get("burst")
    if burst:
        calls = burst.get("magic_hour_calls", {})
        lines.append(
            f"Burst: {burst['jobs']} jobs through the whole local stack: {burst['completed']} completed in "
            f"{burst['all_completed_s']} s = {burst['jobs_per_s']} jobs/s "
            f"(submitted in {burst['submitted_s']} s); "
            f"Magic Hour calls per job: {burst['creates_per_job']} creates, {burst['gets_per_job']} GETs "
            f"({calls.get('downloads', 0)} downloads in all)"
        )
        lines += _table(
            [
                ("function", 20),
                ("invocations", 11),
                ("per job", 7),
                ("median ms", 9),
                ("mean ms", 8),
                ("peak RSS", 8),
            ],
            [
                [name, f["invocations"], f["per_job"], f["median_ms"], f["mean_ms"], f.get("peak_rss_mib")]
                for name, f in burst.get("functions", {}).items()
            ],
        )
        per_job = burst.get("aws_calls_per_job") or {}
        if per_job:
            lines.append(
                "  DynamoDB/SQS calls per job: "
                + ", ".join(f"{name} {count}" for name, count in per_job.items())
            )
        lines.append("")
    cold = results.get("cold_start")
    if cold:
        lines.append(
            "Cold start: import of the handler module in a fresh process, source tree (ms; RSS MiB); "
            "ratio = process / bare `import boto3` process"
        )
        lines += _table(
            [
                ("function", 20),
                ("runs", 4),
                ("median", 8),
                ("min", 8),
                ("max", 8),
                ("process", 8),
                ("ratio", 5),
                ("RSS", 6),
            ],
            [
                [
                    name,
                    c["runs"],
                    c.get("import_median_ms"),
                    c.get("import_min_ms"),
                    c.get("import_max_ms"),
                    c["process_median_ms"],
                    c.get("ratio_to_boto3"),
                    c.get("rss_after_import_mib"),
                ]
                for name, c in cold.items()
            ],
        )
        lines.append("")
    built = results.get("artifact_cold_start")
    if built and built.get("bytecode"):
        lines.append(
            "Cold start on the built artifact (read-only, python -S, whole process ms; ratio to a bare "
            "import boto3 from the same layer)"
        )
        plain, compiled = built.get("no_bytecode", {}), built["bytecode"]
        lines += _table(
            [("function", 20), ("no .pyc", 8), ("ratio", 5), ("with .pyc", 9), ("ratio", 5), ("speedup", 7)],
            [
                [
                    name,
                    (plain.get(name) or {}).get("process_median_ms"),
                    (plain.get(name) or {}).get("ratio_to_boto3"),
                    c["process_median_ms"],
                    c["ratio_to_boto3"],
                    round(plain[name]["process_median_ms"] / c["process_median_ms"], 2)
                    if name in plain
                    else None,
                ]
                for name, c in compiled.items()
            ],
        )
        layer = built.get("layer") or {}
        if layer:
            lines.append(
                f"  layer: {layer['unzipped_mib']} MiB unzipped "
                f"({layer['boto_family_unzipped_mib']} MiB of it "
                f"boto3/botocore/s3transfer/jmespath/dateutil/six), {layer['zipped_mib']} MiB zipped "
                f"(without boto3 family {layer['zipped_without_boto_mib']} MiB); extract "
                f"{layer['extract_s']} s ({layer['extract_without_boto_s']} s without); "
                f"{built.get('pyc_files')} .pyc"
            )
        lines.append("")
    fair = results.get("sweep")
    if fair:
        lines.append(
            f"Sweep: capacity {fair.get('sweep_capacity_checks_per_s')} checks/s (busiest run; "
            f"{fair.get('capacity_ratio_to_raw')} x a bare check's reads, {fair.get('raw_checks_per_s')}/s); "
            f"client A holding {fair.get('watched_by_a')} watched jobs (all overdue), client B's lost "
            f"webhook recovered in {fair.get('b_recovered_s')} s = {fair.get('b_recovered_periods')} "
            f"periods of {fair.get('period_s')} s (goal {fair.get('goal_periods')}; "
            f"{fair.get('b_ratio_to_baseline')} x the {fair.get('b_baseline_s')} s with A holding "
            f"nothing); {fair.get('magic_hour_gets')} GETs"
        )
        lines.append("")
    manifest = results.get("manifest")
    if manifest:
        lines.append(
            f"Manifest batch: {manifest.get('lines')} lines ({manifest.get('manifest_bytes')} bytes) "
            f"validated in {manifest.get('validate_seconds')} s (peak {manifest.get('validate_peak_mib')} "
            f"MiB), its jobs written in {manifest.get('expand_seconds')} s (peak "
            f"{manifest.get('expand_peak_mib')} MiB); {manifest.get('dynamodb_calls_per_job')} DynamoDB "
            f"calls per job"
        )
        lines.append("")
    ending = results.get("batch_end")
    if ending:
        lines.append(
            f"Batch end: {ending.get('jobs')} jobs, last job's end to results file readable "
            f"{ending.get('last_end_to_readable_s')} s for {ending.get('file_bytes')} bytes; one plain "
            f"S3 PUT of the same bytes {ending.get('baseline_put_s')} s (ratio {ending.get('ratio')})"
        )
        lines.append("")
    lanes = results.get("callbacks")
    if lanes:
        alone, noisy = lanes.get("b_alone_ms", {}), lanes.get("b_with_a_hanging_ms", {})
        lines.append(
            f"Callback lanes: client B's callback, job end to delivered, median {alone.get('median')} ms "
            f"alone vs {noisy.get('median')} ms with client A's {lanes.get('noisy_jobs')} receivers "
            f"hanging (ratio {lanes.get('ratio')}; max {noisy.get('max')} ms; A's lane_full waits "
            f"{lanes.get('lane_full')})"
        )
        lines.append("")
    failures = results.get("failures") or []
    if failures:
        lines.append(f"FAILED ({len(failures)}):")
        lines += [f"  - {failure}" for failure in failures]
    return "\n".join(lines)
