"""Rate limits for every door into the assistant: channels, the web chat, the staff app.

One token bucket per key: a key may send ``burst`` requests at once, then ``per_minute``
a minute on average. Keys name who is limited, e.g. ``"sender:" + hash(sender id)`` and
``"ip:" + address``; callers never put personal data in clear into a key (keys are kept in
memory only, but a memory dump should not list OpenIDs either).

Each process keeps its own buckets. With several replicas behind a load balancer a flood
spread over N replicas gets up to N times the limit; the limits are for politeness and
self-protection, not for billing, so that is accepted (see README, "Rate limits").

Configuration, per limit name (``sender``, ``ip``, ``login`` …), from the environment::

    YINLING_RATE_<NAME>=<per_minute>/<burst>      e.g. YINLING_RATE_SENDER=20/8

``0`` as per_minute switches that limit off. A malformed value is a configuration error
that names the variable.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from common.errors import ConfigError

SLOW_DOWN = "您发得有点快，我跟不上啦。请等一小会儿再发，我一定回复您。如有危险请马上拨打 120。"


class RateLimitConfigError(ConfigError):
    """A rate-limit setting in the environment is malformed."""


@dataclass(frozen=True)
class Limit:
    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


def limit_from_env(name: str, default: Limit, env: Mapping[str, str] | None = None) -> Limit:
    """The limit ``YINLING_RATE_<NAME>`` sets, else ``default``."""
    variable = f"YINLING_RATE_{name.upper()}"
    raw = (env if env is not None else os.environ).get(variable, "").strip()
    if not raw:
        return default
    per_minute, sep, burst = raw.partition("/")
    try:
        limit = Limit(float(per_minute), int(burst) if sep else default.burst)
    except ValueError as err:
        raise RateLimitConfigError(f"{variable}={raw!r}: expected <per_minute>/<burst>, e.g. 20/8") from err
    if limit.per_minute < 0 or limit.burst < 1:
        raise RateLimitConfigError(f"{variable}={raw!r}: per_minute must be ≥ 0 and burst ≥ 1")
    return limit


def hashed(kind: str, value: str) -> str:
    """A bucket key that does not carry the identifier in clear."""
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:24]}"


class RateLimiter:
    """Token buckets per key, thread-safe, with the least recently used keys forgotten first."""

    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, last time)
        self._lock = threading.Lock()

    def _refill(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + (now - last) * self.limit.per_minute / 60.0)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        if not self.limit.enabled:
            return True
        with self._lock:
            now = self._clock()
            tokens = self._refill(key, now)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return allowed

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may send again (0 when it may now)."""
        if not self.limit.enabled:
            return 0.0
        with self._lock:
            tokens = self._refill(key, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * 60.0 / self.limit.per_minute
