"""Child servers the job starts (a local Prefect server for ``recs schedule --start-server``)."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request


def answers(url: str, process: subprocess.Popen, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``url`` until it answers 2xx (True), or ``process`` exits or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)
    return False
