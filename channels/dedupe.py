"""Remember which platform messages were already handled, so a redelivery does nothing.

WeChat retries a message it got no answer for within 5 s (3 tries), and Telegram re-sends
an update after a non-2xx answer. Each channel builds a key per message (WeChat: OpenID +
MsgId, or OpenID + CreateTime + event for events; Telegram: update_id) and asks
:meth:`Deduplicator.first_time`.

The same memory, as :meth:`Bindings.bind`, ties a WeChat signed query string to the body it
first came with, so the query cannot be replayed with another body while its timestamp is valid.

In memory by default; with ``REDIS_URL`` set, in Redis, so several Rasa replicas agree.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Protocol

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_MAX_KEYS = 100_000


class Deduplicator(Protocol):
    async def first_time(self, key: str) -> bool:
        """True exactly once per key (within the time to live)."""


class Bindings(Protocol):
    async def bind(self, key: str, value: str, ttl_seconds: float) -> bool:
        """True when ``key`` was free (it is now bound to ``value``) or is already bound to ``value``."""


class _Expiring:
    """Key → (expiry, value), bounded: expired and then least recently added keys go first."""

    def __init__(self, max_keys: int) -> None:
        self._max = max_keys
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._evicted = 0

    def setdefault(self, key: str, value: str, ttl_seconds: float) -> str:
        """The value bound to ``key``, binding ``value`` first if there is none (or it expired)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
            self._entries.pop(key, None)
            # Entries expire in insertion order only roughly (TTLs differ), so drop expired ones from the front.
            while self._entries and next(iter(self._entries.values()))[0] <= now:
                self._entries.popitem(last=False)
            while len(self._entries) >= self._max:
                self._entries.popitem(last=False)
                self._evicted += 1
                if self._evicted == 1 or self._evicted % 10_000 == 0:
                    logger.warning("Deduplication memory is full; %d live key(s) forgotten early.", self._evicted)
            self._entries[key] = (now + ttl_seconds, value)
            return value


class MemoryDeduplicator:
    """Per-process memory, bounded in size and time."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._ttl = ttl_seconds
        self._memory = _Expiring(max_keys)
        self._calls = itertools.count()

    async def first_time(self, key: str) -> bool:
        marker = str(next(self._calls))  # unique per call, so only the call that stored it gets it back
        return self._memory.setdefault(key, marker, self._ttl) == marker


class MemoryBindings:
    """Per-process :class:`Bindings`, bounded in size and time."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._memory = _Expiring(max_keys)

    async def bind(self, key: str, value: str, ttl_seconds: float) -> bool:
        return self._memory.setdefault(key, value, ttl_seconds) == value


class RedisDeduplicator:
    """``SET key 1 NX EX ttl``: atomic across processes and machines."""

    def __init__(self, url: str, prefix: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        import redis.asyncio as redis

        self._client = redis.from_url(url)
        self._prefix, self._ttl = prefix, ttl_seconds

    async def first_time(self, key: str) -> bool:
        return bool(await self._client.set(f"{self._prefix}:{key}", 1, nx=True, ex=self._ttl))


class RedisBindings:
    """``SET key value NX EX ttl``, else compare with the stored value: shared by every replica."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        self._client = redis.from_url(url)
        self._prefix = prefix

    async def bind(self, key: str, value: str, ttl_seconds: float) -> bool:
        name = f"{self._prefix}:{key}"
        if await self._client.set(name, value, nx=True, ex=max(1, int(ttl_seconds + 0.999))):
            return True
        stored = await self._client.get(name)
        # Gone in between (expired): the key is free again, so this use is the first.
        return stored is None or bytes(stored) == value.encode("utf-8")


def make_deduplicator(channel: str, redis_url: str | None = None) -> Deduplicator:
    url = redis_url or os.environ.get("REDIS_URL")
    if url:
        logger.info("Deduplicating %s deliveries in Redis.", channel)
        return RedisDeduplicator(url, prefix=f"yinling:dedupe:{channel}")
    return MemoryDeduplicator()


def make_bindings(channel: str, redis_url: str | None = None) -> Bindings:
    url = redis_url or os.environ.get("REDIS_URL")
    if url:
        return RedisBindings(url, prefix=f"yinling:bindings:{channel}")
    return MemoryBindings()
