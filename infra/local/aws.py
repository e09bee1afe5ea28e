"""A local AWS for replay and tests: moto's server on 127.0.0.1, started and stopped by us.

    with LocalAWS() as aws:
        boto3.client("dynamodb", endpoint_url=aws.endpoint_url, ...)

The server runs as a child process (``python -m moto.server``) on a free port, so
boto3 talks to it over real HTTP exactly as it would to AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from pipeline.ops.children import answers

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextmanager
def environment(values: dict[str, str]):
    """``values`` in ``os.environ`` for the block (boto3 and the API read them), then as they were."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalAWS:
    """moto's server as a context manager; ``endpoint_url`` is where boto3 should point."""

    port: int = field(default_factory=free_port)
    region: str = "us-east-1"
    startup_timeout: float = 30.0
    _process: subprocess.Popen | None = None
    _log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the API's settings) at this server."""
        return {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint_url}

    def start(self) -> LocalAWS:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            # a file, not a pipe: moto logs every request to stderr, and a pipe nobody drains
            # fills up after ~1,000 requests and hangs the server
            stderr=(log := tempfile.TemporaryFile()),  # noqa: SIM115 (closed by stop)
            env={**os.environ, **FAKE_CREDENTIALS},
        )
        self._log = log
        if answers(f"{self.endpoint_url}/moto-api/", self._process, self.startup_timeout):
            return self
        if self._process.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise RuntimeError(
                f"moto server exited at start (code {self._process.returncode}): {err[-2000:]}"
            )
        self.stop()
        raise RuntimeError(
            f"moto server did not answer on {self.endpoint_url} within {self.startup_timeout}s"
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._process = None

    def reset(self) -> None:
        """Forget every resource (moto's reset API), for tests that need a clean account."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
