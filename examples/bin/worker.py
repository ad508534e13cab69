"""A worker that polls the web process and reports what it sees."""
import os
import sys
import time
import urllib.request

url = sys.argv[1]
instance = os.environ.get("PROCMAN_INSTANCE", "0")
period = float(os.environ.get("POLL_SECONDS", "3"))
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            print(f"instance {instance}: {url} -> {r.status} {r.read().decode().strip()}")
    except OSError as e:
        print(f"instance {instance}: {url} unreachable: {e}", file=sys.stderr)
    time.sleep(period)
