"""Politeness limits and size caps for the HTTP channels that answer in JSON (REST, web chat).

Rate limits come from :mod:`common.ratelimit` (token buckets): one per sender (the verified
conversation id, or the REST ``sender``) and one per source address. Over a limit the caller
gets HTTP 429 with ``Retry-After`` and a JSON body whose ``text`` is the polite
:data:`common.ratelimit.SLOW_DOWN`, which the web page shows as the bot's reply. The defaults
are far above what a person types (20 messages a minute per sender, 10 at once; 120 a minute
per address, 60 at once); ``YINLING_RATE_SENDER`` / ``YINLING_RATE_IP`` change them
(``<per_minute>/<burst>``, ``0`` switches a limit off).

Error bodies here, as everywhere in the channels, never echo what was sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.ratelimit import SLOW_DOWN, Limit, RateLimiter, hashed, limit_from_env

DEFAULT_SENDER_LIMIT = Limit(per_minute=20, burst=10)
DEFAULT_IP_LIMIT = Limit(per_minute=120, burst=60)

MAX_MESSAGE_CHARS = 5000
# A message of MAX_MESSAGE_CHARS characters of 4 UTF-8 bytes each, escaped as JSON, plus a little.
MAX_BODY_BYTES = 64 * 1024
TOO_LONG = "您这段话太长了，我一次看不完。请分几次发，每次少说一点。"


def error(
    status: int, reason: str, *, text: str | None = None, headers: Mapping[str, str] | None = None
) -> HTTPResponse:
    """A JSON error: ``error`` for programs, ``text`` (when given) for the person in front of the page."""
    body: dict[str, str] = {"error": reason}
    if text is not None:
        body["text"] = text
    return response.json(body, status=status, headers=dict(headers or {}))


def client_address(request: Request) -> str:
    # remote_addr is the proxied address only when Sanic is told to trust a proxy; else the peer.
    return str(request.remote_addr or request.ip or "unknown")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def body_too_large(request: Request) -> HTTPResponse | None:
    declared = request.headers.get("content-length", "")
    size = len(request.body or b"")
    if size > MAX_BODY_BYTES or (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        return error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", text=TOO_LONG)
    return None


def message_too_long(text: str) -> HTTPResponse | None:
    if len(text) > MAX_MESSAGE_CHARS:
        return error(413, f"the message is longer than {MAX_MESSAGE_CHARS} characters", text=TOO_LONG)
    return None


class Throttle:
    """The sender and address limits of one channel."""

    __slots__ = ("by_ip", "by_sender")

    def __init__(
        self,
        sender: Limit = DEFAULT_SENDER_LIMIT,
        ip: Limit = DEFAULT_IP_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_sender = RateLimiter(sender, clock=clock)
        self.by_ip = RateLimiter(ip, clock=clock)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.monotonic) -> Throttle:
        """Limits from ``YINLING_RATE_SENDER`` / ``YINLING_RATE_IP`` (a malformed value raises a config error)."""
        return cls(
            limit_from_env("sender", DEFAULT_SENDER_LIMIT, env),
            limit_from_env("ip", DEFAULT_IP_LIMIT, env),
            clock=clock,
        )

    @staticmethod
    def _slow_down(limiter: RateLimiter, key: str) -> HTTPResponse | None:
        if limiter.allow(key):
            return None
        wait = max(1, math.ceil(limiter.retry_after(key)))
        return error(
            429, f"too many requests; try again in {wait} s", text=SLOW_DOWN, headers={"Retry-After": str(wait)}
        )

    def check_ip(self, request: Request) -> HTTPResponse | None:
        """A 429 answer when the request's source address is over its limit, else None."""
        return self._slow_down(self.by_ip, hashed("ip", client_address(request)))

    def check_sender(self, sender_id: str) -> HTTPResponse | None:
        """A 429 answer when ``sender_id`` is over its limit, else None."""
        return self._slow_down(self.by_sender, hashed("sender", sender_id))
