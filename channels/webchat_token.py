"""Signed, expiring conversation ids for the web chat page.

The server, not the browser, chooses a web conversation's id: ``web-`` and 32 random hex digits.
The page gets it with a token::

    web-<32 hex>.<expires at, unix seconds>.<HMAC-SHA256 in hex>

signed with ``YINLING_WEBCHAT_SECRET`` over the id and the expiry (and a purpose label, so the
key cannot be made to sign anything else). Whoever holds a valid token may speak as that id and
as no other; a changed id, a changed expiry or a token past its expiry is refused. Signatures are
compared in constant time. The token is stateless: renewing gives a fresh token for the same id;
nothing needs storing, and a restart of the server (same secret) keeps every page's conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.errors import ConfigError, Refusal, YinlingError

ID_PREFIX = "web-"
DEFAULT_LIFETIME_SECONDS = 30 * 24 * 3600
MIN_SECRET_CHARS = 16
# A token is short; anything much longer is not one and is refused before any parsing.
MAX_TOKEN_CHARS = 160

_PURPOSE = b"yinling-webchat-conversation-v1"
_TOKEN = re.compile(r"(web-[0-9a-f]{32})\.([0-9]{1,12})\.([0-9a-f]{64})")


class WebChatTokenError(YinlingError):
    """Root of this module's errors."""


class WebChatConfigError(WebChatTokenError, ConfigError):
    """The signing secret is missing or too weak."""


class InvalidToken(WebChatTokenError, Refusal):
    """Missing, malformed, forged or expired: the caller must start a new conversation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    token: str
    expires_at: int

    def as_json(self) -> dict[str, object]:
        return {"conversation_id": self.conversation_id, "token": self.token, "expires_at": self.expires_at}


def new_conversation_id() -> str:
    return ID_PREFIX + secrets.token_hex(16)


class ConversationSigner:
    """Issues and verifies conversation tokens; ``clock`` returns unix seconds (tests pass a fake one)."""

    __slots__ = ("_clock", "_key", "lifetime")

    def __init__(
        self,
        secret: str,
        *,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise WebChatConfigError(
                f"YINLING_WEBCHAT_SECRET must be at least {MIN_SECRET_CHARS} characters "
                "(make run and scripts/stack.py make a random one in var/secrets.json)"
            )
        if lifetime_seconds < 60:
            raise WebChatConfigError(f"the web chat session lifetime must be at least 60 s, not {lifetime_seconds}")
        self._key = secret.encode("utf-8")
        self._clock = clock
        self.lifetime = lifetime_seconds

    def _signature(self, conversation_id: str, expires_at: int) -> str:
        message = b"\n".join((_PURPOSE, conversation_id.encode("ascii"), str(expires_at).encode("ascii")))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def issue(self, conversation_id: str | None = None) -> Conversation:
        """A token for ``conversation_id`` (a new random id when None), valid for the lifetime from now."""
        conversation_id = conversation_id or new_conversation_id()
        expires_at = int(self._clock()) + self.lifetime
        token = f"{conversation_id}.{expires_at}.{self._signature(conversation_id, expires_at)}"
        return Conversation(conversation_id, token, expires_at)

    def verify(self, token: str | None) -> str:
        """The conversation id ``token`` speaks for; :class:`InvalidToken` otherwise."""
        if not token:
            raise InvalidToken("missing")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("malformed")
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise InvalidToken("malformed")
        conversation_id, expires_text, signature = match.groups()
        expires_at = int(expires_text)
        # The signature first, in constant time: an expired-but-genuine token and a forged one
        # are told apart only after the key vouched for the expiry.
        if not hmac.compare_digest(signature, self._signature(conversation_id, expires_at)):
            raise InvalidToken("forged")
        if expires_at <= self._clock():
            raise InvalidToken("expired")
        return conversation_id

    def renew(self, token: str | None) -> Conversation:
        """A fresh token for the same conversation as a still valid ``token``."""
        return self.issue(self.verify(token))
