"""`python -m local.simulator` runs in the foreground, announces itself and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_module_entry_point(stop_signal: signal.Signals) -> None:
    env = {
        **os.environ,
        "LOCAL_MAGIC_HOUR_PORT": "0",
        "LOCAL_MAGIC_HOUR_API_KEY": "mh-entry-key",
        "LOCAL_SIM_WEBHOOK_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local.simulator"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "ready" in line:
                break
        url = next(word for line in lines for word in line.split() if word.startswith("http://127.0.0.1:"))
        assert not url.endswith(":0")
        response = requests.post(
            f"{url}/v1/face-swap", json={}, headers={"Authorization": "Bearer mh-entry-key"}, timeout=10
        )
        assert response.status_code == 400  # authenticated with the key from the environment
        assert requests.get(f"{url}/_sim/stats", timeout=10).json()["creates"] == 1
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
