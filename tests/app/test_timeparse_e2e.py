"""Dates and times as seniors mean them, through the booking form on the real servers.

A vague day (过完年, 开春以后, 月中, 等我儿子回来) is asked about and never saved; a range of hours (两三点) is searched
as a window and the slot found is read back. The phrasings are not in the training data (tests/rasa/test_project_data.py).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from actions.booking_common import describe_day
from bookings.catalog import SHANGHAI
from tests.app.conftest import Stack, new_sender, texts

pytestmark = pytest.mark.e2e


def say(stack: Stack, sender: str, text: str) -> str:
    reply = "\n".join(texts(stack.say(sender, text)))
    assert "没听明白" not in reply, f"the fallback answered {text!r}: {reply}"
    return reply


def next_week(weekday: int) -> dt.date:
    today = dt.datetime.now(SHANGHAI).date()
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=1, days=weekday)


def to_readback(stack: Stack, sender: str, reply: str, name: str) -> str:
    for _ in range(3):
        if "请您核对" in reply or "约满" in reply:
            return reply
        if "名字" in reply:
            reply = say(stack, sender, name)
        elif "手机" in reply:
            reply = say(stack, sender, "13812345678")
        else:
            raise AssertionError(reply)
    return reply


def assert_asked_no_day(reply: str, said: str) -> None:
    assert f"“{said}”" in reply and "哪一天" in reply, reply
    assert "请您核对" not in reply and "名字" not in reply, reply


def test_a_vague_day_in_the_first_message_is_asked_then_the_day_given_is_booked(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "过完年帮我约个助浴，我住顾村")
    assert_asked_no_day(reply, "过完年")
    reply = say(stack, sender, "那就下礼拜四上半天")
    readback = to_readback(stack, sender, reply, "陶美玲")
    assert describe_day(next_week(3)) in readback, readback


@pytest.mark.parametrize("vague", ["开春以后吧", "月中吧", "等我儿子回来"])
def test_a_vague_answer_at_the_day_prompt_is_asked_again(stack: Stack, vague: str) -> None:
    sender = new_sender()
    reply = say(stack, sender, "帮我约个上门护理，住在顾村")
    assert "哪天" in reply, reply
    reply = say(stack, sender, vague)
    assert "哪一天" in reply and "请您核对" not in reply and "名字" not in reply, reply
    reply = say(stack, sender, "下礼拜五下午")
    readback = to_readback(stack, sender, reply, "严福根")
    assert describe_day(next_week(4)) in readback, readback


def test_a_range_of_hours_is_booked_inside_it(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "下礼拜二下午两三点帮我约个助浴，顾村，联系人冯秀兰，手机13812345678")
    assert "请您核对" in reply or "约满" in reply, reply
    assert describe_day(next_week(1)) in reply, reply
    if "请您核对" in reply:
        assert re.search(r"1[45]:00–", reply), reply  # 两三点: a slot starting at 2 or 3 p.m.
    else:
        assert "下午2点到4点之间" in reply, reply


def test_a_month_end_is_asked_with_its_last_days_and_the_number_picks_one(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "月底帮我约个助浴，我住顾村")
    assert "“月底”" in reply and "1. " in reply and "请回复数字" in reply, reply
    assert "名字" not in reply and "请您核对" not in reply, reply
    first = re.search(r"^1\. (\d+月\d+日（星期.）)", reply, re.M)
    assert first is not None, reply
    reply = say(stack, sender, "1")
    readback = to_readback(stack, sender, reply, "顾彩娣")
    assert first[1] in readback or "约满" in readback, readback


@pytest.mark.parametrize("vague", ["明年开春", "过完年以后", "下半个月"])
def test_vague_words_said_together_are_asked_whole(stack: Stack, vague: str) -> None:
    sender = new_sender()
    say(stack, sender, "帮我约个上门护理，住在顾村")
    reply = say(stack, sender, vague)
    assert_asked_no_day(reply, vague)


def test_any_day_at_the_numbered_days_takes_the_first_and_says_it(stack: Stack) -> None:
    sender = new_sender()
    question = say(stack, sender, "过两天上午帮我约助浴，住在顾村")
    first = re.search(r"^1\. (\d+月\d+日（星期.）)", question, re.M)
    assert first is not None and "请回复数字" in question, question
    reply = say(stack, sender, "你说了算")
    assert f"好的，那就约{first[1]}" in reply and "联系人" in reply, reply
    readback = to_readback(stack, sender, reply, "严阿珍")
    assert first[1] in readback or "约满" in readback, readback


@pytest.mark.parametrize(("vague", "asks"), [("改天吧", "要定一个具体的日子"), ("月底", "“月底”")])
def test_a_vague_day_at_the_numbered_days_is_asked_not_saved(stack: Stack, vague: str, asks: str) -> None:
    sender = new_sender()
    say(stack, sender, "过两天上午帮我约助浴，住在顾村")
    reply = say(stack, sender, vague)
    assert asks in reply and "1. " in reply and "请回复数字" in reply, reply
    assert "名字" not in reply and "请您核对" not in reply, reply
