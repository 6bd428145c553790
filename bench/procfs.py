"""Process memory from /proc (Linux). Standard library only: the probe processes import this.

VmRSS is the resident set now; VmHWM its peak ("high water mark") since the process started or since
the peak was last reset through /proc/self/clear_refs (Linux >= 4.0). Lambda's "Max Memory Used"
is the same kind of figure for the whole execution environment.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

_FIELDS = ("VmRSS", "VmHWM")


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """{"VmRSS": kiB, "VmHWM": kiB}; empty when the process is gone (or a zombie)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in _FIELDS:
            found[name] = int(value.split()[0])
    return found


def reset_peak() -> bool:
    """Make VmHWM equal to the current RSS, so a later VmHWM is the peak of what came after."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples the RSS of some processes from the outside (no effect on them) on a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.1) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler", daemon=True)
        self._started = 0.0

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            point: dict[str, int] = {}
            for name, pid in self.pids.items():
                rss = memory_kib(pid).get("VmRSS")
                if rss is not None:
                    point[name] = rss
            self.samples.append((time.monotonic() - self._started, point))
            self._stop.wait(self.interval)

    def peak_kib(self, name: str) -> int | None:
        values = [point[name] for _, point in self.samples if name in point]
        return max(values) if values else None

    def series(self, name: str, points: int = 40) -> list[tuple[float, float]]:
        """(seconds, MiB) in at most `points` equal slices of the sampled time: each slice's
        highest sample, at the slice's end, so no peak is lost to thinning."""
        values = [(at, point[name]) for at, point in self.samples if name in point]
        if not values:
            return []
        end = values[-1][0]
        width = end / points if end > 0 else 1.0
        slices: dict[int, int] = {}
        for at, kib in values:
            index = min(points - 1, int(at / width))
            slices[index] = max(slices.get(index, 0), kib)
        return [
            (round((index + 1) * width, 2), round(kib / 1024, 1)) for index, kib in sorted(slices.items())
        ]
