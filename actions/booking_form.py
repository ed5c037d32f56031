"""validate_booking_form: check and merge what the user said into the booking slots.

Rasa's form (domain/booking.yml, ``booking_form``) asks for the service, the time, the street or
town, the contact name and a mobile number; this action checks each answer. A correction
such as "不对，是下午" only replaces what it names: the date already given stays.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

import phonenumbers
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.booking_common import CONTACT, DATE, PHONE, STREET, TIME, WHEN, catalog, raw_text, service_name, time_spec
from bookings.catalog import SHANGHAI
from bookings.timeparse import parse_when
from yinling.places import find_street

BOOKING_HORIZON_DAYS = 60
CONTACT_PREFIX = re.compile(r"^(联系人|名字|姓名)?(是|叫|写|就写|写成)?|^(我叫|我是|就写|写)")
SELF_WORDS = ("我自己", "就是我", "我本人", "本人")
# Replies that are not a name, though they pass the length check.
NOT_NAMES = frozenset(
    {"你好", "您好", "谢谢", "好的", "对的", "不对", "不知道", "没有", "可以", "再见", "你好啊", "是的"}
)
# Notes worth passing to the service, recognised in anything the user says during the form.
NOTE_PATTERNS = {
    "坐轮椅": re.compile(r"轮椅"),
    "认知障碍（记性不好）": re.compile(r"认知障碍|老年痴呆|痴呆|糊涂|记性不好|失智"),
    "需要女性护理员": re.compile(r"女(护工|护理员|的|阿姨)|要女的"),
    "需要男性护理员": re.compile(r"男(护工|护理员|的)|要男的"),
    "卧床": re.compile(r"卧床|瘫痪|起不了床"),
    "听力不好": re.compile(r"耳朵(背|不好)|听力不好|听不清"),
}


def clean_phone(text: str) -> str | None:
    """A valid mainland mobile number in ``text`` (spaces, dashes, full-width, +86 allowed)."""
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", text))
    for candidate in re.findall(r"(?:\+?86)?1\d{10}", digits):
        number = phonenumbers.parse(candidate, "CN")
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            return str(number.national_number)
    return None


def clean_contact(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text).strip(" ，。,.!！?？")
    if any(word in text for word in SELF_WORDS):
        return "本人"
    name = CONTACT_PREFIX.sub("", text).strip(" ，。,.:：")
    if not 2 <= len(name) <= 20 or not any(ch.isalpha() for ch in name) or any(ch.isdigit() for ch in name):
        return None
    if name in NOT_NAMES:
        return None
    return name


def notes_in(text: str, current: str | None) -> str | None:
    found = [label for label, pattern in NOTE_PATTERNS.items() if pattern.search(text)]
    existing = [n for n in (current or "").split("；") if n]
    merged = existing + [n for n in found if n not in existing]
    return "；".join(merged) or None


class ValidateBookingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_booking_form"

    def validate_booking_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value in catalog().services:
            return {"booking_service": value}  # already checked (the form re-validates on re-activation)
        code = catalog().find_service(str(value or "")) or catalog().find_service(raw_text(tracker))
        if code is None:
            names = "、".join(service_name(c) for c in catalog().services)
            dispatcher.utter_message(text=f"这个服务我这里约不了。可以约的有：{names}。")
            return {"booking_service": None}
        return {"booking_service": code}

    def validate_booking_when(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        now = dt.datetime.now(SHANGHAI)
        when = parse_when(str(value or ""), now) or parse_when(raw_text(tracker), now)
        if when is None:
            dispatcher.utter_message(text="这个时间我没听明白。")
            return {WHEN: None}
        # Merge with what was said before: "不对，是下午" keeps the day, "换到后天" keeps the time.
        date = when.date.isoformat() if when.date else tracker.get_slot(DATE)
        time = time_spec(when) or tracker.get_slot(TIME)
        if date is None:
            # The form asks again; action_ask_booking_when asks for the day only.
            return {WHEN: None, TIME: time}
        day = dt.date.fromisoformat(date)
        if day < now.date():
            dispatcher.utter_message(text=f"{day.month}月{day.day}日已经过去了，请换一天。")
            return {WHEN: None, DATE: None, TIME: time}
        if day > now.date() + dt.timedelta(days=BOOKING_HORIZON_DAYS):
            dispatcher.utter_message(text=f"只能约{BOOKING_HORIZON_DAYS}天以内的，请换一天。")
            return {WHEN: None, DATE: None, TIME: time}
        return {WHEN: str(value or when.matched), DATE: date, TIME: time}

    def validate_booking_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        street = find_street(str(value or "")) or find_street(raw_text(tracker))
        if street is None:
            dispatcher.utter_message(text="这个地方我没听明白，请说宝山区的街道或者镇，比如“顾村镇”“友谊路街道”。")
        return {STREET: street}

    def validate_booking_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = clean_contact(str(value or ""))
        if name is None:
            phone = clean_phone(str(value or ""))
            if phone is not None:
                # The number came before the name: keep it, and ask for the name again.
                dispatcher.utter_message(text="电话记下了。")
                return {CONTACT: None, PHONE: phone}
            dispatcher.utter_message(text="请告诉我联系人的名字，比如“张秀英”。")
        return {CONTACT: name}

    def validate_booking_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        phone = clean_phone(str(value or "")) or clean_phone(raw_text(tracker))
        if phone is None:
            dispatcher.utter_message(text="这个号码好像不对。请说11位的手机号，比如 138 1234 5678。")
        return {PHONE: phone}
