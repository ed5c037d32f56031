"""validate_booking_form: check and merge what the user said into the booking slots.

Rasa's form (domain/booking.yml, ``booking_form``) asks for the service, the time, the street
or town, the contact name and a mobile number; this action checks each answer for what it is,
on the text the user typed (not only on what the classifier extracted):

- a value counts for the slot that was asked for; a value for another slot, picked up from an
  answer to a different question (a 5号 inside the address 盘古路100弄5号, a surname-looking word),
  is kept only if the typed text really states it, else the earlier value stays;
- a question typed at any prompt ("要带啥材料啊") is answered, and the prompt is asked again;
- "算了" always stops the booking;
- a correction such as "不对，是下午" only replaces what it names: the date already given stays.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import clock
from actions.booking_common import (
    CONTACT,
    DATE,
    FOR_PARENT,
    FOR_STOP,
    OPTIONS,
    PHONE,
    QUESTION,
    SERVICE,
    STAGE,
    STREET,
    TIME,
    WEEK_OF,
    WHEN,
    catalog,
    describe_day,
    raw_text,
    time_spec,
)
from actions.family_booking import start_for_parent
from actions.knowledge import answer_in_booking, entry_about
from actions.understand import (
    clean_contact,
    clean_phone,
    form_question,
    is_stop,
    looks_like_question,
    named_contact,
    without_phone,
)
from bookings.timeparse import ASK_DAY, any_will_do, choose_option, parse_when
from common.contacts import phone_in_groups
from common.errors import Unavailable
from common.followups import aspect_of, topic_words
from common.turns import slot_before_latest_user
from textnorm import normalize
from yinling.places import SHORT_FORMS, SOUND_ALIKE, find_street

logger = logging.getLogger(__name__)

BOOKING_HORIZON_DAYS = 60
REQUESTED = "requested_slot"
STOPPED = "stopped"
# Said with a value for another slot: "联系人是…", "我叫…", "电话…" state the field outright.
_STATES_CONTACT = re.compile(r"联系人|联络人|名字|姓名|我叫")
# Notes worth passing to the service, recognised in anything the user says during the form.
NOTE_PATTERNS = {
    "坐轮椅": re.compile(r"轮椅"),
    "认知障碍（记性不好）": re.compile(r"认知障碍|老年痴呆|痴呆|糊涂|记性不好|失智"),
    "需要女性护理员": re.compile(r"女(护工|护理员|的|阿姨)|要女的"),
    "需要男性护理员": re.compile(r"男(护工|护理员|的)|要男的"),
    "卧床": re.compile(r"卧床|瘫痪|起不了床"),
    "听力不好": re.compile(r"耳朵(背|不好)|听力不好|听不清"),
}


def notes_in(text: str, current: str | None) -> str | None:
    found = [label for label, pattern in NOTE_PATTERNS.items() if pattern.search(text)]
    existing = [n for n in (current or "").split("；") if n]
    merged = existing + [n for n in found if n not in existing]
    return "；".join(merged) or None


def fresh_message(tracker: Tracker, form: str) -> bool:
    """No action but the form itself has run since the latest user message.

    (Rasa validates with a tracker that ends in the form's own ``action`` event, so the latest
    action's name alone cannot tell a fresh message from a return to the form after an answer.)
    """
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "action" and event.get("name") not in (form, "action_listen", None):
            return False
    return False


def previous_value(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the latest user message (the form may have just overwritten it)."""
    return slot_before_latest_user(tracker.events, slot)


class ValidateBookingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_booking_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        # Rasa also runs this action when the form resumes after another action answered
        # (a knowledge question mid-form); only a fresh message is read for stopping and questions.
        text = raw_text(tracker) if fresh_message(tracker, self.form_name()) else ""
        if text and is_stop(text):
            # The form ends here; action_booking_readback sees the stage and says goodbye.
            return [SlotSet(REQUESTED, None), SlotSet(STAGE, STOPPED)]
        try:
            # "帮我妈约…": whose booking this is, said once (actions/family_booking.py).
            for_parent = start_for_parent(dispatcher, tracker, text) if text else None
        except Unavailable as err:
            logger.warning("Booking for a parent not decided: %s", type(err).__name__)
            dispatcher.utter_message(response="utter_busy")
            return [SlotSet(REQUESTED, None), SlotSet(STAGE, STOPPED), SlotSet(FOR_PARENT, FOR_STOP)]
        if for_parent is not None and any(e.get("name") == STAGE for e in for_parent):
            return for_parent  # cannot tell which parent: stopped, the reason said
        requested = tracker.get_slot(REQUESTED)
        # (Rasa may have put the typed text in the service slot already: only a catalog code counts as chosen.)
        if text and tracker.get_slot(SERVICE) not in catalog().services and requested in (None, SERVICE):
            thing = unbookable_thing(text)
            if thing is not None:
                # "帮我约个理发": not a service of this assistant; the form stops with where to ask said.
                return [
                    *not_bookable(dispatcher, thing),
                    SlotSet(REQUESTED, None),
                    SlotSet(STAGE, STOPPED),
                    SlotSet(FOR_PARENT, FOR_STOP),
                ]
            if requested == SERVICE and asks_what_to_book(text):
                # "有啥别的上门服务" at the service prompt: the form asks again, its prompt numbering the services.
                dispatcher.utter_message(response="utter_booking_bookable_only")
                return [SlotSet(SERVICE, None)]
        events: list[dict[str, Any]] = [*(for_parent or []), *await super().run(dispatcher, tracker, domain)]
        asked_filled = any(e.get("name") == requested and e.get("value") is not None for e in events)
        if text and requested and _asks(text, asked_filled, requested):
            # A question at a prompt: answer it (about the form itself, or from the entry of the service being
            # booked); the form then asks its question again, and nothing the question held is kept.
            dispatcher.messages[:] = [m for m in dispatcher.messages if m.get("response") not in _UNCLEAR]
            return [*_undo_values(tracker, events), *answer_in_booking(dispatcher, tracker, text)]
        if text and requested is None:
            question = question_in_request(text)
            service = next((e.get("value") for e in reversed(events) if e.get("name") == SERVICE), None)
            service = service or tracker.get_slot(SERVICE)
            if question is not None and service in catalog().services:
                # "订个助餐 多少钱一顿": the booking goes on, and the question is answered from the service's entry.
                dispatcher.messages[:] = [m for m in dispatcher.messages if m.get("response") not in _UNCLEAR]
                return [*events, *answer_in_booking(dispatcher, tracker, question, service=str(service))]
        noted = _noted(tracker, events) if text and requested and not asked_filled else ""
        if noted:
            # Other values came instead of the one asked for ("王根宝 139…" at the day question): say what was
            # taken, not "没听明白"; the form then asks only for what is still missing.
            dispatcher.messages[:] = [m for m in dispatcher.messages if m.get("response") not in _UNCLEAR]
            dispatcher.utter_message(response="utter_booking_noted", what=noted)
        return events

    # -- extraction from the typed text, beside the classifier's entities ---------------------
    # The classifier's entity tagger sometimes misses a value ("联系人冯秀兰" tagged as a phone) or
    # the message's intent keeps Rasa's from_text mapping away; what the senior typed still counts.

    def _typed(self, tracker: Tracker, slot: str) -> str | None:
        """The fresh message's text, when ``slot`` is still empty or is the one asked for."""
        if not fresh_message(tracker, self.form_name()):
            return None
        if tracker.get_slot(slot) is not None and not self._asked(tracker, slot):
            return None
        return raw_text(tracker) or None

    async def extract_booking_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not fresh_message(tracker, self.form_name()):
            return {}
        text = raw_text(tracker)
        # Asked for: the name in the answer. Not asked: only a name the message states ("联系人王根宝",
        # "阿拉老头子叫王根宝", "不对，名字是…") or lists beside other values ("住大场 王根宝 139…").
        name = (clean_contact(text) if self._asked(tracker, CONTACT) else None) or named_contact(text)
        return {CONTACT: name} if name else {}

    async def extract_booking_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._typed(tracker, PHONE)
        phone = clean_phone(text) if text else None
        return {PHONE: phone} if phone else {}

    async def extract_booking_street(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._typed(tracker, STREET)
        street = find_street(text) if text else None
        return {STREET: street} if street else {}

    async def extract_booking_service(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._typed(tracker, SERVICE)
        code = find_service_in(text) if text else None
        if code is None and text and self._asked(tracker, SERVICE):
            code = numbered_service(text)  # "2" at the numbered services
        return {SERVICE: code} if code else {}

    async def extract_booking_when(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # A day said in the message that started the booking ("过两天帮我约助浴") counts even when the
        # classifier tagged no time in it; validate_booking_when reads the whole message. At the day question, a
        # vague answer the classifier keeps from the slot (等我儿子回来, 开春以后) reaches it too, to be asked about.
        text = self._typed(tracker, WHEN)
        if text is None or tracker.get_slot(WHEN) is not None:
            return {}
        when = parse_when(text, clock.now())
        if when is None or (self._asked(tracker, WHEN) and not when.ambiguous):
            return {}
        return {WHEN: text}

    @staticmethod
    def _asked(tracker: Tracker, slot: str) -> bool:
        return bool(tracker.get_slot(REQUESTED) == slot)

    def validate_booking_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value in catalog().services:
            return {SERVICE: value}  # already checked (the form re-validates on re-activation)
        code = find_service_in(raw_text(tracker)) or find_service_in(str(value or ""))
        if code is None and self._asked(tracker, SERVICE):
            code = numbered_service(raw_text(tracker))
        if code is None:
            if not self._asked(tracker, SERVICE):
                return {SERVICE: previous_value(tracker, SERVICE)}
            text = raw_text(tracker)
            # A day, a place or a number typed before the service is settled is kept by its own slot; the
            # form asks for the service again without repeating "约不了".
            says_other = bool(
                parse_when(text, clock.now()) or find_street(text) or clean_phone(text) or clean_contact(text)
            )
            if not looks_like_question(text) and not says_other:
                dispatcher.utter_message(response="utter_booking_service_unknown")
            return {SERVICE: None}
        return {SERVICE: code}

    def validate_booking_when(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value and tracker.get_slot(DATE) and not fresh_message(tracker, self.form_name()):
            return {WHEN: value}  # already checked (the form re-validates what it holds when it starts again)
        now = clock.now()
        text = raw_text(tracker)
        asked = self._asked(tracker, WHEN)
        pending = [dt.date.fromisoformat(d) for d in tracker.get_slot(OPTIONS) or []]
        week_of = tracker.get_slot(WEEK_OF)
        chosen = choose_option(_choice_text(text), pending, now) if asked and pending else None
        # The whole message, not the extracted piece: "下礼拜五" must keep its 下, and a 5号 in an
        # address is not a date (the parser knows addresses).
        when = parse_when(text, now, week_of=dt.date.fromisoformat(week_of) if week_of and asked else None)
        if chosen is not None:
            time = (time_spec(when) if when else None) or tracker.get_slot(TIME)
            return _picked(dispatcher, chosen, time, text, now)
        if when is None and asked and value and str(value) != text:
            when = parse_when(str(value), now, context=text)
        if when is not None and not asked and _house_number(when.matched, text, tracker):
            # "住月浦 9号", "友谊路 5号": a house number, not the 9th; the day said before stays.
            return {WHEN: previous_value(tracker, WHEN)}
        if when is None:
            if not asked:
                return {WHEN: previous_value(tracker, WHEN)}
            if not looks_like_question(text) and not tracker.get_slot(QUESTION):
                dispatcher.utter_message(response="utter_booking_when_unclear")
            return {WHEN: None}
        time = time_spec(when) or tracker.get_slot(TIME)
        if when.ambiguous and asked and pending and when.question == ASK_DAY and _only(when.matched, text):
            # "改天", "回头", "过几天" at the numbered days says nothing new: the same days are asked again.
            dispatcher.utter_message(response="utter_booking_pick_day")
            return {WHEN: None}
        if when.ambiguous and asked and pending and not (when.options or when.week_of) and looks_like_question(text):
            # "哪天人少" while numbered days are offered: a question, not a new day; the days are asked again.
            return {WHEN: None}
        if when.ambiguous:
            # Ask instead of guessing (下礼拜 with no day, 过两天, "明天" at 2 a.m.): action_ask_booking_when asks it.
            return {
                WHEN: None,
                DATE: None,
                TIME: time,
                OPTIONS: [d.isoformat() for d in when.options] or None,
                WEEK_OF: when.week_of.isoformat() if when.week_of else None,
                QUESTION: when.question,
            }
        # Merge with what was said before: "不对，是下午" keeps the day, "换到后天" keeps the time.
        date = when.date.isoformat() if when.date else tracker.get_slot(DATE)
        if date is None:
            # The form asks again; action_ask_booking_when asks for the day only.
            return {WHEN: None, TIME: time}
        return self._checked(dispatcher, date, time, when.matched or text, now)

    @staticmethod
    def _checked(
        dispatcher: CollectingDispatcher, date: str, time: str | None, said: str, now: dt.datetime
    ) -> dict[str, Any]:
        """A day within the booking horizon, or the reason it is not, said with its date and weekday."""
        day = dt.date.fromisoformat(date)
        cleared = {OPTIONS: None, WEEK_OF: None, QUESTION: None}
        if day < now.date():
            dispatcher.utter_message(response="utter_booking_day_past", day=describe_day(day))
            return {WHEN: None, DATE: None, TIME: time, **cleared}
        if day > now.date() + dt.timedelta(days=BOOKING_HORIZON_DAYS):
            dispatcher.utter_message(
                response="utter_booking_day_too_far", day=describe_day(day), days=str(BOOKING_HORIZON_DAYS)
            )
            return {WHEN: None, DATE: None, TIME: time, **cleared}
        return {WHEN: said, DATE: date, TIME: time, **cleared}

    def validate_booking_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        street = find_street(raw_text(tracker)) or find_street(str(value or ""))
        if street is None:
            if not self._asked(tracker, STREET):
                return {STREET: previous_value(tracker, STREET)}
            if not looks_like_question(raw_text(tracker)):
                dispatcher.utter_message(response="utter_booking_street_unclear")
        return {STREET: street}

    def validate_booking_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = raw_text(tracker)
        if not self._asked(tracker, CONTACT):
            # A person entity in an answer to another question ("周老师叫我约的") is no contact; a name the
            # message states or lists beside other values is.
            return {CONTACT: named_contact(text) or previous_value(tracker, CONTACT)}
        name = clean_contact(text) or named_contact(text)
        if name is None and value and str(value) != text:
            name = clean_contact(str(value))
        if name is not None:
            return {CONTACT: name}
        phone = clean_phone(text)
        if phone is not None:
            # The number came before the name: keep it (run() says so), and ask for the name again.
            return {CONTACT: None, PHONE: phone}
        if not looks_like_question(text):
            dispatcher.utter_message(response="utter_booking_contact_invalid")
        return {CONTACT: None}

    def validate_booking_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        phone = clean_phone(raw_text(tracker)) or clean_phone(str(value or ""))
        if phone is None:
            if not self._asked(tracker, PHONE):
                return {PHONE: previous_value(tracker, PHONE)}
            if not looks_like_question(raw_text(tracker)):
                dispatcher.utter_message(response="utter_booking_phone_invalid")
        return {PHONE: phone}


def _picked(
    dispatcher: CollectingDispatcher, day: dt.date, time: str | None, text: str, now: dt.datetime
) -> dict[str, Any]:
    """A day picked from the numbered days, checked; "随便"/"你定吧" took the first one, which is said back."""
    result = ValidateBookingForm._checked(dispatcher, day.isoformat(), time, text, now)
    if result.get(DATE) and any_will_do(_choice_text(text)):
        dispatcher.utter_message(response="utter_booking_day_any", day=describe_day(day))
    return result


def reply_at_numbered_days(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str
) -> list[dict[str, Any]] | None:
    """A reply to the numbered days that the classifier took for a question or small talk ("看着办吧", "哪个都行",
    "改天吧"): the day it picks, or the same days asked again (the form asks them); None for a real question."""
    if tracker.get_slot(REQUESTED) != WHEN or not tracker.get_slot(OPTIONS):
        return None
    picked = numbered_day_picked(dispatcher, tracker, text)
    if picked is not None:
        return picked
    if looks_like_question(text) or form_question(text, WHEN) is not None:
        return None
    dispatcher.utter_message(response="utter_booking_pick_day")
    return []


def numbered_day_picked(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> list[dict[str, Any]] | None:
    """The slots for the numbered day a reply picks ("2", "礼拜四", "你定吧"), checked and, for "any", said back;
    None when it picks none of them (or none is pending)."""
    pending = [dt.date.fromisoformat(d) for d in tracker.get_slot(OPTIONS) or []]
    now = clock.now()
    chosen = choose_option(_choice_text(text), pending, now) if pending else None
    if chosen is None:
        return None
    when = parse_when(text, now)
    time = (time_spec(when) if when else None) or tracker.get_slot(TIME)
    return [SlotSet(slot, value) for slot, value in _picked(dispatcher, chosen, time, text, now).items()]


# What the form says when the value asked for is not in the message: not said when other values were taken.
_UNCLEAR = frozenset(
    {
        "utter_booking_when_unclear",
        "utter_booking_street_unclear",
        "utter_booking_contact_invalid",
        "utter_booking_phone_invalid",
        "utter_booking_service_unknown",
    }
)


def _noted(tracker: Tracker, events: list[dict[str, Any]]) -> str:
    """The values this message gave for other slots, as a senior reads them: "联系人王根宝、电话139 1234 5678"."""
    said: list[str] = []
    for slot, label in ((STREET, "地点"), (CONTACT, "联系人"), (PHONE, "电话")):
        value = next((e.get("value") for e in reversed(events) if e.get("name") == slot), None)
        if value is None or value == previous_value(tracker, slot):
            continue
        said.append(label + (phone_in_groups(str(value)) if slot == PHONE else str(value)))
    return "、".join(said)


def _asks(text: str, asked_filled: bool, requested: str | None = None) -> bool:
    """A question at a prompt: about the form itself ("为啥要名字", even with a place in it: "顾村也要填伐"), or a
    question that gives no value ("明天上午可以吗?" answers the day question). "顾村有吗" at the street prompt asks
    whether the service is there: a street said with 有吗/有伐 is a question, not the answer."""
    if form_question(text, requested) is not None:
        return True
    if not looks_like_question(text):
        return False
    plain = unicodedata.normalize("NFKC", text)
    if (find_street(plain) and _ASKS_WHETHER.search(plain)) or _ASKS_OPEN.search(plain):
        return True
    return not asked_filled and not _says_value(text)


# "顾村有吗", "大场有伐", "罗店那边有没有": whether the service is there, asked with a place in it.
_ASKS_WHETHER = re.compile(r"(?:有|开|办)(?:吗|伐|哇|不|没有|嘛)\W*$|有没有|有伐|阿有")


# "礼拜天开门伐", "夜里开伐": whether it is open then, asked with a day or a time in it.
_ASKS_OPEN = re.compile(r"开门|开伐|开吗|开不开|营业|上班|关门|休息")


def _undo_values(tracker: Tracker, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with every value the question seemed to hold put back as it was before the message."""
    kept: list[dict[str, Any]] = []
    for event in events:
        name = event.get("name")
        if event.get("event") == "slot" and name in (STREET, CONTACT, PHONE, WHEN, DATE, TIME):
            kept.append(SlotSet(str(name), previous_value(tracker, str(name))))
        else:
            kept.append(event)
    return kept


def _says_value(text: str) -> bool:
    """A message that also gives a value ("明天上午可以吗?") is an answer, not only a question."""
    return bool(parse_when(text) or clean_phone(text) or find_street(text))


def _after(text: str, marker: re.Pattern[str]) -> str:
    """The clause that states the field: "住在顾村，联系人冯秀兰，手机…" → "联系人冯秀兰"."""
    match = marker.search(text)
    rest = text[match.start() :] if match else text
    return re.split(r"[，,。；;、\s]", rest, maxsplit=1)[0]


def find_service_in(text: str) -> str | None:
    """The service a message names; also with a measure word inside it ("订个饭" → 订饭, "洗个澡" → 洗澡)."""
    return catalog().find_service(text) or catalog().find_service(
        re.sub(r"(?<=[\u4e00-\u9fff])一?个(?=[\u4e00-\u9fff])", "", text)
    )


# A place said with a house number: a road, a lane, a building, a room, or a street or town of Baoshan.
_ADDRESS_WORDS = re.compile(r"路|街|弄|巷|村|镇|楼|室|栋|幢|门牌|小区|新村|公寓|苑")
_BARE_DAY = re.compile(r"\s*\d{1,2}\s*[号日]\s*")


def _house_number(matched: str, text: str, tracker: Tracker) -> bool:
    """The day found is only a number with 号 said with a place, or said when the place was asked for."""
    if not _BARE_DAY.fullmatch(unicodedata.normalize("NFKC", matched or "")):
        return False
    return tracker.get_slot(REQUESTED) == STREET or bool(_ADDRESS_WORDS.search(text) or find_street(text))


def _only(said: str, text: str) -> bool:
    """The message says nothing but ``said`` (and a filler or two): "过几天吧", not "哪天人少"."""
    return len(re.sub(r"[\s吧呀啊了的呢嘛哦噢。.!！,，~～]", "", text)) <= len(said) + 1


def _choice_text(text: str) -> str:
    """What is left to pick a numbered day from once a phone number and a contact's name are taken out
    ("2 王根宝 139…" → "2"; "②" → "2")."""
    rest = without_phone(text)
    name = named_contact(text)
    return rest.replace(name, " ") if name else rest


# ---- what can be booked here --------------------------------------------------------------------------------


def numbered_services(prefix: str = "") -> str:
    """The bookable services, numbered in the catalog's order ("1. 助浴"; with ``prefix`` "约": "1. 约助浴")."""
    return "\n".join(f"{i}. {prefix}{service.name}" for i, service in enumerate(catalog().services.values(), start=1))


def numbered_service(text: str) -> str | None:
    """The service a bare number picks from :func:`numbered_services` ("2", "２", "第二个" → the second), else None."""
    plain = unicodedata.normalize("NFKC", text).strip().rstrip("。.!！ ")
    match = re.fullmatch(r"(?:第)?(\d{1,2})(?:个|号|样)?", plain)
    codes = list(catalog().services)
    if match and 1 <= int(match[1]) <= len(codes):
        return codes[int(match[1]) - 1]
    return None


# "有啥别的上门服务", "那还有啥能约的", "有哪些可以约", "上门的有啥", "侬这里能约点啥": what can be booked here.
_ASKS_BOOKABLE = re.compile(
    r"(?:啥|什么|哪些|哪几样|哪样|几样|别的|其他|其它)(?:别的|其他|其它)?的?(?:服务|能约|可以约|好约|上门|项目)|"
    r"(?:能|可以|好)(?:约|预约|订)(?:点|些)?(?:啥|什么|哪些|哪几样|几样)|"
    r"(?:上门|约)的?(?:有|是)(?:啥|什么|哪些|哪几样)|还有(?:别的|其他|其它)|(?:别的|其他|其它)服务"
)


def asks_what_to_book(text: str) -> bool:
    return bool(_ASKS_BOOKABLE.search(normalize(text)))


# A request to book something ("帮我约个理发"): the booking verb, and the words around the thing asked for.
_BOOK_REQUEST = re.compile(r"预约|约|订|报名|登记|安排")
_RELATIONS = re.compile(
    r"老伴|老头子|老头|老太婆|老太太|老太|爸爸|妈妈|爷爷|奶奶|外婆|外公|阿爸|姆妈|儿子|女儿|囡囡|孙子|孙女|家里人|老人家|老人|我妈|我爸"
)
_AROUND_THING = re.compile(
    r"帮忙|帮|给|替|麻烦|请|我们|我家|阿拉|我|侬|你|您|他|她|伊|想要|想|要|需要|一下|一个人|一个|一位|一趟|一次|一|个人|个|位|趟|次|"
    r"上门来|上门|到家里|到家|来家里|家里|过来|师傅|阿姨|服务|预约|约|订|报名|登记|安排|能不能|可以|好伐|行伐|的|了|吧|呀|啊|哦|嘛|下"
)
# What a request says when it names no thing ("帮我约个服务", "我要约一下", "约个时间").
_NOTHING_NAMED = re.compile(r"(?:点|些|东西|事情|事|时间|日子|号|啥|什么|哪个|哪样|别的|其他)*")
_ASKS = re.compile(r"[?？]|吗|呢|啥|什么|哪|几|多少|怎么|咋|哪能")


def unbookable_thing(text: str) -> str | None:
    """What a booking request asks for when it is no service of this assistant ("帮我约个理发" → 理发), else None:
    also None for a request that names a service, names nothing ("帮我约个服务"), or asks a question."""
    plain = normalize(unicodedata.normalize("NFKC", text))
    if not _BOOK_REQUEST.search(plain) or find_service_in(plain) is not None or _ASKS.search(plain):
        return None
    when = parse_when(plain, clock.now())
    if when is not None and when.matched:
        plain = plain.replace(when.matched, " ")
    street = find_street(plain)
    if street is not None:
        for form in sorted(
            (street, *(f for f, name in {**SHORT_FORMS, **SOUND_ALIKE}.items() if name == street)),
            key=len,
            reverse=True,
        ):
            plain = plain.replace(form, " ")
    rest = _AROUND_THING.sub(" ", _RELATIONS.sub(" ", plain))
    rest = re.sub(r"[^\u4e00-\u9fff]+", "", rest)
    if len(rest) < 2 or len(rest) > 8 or _NOTHING_NAMED.fullmatch(rest):
        return None
    if _near_a_service(rest):
        return None  # "约个护理", "帮我约个人来照顾": a service in other words; the form asks which
    return rest


def _near_a_service(thing: str) -> bool:
    """``thing`` shares two characters in a row with a bookable service's name or alias (护理 → 上门护理)."""
    runs = {thing[i : i + 2] for i in range(len(thing) - 1)}
    words = [normalize(w) for service in catalog().services.values() for w in (service.name, *service.aliases)]
    return any(run in word for run in runs for word in words)


def not_bookable(dispatcher: CollectingDispatcher, thing: str) -> list[dict[str, Any]]:
    """Say that ``thing`` cannot be booked here, what can (numbered: "1" books it), and where to ask about it: the
    knowledge base's entry when one is about it, else the hotline and the street's service centre."""
    found = entry_about(thing)
    services = numbered_services("约")
    if found is None:
        dispatcher.utter_message(response="utter_booking_not_bookable", thing=thing, services=services)
        return []
    dispatcher.utter_message(response="utter_booking_not_bookable_see_entry", thing=thing, services=services)
    return found(dispatcher)


# Clauses of a booking request: "帮我约明天上午助浴 要带啥东西伐" is the booking, then a question.
_CLAUSES = re.compile(r"[\s，,。；;！!？?]+|顺便|另外|还想问|再问|还有")


def question_in_request(text: str) -> str | None:
    """A question asked beside a booking ("订个助餐 多少钱一顿" → 多少钱一顿), not a value given as a question
    ("明天上午可以吗"), else None."""
    plain = normalize(unicodedata.normalize("NFKC", text))
    clauses = [c for c in _CLAUSES.split(plain) if c]
    if len(clauses) == 1:
        # "帮我约助浴要带啥": what follows the service's name.
        code = find_service_in(plain)
        names = [w for w in (catalog().service(code).name, *catalog().service(code).aliases)] if code else []
        at = max((plain.rfind(normalize(w)) + len(normalize(w)) for w in names if normalize(w) in plain), default=-1)
        clauses = [plain[at:]] if 0 <= at < len(plain) else []
    for clause in clauses:
        if _BOOK_REQUEST.search(clause) and (find_service_in(clause) is not None or aspect_of(clause) is None):
            continue  # the booking itself ("帮我约明天上午助浴"), not "要提前几天订"
        if aspect_of(clause) is not None or (
            looks_like_question(clause) and not _says_value(clause) and len(topic_words(clause)) >= 2
        ):
            return clause
    return None


# ---- a value, then a question about another field ("张秀英 电话不想给") ------------------------------------------

# Where the question about another field begins: that field's words, or a refusal or a "why" said without them.
_OTHER_FIELD = {
    CONTACT: re.compile(r"电话|手机|号码|座机|联系方式|地址|住址|街道|住在|住哪"),
    PHONE: re.compile(r"名字|姓名|叫啥|叫什么|地址|住址|街道|住在|住哪"),
    STREET: re.compile(r"名字|姓名|电话|手机|号码|座机|联系方式"),
}
_QUESTION_STARTS = re.compile(r"[不勿]想|不方便|不愿|不肯|不给|不留|没有?|为啥|为什么|干嘛|一定|可以不|能不能不|我不")
_LABELS = {CONTACT: "联系人", PHONE: "电话", STREET: "地点"}


def kept_before_question(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, asked: str | None = None
) -> list[dict[str, Any]]:
    """The value a message gives for the slot asked (``asked``, else the form's requested slot) before it asks about
    another field ("张秀英 电话不想给" at the name prompt keeps 张秀英), said back; nothing when it holds no such value."""
    asked = asked or tracker.get_slot(REQUESTED)
    other = _OTHER_FIELD.get(str(asked))
    if other is None:
        return []
    plain = unicodedata.normalize("NFKC", text)
    cuts = [m.start() for pattern in (other, _QUESTION_STARTS) if (m := pattern.search(plain))]
    if not cuts or min(cuts) == 0:
        return []
    head = re.sub(r"[\s，,。.;；、]*(?:我|阿拉|侬)?[\s，,。.;；、]*$", "", plain[: min(cuts)])
    if asked == CONTACT:
        value = clean_contact(head) or named_contact(head)
    elif asked == PHONE:
        value = clean_phone(head)
    else:
        value = find_street(head)
    if not value:
        return []
    shown = phone_in_groups(value) if asked == PHONE else value
    dispatcher.utter_message(response="utter_booking_noted", what=f"{_LABELS[str(asked)]}{shown}")
    return [SlotSet(str(asked), value)]
