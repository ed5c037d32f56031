"""REST channel at ``/webhooks/rest/webhook``, with input checks and the silence guard.

Same request and answer format as Rasa's own REST channel
(``{"sender": "...", "message": "..."}`` → a JSON list of bot messages), but:
payloads are validated with clear 400 errors, huge messages are refused, the message
text is never logged, and the user always gets an answer (see :mod:`channels.guard`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import answer_or_apologize

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
MAX_SENDER_CHARS = 128


def _error(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


class RestInput(InputChannel):
    """JSON over HTTP for the web page, the terminal chat and tests."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except Exception:  # noqa: BLE001 - sanic raises its own type for bad JSON
                return _error(400, "body is not valid JSON")
            if not isinstance(payload, dict):
                return _error(400, 'expected a JSON object {"sender": "...", "message": "..."}')
            sender, text = payload.get("sender"), payload.get("message")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return _error(400, f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
            if not isinstance(text, str) or not text.strip():
                return _error(400, "'message' must be a non-empty string")
            if len(text) > MAX_MESSAGE_CHARS:
                return _error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
            metadata = payload.get("metadata")
            collector = CollectingOutputChannel()
            await answer_or_apologize(
                on_new_message,
                UserMessage(
                    text,
                    collector,
                    sender,
                    input_channel=self.name(),
                    metadata=metadata if isinstance(metadata, dict) else None,
                ),
            )
            return response.json(collector.messages)

        return hook
