"""Knowledge answers that keep the topic: action_kb_answer, action_fallback_kb, action_out_of_scope.

The index is built once per process at import (the action server loads this module at
start) and follows the knowledge base's version, so an administrator's edit is answered
by the next message without a retrain or restart.

A conversation has a topic: the entry last answered with confidence (slot ``kb_topic``) and
the aspect last asked (slot ``kb_aspect``: documents, place, fees …). A message is resolved
in this order (:func:`resolve`):

0. "还有别的吗" offers the other entries on the topic's subject as numbered choices; a street said alone
   ("顾村", "我住在罗店", or its number in the list of streets) answers the last question for that street;
1. a bare follow-up ("那要带啥材料?", "去哪里办?", "要钱伐?") is answered from the topic entry's
   field; if that entry lacks it, from a closely related entry that has it, else from the topic's own
   sentences that speak of it, else the reply says the entry does not say and where to ask. A place
   that depends on the senior's street ("街镇社区事务受理服务中心") is that street's, when the street was
   said in the conversation; otherwise the reply asks which street, with Baoshan's streets numbered;
2. "那X呢?" asks the previous aspect about a new topic X (or about X as a facet of the topic's subject);
3. a question that names its own topic is searched in the whole knowledge base;
4. a question that is not clear on its own is searched again together with the topic's title.
A new confident answer replaces the topic; a service booked after the last answer is the topic of
"要带啥" too.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import clock
from actions.care import comfort, comfort_response
from actions.handoff import misunderstood_twice
from actions.menus import DEFAULT_MENU_RESPONSE, HANDOFF_ACTION, MENU_RESPONSES, typed_menu_intent
from actions.overview import (
    booking_asked,
    kind_asked,
    kind_reply,
    pair_reply,
    question_clause,
    two_bookings,
    two_topics,
)
from actions.presentation import present, wanted
from actions.scam import AGAIN as SCAM_AGAIN
from actions.scam import lost_to_scam, repeats_the_warning, utter_aftermath
from actions.smalltalk import asks_who, cannot_look_up, clock_answer
from actions.understand import form_question, looks_like_question, states_correction
from bookings.catalog import default_catalog
from common.contacts import HOTLINE
from common.followups import topic_runs, topic_words
from common.topic_names import topic_names
from common.turns import kb_entry_of, previous_bot_messages, previous_kb_entry
from knowledge_base.answers import (
    SITUATION_NOTE,
    Reply,
    ask_street,
    compose,
    format_aspect,
    format_entry,
    missing_aspect,
    more_about,
    not_covered,
    not_sure,
    said_again,
    street_places,
)
from knowledge_base.files import builtin_entries
from knowledge_base.followup import Aspect, Reading, aspect_named, read, same_subject, street_only
from knowledge_base.relevance import Near, Relevance
from knowledge_base.retrieval import Hit, LiveIndex
from knowledge_base.schema import Entry
from knowledge_base.store import KBStore
from staff import unanswered
from textnorm import normalize
from yinling.places import STREETS, find_street

logger = logging.getLogger(__name__)

TOPIC, ASPECT, DISCLAIMER = "kb_topic", "kb_aspect", "kb_disclaimer"
BOOKED_SERVICE = "booking_service"  # the booking form's slot: the code of the service being booked
UNHELPFUL_RESPONSE = "utter_unhelpful"
# A related entry may answer an aspect the topic entry lacks only if it is nearly as close as a
# confident answer (same subject, other facet: 长护险 what-is → 长护险 eligibility has the documents).
RELATED_MARGIN = 0.02
# A question naming no street prefers the district-wide entry over one street's by up to this much.
GENERAL_MARGIN = 0.1
# Entries this close to the best are a tie that the conversation's topic breaks.
TIE_MARGIN = 0.01

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
    street: str | None = None  # named in this message
    extra_topic: str | None = None  # e.g. the service being booked, when no entry was answered yet
    home_street: str | None = None  # the senior's street, as said earlier in the conversation

    @classmethod
    def of(cls, tracker: Tracker, message: dict[str, Any], entries: dict[str, Entry]) -> Context:
        topic_id = tracker.get_slot(TOPIC)
        street = next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == "street"), None)
        named = find_street(str(street)) if street else None
        service = booked_last(tracker)
        return cls(
            # A service booked (or being booked) after the last answer is what "要带啥" is about.
            topic=None if service else entries.get(str(topic_id)) if topic_id else None,
            aspect=None if service else aspect_named(tracker.get_slot(ASPECT)),
            disclaimer_shown=bool(tracker.get_slot(DISCLAIMER)),
            street=named or (str(street) if street else None),
            extra_topic=service,
            home_street=named or street_said(tracker),
        )


def booked_last(tracker: Tracker) -> str | None:
    """The name of the service booked or being booked, if that came after the last knowledge answer."""
    for event in reversed(tracker.events):
        if event.get("event") != "slot" or not event.get("value"):
            continue
        if event.get("name") == TOPIC:
            return None
        if event.get("name") == BOOKED_SERVICE:
            code = str(event["value"])
            service = default_catalog().services.get(code)
            return service.name if service is not None else code
    return None


def street_said(tracker: Tracker) -> str | None:
    """The street or town the senior named last in this conversation (a booking's street counts too)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = str(event.get("text") or "")
            street = find_street(normalize(text)) if text and not text.startswith("/") else None
            if street is not None:
                return street
    booked = tracker.get_slot("booking_street")
    return find_street(str(booked)) if booked else None


_relevance: tuple[dict[str, Entry], Relevance] | None = None


def relevance_of(index: LiveIndex) -> Relevance:
    """The subject check over the index's current entries, built once per KB snapshot."""
    global _relevance
    entries = index.entries
    cached = _relevance  # one read: another thread may replace it meanwhile
    if cached is not None and cached[0] is entries:
        return cached[1]
    relevance = Relevance(list(entries.values()))
    _relevance = (entries, relevance)
    return relevance


# How a question was resolved when the entry found does not speak of what it asks (knowledge_base/relevance.py).
OFF_SUBJECT = "off_subject"


@dataclass(frozen=True)
class Resolved:
    reply: Reply
    aspect: Aspect | None = None
    # followup | related | missing | other_topic | search | contextual | unsure | off_subject | again
    how: str = "search"
    topic_id: str | None = None  # the conversation's topic after this answer, when not the answering entry
    events: list[dict[str, Any]] = field(default_factory=list)
    comfort: str | None = None  # a response with one warm sentence, said before the answer (actions/care.py)


def _search(index: LiveIndex, text: str, street: str | None) -> list[Hit]:
    """The KB's best hits; a street the message names points to that street's entries."""
    street = street or find_street(normalize(text))
    hits = index.search(text, top_k=5)
    if street:
        local = index.search(text, top_k=3, street=street)
        if local and local[0].score >= index.settings.threshold:
            hits = local + hits
    elif hits and _of_a_street(index, hits[0]):
        # No street named: the district-wide entry ("日间照料中心（老人白天托管）") before one street's
        # (「大场镇日间照料中心」) when it is nearly as close.
        # Twelve streets' 日间照料中心 can fill the first hits: look further for the district-wide one.
        general = next((h for h in index.search(text, top_k=20) if not _of_a_street(index, h)), None)
        if general is not None and general.score >= max(index.settings.threshold, hits[0].score - GENERAL_MARGIN):
            hits = [general, *(h for h in hits if h.id != general.id)]
    return _question_clause_first(index, text, hits)


# Clauses of a message: "我老头子瘫在床上 长护险怎么弄" is a situation, then the question.
_CLAUSES = re.compile(r"[\s，,。.!！?？;；、]+")
# Words of asking, in no entry's name: a title sharing only these with the question is no match.
_ASKING = re.compile(r"怎么|哪能|如何|啥|什么|哪里|在哪|要不要|能不能|可以|办|弄|伐|吗|呢")


def _runs(clause: str) -> list[str]:
    """The three-character runs of ``clause`` that are not ways of asking."""
    return [run for run in (clause[i : i + 3] for i in range(len(clause) - 2)) if not _ASKING.search(run)]


def _names_part_of(clause: str, title: str) -> bool:
    """A title shares a three-character run of ``clause`` that is not a way of asking ("长护险" of 长护险怎么弄)."""
    plain = normalize(title)
    return any(run in plain for run in _runs(clause))


# Every three-character run of the (normalized) titles of one snapshot's entries. A snapshot's entries never
# change (a new KB version brings a new dict), so the dict itself is the key; the last one is kept.
_title_runs: tuple[dict[str, Entry], frozenset[str]] | None = None


def _some_title_names_part_of(entries: dict[str, Entry], clause: str) -> bool:
    """Could any entry's title name part of ``clause``? (If not, searching the clause alone cannot help.)"""
    global _title_runs
    cached = _title_runs  # one read: another thread may replace it meanwhile
    if cached is None or cached[0] is not entries:
        titles = [normalize(entry.title) for entry in entries.values()]
        cached = (entries, frozenset(t[i : i + 3] for t in titles for i in range(len(t) - 2)))
        _title_runs = cached
    return any(run in cached[1] for run in _runs(clause))


def _question_clause_first(index: LiveIndex, text: str, hits: list[Hit]) -> list[Hit]:
    """A message told as a situation and then a question ("我老头子瘫在床上 长护险怎么弄"): when the best entry
    matches only the situation, the first close entry whose title names part of the last clause comes first (啥人可以
    享受长护险), else the best entry for the last clause alone."""
    clauses = [c for c in _CLAUSES.split(normalize(text)) if c]
    if len(clauses) < 2 or not hits:
        return hits
    last = clauses[-1]
    top = index.entries.get(hits[0].id)
    if top is None or _names_part_of(last, top.title):
        return hits
    threshold = index.settings.threshold
    named = next((h for h in hits if h.score >= threshold and _names_part_of(last, index.entries[h.id].title)), None)
    if named is not None:
        return [named, *(h for h in hits if h.id != named.id)]
    if not _some_title_names_part_of(index.entries, last):
        # No title shares a run with the last clause, so no entry found for it alone could come first: spare
        # its embedding (about half of the bench's knowledge questions have two clauses, most of them this kind).
        return hits
    own = index.search(last, top_k=5)
    first = index.entries.get(own[0].id) if own else None
    if first is None or own[0].score < threshold or not _names_part_of(last, first.title):
        return hits
    seen = {h.id for h in own}
    return [*own, *(h for h in hits if h.id not in seen)]


def _topic_breaks_tie(index: LiveIndex, text: str, topic: Entry, hits: list[Hit], street: str | None) -> list[Hit]:
    """Two entries nearly as close to a short question ("要见证人伐": 录像遗嘱, 立遗嘱要不要见证人): the one the
    conversation's topic points to comes first."""
    close = [h for h in hits if h.score >= hits[0].score - TIE_MARGIN] if hits else []
    if len(close) < 2:
        return hits
    contextual = _search(index, f"{topic.title} {text}", street)
    preferred = next((h for h in contextual if any(c.id == h.id for c in close)), None)
    if preferred is None or preferred.id == hits[0].id:
        return hits
    chosen = next(c for c in close if c.id == preferred.id)
    return [chosen, *(h for h in hits if h.id != chosen.id)]


def _of_a_street(index: LiveIndex, hit: Hit) -> bool:
    entry = index.entries.get(hit.id)
    return entry is not None and bool(entry.street)


def _aspect_reply(
    entry: Entry, aspect: Aspect, score: float, context: Context, *, sentences: bool = True
) -> Reply | None:
    formatted = format_aspect(entry, aspect, disclaimer_shown=context.disclaimer_shown, sentences=sentences)
    if formatted is None:
        return None
    return Reply(formatted[0], entry.id, True, score, disclaimed=formatted[1])


def _entry_reply(entry: Entry, score: float, context: Context) -> Reply:
    text, disclaimed = format_entry(entry, disclaimer_shown=context.disclaimer_shown)
    return Reply(text, entry.id, True, score, disclaimed=disclaimed)


# A message that is only a number ("12", "１２", "12。").
BARE_NUMBER = re.compile(r"(\d{1,2})\s*[.。号]?")
# Contact aspects whose answer is a place of the senior's own street.
LOCAL_ASPECTS = frozenset({"place", "hours", "phone"})


def _kind(entry: Entry) -> str:
    """What a directory entry is, without its street: 「顾村镇长者食堂（示例）」→ 长者食堂."""
    return entry.title.removeprefix(entry.street or "").split("（", 1)[0].strip()


def local_kinds(entries: dict[str, Entry], topic: Entry) -> tuple[str, ...]:
    """The kinds of a street's places (受理服务中心, 长者食堂 …) that the topic's place names, when the place
    depends on the senior's street ("街镇社区事务受理服务中心"); empty for a topic of one street or one place."""
    if topic.street:
        return ()
    said = f"{topic.fields.get('place') or ''} {topic.title}"
    kinds = {_kind(e) for e in entries.values() if e.street and e.street in STREETS}
    return tuple(sorted((k for k in kinds if k and k in said), key=said.index))


def _places_in(entries: dict[str, Entry], street: str, kinds: tuple[str, ...]) -> list[Entry]:
    found = [e for e in entries.values() if e.street == street and _kind(e) in kinds]
    return sorted(found, key=lambda e: kinds.index(_kind(e)))


def _street_reply(
    index: LiveIndex, topic: Entry, street: str, aspect: Aspect | None, context: Context
) -> Resolved | None:
    """The topic asked of one street: a street's own place (「罗店镇长者食堂」→ 大场镇's), or, for a topic whose place
    depends on the street, that street's places of the kinds it names."""
    entries = index.entries
    if topic.street:
        same = _places_in(entries, street, (_kind(topic),))
        if not same:
            return None
        entry = same[0]
        reply = (_aspect_reply(entry, aspect, 1.0, context) if aspect else None) or _entry_reply(entry, 1.0, context)
        return Resolved(reply, aspect, "street")
    kinds = local_kinds(entries, topic)
    if not kinds:
        return None
    places = _places_in(entries, street, kinds)
    text = street_places(topic, street, places, kinds)
    return Resolved(Reply(text, topic.id, True, 1.0), aspect_named("place"), "street", topic_id=topic.id)


def _more(index: LiveIndex, topic: Entry) -> Resolved:
    """ "还有别的吗": up to four other entries on the topic's subject, as numbered choices ("2" picks one)."""
    others: list[Entry] = []
    for hit in index.search(topic.title, top_k=12):
        entry = index.entries.get(hit.id)
        if entry is None or entry.id == topic.id or entry.street or not same_subject(topic.title, entry.title):
            continue
        others.append(entry)
    others = others[:4]
    reply = Reply(more_about(topic, others), topic.id, True, 1.0, tuple(e.id for e in others))
    return Resolved(reply, None, "more", topic_id=topic.id)


def _local_place(index: LiveIndex, entry: Entry, aspect: Aspect, context: Context) -> Resolved | None:
    """去哪里办 when the place is "街镇社区事务受理服务中心": the senior's own street's, or ask which street."""
    if context.home_street:
        return _street_reply(index, entry, context.home_street, aspect, context)
    if aspect.name != "place":
        return None
    reply = Reply(ask_street(entry, aspect, STREETS), entry.id, True, 1.0)
    return Resolved(reply, aspect, "ask_street", topic_id=entry.id)


def _followup(index: LiveIndex, text: str, topic: Entry, aspect: Aspect | None, context: Context) -> Resolved:
    if aspect is None:
        return Resolved(_entry_reply(topic, 1.0, context), None, "followup")
    if aspect.name in LOCAL_ASPECTS and local_kinds(index.entries, topic):
        local = _local_place(index, topic, aspect, context)
        if local is not None:
            return local
    # The topic's field first (for a yes/no about one facet, its own sentences that speak of it).
    direct = _aspect_reply(topic, aspect, 1.0, context, sentences=aspect.strict)
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
        if aspect.name == "place" and entry.fields.get("place") and local_kinds(index.entries, entry):
            # The sibling's place depends on the street too ("街镇社区事务受理服务中心"): the senior's own, or ask.
            local = _local_place(index, entry, aspect, context)
            if local is not None:
                return replace(local, topic_id=topic.id)
        # A sibling answers from its fields only: its sentences are about its own facet (出证时间 is not 几点开门).
        related = _aspect_reply(entry, aspect, hit.score, context, sentences=False)
        if related is not None:
            return Resolved(related, aspect, "related", topic_id=topic.id)
    # No field anywhere: what the topic's own text says of it ("长者食堂一般中午供餐" for 几点开饭).
    said = _aspect_reply(topic, aspect, 1.0, context)
    if said is not None:
        return Resolved(said, aspect, "followup")
    reply = Reply(missing_aspect(topic, aspect), topic.id, True, 1.0)
    return Resolved(reply, aspect, "missing")


def _names_another(situation: str, topic: Entry) -> bool:
    """The situation names a topic of its own ("我妈长护险" after 沪惠保), not only who the senior is ("我老伴瘫在
    床上", "我坐轮椅"): a topic word of three characters or more (IntentRules' list) that the topic's title lacks."""
    title = normalize(topic.title)
    return any(len(word) >= 3 and word not in title for word in topic_names(normalize(situation)))


def _eligibility(index: LiveIndex, text: str, topic: Entry, reading: Reading, context: Context) -> Resolved:
    """Whether the senior's situation qualifies for the topic: a sibling entry about that very situation (外地户籍 for
    "没有上海户口行伐" after 长护险), else the topic's eligibility (or its siblings', or its sentences'); and that the
    official check decides."""
    situation = topic_words(reading.situation or "")
    own = _pairs(topic.title)
    threshold = index.settings.threshold
    for hit in index.search(f"{topic.title} {text}", top_k=5):
        entry = index.entries.get(hit.id)
        if entry is None or entry.id == topic.id or entry.street or hit.score < threshold:
            continue
        if same_subject(topic.title, entry.title) and (_pairs(entry.title) - own) & _pairs(situation):
            reply = _entry_reply(entry, hit.score, context)
            return Resolved(_with_note(reply), reading.aspect, "related", topic_id=topic.id)
    resolved = _followup(index, text, topic, reading.aspect, context)
    return replace(resolved, reply=_with_note(resolved.reply))


def _pairs(text: str) -> set[str]:
    plain = topic_words(text)
    return {plain[i : i + 2] for i in range(len(plain) - 1)}


def _with_note(reply: Reply) -> Reply:
    if HOTLINE in reply.text:
        return reply
    return replace(reply, text=f"{reply.text}\n{SITUATION_NOTE}")


def _other_topic(index: LiveIndex, other: str, topic: Entry | None, context: Context) -> Resolved | None:
    """ "那X呢": the previous question about X; X on its own first ("那沪惠保呢"), else X as a facet of the topic's
    subject ("那打印的呢" after 自书遗嘱 is 打印遗嘱), never the topic entry itself again."""
    entries, threshold = index.entries, index.settings.threshold
    asked = context.aspect.question if context.aspect else ""
    queries = [f"{other}{asked}"]
    if topic is not None:
        queries.append(f"{topic.title} {other}{asked}")
    for query in queries:
        live = [h for h in _search(index, query, context.street) if h.id in entries]
        live = [h for h in live if topic is None or h.id != topic.id]
        if live and live[0].score >= threshold:
            entry = entries[live[0].id]
            focused = _aspect_reply(entry, context.aspect, live[0].score, context) if context.aspect else None
            reply = focused or _entry_reply(entry, live[0].score, context)
            return Resolved(reply, context.aspect, "other_topic")
    return None


def resolve(index: LiveIndex, text: str, context: Context, *, check_subject: bool = True) -> Resolved:
    """Answer ``text`` in the light of what the conversation is about (see the module docstring).

    ``check_subject``: whether the entry found must speak of what ``text`` asks (knowledge_base/relevance.py);
    not for a name of our own (a bookable service's), which is no senior's question."""
    entries, threshold = index.entries, index.settings.threshold
    reading = read(text)
    topic = context.topic
    if topic is not None and reading.more:
        return _more(index, topic)
    street = street_only(text) or (street_only(reading.other_topic) if reading.other_topic else None)
    if topic is not None and street is not None:
        # "顾村" after "您住哪个街道?", "那大场呢" after a 罗店 食堂: the same question, of that street.
        local = _street_reply(index, topic, street, context.aspect, context)
        if local is not None:
            return local
    if topic is None and context.extra_topic and reading.bare:
        # Booking 助浴 and asking "要带啥?": the service's own entry is the topic.
        hits = _search(index, context.extra_topic, None)
        if hits and hits[0].score >= threshold:
            topic = entries.get(hits[0].id)
    kind = kind_asked(index, text)
    listed = kind_reply(index, kind, text) if kind is not None else None
    if listed is not None:
        # "老年人有啥保险可以买": the kind's main topics as numbered choices (before follow-ups: "可以买" is no
        # question about the topic's eligibility here).
        return Resolved(listed, None, "kind")
    if topic is not None and reading.situation is not None and not _names_another(reading.situation, topic):
        # "我有高血压能保伐" after 沪惠保: whether the senior qualifies, from the topic's eligibility first.
        return _eligibility(index, text, topic, reading, context)
    if reading.situation is not None and (topic is None or _names_another(reading.situation, topic)):
        reading = replace(reading, bare=False)  # "我妈长护险能办伐": a question about 长护险 of its own
    if topic is not None and reading.bare:
        return _followup(index, text, topic, reading.aspect or context.aspect, context)
    if topic is None and reading.bare and reading.aspect is not None:
        # "要带啥材料?" with nothing said before: which matter? Offer the likeliest, never guess one.
        hits = _search(index, text, context.street)
        return Resolved(not_sure(hits, entries), reading.aspect, "unsure")
    if reading.other_topic:
        other = _other_topic(index, reading.other_topic, topic, context)
        if other is not None:
            return other
    pair = two_topics(index, text, threshold)
    if pair is not None:
        # "长护险和沪惠保有啥区别": each one's short answer, numbered ("1" gives the whole entry).
        return Resolved(pair_reply(*pair, text), None, "pair", topic_id=pair[0].entry.id)
    hits = _search(index, text, context.street)
    if topic is not None:
        hits = _topic_breaks_tie(index, text, topic, hits, context.street)
    reply = compose(hits, entries, threshold, disclaimer_shown=context.disclaimer_shown)
    relevance = relevance_of(index)
    if check_subject and _off_subject(index, relevance, text, reply):
        # "助听器有补贴伐" → 高龄助餐补贴: the entry does not speak of what is asked. No confident answer about
        # something else: the close entries that do speak of it first, as numbered choices, and where to ask.
        return Resolved(_not_sure_about(index, relevance, text, hits, entries), reading.aspect, OFF_SUBJECT)
    if reply.confident:
        return Resolved(reply, reading.aspect, "search")
    if topic is not None:
        contextual = _search(index, f"{topic.title} {text}", context.street)
        again = compose(contextual, entries, threshold, disclaimer_shown=context.disclaimer_shown)
        if check_subject and _off_subject(index, relevance, text, again):
            # "住家保姆多少钱" after 长护险: the topic's entries do not speak of it either.
            return Resolved(_not_sure_about(index, relevance, text, hits, entries), reading.aspect, OFF_SUBJECT)
        if again.confident and again.entry_id is not None:
            if reading.aspect is not None:
                focused = _aspect_reply(entries[again.entry_id], reading.aspect, again.score, context)
                again = focused or again
            return Resolved(again, reading.aspect, "contextual")
    if check_subject and _none_speaks_of(index, relevance, text, hits, entries):
        # "住家保姆多少钱": below the threshold, and none of the close entries speaks of it: say so plainly.
        return Resolved(_not_sure_about(index, relevance, text, hits, entries), reading.aspect, "unsure")
    return Resolved(reply, reading.aspect, "unsure")


def not_twice(index: LiveIndex, text: str, resolved: Resolved, context: Context, just_shown: set[str]) -> Resolved:
    """The entry answered a moment ago is not given in full again ("评估的人会上门伐", "学费多少", "我七十五了有伐"
    right after it; ``just_shown``: the entries of the bot's previous turn, whose last message may be an offer to book):
    the part the question asks for (a field, a sibling's, its sentences, or that it does not say),
    else its sentences closest to the question, else that it does not say, with 12345."""
    reply = resolved.reply
    entry = index.entries.get(reply.entry_id or "") if reply.confident else None
    if entry is None or entry.id not in just_shown or not reply.text.startswith(entry.answer):
        return resolved
    reading = read(text)
    if reading.aspect is not None:
        focused = _followup(index, text, entry, reading.aspect, context)
        if not focused.reply.text.startswith(entry.answer):
            # "我七十五了有伐": whether the senior qualifies is the official check's to say.
            return replace(focused, reply=_with_note(focused.reply)) if reading.situation else focused
    again = Reply(said_again(entry, topic_runs(text)), entry.id, True, reply.score)
    return Resolved(again, None, "again", topic_id=resolved.topic_id)


# Words searched alone for the subject check, for one KB snapshot: a word is searched once, not once per entry.
_near_words: tuple[dict[str, Entry], dict[str, dict[str, float]]] | None = None
NEAR_WORDS_KEPT = 4096


def _near(index: LiveIndex) -> Near:
    """The entries found for one word alone (送饭 → 送餐上门服务), for the subject check."""
    global _near_words
    entries = index.entries
    cached = _near_words  # one read: another thread may replace it meanwhile
    if cached is None or cached[0] is not entries or len(cached[1]) > NEAR_WORDS_KEPT:
        cached = (entries, {})
        _near_words = cached
    found = cached[1]

    def near(word: str) -> dict[str, float]:
        hits = found.get(word)
        if hits is None:
            hits = {hit.id: hit.score for hit in index.search(word, top_k=10)}
            found[word] = hits
        return hits

    return near


def _off_subject(index: LiveIndex, relevance: Relevance, text: str, reply: Reply) -> bool:
    """A confident reply from an entry that does not speak of what ``text`` asks."""
    return (
        reply.confident
        and reply.entry_id is not None
        and not relevance.speaks_of(text, reply.entry_id, reply.score, _near(index))
    )


def _none_speaks_of(
    index: LiveIndex, relevance: Relevance, text: str, hits: list[Hit], entries: dict[str, Entry]
) -> bool:
    """None of the close entries (the three offered) speaks of what ``text`` asks."""
    live = [h.id for h in hits if h.id in entries][:3]
    near = _near(index)
    return bool(live) and not any(relevance.speaks_of(text, entry_id, near=near) for entry_id in live)


def _not_sure_about(
    index: LiveIndex, relevance: Relevance, text: str, hits: list[Hit], entries: dict[str, Entry]
) -> Reply:
    """The unsure reply, the close entries that speak of what is asked offered first."""
    order = relevance.order(text, [h.id for h in hits if h.id in entries][:5], _near(index))
    ranked = sorted((h for h in hits if h.id in entries), key=lambda h: order.index(h.id) if h.id in order else 99)
    return not_covered(ranked, entries)


def resolve_question(index: LiveIndex, text: str, context: Context) -> Resolved:
    """:func:`resolve`, and when that is unsure, a bookable service the question names asked about by its name."""
    resolved = resolve(index, text, context)
    if not resolved.reply.confident and resolved.how != OFF_SUBJECT:
        # "送饭", "上门照护", "吃饭的地方": a bookable service said in its everyday words is asked about by its name.
        # Not when the question asks about a thing no entry speaks of ("驾照到几岁要体检" is no 记忆力测试).
        name = bookable_named(text)
        again = resolve(index, name, context, check_subject=False) if name else None
        if again is not None and again.reply.confident:
            return again
    return resolved


def answer(
    tracker: Tracker, text: str, message: dict[str, Any] | None = None, *, service: str | None = None
) -> Resolved:
    """Resolve ``text`` for this conversation, with a comfort response to say first where one is due.
    ``service``: the code of a service being booked in this very message, which is then the topic."""
    index = knowledge_index()
    message = message if message is not None else (tracker.latest_message or {})
    context = Context.of(tracker, message, index.entries)
    if service is not None and service in default_catalog().services:
        # The service's own description finds its entry (助浴 is 社区助浴点's, not 上门助浴's).
        booked = default_catalog().services[service]
        described = f"{booked.name} {booked.description}".strip()
        context = replace(context, topic=None, aspect=None, extra_topic=described)
    resolved = resolve_question(index, text, context)
    if not resolved.reply.confident and context.extra_topic and service is not None:
        # "要不要带换洗衣服" beside "帮我约助浴": asked of the service being booked.
        of_service = resolve(index, f"{context.extra_topic} {text}", context)
        resolved = of_service if of_service.reply.confident else resolved
    shown = {kb_entry_of(event) for event in previous_bot_messages(tracker.events)}
    resolved = not_twice(index, text, resolved, context, {entry for entry in shown if entry})
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


BOOKING_FORM = "booking_form"
BOOKING_STAGE = "booking_stage"
# The read-back's own question, said again after a question typed at it.
READBACK_AGAIN = "utter_booking_confirm_or_change"
UNSURE_IN_BOOKING = "utter_form_question_unsure"
CHOOSE_AGAIN = "utter_booking_choose_number"  # the list of free slots: "请回复 1 到 N 之间的数字。"
OFFER_BOOKING = "utter_offer_booking"
OFFER_TWO_BOOKINGS = "utter_offer_two_bookings"
# A booking verb: "约助浴" starts a booking and needs no offer of one.
_BOOKING_VERB = re.compile(r"约|订|报名|登记|安排")


def booking_in_progress(tracker: Tracker) -> bool:
    """The booking form is asking, or its read-back waits for "对"."""
    return (tracker.active_loop or {}).get("name") == BOOKING_FORM or tracker.get_slot(BOOKING_STAGE) in (
        "confirm",
        "choose",
    )


def answer_in_booking(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, *, service: str | None = None
) -> list[dict[str, Any]]:
    """A question typed while a booking is under way: about the form itself (为啥要名字, 谁看得到, 算好了伐) its own
    short reply; about the service being booked, its entry (the service is the topic); never the knowledge base's
    guesses ("您是不是想问"), which would lead away from the booking. Only the value the message gives for the slot
    asked, before its question ("张秀英 电话不想给"), is kept (said back first). At the read-back, its question is
    asked again (the form asks its own prompt again by itself). ``service``: the service the message itself starts
    booking ("订个助餐 多少钱一顿"), the topic of its question."""
    from actions.booking_form import (  # actions.booking_form imports this module
        asks_what_to_book,
        kept_before_question,
        reply_at_numbered_days,
    )

    in_form = (tracker.active_loop or {}).get("name") == BOOKING_FORM
    if in_form:
        picked = reply_at_numbered_days(dispatcher, tracker, text)
        if picked is not None:
            return picked
    asked = tracker.get_slot("requested_slot") if in_form else None
    if asked == BOOKED_SERVICE and asks_what_to_book(text):
        # "有啥别的上门服务" at the service prompt: the form asks again, its prompt numbering the services.
        dispatcher.utter_message(response="utter_booking_bookable_only")
        return []
    events: list[dict[str, Any]] = kept_before_question(dispatcher, tracker, text) if in_form else []
    response = form_question(text, asked)
    if response is not None:
        dispatcher.utter_message(response=response)
    else:
        resolved = answer(tracker, text, service=service)
        if resolved.reply.confident:
            utter_resolved(dispatcher, resolved)
            events += resolved.events
        else:
            dispatcher.utter_message(response=UNSURE_IN_BOOKING)
    ask_booking_again(dispatcher, tracker)
    return events


def entry_about(thing: str) -> Callable[[CollectingDispatcher], list[dict[str, Any]]] | None:
    """The knowledge entry about ``thing`` ("轮椅" → 康复辅具租赁（轮椅、护理床等）), when one is confidently about it and
    names it in its title: a function that says the entry and returns the topic's events; else None."""
    index = knowledge_index()
    plain = normalize(thing)
    runs = {plain[i : i + 2] for i in range(len(plain) - 1)}
    for hit in index.search(thing, top_k=3):
        entry = index.entries.get(hit.id)
        if entry is None or hit.score < index.settings.threshold or entry.street:
            continue
        if any(run in normalize(entry.title) for run in runs):
            return partial(_say_entry, entry=entry)
    return None


def _say_entry(dispatcher: CollectingDispatcher, *, entry: Entry) -> list[dict[str, Any]]:
    reply = _entry_reply(entry, 1.0, Context())
    utter_reply(dispatcher, reply)
    return [SlotSet(TOPIC, entry.id), SlotSet(ASPECT, None), *([SlotSet(DISCLAIMER, True)] if reply.disclaimed else [])]


def ask_booking_again(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """After an answer at the read-back or the list of free slots, its question again (the form asks its own)."""
    if (tracker.active_loop or {}).get("name") == BOOKING_FORM:
        return
    stage = tracker.get_slot(BOOKING_STAGE)
    if stage == "confirm":
        dispatcher.utter_message(response=READBACK_AGAIN)
    elif stage == "choose":
        count = len(tracker.get_slot("booking_choices") or [])
        if count == 1:
            dispatcher.utter_message(response=f"{CHOOSE_AGAIN}_one")
        else:
            dispatcher.utter_message(response=CHOOSE_AGAIN, count=str(count))


def bookable_named(text: str) -> str | None:
    """The name of the bookable service a question names ("日间照顾中心哪能办" → 日间照料试托), if any."""
    plain = normalize(text)
    if _BOOKING_VERB.search(plain):
        return None
    catalog = default_catalog()
    code = catalog.find_service(plain) or catalog.find_service(
        re.sub(r"(?<=[\u4e00-\u9fff])一?个(?=[\u4e00-\u9fff])", "", plain)
    )
    service = catalog.services.get(code) if code else None
    return service.name if service is not None else None


def offer_booking(dispatcher: CollectingDispatcher, tracker: Tracker, text: str, resolved: Resolved) -> None:
    """After a confident answer to a question naming a bookable service, its booking as a numbered choice."""
    if not resolved.reply.confident or resolved.reply.choices or booking_in_progress(tracker):
        return  # a reply with numbered choices of its own ("1. 长护险 2. 沪惠保") gets no second numbered list
    name = bookable_named(text)
    if name is None:
        # "想约助浴 顺便问下助餐在哪" read as a question: the booking asked for is offered, not dropped.
        code = booking_asked(text)
        service = default_catalog().services.get(code) if code else None
        name = service.name if service is not None else None
    if name is not None:
        dispatcher.utter_message(response=OFFER_BOOKING, service=name)


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
    return previous_kb_entry(tracker.events)


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
        if lost_to_scam(tracker, text):
            # "钱打过去了" after a scam call, read as a question: what to do now, not the entry's warning again.
            utter_aftermath(dispatcher, text)
            return []
        if booking_in_progress(tracker):
            if tracker.get_slot(BOOKING_STAGE) in ("confirm", "choose") and states_correction(text):
                # "电话也错了，是139…" at the read-back, read as a follow-up question: it changes that field.
                return [FollowupAction("action_booking_correct")]
            if tracker.get_slot("requested_slot") == BOOKED_SERVICE and not looks_like_question(text):
                code = default_catalog().find_service(normalize(text))
                if code is not None:
                    # "日间照料" typed at "您想约什么服务?" is the answer, not a question about it.
                    return [SlotSet(BOOKED_SERVICE, code)]
            return answer_in_booking(dispatcher, tracker, text)
        menu = typed_menu_intent(text)
        if menu is not None:
            # "保险" typed alone is the menu button, not a question: ask which one, with numbered examples.
            dispatcher.utter_message(response=MENU_RESPONSES[menu])
            return []
        both = two_bookings(text)
        if both is not None:
            # "助餐和助浴都想约" (IntentRules: a question): one booking at a time, both offered, neither dropped.
            first, second = (default_catalog().services[code].name for code in both)
            dispatcher.utter_message(response=OFFER_TWO_BOOKINGS, first=first, second=second)
            return []
        said = clock_answer(text, clock.now(), said_when=True) if text else None
        if said is not None:
            dispatcher.utter_message(
                response=said.response, **said.values
            )  # "明朝礼拜几呀" read as a follow-up (actions/smalltalk.py)
            return []
        # "想订助餐 另外助浴多少钱": the question is its own clause; the booking is offered after its answer.
        question = question_clause(text) if booking_asked(text) else None
        resolved = answer(tracker, question or text, message)
        out_of_reach = (
            cannot_look_up(text) if text and (not resolved.reply.confident or resolved.how == "missing") else None
        )
        if out_of_reach is not None:
            dispatcher.utter_message(
                response=out_of_reach.response, **out_of_reach.values
            )  # "台风来了伐", "今朝要带伞伐" read as a question
            return []
        if not resolved.reply.confident:
            report_unsure(tracker, text, message, "kb_below_threshold", resolved.reply)
        if resolved.how == "search" and repeats_the_warning(tracker, resolved.reply.entry_id):
            # "那个人讲他是警察 是真的伐" right after the scam warning and its entry: the short reminder, not both again.
            dispatcher.utter_message(response=SCAM_AGAIN)
            return []
        utter_resolved(dispatcher, resolved)
        offer_booking(dispatcher, tracker, text, resolved)
        return resolved.events


FALL_STILL_HURTS = "utter_fall_still_hurts"
_FELL = re.compile(r"(?:摔|跌|滑|绊|掼)(?:了一跤|一跤|了个跟头|跤|倒|了一下)|(?:摔|跌)了(?=[\s，,。])")
_GOT_BETTER = re.compile(r"不(?:痛|疼|肿)了|好多了|好了|没事|没啥事|没关系")
_STILL_HURTS = re.compile(r"痛|疼|肿|青|紫|酸|不舒服|不灵|动不来|抬不起")
_SOME_TIME_AGO = re.compile(r"前两天|前几天|昨天|前天|上礼拜|上星期|上个礼拜|早上|上午|下午|那天|还|到现在|一直")


def fall_still_hurts(text: str) -> bool:
    """A fall some time ago that still hurts, said with nothing else the assistant understood."""
    plain = normalize(text)
    if _GOT_BETTER.search(plain):
        return False
    return bool(_FELL.search(plain) and _STILL_HURTS.search(plain) and _SOME_TIME_AGO.search(plain))


FAMILY_NUMBER_NOT_KEPT = "utter_family_number_not_kept"
_FAMILY = re.compile(
    r"女儿|儿子|囡囡|子女|老伴|老头子|老太婆|孙子|孙女|外孙|媳妇|女婿|家里人|家属|阿姐|阿哥|姐姐|哥哥|弟弟|妹妹|侄子|外甥"
)
_NUMBER = re.compile(r"\d{7,}")


def family_number(text: str) -> bool:
    """A family member's phone number given with nothing to put it in ("我女儿的电话13611112222")."""
    plain = normalize(text).replace(" ", "")
    return bool(_NUMBER.search(plain) and _FAMILY.search(plain))


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
        if lost_to_scam(tracker, text):
            utter_aftermath(dispatcher, text)
            return []
        menu = typed_menu_intent(text) if text else None
        if menu is not None:
            dispatcher.utter_message(response=MENU_RESPONSES[menu])
            return []
        number = BARE_NUMBER.fullmatch(normalize(text).strip()) if text else None
        if number is not None:
            # "12" after a numbered list, read as a date or a number of something: it picks from the list.
            from actions.bookings import menu_choice  # actions.bookings imports this module

            return menu_choice(dispatcher, tracker, int(number[1]))
        if text and not text.startswith("/") and tracker.get_slot(BOOKING_STAGE) in ("confirm", "choose"):
            return answer_in_booking(dispatcher, tracker, text)
        if text and fall_still_hurts(text) and not topic_names(normalize(text)):
            # "我前两天摔了一跤 现在腰还痛 要紧伐" was "没听明白": see a doctor today, and the signs that mean 120.
            # Said with a topic ("…意外险能赔伐"), it is the knowledge base's question.
            dispatcher.utter_message(response=FALL_STILL_HURTS)
            return []
        if text and family_number(text):
            # "我女儿的电话13611112222": never stored; family are linked by a code they ask for themselves.
            dispatcher.utter_message(response=FAMILY_NUMBER_NOT_KEPT)
            return []
        resolved = answer(tracker, text, message) if text and not text.startswith("/") else None
        if resolved is not None and resolved.reply.confident:
            utter_resolved(dispatcher, resolved)
            offer_booking(dispatcher, tracker, text, resolved)
            return resolved.events
        if text and not text.startswith("/"):
            intent = str((message.get("intent") or {}).get("name") or "")
            reason = "nlu_fallback" if intent == "nlu_fallback" else "kb_below_threshold"
            report_unsure(tracker, text, message, reason, resolved.reply if resolved else None)
        if resolved is not None and resolved.how == OFF_SUBJECT:
            # A question for the KB all the same ("助听器有补贴伐"): that there is nothing on it, where to ask, and
            # the close topics; not "没听明白".
            utter_resolved(dispatcher, resolved)
            return resolved.events
        if comfort(dispatcher, text):
            return []
        said = (clock_answer(text, clock.now()) or cannot_look_up(text)) if text else None
        if said is not None:
            dispatcher.utter_message(
                response=said.response, **said.values
            )  # "今天几号", "明朝会落雨伐" read as out of scope or unsure
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
        if comfort(dispatcher, text):
            return []
        if text and kind_asked(knowledge_index(), text) is not None:
            # "老年人有什么福利" read as small talk: the kind's main topics.
            resolved = answer(tracker, text)
            utter_resolved(dispatcher, resolved)
            return resolved.events
        reading = read(text) if text and tracker.get_slot(TOPIC) else None
        if reading is not None and reading.bare and reading.aspect is not None:
            # "啥人可以享受" right after an answer is a follow-up, whatever the classifier thought.
            resolved = answer(tracker, text)
            utter_resolved(dispatcher, resolved)
            return resolved.events
        if text and booking_in_progress(tracker) and looks_like_question(text):
            # "你是谁" at the read-back: its short reply, then the read-back's question again.
            return answer_in_booking(dispatcher, tracker, text)
        if text and asks_who(text):
            dispatcher.utter_message(response="utter_identity")
            return []
        said = (clock_answer(text, clock.now()) or cannot_look_up(text)) if text else None
        if said is not None:
            # "今朝礼拜几" from the clock; "明朝会落雨伐" said plainly to be out of reach (actions/smalltalk.py).
            dispatcher.utter_message(response=said.response, **said.values)
            return []
        dispatcher.utter_message(response="utter_chitchat")
        return []


class ActionDeny(Action):
    """ "不对" / "没用" / "听不懂" / "答非所问" outside a question (the rule "deny outside a question").

    Right after a knowledge answer it is a complaint about that answer (any "no" but a plain "no
    thanks" or a correction: :func:`is_complaint`): the question that got it is kept for the
    administrators (reason ``unhelpful``, masked before it is stored) and the senior is offered to ask
    again in other words or to get a person. "听不懂", "看不懂" anywhere else get help with the replies
    (actions/presentation.py); any other "no" gets the short acknowledgement it always got."""

    def name(self) -> str:
        return "action_deny"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        if text and not text.startswith("/") and check_unhelpful(tracker, text, denied=True):
            dispatcher.utter_message(response=UNHELPFUL_RESPONSE)
        elif (
            text
            and not text.startswith("/")
            and wanted(text)
            and is_complaint(text, tracker.latest_message or {}, denied=True)
        ):
            # "听不懂你讲的", "看不懂" with no answer before it: how to make the replies easier, not "好的，没关系".
            present(dispatcher, tracker, text)
        else:
            from actions.bookings import stop_flow  # actions.bookings imports this module

            # "不绑了" right after a family link code, "不删" at 删除我的信息: that flow's own "no".
            stopped = stop_flow(dispatcher, tracker)
            if stopped is not None:
                return stopped
            dispatcher.utter_message(response="utter_deny_ack")
        return []
