"""One cold start: `python -m bench.coldstart_probe CODE_DIR HANDLER` imports the handler module
in this fresh process (which runs with exactly the function's environment) and prints one JSON
line: the import time and the memory right after it."""

from __future__ import annotations

import json
import sys
import time

from bench import procfs
from layer_path import load_handler


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    load_handler(argv[1], argv[2])
    seconds = time.perf_counter() - started
    memory = procfs.memory_kib()
    # The handler's import may have configured logging on stdout; this line is the last one.
    sys.stdout.write("\n" + json.dumps({"import_seconds": seconds, "memory_kib": memory}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
