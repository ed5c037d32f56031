"""The readers behind the booking-conversation classes of issue 10 (tests/app/test_e2e_booking_classes.py runs them
end to end): a thing that cannot be booked here, "what can I book", a question beside a booking, a value before a
question about another field, whether-to-book / hours / company follow-ups, and "算了" in each flow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_form import (
    asks_what_to_book,
    kept_before_question,
    numbered_service,
    numbered_services,
    question_in_request,
    unbookable_thing,
)
from bookings.catalog import default_catalog
from common.followups import read
from tests.app.domain_support import said
from textnorm import normalize


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("帮阿拉老头子约个修指甲", "修指甲"),
        ("替我约个上门量血压的", "量血压"),
        ("帮我订一个代驾", "代驾"),
        ("我想约个裁缝", "裁缝"),
    ],
)
def test_a_thing_that_is_no_service_here_is_named(text: str, thing: str) -> None:
    assert unbookable_thing(text) == thing


@pytest.mark.parametrize(
    "text",
    [
        "帮我约个服务",  # names nothing: the form asks which service
        "我要约一下",
        "帮我妈约一下",
        "帮我约后天上午助浴",  # a service
        "约个洗个澡",
        "帮我约顾村的",  # a street
        "约个护理",  # a service in other words: the form asks which
        "帮我约个人来家里照顾",
        "能约点啥",  # a question
    ],
)
def test_a_request_that_names_a_service_or_nothing_is_no_unbookable_thing(text: str) -> None:
    assert unbookable_thing(text) is None


def test_the_services_are_numbered_in_the_catalog_order_and_a_number_picks_one() -> None:
    codes = list(default_catalog().services)
    lines = numbered_services("约").splitlines()
    assert len(lines) == len(codes) and lines[0] == f"1. 约{default_catalog().services[codes[0]].name}"
    assert numbered_service("2") == codes[1] and numbered_service("２") == codes[1]
    assert numbered_service("第3个") == codes[2]
    assert numbered_service(str(len(codes) + 1)) is None and numbered_service("2号楼") is None


@pytest.mark.parametrize(
    ("text", "asks"), [("还有啥好约的", True), ("那有些啥上门的服务", True), ("助浴", False), ("明天", False)]
)
def test_what_can_be_booked(text: str, asks: bool) -> None:
    assert asks_what_to_book(text) is asks


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("约个助餐 一顿几钿", "一顿几钿"),
        ("帮我约个日间照料试托，要带点啥", "要带点啥"),
        ("帮我约助浴要收钱吗", "要收钱吗"),
        ("帮我约明天上午助浴", None),
        ("帮我约助浴 明天上午可以吗", None),  # a day given as a question: the form's answer
        ("帮我约助浴 顾村", None),
    ],
)
def test_the_question_beside_a_booking(text: str, question: str | None) -> None:
    assert question_in_request(text) == (normalize(question) if question else None)


def _tracker(asked: str, text: str) -> Tracker:
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}}}]
    return Tracker("s", {"requested_slot": asked}, {"text": text}, events, False, None, {}, "action_listen")


@pytest.mark.parametrize(
    ("asked", "text", "slot", "value"),
    [
        ("booking_contact", "李阿婆 手机勿要留", "booking_contact", "李阿婆"),
        ("booking_contact", "王建平电话为啥一定要", "booking_contact", "王建平"),
        ("booking_phone", "13912345678 名字不想讲", "booking_phone", "13912345678"),
        ("booking_street", "大场镇 门牌号不想讲", "booking_street", "大场镇"),
        ("booking_contact", "电话不想给", None, None),
    ],
)
def test_the_value_before_a_question_about_another_field_is_kept(
    asked: str, text: str, slot: str | None, value: str | None
) -> None:
    dispatcher = CollectingDispatcher()
    events = kept_before_question(dispatcher, _tracker(asked, text), text)
    kept: dict[str, Any] = {e["name"]: e["value"] for e in events}
    assert kept == ({slot: value} if slot else {})
    if slot:
        assert value is not None and value[:3] in said(dispatcher.messages[0])


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("要不要提前约好", "booking"),
        ("需要先报名伐", "booking"),
        ("礼拜六有伐", "hours"),
        ("要儿子陪伐", "company"),
        ("一个人好去的伐", "company"),
        ("要带啥", "documents"),
    ],
)
def test_followups_about_booking_hours_and_company_are_bare(text: str, aspect: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == aspect


def test_stop_after_a_family_code_withdraws_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from actions import bookings

    withdrawn: list[str] = []

    class FakeCare:
        def withdraw_code(self, family: str) -> bool:
            withdrawn.append(family)
            return True

    monkeypatch.setattr(bookings, "care", FakeCare)
    events = [
        {"event": "user", "text": "我要绑定我女儿"},
        {"event": "bot", "text": "您的绑定码是…", "metadata": {"utter_action": "utter_care_family_code_given"}},
        {"event": "user", "text": "算了", "parse_data": {"intent": {"name": "stop"}}},
    ]
    tracker = Tracker("fam", {}, {"text": "算了", "intent": {"name": "stop"}}, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(bookings.ActionBookingStop().run(dispatcher, tracker, {}))
    assert withdrawn == ["fam"]
    reply = said(dispatcher.messages[0])
    assert "绑定" in reply and "不约" not in reply


@pytest.mark.parametrize(
    ("slots", "words"),
    [
        ({"booking_stage": "cancel_confirm", "booking_target": "A1"}, "不取消"),
        ({"booking_stage": "reschedule_when", "booking_target": "A1"}, "不改"),
        ({}, "有需要随时"),
    ],
)
def test_stop_says_what_it_stopped(slots: dict[str, Any], words: str) -> None:
    from actions.bookings import ActionBookingStop

    events = [{"event": "user", "text": "算了", "parse_data": {"intent": {"name": "stop"}}}]
    tracker = Tracker(
        "s", slots, {"text": "算了", "intent": {"name": "stop"}}, events, False, None, {}, "action_listen"
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionBookingStop().run(dispatcher, tracker, {}))
    reply = said(dispatcher.messages[0])
    assert words in reply and "不约了" not in reply
