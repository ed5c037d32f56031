"""The WeChat channel's exceptions, rooted in :class:`channels.errors.ChannelError`.

Request errors carry the HTTP status they answer with. Their messages are ours and short: they
are logged, so they never quote the query string, the body or an OpenID.
"""

from __future__ import annotations

from channels.errors import BadPayload, ChannelConfigError, ChannelError, RequestRefused


class WeChatError(ChannelError):
    """Root of every error raised by the WeChat channel."""


class WeChatConfigError(WeChatError, ChannelConfigError):
    """The channel is configured wrongly; the message says what to change."""


class SignatureError(WeChatError, RequestRefused):
    """A request is not from WeChat: bad or missing signature, or a timestamp outside the window.

    Every subclass counts as a failed check against the sender's address (:mod:`channels.limits`).
    """

    status = 403


class ReplayError(SignatureError):
    """A signed query string already used with another body: someone is replaying it."""


class PlaintextRefusedError(SignatureError):
    """A plaintext message while safe mode is configured: its body is signed by nothing."""


class DecryptError(WeChatError, RequestRefused):
    """A safe-mode payload that does not decrypt to a well-formed message for our AppID."""


class BadPayloadError(WeChatError, BadPayload):
    """The body is not a WeChat message: malformed XML, a DTD or entities, missing fields, not UTF-8."""


class ContentTypeError(WeChatError, RequestRefused):
    """The body is not declared as XML (or declares a charset other than UTF-8)."""

    status = 415
