"""The booking form with phrasings seniors type, end to end: what is saved (BookingStore) and what is said.

Each case failed before issue 10's form work (a probe of 324 unseen phrasings found them); none of the
phrasings is a training example (tests/rasa/test_project_data.py keeps the list).
"""

from __future__ import annotations

import datetime as dt

import pytest

from bookings.catalog import SHANGHAI
from tests.app.conftest import Stack, new_sender, saved_contacts, say, to_readback

pytestmark = pytest.mark.e2e
START = "下礼拜二上午帮我约助浴，住在顾村"


@pytest.mark.parametrize("text", ["不要了", "覅要了", "勿要了", "再说吧"])
def test_stopping_words_at_the_readback_stop(stack: Stack, bookings_url: str, text: str) -> None:
    sender = new_sender()
    to_readback(stack, sender, START, "张秀英", "13812345678")
    assert "不约了" in say(stack, sender, text)
    assert saved_contacts(bookings_url, sender) == []


@pytest.mark.parametrize(
    ("text", "contact", "phone"),
    [
        ("不对 联系人王根宝 电话13912345678", "王根宝", "13912345678"),
        ("张秀英改成张秀珍", "张秀珍", "13812345678"),
        ("联系人换成阿拉老头子王根宝", "王根宝", "13812345678"),
    ],
)
def test_corrections_at_the_readback_are_saved(
    stack: Stack, bookings_url: str, text: str, contact: str, phone: str
) -> None:
    sender = new_sender()
    to_readback(stack, sender, START, "张秀英", "13812345678")
    reply = say(stack, sender, text)
    assert contact in reply, reply
    if "请回复数字" in reply:
        reply = say(stack, sender, "1")
    assert "约好了" in say(stack, sender, "对")
    assert saved_contacts(bookings_url, sender) == [(contact, phone)]


def test_yes_with_thanks_books_and_a_number_at_the_readback_asks_for_yes(stack: Stack, bookings_url: str) -> None:
    sender = new_sender()
    to_readback(stack, sender, START, "张秀英", "13812345678")
    reply = say(stack, sender, "1")
    assert "对" in reply and "来源" not in reply, reply
    assert "约好了" in say(stack, sender, "对的，谢谢侬")
    assert saved_contacts(bookings_url, sender) == [("张秀英", "13812345678")]


def test_a_field_named_without_its_value_asks_for_it(stack: Stack, bookings_url: str) -> None:
    sender = new_sender()
    to_readback(stack, sender, START, "张秀英", "13812345678")
    assert "街道" in say(stack, sender, "地址写错了")
    assert "大场镇" in say(stack, sender, "大场")


@pytest.mark.parametrize("text", ["叫个护工来", "约个公证 立遗嘱", "帮我老头子约个查记性的"])
def test_plain_words_start_a_booking(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "哪天" in reply, reply


def test_values_typed_at_the_numbered_days_are_said_back(stack: Stack, bookings_url: str) -> None:
    sender = new_sender()
    question = say(stack, sender, "过两天上午帮我约助浴，住在顾村")
    assert "1. " in question and "请回复数字" in question, question
    reply = say(stack, sender, "王根宝 一三九 一二三四 五六七八")
    assert "王根宝" in reply and "139 1234 5678" in reply and "请回复数字" in reply, reply
    readback = say(stack, sender, "2")
    if "请回复数字" in readback:
        readback = say(stack, sender, "1")
    assert "请您核对" in readback, readback
    assert "约好了" in say(stack, sender, "对")
    assert saved_contacts(bookings_url, sender) == [("王根宝", "13912345678")]


def test_a_house_number_keeps_the_day(stack: Stack, bookings_url: str) -> None:
    sender = new_sender()
    say(stack, sender, "下礼拜二上午帮我约助浴")
    say(stack, sender, "住月浦 9号")
    say(stack, sender, "阿拉老头子叫王根宝")
    reply = say(stack, sender, "13812345678")
    today = dt.datetime.now(SHANGHAI).date()
    tuesday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=1, days=1)
    assert f"{tuesday.month}月{tuesday.day}日" in reply and "王根宝" in reply, reply
