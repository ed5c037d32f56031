"""HTTP plumbing of the staff app: the protocol guard, security headers, logins, CSRF, rate limits.

The guard runs before FastAPI sees a request. It refuses a malformed or negative
``Content-Length`` (400), a body over the cap (413, also when it arrives chunked), and a
state-changing ``/api`` request whose body is not JSON (415) — each before the body is read.
The body of a refused request never becomes "the next request" on a kept-alive connection:
the HTTP parser (uvicorn's) counts it as this request's body whether or not the app reads it.

Access log lines name method, path (never the query string, where a careless client may put a
token), status and duration. Error responses never quote the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from common.ratelimit import Limit, RateLimiter, limit_from_env

logger = logging.getLogger(__name__)
access_log = logging.getLogger("staff.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "yl_staff"
LOGIN_COOKIE = "yl_login"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
# Routes that may be reached without logging in, and are not rate-limited per address
# beyond the general limit.
UNLIMITED_PREFIXES = ("/static/", "/health")


def limiters() -> dict[str, RateLimiter]:
    """Per source address (every request), per user (every authenticated request), logins per address."""
    return {
        "ip": RateLimiter(limit_from_env("staff_ip", Limit(per_minute=1200, burst=300))),
        "user": RateLimiter(limit_from_env("staff_user", Limit(per_minute=600, burst=200))),
        "login": RateLimiter(limit_from_env("staff_login", Limit(per_minute=20, burst=10))),
    }


def client_key(scope: Scope) -> str:
    client = scope.get("client") or ("unknown", 0)
    return "ip:" + hashlib.sha256(str(client[0]).encode()).hexdigest()[:24]


async def _plain_error(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ProtocolGuard:
    """Pure ASGI middleware: size cap, JSON-only API writes, address rate limit, headers, access log."""

    def __init__(self, app: ASGIApp, max_body: int, ip_limiter: RateLimiter) -> None:
        # This access log replaces uvicorn's, which prints query strings.
        uvicorn_access = logging.getLogger("uvicorn.access")
        uvicorn_access.handlers, uvicorn_access.propagate, uvicorn_access.disabled = [], False, True
        self.app = app
        self.max_body = max_body
        self.ip_limiter = ip_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = str(scope["method"]), str(scope["path"])
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        status_box = [0]
        refused = [False]  # the body grew over the cap and 413 was sent: drop what the app says

        async def send_logged(message: Message) -> None:
            if refused[0]:
                return
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers") or [] if k.lower() not in dict(SECURITY_HEADERS)],
                    *SECURITY_HEADERS,
                ]
            await send(message)

        try:
            refusal = self._refusal(method, path, headers)
            if refusal is not None:
                status_box[0] = refusal[0]
                await _plain_error(send, *refusal)
                return
            if not path.startswith(UNLIMITED_PREFIXES) and not self.ip_limiter.allow(client_key(scope)):
                status_box[0] = 429
                wait = max(1, int(self.ip_limiter.retry_after(client_key(scope)) + 0.999))
                await _plain_error(send, 429, "too many requests; slow down", [(b"retry-after", str(wait).encode())])
                return
            await self.app(scope, self._capped(receive, send, status_box, refused), send_logged)
        finally:
            access_log.info(
                "%s %s %d %.1f ms", method, path[:200], status_box[0], (time.perf_counter() - started) * 1000
            )

    def _refusal(self, method: str, path: str, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        length_raw = headers.get(b"content-length")
        length = 0
        if length_raw is not None:
            if not length_raw.isdigit():
                return 400, "Content-Length must be a non-negative number"
            length = int(length_raw)
            if length > self.max_body:
                return 413, f"body larger than {self.max_body} bytes"
        has_body = length > 0 or b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if method not in SAFE_METHODS and path.startswith("/api/") and has_body:
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media != b"application/json":
                return 415, "send application/json"
        return None

    def _capped(self, receive: Receive, send: Send, status_box: list[int], refused: list[bool]) -> Receive:
        """Counts body bytes as they arrive (chunked bodies have no Content-Length to check first)."""
        seen = [0]

        async def wrapped() -> Message:
            if refused[0]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    if status_box[0] == 0:
                        status_box[0] = 413
                        await _plain_error(send, 413, f"body larger than {self.max_body} bytes")
                    refused[0] = True
                    # The app sees the client gone and stops; its own answer is dropped.
                    return {"type": "http.disconnect"}
            return message

        return wrapped


def same_secret(given: str | None, expected: str) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def notify_key(staff_secret: str) -> str:
    """The bearer the Rasa server's guard presents to /internal/rasa/*: derived, never the secret itself."""
    return hmac.new(staff_secret.encode(), b"yinling rasa notify v1", hashlib.sha256).hexdigest()


class FailureMemory:
    """Failed logins per source address for names that do not exist (those have no account row)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._max = max_keys

    def fail(self, key: str, window: float = 900.0) -> int:
        now = time.monotonic()
        count, since = self._counts.get(key, (0, now))
        if now - since > window:
            count, since = 0, now
        self._counts[key] = (count + 1, since)
        self._counts.move_to_end(key)
        while len(self._counts) > self._max:
            self._counts.popitem(last=False)
        return count + 1
