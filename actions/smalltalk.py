"""Small talk the assistant can answer for real, or should say plainly it cannot.

- **Who is answering** ("你叫啥名字"): the identity reply, as for "你是机器人伐".
- **The date and the time** ("今朝礼拜几", "今天几号", "现在几点了", "今天农历几号", "明天几号"): from the clock in
  Asia/Shanghai (actions/clock.py), with the weekday and the lunar date (lunar-python, via bookings/timeparse.py).
- **Things it cannot look up** (the weather, the news, lottery and share prices, bus times, the TV): said plainly,
  with where a senior can find them, and what it can do instead. Before, "明朝会落雨伐" got "我一直在的".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import regex

from bookings.timeparse import describe_date
from textnorm import normalize

_DAY_OFFSETS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    "后天": 2,
    "大后天": 3,
}
# normalize() turns 今朝/明朝/昨日 into Mandarin (今天/明天/昨天).
_DAY = "|".join(sorted(_DAY_OFFSETS, key=len, reverse=True))
_ASKS_DATE = regex.compile(
    rf"(?:(?P<day>{_DAY})|现在|今年)?(?:是|到底是)?(?:几月几[号日]|几号|几月|礼拜几|星期几|周几|农历几[号月]?|阴历几[号月]?|农历是几|阴历是几|"
    r"农历多少|阴历多少|啥日子|什么日子|哪一天)"
)
_ASKS_TIME = regex.compile(
    r"(?:现在|这会儿|眼下)?(?:是)?(?:几点钟?了?|几点几分|(?:啥|什么)(?:时间|时候|辰光)了|几点啦)"
)
# A question about a service's hours ("助餐点几点开门") or a booking is no question about the clock.
_ABOUT_SOMETHING = regex.compile(
    r"开门|关门|上班|下班|开饭|来|去|约|预约|营业|办|开始|结束|放假|几号线|几路|报名|登记|截止|发|到账|交|领"
)

_UNAVAILABLE: tuple[tuple[str, str, str], ...] = (
    (
        "天气",
        r"天气|下雨|落雨|下雪|落雪|几度|温度|气温|刮风|台风|冷不冷|热不热|晴天|阴天|雾霾|空气质量|带伞|雨伞|降温|升温|变天|冷空气|穿几件",
        "看电视、听广播，或者看手机上的天气",
    ),
    ("新闻", r"新闻|出啥事了|发生啥事", "看电视新闻、听广播，或者请家里人帮您看"),
    (
        "彩票和股票",
        r"彩票|开奖|中奖号码|股票|股市|基金|大盘|涨停|跌停|金价|汇率",
        "问银行或正规渠道；有人主动推荐“稳赚”的，多半是骗子",
    ),
    ("公交和地铁", r"公交|几路车|地铁|班车|末班车|头班车|火车票|高铁票|飞机票", "问车站，或者请家里人帮您在手机上查"),
    ("电视节目", r"电视(?:节目|剧)|放啥节目|几点播|重播", "看电视里的节目预告，或者问家里人"),
)


# "你叫啥名字", "侬是啥人", "你是哪位": who is answering (utter_identity), not the small-talk reply.
_ASKS_NAME = regex.compile(
    r"(?:你|您)(?:叫|是)(?:啥|什么|哪个|谁|哪位|啥人|什么人)|(?:你|您)的?名字|(?:你|您)(?:是)?哪个单位"
)


def asks_who(text: str) -> bool:
    """The senior asks the assistant's name or who it is."""
    return bool(_ASKS_NAME.search(normalize(text)))


_SAYS_WHEN = regex.compile(rf"{_DAY}|现在|这会儿|眼下")


@dataclass(frozen=True)
class Said:
    """A response of domain/conversation.yml and the values for its placeholders."""

    response: str
    values: dict[str, Any]


CLOCK_DATE, CLOCK_TIME, OUT_OF_REACH = "utter_clock_date", "utter_clock_time", "utter_out_of_reach"


def clock_answer(text: str, now: dt.datetime, *, said_when: bool = False) -> Said | None:
    """The date or the time asked for, else None. ``said_when``: only when the day or "now" is said (in a
    conversation about an entry, "礼拜几" alone asks the entry's opening days)."""
    plain = normalize(text)
    if _ABOUT_SOMETHING.search(plain) or (said_when and not _SAYS_WHEN.search(plain)):
        return None
    date = _ASKS_DATE.search(plain)
    if date is not None:
        offset = _DAY_OFFSETS.get(date.group("day") or "今天", 0)
        day = now.date() + dt.timedelta(days=offset)
        said = date.group("day") or "今天"
        return Said(CLOCK_DATE, {"day": said, "date": f"{day.year}年{describe_date(day, lunar=True)}"})
    if _ASKS_TIME.search(plain):
        hour, minute = now.hour, now.minute
        part = (
            "凌晨"
            if hour < 5
            else "早上"
            if hour < 9
            else "上午"
            if hour < 12
            else "中午"
            if hour < 13
            else "下午"
            if hour < 18
            else "晚上"
        )
        shown = hour if hour <= 12 else hour - 12
        return Said(CLOCK_TIME, {"when": f"{part}{shown}点{minute:02d}分"})
    return None


def cannot_look_up(text: str) -> Said | None:
    """A plain "I cannot look this up", where to find it, and what the assistant can do; None if not such a request."""
    plain = normalize(text)
    for thing, words, where in _UNAVAILABLE:
        if regex.search(words, plain):
            return Said(OUT_OF_REACH, {"thing": thing, "where": where})
    return None
