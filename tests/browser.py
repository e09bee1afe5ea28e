"""A real browser for the tests of pages: Debian's headless Chromium, started per page.

The flags are those a closed network needs (no background connections, no updates, no sync)
and a fresh profile per run. Without Chromium the tests that need it skip and say how to get
it; `.ci/run` installs it, so in CI they run.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed here (apt-get install chromium); .ci/run installs it")
    return found


def _run(url: str, *extra: str, timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            timeout=timeout,
            check=True,
        )


def dom(url: str, wait_ms: int = 5000) -> str:
    """The page's DOM after its scripts ran (for up to ``wait_ms`` of virtual time)."""
    return _run(url, f"--virtual-time-budget={wait_ms}", "--dump-dom").stdout.decode()


def screenshot(url: str, out: Path, width: int = 1400, height: int = 5000) -> np.ndarray:
    """The page rendered at ``width`` x ``height``, as an RGB array (0-255)."""
    _run(url, f"--screenshot={out}", f"--window-size={width},{height}", "--virtual-time-budget=3000")
    import matplotlib.image

    return (matplotlib.image.imread(str(out))[..., :3] * 255).astype(np.uint8)


def pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of colour ``rgb`` on every channel."""
    return int((np.abs(image.astype(int) - np.array(rgb)) <= tolerance).all(axis=-1).sum())
