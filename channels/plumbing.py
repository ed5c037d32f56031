"""HTTP plumbing every platform webhook needs, written once (WeChat and Telegram use it).

- :func:`guard_content_length`: Sanic 21.12 (Rasa 3.6's) parses ``Content-Length`` with a bare
  ``int()`` before any route runs: ``abc`` or ``1e3`` became a 500 with the URL in the error log,
  ``-5`` left the connection reading a negative length, which froze the whole server, and a
  ``Transfer-Encoding`` other than ``chunked`` was a 500 too. A request-lifecycle signal refuses
  such headers first (400; 413 for absurd lengths), for every route on the server.
  A lifecycle signal also drops a malformed ``Accept`` header when a request fails, so that Sanic
  can render its error page instead of answering 500 (:func:`forget_malformed_accept`).
- :func:`read_body`: the body up to a cap, read in chunks so an oversized body is never held.
- :func:`loads_json`: JSON with a nesting limit, so deep nesting is a 400 and never a
  RecursionError.
- :class:`BackgroundTasks`: work that outlives the request (Rasa, platform APIs), kept referenced,
  failures logged without personal data, drained when the server stops.
- :func:`add_health_route` and :func:`hide_query_in_sanic_logs` (WeChat signs its requests in
  the query string and puts the user's OpenID there; Sanic's access and error logs print URLs).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidHeader, InvalidUsage, PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.errors import BadContentLength, BadPayload, BodyTooLarge, ChannelError

logger = logging.getLogger(__name__)

# What Rasa hands a channel's blueprint: call it with each message for the bot.
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

# 18 digits is an exabyte: more is no body anyone sends, and Python's int() refuses over 4300 digits.
MAX_CONTENT_LENGTH_DIGITS = 18
DEFAULT_DRAIN_SECONDS = 10.0


def mask(identifier: str) -> str:
    """A short, stable stand-in for an OpenID, chat id or address in logs (the same input, the same mask)."""
    return hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def describe_unexpected(err: BaseException) -> str:
    """Where an unexpected error happened, without its message (which may quote a user's data)."""
    if isinstance(err, ChannelError):
        return f"{type(err).__name__}: {err}"  # our own messages never carry personal data
    frames = traceback.extract_tb(err.__traceback__)[-3:]
    where = " <- ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}" for frame in reversed(frames)
    )
    return f"{type(err).__name__} at {where}" if where else type(err).__name__


# ---------------------------------------------------------------- Content-Length and the body


def content_length(request: Request) -> int | None:
    """The declared body length, None when there is none; :class:`BadContentLength` when it is malformed."""
    values = request.headers.getall("content-length", [])
    if not values:
        return None
    if len(set(values)) != 1:
        raise BadContentLength("several different Content-Length headers")
    value = values[0].strip()
    if not (value.isascii() and value.isdigit()):
        raise BadContentLength("Content-Length is not a non-negative integer")
    if len(value) > MAX_CONTENT_LENGTH_DIGITS:
        raise BodyTooLarge("Content-Length is larger than any accepted body")
    return int(value)


def guard_content_length(blueprint: Blueprint) -> None:
    """Refuse malformed ``Content-Length`` headers before Sanic parses them (see the module docstring).

    A blueprint's lifecycle signal runs for every request the server gets, whichever route it is for.
    """

    @blueprint.signal("http.lifecycle.request")
    async def _check_content_length(request: Request) -> None:
        try:
            declared = content_length(request)
        except BodyTooLarge as err:
            raise PayloadTooLarge(str(err)) from None
        except BadContentLength as err:
            raise InvalidUsage(str(err)) from None
        codings = request.headers.getall("transfer-encoding", [])
        if not codings:
            return
        if declared is not None:
            # Both at once is how requests are smuggled past proxies that read the other one.
            raise InvalidUsage("both Content-Length and Transfer-Encoding")
        if codings != ["chunked"]:
            # Sanic reads exactly "chunked"; with anything else it looked for a Content-Length and answered 500.
            raise InvalidUsage("only Transfer-Encoding: chunked is accepted")

    @blueprint.signal("http.lifecycle.exception")
    async def _forget_malformed_accept(request: Request | None, exception: BaseException) -> None:
        forget_malformed_accept(request)


def forget_malformed_accept(request: Request | None) -> None:
    """Drop an ``Accept`` header Sanic cannot parse, so that its error page can still be rendered.

    Sanic 21.12 picks the format of an error page (404, 405, 400 …) from ``Accept`` and raises on a
    malformed one (``*/**/*``) while rendering, which it answers with a bare 500 "An error occurred
    while handling an error" and logs nothing (found by ``make fuzz``). Without the header the page
    is rendered in the route's default format, as for a client that sent none.
    """
    if request is None:
        return
    try:
        request.accept  # noqa: B018 - parsing is the check
    except InvalidHeader:
        request.headers.popall("accept", None)
        request.parsed_accept = None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; :class:`BodyTooLarge` as soon as it passes ``limit`` bytes.

    On a streaming route the body is read in chunks, so a 10 MB chunked body never sits in memory.
    """
    declared = content_length(request)
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    stream = request.stream
    if stream is None:  # a non-streaming route: Sanic has read the body already
        body = bytes(request.body)
    else:
        chunks = bytearray()
        while (chunk := await stream.read()) is not None:
            chunks += chunk
            if len(chunks) > limit:
                raise BodyTooLarge(f"body larger than {limit} bytes")
        body = bytes(chunks)
    if len(body) > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    return body


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def json_too_deep(body: bytes, max_depth: int) -> bool:
    """True when ``body`` nests arrays/objects deeper than ``max_depth`` (or its brackets do not pair up).

    Strings are blanked first so brackets inside them do not count; then each pass removes the
    innermost empty pairs, in C, so the work is at most ``max_depth`` linear passes.
    """
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b'""', body))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)


def loads_json(body: bytes, max_depth: int) -> Any:
    """Parse UTF-8 JSON nested at most ``max_depth`` deep; :class:`BadPayload` otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None
    if json_too_deep(body, max_depth):
        raise BadPayload(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadPayload("body is not valid JSON") from None


# ---------------------------------------------------------------- work after the answer


class BackgroundTasks:
    """Tasks that outlive their request, referenced until done (the loop keeps only weak references)."""

    __slots__ = ("_name", "_tasks")

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:
            logger.error("A %s background task failed: %s", self._name, describe_unexpected(err))

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every task (and every task those started) is done; False if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                logger.warning("%d %s background task(s) still running at shutdown.", len(self._tasks), self._name)
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    def drain_on_stop(self, blueprint: Blueprint, timeout: float = DEFAULT_DRAIN_SECONDS) -> None:
        """Let replies being worked on go out before the server stops."""

        @blueprint.listener("before_server_stop")
        async def _drain(_app: Any, _loop: Any) -> None:
            await self.drain(timeout)


# ---------------------------------------------------------------- routes and logs


def status_json(status: int, reason: str) -> HTTPResponse:
    return response.json({"status": reason}, status=status)


def add_health_route(blueprint: Blueprint) -> None:
    """``GET <prefix>/``: a check for load balancers that touches nothing."""

    @blueprint.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return status_json(200, "ok")


_QUERY_VALUE = re.compile(r"(?P<key>[?&][^=&#\s'\"]+=)(?P<value>[^&#\s'\"]*)")


class _HideQuery(logging.Filter):
    """Rewrites URLs of the given paths in Sanic's log records: OpenIDs masked, other values blanked."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: set[str] = set()

    def _clean(self, text: str) -> str:
        if "?" not in text or not any(path in text for path in self.paths):
            return text

        def value(match: re.Match[str]) -> str:
            key, raw = match["key"], match["value"]
            kept = mask(raw) if key[1:-1].lower() == "openid" else "-"
            return f"{key}{kept}"

        return _QUERY_VALUE.sub(value, text)

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, str):
            record.request = self._clean(request)
        if isinstance(record.msg, str):
            record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) if isinstance(a, str) else a for a in record.args)
        return True


_HIDE_QUERY = _HideQuery()


def hide_query_in_sanic_logs(path: str) -> None:
    """Sanic logs full URLs (access log, and the error log on a 500); hide the query of ``path``."""
    _HIDE_QUERY.paths.add(path)
    for name in ("sanic.access", "sanic.error"):
        target = logging.getLogger(name)
        if _HIDE_QUERY not in target.filters:
            target.addFilter(_HIDE_QUERY)
