"""Pure-ASGI middleware (no BaseHTTPMiddleware: it costs a task per request).

``ErrorBoundary`` turns any unexpected exception into a logged JSON 500 with a
reference and no stack trace, and gives every answer without one a
``Cache-Control: no-store``. ``ConfiguredCORS`` reads the CORS settings on the
first request (not at import) and adds Starlette's CORS middleware when origins
are configured; while the settings do not validate it passes requests through, so
``/health``, which reads nothing, answers on a misconfigured container.
"""

from __future__ import annotations

import json
import logging
import uuid

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambda_api.deps import API_KEY_HEADER, Runtime

log = logging.getLogger(__name__)


class ErrorBoundary:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_defaults(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    message["headers"] = [*headers, (b"cache-control", b"no-store")]
            await send(message)

        try:
            await self.app(scope, receive, send_with_defaults)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("unhandled error on %s %s (reference %s)", scope["method"], scope["path"], ref)
            if started:
                raise
            await _send_json(send, 500, {"detail": f"internal error (reference {ref})"})


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class ConfiguredCORS:
    def __init__(self, app: ASGIApp, runtime: Runtime):
        self.app = app
        self.runtime = runtime
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._inner is None:
            try:
                self._inner = self._build()
            except ValidationError:  # a misconfigured container: its routes say so, /health still answers
                await self.app(scope, receive, send)  # and the next request tries the settings again
                return
        await self._inner(scope, receive, send)

    def _build(self) -> ASGIApp:
        origins = self.runtime.settings.cors_origins
        if not origins:
            return self.app
        from starlette.middleware.cors import CORSMiddleware

        return CORSMiddleware(
            self.app,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=[API_KEY_HEADER],
            expose_headers=["X-Model-Version", "X-Cache"],
            max_age=600,
        )
