"""What the booking actions share: the store, slot names, and how dates, slots and bookings are written.

Sentences a senior reads live in domain/booking.yml (``utter_booking_*``); this module only formats
the values they are filled with (a date and weekday, a slot, one booking on one line).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions import clock
from bookings.catalog import SHANGHAI, Catalog, default_catalog
from bookings.store import Booking, BookingStore, Slot
from bookings.timeparse import When, describe_date, describe_time

logger = logging.getLogger(__name__)

# Slots the user fills (the form asks for them in this order) …
SERVICE, WHEN, STREET, CONTACT, PHONE, NOTES = (
    "booking_service",
    "booking_when",
    "booking_street",
    "booking_contact",
    "booking_phone",
    "booking_notes",
)
# … and slots only the actions set.
OPTIONS, WEEK_OF, QUESTION = "booking_when_options", "booking_week_of", "booking_when_question"
DATE, TIME, STAGE, SLOT_ID, CHOICES, TARGET = (
    "booking_date",
    "booking_time",
    "booking_stage",
    "booking_slot_id",
    "booking_choices",
    "booking_target",
)
# Whose booking this is: a linked parent's conversation id ("帮我妈约…", actions/family_booking.py), or
# FOR_SELF (a parent named but not linked: the speaker's own), or FOR_STOP (stopped, the reason already said).
FOR_PARENT, FOR_SELF, FOR_STOP = "booking_for", "self", "stop"
# Whose booking a cancellation or a move is about: None, the speaker's own; a linked parent's conversation id
# ("取消我妈的预约"); or FOR_LINKED while a family member linked to several parents picks one of all their bookings.
OWNER, FOR_LINKED = "booking_owner", "linked"
FORM_SLOTS = (SERVICE, WHEN, STREET, CONTACT, PHONE, NOTES, DATE, TIME, OPTIONS, WEEK_OF, QUESTION)
STATE_SLOTS = (STAGE, SLOT_ID, CHOICES, TARGET, FOR_PARENT, OWNER)
WEEKDAYS = "一二三四五六日"

_store: BookingStore | None = None
_store_lock = threading.Lock()
_schedule_day: dt.date | None = None


def store() -> BookingStore:
    """The process-wide booking store, with sample schedules for the next 60 days."""
    global _store, _schedule_day
    with _store_lock:
        if _store is None:
            _store = BookingStore()
            # Reminders are written in each booking's own transaction (care/scheduler.py).
            from care.scheduler import attach_reminders

            attach_reminders(_store)
        today = clock.now().date()
        if _schedule_day != today:
            added = _store.ensure_schedule(today)
            logger.info("Booking schedule ready for %s (%d new slots).", today, added)
            _schedule_day = today
        return _store


def catalog() -> Catalog:
    return default_catalog()


def service_name(code: str) -> str:
    return catalog().service(code).name


def resource_name(slot: Slot) -> str:
    return catalog().service(slot.service).resource(slot.resource).name


def time_spec(when: When) -> str | None:
    """The time part of a parsed expression as the ``booking_time`` slot keeps it: "HH:MM" or "HH:MM-HH:MM"."""
    if when.start is None:
        return None
    return when.start.strftime("%H:%M") + (f"-{when.end:%H:%M}" if when.end else "")


def describe_day(day: dt.date) -> str:
    """12月2日（星期三）: the date and the weekday, so a misunderstanding shows at once (and 农历 when it was said)."""
    return describe_date(day)


def describe_wanted(date: str, time: str | None, *, lunar: bool = False) -> str:
    """What the senior asked for, read back: "12月2日（星期三）上午", "12月2日（星期三）下午3点",
    "12月2日（星期三）下午2点到4点之间" (for 两三点), "12月2日（星期三）半夜12点"."""
    text = describe_date(dt.date.fromisoformat(date), lunar=lunar)
    if not time:
        return text
    first, _, last = time.partition("-")
    end = dt.time.fromisoformat(last) if last else None
    return text + describe_time(dt.time.fromisoformat(first), end)


# A day said by the lunar calendar is read back with its lunar name too.
LUNAR_SAID = re.compile(
    r"农历|阴历|初[一二三四五六七八九十]|廿|腊月|正月|冬月|春节|元宵|端午|七夕|中秋|八月半|重阳|腊八|小年|除夕|年三十|大年"
)


def said_lunar(when_text: object) -> bool:
    return bool(LUNAR_SAID.search(str(when_text or "")))


def describe_slot(slot: Slot, *, lunar: bool = False) -> str:
    day = slot.start.astimezone(SHANGHAI)
    end = slot.end.astimezone(SHANGHAI)
    return f"{describe_date(day.date(), lunar=lunar)}{day:%H:%M}–{end:%H:%M}"


def numbered(slots: list[Slot]) -> str:
    return "\n".join(f"{i}. {describe_slot(s)}，{resource_name(s)}" for i, s in enumerate(slots, start=1))


def booking_line(booking: Booking) -> str:
    slot = booking.slot
    return f"{service_name(slot.service)}，{describe_slot(slot)}，{resource_name(slot)}，预约号 {booking.display_code}"


def reset_booking() -> list[dict[str, Any]]:
    return [SlotSet(name, None) for name in (*FORM_SLOTS, *STATE_SLOTS)]


def latest_user_event(tracker: Tracker) -> dict[str, Any]:
    return next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})


def raw_text(tracker: Tracker) -> str:
    """What the user typed (the parse data carries the normalized text)."""
    return str(latest_user_event(tracker).get("text") or tracker.latest_message.get("text") or "")


def message_id(tracker: Tracker) -> str:
    return str(latest_user_event(tracker).get("message_id") or "")
