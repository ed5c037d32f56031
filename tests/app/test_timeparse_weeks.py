"""The week convention of bookings/timeparse.py, for every (today, 这/下/下下/上/bare, weekday) of a week.

The expected dates are computed here from the rule written in the module docstring, not from the
implementation: weeks run Monday–Sunday; 这X = day X of the current week, 下X = of the next week,
下下X = of the week after, 上X = of last week; a bare 礼拜X is the first day on or after today that is an X.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from bookings.timeparse import SHANGHAI, parse_when

# Two weeks: an ordinary one, and one that crosses a month and a year (Mon 2026-12-28 … Sun 2027-01-03).
WEEKS = [date(2026, 11, 23), date(2026, 12, 28)]
RELS = {"这": 0, "下": 1, "下下": 2, "上": -1, "": None}

# Every way seniors write the relative word, the week word and the weekday.
REL_SPELLINGS = {
    "这": ["这", "这个", "这一个", "本", "本个"],
    "下": ["下", "下个", "下一个", "下個"],
    "下下": ["下下", "下下个"],
    "上": ["上", "上个", "上一个"],
    "": [""],
}
# 里拜/理拜/礼白/星其: what voice input and pinyin typing make of 礼拜 and 星期.
UNITS = ["礼拜", "星期", "周", "禮拜", "週", "里拜", "理拜", "礼白", "星其"]
DAY_SPELLINGS = {
    0: ["一", "1", "１"],
    1: ["二", "2", "２"],
    2: ["三", "3", "３"],
    3: ["四", "4", "４"],
    4: ["五", "5", "５"],
    5: ["六", "6", "６"],
    6: ["天", "日", "七", "7", "７"],
}


def expected(today: date, rel: str, weekday: int) -> date:
    monday = today - timedelta(days=today.weekday())
    weeks = RELS[rel]
    if weeks is None:
        return next(today + timedelta(days=n) for n in range(7) if (today + timedelta(days=n)).weekday() == weekday)
    return monday + timedelta(days=7 * weeks + weekday)


CASES = [
    (monday + timedelta(days=t), rel, weekday)
    for monday in WEEKS
    for t in range(7)
    for rel in RELS
    for weekday in range(7)
]


def spellings(rel: str, weekday: int) -> list[str]:
    return [r + unit + day for r in REL_SPELLINGS[rel] for unit in UNITS for day in DAY_SPELLINGS[weekday]]


@pytest.mark.parametrize(("today", "rel", "weekday"), CASES, ids=[f"{t:%m%d%a}-{r or 'bare'}-{w}" for t, r, w in CASES])
def test_every_today_rel_and_weekday(today: date, rel: str, weekday: int) -> None:
    now = datetime.combine(today, time(10), tzinfo=SHANGHAI)
    want = expected(today, rel, weekday)
    wrong = {}
    for text in spellings(rel, weekday):
        when = parse_when(text, now)
        got = None if when is None else when.date
        if got != want:
            wrong[text] = got
    assert not wrong, f"expected {want} for all spellings; wrong: {wrong}"


def test_the_table_is_complete() -> None:
    assert len(CASES) == 2 * 7 * 5 * 7
    assert {t.weekday() for t, _, _ in CASES} == set(range(7))


@pytest.mark.parametrize("today", [date(2026, 11, 29), date(2026, 11, 30)], ids=["sunday", "monday"])
@pytest.mark.parametrize(
    "template",
    [
        "{}",
        "帮我约{}上午十点",
        "{}10点",
        "{}3点",
        "{}8:30",
        "{}下午3点",
        "侬{}有空伐",
        "改到{}吧",
        "那就{}，下半天",
        "{}早上",
        "{}一早",
    ],
)
@pytest.mark.parametrize("said", ["下礼拜五", "下礼拜天", "下个礼拜五", "下一个礼拜天", "下周日", "下禮拜五"])
def test_next_week_in_sentences_on_sunday_and_monday(today: date, template: str, said: str) -> None:
    # The issue: on a Sunday or Monday, 下礼拜五/下礼拜天 landed in the current week.
    weekday = 4 if "五" in said else 6
    when = parse_when(template.format(said), datetime.combine(today, time(10), tzinfo=SHANGHAI))
    assert when is not None
    assert when.date == expected(today, "下", weekday)


@pytest.mark.parametrize("today", [monday + timedelta(days=t) for monday in WEEKS for t in range(7)])
@pytest.mark.parametrize("weekday", range(7))
def test_an_entity_cut_from_its_message_is_read_in_the_message(today: date, weekday: int) -> None:
    # An upstream extractor may hand over only 礼拜五 out of 下礼拜五: the whole message decides.
    now = datetime.combine(today, time(10), tzinfo=SHANGHAI)
    name = "一二三四五六天"[weekday]
    when = parse_when(f"星期{name}", now, context=f"我想约下礼拜{name}上午")
    assert when is not None
    assert when.date == expected(today, "下", weekday)
    assert when.start == time(8)
    assert when.matched == f"下礼拜{name}上午"


def test_a_cut_entity_that_is_not_in_the_message_is_read_alone() -> None:
    now = datetime(2026, 11, 30, 10, tzinfo=SHANGHAI)  # a Monday
    when = parse_when("礼拜五", now, context="帮我约一个助浴")
    assert when is not None
    assert when.date == date(2026, 12, 4)


def test_a_cut_refused_day_gives_way_to_the_day_wanted() -> None:
    now = datetime(2026, 11, 29, 10, tzinfo=SHANGHAI)
    when = parse_when("明天", now, context="明天不行，下礼拜五")
    assert when is not None
    assert when.date == date(2026, 12, 4)


@pytest.mark.parametrize(
    "text", ["这周围有没有助浴", "一周一次", "每周三次", "周到一点", "周岁", "这里拜托你了", "家里拜一拜菩萨", "去拜年"]
)
def test_week_words_inside_other_words_are_not_dates(text: str) -> None:
    when = parse_when(text, datetime(2026, 11, 28, 10, tzinfo=SHANGHAI))
    assert when is None or (when.date is None and when.week_of is None and not when.ambiguous)
