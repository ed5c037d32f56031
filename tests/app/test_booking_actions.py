"""Booking actions tell a senior the truth, about the booking they mean.

- A locked or unreachable database is "系统忙" (Unavailable), never "没找到" (a Refusal).
- A booking code that is not theirs is said back as not found; it never falls back to another booking.
- A phone number in the message is not a booking code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_common, clock
from actions.bookings import (
    ActionBookingCancel,
    ActionBookingChoose,
    ActionBookingConfirm,
    ActionBookingList,
    ActionBookingReadback,
    ActionBookingReschedule,
    chosen_number,
    target_booking,
)
from bookings.catalog import SHANGHAI
from bookings.store import Booking, BookingStore, StoreUnavailable, format_code
from tests.app.domain_support import said

SENDER = "booking-actions-test"
TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime.combine(TODAY, dt.time(8), SHANGHAI)


def tracker(slots: dict[str, Any], text: str = "对", sender: str = SENDER) -> Tracker:
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": "affirm"}}, "message_id": "m1"}]
    return Tracker(
        sender, slots, {"text": text, "intent": {"name": "affirm"}}, events, False, None, {}, "action_listen"
    )


@dataclass
class Booked:
    path: Path
    store: BookingStore
    first: Booking
    slot_ids: list[int]  # free bath slots the day after tomorrow, for more bookings and for moving one


@pytest.fixture
def booked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Booked]:
    path = tmp_path / "bookings.sqlite"
    monkeypatch.setenv("YINLING_SQLITE_BUSY_MS", "200")
    ticks = itertools.count()  # the store's clock moves a second per call, so bookings are made one after another
    store = BookingStore(f"sqlite:///{path}", clock=lambda: NOW + dt.timedelta(seconds=next(ticks)))
    store.ensure_schedule(TODAY)
    monkeypatch.setattr(clock, "now", lambda: NOW)
    start = dt.datetime.combine(TODAY + dt.timedelta(days=2), dt.time(9), SHANGHAI)
    slots = store.find_slots("bath", start, start + dt.timedelta(hours=8), street="顾村镇", only_free=True)
    booking = store.book(slots[0].id, SENDER, "张秀英", "13812345678")
    monkeypatch.setattr(booking_common, "_store", store)
    monkeypatch.setattr(booking_common, "_schedule_day", TODAY)
    yield Booked(path, store, booking, [s.id for s in slots[1:]])
    store.dispose()


def run(action: Any, slots: dict[str, Any], text: str = "对") -> tuple[list[str], list[dict[str, Any]]]:
    """What the senior reads, and the events the action returns."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker(slots, text), {}))
    return [said(m) for m in dispatcher.messages], events


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


class Locked:
    """Someone else holds the SQLite write lock (as a long write or a stuck process would)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, *_: object) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


# -- Unavailable is "busy", a Refusal is "not found" -----------------------------------------


def test_cancelling_while_the_database_is_locked_says_busy_not_not_found(booked: Booked) -> None:
    stage = {"booking_stage": "cancel_confirm", "booking_target": booked.first.code}
    with Locked(booked.path):
        texts, events = run(ActionBookingConfirm(), stage)
    assert responses_of(texts) == ["busy"], texts
    assert "系统忙" in texts[0] and "12345" in texts[0] and "没找到" not in texts[0]
    assert "booking_stage" not in slot_events(events), "the pending cancellation is kept"
    # Nothing was lost: once the lock is gone, the same answer cancels.
    texts, _ = run(ActionBookingConfirm(), stage)
    assert any("已经帮您取消" in t for t in texts), texts


def test_rescheduling_while_the_store_is_unavailable_says_busy_not_not_found(
    booked: Booked, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: object, **__: object) -> Booking:
        raise StoreUnavailable("the booking database did not answer")

    monkeypatch.setattr(booked.store, "reschedule", down)
    stage = {
        "booking_stage": "reschedule_confirm",
        "booking_target": booked.first.code,
        "booking_slot_id": float(booked.slot_ids[0]),
    }
    texts, events = run(ActionBookingConfirm(), stage)
    assert responses_of(texts) == ["busy"], texts
    assert "booking_stage" not in slot_events(events)


def test_rescheduling_while_the_database_is_locked_says_busy(booked: Booked) -> None:
    stage = {
        "booking_stage": "reschedule_confirm",
        "booking_target": booked.first.code,
        "booking_slot_id": float(booked.slot_ids[0]),
    }
    with Locked(booked.path):
        texts, _ = run(ActionBookingConfirm(), stage)
    assert responses_of(texts) == ["busy"], texts
    texts, _ = run(ActionBookingConfirm(), stage)
    assert any("改好了" in t for t in texts), texts


def test_booking_while_the_database_is_locked_says_busy_and_keeps_the_readback(booked: Booked) -> None:
    stage = {
        "booking_stage": "confirm",
        "booking_slot_id": float(booked.slot_ids[0]),
        "booking_contact": "李建国",
        "booking_phone": "13912345678",
    }
    with Locked(booked.path):
        texts, events = run(ActionBookingConfirm(), stage)
    assert responses_of(texts) == ["busy"], texts
    assert slot_events(events) == {}, "nothing the senior said is reset"
    texts, _ = run(ActionBookingConfirm(), stage)
    assert any("约好了" in t for t in texts), texts


def test_the_form_submit_with_the_database_down_says_busy(booked: Booked, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: object, **__: object) -> list[Any]:
        raise StoreUnavailable("the booking database did not answer")

    monkeypatch.setattr(booked.store, "find_slots", down)
    form = {"booking_service": "bath", "booking_date": (TODAY + dt.timedelta(days=3)).isoformat()}
    texts, events = run(ActionBookingReadback(), form, text="13912345678")
    assert responses_of(texts) == ["busy"], texts
    assert "booking_service" not in slot_events(events)


def test_a_cancel_of_a_booking_that_is_not_there_is_said_to_be_not_found(booked: Booked) -> None:
    texts, _ = run(ActionBookingConfirm(), {"booking_stage": "cancel_confirm", "booking_target": "900001"})
    assert any("没找到" in t for t in texts) and not any("系统忙" in t for t in texts), texts


def test_a_reschedule_of_a_cancelled_booking_is_refused_not_busy(booked: Booked) -> None:
    booked.store.cancel(booked.first.code, SENDER)
    stage = {
        "booking_stage": "reschedule_confirm",
        "booking_target": booked.first.code,
        "booking_slot_id": float(booked.slot_ids[0]),
    }
    texts, _ = run(ActionBookingConfirm(), stage)
    assert any("改不了" in t for t in texts) and not any("系统忙" in t for t in texts), texts


def test_an_unreachable_database_is_busy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKINGS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/nothing")
    monkeypatch.setattr(booking_common, "_store", None)
    texts, _ = run(ActionBookingList(), {"booking_stage": None}, text="我约了啥")
    assert responses_of(texts) == ["busy"], texts


def test_asking_to_cancel_with_the_database_down_is_busy(booked: Booked, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: object, **__: object) -> list[Booking]:
        raise StoreUnavailable("the booking database did not answer")

    monkeypatch.setattr(booked.store, "list_for_user", down)
    for action, text in ((ActionBookingCancel(), f"取消{booked.first.code}"), (ActionBookingReschedule(), "改到后天")):
        texts, _ = run(action, {}, text=text)
        assert responses_of(texts) == ["busy"], texts


def responses_of(texts: list[str]) -> list[str]:
    """ "busy" for the busy reply, else the text itself (to read in a failing assertion)."""
    return ["busy" if t == said({"response": "utter_busy"}) else t for t in texts]


# -- which booking is meant -------------------------------------------------------------------


def second_booking(booked: Booked) -> Booking:
    return booked.store.book(booked.slot_ids[0], SENDER, "张秀英", "13812345678")


@pytest.mark.parametrize(
    "said_as", ["取消{code}", "取消 {spaced}", "预约号{wide}不要了", "把{dashed}取消掉", "取消刚才那个{code}"]
)
def test_a_code_the_user_said_is_the_booking_meant(booked: Booked, said_as: str) -> None:
    other = second_booking(booked)
    code = other.code
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)  # full-width digits
    text = said_as.format(code=code, spaced=format_code(code), wide=wide, dashed=f"{code[:3]}-{code[3:]}")
    target = target_booking(tracker({}, text))
    assert target.booking is not None and target.booking.code == code, text
    assert target.unknown_code is None


def test_a_code_that_does_not_exist_never_falls_back_to_the_only_booking(booked: Booked) -> None:
    missing = "987654" if booked.first.code != "987654" else "987655"
    target = target_booking(tracker({}, f"取消{missing}"))
    assert target.booking is None and target.unknown_code == missing
    texts, events = run(ActionBookingCancel(), {}, text=f"取消刚才那个{format_code(missing)}")
    assert "没找到预约号" in texts[0] and format_code(missing) in texts[0], texts
    stage = slot_events(events)
    assert stage.get("booking_stage") == "cancel_choose", "the senior chooses; nothing is cancelled by guess"
    assert stage.get("booking_target") is None


def test_a_code_of_someone_elses_booking_is_not_found(booked: Booked) -> None:
    theirs = booked.store.book(booked.slot_ids[0], "someone-else", "王桂芳", "13912345678")
    target = target_booking(tracker({}, f"取消{theirs.code}"))
    assert target.booking is None and target.unknown_code == theirs.code


def test_a_reschedule_with_an_unknown_code_asks_which_and_says_not_found(booked: Booked) -> None:
    missing = "987654" if booked.first.code != "987654" else "987655"
    texts, events = run(ActionBookingReschedule(), {}, text=f"把{missing}改到后天下午")
    assert "没找到预约号" in texts[0], texts
    assert booked.first.display_code in texts[1], "the senior's own bookings are listed with their codes"
    assert slot_events(events) == {}, "no booking is taken as the one meant"


def test_a_phone_number_is_not_a_booking_code(booked: Booked) -> None:
    second_booking(booked)
    for text in ("取消预约，我电话13812345678", "取消 138 1234 5678 的预约", "取消，座机021-56000101"):
        target = target_booking(tracker({}, text))
        assert target.booking is None and target.unknown_code is None, text
        assert len(target.bookings) == 2
    texts, events = run(ActionBookingCancel(), {}, text="取消预约，我电话13812345678")
    assert "您要取消哪一个" in texts[0] and slot_events(events)["booking_stage"] == "cancel_choose", texts


def test_the_only_booking_is_meant_when_no_code_is_said(booked: Booked) -> None:
    texts, events = run(ActionBookingCancel(), {}, text="取消预约，我电话13812345678")
    assert "要取消这个预约吗" in texts[0] and booked.first.display_code in texts[0], texts
    assert slot_events(events)["booking_target"] == booked.first.code


def test_the_latest_is_meant_by_just_now(booked: Booked) -> None:
    later = second_booking(booked)
    assert target_booking(tracker({}, "取消刚才那个")).booking == later
    assert target_booking(tracker({}, "取消预约")).booking is None, "two bookings and no hint: ask"


def test_choosing_a_booking_that_was_cancelled_meanwhile_is_not_found(booked: Booked) -> None:
    other = second_booking(booked)
    choices = {"booking_stage": "cancel_choose", "booking_choices": [booked.first.code, other.code]}
    booked.store.cancel(other.code, SENDER)  # on another channel, say
    texts, events = run(ActionBookingChoose(), choices, text="2")
    assert texts == [said({"response": "utter_booking_gone"})], texts
    assert slot_events(events)["booking_stage"] is None


# -- every number a numbered offer shows is taken (issue 10) -------------------------------------------------------


def after_offer(offer: str, text: str, intent: str = "choose") -> Tracker:
    """The tracker when ``text`` answers the bot's previous message ``offer``."""
    events = [
        {"event": "user", "text": "助浴是咋回事", "parse_data": {"intent": {"name": "ask_care_service"}}},
        {"event": "bot", "text": offer, "data": {}},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}},
    ]
    message = {"text": text, "intent": {"name": intent}}
    return Tracker(SENDER, {}, message, events, False, None, {}, "action_listen")


def offered(response: str, **values: str) -> str:
    from tests.app.domain_support import DOMAIN, fill

    return fill(DOMAIN["responses"][response][0]["text"], values)


@pytest.mark.parametrize("service", ["助浴", "助餐", "上门护理", "认知障碍筛查", "日间照料试托", "老邮所乐旅游线"])
@pytest.mark.parametrize("text", ["2", "二", "第二个", "２", "选2", "2吧"])
def test_the_second_line_of_a_booking_offer_declines_it(service: str, text: str) -> None:
    from actions.bookings import menu_choice

    dispatcher = CollectingDispatcher()
    number = chosen_number(text)
    events = menu_choice(dispatcher, after_offer(offered("utter_offer_booking", service=service), text), number)
    assert events == [] and [m.get("response") for m in dispatcher.messages] == ["utter_offer_declined"], text


@pytest.mark.parametrize("service", ["助浴", "认知障碍筛查", "日间照料试托"])
def test_the_first_line_or_a_yes_after_a_booking_offer_starts_that_booking(service: str) -> None:
    from actions.bookings import ActionAffirm, menu_choice

    offer = offered("utter_offer_booking", service=service)
    events = menu_choice(CollectingDispatcher(), after_offer(offer, "1"), 1)
    assert {"event": "followup", "name": "booking_form", "timestamp": None} in events
    code = next(e["value"] for e in events if e.get("name") == "booking_service")
    events = asyncio.run(ActionAffirm().run(CollectingDispatcher(), after_offer(offer, "好的", "affirm"), {}))
    assert next(e["value"] for e in events if e.get("name") == "booking_service") == code


def test_the_unwell_offer_takes_both_its_numbers() -> None:
    from actions.bookings import menu_choice

    offer = offered("utter_care_answer_unwell")
    events = menu_choice(CollectingDispatcher(), after_offer(offer, "1"), 1)
    assert events == [{"event": "followup", "name": "action_handoff", "timestamp": None}]
    events = menu_choice(CollectingDispatcher(), after_offer(offer, "2"), 2)
    assert {"event": "slot", "name": "booking_service", "value": "home_care", "timestamp": None} in events


@pytest.mark.parametrize("text", ["3", "0"])
def test_a_number_an_offer_did_not_show_names_the_numbers_it_did(text: str) -> None:
    from actions.bookings import menu_choice

    dispatcher = CollectingDispatcher()
    menu_choice(dispatcher, after_offer(offered("utter_offer_booking", service="助浴"), text), int(text))
    assert [said(m) for m in dispatcher.messages] == ["请回复 1 到 2 之间的数字，或者直接说您想问什么。"]
    one = "关于「长护险」，还可以问：\n1. 长护险怎么申请\n请回复数字。"
    dispatcher = CollectingDispatcher()
    menu_choice(dispatcher, after_offer(one, text), int(text))
    assert [said(m) for m in dispatcher.messages] == ["请回复 1，或者直接说您想问什么。"]


def test_a_reply_at_the_numbered_days_read_as_a_stop_picks_a_day_and_the_form_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actions.bookings import ActionBookingStop

    monkeypatch.setattr(clock, "now", lambda: NOW)
    slots = {"booking_service": "bath", "booking_when_options": ["2026-12-02", "2026-12-03"]}
    messages, events = run(ActionBookingStop(), slots, "你说了算")
    assert {"event": "slot", "name": "booking_date", "value": "2026-12-02", "timestamp": None} in events
    assert events[-1] == {"event": "followup", "name": "booking_form", "timestamp": None}
    assert messages == ["好的，那就约12月2日（星期三）。"]


def test_a_refusal_of_a_field_read_as_a_stop_says_what_else_will_do() -> None:
    from actions.bookings import ActionBookingStop

    messages, events = run(ActionBookingStop(), {"booking_service": "bath"}, "电话么就不留了")
    assert "座机" in messages[0] and "算了" in messages[0]
    assert events[-1] == {"event": "followup", "name": "booking_form", "timestamp": None}
    messages, events = run(ActionBookingStop(), {"booking_service": "bath"}, "算了不约了")
    assert messages == ["好的，这次先不约了。有需要随时再找我。"]
