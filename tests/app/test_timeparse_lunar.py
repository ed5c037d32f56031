"""Lunar dates in bookings/timeparse.py, checked against lunar-python and against dates known by hand."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lunar_python import Lunar, Solar

from bookings.timeparse import SHANGHAI, When, describe_date, parse_when

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)  # lunar 2026 十月二十
MONTHS = ["正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊"]
DAYS = [f"初{n}" for n in "一二三四五六七八九十"] + [f"十{n}" for n in "一二三四五六七八九"] + ["二十"]
DAYS += [f"廿{n}" for n in "一二三四五六七八九"] + ["三十"]


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def parsed(text: str, now: datetime = NOW) -> When:
    when = parse_when(text, now)
    assert when is not None
    return when


def library_lunar(day: date) -> tuple[int, int, int]:
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    return lunar.getYear(), lunar.getMonth(), lunar.getDay()


def library_words(day: date) -> str:
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    return f"{lunar.getMonthInChinese()}月{lunar.getDayInChinese()}"


# --- dates known by hand (published calendars), confirmed with lunar-python ---------------------------------------

KNOWN = [
    # (now, said, date, lunar words)
    (at(date(2025, 12, 1)), "春节", date(2026, 2, 17), "正月初一"),
    (at(date(2026, 3, 1)), "春节", date(2027, 2, 6), "正月初一"),
    (at(date(2026, 2, 17)), "大年初一", date(2026, 2, 17), "正月初一"),  # on the day itself: today
    (at(date(2025, 12, 1)), "除夕", date(2026, 2, 16), "腊月廿九"),  # 2026 has no 年三十
    (at(date(2023, 12, 1)), "年三十", date(2024, 2, 9), "腊月三十"),
    (at(date(2024, 12, 1)), "大年夜", date(2025, 1, 28), "腊月廿九"),
    (at(date(2026, 1, 1)), "元宵", date(2026, 3, 3), "正月十五"),
    (at(date(2026, 1, 1)), "端午", date(2026, 6, 19), "五月初五"),
    (at(date(2026, 1, 1)), "中秋节", date(2026, 9, 25), "八月十五"),
    (at(date(2026, 1, 1)), "八月半", date(2026, 9, 25), "八月十五"),
    (at(date(2026, 1, 1)), "重阳", date(2026, 10, 18), "九月初九"),
    (at(date(2026, 1, 1)), "七夕", date(2026, 8, 19), "七月初七"),
    (at(date(2025, 12, 1)), "腊八", date(2026, 1, 26), "腊月初八"),
    (at(date(2026, 11, 28)), "小年", date(2027, 1, 31), "腊月廿四"),  # Shanghai keeps 廿四
    (at(date(2026, 11, 28)), "腊月二十", date(2027, 1, 27), "腊月二十"),
    (at(date(2026, 11, 28)), "腊月廿三", date(2027, 1, 30), "腊月廿三"),
    (at(date(2025, 1, 1)), "闰六月初一", date(2025, 7, 25), "闰六月初一"),
    (at(date(2025, 1, 1)), "六月初一", date(2025, 6, 25), "六月初一"),  # the ordinary 6th month, not the leap one
    (at(date(2026, 11, 28)), "年初二", date(2027, 2, 7), "正月初二"),
    (at(date(2026, 11, 28)), "正月十五", date(2027, 2, 20), "正月十五"),
    (at(date(2026, 11, 28)), "2027年正月十五", date(2027, 2, 20), "正月十五"),
    (at(date(2026, 11, 28)), "阴历冬月初八", date(2026, 12, 16), "冬月初八"),
    (at(date(2026, 11, 28)), "农历十一月初八", date(2026, 12, 16), "冬月初八"),
    (at(date(2026, 11, 28)), "农历十二月二十号", date(2027, 1, 27), "腊月二十"),
    (at(date(2026, 11, 28)), "初八", date(2026, 12, 16), "冬月初八"),
    (at(date(2026, 11, 28)), "廿三", date(2026, 12, 1), "十月廿三"),
    (at(date(2026, 11, 28)), "农历十五", date(2026, 12, 23), "冬月十五"),
    (at(date(2026, 11, 28)), "阴历三十", date(2026, 12, 8), "十月三十"),
    (at(date(2026, 11, 28)), "这个月初八", date(2026, 11, 16), "十月初八"),  # past: the caller refuses it
    (at(date(2026, 11, 28)), "下个月初八", date(2026, 12, 16), "冬月初八"),
]


@pytest.mark.parametrize(("now", "text", "day", "words"), KNOWN, ids=[f"{r[0]:%Y%m%d}-{r[1]}" for r in KNOWN])
def test_known_lunar_dates(now: datetime, text: str, day: date, words: str) -> None:
    when = parsed(text, now)
    assert (when.date, when.lunar) == (day, words)
    assert not when.ambiguous
    # the library agrees with the hand-checked date
    assert library_words(day).replace("闰", "闰") == words


def test_read_back_says_the_gregorian_date_weekday_and_lunar_words() -> None:
    assert parsed("腊月二十").describe() == "1月27日（星期三，农历腊月二十）"
    assert parsed("腊月二十上午").describe() == "1月27日（星期三，农历腊月二十）上午"
    assert describe_date(date(2027, 1, 27), lunar=True) == "1月27日（星期三，农历腊月二十）"
    assert describe_date(date(2025, 7, 25), lunar=True) == "7月25日（星期五，农历闰六月初一）"


def test_a_gregorian_date_reads_back_without_lunar_words() -> None:
    when = parsed("12月3号")
    assert when.lunar is None
    assert when.describe() == "12月3日（星期四）"


# --- collisions between Gregorian and lunar words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "lunar"),
    [
        ("初八", date(2026, 12, 16), "冬月初八"),
        ("十一月三号", date(2027, 11, 3), None),  # Gregorian: 11-03 of this year has passed
        ("冬月初三", date(2026, 12, 11), "冬月初三"),
        ("十一月初三", date(2026, 12, 11), "冬月初三"),  # a 初 day makes it lunar
        ("二十号", date(2026, 12, 20), None),
        ("腊月二十", date(2027, 1, 27), "腊月二十"),
        ("12月20", date(2026, 12, 20), None),  # typed digits are Gregorian
        ("十二月二十号", date(2026, 12, 20), None),
        ("廿三号", date(2026, 12, 23), None),
        ("一月初八", date(2027, 2, 13), "正月初八"),
    ],
)
def test_gregorian_and_lunar_words_do_not_collide(text: str, day: date, lunar: str | None) -> None:
    when = parsed(text)
    assert (when.date, when.lunar) == (day, lunar)


@pytest.mark.parametrize(
    ("text", "gregorian", "lunar"),
    [
        ("十二月二十", date(2026, 12, 20), date(2027, 1, 27)),
        ("八月十五", date(2027, 8, 15), date(2027, 9, 15)),
    ],
)
def test_month_and_day_in_words_without_a_calendar_asks(text: str, gregorian: date, lunar: date) -> None:
    when = parsed(text)
    assert when.ambiguous
    assert when.options == (gregorian, lunar)
    assert when.question is not None
    assert f"1. {describe_date(gregorian)}" in when.question
    assert f"2. {describe_date(lunar, lunar=True)}" in when.question


def test_a_lunar_date_that_does_not_exist_soon_asks() -> None:
    when = parsed("闰六月初一")  # no 闰六月 in the next three lunar years from 2026-11
    assert when.ambiguous
    assert when.date is None
    assert when.options == ()


def test_la_yue_san_shi_is_new_years_eve_also_in_a_short_year() -> None:
    # lunar 2026's 腊月 has 29 days: 腊月三十 is 除夕, read back honestly as 廿九
    when = parsed("腊月三十")
    assert (when.date, when.lunar) == (date(2027, 2, 5), "腊月廿九")
    assert parsed("除夕").date == date(2027, 2, 5)


def test_small_new_years_eve_asks() -> None:
    when = parsed("小年夜")
    # Shanghai: the night before 大年夜 first; the eve of the northern 小年 second
    assert when.options == (date(2027, 2, 4), date(2027, 1, 30))


@pytest.mark.parametrize("text", ["小年轻", "三十岁", "今年三十岁了", "十五个人", "十五", "等十五分钟", "初中同学"])
def test_lunar_looking_words_that_are_not_dates(text: str) -> None:
    when = parse_when(text, NOW)
    assert when is None or when.date is None


# --- against the library -------------------------------------------------------------------------------------------


def test_lunar_words_agree_with_the_library_around_every_month_boundary() -> None:
    # lunar-python is slow per call (milliseconds), so the check samples: both sides of every month boundary from
    # 2024 to 2030 (where an off-by-one would show), and every 9th day in between.
    days: set[date] = set()
    for year in range(2024, 2031):
        for month in range(1, 13):
            first = date.fromisoformat(Lunar.fromYmd(year, month, 1).getSolar().toYmd())
            days |= {first, first - timedelta(days=1)}
    days |= {date(2024, 1, 1) + timedelta(days=n) for n in range(0, 7 * 366, 9)}
    for day in sorted(days):
        assert describe_date(day, lunar=True).endswith(f"，农历{library_words(day)}）"), day


@pytest.mark.parametrize("month", range(12))
def test_each_lunar_month_is_the_next_occurrence(month: int) -> None:
    # From several nows, "<month>月<day>" (lunar) is the first day on or after today with that lunar month and
    # day, as the library counts it: that day has it, and the same lunar date a lunar year earlier was before today.
    for now_day in (date(2026, 1, 10), date(2026, 11, 28), date(2027, 2, 6)):
        for day_index in (0, 7, 14, 28):
            name = f"{MONTHS[month]}月{DAYS[day_index]}"
            text = name if MONTHS[month] in "正冬腊" else f"农历{name}"
            when = parsed(text, at(now_day))
            assert when.date is not None, text
            assert when.date >= now_day
            year, lunar_month, lunar_day = library_lunar(when.date)
            assert (lunar_month, lunar_day) == (month + 1, day_index + 1), text
            before = Lunar.fromYmd(year - 1, month + 1, day_index + 1).getSolar()
            assert date.fromisoformat(before.toYmd()) < now_day, text


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(1901, 3, 1), max_value=datetime(2098, 10, 1)),
    month=st.integers(1, 12),
    day=st.integers(1, 30),
)
@example(now=datetime(2026, 11, 28, 10), month=12, day=20)
@example(now=datetime(2033, 12, 1, 10), month=11, day=30)  # 2033 has a leap 11th month
def test_lunar_dates_round_trip_through_the_library(now: datetime, month: int, day: int) -> None:
    text = f"农历{MONTHS[month - 1]}月{DAYS[day - 1]}"
    when = parse_when(text, now)
    assert when is not None
    if when.date is None:  # only a 三十 that no near year has, or 腊月三十 handled as 除夕
        return
    assert when.date >= now.date()
    year, lunar_month, lunar_day = library_lunar(when.date)
    if (month, day) == (12, 30):
        assert Lunar.fromYmd(year + 1, 1, 1).getSolar().toYmd() == (when.date + timedelta(days=1)).isoformat()
        return
    assert (lunar_month, lunar_day) == (month, day)
    assert Lunar.fromYmd(year, month, day).getSolar().toYmd() == when.date.isoformat()
    assert when.lunar == f"{MONTHS[month - 1]}月{DAYS[day - 1]}"


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(day=st.dates(min_value=date(1901, 2, 20), max_value=date(2100, 12, 31)))
@example(day=date(2025, 7, 25))
def test_describe_date_lunar_agrees_with_the_library(day: date) -> None:
    assert describe_date(day, lunar=True).endswith(f"，农历{library_words(day)}）")


def test_dates_outside_the_lunar_range_read_back_without_lunar_words() -> None:
    assert describe_date(date(1800, 1, 1), lunar=True) == "1月1日（星期三）"
    assert (
        parse_when("腊月二十", datetime(2200, 1, 1)) is None
        or parse_when("腊月二十", datetime(2200, 1, 1)).date is None
    )  # type: ignore[union-attr]


# --- solar terms (节气): 冬至 is a family day in Shanghai, 清明 the day for the graves ------------------------------


@pytest.mark.parametrize("today", [date(2025, 12, 22), date(2026, 6, 15), date(2026, 12, 2), date(2027, 12, 23)])
@pytest.mark.parametrize("term", ["冬至", "清明", "立春", "夏至", "立冬", "小寒"])
def test_a_solar_term_is_its_next_day_on_or_after_today(today: date, term: str) -> None:
    when = parsed(term, at(today))
    assert when.date is not None
    assert Solar.fromYmd(when.date.year, when.date.month, when.date.day).getLunar().getJieQi() == term
    days = (when.date - today).days
    assert 0 <= days <= 366
    assert all(
        Solar.fromYmd(d.year, d.month, d.day).getLunar().getJieQi() != term
        for d in (today + timedelta(days=n) for n in range(days))
    )


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("冬至", date(2026, 12, 22)),
        ("冬至那天上午", date(2026, 12, 22)),
        ("约在冬至", date(2026, 12, 22)),
        ("冬至前一天", date(2026, 12, 21)),
        ("清明节", date(2027, 4, 5)),
        ("明年清明", date(2027, 4, 5)),
        ("元旦前一天", date(2026, 12, 31)),
        ("元旦后一天", date(2027, 1, 2)),
        ("圣诞节", date(2026, 12, 25)),
        ("元月三号", date(2027, 1, 3)),
        ("公历十二月二十", date(2026, 12, 20)),
        ("阳历12月18号", date(2026, 12, 18)),
    ],
)
def test_solar_terms_holidays_and_days_next_to_them(text: str, day: date) -> None:
    when = parsed(text, at(date(2026, 12, 2)))
    assert when.date == day
    assert not when.ambiguous


@pytest.mark.parametrize("text", ["王立春", "刘小满", "外面下大雪", "雨水多", "大雪天不出门", "陈谷雨"])
def test_solar_term_words_in_names_and_weather_are_not_dates(text: str) -> None:
    assert parse_when(text, at(date(2026, 12, 2))) is None
