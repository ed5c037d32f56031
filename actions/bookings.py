"""Booking actions: read back, confirm, choose an alternative, list, cancel, reschedule.

A booking is written only after the user has seen everything read back and said yes.
The stage of the conversation lives in the ``booking_stage`` slot, and the rules in
training_data/rules.yml route "对", "不对", a number or "算了" by that stage.

A linked family member cancels or moves a parent's booking the same way ("取消我妈的预约", "我爸那个预约
改到下礼拜三", :func:`for_parent`): the parent's bookings as numbered choices, the same read-back naming
whose booking it is, and the change written only after "对". Whose booking the steps are about is kept in
``booking_owner``; every step reads the booking as that parent's only while the speaker is linked to them
(:func:`owner_of`), and the write checks the link again in its own transaction and tells the parent through
the care outbox (:meth:`care.service.Care.cancelled_for_parent`, :meth:`~care.service.Care.moved_for_parent`).
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import clock
from actions.booking_common import (
    CHOICES,
    CONTACT,
    DATE,
    FOR_LINKED,
    FOR_PARENT,
    FOR_STOP,
    NOTES,
    OPTIONS,
    OWNER,
    PHONE,
    QUESTION,
    SERVICE,
    SLOT_ID,
    STAGE,
    STREET,
    TARGET,
    TIME,
    WEEK_OF,
    WHEN,
    booking_line,
    describe_slot,
    describe_wanted,
    message_id,
    numbered,
    raw_text,
    reset_booking,
    resource_name,
    said_lunar,
    service_name,
    store,
    time_spec,
)
from actions.booking_form import (
    REQUESTED,
    STOPPED,
    asks_what_to_book,
    kept_before_question,
    notes_in,
    numbered_day_picked,
    numbered_services,
    previous_value,
)
from actions.care import comfort
from actions.family_booking import Said, booking_for, decide, parent_asked_about, who, who_for, who_of
from actions.knowledge import answer, answer_entry, answer_in_booking, utter_resolved
from actions.menus import HANDOFF_ACTION, HANDOFF_INTENT, MENU_RESPONSES
from actions.proactive import BOOKING_REFUSALS, CARE_STAGE, care, parent_consent_outdated, say_booking_refusal
from actions.safety import QUESTION_ANSWERS
from actions.understand import fields_named, form_question, is_stop, looks_like_question, parse_correction
from bookings.catalog import SHANGHAI, find_service
from bookings.store import (
    Booking,
    BookingClosed,
    BookingNotFound,
    SlotClosed,
    SlotFull,
    SlotNotFound,
    format_code,
    parse_code,
)
from bookings.timeparse import choose_option, parse_when
from care.errors import ConsentOutdated
from care.service import NotLinked, Parent
from common.contacts import phone_in_groups
from common.errors import Unavailable
from common.turns import previous_bot_messages
from textnorm import normalize

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]
CHOICE_WORDS = {
    "一": 1, "头": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10
}  # fmt: skip
_NUMERAL = "[" + "".join(CHOICE_WORDS) + "]"
_ORDINAL = re.compile(rf"第({_NUMERAL})")  # 第二个
_COUNTED = re.compile(rf"({_NUMERAL})(?:个|号|项|条|种|家)")  # 三号, 头一个
_BARE = re.compile(rf"({_NUMERAL})")  # 选二
BOOKING_SLOTS_ASKED = (SERVICE, WHEN, STREET, CONTACT, PHONE)
# A message routed to a booking list/cancel/reschedule action without any booking word in it
# ("我老伴不在了，遗产哪能弄" can look like "cancel" to the classifier) is answered as a question.
BOOKING_WORDS = re.compile(
    r"约|订|报名|登记|号|取消|退掉|不要了|改|换|挪|推迟|提前|排队|名额|安排|行程|去不了|不去了|来不了"
)


def done(dispatcher: CollectingDispatcher, response: str, booking: Booking, sender: str, owner: str | None) -> Events:
    """Say a change is made (``response``, or its ``_for_parent`` twin naming whose booking it was), then reset."""
    if owner is None:
        dispatcher.utter_message(response=response, booking=booking_line(booking))
    else:
        dispatcher.utter_message(
            response=f"{response}_for_parent", who=who_of(sender, owner), booking=booking_line(booking)
        )
    return reset_booking()


def misrouted(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events | None:
    """Answer as a question a message that says nothing about bookings; None when it does."""
    text = raw_text(tracker)
    if text and tracker.get_slot(STAGE) in ("confirm", "choose") and form_question(text):
        # "能取消伐", "约好了伐" at the read-back: about this booking, not a booking made before.
        return answer_in_booking(dispatcher, tracker, text)
    if not text or BOOKING_WORDS.search(normalize(text)):
        return None
    resolved = answer(tracker, text)
    utter_resolved(dispatcher, resolved)
    return resolved.events


def int_slot(tracker: Tracker, name: str) -> int:
    """A slot that must hold a number at this step (a chosen slot id): a missing one is a flow bug, said by name."""
    value = tracker.get_slot(name)
    if value is None:
        raise ValueError(f"slot {name} is empty at a step that needs it")
    return int(value)


def chosen_number(text: str) -> int | None:
    """1 from "1", "１", "①", "第一个", "选二", "头一个", "就第三个吧"; "最后一个" is -1; None when no number is said.

    A numeral that names the choice ("第三个", "三号") wins over one inside another word ("一下").
    """
    text = unicodedata.normalize("NFKC", text)
    if "最后" in text:
        return -1
    digits = re.search(r"\d+", text)
    if digits:
        return int(digits.group())
    for pattern in (_ORDINAL, _COUNTED, _BARE):
        match = pattern.search(text)
        if match:
            return CHOICE_WORDS[match.group(1)]
    return None


def window(date: str, time: str | None) -> tuple[dt.datetime, dt.datetime, dt.datetime | None]:
    """The search window for a day and an optional "HH:MM" or "HH:MM-HH:MM" time; plus the exact time."""
    day = dt.date.fromisoformat(date)
    start = dt.datetime.combine(day, dt.time(0, 0), SHANGHAI)
    end = start + dt.timedelta(days=1)
    if not time:
        return start, end, None
    first, _, last = time.partition("-")
    begin = dt.datetime.combine(day, dt.time.fromisoformat(first), SHANGHAI)
    if last:
        return begin, dt.datetime.combine(day, dt.time.fromisoformat(last), SHANGHAI), None
    # An exact time: any slot that is running at that time or starts within the hour.
    return begin - dt.timedelta(minutes=59), begin + dt.timedelta(minutes=60), begin


def middle(start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The time the nearest alternatives are measured from when no exact time was said: the middle of the
    window (noon for a whole day), so that a day asked for is not answered with the evening before it."""
    return start + (end - start) / 2


def elsewhere(service: str, start: dt.datetime, end: dt.datetime, exact: dt.datetime | None, n: int = 3) -> list[Any]:
    """Free slots at other places, for a street that has no place for ``service``: inside the window asked for
    first (nearest to the exact time, if one was said), then the nearest to it in time."""
    around = exact or middle(start, end)
    inside = sorted(
        store().find_slots(service, start, end, only_free=True), key=lambda s: (abs(s.start - around), s.resource)
    )
    chosen = inside[:n]
    for slot in store().alternatives(service, around, n=n + len(chosen)):
        if len(chosen) == n:
            break
        if all(slot.id != c.id for c in chosen):
            chosen.append(slot)
    return chosen


def booking_texts(tracker: Tracker) -> list[str]:
    """What the user typed since asking for this booking (notes like 坐轮椅 may come at any point)."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        texts.append(str(event.get("text") or ""))
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == "book_service":
            break
    return texts


def utter_readback(dispatcher: CollectingDispatcher, tracker: Tracker, slot_id: int) -> None:
    """Everything the booking will hold, numbered, for the senior to check before saying "对"."""
    slot = store().slot(slot_id)
    if booking_for(tracker) is not None:
        dispatcher.utter_message(response="utter_booking_for_parent_note", who=who_for(tracker))
    notes = tracker.get_slot(NOTES)
    dispatcher.utter_message(
        response="utter_booking_readback_notes" if notes else "utter_booking_readback",
        service=service_name(slot.service),
        time=describe_slot(slot, lunar=said_lunar(tracker.get_slot(WHEN))),
        place=resource_name(slot),
        contact=str(tracker.get_slot(CONTACT)),
        phone=phone_in_groups(str(tracker.get_slot(PHONE))),
        notes=str(notes or ""),
    )
    if slot.sample:
        dispatcher.utter_message(response="utter_booking_sample_note")


# Why the slot asked for cannot be had, and the response that offers the nearest free ones (or says there are none).
FULL = ("utter_booking_full", "utter_booking_full_none")
# The street asked for has no place for the service at all: say that, not "full", and offer other streets.
NO_PLACE = ("utter_booking_no_place", "utter_booking_no_place_none")
TAKEN = ("utter_booking_taken", "utter_booking_taken_none")


def offer(
    dispatcher: CollectingDispatcher, slots: list[Any], stage: str, responses: tuple[str, str], **values: str
) -> Events:
    """Say why (``responses``: full or just taken) and offer the nearest free slots as numbered choices."""
    # utter_message's extra keyword arguments fill the response's {placeholders}.
    fills: dict[str, Any] = dict(values)
    if not slots:
        dispatcher.utter_message(response=responses[1], **fills)
        return [SlotSet(STAGE, None), SlotSet(CHOICES, None)]
    dispatcher.utter_message(response=responses[0], options=numbered(slots), **fills)
    return [SlotSet(STAGE, stage), SlotSet(CHOICES, [s.id for s in slots])]


class TurnEndingAction(Action, abc.ABC):
    """A booking action after which the bot listens.

    These actions move ``booking_stage`` to states the rules cannot foresee (a full slot turns a
    read-back into a choice), so no rule would predict listening afterwards and the fallback
    would answer instead. The action says it explicitly.
    """

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        try:
            events = await self.act(dispatcher, tracker, domain)
        except Unavailable as err:
            # The database is locked or down: say so (never "not found"), keep the conversation as it is.
            logger.warning("%s could not finish: %s", self.name(), type(err).__name__)
            dispatcher.utter_message(response="utter_busy")
            events = []
        except BOOKING_REFUSALS as err:
            say_booking_refusal(dispatcher, tracker, err, self.name())
            events = reset_booking()
        if not any(e.get("event") == "followup" for e in events):
            events.append(FollowupAction("action_listen"))
        return events

    @abc.abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        """The action's own work; its events are returned with the instruction to listen."""


class ActionAskBookingWhen(Action):
    """Asks for the time; when only the day is missing, asks for the day."""

    def name(self) -> str:
        return "action_ask_booking_when"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        question = tracker.get_slot(QUESTION)
        if question:
            # The day said was unclear ("下礼拜", "过两天", "明天" at 2 a.m.): ask, with numbered days.
            dispatcher.utter_message(text=str(question))
        elif tracker.get_slot(TIME) and not tracker.get_slot(DATE):
            dispatcher.utter_message(response="utter_booking_which_day")
        else:
            dispatcher.utter_message(response="utter_ask_booking_when")
        return []


class ActionBookingReadback(TurnEndingAction):
    """After the form: find a free slot for what was asked, then read everything back."""

    def name(self) -> str:
        return "action_booking_readback"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if tracker.get_slot(STAGE) == STOPPED:
            # "算了" during the form: the form ended itself (or it stopped with its reason said already).
            if tracker.get_slot(FOR_PARENT) != FOR_STOP:
                dispatcher.utter_message(response="utter_booking_stopped")
            return reset_booking()
        service, date, street = tracker.get_slot(SERVICE), tracker.get_slot(DATE), tracker.get_slot(STREET)
        if not (service and date):
            dispatcher.utter_message(response="utter_booking_incomplete")
            return [*reset_booking(), FollowupAction("booking_form")]
        notes = notes_in(" ".join(booking_texts(tracker)), None)
        if notes != tracker.get_slot(NOTES):
            tracker.slots[NOTES] = notes  # read back below; persisted by the SlotSet returned
        start, end, exact = window(date, tracker.get_slot(TIME))
        free = store().find_slots(service, start, end, street=street, only_free=True)
        if exact is not None:
            free.sort(key=lambda s: abs(s.start - exact))
        if free:
            utter_readback(dispatcher, tracker, free[0].id)
            return [
                SlotSet(NOTES, notes),
                SlotSet(SLOT_ID, float(free[0].id)),
                SlotSet(STAGE, "confirm"),
                SlotSet(CHOICES, None),
            ]
        wanted = describe_wanted(date, tracker.get_slot(TIME), lunar=said_lunar(tracker.get_slot(WHEN)))
        if street and not store().serves(service, street):
            alternatives = elsewhere(service, start, end, exact)
            events = offer(
                dispatcher,
                alternatives,
                "choose",
                NO_PLACE,
                service=service_name(service),
                wanted=wanted,
                street=street,
            )
        else:
            alternatives = store().alternatives(service, exact or middle(start, end), street=street, n=3)
            events = offer(dispatcher, alternatives, "choose", FULL, service=service_name(service), wanted=wanted)
        return [SlotSet(NOTES, notes), *events]


class ActionBookingConfirm(TurnEndingAction):
    """The user said yes: make the booking, the cancellation or the change that was read back."""

    def name(self) -> str:
        return "action_booking_confirm"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        stage = tracker.get_slot(STAGE)
        text = raw_text(tracker)
        if stage == "confirm" and text and form_question(text):
            # "这样就好了伐" read as yes: a question about the booking, never a yes; the read-back waits for "对".
            return answer_in_booking(dispatcher, tracker, text)
        if stage == "confirm":
            return self._book(dispatcher, tracker)
        if stage == "cancel_confirm":
            return self._cancel(dispatcher, tracker)
        if stage == "reschedule_confirm":
            return self._reschedule(dispatcher, tracker)
        dispatcher.utter_message(response="utter_affirm_ack")
        return []

    @staticmethod
    def _book(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        slot_id = int_slot(tracker, SLOT_ID)
        contact, phone = str(tracker.get_slot(CONTACT)), str(tracker.get_slot(PHONE))
        # A redelivered "对" (same channel message) must not book twice: key on the message and the form.
        key = hashlib.sha256(
            "|".join([tracker.sender_id or "", message_id(tracker), str(slot_id), contact, phone]).encode()
        ).hexdigest()
        # For a linked parent ("帮我妈约…"): the parent's booking; the link is checked and the parent told
        # in the booking's own transaction.
        parent = booking_for(tracker)
        try:
            booking = store().book(
                slot_id,
                parent or tracker.sender_id or "",
                contact,
                phone,
                tracker.get_slot(NOTES),
                idempotency_key=key,
                on_booked=care().booked_for_parent(tracker.sender_id) if parent else None,
            )
        except (SlotFull, SlotClosed) as err:
            alternatives = store().alternatives(err.slot.service, err.slot.start, street=err.slot.street, n=3)
            return offer(dispatcher, alternatives, "choose", TAKEN, slot=describe_slot(err.slot))
        except NotLinked:
            dispatcher.utter_message(response="utter_booking_for_parent_unlinked")
            return reset_booking()
        except ConsentOutdated as err:
            parent_consent_outdated(dispatcher, tracker.sender_id or "", err.address)
            return reset_booking()
        if parent:
            dispatcher.utter_message(
                response="utter_booking_done_for_parent",
                who=who_for(tracker),
                code=booking.display_code,
                booking=booking_line(booking),
            )
            return reset_booking()
        dispatcher.utter_message(
            response="utter_booking_done", code=booking.display_code, booking=booking_line(booking)
        )
        return reset_booking()

    @staticmethod
    def _cancel(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        # A refusal (not found, already over) is said as such; a database that is down or locked
        # (Unavailable) is left to TurnEndingAction, which says "busy" and keeps the stage. For a parent's
        # booking the link is checked again in the cancellation's transaction (NotLinked: TurnEndingAction).
        code, sender, owner = str(tracker.get_slot(TARGET)), tracker.sender_id or "", owner_slot(tracker)
        try:
            if owner is None:
                booking = store().cancel(code, sender)
            else:
                booking = store().cancel(
                    code, owner_of(tracker, owner), on_cancelled=care().cancelled_for_parent(sender)
                )
        except (BookingNotFound, BookingClosed):
            dispatcher.utter_message(response="utter_booking_gone")
            return reset_booking()
        return done(dispatcher, "utter_booking_cancelled", booking, sender, owner)

    @staticmethod
    def _reschedule(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        code, slot_id = str(tracker.get_slot(TARGET)), int_slot(tracker, SLOT_ID)
        sender, owner = tracker.sender_id or "", owner_slot(tracker)
        try:
            if owner is None:
                booking = store().reschedule(code, sender, slot_id)
            else:
                booking = store().reschedule(
                    code, owner_of(tracker, owner), slot_id, on_moved=care().moved_for_parent(sender)
                )
        except (SlotFull, SlotClosed) as err:
            alternatives = store().alternatives(err.slot.service, err.slot.start, street=err.slot.street, n=3)
            return offer(dispatcher, alternatives, "reschedule_choose", TAKEN, slot=describe_slot(err.slot))
        except (BookingNotFound, BookingClosed, SlotNotFound):
            dispatcher.utter_message(response="utter_booking_cannot_change")
            return reset_booking()
        return done(dispatcher, "utter_booking_rescheduled", booking, sender, owner)


class ActionBookingChoose(TurnEndingAction):
    """A number: pick one of the offered slots or bookings, or a numbered menu button."""

    def name(self) -> str:
        return "action_booking_choose"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        number = chosen_number(raw_text(tracker))
        stage = tracker.get_slot(STAGE)
        pending = [dt.date.fromisoformat(d) for d in tracker.get_slot(OPTIONS) or []]
        if stage == "reschedule_when" and pending:
            day = choose_option(raw_text(tracker), pending, clock.now())
            if day is None:
                question = tracker.get_slot(QUESTION)
                if question:
                    # The numbered days, asked again (the question is worded by bookings/timeparse.py).
                    dispatcher.utter_message(text=str(question))
                else:
                    choose_number(dispatcher, "utter_booking_choose_number", len(pending))
                return []
            return ask_reschedule(
                dispatcher, tracker, str(tracker.get_slot(TARGET)), day=day, owner=owner_slot(tracker)
            )
        options = list(tracker.get_slot(CHOICES) or [])
        if stage == "confirm" and tracker.get_slot(SLOT_ID) is not None:
            # A number at the read-back ("1"): its lines are numbered, but it asks for "对" or a change.
            dispatcher.utter_message(response="utter_booking_confirm_or_change")
            return []
        if stage in ("choose", "reschedule_choose", "cancel_choose", "change_choose") and options:
            if number is None or not (number == -1 or 1 <= number <= len(options)):
                choose_number(dispatcher, "utter_booking_choose_number", len(options))
                return []
            picked = options[number - 1 if number > 0 else -1]
            if stage == "cancel_choose":
                return ask_cancel(dispatcher, tracker, str(picked), owner=picked_owner(tracker, str(picked)))
            if stage == "change_choose":
                # The new time, if it was said, is in the request that listed the bookings ("…改到下礼拜三").
                owner = picked_owner(tracker, str(picked))
                return ask_reschedule(dispatcher, tracker, str(picked), owner=owner, text=request_text(tracker))
            if stage == "reschedule_choose":
                target = str(tracker.get_slot(TARGET))
                return ask_reschedule(dispatcher, tracker, target, int(picked), owner=owner_slot(tracker))
            utter_readback(dispatcher, tracker, int(picked))
            return [SlotSet(SLOT_ID, float(picked)), SlotSet(STAGE, "confirm"), SlotSet(CHOICES, None)]
        return menu_choice(dispatcher, tracker, number)


NUMBERED_LINE = re.compile(r"^\s*(\d+)[.、．]\s*(.+?)\s*$", re.MULTILINE)
# A numbered list is a menu when the reply invites a choice (not a checklist of documents).
MENU_HINT = re.compile(r"比如|是不是想问|请回复数字|请选|可以选|想问哪|回复数字")
# What a numbered line of an offer does, by its words: book a service (utter_offer_booking's "帮我约助浴", the
# unwell check-in's "约上门护理"), bring a person ("帮您找工作人员", "找人工"), or decline ("不用了"). Any other
# line is a question, answered from the knowledge base.
_OFFERED_BOOKING = re.compile(r"^(?:帮我|帮您)?约")
_OFFERED_PERSON = re.compile(r"找(?:人工|工作人员|真人)|转人工")
_DECLINE_LINE = re.compile(r"^(?:不用了|不用|不约了|不需要|先不|暂时不|算了)")


def single_offer(tracker: Tracker) -> bool:
    """The bot's previous turn ended by offering one thing as its first numbered choice, the others only declining it
    ("想约助浴的话，请回复数字：1. 帮我约助浴 2. 不用了"): a yes takes it."""
    messages = last_bot_messages(tracker)
    if not messages:
        return False
    last = messages[-1]
    data = last.get("data") or {}
    text = str(last.get("text") or "")
    lines = [line for _, line in NUMBERED_LINE.findall(text)]
    offers = [line for line in lines if not _DECLINE_LINE.match(line)]
    return not data.get("buttons") and bool(MENU_HINT.search(text)) and len(offers) == 1 and lines[0] == offers[0]


def choose_number(dispatcher: CollectingDispatcher, response: str, count: int) -> None:
    """ "请回复 1 到 N 之间的数字" for a list of N, said as "请回复 1" when only one was offered."""
    if count == 1:
        dispatcher.utter_message(response=f"{response}_one")
    else:
        dispatcher.utter_message(response=response, count=str(count))


class ActionAffirm(Action):
    """ "好" / "要的" / "行" outside a question (the rule "affirm outside a question"): after a reply that offered
    exactly one numbered choice it takes that choice, as "1" would; otherwise a short acknowledgement."""

    def name(self) -> str:
        return "action_affirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if single_offer(tracker):
            return menu_choice(dispatcher, tracker, 1)
        dispatcher.utter_message(response="utter_affirm_ack")
        return []


def last_bot_messages(tracker: Tracker) -> list[dict[str, Any]]:
    """The bot's messages of the previous turn (before the latest user message), in order."""
    return previous_bot_messages(tracker.events)


def menu_choice(dispatcher: CollectingDispatcher, tracker: Tracker, number: int | None) -> Events:
    """ "2" after any reply that offered numbered choices picks the second one.

    Buttons (channels without buttons show them as numbers), the entries offered by an unsure
    knowledge answer ("您是不是想问：1. …"), and the numbered examples of a topic menu
    ("您想问哪种保险？比如：1. 长护险怎么申请") all work the same way. A question a safety reply asked
    (utter_palpitations: the body or the feelings) is answered by its own reader (actions/safety.py).
    """
    for event in last_bot_messages(tracker):
        asked = (event.get("metadata") or {}).get("utter_action")
        if asked in QUESTION_ANSWERS:
            return QUESTION_ANSWERS[asked](dispatcher, tracker, number)
    for event in reversed(last_bot_messages(tracker)):
        data = event.get("data") or {}
        buttons = data.get("buttons") or []
        custom = data.get("custom") or {}
        if buttons:
            if number is None or not 1 <= number <= len(buttons):
                break
            intent = str(buttons[number - 1].get("payload", "")).lstrip("/")
            if intent == HANDOFF_INTENT:
                return [FollowupAction(HANDOFF_ACTION)]
            if intent in MENU_RESPONSES:
                dispatcher.utter_message(response=MENU_RESPONSES[intent])
                return []
            break
        choices = custom.get("kb_choices") if isinstance(custom, dict) else None
        if choices:
            if number is not None and 1 <= number <= len(choices):
                return answer_entry(tracker, dispatcher, str(choices[number - 1]))
            break
        text = str(event.get("text") or "")
        lines = dict(NUMBERED_LINE.findall(text)) if MENU_HINT.search(text) else {}
        if lines:
            line = lines.get(str(number)) if number is not None else None
            if line is None:
                choose_number(dispatcher, "utter_menu_choose_number", len(lines))
                return []
            question = re.sub(r"（.*?）", "", line)
            if _DECLINE_LINE.match(question):
                # "2" after "…1. 帮我约助浴 2. 不用了": nothing is booked.
                dispatcher.utter_message(response="utter_offer_declined")
                return []
            if _OFFERED_PERSON.search(question):
                return [FollowupAction(HANDOFF_ACTION)]
            code = find_service(question) if _OFFERED_BOOKING.match(question) else None
            if code is not None:
                # "1" after "想约助浴的话，请回复数字：1. 帮我约助浴": the booking starts with its service.
                return [SlotSet(SERVICE, code), FollowupAction("booking_form")]
            resolved = answer(tracker, question)
            utter_resolved(dispatcher, resolved)
            return resolved.events
    text = raw_text(tracker)
    if number is None and text:
        # Read as a choice but holds no number ("好孤单"): feelings get comfort and what can be done,
        # a question its answer; only what is neither gets "没听明白".
        if comfort(dispatcher, text):
            return []
        resolved = answer(tracker, text)
        if resolved.reply.confident:
            utter_resolved(dispatcher, resolved)
            return resolved.events
    dispatcher.utter_message(response="utter_default")
    return []


class ActionBookingCorrect(TurnEndingAction):
    """ "不对，…" at a read-back or a list of alternatives: apply every field it names, then read back again."""

    def name(self) -> str:
        return "action_booking_correct"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        stage = tracker.get_slot(STAGE)
        if stage in ("reschedule_confirm", "reschedule_choose"):
            return ask_reschedule(dispatcher, tracker, str(tracker.get_slot(TARGET)), owner=owner_slot(tracker))
        if stage in ("cancel_confirm", "cancel_choose"):
            dispatcher.utter_message(response="utter_booking_kept")
            return reset_booking()
        if stage == "change_choose":
            dispatcher.utter_message(response="utter_booking_not_changed")
            return reset_booking()
        text = raw_text(tracker)
        if is_stop(text):
            # "不要了", "覅了", "都不要" read as "no": the senior stops, at the read-back or the free slots alike.
            dispatcher.utter_message(response="utter_booking_stopped")
            return reset_booking()
        now = clock.now()
        when = parse_when(text, now)
        if stage in ("confirm", "choose") and form_question(text):
            # "要填身份证伐", "哪天人少": a question about the booking, not a change to it.
            return answer_in_booking(dispatcher, tracker, text)
        correction = parse_correction(text, when_found=when is not None)
        if not correction and stage in ("confirm", "choose") and looks_like_question(text):
            # "到时候有人提醒伐": answered, then the read-back's question again.
            return answer_in_booking(dispatcher, tracker, text)
        if not correction:
            # "地址写错了" names the field and not the new value: ask for that one.
            named = fields_named(text)
            response = ASK_FIELD.get(named[0]) if len(named) == 1 else None
            dispatcher.utter_message(response=response or "utter_booking_what_to_change")
            return []
        events: Events = []
        if correction.contact:
            events.append(SlotSet(CONTACT, correction.contact))
        if correction.phone:
            events.append(SlotSet(PHONE, correction.phone))
        moves_slot = bool(correction.service or correction.street or correction.when_text)
        if correction.service:
            events.append(SlotSet(SERVICE, correction.service))
        if correction.street:
            events.append(SlotSet(STREET, correction.street))
        if correction.when_text and when is not None and when.ambiguous:
            # "改到下礼拜" or "明天" at night: ask which day, inside the form, then read back again.
            return [
                *events,
                SlotSet(WHEN, None),
                SlotSet(DATE, None),
                SlotSet(OPTIONS, [d.isoformat() for d in when.options] or None),
                SlotSet(WEEK_OF, when.week_of.isoformat() if when.week_of else None),
                SlotSet(QUESTION, when.question),
                SlotSet(STAGE, None),
                SlotSet(SLOT_ID, None),
                SlotSet(CHOICES, None),
                FollowupAction("booking_form"),
            ]
        if correction.when_text and when is not None:
            # "不对，是下午" keeps the day, "改到后天" keeps the time.
            if when.date is not None:
                events.append(SlotSet(DATE, when.date.isoformat()))
            if time_spec(when):
                events.append(SlotSet(TIME, time_spec(when)))
            events.append(SlotSet(WHEN, when.matched))
        if moves_slot:
            # Another service, place or time means another slot: search again and read back.
            return [
                *events,
                SlotSet(STAGE, None),
                SlotSet(SLOT_ID, None),
                SlotSet(CHOICES, None),
                FollowupAction("action_booking_readback"),
            ]
        for event in events:
            tracker.slots[event["name"]] = event["value"]
        if stage == "choose" and tracker.get_slot(CHOICES):
            slots = [store().slot(int(i)) for i in tracker.get_slot(CHOICES) or []]
            utter_changed(dispatcher, correction.contact, correction.phone)
            dispatcher.utter_message(response="utter_booking_choose_time", options=numbered(slots))
            return events
        if tracker.get_slot(SLOT_ID) is not None:
            utter_changed(dispatcher, correction.contact, correction.phone)
            utter_readback(dispatcher, tracker, int_slot(tracker, SLOT_ID))
            return events
        return [*events, FollowupAction("action_booking_readback")]


# The question for a field a correction names without its new value ("地址写错了").
ASK_FIELD = {
    "contact": "utter_booking_change_contact",
    "phone": "utter_booking_change_phone",
    "street": "utter_booking_change_street",
    "when": "utter_booking_change_when",
}


def utter_changed(dispatcher: CollectingDispatcher, contact: str | None, phone: str | None) -> None:
    """ "好的，联系人改成…，电话改成…。": what a correction changed, before the read-back."""
    if contact and phone:
        dispatcher.utter_message(
            response="utter_booking_contact_phone_changed", contact=contact, phone=phone_in_groups(phone)
        )
    elif contact:
        dispatcher.utter_message(response="utter_booking_contact_changed", contact=contact)
    elif phone:
        dispatcher.utter_message(response="utter_booking_phone_changed", phone=phone_in_groups(phone))


def in_form(tracker: Tracker) -> bool:
    """The booking form was asking (a service chosen, nothing read back yet): the stop rule has just ended it."""
    return tracker.get_slot(SERVICE) is not None and tracker.get_slot(STAGE) is None


def form_was_asking(tracker: Tracker) -> str | None:
    """The slot the booking form was asking for before the latest message (the stop rule has just ended the form)."""
    asked = tracker.get_slot(REQUESTED) or previous_value(tracker, REQUESTED)
    loop = None
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "active_loop":
            loop = event.get("name")
            break
    return str(asked) if asked and loop == "booking_form" else None


# What "算了" (or "不要了") stops, said in that flow's own words. A booking being cancelled or moved keeps the booking;
# a question of proactive care (每日平安, a family link's consent, 删除我的信息) is answered "no" by that flow itself;
# a family link code just given is withdrawn. Only a booking being made is "这次先不约了".
_STOP_AT_STAGE = {
    "cancel_confirm": "utter_booking_kept",
    "cancel_choose": "utter_booking_kept",
    "change_choose": "utter_booking_not_changed",
    "reschedule_when": "utter_booking_not_changed",
    "reschedule_confirm": "utter_booking_not_changed",
    "reschedule_choose": "utter_booking_not_changed",
}


def _withdraw_code(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    care().withdraw_code(tracker.sender_id or "")
    dispatcher.utter_message(response="utter_care_family_link_stopped")
    return []


# The bot's last question (its response name) → what stopping right after it does.
_STOP_AFTER = {"utter_care_family_code_given": _withdraw_code}


def last_asked(tracker: Tracker) -> str | None:
    """The response the bot's previous turn ended with."""
    messages = last_bot_messages(tracker)
    return str((messages[-1].get("metadata") or {}).get("utter_action") or "") or None if messages else None


def stop_flow(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events | None:
    """Stop whatever flow is under way that is not the booking form, in its words; None when that is the booking
    form (or its read-back), which says "这次先不约了"."""
    stage = tracker.get_slot(STAGE)
    if stage in _STOP_AT_STAGE:
        dispatcher.utter_message(response=_STOP_AT_STAGE[str(stage)])
        return reset_booking()
    if tracker.get_slot(CARE_STAGE):
        return [FollowupAction("action_care_answer")]  # its own "no": 不删, 先不弄了
    after = _STOP_AFTER.get(last_asked(tracker) or "")
    if after is not None:
        return after(dispatcher, tracker)
    return None


# "不改了", "不取消了", "还是不换了": the change or cancellation under way is not wanted after all.
_DECLINES = re.compile(
    r"^(?:那|还是|那还是)?(?:就)?(?:不|勿|覅|甭|别|不要|不用)(?:改|换|挪|动|取消|退)(?:了|啦)?(?:吧|了|啦|哦)?$"
)


def declines_the_change(tracker: Tracker) -> bool:
    """A cancellation or a move is under way, and the message says not to after all ("不改了", "算了")."""
    if tracker.get_slot(STAGE) not in _STOP_AT_STAGE:
        return False
    text = normalize(unicodedata.normalize("NFKC", raw_text(tracker))).strip().rstrip("。.!！~ ")
    return bool(_DECLINES.match(text)) or is_stop(text)


class ActionBookingStop(TurnEndingAction):
    def name(self) -> str:
        return "action_booking_stop"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        text = raw_text(tracker)
        asking = form_was_asking(tracker)
        if text and not is_stop(text) and asking == SERVICE and asks_what_to_book(text):
            # "那算了 有啥别的上门服务" at the service prompt: not a stop; the form asks again, numbering the services.
            dispatcher.utter_message(response="utter_booking_bookable_only")
            return [FollowupAction("booking_form")]
        if (
            text
            and tracker.get_slot(STAGE) in ("confirm", "choose")
            and not is_stop(text)
            and looks_like_question(text)
        ):
            # "算好了伐" read as a stop: a question, answered; the read-back still waits for "对".
            return answer_in_booking(dispatcher, tracker, text)
        picked = numbered_day_picked(dispatcher, tracker, text) if text and not is_stop(text) else None
        if picked is not None:
            # "你说了算" at the numbered days read as a stop: it picks a day, and the form goes on.
            return [*picked, FollowupAction("booking_form")]
        if text and not is_stop(text) and in_form(tracker) and form_question(text) is not None:
            # "电话么就不留了" read as a stop: what else will do is said (a landline, a relative's number, or
            # "算了"), and the form asks its question again.
            kept = kept_before_question(dispatcher, tracker, text, asked=asking)
            return [*kept, *answer_in_booking(dispatcher, tracker, text), FollowupAction("booking_form")]
        stopped = stop_flow(dispatcher, tracker)
        if stopped is not None:
            return stopped
        if tracker.get_slot(STAGE) in ("confirm", "choose") or in_form(tracker) or asking:
            dispatcher.utter_message(response="utter_booking_stopped")
        else:
            dispatcher.utter_message(response="utter_stop_ack")  # nothing under way: no "这次先不约了"
        return reset_booking()


class ActionAskBookingService(Action):
    """Asks for the service, with the bookable services numbered ("2" picks the second)."""

    def name(self) -> str:
        return "action_ask_booking_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        dispatcher.utter_message(response="utter_ask_booking_service", services=numbered_services())
        return []


class ActionBookingList(TurnEndingAction):
    def name(self) -> str:
        return "action_booking_list"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        elsewhere = misrouted(dispatcher, tracker)
        if elsewhere is not None:
            return elsewhere
        said = parent_asked_about(raw_text(tracker))
        if said is not None:
            return list_for_parent(dispatcher, tracker, said)
        bookings = store().list_for_user(tracker.sender_id or "")
        if not bookings:
            dispatcher.utter_message(response="utter_booking_none")
            return []
        dispatcher.utter_message(
            response="utter_booking_list", count=str(len(bookings)), bookings=numbered_bookings(bookings)
        )
        return []


def list_for_parent(dispatcher: CollectingDispatcher, tracker: Tracker, said: Said) -> Events:
    """ "我妈约了啥": a linked parent's upcoming bookings (what the parent agreed family may see)."""
    decision = decide(care().linked_parents(tracker.sender_id), said)
    if decision.kind == "not_linked" or decision.parent is None:
        response = (
            "utter_booking_for_parent_not_linked_list"
            if decision.kind == "not_linked"
            else "utter_booking_for_parent_which"
        )
        dispatcher.utter_message(response=response, who=who(said.relation))
        return []
    name = who(decision.parent.relation)
    bookings = store().list_for_user(decision.parent.senior)
    if not bookings:
        dispatcher.utter_message(response="utter_booking_none_for_parent", who=name)
        return []
    dispatcher.utter_message(
        response="utter_booking_list_for_parent",
        who=name,
        count=str(len(bookings)),
        bookings=numbered_bookings(bookings),
    )
    return []


def numbered_bookings(bookings: list[Booking]) -> str:
    return "\n".join(f"{i}. {booking_line(b)}" for i, b in enumerate(bookings, start=1))


_DIGIT_RUN = re.compile(r"\d+(?:[ \-]\d+)*")


def said_code(text: str) -> str | None:
    """The booking code said in ``text`` ("385 217", "３８５-２１７", "预约号385217"), or None.

    A code is six digits, whole or read in two groups of three. Longer numbers are something
    else (a mobile 138 1234 5678, a landline 021-56000101, a date 2026-12-10), never a code.
    """
    for run in _DIGIT_RUN.findall(unicodedata.normalize("NFKC", text)):
        groups = re.split(r"[ \-]", run)
        for i, group in enumerate(groups):
            if len(group) == 6:
                candidate = group
            elif len(group) == 3 and i + 1 < len(groups) and len(groups[i + 1]) == 3:
                candidate = group + groups[i + 1]
            else:
                continue
            code = parse_code(candidate)
            if code is not None:
                return code
    return None


@dataclass(frozen=True)
class Target:
    """Which of the user's bookings a message means."""

    booking: Booking | None  # the one meant, when it is clear
    bookings: list[Booking]  # all the user's open bookings, to offer as numbered choices
    unknown_code: str | None = None  # a code the user said that is not one of theirs


def target_booking(tracker: Tracker) -> Target:
    """The booking the user means: the code they said; else the only one, or the latest for "刚才那个".

    A code that is not theirs (or does not exist) is said back as not found; it never falls back
    to another booking, not even to the only one.
    """
    user = tracker.sender_id or ""
    bookings = store().list_for_user(user)
    text = raw_text(tracker)
    code = said_code(text)
    if code is not None:
        mine = next((b for b in bookings if b.code == code), None)
        return Target(mine, bookings, None if mine is not None else code)
    if len(bookings) == 1 or (bookings and re.search(r"刚才|刚刚|最近|那个|这个", text)):
        return Target(max(bookings, key=lambda b: b.created_at), bookings)
    return Target(None, bookings)


def owner_slot(tracker: Tracker) -> str | None:
    """``booking_owner``: a parent's conversation id (or FOR_LINKED) when a family member acts for a parent."""
    value = tracker.get_slot(OWNER)
    return str(value) if value else None


def owner_of(tracker: Tracker, owner: str | None) -> str:
    """Whose bookings a step reads and changes: the speaker's (``owner`` None), or the parent ``owner`` the
    speaker is linked to now; NotLinked otherwise (the link ended meanwhile: nothing of the parent's is read)."""
    sender = tracker.sender_id or ""
    if owner is None:
        return sender
    if owner not in {parent.senior for parent in care().linked_parents(sender)}:
        raise NotLinked("the family member is not linked to the senior whose booking this is")
    return owner


def picked_owner(tracker: Tracker, code: str) -> str | None:
    """The owner of a booking picked from a numbered list: ``booking_owner``, or, from the list of every linked
    parent's bookings (FOR_LINKED), the linked parent whose booking ``code`` is (BookingNotFound if none now)."""
    owner = owner_slot(tracker)
    if owner != FOR_LINKED:
        return owner
    for parent in care().linked_parents(tracker.sender_id or ""):
        if any(b.code == code for b in store().list_for_user(parent.senior)):
            return parent.senior
    raise BookingNotFound(code)


def request_text(tracker: Tracker, intent: str = "reschedule_booking") -> str:
    """What the user typed when they asked for this change (the latest message with ``intent``)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and ((event.get("parse_data") or {}).get("intent") or {}).get("name") == intent:
            return str(event.get("text") or "")
    return ""


def open_booking(tracker: Tracker, code: str, owner: str | None = None) -> Booking:
    """The booking ``code`` of the user (or of the linked parent ``owner``), still active;
    BookingNotFound/BookingClosed/NotLinked (each said as such) otherwise."""
    booking = store().get(code, owner_of(tracker, owner))
    if not booking.active:
        raise BookingClosed(booking)  # cancelled meanwhile (on another channel, by staff)
    return booking


def ask_cancel(dispatcher: CollectingDispatcher, tracker: Tracker, code: str, owner: str | None = None) -> Events:
    """ "要取消这个预约吗？" with the booking read back (date, weekday, number in groups); "对" then cancels it."""
    booking = open_booking(tracker, code, owner)
    if owner is None:
        dispatcher.utter_message(response="utter_booking_cancel_confirm", booking=booking_line(booking))
    else:
        dispatcher.utter_message(
            response="utter_booking_cancel_confirm_for_parent",
            who=who_of(tracker.sender_id, owner),
            booking=booking_line(booking),
        )
    return [SlotSet(STAGE, "cancel_confirm"), SlotSet(TARGET, code), SlotSet(CHOICES, None), SlotSet(OWNER, owner)]


# What a family member reads when a parent's bookings are listed, or there are none: (cancel, move).
_WHICH = ("utter_booking_cancel_which_for_parent", "utter_booking_change_which_for_parent")
_NONE = ("utter_booking_none_to_cancel_for_parent", "utter_booking_none_to_change_for_parent")
# … and when they are linked to several parents and did not say which one.
_WHICH_OF_ALL = ("utter_booking_cancel_which_for_parents", "utter_booking_change_which_for_parents")
_NONE_OF_ALL = ("utter_booking_none_to_cancel_for_parents", "utter_booking_none_to_change_for_parents")
# "明天去不了，改到下礼拜一": the new time follows 改到/换到 …
MOVE_TO = re.compile(r"(?:改到|改成|改在|换到|换成|挪到|推到)(.+)")


def for_parent(dispatcher: CollectingDispatcher, tracker: Tracker, said: Said, *, move: bool) -> Events:
    """ "取消我妈的预约", "帮我妈取消明天的助餐", "我爸那个预约改到下礼拜三": a linked parent's booking.

    One parent meant (:func:`decide`): the booking named by its number, else the only one, else the only one
    of the service and day said; otherwise their bookings as numbered choices. Several parents and no telling
    which: every linked parent's bookings as numbered choices, each saying whose it is. Then the same
    confirmation as the senior's own (:func:`ask_cancel`, :func:`ask_reschedule`). Not linked: said plainly,
    and nothing of anyone's is read.
    """
    parents = care().linked_parents(tracker.sender_id or "")
    decision = decide(parents, said)
    idle = [SlotSet(STAGE, None), SlotSet(CHOICES, None), SlotSet(TARGET, None), SlotSet(OWNER, None)]
    logger.info("Family %s for a parent: %s.", "move" if move else "cancellation", decision.kind)
    if decision.kind == "not_linked":
        dispatcher.utter_message(response="utter_booking_for_parent_not_linked_change", who=who(said.relation))
        return idle
    one = decision.parent
    owned = [
        (parent, booking) for parent in ([one] if one else parents) for booking in store().list_for_user(parent.senior)
    ]
    text = raw_text(tracker)
    code = said_code(text)
    meant: tuple[Parent, Booking] | None = None
    if code is not None:
        meant = next(((parent, b) for parent, b in owned if b.code == code), None)
        if meant is None:
            dispatcher.utter_message(response="utter_booking_code_unknown", code=format_code(code))
    elif one is not None:
        booking = meant_by(text, [b for _, b in owned], move=move)
        meant = (one, booking) if booking is not None else None
    if meant is not None:
        parent, booking = meant
        if move:
            return ask_reschedule(dispatcher, tracker, booking.code, owner=parent.senior)
        return ask_cancel(dispatcher, tracker, booking.code, owner=parent.senior)
    stage = "change_choose" if move else "cancel_choose"
    if one is None:  # several parents, and not told which: all their bookings, each saying whose
        if not owned:
            dispatcher.utter_message(response=_NONE_OF_ALL[move])
            return idle
        lines = "\n".join(f"{i}. {who(p.relation)}：{booking_line(b)}" for i, (p, b) in enumerate(owned, start=1))
        dispatcher.utter_message(response=_WHICH_OF_ALL[move], bookings=lines)
        owner = FOR_LINKED
    else:
        if not owned:
            dispatcher.utter_message(response=_NONE[move], who=who(one.relation))
            return idle
        bookings = numbered_bookings([b for _, b in owned])
        dispatcher.utter_message(response=_WHICH[move], who=who(one.relation), bookings=bookings)
        owner = one.senior
    return [
        SlotSet(STAGE, stage),
        SlotSet(CHOICES, [b.code for _, b in owned]),
        SlotSet(TARGET, None),
        SlotSet(OWNER, owner),
    ]


def meant_by(text: str, bookings: list[Booking], *, move: bool) -> Booking | None:
    """The one booking ``text`` means among ``bookings``: the only one, or the only one of the service and
    the day it names ("取消明天的助餐"; for a move only the day before 改到 counts: "把明天的助浴改到后天").
    None when that does not single one out."""
    if len(bookings) == 1:
        return bookings[0]
    normal = normalize(text)
    service = find_service(normal)
    old = MOVE_TO.split(normal)[0] if MOVE_TO.search(normal) else (None if move else normal)
    when = parse_when(old, clock.now()) if old else None
    day = when.date if when is not None and not when.ambiguous else None
    if service is None and day is None:
        return None
    fitting = [
        b
        for b in bookings
        if (service is None or b.slot.service == service)
        and (day is None or b.slot.start.astimezone(SHANGHAI).date() == day)
    ]
    return fitting[0] if len(fitting) == 1 else None


class ActionBookingCancel(TurnEndingAction):
    def name(self) -> str:
        return "action_booking_cancel"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if declines_the_change(tracker):
            return stop_flow(dispatcher, tracker) or []  # "不取消了" (read as a cancellation): the booking stays
        elsewhere = misrouted(dispatcher, tracker)
        if elsewhere is not None:
            return elsewhere
        said = parent_asked_about(raw_text(tracker))
        if said is not None:
            return for_parent(dispatcher, tracker, said, move=False)
        target = target_booking(tracker)
        if target.booking is not None:
            return ask_cancel(dispatcher, tracker, target.booking.code)
        if target.unknown_code is not None:
            dispatcher.utter_message(response="utter_booking_code_unknown", code=format_code(target.unknown_code))
        if not target.bookings:
            dispatcher.utter_message(response="utter_booking_none_to_cancel")
            return [SlotSet(STAGE, None), SlotSet(CHOICES, None), SlotSet(OWNER, None)]
        dispatcher.utter_message(response="utter_booking_cancel_which", bookings=numbered_bookings(target.bookings))
        return [
            SlotSet(STAGE, "cancel_choose"),
            SlotSet(CHOICES, [b.code for b in target.bookings]),
            SlotSet(OWNER, None),
        ]


def ask_reschedule(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    code: str,
    slot_id: int | None = None,
    day: dt.date | None = None,
    *,
    owner: str | None = None,
    text: str | None = None,
) -> Events:
    """The new time for booking ``code`` (of the user, or of the linked parent ``owner``): read back for a "对".

    The time is read from ``text`` (the latest message unless given): after 改到/换到 …, else the whole of it.
    An unclear day is asked with numbered days; none said, the time is asked for; a full one offers the nearest.
    """
    booking = open_booking(tracker, code, owner)
    # utter_message's extra keyword arguments fill the response's {placeholders}: for a parent's booking, whose.
    whose: dict[str, Any] = {"who": who_of(tracker.sender_id, owner)} if owner is not None else {}
    said_now = raw_text(tracker) if text is None else text
    if slot_id is None:
        now = clock.now()
        time: str | None = None
        if day is None:
            target_part = MOVE_TO.search(said_now)
            when = (parse_when(target_part.group(1), now) if target_part else None) or parse_when(said_now, now)
            if when is not None and when.ambiguous:
                dispatcher.utter_message(text=str(when.question))
                return [
                    SlotSet(STAGE, "reschedule_when"),
                    SlotSet(TARGET, code),
                    SlotSet(OPTIONS, [d.isoformat() for d in when.options] or None),
                    SlotSet(QUESTION, when.question),
                    SlotSet(CHOICES, None),
                    SlotSet(OWNER, owner),
                ]
            if when is None or when.date is None:
                dispatcher.utter_message(
                    response="utter_booking_reschedule_when_for_parent" if whose else "utter_booking_reschedule_when",
                    booking=booking_line(booking),
                    **whose,
                )
                return [
                    SlotSet(STAGE, "reschedule_when"),
                    SlotSet(TARGET, code),
                    SlotSet(CHOICES, None),
                    SlotSet(OWNER, owner),
                ]
            day, time = when.date, time_spec(when)
        else:
            when = parse_when(said_now, now)
            time = time_spec(when) if when else None
        start, end, exact = window(day.isoformat(), time)
        slot = booking.slot
        free = [
            s
            for s in store().find_slots(slot.service, start, end, street=slot.street, only_free=True)
            if s.id != slot.id
        ]
        if exact is not None:
            free.sort(key=lambda s: abs(s.start - exact))
        if not free:
            alternatives = store().alternatives(slot.service, exact or middle(start, end), street=slot.street, n=3)
            wanted = describe_wanted(day.isoformat(), time)
            full = offer(
                dispatcher, alternatives, "reschedule_choose", FULL, service=service_name(slot.service), wanted=wanted
            )
            return [
                SlotSet(TARGET, code),
                SlotSet(OPTIONS, None),
                SlotSet(QUESTION, None),
                SlotSet(OWNER, owner),
                *full,
            ]
        slot_id = free[0].id
    new = store().slot(slot_id)
    dispatcher.utter_message(
        response="utter_booking_reschedule_confirm_for_parent" if whose else "utter_booking_reschedule_confirm",
        code=booking.display_code,
        service=service_name(booking.slot.service),
        old=describe_slot(booking.slot),
        new=describe_slot(new),
        place=resource_name(new),
        **whose,
    )
    return [
        SlotSet(STAGE, "reschedule_confirm"),
        SlotSet(TARGET, code),
        SlotSet(SLOT_ID, float(slot_id)),
        SlotSet(CHOICES, None),
        SlotSet(OPTIONS, None),
        SlotSet(QUESTION, None),
        SlotSet(OWNER, owner),
    ]


class ActionBookingReschedule(TurnEndingAction):
    def name(self) -> str:
        return "action_booking_reschedule"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if declines_the_change(tracker):
            return stop_flow(dispatcher, tracker) or []  # "不改了" (read as a move for its 改): the booking stays
        code = tracker.get_slot(TARGET) if tracker.get_slot(STAGE) == "reschedule_when" else None
        # Still about the same booking, whoever's it is (a parent's: checked again at every step).
        owner = owner_slot(tracker) if code is not None else None
        pending = [dt.date.fromisoformat(d) for d in tracker.get_slot(OPTIONS) or []]
        if code is not None and pending:
            chosen = choose_option(raw_text(tracker), pending, clock.now())
            if chosen is not None:
                return ask_reschedule(dispatcher, tracker, str(code), day=chosen, owner=owner)
        if code is None:
            elsewhere = misrouted(dispatcher, tracker)
            if elsewhere is not None:
                return elsewhere
            said = parent_asked_about(raw_text(tracker))
            if said is not None:
                return for_parent(dispatcher, tracker, said, move=True)
            target = target_booking(tracker)
            if target.booking is None:
                if target.unknown_code is not None:
                    dispatcher.utter_message(
                        response="utter_booking_code_unknown", code=format_code(target.unknown_code)
                    )
                if target.bookings:
                    dispatcher.utter_message(
                        response="utter_booking_change_which", bookings=numbered_bookings(target.bookings)
                    )
                else:
                    dispatcher.utter_message(response="utter_booking_none_to_change")
                return []
            code = target.booking.code
        return ask_reschedule(dispatcher, tracker, str(code), owner=owner)
