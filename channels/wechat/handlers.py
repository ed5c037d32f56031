"""What to do with each kind of WeChat message: small functions registered per ``MsgType`` and per ``Event``.

A type nobody registered gets a polite "text and voice only" answer, never an error. A handler
returns a plan: :class:`ToBot` (hand text to Rasa), :class:`Say` (answer directly) or
:class:`Ignore` (answer ``success``).

Trust: what a user typed or said goes to Rasa as plain text (``trusted=False``), so "/greet"
typed by hand is just words (the NLU normalizer drops the slash). Only payloads this channel
chose itself are trusted: the greeting on subscribe and the payload of a menu key configured
under ``menu:`` in ``credentials.yml``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from channels.wechat.messages import Inbound

logger = logging.getLogger(__name__)

UNSUPPORTED_TYPE = "我现在只能看懂文字和语音。请您直接打字，或者按住“按住 说话”，用语音告诉我您想问什么。"
VOICE_NOT_UNDERSTOOD = "抱歉，这段语音我没听清楚。请您再说一遍，或者直接打字告诉我。"
EMPTY_TEXT = "我没有收到文字。请您直接打字，或者用语音告诉我您想问什么。"
GREET_PAYLOAD = "/greet"


@dataclass(frozen=True)
class ToBot:
    """Hand this text to Rasa; ``trusted`` only for payloads the channel itself verified."""

    text: str
    trusted: bool = False


@dataclass(frozen=True)
class Say:
    """Answer directly, without Rasa."""

    text: str


@dataclass(frozen=True)
class Ignore:
    """Answer ``success`` and do nothing (unsubscribe, menu links, reports)."""


Plan = ToBot | Say | Ignore
Handler = Callable[[Inbound, Mapping[str, str]], Plan]

MESSAGE_HANDLERS: dict[str, Handler] = {}
EVENT_HANDLERS: dict[str, Handler] = {}


def on_message(*msg_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        MESSAGE_HANDLERS.update({t.lower(): handler for t in msg_types})
        return handler

    return register


def on_event(*events: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        EVENT_HANDLERS.update({e.lower(): handler for e in events})
        return handler

    return register


def plan_for(message: Inbound, menu: Mapping[str, str]) -> Plan:
    handler = MESSAGE_HANDLERS.get(message.msg_type, _unsupported)
    return handler(message, menu)


def _unsupported(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return Say(UNSUPPORTED_TYPE)


on_message("image", "location", "link", "video", "shortvideo", "file")(_unsupported)


@on_message("text")
def _text(message: Inbound, menu: Mapping[str, str]) -> Plan:
    text = message.get("Content").strip()
    return ToBot(text) if text else Say(EMPTY_TEXT)


@on_message("voice")
def _voice(message: Inbound, menu: Mapping[str, str]) -> Plan:
    # WeChat's own speech recognition; empty when it heard nothing it could write down.
    text = message.get("Recognition").strip()
    return ToBot(text) if text else Say(VOICE_NOT_UNDERSTOOD)


@on_message("event")
def _event(message: Inbound, menu: Mapping[str, str]) -> Plan:
    # Events nobody registered (VIEW, SCAN, LOCATION reports, template receipts) need no answer.
    handler = EVENT_HANDLERS.get(message.event)
    return handler(message, menu) if handler else Ignore()


@on_event("subscribe")
def _subscribe(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return ToBot(GREET_PAYLOAD, trusted=True)


@on_event("unsubscribe")
def _unsubscribe(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return Ignore()


@on_event("click")
def _menu_click(message: Inbound, menu: Mapping[str, str]) -> Plan:
    key = message.get("EventKey").strip()
    if not key:
        return Ignore()
    payload = menu.get(key)
    if payload is not None:
        return ToBot(payload, trusted=True)
    # A key the admin page has but credentials.yml lacks: its name goes on as plain words, untrusted.
    logger.warning("WeChat menu key %r is not configured under menu: in credentials.yml.", key[:64])
    return ToBot(key)
