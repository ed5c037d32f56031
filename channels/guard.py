"""Never leave a user in silence.

Every channel hands its messages to Rasa through :func:`answer_or_apologize`. If handling
the message raised, or produced no reply at all (the action server is down: Rasa then logs
the failure and carries on without the action's events), the user gets a short apology
that points to the hotline, instead of nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

logger = logging.getLogger(__name__)

APOLOGY = (
    "抱歉，系统刚才有点忙，没能回答您。请过一会儿再发一次；着急的话请拨打 12345 市民服务热线。如有危险请马上拨打 120。"
)


class CountingOutputChannel(OutputChannel):
    """Forwards every reply to the real output channel and counts them."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    @classmethod
    def name(cls) -> str:
        return "counting"

    # Counted only once the reply went out: a failed send still deserves the apology.
    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.inner.send_response(recipient_id, message)
        self.sent += 1

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.inner.send_text_message(recipient_id, text, **kwargs)
        self.sent += 1


async def answer_or_apologize(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> bool:
    """Process ``message``; apologize on its output channel if nothing was said.

    Returns True when the bot answered by itself, False when the apology was sent.
    """
    inner = message.output_channel
    counter = CountingOutputChannel(inner)
    message.output_channel = counter
    try:
        await on_new_message(message)
    except Exception:
        logger.exception("Handling a message from channel %s failed; sending an apology.", message.input_channel)
    if counter.sent:
        return True
    logger.warning("No reply for a message on channel %s; sending an apology.", message.input_channel)
    try:
        await inner.send_text_message(message.sender_id, APOLOGY)
    except Exception:
        logger.exception("The apology could not be sent on channel %s either.", message.input_channel)
    return False
