"""Drive an ASGI app in process with generated requests; count answers, 5xx and logged errors.

Both servers under test speak ASGI (Sanic for the Rasa channels, FastAPI for the staff app), so a
request is one call of the app with a scope, a ``receive`` that hands over the body and a ``send``
that collects the answer: no sockets, no HTTP client, thousands of requests a second per core. The
real-HTTP pass (:mod:`fuzz.live`) checks that this in-process view matches the deployed stack.

A run fails on any answer ≥ 500, any exception that escapes the app, and any log record at ERROR
or above (or carrying a traceback) from any logger, including asyncio's "exception was never
retrieved" for background tasks. Each such input is saved as a reproducer file.

Standard library only: both runtimes import it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import json
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Reproducers kept per route: the first few say everything, thousands would only fill the disk.
MAX_REPRODUCERS = 20
# Statuses kept input by input, so that the real-HTTP pass can be compared with the in-process one.
KEEP_STATUSES = 2000
# A request that takes longer than this in process is a hang: reported as a failure.
REQUEST_TIMEOUT_S = 20.0

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass
class Probe:
    """One generated HTTP request."""

    method: str
    path: str
    query: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    client: str = "203.0.113.7"

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query_b64": base64.b64encode(self.query).decode("ascii"),
            "headers": [[k, v.encode("utf-8", "surrogatepass").hex()] for k, v in self.headers],
            "body_b64": base64.b64encode(self.body).decode("ascii"),
            "client": self.client,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        return cls(
            method=data["method"],
            path=data["path"],
            query=base64.b64decode(data["query_b64"]),
            headers=[(k, bytes.fromhex(v).decode("utf-8", "surrogatepass")) for k, v in data["headers"]],
            body=base64.b64decode(data["body_b64"]),
            client=data["client"],
        )


@dataclass
class Answer:
    status: int
    body: bytes
    error: str | None = None  # an exception that escaped the app (with its traceback)


def _header_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


async def call(app: ASGIApp, probe: Probe) -> Answer:
    """Send ``probe`` to ``app`` as an ASGI HTTP request; the answer, or the exception it raised."""
    headers = [(k.lower().encode("latin-1", "replace"), _header_bytes(v)) for k, v in probe.headers]
    if probe.body and not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(probe.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": probe.method,
        "scheme": "http",
        "path": probe.path,
        "raw_path": probe.path.encode("utf-8", "surrogatepass"),
        "query_string": probe.query,
        "root_path": "",
        "headers": headers,
        "client": (probe.client, 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    sent = 0
    finished = asyncio.Event()
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        if sent == 1:
            return {"type": "http.request", "body": probe.body, "more_body": False}
        if sent <= 3:
            # Sanic's ASGI stream reader asks once more after the last chunk; an empty one ends it.
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # as a client that waits for the answer, then goes away
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), REQUEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        return Answer(status or 599, b"".join(chunks), f"no answer within {REQUEST_TIMEOUT_S} s (a hang)")
    except Exception as err:  # noqa: BLE001 - what escapes the app is exactly what the fuzzer looks for
        return Answer(status or 500, b"".join(chunks), f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
    finally:
        finished.set()
    return Answer(status, b"".join(chunks))


async def call_http(host: str, port: int, probe: Probe) -> Answer:
    """Send ``probe`` over a real TCP connection as raw HTTP/1.1 bytes (nothing is cleaned up on the way)."""
    target = probe.path + ("?" + probe.query.decode("latin-1") if probe.query else "")
    lines = [f"{probe.method} {target} HTTP/1.1".encode("latin-1", "replace"), f"Host: {host}:{port}".encode()]
    lines.extend(f"{k}: ".encode("latin-1", "replace") + _header_bytes(v) for k, v in probe.headers)
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in probe.headers):
        lines.append(f"Content-Length: {len(probe.body)}".encode())
    lines.append(b"Connection: close")
    # A header value with a line break would split into two headers or end the head early:
    # real clients cannot send that, so it is cut here as a client library would refuse it.
    head = b"\r\n".join(line.replace(b"\r", b"").replace(b"\n", b"") for line in lines) + b"\r\n\r\n"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError) as err:
        return Answer(599, b"", f"could not connect: {type(err).__name__}: {err}")
    try:
        writer.write(head + probe.body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        return Answer(599, b"", f"no answer within {REQUEST_TIMEOUT_S} s (a hang)")
    except OSError as err:
        # The server may close while a large body is still being sent (after a 413): read what it said.
        raw = b""
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            raw = await asyncio.wait_for(reader.read(), 2)
        if not raw:
            return Answer(0, b"", None if isinstance(err, ConnectionResetError) else f"{type(err).__name__}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    parts = status_line.split(b" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return Answer(0, raw[:200])  # closed without an answer: counted as status 0, not as a failure
    _, _, body = rest.partition(b"\r\n\r\n")
    return Answer(int(parts[1]), body)


# ---------------------------------------------------------------------- watching the logs

_current: contextvars.ContextVar[str] = contextvars.ContextVar("fuzz_route", default="?")


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above, or with a traceback, from any logger of the process."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str]] = []  # (route, text)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR and not record.exc_info:
            return
        try:
            text = f"{record.levelname} {record.name}: {record.getMessage()}"
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is still an error record
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.records.append((_current.get(), text))

    def take(self) -> list[tuple[str, str]]:
        taken, self.records = self.records, []
        return taken


@contextlib.contextmanager
def watching_logs() -> Iterator[ErrorRecords]:
    """Collect error records from every logger (handlers of libraries that stop propagation included)."""
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    extra = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if isinstance(logging.root.manager.loggerDict[name], logging.Logger) and not logging.getLogger(name).propagate
    ]
    for lg in extra:
        lg.addHandler(handler)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_loop_error(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        err = context.get("exception")
        text = f"asyncio: {context.get('message')}"
        if isinstance(err, BaseException):
            text += "\n" + "".join(traceback.format_exception(type(err), err, err.__traceback__))
        handler.records.append((_current.get(), text))

    loop.set_exception_handler(on_loop_error)
    try:
        yield handler
    finally:
        loop.set_exception_handler(previous)
        root.removeHandler(handler)
        for lg in extra:
            lg.removeHandler(handler)


# ---------------------------------------------------------------------- one route's run


@dataclass
class Route:
    """A route under test: its name, the app it lives in, and a generator of inputs."""

    name: str
    app: ASGIApp
    make: Callable[[int], Probe]  # input number → request (deterministic for a seed)
    # Anything the route wants to check on each answer beyond "no 5xx" (e.g. nothing echoed).
    check: Callable[[Probe, Answer], str | None] | None = None


@dataclass
class RouteResult:
    name: str
    goal: int = 0  # inputs asked for; fewer were sent when the time budget ran out
    inputs: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    exceptions: int = 0
    error_logs: int = 0
    check_failures: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: comparable across machines that are busy or not
    reproducers: list[str] = field(default_factory=list)
    first_statuses: list[int] = field(default_factory=list)  # input by input, to compare the two passes
    samples: list[str] = field(default_factory=list)  # first lines of what went wrong

    @property
    def failures(self) -> int:
        return self.server_errors + self.exceptions + self.error_logs + self.check_failures

    def as_json(self) -> dict[str, Any]:
        return {
            "route": self.name,
            "goal": self.goal,
            "inputs": self.inputs,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors": self.server_errors,
            "exceptions": self.exceptions,
            "error_logs": self.error_logs,
            "check_failures": self.check_failures,
            "seconds": round(self.seconds, 2),
            "inputs_per_s": round(self.inputs / self.seconds, 1) if self.seconds else None,
            "cpu_seconds": round(self.cpu_seconds, 2),
            "inputs_per_cpu_s": round(self.inputs / self.cpu_seconds, 1) if self.cpu_seconds else None,
            "reproducers": self.reproducers,
            "samples": self.samples[:5],
            "first_statuses": self.first_statuses,
        }


def _save(crash_dir: Path | None, result: RouteResult, seed: str, index: int, probe: Probe, why: list[str]) -> None:
    if len(result.samples) < 10:
        result.samples.extend(line.splitlines()[0][:300] for line in why)
    if crash_dir is None or len(result.reproducers) >= MAX_REPRODUCERS:
        return
    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"{result.name.replace('/', '_').replace(' ', '_')}-{index}.json"
    record = {"route": result.name, "seed": seed, "index": index, "why": why, "probe": probe.as_json()}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    result.reproducers.append(str(path))


async def run_route(
    route: Route,
    inputs: int,
    seed: str,
    logs: ErrorRecords,
    crash_dir: Path | None = None,
    settle: Callable[[], Awaitable[None]] | None = None,
    via: Callable[[Probe], Awaitable[Answer]] | None = None,
    seconds: float | None = None,
) -> RouteResult:
    """``inputs`` generated requests to ``route``, one after another (in process, or ``via`` real HTTP).

    With ``seconds``, the route stops early when its time is up (``result.inputs`` says how far it got).
    """
    result = RouteResult(route.name, goal=inputs)
    token = _current.set(route.name)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        deadline = start + seconds if seconds else None
        for index in range(inputs):
            if deadline is not None and index % 50 == 0 and time.perf_counter() > deadline:
                break
            probe = route.make(index)
            answer = await (via(probe) if via is not None else call(route.app, probe))
            # Background work the request started (Telegram, WeChat) runs before the next request,
            # as it would between two real deliveries; its errors are then charged to this input.
            await asyncio.sleep(0)
            if settle is not None:
                await settle()
            result.inputs += 1
            result.statuses[answer.status] += 1
            if index < KEEP_STATUSES:
                result.first_statuses.append(answer.status)
            why: list[str] = []
            if answer.status >= 500:
                result.server_errors += 1
                why.append(f"HTTP {answer.status}: {answer.body[:200]!r}")
            if answer.error is not None:
                result.exceptions += 1
                why.append(f"exception: {answer.error}")
            if route.check is not None and (problem := route.check(probe, answer)) is not None:
                result.check_failures += 1
                why.append(f"check: {problem}")
            logged = logs.take()
            if logged:
                result.error_logs += len(logged)
                why.extend(f"log: {text}" for _, text in logged)
            if why:
                _save(crash_dir, result, seed, index, probe, why)
    finally:
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu_start
        _current.reset(token)
    return result


async def replay(app: ASGIApp, files: list[Path]) -> int:
    """Send saved reproducers to ``app`` again; print what each got; 1 if any still fails."""
    failed = 0
    with watching_logs() as logs:
        for path in files:
            record = json.loads(path.read_text(encoding="utf-8"))
            answer = await call(app, Probe.from_json(record["probe"]))
            logged = logs.take()
            bad = answer.status >= 500 or answer.error is not None or bool(logged)
            failed += bad
            print(f"{path}: HTTP {answer.status} {answer.body[:200]!r}{' FAILS' if bad else ''}")
            for text in [answer.error or "", *(t for _, t in logged)]:
                if text:
                    print("   ", text.replace("\n", "\n    "))
    return 1 if failed else 0


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` while servers read their settings, then as it was (tests share the process)."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def share(budget: float | None, routes: tuple[str, ...]) -> float | None:
    """Each route's equal part of a time budget (None: no budget)."""
    return budget / max(1, len(routes)) if budget else None


def summary_line(result: RouteResult) -> str:
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items()))
    rate = result.inputs / result.seconds if result.seconds else 0.0
    return (
        f"{result.name}: {result.inputs} inputs in {result.seconds:.1f} s ({rate:.0f}/s, "
        f"{result.cpu_seconds:.1f} CPU s), "
        f"5xx {result.server_errors}, exceptions {result.exceptions}, error logs {result.error_logs}, "
        f"check failures {result.check_failures} [{statuses}]"
    )
