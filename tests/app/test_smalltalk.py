"""actions/smalltalk.py: the date and the time from the clock; what the assistant cannot look up, said plainly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from actions.smalltalk import Said, cannot_look_up, clock_answer
from bookings.catalog import SHANGHAI

RESPONSES = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain" / "conversation.yml").read_text("utf-8"))[
    "responses"
]


def shown(said: Said | None) -> str | None:
    """The reply as the senior reads it: the domain's response with its placeholders filled."""
    if said is None:
        return None
    return str(RESPONSES[said.response][0]["text"]).format(hotline="12345", **said.values)


# A Tuesday afternoon; lunar 十月三十 (the next day is 冬月初一), by lunar-python.
NOW = dt.datetime(2026, 12, 8, 15, 7, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("今朝礼拜几", "今天是2026年12月8日（星期二"),
        ("今天是几号啊", "12月8日（星期二"),
        ("侬晓得今朝农历几号伐", "农历十月三十"),
        ("明朝是礼拜几", "明天是2026年12月9日（星期三，农历冬月初一）"),
        ("后天几号", "12月10日（星期四"),
        ("昨天星期几", "12月7日（星期一"),
        ("现在几点了", "下午3点07分"),
        ("几点钟啦", "下午3点07分"),
    ],
)
def test_the_date_and_the_time_come_from_the_clock(text: str, says: str) -> None:
    answer = shown(clock_answer(text, NOW))
    assert answer is not None and says in answer, answer


def test_the_part_of_the_day_follows_the_hour() -> None:
    assert "早上7点30分" in str(shown(clock_answer("现在几点", NOW.replace(hour=7, minute=30))))
    assert "晚上9点00分" in str(shown(clock_answer("现在几点", NOW.replace(hour=21, minute=0))))
    assert "凌晨2点05分" in str(shown(clock_answer("现在几点", NOW.replace(hour=2, minute=5))))


@pytest.mark.parametrize("text", ["助餐点几点开门", "明天几点来", "你几岁了", "约在几号", "几路车到宝山"])
def test_questions_about_something_else_are_not_the_clocks(text: str) -> None:
    assert clock_answer(text, NOW) is None


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("明朝会落雨伐", "天气"),
        ("今朝外头冷不冷", "天气"),
        ("今天有啥新闻", "新闻"),
        ("彩票开奖了伐", "彩票"),
        ("股票今天涨了伐", "股票"),
        ("几路车到宝山", "公交"),
        ("今晚电视剧几点播", "电视"),
    ],
)
def test_what_cannot_be_looked_up_is_said_plainly_with_where_to_find_it(text: str, thing: str) -> None:
    answer = shown(cannot_look_up(text))
    assert answer is not None and thing in answer.split("我查不到")[0] and "12345" in answer, answer


@pytest.mark.parametrize("text", ["你好呀", "今天心情不错", "我吃过饭了", "长护险怎么申请"])
def test_ordinary_small_talk_is_left_to_the_small_talk_reply(text: str) -> None:
    assert cannot_look_up(text) is None and clock_answer(text, NOW) is None


@pytest.mark.parametrize("text", ["几号报名", "津贴几号发", "礼拜几开门"])
def test_a_day_asked_about_something_is_not_the_clocks(text: str) -> None:
    assert clock_answer(text, NOW) is None


def test_in_a_conversation_about_an_entry_the_day_must_be_said() -> None:
    assert clock_answer("礼拜几", NOW, said_when=True) is None
    assert "12月9日" in str(shown(clock_answer("明朝礼拜几呀", NOW, said_when=True)))
    assert "下午3点07分" in str(shown(clock_answer("现在啥辰光了", NOW, said_when=True)))


@pytest.mark.parametrize("text", ["今朝要带伞伐", "这两天会不会降温", "台风来了伐"])
def test_more_ways_to_ask_the_weather(text: str) -> None:
    assert str(shown(cannot_look_up(text))).startswith("天气我查不到")
