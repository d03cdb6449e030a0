"""The API's HTTP edges: request body size, HEAD, requests per key per minute, and each
request counted and timed for /metrics."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.core import metrics

TOO_LARGE = (
    b'{"type":"about:blank","title":"Request too large","status":413,'
    b'"detail":"The request body is larger than this API accepts."}'
)


class BodyLimit:
    """Refuse a body over the limit with 413, whether it announces its length or not."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send)
            return
        seen = 0
        over = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge
            return message

        async def unless_over(message: Message) -> None:
            # A framework that turns a failed read into its own answer (FastAPI: 400) is not
            # heard: a body over the limit is a 413, announced or chunked.
            if not over:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted, unless_over)
        if over:
            await _refuse(send)


class _TooLarge(Exception):
    pass


class HeadLikeGet:
    """HEAD is GET without the body (RFC 9110): same status and headers, nothing after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(TOO_LARGE)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})


class RateLimiter:
    """A sliding window of the last minute's requests per key, in this process: with several
    replicas each counts its own (a sticky balancer keeps a client on one)."""

    WINDOW = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, deque[float]] = {}

    def wait(self, key_id: int, per_minute: int, now: float | None = None) -> int | None:
        """None when the request may go ahead (and counts it); else seconds to wait."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(key_id, deque())
            while seen and seen[0] <= moment - self.WINDOW:
                seen.popleft()
            if len(seen) >= per_minute:
                return max(1, math.ceil(seen[0] + self.WINDOW - moment))
            seen.append(moment)
            return None

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class Measured:
    """Count and time every API request by its route template (`/leads/{lead_id}`, never
    the ids themselves) and status code (`metrics.API_REQUESTS`, `API_SECONDS`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.API_REQUESTS.labels(template, str(status)).inc()
            metrics.API_SECONDS.labels(template).observe(time.perf_counter() - started)
