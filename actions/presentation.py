"""Who is answering and how replies look: "你是机器人还是真人" (action_identity); "字太小了", "讲得简单点",
"说慢点", "能用语音说吗" (action_presentation). At a booking's read-back or list of free slots, its question follows.

What the senior asks for is read from the words (:func:`wanted`): bigger text, slower, shorter or simpler,
by voice. Bigger text and voice depend on where the senior is: the domain's responses have one variant per
channel (the web page's A+ and 🎤 buttons, WeChat's 关怀模式 and 字体大小, Telegram's text size), which Rasa
picks by the channel the message came from. Shorter, simpler or slower right after a knowledge answer is that
answer said in short (its first sentences); elsewhere, a promise to keep it short and a person to ask.
Complaints the classifier reads as ``deny`` ("听不懂", "看不懂") outside a knowledge answer get the same reply
(actions/knowledge.py, action_deny).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from textnorm import normalize

SIZE, VOICE, REPEAT, SLOW, SIMPLE = "size", "voice", "repeat", "slow", "simple"
RESPONSES = {
    SIZE: "utter_presentation_size",
    VOICE: "utter_presentation_voice",
    SLOW: "utter_presentation_slow",
    SIMPLE: "utter_presentation_simple",
    REPEAT: "utter_presentation_repeat_nothing",  # nothing said yet to say again
}
REPEAT_LEAD = "utter_presentation_repeat_lead"
SHORT_MORE = "utter_presentation_short_more"  # after the last answer said in short
# Checked in this order: "眼睛看不清 说慢点 字大一点" is about the size of the text first.
_WANTS = (
    (
        SIZE,
        re.compile(
            r"字.{0,6}(?:小|细|大|看[不勿]清|看[不勿]见|看[不勿]到|看[不勿]出|放大|调大|变大)|看[不勿]清|看[不勿]见|老花|"
            r"眼睛不好|眼神不好|眼花|放大|字体"
        ),
    ),
    # "能用语音说吗", "不会打字 能讲话伐"; not "你讲话太啰嗦" (that asks for shorter).
    (VOICE, re.compile(r"语音|念给|读给|用讲的|用说的|用嘴|不会打字|不打字|(?:能|可以|直接|好)(?:说话|讲话)")),
    # "再讲一遍", "刚才讲啥", "没听清楚": the previous turn's messages again.
    (
        REPEAT,
        re.compile(
            r"(?:再|重新)(?:讲|说|念|读|讲讲|说说|发)(?:一遍|一趟|一次|一下|遍)|重复一?(?:遍|下|次)|"
            r"(?:刚才|刚刚|方才)(?:讲|说|发)(?:的|了)?(?:些|点)?(?:啥|什么)|没(?:有)?(?:听清|听见|听到|看清|看见|看到)"
        ),
    ),
    (SLOW, re.compile(r"慢|太快|跟不上|等等我")),
    (
        SIMPLE,
        re.compile(
            r"简单|短|太长|太多|复杂|啰嗦|重点|通俗|白话|看不过来|记不住|太深|听不懂|看不懂|不明白|搞不懂|弄不懂|不懂"
        ),
    ),
)


# Read aloud, asked outright, wins over the reason given for it ("看不清楚 能帮我念出来伐").
_READ_ALOUD = re.compile(r"念给|读给|念出来|读出来|念一念|读一读|念念|读读|朗读")


def wanted(text: str) -> str | None:
    """What the senior wants of the replies: size, voice, slow or simple; None when the words say none."""
    plain = normalize(text)
    if _READ_ALOUD.search(plain):
        return VOICE
    return next((kind for kind, pattern in _WANTS if pattern.search(plain)), None)


def present(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> None:
    """The reply to a request about how replies look: for the channel, or the last answer in short."""
    from actions.knowledge import answered_by_kb_just_now, knowledge_index  # actions.knowledge imports this module
    from knowledge_base.answers import short_version

    kind = wanted(text) or SIMPLE
    if kind == REPEAT:
        say_again(dispatcher, tracker)
        return
    entry_id = answered_by_kb_just_now(tracker) if kind in (SIMPLE, SLOW) else None
    entry = knowledge_index().entries.get(entry_id) if entry_id else None
    if entry is not None:
        custom: dict[str, Any] = {"kb_entry": entry.id, "score": 1.0, "confident": True}
        dispatcher.utter_message(text=short_version(entry), json_message=custom)
        dispatcher.utter_message(response=SHORT_MORE)
        return
    dispatcher.utter_message(response=RESPONSES[kind])


def say_again(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The bot's messages of the previous turn, as they were (buttons and knowledge entry included)."""
    from common.turns import previous_bot_messages

    said = [
        e for e in previous_bot_messages(tracker.events) if (e.get("metadata") or {}).get("utter_action") != REPEAT_LEAD
    ]
    if not said:
        dispatcher.utter_message(response=RESPONSES[REPEAT])
        return
    dispatcher.utter_message(response=REPEAT_LEAD)
    for event in said:
        data = event.get("data") or {}
        custom = data.get("custom")
        dispatcher.utter_message(
            text=event.get("text"),
            buttons=data.get("buttons") or [],
            json_message=custom if isinstance(custom, dict) else None,
        )


class ActionPresentation(Action):
    def name(self) -> str:
        return "action_presentation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        if text and not text.startswith("/") and wanted(text) is None:
            # The classifier's guess, with none of the words ("我不识字能办吗" is a question about the topic).
            from actions.knowledge import ActionKnowledgeAnswer  # actions.knowledge imports this module

            return await ActionKnowledgeAnswer().run(dispatcher, tracker, domain)
        present(dispatcher, tracker, text)
        if wanted(text) != REPEAT:  # said again, the previous turn already ends with its question
            _back_to_the_booking(dispatcher, tracker)
        return []


IDENTITY = "utter_identity"


class ActionIdentity(Action):
    """ "你是机器人还是真人": an automatic assistant, not a person, and how to reach one (utter_identity)."""

    def name(self) -> str:
        return "action_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response=IDENTITY)
        _back_to_the_booking(dispatcher, tracker)
        return []


def _back_to_the_booking(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    from actions.knowledge import ask_booking_again  # actions.knowledge imports this module

    ask_booking_again(dispatcher, tracker)
