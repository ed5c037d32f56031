"""A linked family member books for a parent in chat ("帮我妈约个助浴"): the booking form as usual, the booking the
parent's, the read-back and the confirmation saying so, the parent told through the care outbox in the booking's
own transaction, reminders to the parent and the family; not linked → how to link; "我妈约了啥" → her bookings."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.proactive as proactive
from actions import booking_common, clock
from actions.booking_form import ValidateBookingForm
from actions.bookings import ActionBookingConfirm, ActionBookingList, ActionBookingReadback
from actions.family_booking import Decision, Said, decide, parent_asked_about, parent_said, relation_named
from bookings.catalog import SHANGHAI
from bookings.store import BookingStore, bookings_table
from care.config import CareSettings
from care.db import CareDB, outbox
from care.outbox import Worker
from care.scheduler import Scheduler, attach_reminders
from care.senders import Senders, TelegramSender
from care.service import Care, Parent
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
    store.ensure_schedule(TODAY, days=5)
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
