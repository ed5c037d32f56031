"""A linked family member books for a parent in chat ("帮我妈约个助浴"): the booking form as usual, the booking the
parent's, the read-back and the confirmation saying so, the parent told through the care outbox in the booking's
own transaction, reminders to the parent and the family; not linked → how to link; "我妈约了啥" → her bookings.

And cancels or moves a parent's booking ("帮我妈取消明天的助餐", "我爸那个预约改到下礼拜三", "取消我妈的预约"):
the parent's bookings as numbered choices, the read-back naming whose booking it is, the change written after
"对" with the link checked again in its transaction and the parent told through the outbox; two parents → which
one, by their bookings; not linked, or a link ended meanwhile → said plainly, nothing changed; a busy database →
"系统忙", never "没找到"."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.proactive as proactive
from actions import booking_common, clock
from actions.booking_form import ValidateBookingForm
from actions.bookings import (
    ActionBookingCancel,
    ActionBookingChoose,
    ActionBookingConfirm,
    ActionBookingCorrect,
    ActionBookingList,
    ActionBookingReadback,
    ActionBookingReschedule,
    ActionBookingStop,
)
from actions.family_booking import Decision, Said, decide, parent_asked_about, parent_said, relation_named
from bookings.catalog import SHANGHAI
from bookings.store import Booking, BookingStore, bookings_table
from care.config import CareSettings
from care.db import CareDB, jobs, outbox
from care.errors import CareUnavailable
from care.outbox import Worker
from care.scheduler import Scheduler, attach_reminders
from care.senders import Senders, TelegramSender
from care.service import Care, NotLinked, Parent
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis
from tests.app.domain_support import DOMAIN, said

MUM, DAD, SON, STRANGER = "telegram:9001", "telegram:9002", "telegram:9003", "telegram:9004"
TODAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(
    ("text", "relation"),
    [
        ("帮我妈约个助餐", "母亲"),
        ("给我爸订个上门理发", "父亲"),
        ("替我父亲约公证", "父亲"),
        ("帮我母亲预约明天下午助浴", "母亲"),
        ("给我老妈报个名助餐", "母亲"),
        ("我想帮我爸约个上门护理", "父亲"),
        ("为我家老人约个助浴", None),
        ("帮我爸妈约个体检", None),
        ("我妈想约个助浴", "母亲"),
        ("帮阿拉姆妈约个助浴", "母亲"),  # Shanghainese
        ("帮我奶奶约日间照料", "奶奶"),
        ("給我媽約個助餐", "母亲"),  # traditional characters
    ],
)
def test_booking_for_a_parent_is_read_from_the_phrasing(text: str, relation: str | None) -> None:
    assert parent_said(text) == Said(relation)


@pytest.mark.parametrize(
    "text",
    [
        "帮我约个助浴",
        "我想约个助餐",
        "给我老伴约个助浴",
        "帮老人约",
        "我妈刚去世，遗产怎么办",
        "约个助餐，我儿子陪我去",
    ],
)
def test_booking_for_oneself_is_not_read_as_for_a_parent(text: str) -> None:
    assert parent_said(text) is None


def test_questions_about_a_parent_and_link_requests_name_the_relation() -> None:
    assert parent_asked_about("看看我妈的预约") == Said("母亲")
    assert parent_asked_about("我爸约了哪些") == Said("父亲")
    assert parent_asked_about("我约了啥") is None
    assert relation_named("我要绑定我妈") == "母亲"
    assert relation_named("我想和我爸绑定") == "父亲"
    assert relation_named("绑定 385 217") is None


def test_the_parent_is_found_among_the_links() -> None:
    mum, dad, old = Parent(MUM, "母亲"), Parent(DAD, "父亲"), Parent("telegram:1", None)
    assert decide([], Said("母亲")) == Decision("not_linked")
    assert decide([mum, dad], Said("父亲")) == Decision("parent", dad)
    assert decide([dad], Said("母亲")) == Decision("not_linked"), "the father is linked, not the mother"
    assert decide([dad, old], Said("母亲")) == Decision("parent", old), "the one link of unknown relation"
    assert decide([old], Said(None)) == Decision("parent", old)
    assert decide([mum, dad], Said(None)) == Decision("which")
    assert decide([old, Parent("telegram:2", None)], Said("母亲")) == Decision("which")


# -- the conversation, on the actions the server runs --------------------------------------------------


@dataclass
class World:
    clock: FakeClock
    store: BookingStore
    care: Care
    apis: FakeApis

    def link(self, senior: str, family: str, asked: str) -> None:
        code = self.care.family_code(family, relation_named(asked))
        self.care.give_consent(senior, "family")
        self.care.family_confirm(senior, code)

    def tick(self) -> None:
        Scheduler(self.care.db, self.care.settings).run_once()
        Worker(self.care.db, Senders({"telegram:": TelegramSender("1:TEST", self.apis.telegram_base)})).run_once()

    def telegram(self, address: str) -> list[str]:
        return self.apis.texts("telegram", to=address.removeprefix("telegram:"))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fake = FakeClock(dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
    url = f"sqlite:///{tmp_path / 'bookings.sqlite'}"
    store = BookingStore(url, clock=fake)
    store.ensure_schedule(TODAY, days=14)  # through next week ("下礼拜三")
    attach_reminders(store, CareSettings())
    care = Care(CareDB(url, clock=fake), CareSettings())
    monkeypatch.setattr(clock, "now", lambda: fake().astimezone(SHANGHAI))
    monkeypatch.setattr(booking_common, "_store", store)
    monkeypatch.setattr(booking_common, "_schedule_day", TODAY)
    monkeypatch.setattr(proactive, "_care", care)
    with fake_apis() as apis:
        yield World(fake, store, care, apis)
    care.db.dispose()
    store.dispose()


def _tracker(sender: str, text: str, slots: dict[str, Any], intent: str = "book_service") -> Tracker:
    values = {name: None for name in DOMAIN["slots"]}
    values.update(slots)
    user = {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}, "message_id": f"m-{text}"}
    events: list[dict[str, Any]] = [user, {"event": "action", "name": "booking_form"}]
    return Tracker(sender, values, {"text": text, "intent": {"name": intent}}, events, False, None, {}, "booking_form")


def _run(
    action: Action, sender: str, text: str, slots: dict[str, Any], intent: str = "book_service"
) -> tuple[list[str], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, _tracker(sender, text, slots, intent), DOMAIN))
    values = {**slots, "hotline": "12345"}
    return [said(m, values) for m in dispatcher.messages], {
        e["name"]: e["value"] for e in events if e.get("event") == "slot"
    }


def _filled(world: World, for_parent: str | None) -> dict[str, Any]:
    """The form's slots once everything is given (bath, the day after tomorrow at 14:00, 顾村镇)."""
    return {
        "booking_service": "bath",
        "booking_when": "后天下午两点",
        "booking_date": (TODAY + dt.timedelta(days=2)).isoformat(),
        "booking_time": "14:00",
        "booking_street": "顾村镇",
        "booking_contact": "王秀英",
        "booking_phone": "13912345678",
        "booking_for": for_parent,
    }


def test_a_linked_son_books_for_his_mother_and_she_is_told_and_reminded(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    world.link(DAD, SON, "我要绑定我爸")
    world.tick()  # the "linked" notices
    # The request: the form starts; the booking will be the mother's.
    texts, slots = _run(ValidateBookingForm(), SON, "帮我妈约个助浴", {"requested_slot": None})
    assert texts == [said({"response": "utter_booking_for_parent_ack", "who": "您母亲"})]
    assert slots["booking_for"] == MUM
    # The read-back says for whom, first.
    texts, slots = _run(ActionBookingReadback(), SON, "王秀英 13912345678", _filled(world, MUM), "inform")
    assert texts[0] == "这次是替您母亲约的，预约记在您母亲名下，您母亲会收到通知和提醒。"
    assert texts[1].startswith("请您核对一下")
    confirm = {**_filled(world, MUM), **slots}
    texts, slots = _run(ActionBookingConfirm(), SON, "对", confirm, "affirm")
    assert texts[0].startswith("替您母亲约好了！预约号：") and "已经告诉您母亲了" in texts[0]
    assert slots["booking_for"] is None, "the next booking starts afresh"

    # The booking is hers: her list, her "去不了了"; none is his.
    [booking] = world.store.list_for_user(MUM)
    assert world.store.list_for_user(SON) == [] and world.store.list_for_user(DAD) == []
    assert (booking.contact_name, booking.slot.street) == ("王秀英", "顾村镇")
    # She is told in her own channel, through the outbox, that the family booked it.
    world.tick()
    code = f"{booking.code[:3]} {booking.code[3:]}"
    assert [t for t in world.telegram(MUM) if "替您约了" in t] == [
        f"【银龄助手】您的家人替您约了助浴：{_when(booking.slot.start)}，在{_place(booking)}。预约号 {code}。"
        "到时候会提醒您，去不了的话回我“去不了了”。"
    ]
    # Reminders go to her and to the linked family, the day before.
    world.clock.set_local(2026, 12, 8, 14, 0)
    world.tick()
    assert [t for t in world.telegram(MUM) if t.startswith("提醒您")] != []
    assert [t for t in world.telegram(SON) if t.startswith("家人预约提醒")] != []
    assert [t for t in world.telegram(DAD) if "预约" in t] == []

    # The son asks what his mother has booked.
    texts, _ = _run(ActionBookingList(), SON, "我妈约了哪些", {}, "check_bookings")
    assert texts[0].startswith("您母亲有 1 个预约：\n1. 助浴")


def test_an_unlinked_son_is_told_how_to_link_and_books_as_himself(world: World) -> None:
    texts, slots = _run(ValidateBookingForm(), STRANGER, "给我爸订个助浴", {"requested_slot": None})
    assert texts[0].startswith("您还没有和您父亲绑定，这次的预约先记在您自己名下")
    assert "1. 跟我说“我要绑定我妈”或“我要绑定我爸”" in texts[0]
    assert slots["booking_for"] == "self"
    texts, slots = _run(ActionBookingReadback(), STRANGER, "王秀英 13912345678", _filled(world, "self"), "inform")
    assert texts[0].startswith("请您核对一下")
    texts, _ = _run(ActionBookingConfirm(), STRANGER, "对", {**_filled(world, "self"), **slots}, "affirm")
    assert texts[0].startswith("约好了！")
    assert len(world.store.list_for_user(STRANGER)) == 1
    texts, _ = _run(ActionBookingList(), STRANGER, "看看我爸的预约", {}, "check_bookings")
    assert texts[0].startswith("您还没有和您父亲绑定，看不到您父亲的预约")


def test_two_parents_of_unknown_relation_stop_the_booking_with_a_question(world: World) -> None:
    world.link(MUM, SON, "我要绑定")
    world.link(DAD, SON, "绑定家人")
    texts, slots = _run(ValidateBookingForm(), SON, "帮我妈约个助浴", {"requested_slot": None})
    assert texts == [said({"response": "utter_booking_for_parent_which"})]
    assert (slots["booking_stage"], slots["booking_for"]) == ("stopped", "stop")
    texts, _ = _run(ActionBookingReadback(), SON, "帮我妈约个助浴", {"booking_stage": "stopped", "booking_for": "stop"})
    assert texts == [], "the reason was said; no second goodbye"


def test_a_link_ended_before_the_yes_books_nothing_and_tells_no_one(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    _, slots = _run(ActionBookingReadback(), SON, "王秀英 13912345678", _filled(world, MUM), "inform")
    world.care.unlink(MUM)
    texts, _ = _run(ActionBookingConfirm(), SON, "对", {**_filled(world, MUM), **slots}, "affirm")
    assert texts == [said({"response": "utter_booking_for_parent_unlinked"})]
    with world.care.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(bookings_table)).scalar() == 0
        assert conn.execute(sa.select(outbox.c.purpose).where(outbox.c.purpose == "booking")).first() is None


def _when(start: dt.datetime) -> str:
    from bookings.timeparse import describe_date

    local = start.astimezone(SHANGHAI)
    return f"{describe_date(local.date())}{local:%H:%M}"


def _place(booking: Any) -> str:
    from bookings.catalog import default_catalog

    return default_catalog().service(booking.slot.service).resource(booking.slot.resource).name


def test_a_booking_made_at_night_is_told_to_the_parent_after_quiet_hours(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    world.clock.set_local(2026, 12, 7, 22, 30)
    start = dt.datetime(2026, 12, 9, 9, 0, tzinfo=SHANGHAI)
    slot = world.store.find_slots("bath", start, start + dt.timedelta(hours=8), only_free=True)[0]
    world.store.book(slot.id, MUM, "王秀英", "13912345678", on_booked=world.care.booked_for_parent(SON))
    with world.care.db.read() as conn:
        due = conn.execute(sa.select(outbox.c.next_attempt_at).where(outbox.c.purpose == "booking")).scalar_one()
    assert due == dt.datetime(2026, 12, 8, 7, 0, tzinfo=SHANGHAI)
    world.tick()
    assert not [t for t in world.telegram(MUM) if "替您约了" in t]
    world.clock.set_local(2026, 12, 8, 7, 0)
    world.tick()
    assert len([t for t in world.telegram(MUM) if "替您约了" in t]) == 1


# -- cancelling or moving a parent's booking ("取消我妈的预约", "我爸那个预约改到下礼拜三") ----------------------


@pytest.mark.parametrize(
    ("text", "relation"),
    [
        ("帮我妈取消明天的助餐", "母亲"),
        ("我爸那个预约改到下礼拜三", "父亲"),
        ("取消我妈的预约", "母亲"),
        ("把我母亲的助浴改到后天下午", "母亲"),
        ("我爸妈的预约不要了", None),
        ("替我外婆取消预约", "外婆"),
    ],
)
def test_a_change_for_a_parent_is_read_from_the_phrasing(text: str, relation: str | None) -> None:
    assert parent_asked_about(text) == Said(relation)


@pytest.mark.parametrize(
    "text", ["取消预约", "取消刚才那个", "改到后天下午", "帮我取消明天的助浴", "我老伴的预约取消掉"]
)
def test_a_change_of_ones_own_booking_is_not_read_as_for_a_parent(text: str) -> None:
    assert parent_asked_about(text) is None


# What Rasa's rules run for an intent at a booking stage (training_data/rules.yml), for the chats below.
ROUTES: dict[tuple[str, str | None], Action] = {
    ("cancel_booking", None): ActionBookingCancel(),
    ("reschedule_booking", None): ActionBookingReschedule(),
    ("check_bookings", None): ActionBookingList(),
    ("choose", None): ActionBookingChoose(),
    ("affirm", "cancel_confirm"): ActionBookingConfirm(),
    ("affirm", "reschedule_confirm"): ActionBookingConfirm(),
    ("deny", "cancel_confirm"): ActionBookingCorrect(),
    ("deny", "cancel_choose"): ActionBookingCorrect(),
    ("deny", "change_choose"): ActionBookingCorrect(),
    ("deny", "reschedule_confirm"): ActionBookingCorrect(),
    ("inform", "reschedule_when"): ActionBookingReschedule(),
    ("inform", "change_choose"): ActionBookingChoose(),
    ("stop", None): ActionBookingStop(),
}


@dataclass
class Chat:
    """One person's conversation with the actions: slots carried from turn to turn, as Rasa keeps them."""

    sender: str
    slots: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stage(self) -> str | None:
        return self.slots.get("booking_stage")

    def say(self, text: str, intent: str, action: Action | None = None) -> list[str]:
        action = action or ROUTES.get((intent, self.stage)) or ROUTES[intent, None]
        self.events.append(
            {
                "event": "user",
                "text": text,
                "parse_data": {"intent": {"name": intent}},
                "message_id": f"m{len(self.events)}",
            }
        )
        values = {name: None for name in DOMAIN["slots"]} | {"hotline": "12345"} | self.slots
        tracker = Tracker(
            self.sender,
            values,
            {"text": text, "intent": {"name": intent}},
            list(self.events),
            False,
            None,
            {},
            "action_listen",
        )
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, DOMAIN))
        self.events.extend(events)
        self.slots.update({e["name"]: e["value"] for e in events if e.get("event") == "slot"})
        return [said(m, values) for m in dispatcher.messages]


def _book(world: World, senior: str, service: str, day: dt.date, hour: int, street: str = "顾村镇") -> Booking:
    start = dt.datetime.combine(day, dt.time(hour), SHANGHAI)
    slot = world.store.find_slots(service, start, start + dt.timedelta(hours=1), street=street, only_free=True)[0]
    return world.store.book(slot.id, senior, "王秀英", "13912345678")


def _told(world: World, senior: str, purpose: str = "booking") -> list[str]:
    with world.care.db.read() as conn:
        rows = conn.execute(
            sa.select(outbox.c.text)
            .where(outbox.c.recipient == senior, outbox.c.purpose == purpose)
            .order_by(outbox.c.id)
        )
        return [str(text) for text in rows.scalars()]


def _status(world: World, booking: Booking) -> tuple[str, int]:
    current = world.store.get(booking.code, booking.channel_user)
    return current.status, current.slot.id


def _reminders(world: World, booking: Booking, status: str = "pending") -> list[str]:
    with world.care.db.read() as conn:
        refs = conn.execute(
            sa.select(jobs.c.ref).where(jobs.c.ref.startswith(booking.code + "@"), jobs.c.status == status)
        )
        return sorted(str(ref) for ref in refs.scalars())


TOMORROW, IN_TWO_DAYS = TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=2)
NEXT_WEDNESDAY = dt.date(2026, 12, 16)


def test_a_linked_son_cancels_his_mothers_meal_tomorrow_and_she_is_told(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    meal = _book(world, MUM, "meal", TOMORROW, 11)
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    assert _reminders(world, meal), "booked with reminders"
    son = Chat(SON)
    # Two bookings; "明天的助餐" singles one out: the read-back names her, the day with its weekday, the number in groups.
    [asked] = son.say("帮我妈取消明天的助餐", "cancel_booking")
    assert asked.startswith("要取消您母亲的这个预约吗？\n助餐，12月8日（星期二）11:00–12:30，顾村镇长者食堂（示例），")
    assert f"预约号 {meal.code[:3]} {meal.code[3:]}" in asked and "取消了会告诉您母亲" in asked
    assert (son.stage, son.slots["booking_owner"]) == ("cancel_confirm", MUM)
    assert _status(world, meal)[0] == "active", "nothing is cancelled before the yes"

    [done] = son.say("对", "affirm")
    assert done.startswith("已经替您母亲取消了：助餐，12月8日（星期二）") and done.endswith("已经告诉您母亲了。")
    assert _status(world, meal)[0] == "cancelled" and _status(world, bath)[0] == "active"
    assert son.stage is None and son.slots["booking_owner"] is None, "the next request starts afresh"
    assert _reminders(world, meal) == [] and _reminders(world, meal, "cancelled"), "her reminders go with it"
    # She is told in her own channel, through the care outbox.
    world.tick()
    code = f"{meal.code[:3]} {meal.code[3:]}"
    assert [t for t in world.telegram(MUM) if "取消" in t] == [
        f"【银龄助手】您的家人替您取消了助餐：12月8日（星期二）11:00，在顾村镇长者食堂（示例），预约号 {code}。"
        "还想去的话，跟我说“我想约助餐”就行。"
    ]
    # Her own list no longer has it; the son sees what is left.
    assert [b.code for b in world.store.list_for_user(MUM)] == [bath.code]
    texts = son.say("我妈约了哪些", "check_bookings")
    assert texts[0].startswith("您母亲有 1 个预约：\n1. 助浴")


def test_the_parents_bookings_are_numbered_and_no_stops_without_a_change(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    meal = _book(world, MUM, "meal", TOMORROW, 11)
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    [listed] = son.say("取消我妈的预约", "cancel_booking")
    assert listed.startswith("您母亲有这几个预约，您要取消哪一个？\n1. 助餐，12月8日（星期二）")
    assert "\n2. 助浴，12月9日（星期三）14:00–15:00" in listed and listed.endswith("请回复数字。")
    assert son.slots["booking_choices"] == [meal.code, bath.code] and son.stage == "cancel_choose"
    assert son.say("5", "choose") == ["请回复 1 到 2 之间的数字。"]
    [asked] = son.say("2", "choose")
    assert asked.startswith("要取消您母亲的这个预约吗？\n助浴，12月9日（星期三）14:00–15:00")
    assert son.say("不要", "deny") == ["好的，预约给您留着，不取消。"]
    assert _status(world, bath)[0] == "active" and _told(world, MUM) == []


def test_a_linked_son_moves_his_fathers_booking_to_next_wednesday(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    world.link(DAD, SON, "我要绑定我爸")
    bath = _book(world, DAD, "bath", IN_TWO_DAYS, 14)
    meal = _book(world, DAD, "meal", TOMORROW, 11)
    old_reminders = _reminders(world, bath)
    son = Chat(SON)
    # Two bookings of his father's: which one, by number; the new day said in the request is kept for after the pick.
    [listed] = son.say("我爸那个预约改到下礼拜三", "reschedule_booking")
    assert listed.startswith("您父亲有这几个预约，您要改哪一个？\n1. 助餐") and "\n2. 助浴" in listed
    assert (son.stage, son.slots["booking_owner"]) == ("change_choose", DAD)
    assert son.say("就那个", "inform") == ["请回复 1 到 2 之间的数字。"]
    [asked] = son.say("2", "choose")
    code = f"{bath.code[:3]} {bath.code[3:]}"
    assert asked.startswith(f"把您父亲的预约 {code}（助浴）\n从 12月9日（星期三）14:00–15:00\n改到 12月16日（星期三）")
    assert asked.endswith("对吗？对的话请回复“对”，改好了会告诉您父亲。")
    assert son.stage == "reschedule_confirm" and _status(world, bath)[1] == bath.slot.id

    [done] = son.say("对", "affirm")
    assert done.startswith("替您父亲改好了：助浴，12月16日（星期三）") and "预约号不变" in done
    status, slot_id = _status(world, bath)
    moved = world.store.slot(slot_id)
    assert status == "active" and moved.start.astimezone(SHANGHAI).date() == NEXT_WEDNESDAY
    assert moved.street == bath.slot.street, "moved within the same place's street"
    assert _status(world, meal) == ("active", meal.slot.id)
    # Reminders follow the booking; the father is told old and new; the mother is told nothing.
    assert _reminders(world, bath) and set(_reminders(world, bath)).isdisjoint(old_reminders)
    [told] = _told(world, DAD)
    assert told.startswith("【银龄助手】您的家人把您的助浴改了时间：从12月9日（星期三）14:00改到12月16日（星期三）")
    assert f"预约号 {code} 不变" in told
    assert _told(world, MUM) == []


def test_a_move_without_a_time_asks_for_one_then_reads_back(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    [asked] = son.say("帮我妈改个时间", "reschedule_booking")
    assert asked.startswith("要把您母亲的这个预约改到哪天、什么时间？\n助浴，12月9日（星期三）14:00–15:00")
    assert son.stage == "reschedule_when" and son.slots["booking_owner"] == MUM
    [confirm] = son.say("礼拜四下午三点", "inform")
    assert confirm.startswith("把您母亲的预约") and "改到 12月10日（星期四）15:00–16:00" in confirm
    # "不对" asks for the time again, still about her booking.
    [again] = son.say("不对", "deny")
    assert again.startswith("要把您母亲的这个预约改到哪天")
    son.say("礼拜五上午", "inform")
    [done] = son.say("对", "affirm")
    assert done.startswith("替您母亲改好了：助浴，12月11日（星期五）")
    assert world.store.slot(_status(world, bath)[1]).start.astimezone(SHANGHAI).date() == dt.date(2026, 12, 11)


def test_two_parents_without_a_relation_are_asked_which_by_their_bookings(world: World) -> None:
    world.link(MUM, SON, "我要绑定")
    world.link(DAD, SON, "绑定家人")
    mine = _book(world, MUM, "meal", TOMORROW, 11)
    his = _book(world, DAD, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    [listed] = son.say("取消我妈的预约", "cancel_booking")
    assert listed.startswith("您绑定了不止一位家人。要取消的是哪一位的哪个预约？\n")
    assert "\n1. 您家里老人：助餐，12月8日（星期二）" in listed and "\n2. 您家里老人：助浴，12月9日（星期三）" in listed
    assert son.slots["booking_owner"] == "linked"
    [asked] = son.say("第二个", "choose")
    assert asked.startswith("要取消您家里老人的这个预约吗？\n助浴") and son.slots["booking_owner"] == DAD
    son.say("对", "affirm")
    assert _status(world, his)[0] == "cancelled" and _status(world, mine)[0] == "active"
    assert len(_told(world, DAD)) == 1 and _told(world, MUM) == [], "the father is told, not the mother"


def test_with_both_parents_linked_by_relation_the_one_named_is_meant(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    world.link(DAD, SON, "我要绑定我爸")
    _book(world, MUM, "meal", TOMORROW, 11)
    his = _book(world, DAD, "meal", TOMORROW, 17)
    son = Chat(SON)
    [asked] = son.say("取消我爸的预约", "cancel_booking")
    assert asked.startswith("要取消您父亲的这个预约吗？\n助餐，12月8日（星期二）17:00") and his.display_code in asked
    # Both parents, not told which ("我爸妈"): every linked parent's bookings, each with whose it is.
    [listed] = Chat(SON).say("我爸妈的预约要改一下", "reschedule_booking")
    assert "1. 您母亲：助餐" in listed and "2. 您父亲：助餐" in listed


def test_a_code_that_is_not_the_parents_is_not_found_and_nothing_falls_back(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    hers = _book(world, MUM, "meal", TOMORROW, 11)
    someone = _book(world, STRANGER, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    texts = son.say(f"取消我妈的预约{someone.code}", "cancel_booking")
    assert texts[0] == f"没找到预约号 {someone.display_code} 的预约，可能号码不对，或者已经取消了。"
    assert texts[1].startswith("您母亲有这几个预约") and hers.display_code in texts[1]
    assert someone.display_code not in texts[1] and son.stage == "cancel_choose"
    assert _status(world, someone)[0] == "active"


def test_someone_not_linked_gets_a_plain_answer_and_nothing_is_read(world: World) -> None:
    _book(world, MUM, "meal", TOMORROW, 11)
    stranger = Chat(STRANGER)
    [answer] = stranger.say("取消我妈的预约", "cancel_booking")
    assert answer.startswith("您还没有和您母亲绑定，看不到、也改不了您母亲的预约。")
    assert "1. 跟我说“我要绑定我妈”" in answer and "12月" not in answer
    assert stranger.stage is None and stranger.slots["booking_owner"] is None
    [answer] = stranger.say("我爸那个预约改到下礼拜三", "reschedule_booking")
    assert answer.startswith("您还没有和您父亲绑定")


def test_a_forged_owner_is_refused_at_every_step(world: World) -> None:
    """Only a parent the speaker is linked to now: a slot naming anyone else reads and changes nothing."""
    theirs = _book(world, MUM, "meal", TOMORROW, 11)
    stranger = Chat(
        STRANGER, slots={"booking_stage": "cancel_confirm", "booking_target": theirs.code, "booking_owner": MUM}
    )
    assert stranger.say("对", "affirm") == [said({"response": "utter_booking_for_parent_unlinked_change"})]
    stranger = Chat(
        STRANGER, slots={"booking_stage": "cancel_choose", "booking_choices": [theirs.code], "booking_owner": MUM}
    )
    assert stranger.say("1", "choose") == [said({"response": "utter_booking_for_parent_unlinked_change"})]
    assert _status(world, theirs)[0] == "active" and _told(world, MUM) == []


@pytest.mark.parametrize("move", [False, True])
def test_a_link_ended_before_the_yes_changes_nothing_and_tells_no_one(world: World, move: bool) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    if move:
        son.say("我妈的助浴改到礼拜四上午", "reschedule_booking")
        assert son.stage == "reschedule_confirm"
    else:
        son.say("取消我妈的预约", "cancel_booking")
        assert son.stage == "cancel_confirm"
    world.care.unlink(MUM)  # she ends it, from her side
    texts = son.say("对", "affirm")
    assert texts == ["这次没有办成：您和家里老人的绑定已经解除了，预约没有动。要替老人取消或改时间，请先重新绑定。"]
    assert _status(world, bath) == ("active", bath.slot.id) and _told(world, MUM) == []
    assert son.stage is None


def test_a_link_ended_inside_the_write_rolls_the_change_back(world: World) -> None:
    """The link is checked again in the cancellation's own transaction (the store's hook), not only before."""
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    on_cancelled = world.care.cancelled_for_parent(SON)
    world.care.unlink(SON)
    with pytest.raises(NotLinked):
        world.store.cancel(bath.code, MUM, on_cancelled=on_cancelled)
    slot = world.store.find_slots("bath", bath.slot.start + dt.timedelta(days=1), bath.slot.end + dt.timedelta(days=1))[
        0
    ]
    with pytest.raises(NotLinked):
        world.store.reschedule(bath.code, MUM, slot.id, on_moved=world.care.moved_for_parent(SON))
    assert _status(world, bath) == ("active", bath.slot.id) and _told(world, MUM) == []
    assert _reminders(world, bath), "the reminders' cancellation was rolled back with it"


def test_a_locked_database_is_busy_and_the_yes_still_counts_afterwards(world: World, tmp_path: Path) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    son.say("取消我妈的预约", "cancel_booking")
    lock = sqlite3.connect(tmp_path / "bookings.sqlite", isolation_level=None, timeout=0.1)
    lock.execute("BEGIN IMMEDIATE")
    try:
        texts = son.say("对", "affirm")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert texts == [said({"response": "utter_busy"}, {"hotline": "12345"})]
    assert "没找到" not in texts[0] and son.stage == "cancel_confirm", "busy, never 'not found'; the question stands"
    assert _status(world, bath)[0] == "active"
    [done] = son.say("对", "affirm")
    assert done.startswith("已经替您母亲取消了") and _status(world, bath)[0] == "cancelled"
    assert len(_told(world, MUM)) == 1


def test_care_database_unavailable_is_busy_not_not_linked(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(_family: str) -> list[Parent]:
        raise CareUnavailable("the care database did not answer")

    monkeypatch.setattr(world.care, "linked_parents", down)
    texts = Chat(SON).say("取消我妈的预约", "cancel_booking")
    assert texts == [said({"response": "utter_busy"}, {"hotline": "12345"})]


def test_a_booking_the_parent_cancelled_meanwhile_is_refused_as_gone(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    son.say("我妈的助浴改到礼拜四上午", "reschedule_booking")
    world.store.cancel(bath.code, MUM)  # she cancelled it herself, in her own chat
    assert son.say("对", "affirm") == ["这个预约改不了（可能已经取消或者已经开始了）。"]
    son = Chat(SON)
    assert son.say("取消我妈的预约", "cancel_booking") == ["您母亲现在没有可以取消的预约。"]
    assert _told(world, MUM) == []


def test_a_cancellation_at_night_is_told_to_the_parent_after_quiet_hours(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    world.clock.set_local(2026, 12, 7, 22, 30)
    son = Chat(SON)
    son.say("取消我妈的预约", "cancel_booking")
    son.say("对", "affirm")
    world.tick()
    assert not [t for t in world.telegram(MUM) if "取消" in t]
    world.clock.set_local(2026, 12, 8, 7, 0)
    world.tick()
    assert len([t for t in world.telegram(MUM) if "替您取消了助浴" in t]) == 1


def test_the_seniors_own_cancel_after_a_family_step_is_their_own(world: World) -> None:
    """A family step left unfinished does not make a later "取消预约" about the parent."""
    world.link(MUM, SON, "我要绑定我妈")
    _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    own = _book(world, SON, "meal", TOMORROW, 11)
    son = Chat(SON)
    son.say("取消我妈的预约", "cancel_booking")
    [asked] = son.say("取消预约", "cancel_booking")
    assert asked.startswith("要取消这个预约吗？\n助餐") and own.display_code in asked
    assert son.slots["booking_owner"] is None
    son.say("对", "affirm")
    assert _status(world, own)[0] == "cancelled" and _told(world, MUM) == []


def test_nothing_to_cancel_or_move_is_said_for_whom(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    assert Chat(SON).say("帮我妈改个时间", "reschedule_booking") == ["您母亲现在没有可以改的预约。"]
    world.link(DAD, SON, "我要绑定我爸")
    assert Chat(SON).say("取消我爸妈的预约", "cancel_booking") == ["您绑定的家人现在都没有可以取消的预约。"]
    assert Chat(SON).say("我爸妈的预约改一下", "reschedule_booking") == ["您绑定的家人现在都没有可以改的预约。"]


# -- "我妈去不了了": a family member says the parent cannot go -----------------------------------------------


def test_a_linked_son_says_his_mother_cannot_go_and_her_booking_is_offered_not_his_own(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    own = _book(world, SON, "meal", TOMORROW, 11)  # his own booking comes first; it is not the one meant
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    [asked] = son.say("我妈去不了了", "cant_go", proactive.ActionCareCantGo())
    assert asked.startswith("没关系。您母亲的这个预约您想怎么办？\n助浴，12月9日（星期三）14:00") and "1. 取消" in asked
    assert (son.slots["care_stage"], son.slots["booking_target"], son.slots["booking_owner"]) == (
        "cant_go",
        bath.code,
        MUM,
    )
    [confirm] = son.say("1", "choose", proactive.ActionCareAnswer())
    assert confirm.startswith("要取消您母亲的这个预约吗？\n助浴，12月9日（星期三）14:00")
    [done] = son.say("对", "affirm")
    assert done.startswith("已经替您母亲取消了：助浴")
    assert _status(world, bath)[0] == "cancelled" and _status(world, own)[0] == "active"


def test_a_linked_daughter_moves_her_fathers_booking_after_saying_he_cannot_come(world: World) -> None:
    world.link(DAD, SON, "我要绑定我爸")
    meal = _book(world, DAD, "meal", TOMORROW, 11)
    bath = _book(world, DAD, "bath", IN_TWO_DAYS, 14)
    child = Chat(SON)
    # The service said picks the booking among his two.
    [asked] = child.say("我爸后天那个助浴来不了了", "cant_go", proactive.ActionCareCantGo())
    assert asked.startswith("没关系。您父亲的这个预约您想怎么办？\n助浴")
    [when] = child.say("2", "choose", proactive.ActionCareAnswer())
    assert when.startswith("要把您父亲的这个预约改到哪天、什么时间？\n助浴")
    assert (child.stage, child.slots["booking_target"], child.slots["booking_owner"]) == (
        "reschedule_when",
        bath.code,
        DAD,
    )
    assert _status(world, meal)[0] == "active"


def test_cannot_go_for_a_parent_with_nothing_booked_or_without_a_link(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    son = Chat(SON)
    [none] = son.say("我妈去不成了", "cant_go", proactive.ActionCareCantGo())
    assert none == "您母亲现在没有可以取消的预约。" and son.slots["care_stage"] is None
    # Not linked: what they booked for her was booked as their own, and that is what is offered.
    own = _book(world, STRANGER, "meal", TOMORROW, 11)
    stranger = Chat(STRANGER)
    [asked] = stranger.say("我妈明天去不了了", "cant_go", proactive.ActionCareCantGo())
    assert asked.startswith("没关系。这个预约您想怎么办？\n助餐") and stranger.slots["booking_owner"] is None
    assert stranger.slots["booking_target"] == own.code


def test_a_link_ended_after_cannot_go_changes_nothing_of_the_parents(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son = Chat(SON)
    son.say("我妈去不了了", "cant_go", proactive.ActionCareCantGo())
    world.care.unlink(SON)
    [refused] = son.say("1", "choose", proactive.ActionCareAnswer())
    assert "绑定" in refused and _status(world, bath)[0] == "active"


def test_the_parents_other_linked_family_is_told_of_a_change_the_one_who_made_it_is_not(world: World) -> None:
    daughter = "telegram:9005"
    world.link(MUM, SON, "我要绑定我妈")
    world.link(MUM, daughter, "我要绑定我妈")
    meal = _book(world, MUM, "meal", TOMORROW, 11)
    son = Chat(SON)
    son.say("帮我妈取消明天的助餐", "cancel_booking")
    son.say("对", "affirm")
    assert _status(world, meal)[0] == "cancelled"
    code = f"{meal.code[:3]} {meal.code[3:]}"
    assert _told(world, daughter) == [
        f"【银龄助手】另一位家人替您家人取消了助餐：12月8日（星期二）11:00，在顾村镇长者食堂（示例），预约号 {code}。"
    ]
    assert _told(world, SON) == [], "the son made the change and was answered in chat"
    assert len(_told(world, MUM)) == 1, "the mother is told once, as before"
    # A move is told to her other family too, with the old and the new time.
    bath = _book(world, MUM, "bath", IN_TWO_DAYS, 14)
    son.say("把我妈后天的助浴改到下礼拜三下午两点", "reschedule_booking")
    son.say("对", "affirm")
    assert _status(world, bath)[1] != bath.slot.id
    moved = [t for t in _told(world, daughter) if "改了时间" in t]
    assert len(moved) == 1 and "从12月9日（星期三）14:00改到12月16日（星期三）14:00" in moved[0]


# -- a parent who agreed to an older text of the family consent -------------------------------------------


def test_a_parent_who_agreed_to_an_older_text_is_asked_again_before_family_can_change_her_bookings(
    world: World,
) -> None:
    from care.db import consent_wordings

    world.link(MUM, SON, "我要绑定我妈")
    meal = _book(world, MUM, "meal", TOMORROW, 11)
    with world.care.db.write() as conn:  # consented before consent texts were kept (it did not say "cancel")
        conn.execute(consent_wordings.delete().where(consent_wordings.c.address == MUM))
    son = Chat(SON)
    son.say("帮我妈取消明天的助餐", "cancel_booking")
    [refused] = son.say("对", "affirm")
    assert refused.startswith("这次没有办成：您母亲还没同意新的绑定说明，预约没有动。")
    assert _status(world, meal)[0] == "active"
    assert _told(world, MUM, "link")[-1].startswith("【银龄助手】绑定家人的说明有更新"), "she is asked to read it"
    # Her own "同意绑定": the new text with the choices; "1" records it.
    mum = Chat(MUM)
    [text] = mum.say("同意绑定", "family_link", proactive.ActionCareFamilyLink())
    assert text.startswith("绑定后，您绑定的家人能看到") and "取消或改时间" in text and "1. 同意绑定" in text
    [renewed] = mum.say("1", "choose", proactive.ActionCareAnswer())
    assert renewed.startswith("好的，记下了") and world.care.has_consent(MUM, "family")
    # Now the son's cancellation goes through.
    son.say("帮我妈取消明天的助餐", "cancel_booking")
    [done] = son.say("对", "affirm")
    assert done.startswith("已经替您母亲取消了") and _status(world, meal)[0] == "cancelled"


def test_a_consent_given_now_is_to_the_current_text_and_a_new_link_needs_no_second_yes(world: World) -> None:
    world.link(MUM, SON, "我要绑定我妈")
    assert world.care.consent_state(MUM, "family") == "current"
    assert world.care.consent_state(DAD, "family") == "none"
    mum = Chat(MUM)
    # "同意绑定" from a parent whose consent is current is not a renewal: it asks for a code as before.
    [said] = mum.say("同意绑定", "family_link", proactive.ActionCareFamilyLink())
    assert "绑定码" in said and not said.startswith("绑定后")


def test_a_senior_agrees_again_to_a_changed_check_in_text_and_keeps_her_time(world: World) -> None:
    from care.db import consent_wordings

    world.care.give_consent(MUM, "checkin")
    world.care.checkin_optin(MUM, 8 * 60 + 30)
    with world.care.db.write() as conn:
        conn.execute(consent_wordings.delete().where(consent_wordings.c.address == MUM))
    mum = Chat(MUM)
    [text] = mum.say("同意每日平安", "checkin_optin", proactive.ActionCareCheckinOptin())
    assert text.startswith("好的。每天问您一声") and "1. 同意" in text
    [on] = mum.say("1", "choose", proactive.ActionCareAnswer())
    assert "8点半" in on and world.care.has_consent(MUM, "checkin")
    assert world.care.checkin_minute(MUM) == 8 * 60 + 30
