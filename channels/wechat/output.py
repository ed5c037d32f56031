"""The WeChat output channel: a passive reply while one is possible, the customer-service API after."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import OutputChannel

from channels.plumbing import mask
from channels.wechat.api import CustomerServiceClient, WeChatAPIError
from common.render import render, utf8_bytes

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SENDER_PREFIX = "wechat:"
TEXT_LIMIT_BYTES = 2048  # passive text reply: 2048 bytes of UTF-8


def openid_of(recipient_id: str) -> str:
    return recipient_id[len(SENDER_PREFIX) :] if recipient_id.startswith(SENDER_PREFIX) else recipient_id


Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class WeChatOutputChannel(OutputChannel):
    """Collects the bot's replies while a passive answer is still possible, then sends through the API.

    Buffered until the request handler decides: it takes the buffer for a passive reply, or calls
    :meth:`go_live`, after which every piece (buffered and later) goes out through the
    customer-service API, one at a time and in order.
    """

    def __init__(self, client: CustomerServiceClient, spawn: Spawn, live: bool = False) -> None:
        self._client = client
        self._spawn = spawn
        self._live = live
        self._buffer: list[tuple[str, str]] = []
        self._outbox: deque[tuple[str, str]] = deque()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def _add(self, recipient_id: str, message: dict[str, Any]) -> None:
        openid = openid_of(recipient_id)
        pieces = [(openid, p.text) for p in render([message], False, TEXT_LIMIT_BYTES, utf8_bytes) if p.text]
        if self._live:
            self._outbox.extend(pieces)
            self._start_pump()
        else:
            self._buffer.extend(pieces)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Text and buttons together, so buttons become a numbered list under their text.
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if message.get("text") or buttons:
            self._add(recipient_id, {"text": message.get("text") or "", "buttons": buttons})
        rest = {k: v for k, v in message.items() if k not in ("text", "buttons", "quick_replies")}
        if rest:
            await super().send_response(recipient_id, rest)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self._add(recipient_id, {"text": text})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self._add(recipient_id, {"text": text, "buttons": buttons})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self._add(recipient_id, {"text": image})

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        # Rasa's default prefixes "Attachment:"; a link on its own reads better for our users.
        if isinstance(attachment, str):
            self._add(recipient_id, {"text": attachment})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Custom payloads (e.g. the KB entry id) are for programs, not people: nothing is sent."""

    def take_buffer(self) -> list[str]:
        pieces, self._buffer = [text for _, text in self._buffer], []
        return pieces

    def go_live(self, later: list[tuple[str, str]] | None = None, delay: float = 0.0) -> None:
        """From now on send through the API: first ``later`` (or the buffer), then whatever comes next."""
        self._live = True
        self._outbox.extend(later if later is not None else self._buffer)
        self._buffer = []
        self._start_pump(delay)

    def _start_pump(self, delay: float = 0.0) -> None:
        # One sender at a time keeps the pieces in order; it ends when the outbox is empty.
        if self._outbox and (self._pump is None or self._pump.done()):
            self._pump = self._spawn(self._drain(delay))

    async def _drain(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        while self._outbox:
            openid, text = self._outbox.popleft()
            try:
                await self._client.send_text(openid, text)
            except WeChatAPIError as err:
                lost = len(self._outbox) + 1
                self._outbox.clear()
                logger.error(
                    "Customer-service message to %s failed (errcode %s: %s); %d piece(s) not delivered.",
                    mask(openid),
                    err.errcode,
                    err,
                    lost,
                )
                return
