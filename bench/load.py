"""A closed-loop HTTP load generator on asyncio + httpx, for loopback servers only.

``concurrency`` virtual users each send a JSON POST, wait for the answer, and send the
next one. A run is bounded twice: it issues at most ``max_requests`` requests and starts
none after ``max_seconds``; a request still in flight then finishes or times out after
``timeout`` seconds, so a run always stops by itself. ``warmup`` requests go first, at
the same concurrency, and are not measured.

    stats = run_load("http://127.0.0.1:5005/webhooks/rest/webhook",
                     lambda user, seq: {"sender": f"u{user}-{seq}", "message": "你好"},
                     concurrency=8, max_requests=500, max_seconds=30)
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.errors import BenchConfigError
from bench.stats import summarize

MakePayload = Callable[[int, int], Any]
"""(virtual user, sequence number of the request) -> JSON body."""
Check = Callable[[Any], str | None]
"""Decoded answer -> None when it is acceptable, else why not (counted as an error)."""
Tag = Callable[[Any], str]
"""Decoded answer -> a label counted over the measured requests (e.g. which server answered)."""


class LoadConfigError(BenchConfigError):
    pass


@dataclass
class LoadStats:
    concurrency: int
    max_requests: int
    max_seconds: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    stopped_by: str = ""  # "count" or "time"
    throughput_rps: float | None = None  # successful answers per second of wall time
    latency_ms: dict[str, float] | None = None  # of the successful requests only
    tags: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_loopback(url: str) -> None:
    """The generator never sends load off this machine."""
    host = httpx.URL(url).host
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    if not local:
        raise LoadConfigError(f"the load generator only targets loopback addresses, not {host!r}")


@dataclass
class _Phase:
    max_requests: int
    deadline: float
    issued: int = 0
    stopped_by: str = "count"
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    last_done: float = 0.0

    def take(self, now: float) -> int | None:
        """The next request's number, or None when either bound is reached."""
        if self.issued >= self.max_requests:
            return None
        if now >= self.deadline:
            self.stopped_by = "time"
            return None
        self.issued += 1
        return self.issued - 1


async def _one(
    client: httpx.AsyncClient, url: str, payload: Any, timeout: float, check: Check | None
) -> tuple[str | None, Any]:
    try:
        response = await asyncio.wait_for(client.post(url, json=payload), timeout)
    except TimeoutError:
        return "timeout", None
    except httpx.HTTPError as err:
        return type(err).__name__, None
    if response.status_code != 200:
        return f"HTTP {response.status_code}", None
    try:
        body = response.json()
    except ValueError:
        return "answer is not JSON", None
    if check is not None:
        problem = check(body)
        if problem is not None:
            return problem, body
    return None, body


async def _run_phase(
    client: httpx.AsyncClient,
    url: str,
    make_payload: MakePayload,
    concurrency: int,
    phase: _Phase,
    timeout: float,
    check: Check | None,
    tag: Tag | None,
) -> None:
    async def user(number: int) -> None:
        while (seq := phase.take(time.perf_counter())) is not None:
            start = time.perf_counter()
            problem, body = await _one(client, url, make_payload(number, seq), timeout, check)
            done = time.perf_counter()
            phase.last_done = max(phase.last_done, done)
            if problem is None:
                phase.latencies.append((done - start) * 1000)
                if tag is not None:
                    phase.tags[tag(body)] += 1
            else:
                phase.errors[problem] += 1

    await asyncio.gather(*(user(n) for n in range(concurrency)))


async def run_load_async(
    url: str,
    make_payload: MakePayload,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    *,
    warmup: int = 0,
    timeout: float = 60.0,
    check: Check | None = None,
    tag: Tag | None = None,
    headers: dict[str, str] | None = None,
) -> LoadStats:
    ensure_loopback(url)
    if concurrency < 1 or max_requests < 1 or max_seconds <= 0 or timeout <= 0 or warmup < 0:
        raise LoadConfigError("concurrency, max_requests, max_seconds and timeout must be positive")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # trust_env=False: no proxy from the environment may route loopback traffic elsewhere.
    # No httpx timeout: asyncio.wait_for bounds each whole request (httpx's bound each read).
    async with httpx.AsyncClient(limits=limits, timeout=None, trust_env=False, headers=headers) as client:  # noqa: S113
        if warmup:
            warm = _Phase(max_requests=warmup, deadline=time.perf_counter() + max_seconds + timeout)
            await _run_phase(client, url, make_payload, concurrency, warm, timeout, check, None)
        start = time.perf_counter()
        phase = _Phase(max_requests=max_requests, deadline=start + max_seconds)
        await _run_phase(client, url, make_payload, concurrency, phase, timeout, check, tag)
    elapsed = max(phase.last_done - start, 1e-9)
    stats = LoadStats(
        concurrency=concurrency,
        max_requests=max_requests,
        max_seconds=max_seconds,
        sent=phase.issued,
        ok=len(phase.latencies),
        errors=sum(phase.errors.values()),
        error_kinds=dict(phase.errors),
        elapsed_s=round(elapsed, 3),
        stopped_by=phase.stopped_by,
        tags=dict(phase.tags),
    )
    if phase.latencies:
        stats.throughput_rps = round(len(phase.latencies) / elapsed, 3)
        stats.latency_ms = summarize(phase.latencies)
    return stats


def run_load(
    url: str,
    make_payload: MakePayload,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    *,
    warmup: int = 0,
    timeout: float = 60.0,
    check: Check | None = None,
    tag: Tag | None = None,
    headers: dict[str, str] | None = None,
) -> LoadStats:
    """Run one bounded load cell and return its figures (see the module docstring)."""
    return asyncio.run(
        run_load_async(
            url,
            make_payload,
            concurrency,
            max_requests,
            max_seconds,
            warmup=warmup,
            timeout=timeout,
            check=check,
            tag=tag,
            headers=headers,
        )
    )
