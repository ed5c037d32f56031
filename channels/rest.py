"""REST channel at ``/webhooks/rest/webhook``, for programs: the terminal chat, tests, integrations.

Same request and answer format as Rasa's own REST channel
(``{"sender": "...", "message": "..."}`` → a JSON list of bot messages), but:

- **A token.** Every message needs ``Authorization: Bearer $YINLING_REST_TOKEN`` (compared in
  constant time; 401 otherwise). Without the variable the channel answers 503 "REST channel has
  no token configured" (and logs that once) instead of letting anyone in. ``GET /webhooks/rest/``
  stays an open health check.
- **Each channel owns its identities.** A ``sender`` in another channel's form (``web-…``,
  ``wechat:…``, ``telegram:…``, and the reserved ``handoff:…``, ``staff:…``) is refused with 403:
  a REST caller cannot read or continue a senior's conversation. (Telegram's polling mode relays
  updates to the Telegram webhook with its secret, not through here.)
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
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.conversation import TRUSTED_PAYLOAD, offered_button, strip_reserved
from channels.errors import ChannelConfigError
from channels.guard import answer_or_apologize
from channels.http_limits import MAX_MESSAGE_CHARS, Throttle, bearer_token, body_too_large, error, message_too_long
from channels.plumbing import guard_content_length

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "YINLING_REST_TOKEN"  # noqa: S105 - the name of the variable, not a secret
MAX_SENDER_CHARS = 128
# Sender ids other channels give their users (web chat, WeChat, Telegram) or that are kept for the
# staff app's own conversations. Compared case-insensitively after trimming, so "WeChat:x" is refused too.
RESERVED_SENDER_PREFIXES = ("web-", "wechat:", "telegram:", "handoff:", "staff:")
NO_TOKEN = "REST channel has no token configured"  # noqa: S105 - a message

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_SENDER_CHARS",
    "RESERVED_SENDER_PREFIXES",
    "RestConfigError",
    "RestInput",
]


class RestConfigError(ChannelConfigError):
    """The REST channel's settings are wrong; the message says what to change."""


def reserved_sender(sender: str) -> bool:
    return sender.strip().casefold().startswith(RESERVED_SENDER_PREFIXES)


def _bad_sender(sender: object) -> str | None:
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"
    try:
        sender.encode("utf-8")  # lone surrogates and other non-characters a lenient JSON decoder let through
        controls = any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in sender)
    except (UnicodeEncodeError, ValueError):
        return "'sender' must be valid UTF-8 text"
    if controls:
        return "'sender' must not contain control or formatting characters"
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class RestInput(InputChannel):
    """JSON over HTTP for programs holding the REST token."""

    def __init__(self, token: str | None = None, *, throttle: Throttle | None = None) -> None:
        self.token = token or None
        self.throttle = throttle or Throttle()
        self._told_no_token = False

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if credentials:
            raise RestConfigError(
                f"channels.rest.RestInput takes no settings in credentials.yml: its token comes from {TOKEN_VARIABLE}"
            )
        return cls(os.environ.get(TOKEN_VARIABLE, "").strip() or None, throttle=Throttle.from_env())

    def _no_token(self) -> HTTPResponse:
        if not self._told_no_token:
            self._told_no_token = True
            logger.error("%s: set %s to let programs use /webhooks/rest/webhook.", NO_TOKEN, TOKEN_VARIABLE)
        return error(503, NO_TOKEN)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)
        guard_content_length(hook)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            # Who may call first (the address limit also slows anyone guessing the token), then
            # sizes, then the body, then the sender's own limit.
            if self.token is None:
                return self._no_token()
            if (slow := self.throttle.check_ip(request)) is not None:
                return slow
            if not _same(bearer_token(request) or "", self.token):
                return response.json(
                    {"error": f"missing or wrong token: send 'Authorization: Bearer <{TOKEN_VARIABLE}>'"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="rest"'},
                )
            if (too_big := body_too_large(request)) is not None:
                return too_big
            try:
                request.body.decode("utf-8")
            except UnicodeDecodeError:
                return error(400, "body is not valid UTF-8")  # `make fuzz`: such bytes reached the sender check
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
            if reserved_sender(sender):
                logger.warning("REST: refused a sender id in another channel's form.")
                return error(403, f"'sender' must not start with {', '.join(RESERVED_SENDER_PREFIXES)}")
            if (slow := self.throttle.check_sender(sender)) is not None:
                return slow

            metadata = strip_reserved(payload.get("metadata"))
            if text.startswith("/"):
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
