"""Rate limits for the platform webhooks, on :mod:`common.ratelimit`'s token buckets.

Two limits, because WeChat and Telegram deliver every user's messages from a handful of their
own server addresses:

- **Per sender** (:class:`SenderThrottle`): every verified message of one OpenID / chat takes a
  token. Over the limit, the message is not run through the bot; the sender gets
  :data:`common.ratelimit.SLOW_DOWN` once per window and then nothing until it ends, so a flood
  does not turn into a flood of replies.
- **Per source address, for failed checks** (:class:`AddressGuard`): a wrong signature or secret
  takes a token of its address; once its bucket is empty, further failures from it are refused
  as "too many failed checks" (403, like a wrong signature: the caller failed authentication, and a
  429 would only invite the retries both platforms make on any non-2xx) and logged once per window.
  The check itself comes first and is cheap, so a request that passes it always gets through: a
  shared address (a proxy, the platform's own servers) is never blocked for everyone.
  A limit on *all* requests per address would be a limit on everybody at once, because the
  platform's few addresses carry every senior's messages; verified traffic is bounded per sender
  and by each channel's in-flight cap instead.

Keys are hashed (:func:`common.ratelimit.hashed`); nothing here keeps an OpenID or chat id in clear.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sanic.request import Request

from channels.plumbing import mask
from common.ratelimit import Limit, RateLimiter, hashed

logger = logging.getLogger(__name__)

# Defaults no senior ever meets: a burst of 10 messages, then one every 3 s on average.
DEFAULT_SENDER_LIMIT = Limit(per_minute=20, burst=10)
# Twenty wrong signatures at once, then one every 6 s: enough for a misconfigured test, not for a flood.
DEFAULT_ADDRESS_LIMIT = Limit(per_minute=10, burst=20)
# At most one "please slow down" per sender in this many seconds.
SLOW_DOWN_WINDOW_SECONDS = 60.0
MAX_KEYS = 100_000

Clock = Callable[[], float]


class Verdict(enum.Enum):
    ALLOW = "allow"  # run it through the bot
    SLOW_DOWN = "slow down"  # do not run it; tell the sender, politely, once
    DROP = "drop"  # do not run it; the sender was told already in this window


class _Reminder:
    """Keys told something recently: each is told again only after ``window`` seconds (LRU-bounded)."""

    def __init__(self, window: float, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self._window, self._clock, self._max = window, clock, max_keys
        self._until: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_in_window(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            until = self._until.get(key)
            if until is not None and now < until:
                return False
            self._until[key] = now + self._window
            self._until.move_to_end(key)
            while len(self._until) > self._max:
                self._until.popitem(last=False)
            return True


class SenderThrottle:
    """Per-sender token buckets with one polite slow-down per window."""

    def __init__(
        self, limit: Limit, *, window: float = SLOW_DOWN_WINDOW_SECONDS, clock: Clock = time.monotonic
    ) -> None:
        self.limit = limit
        self._buckets = RateLimiter(limit, clock=clock, max_keys=MAX_KEYS)
        self._told = _Reminder(window, clock)

    def check(self, channel: str, sender: str) -> Verdict:
        key = hashed("sender", f"{channel}:{sender}")
        if self._buckets.allow(key):
            return Verdict.ALLOW
        return Verdict.SLOW_DOWN if self._told.first_in_window(key) else Verdict.DROP


class AddressGuard:
    """Counts failed signature/secret checks per source address and refuses an address that used them up."""

    def __init__(
        self,
        limit: Limit,
        channel: str,
        *,
        window: float = SLOW_DOWN_WINDOW_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit = limit
        self._channel = channel
        self._buckets = RateLimiter(limit, clock=clock, max_keys=MAX_KEYS)
        self._logged = _Reminder(window, clock)

    def blocked(self, address: str) -> bool:
        return self._buckets.retry_after(hashed("ip", address)) > 0

    def refuses(self, address: str) -> bool:
        """True when ``address`` is blocked; says so in the log once per window, not once per request."""
        if not self.blocked(address):
            return False
        if self._logged.first_in_window(hashed("ip", address)):
            logger.warning(
                "Refusing %s requests from address %s for a while: too many failed checks.",
                self._channel,
                mask(address),
            )
        return True

    def failed(self, address: str) -> None:
        self._buckets.allow(hashed("ip", address))


_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
_proxy_warning_given = threading.Event()


def client_address(request: Request) -> str:
    """The caller's address. Forwarded headers count only where Sanic is told to trust them
    (``SANIC_PROXIES_COUNT`` / ``SANIC_REAL_IP_HEADER`` behind a proxy), so a client cannot choose its own."""
    forwarded = str(request.remote_addr or "")
    if not forwarded and not _proxy_warning_given.is_set() and any(h in request.headers for h in _FORWARDING_HEADERS):
        # Behind an untrusted proxy every caller shares the proxy's address, so one attacker's failed
        # checks would block everybody's messages: say so once.
        _proxy_warning_given.set()
        logger.warning(
            "Requests arrive through a proxy Sanic is not told to trust: the per-address limits see the proxy, "
            "not the sender. Set SANIC_PROXIES_COUNT=1 (or SANIC_REAL_IP_HEADER) for the Rasa server."
        )
    return forwarded or str(request.ip or "unknown")
