from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from channels.dedupe import MemoryDeduplicator, RedisDeduplicator

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def test_memory_dedupe_answers_true_once() -> None:
    dedupe = MemoryDeduplicator()

    async def run() -> list[bool]:
        return await asyncio.gather(*(dedupe.first_time("msg-1") for _ in range(10)))

    assert sorted(asyncio.run(run())) == [False] * 9 + [True]


def test_memory_dedupe_forgets_after_the_ttl() -> None:
    dedupe = MemoryDeduplicator(ttl_seconds=0.0)
    assert asyncio.run(dedupe.first_time("a")) and asyncio.run(dedupe.first_time("a"))


def test_redis_dedupe_is_shared_between_instances() -> None:
    if not _redis_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis tests, but no Redis answered")
        pytest.skip(f"no Redis server at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4().hex}"

    async def run() -> list[bool]:
        first, second = RedisDeduplicator(REDIS_URL, prefix, 60), RedisDeduplicator(REDIS_URL, prefix, 60)
        return [await first.first_time("k"), await second.first_time("k"), await first.first_time("other")]

    assert asyncio.run(run()) == [True, False, True]
