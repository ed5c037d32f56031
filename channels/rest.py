"""REST channel at ``/webhooks/rest/webhook``, for programs: the terminal chat, tests, integrations.

Same request and answer format as Rasa's own REST channel
(``{"sender": "...", "message": "..."}`` → a JSON list of bot messages), but:

- **A token.** Every message needs ``Authorization: Bearer $YINLING_REST_TOKEN`` (compared in
  constant time; 401 otherwise). Without the variable the channel answers 503 "REST channel has
  no token configured" (and logs that once) instead of letting anyone in. ``GET /webhooks/rest/``
  stays an open health check.
- **Each channel owns its identities.** A ``sender`` in another channel's form (``web-…``,
  ``wechat:…``, ``telegram:…``, and the reserved ``handoff:…``, ``staff:…``) is refused with 403:
  a REST caller cannot read or continue a senior's conversation. The one exception is a channel's
  own relay: Telegram's polling mode (``channels.telegram_polling``) hands its messages to Rasa
  through this endpoint, so a caller holding ``YINLING_TELEGRAM_RELAY_TOKEN`` (a separate secret,
  unset = no relay) may speak as ``telegram:…`` senders and only as those, keeps the
  ``trusted_payload`` of buttons it verified itself, and is not counted per address (all its
  users come from one). ``YINLING_WECHAT_RELAY_TOKEN`` does the same for ``wechat:…``.
- **No forged intents.** ``trusted_payload`` in the caller's metadata is dropped; a message is
  passed as a trusted payload only when it is exactly a button the bot offered this sender since
  they last spoke (read from the tracker).
- Rate limits per sender and per source address (:mod:`channels.http_limits`, 429 with
  ``Retry-After``), size caps (413), clear 400s; error bodies never echo what was sent; message
  text is never logged; the user always gets an answer (see :mod:`channels.guard`).
"""

from __future__ import annotations

import hmac
import logging
import os
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.conversation import TRUSTED_PAYLOAD, offered_button, strip_reserved
from channels.guard import answer_or_apologize
from channels.http_limits import MAX_MESSAGE_CHARS, Throttle, bearer_token, body_too_large, error, message_too_long

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "YINLING_REST_TOKEN"  # noqa: S105 - the name of the variable, not a secret
MAX_SENDER_CHARS = 128
# Sender ids other channels give their users (web chat, WeChat, Telegram) or that are kept for the
# staff app's own conversations. Compared case-insensitively after trimming, so "WeChat:x" is refused too.
RESERVED_SENDER_PREFIXES = ("web-", "wechat:", "telegram:", "handoff:", "staff:")
RELAY_VARIABLES = {"telegram:": "YINLING_TELEGRAM_RELAY_TOKEN", "wechat:": "YINLING_WECHAT_RELAY_TOKEN"}
NO_TOKEN = "REST channel has no token configured"  # noqa: S105 - a message

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_SENDER_CHARS",
    "RELAY_VARIABLES",
    "RESERVED_SENDER_PREFIXES",
    "RestConfigError",
    "RestInput",
]


class RestConfigError(ValueError):
    """The REST channel's settings are wrong; the message says what to change."""


def reserved_sender(sender: str) -> bool:
    return sender.strip().casefold().startswith(RESERVED_SENDER_PREFIXES)


def _bad_sender(sender: object) -> str | None:
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in sender):
        return "'sender' must not contain control or formatting characters"
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class RestInput(InputChannel):
    """JSON over HTTP for programs holding the REST token (or a channel's relay token)."""

    def __init__(
        self,
        token: str | None = None,
        *,
        relays: Mapping[str, str] | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.token = token or None
        # sender prefix → the token that may speak for it (only prefixes of other channels).
        self.relays = {prefix: secret for prefix, secret in (relays or {}).items() if secret}
        unknown = sorted(set(self.relays) - set(RELAY_VARIABLES))
        if unknown:
            raise RestConfigError(f"relays are for {sorted(RELAY_VARIABLES)} only, not {unknown}")
        self.throttle = throttle or Throttle()
        self._told_no_token = False

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if credentials:
            raise RestConfigError(
                "channels.rest.RestInput takes no settings in credentials.yml: its token comes from "
                f"{TOKEN_VARIABLE} and relay tokens from {', '.join(RELAY_VARIABLES.values())}"
            )
        relays = {prefix: os.environ.get(variable, "").strip() for prefix, variable in RELAY_VARIABLES.items()}
        return cls(os.environ.get(TOKEN_VARIABLE, "").strip() or None, relays=relays, throttle=Throttle.from_env())

    def _no_token(self) -> HTTPResponse:
        if not self._told_no_token:
            self._told_no_token = True
            logger.error("%s: set %s to let programs use /webhooks/rest/webhook.", NO_TOKEN, TOKEN_VARIABLE)
        return error(503, NO_TOKEN)

    def _relay_prefix(self, given: str) -> str | None:
        """The sender prefix ``given`` relays for, if it is a relay token."""
        found = None
        for prefix, secret in self.relays.items():  # every one compared: no early exit to time
            if _same(given, secret):
                found = prefix
        return found

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            # Who may call first (the address limit also slows anyone guessing the token), then
            # sizes, then the body, then the sender's own limit.
            if self.token is None and not self.relays:
                return self._no_token()
            given = bearer_token(request) or ""
            relay = self._relay_prefix(given)
            if relay is None:
                if (slow := self.throttle.check_ip(request)) is not None:
                    return slow
                if self.token is None:
                    return self._no_token()
                if not _same(given, self.token):
                    return response.json(
                        {"error": f"missing or wrong token: send 'Authorization: Bearer <{TOKEN_VARIABLE}>'"},
                        status=401,
                        headers={"WWW-Authenticate": 'Bearer realm="rest"'},
                    )
            if (too_big := body_too_large(request)) is not None:
                return too_big
            try:
                payload = request.json
            except Exception:  # noqa: BLE001 - sanic raises its own type for bad JSON
                return error(400, "body is not valid JSON")
            if not isinstance(payload, dict):
                return error(400, 'expected a JSON object {"sender": "...", "message": "..."}')
            sender, text = payload.get("sender"), payload.get("message")
            if (problem := _bad_sender(sender)) is not None:
                return error(400, problem)
            assert isinstance(sender, str)
            if not isinstance(text, str) or not text.strip():
                return error(400, "'message' must be a non-empty string")
            if (too_long := message_too_long(text)) is not None:
                return too_long
            if relay is not None and not sender.startswith(relay):
                return error(403, f"this token relays for '{relay}' senders only")
            if relay is None and reserved_sender(sender):
                logger.warning("REST: refused a sender id in another channel's form.")
                return error(403, f"'sender' must not start with {', '.join(RESERVED_SENDER_PREFIXES)}")
            if (slow := self.throttle.check_sender(sender)) is not None:
                return slow

            raw_metadata = payload.get("metadata")
            metadata = strip_reserved(raw_metadata)
            if relay is not None and isinstance(raw_metadata, Mapping) and raw_metadata.get(TRUSTED_PAYLOAD) is True:
                metadata = {**(metadata or {}), TRUSTED_PAYLOAD: True}  # the relay checked its own button
            elif text.startswith("/"):
                tracker_store = getattr(getattr(request.app.ctx, "agent", None), "tracker_store", None)
                if tracker_store is not None and offered_button(await tracker_store.retrieve(sender), text.strip()):
                    metadata = {**(metadata or {}), TRUSTED_PAYLOAD: True}
            collector = CollectingOutputChannel()
            await answer_or_apologize(
                on_new_message,
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata),
            )
            return response.json(collector.messages)

        return hook
