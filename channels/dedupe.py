"""Remember which platform messages were already handled, so a redelivery does nothing.

WeChat retries a message it got no answer for within 5 s (3 tries), and Telegram re-sends
an update after a non-2xx answer. Each channel builds a key per message (WeChat: MsgId, or
FromUserName + CreateTime for events; Telegram: update_id) and asks :meth:`first_time`.
In memory by default; with ``REDIS_URL`` set, in Redis, so several Rasa replicas agree.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Protocol

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 24 * 3600


class Deduplicator(Protocol):
    async def first_time(self, key: str) -> bool:
        """True exactly once per key (within the time to live)."""


class MemoryDeduplicator:
    """Per-process memory, bounded in size and time."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_keys: int = 100_000) -> None:
        self._ttl, self._max = ttl_seconds, max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    async def first_time(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) >= self._max or next(iter(self._seen.values())) < now):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self._ttl
            return True


class RedisDeduplicator:
    """``SET key 1 NX EX ttl``: atomic across processes and machines."""

    def __init__(self, url: str, prefix: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        import redis.asyncio as redis

        self._client = redis.from_url(url)
        self._prefix, self._ttl = prefix, ttl_seconds

    async def first_time(self, key: str) -> bool:
        return bool(await self._client.set(f"{self._prefix}:{key}", 1, nx=True, ex=self._ttl))


def make_deduplicator(channel: str, redis_url: str | None = None) -> Deduplicator:
    url = redis_url or os.environ.get("REDIS_URL")
    if url:
        logger.info("Deduplicating %s deliveries in Redis.", channel)
        return RedisDeduplicator(url, prefix=f"yinling:dedupe:{channel}")
    return MemoryDeduplicator()
