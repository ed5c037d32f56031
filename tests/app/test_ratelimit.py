from __future__ import annotations

import pytest

from common.ratelimit import Limit, RateLimitConfigError, RateLimiter, hashed, limit_from_env


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Limit(per_minute=6, burst=3), clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == pytest.approx(10.0)
    assert limiter.allow("b"), "keys are limited independently"
    clock.now += 10
    assert limiter.allow("a") and not limiter.allow("a")


def test_a_switched_off_limit_allows_everything() -> None:
    limiter = RateLimiter(Limit(per_minute=0, burst=1))
    assert all(limiter.allow("a") for _ in range(1000))


def test_old_keys_are_forgotten_first() -> None:
    limiter = RateLimiter(Limit(per_minute=1, burst=1), max_keys=2, clock=Clock())
    assert limiter.allow("a") and limiter.allow("b") and limiter.allow("c")
    assert limiter.allow("a"), "a was forgotten when c came, so it starts with a full bucket"
    assert not limiter.allow("c")


def test_limits_from_the_environment() -> None:
    default = Limit(20, 8)
    assert limit_from_env("sender", default, {}) == default
    assert limit_from_env("sender", default, {"YINLING_RATE_SENDER": "30/5"}) == Limit(30, 5)
    assert limit_from_env("ip", default, {"YINLING_RATE_IP": "0"}) == Limit(0, 8)
    with pytest.raises(RateLimitConfigError, match="YINLING_RATE_SENDER"):
        limit_from_env("sender", default, {"YINLING_RATE_SENDER": "fast"})


def test_keys_do_not_carry_the_identifier() -> None:
    key = hashed("sender", "wechat:oABCDEF123")
    assert key.startswith("sender:") and "oABCDEF" not in key
