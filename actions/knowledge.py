"""Knowledge answers that keep the topic: action_kb_answer, action_fallback_kb, action_out_of_scope.

The index is built once per process at import (the action server loads this module at
start) and follows the knowledge base's version, so an administrator's edit is answered
by the next message without a retrain or restart.

A conversation has a topic: the entry last answered with confidence (slot ``kb_topic``) and
the aspect last asked (slot ``kb_aspect``: documents, place, fees …). A message is resolved
in this order (:func:`resolve`):

1. a bare follow-up ("那要带啥材料?", "去哪里办?", "要钱伐?") is answered from the topic entry's
   field; if that entry lacks it, from a closely related entry that has it, else the reply says
   the entry does not say and where to ask;
2. "那X呢?" asks the previous aspect about a new topic X;
3. a question that names its own topic is searched in the whole knowledge base;
4. a question that is not clear on its own is searched again together with the topic's title.
A new confident answer replaces the topic.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.care import comfort_response
from actions.handoff import misunderstood_twice
from actions.menus import DEFAULT_MENU_RESPONSE, HANDOFF_ACTION, MENU_RESPONSES, typed_menu_intent
from knowledge_base.answers import Reply, compose, format_aspect, format_entry, missing_aspect, not_sure
from knowledge_base.files import builtin_entries
from knowledge_base.followup import Aspect, aspect_named, read, same_subject
from knowledge_base.retrieval import Hit, LiveIndex
from knowledge_base.schema import Entry
from knowledge_base.store import KBStore
from staff import unanswered

logger = logging.getLogger(__name__)

TOPIC, ASPECT, DISCLAIMER = "kb_topic", "kb_aspect", "kb_disclaimer"
# Said after a complaint about a KB answer: sorry, rephrase, or a person (button 找人工).
COMFORT_OFFER = "utter_comfort_offer"
UNHELPFUL_RESPONSE = "utter_unhelpful"
# A related entry may answer an aspect the topic entry lacks only if it is nearly as close as a
# confident answer (same subject, other facet: 长护险 what-is → 长护险 eligibility has the documents).
RELATED_MARGIN = 0.02

_index: LiveIndex | None = None


def knowledge_index() -> LiveIndex:
    """The process-wide live index over the KB store (seeded from knowledge_base/data if empty)."""
    global _index
    if _index is None:
        store = KBStore()
        if store.seed_if_empty(builtin_entries()):
            logger.info("Seeded the knowledge base from knowledge_base/data.")
        index = LiveIndex(store, poll_seconds=float(os.environ.get("KB_POLL_SECONDS", "0.2")))
        index.refresh(force=True)
        logger.info("Knowledge index ready: %d entries, version %d.", len(index.entries), index.version)
        _index = index
    return _index


if os.environ.get("YINLING_WARM_KB", "1") != "0":
    # The action server imports this module at start: build the index now, so the
    # server reports healthy only when it can answer.
    knowledge_index()


@dataclass(frozen=True)
class Context:
    """What the conversation is about, from its slots."""

    topic: Entry | None = None
    aspect: Aspect | None = None
    disclaimer_shown: bool = False
    street: str | None = None
    extra_topic: str | None = None  # e.g. the service being booked, when no entry was answered yet

    @classmethod
    def of(cls, tracker: Tracker, message: dict[str, Any], entries: dict[str, Entry]) -> Context:
        topic_id = tracker.get_slot(TOPIC)
        street = next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == "street"), None)
        return cls(
            topic=entries.get(str(topic_id)) if topic_id else None,
            aspect=aspect_named(tracker.get_slot(ASPECT)),
            disclaimer_shown=bool(tracker.get_slot(DISCLAIMER)),
            street=str(street) if street else None,
            extra_topic=str(tracker.get_slot("booking_service") or "") or None,
        )


@dataclass(frozen=True)
class Resolved:
    reply: Reply
    aspect: Aspect | None = None
    how: str = "search"  # followup | related | missing | other_topic | search | contextual | unsure
    topic_id: str | None = None  # the conversation's topic after this answer, when not the answering entry
    events: list[dict[str, Any]] = field(default_factory=list)
    comfort: str | None = None  # a response with one warm sentence, said before the answer (actions/care.py)


def _search(index: LiveIndex, text: str, street: str | None) -> list[Hit]:
    """The KB's best hits; a street the message names points to that street's entries."""
    hits = index.search(text, top_k=5)
    if street:
        local = index.search(text, top_k=3, street=street)
        if local and local[0].score >= index.settings.threshold:
            hits = local + hits
    return hits


def _aspect_reply(entry: Entry, aspect: Aspect, score: float, context: Context) -> Reply | None:
    formatted = format_aspect(entry, aspect, disclaimer_shown=context.disclaimer_shown)
    if formatted is None:
        return None
    return Reply(formatted[0], entry.id, True, score, disclaimed=formatted[1])


def _entry_reply(entry: Entry, score: float, context: Context) -> Reply:
    text, disclaimed = format_entry(entry, disclaimer_shown=context.disclaimer_shown)
    return Reply(text, entry.id, True, score, disclaimed=disclaimed)


def _followup(index: LiveIndex, text: str, topic: Entry, aspect: Aspect | None, context: Context) -> Resolved:
    if aspect is None:
        return Resolved(_entry_reply(topic, 1.0, context), None, "followup")
    direct = _aspect_reply(topic, aspect, 1.0, context)
    if direct is not None:
        return Resolved(direct, aspect, "followup")
    # The topic entry does not say; a sibling entry about the same subject may (长护险申请 → 长护险评估的
    # 费用), but not a neighbour on another subject (老年意外险 → 沪惠保). The topic stays what it was.
    threshold = index.settings.threshold - RELATED_MARGIN
    for hit in index.search(f"{topic.title} {aspect.question}", top_k=5):
        entry = index.entries.get(hit.id)
        if entry is None or hit.score < threshold or not same_subject(topic.title, entry.title):
            continue
        if entry.street and entry.street != context.street and entry.street != topic.street:
            continue  # one street's 日间照料中心 does not answer for the district's
        related = _aspect_reply(entry, aspect, hit.score, context)
        if related is not None:
            return Resolved(related, aspect, "related", topic_id=topic.id)
    reply = Reply(missing_aspect(topic, aspect), topic.id, True, 1.0)
    return Resolved(reply, aspect, "missing")


def resolve(index: LiveIndex, text: str, context: Context) -> Resolved:
    """Answer ``text`` in the light of what the conversation is about (see the module docstring)."""
    entries, threshold = index.entries, index.settings.threshold
    reading = read(text)
    topic = context.topic
    if topic is None and context.extra_topic and reading.bare:
        # Booking 助浴 and asking "要带啥?": the service's own entry is the topic.
        hits = index.search(context.extra_topic, top_k=1)
        if hits and hits[0].score >= threshold:
            topic = entries.get(hits[0].id)
    if topic is not None and reading.bare:
        return _followup(index, text, topic, reading.aspect or context.aspect, context)
    if topic is None and reading.bare and reading.aspect is not None:
        # "要带啥材料?" with nothing said before: which matter? Offer the likeliest, never guess one.
        hits = _search(index, text, context.street)
        return Resolved(not_sure(hits, entries), reading.aspect, "unsure")
    if reading.other_topic and context.aspect is not None:
        hits = _search(index, f"{reading.other_topic}{context.aspect.question}", context.street)
        live = [h for h in hits if h.id in entries]
        if live and live[0].score >= threshold:
            entry = entries[live[0].id]
            focused = _aspect_reply(entry, context.aspect, live[0].score, context)
            reply = focused or _entry_reply(entry, live[0].score, context)
            return Resolved(reply, context.aspect, "other_topic")
    hits = _search(index, text, context.street)
    reply = compose(hits, entries, threshold, disclaimer_shown=context.disclaimer_shown)
    if reply.confident:
        return Resolved(reply, reading.aspect, "search")
    if topic is not None:
        contextual = _search(index, f"{topic.title} {text}", context.street)
        again = compose(contextual, entries, threshold, disclaimer_shown=context.disclaimer_shown)
        if again.confident and again.entry_id is not None:
            if reading.aspect is not None:
                focused = _aspect_reply(entries[again.entry_id], reading.aspect, again.score, context)
                again = focused or again
            return Resolved(again, reading.aspect, "contextual")
    return Resolved(reply, reading.aspect, "unsure")


def answer(tracker: Tracker, text: str, message: dict[str, Any] | None = None) -> Resolved:
    """Resolve ``text`` for this conversation, with a comfort response to say first where one is due."""
    index = knowledge_index()
    message = message if message is not None else (tracker.latest_message or {})
    resolved = resolve(index, text, Context.of(tracker, message, index.entries))
    resolved = replace(resolved, comfort=comfort_response(text))
    events: list[dict[str, Any]] = []
    if resolved.reply.confident and resolved.reply.entry_id:
        events += [
            SlotSet(TOPIC, resolved.topic_id or resolved.reply.entry_id),
            SlotSet(ASPECT, resolved.aspect.name if resolved.aspect else None),
        ]
    if resolved.reply.disclaimed:
        events.append(SlotSet(DISCLAIMER, True))
    logger.info(
        "KB answer: intent=%s how=%s entry=%s score=%.3f confident=%s",
        ((message.get("intent") or {}).get("name")),
        resolved.how,
        resolved.reply.entry_id,
        resolved.reply.score,
        resolved.reply.confident,
    )
    return replace(resolved, events=events)


def utter_resolved(dispatcher: CollectingDispatcher, resolved: Resolved) -> None:
    """The comfort sentence where one is due, then the answer."""
    if resolved.comfort:
        dispatcher.utter_message(response=resolved.comfort)
    utter_reply(dispatcher, resolved.reply)


def report_unsure(tracker: Tracker, text: str, message: dict[str, Any], reason: str, reply: Reply | None) -> None:
    """Keep an unsure moment for the administrators' unanswered questions (masked there before it is stored)."""
    intent = message.get("intent") or {}
    unanswered.report(
        text,
        reason,
        tracker.sender_id,
        intent=intent.get("name"),
        confidence=intent.get("confidence"),
        kb_entry=reply.choices[0] if reply is not None and reply.choices else None,
        kb_score=reply.score if reply is not None else None,
    )


def answered_by_kb_just_now(tracker: Tracker) -> str | None:
    """The entry of the bot's last message, if it was a knowledge answer (before this user message)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif event.get("event") == "bot" and seen_user:
            custom = (event.get("data") or {}).get("custom") or {}
            entry = custom.get("kb_entry") if isinstance(custom, dict) else None
            return str(entry) if entry else None
    return None


def is_complaint(text: str, message: dict[str, Any], *, denied: bool = False) -> bool:
    """Does this message, if it follows a knowledge answer, say the answer did not help?

    Any action: the whole message is a complaint of the table ``training_data/complaints.yml`` (不对,
    没用, 听不懂, 答非所问, 你说的不是我问的 …; the NLU's IntentRules reads these as ``deny`` too).
    ``denied`` (``action_deny``: the NLU read the message as ``deny``): a knowledge answer asks nothing,
    so any "no" right after one is a complaint too ("这回答不行", and phrasings the table lacks but the
    classifier learnt as ``deny``), unless it is a plain "no thanks" (不用了, 没有了) or corrects a value
    (it carries an entity: "不对，是下午")."""
    if unanswered.unhelpful(text):
        return True
    return denied and not message.get("entities") and not unanswered.declined(text)


def check_unhelpful(tracker: Tracker, text: str, *, denied: bool = False) -> bool:
    """A complaint (:func:`is_complaint`) right after a KB answer: the question before it was not answered well.

    True when reported: the question that got the answer (the user message before this one) is kept
    as unanswered with reason ``unhelpful``, masked before it is stored; the complaint itself is not
    kept as a question. Whichever action the complaint reached (``action_deny`` for most of them, the
    fallbacks or ``action_kb_answer`` for the rest) then says ``utter_unhelpful``."""
    if not is_complaint(text, tracker.latest_message or {}, denied=denied):
        return False
    entry = answered_by_kb_just_now(tracker)
    if entry is None:
        return False
    asked = [e for e in tracker.events if e.get("event") == "user"]
    question = str(asked[-2].get("text") or "") if len(asked) >= 2 else ""
    if not question or question.startswith("/"):
        return False
    previous = (asked[-2].get("parse_data") or {}).get("intent") or {}
    unanswered.report(
        question,
        "unhelpful",
        tracker.sender_id,
        intent=previous.get("name"),
        confidence=previous.get("confidence"),
        kb_entry=entry,
    )
    logger.info("A senior found the KB answer %s unhelpful; the question is kept.", entry)
    return True


def utter_reply(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    custom: dict[str, Any] = {"kb_entry": reply.entry_id, "score": round(reply.score, 4), "confident": reply.confident}
    if reply.choices:
        custom["kb_choices"] = list(reply.choices)
    dispatcher.utter_message(text=reply.text, json_message=custom)


def answer_entry(tracker: Tracker, dispatcher: CollectingDispatcher, entry_id: str) -> list[dict[str, Any]]:
    """Answer with one entry (a numbered choice picked it)."""
    index = knowledge_index()
    entry = index.entries.get(entry_id)
    if entry is None:
        dispatcher.utter_message(response="utter_default")
        return []
    reply = _entry_reply(entry, 1.0, Context(disclaimer_shown=bool(tracker.get_slot(DISCLAIMER))))
    utter_reply(dispatcher, reply)
    events: list[dict[str, Any]] = [SlotSet(TOPIC, entry.id), SlotSet(ASPECT, None)]
    if reply.disclaimed:
        events.append(SlotSet(DISCLAIMER, True))
    return events


class ActionKnowledgeAnswer(Action):
    def name(self) -> str:
        return "action_kb_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        if not text or text.startswith("/"):
            # A button press carries no question; ask for one.
            intent = str((message.get("intent") or {}).get("name"))
            dispatcher.utter_message(response=MENU_RESPONSES.get(intent, DEFAULT_MENU_RESPONSE))
            return []
        if check_unhelpful(tracker, text):
            dispatcher.utter_message(response=UNHELPFUL_RESPONSE)
            return []
        menu = typed_menu_intent(text)
        if menu is not None:
            # "保险" typed alone is the menu button, not a question: ask which one, with numbered examples.
            dispatcher.utter_message(response=MENU_RESPONSES[menu])
            return []
        resolved = answer(tracker, text, message)
        if not resolved.reply.confident:
            report_unsure(tracker, text, message, "kb_below_threshold", resolved.reply)
        utter_resolved(dispatcher, resolved)
        return resolved.events


class ActionFallbackKnowledge(Action):
    """When the classifier is unsure, a confident knowledge-base answer still beats "I didn't understand"."""

    def name(self) -> str:
        return "action_fallback_kb"

    fallback_response = "utter_default"
    hands_over = True

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        if text and check_unhelpful(tracker, text):
            dispatcher.utter_message(response=UNHELPFUL_RESPONSE)
            return []
        menu = typed_menu_intent(text) if text else None
        if menu is not None:
            dispatcher.utter_message(response=MENU_RESPONSES[menu])
            return []
        resolved = answer(tracker, text, message) if text and not text.startswith("/") else None
        if resolved is not None and resolved.reply.confident:
            utter_resolved(dispatcher, resolved)
            return resolved.events
        if text and not text.startswith("/"):
            intent = str((message.get("intent") or {}).get("name") or "")
            reason = "nlu_fallback" if intent == "nlu_fallback" else "kb_below_threshold"
            report_unsure(tracker, text, message, reason, resolved.reply if resolved else None)
        comfort = comfort_response(text) if text else None
        if comfort:
            # Feelings the knowledge base has no answer for ("老伴走了以后我一个人 好孤单"): comfort, then what
            # can be done, instead of "没听明白".
            dispatcher.utter_message(response=comfort)
            dispatcher.utter_message(response=COMFORT_OFFER)
            return []
        if self.hands_over and misunderstood_twice(tracker):
            # The second misunderstanding in a row: a person, not a third "没听明白".
            return [FollowupAction(HANDOFF_ACTION)]
        dispatcher.utter_message(response=self.fallback_response)
        return []


class ActionOutOfScope(ActionFallbackKnowledge):
    """ "去哪里办?" can look out of scope on its own; in a conversation about 长护险 it is a follow-up."""

    fallback_response = "utter_out_of_scope"
    hands_over = False

    def name(self) -> str:
        return "action_out_of_scope"


class ActionInformOutOfContext(ActionFallbackKnowledge):
    """A date, a street or a name with no form to put it in. "礼拜天开伐" right after an answer about 日间照料
    reads like a date to the classifier; it is a follow-up about the topic's hours."""

    fallback_response = "utter_default"
    hands_over = False

    def name(self) -> str:
        return "action_inform_out_of_context"


class ActionChitchat(Action):
    """Small talk gets the small-talk reply; loneliness or fear said as small talk ("好孤单", "晚上一个人好怕")
    gets one warm sentence and what can be done (a person, the community's services, 每日平安)."""

    def name(self) -> str:
        return "action_chitchat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        comfort = comfort_response(text) if text else None
        if comfort:
            dispatcher.utter_message(response=comfort)
            dispatcher.utter_message(response=COMFORT_OFFER)
            return []
        reading = read(text) if text and tracker.get_slot(TOPIC) else None
        if reading is not None and reading.bare and reading.aspect is not None:
            # "啥人可以享受" right after an answer is a follow-up, whatever the classifier thought.
            resolved = answer(tracker, text)
            utter_resolved(dispatcher, resolved)
            return resolved.events
        dispatcher.utter_message(response="utter_chitchat")
        return []


class ActionDeny(Action):
    """ "不对" / "没用" / "听不懂" / "答非所问" outside a question (the rule "deny outside a question").

    Right after a knowledge answer it is a complaint about that answer (any "no" but a plain "no
    thanks" or a correction: :func:`is_complaint`): the question that got it is kept for the
    administrators (reason ``unhelpful``, masked before it is stored) and the senior is offered to ask
    again in other words or to get a person. Anywhere else it is a plain "no" and gets the short
    acknowledgement it always got."""

    def name(self) -> str:
        return "action_deny"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        if text and not text.startswith("/") and check_unhelpful(tracker, text, denied=True):
            dispatcher.utter_message(response=UNHELPFUL_RESPONSE)
        else:
            dispatcher.utter_message(response="utter_deny_ack")
        return []
