"""The root of every error the channels raise, shared by WeChat, Telegram and the plumbing.

Two families hang below :class:`ChannelError`:

- :class:`ChannelConfigError`: the channel cannot start as configured. It is a ``ValueError`` and
  Rasa's ``InvalidConfigException`` (a ``RasaException``), so ``rasa run`` prints the message,
  which says what to change, instead of a traceback.
- :class:`RequestRefused`: one incoming request is refused; ``status`` is the HTTP answer. The
  message is ours and short, never the request's content, because it is logged.

Each platform roots its own tree here (``WeChatError``, ``TelegramChannelError``).
"""

from __future__ import annotations

from typing import ClassVar

from rasa.shared.exceptions import InvalidConfigException


class ChannelError(Exception):
    """Anything that goes wrong in a channel."""


class ChannelConfigError(ChannelError, InvalidConfigException):
    """A channel is configured wrongly; the message says what to change."""


class RequestRefused(ChannelError):
    """A request the channel will not handle. ``status`` is what the sender gets."""

    status: ClassVar[int] = 400


class BadContentLength(RequestRefused):
    """``Content-Length`` is not one non-negative decimal integer."""


class BodyTooLarge(RequestRefused):
    """The body is larger than the channel's cap."""

    status = 413


class BadPayload(RequestRefused):
    """The body is not what the platform sends (malformed, too deep, wrong encoding)."""
