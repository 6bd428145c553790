"""`make bench` (`python -m bench`): measured figures for the pipeline on the local stack.

- download.py: the downloader's peak RSS and throughput per output size, one fresh process per
  size running the real handler on a genuine SQS message (download_probe.py is that process);
- latency.py: submit and webhook latency through the local API gateway;
- coldstart.py: each function's handler import in a fresh process (coldstart_probe.py);
- harness.py: the local stack (local.stack.LocalStack) on free ports, and its requests.

Kept import-free on purpose: the probe processes import this package first, and whatever it
imported would show up in the very memory and import-time figures they measure.
"""
