"""The project's one exception tree, shared by both runtimes.

Every error the project raises derives from :class:`YinlingError`, in one of three families, so a
caller can always tell a senior the truth:

- :class:`Refusal` — a domain "no": not found, full, closed, invalid input. Said as what it is
  ("没找到这个预约", "这个时间约满了").
- :class:`Unavailable` — "cannot now": a database that does not answer or stays locked, a timeout,
  a peer that is down. Never said as "not found": the senior hears that the system is busy and
  may try again, and where to call meanwhile.
- :class:`ConfigError` — the configuration is wrong (also a ``ValueError``); the message names the
  file and the key, and says what to change.
"""

from __future__ import annotations


class YinlingError(Exception):
    """Root of every error the project raises."""


class Refusal(YinlingError):
    """A domain refusal: the request is understood and the answer is no."""


class Unavailable(YinlingError):
    """Something the request needs does not answer now; trying again later is safe."""


class ConfigError(YinlingError, ValueError):
    """The configuration is wrong; the message says where and what to change."""
