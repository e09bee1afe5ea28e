"""Real faults between the API and DynamoDB: a TCP proxy in front of moto that can stall or refuse,
and a botocore hook that makes DynamoDB answer with a throttling error.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def throttle(client, code: str = "ProvisionedThroughputExceededException", operation: str = "") -> list[int]:
    """From now on every DynamoDB request of ``client`` (of ``operation`` only, when given, e.g.
    ``BatchWriteItem``) is answered 400 ``code`` (retries included).

    Returns a list that grows by one per request sent, to count them.
    """
    sent: list[int] = []

    def answer(request, **_):
        sent.append(1)
        body = f'{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"slow down"}}'.encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "throttled"}
        return AWSResponse(request.url, 400, headers, _Body(body))

    client.meta.events.register("before-send.dynamodb" + (f".{operation}" if operation else ""), answer)
    return sent


@dataclass
class FaultyProxy:
    """127.0.0.1 TCP proxy to ``upstream`` (host, port). ``mode``: forward | stall | refuse.

    stall: requests are swallowed and never answered (a slow or hung DynamoDB);
    refuse: connections are closed as they come (an unreachable one).
    """

    upstream: tuple[str, int]
    mode: str = "forward"
    _server: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closed: bool = False

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> FaultyProxy:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        for sock in [self._server, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "refuse":
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, target: socket.socket, is_request: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.mode == "refuse":
                    break
                if is_request and self.mode == "stall":
                    continue
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
