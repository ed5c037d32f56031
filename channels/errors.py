"""The root of every error the channels raise, shared by WeChat, Telegram and the plumbing.

Three families hang below :class:`ChannelError` (itself a :class:`common.errors.YinlingError`):

- :class:`ChannelConfigError`: the channel cannot start as configured. It is a ``ValueError`` and
  Rasa's ``InvalidConfigException`` (a ``RasaException``), so ``rasa run`` prints the message,
  which says what to change, instead of a traceback.
- :class:`RequestRefused`: one incoming request is refused; ``status`` is the HTTP answer. The
  message is ours and short, never the request's content, because it is logged (a
  :class:`common.errors.Refusal`).
- :class:`PeerUnavailable`: the platform's own API did not answer as it should (a
  :class:`common.errors.Unavailable`).

Each platform roots its own tree here (``WeChatError``, ``TelegramChannelError``).
"""

from __future__ import annotations

from typing import ClassVar

from rasa.shared.exceptions import InvalidConfigException

from common.errors import ConfigError, Refusal, Unavailable, YinlingError


class ChannelError(YinlingError):
    """Anything that goes wrong in a channel."""


class ChannelConfigError(ChannelError, ConfigError, InvalidConfigException):
    """A channel is configured wrongly; the message says what to change."""


class RequestRefused(ChannelError, Refusal):
    """A request the channel will not handle. ``status`` is what the sender gets."""

    status: ClassVar[int] = 400


class PeerUnavailable(ChannelError, Unavailable):
    """The platform's API (Telegram, WeChat) could not be reached or answered with an error; retrying later is safe."""


class BadContentLength(RequestRefused):
    """``Content-Length`` is not one non-negative decimal integer."""


class BodyTooLarge(RequestRefused):
    """The body is larger than the channel's cap."""

    status = 413


class BadPayload(RequestRefused):
    """The body is not what the platform sends (malformed, too deep, wrong encoding)."""
