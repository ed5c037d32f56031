"""Chinese date/time parsing for bookings: a table of expressions against fixed nows."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bookings.timeparse import _SPECS, SHANGHAI, When, choose_option, parse_when
from textnorm import normalize

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)  # a Saturday; this week is Mon 11-23 … Sun 11-29

EARLY, AM, NOON, PM, DUSK, EVE = (6, 9), (8, 12), (11, 13), (13, 17), (17, 19), (18, 21)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def at(hour: int, minute: int = 0) -> tuple[time, None]:
    return time(hour, minute), None


def window(hours: tuple[int, int]) -> tuple[time, time]:
    return time(hours[0]), time(hours[1])


NO_TIME = (None, None)

# input → (date, (start, end))
TABLE: list[tuple[str, date | None, tuple[time | None, time | None]]] = [
    # relative days
    ("今天", d(11, 28), NO_TIME),
    ("阿拉今朝去好伐", d(11, 28), NO_TIME),
    ("明天", d(11, 29), NO_TIME),
    ("明朝", d(11, 29), NO_TIME),
    ("明儿个来", d(11, 29), NO_TIME),
    ("後天", d(11, 30), NO_TIME),
    ("后日下半天", d(11, 30), window(PM)),
    ("大后天", d(12, 1), NO_TIME),
    ("昨天", d(11, 27), NO_TIME),
    ("前天", d(11, 26), NO_TIME),
    # weeks
    ("下周二", d(12, 1), NO_TIME),
    ("下礼拜二", d(12, 1), NO_TIME),
    ("下星期二", d(12, 1), NO_TIME),
    ("下禮拜三", d(12, 2), NO_TIME),
    ("下个礼拜天", d(12, 6), NO_TIME),
    ("下周日", d(12, 6), NO_TIME),
    ("这周六", d(11, 28), NO_TIME),
    ("这个礼拜天", d(11, 29), NO_TIME),
    ("本周一", d(11, 23), NO_TIME),
    ("礼拜一", d(11, 30), NO_TIME),
    ("星期六", d(11, 28), NO_TIME),
    ("周五", d(12, 4), NO_TIME),
    ("下下周三", d(12, 9), NO_TIME),
    ("下下个礼拜一", d(12, 7), NO_TIME),
    ("下一个礼拜五", d(12, 4), NO_TIME),
    ("礼拜七", d(11, 29), NO_TIME),
    ("下礼拜五10点", d(12, 4), at(10)),
    ("下礼拜的礼拜三", d(12, 2), NO_TIME),
    ("上个星期五", d(11, 20), NO_TIME),
    # offsets
    ("三天后", d(12, 1), NO_TIME),
    ("3天以后", d(12, 1), NO_TIME),
    ("一个礼拜后", d(12, 5), NO_TIME),
    ("两个星期以后", d(12, 12), NO_TIME),
    ("过三天再说", d(12, 1), NO_TIME),
    ("过2天", d(11, 30), NO_TIME),
    # absolute days
    ("十一号", d(12, 11), NO_TIME),
    ("11号", d(12, 11), NO_TIME),
    ("11日", d(12, 11), NO_TIME),
    ("３０号", d(11, 30), NO_TIME),
    ("28号", d(11, 28), NO_TIME),
    ("31号", d(12, 31), NO_TIME),
    ("十二月三号", d(12, 3), NO_TIME),
    ("12月3日", d(12, 3), NO_TIME),
    ("12/3", d(12, 3), NO_TIME),
    ("2026年12月3日", d(12, 3), NO_TIME),
    ("2026-12-03", d(12, 3), NO_TIME),
    ("今年12月3号", d(12, 3), NO_TIME),
    ("一月三号", d(1, 3, 2027), NO_TIME),
    ("11月1号", d(11, 1, 2027), NO_TIME),
    ("2月29号", d(2, 29, 2028), NO_TIME),
    ("月底", d(11, 30), NO_TIME),
    ("月初", d(12, 1), NO_TIME),
    ("下个月底", d(12, 31), NO_TIME),
    ("十二月底", d(12, 31), NO_TIME),
    ("一月初", d(1, 1, 2027), NO_TIME),
    ("下个月3号", d(12, 3), NO_TIME),
    ("下个月十五号", d(12, 15), NO_TIME),
    ("元旦", d(1, 1, 2027), NO_TIME),
    # lunar dates (checked against lunar-python in test_timeparse_lunar.py)
    ("腊月二十", d(1, 27, 2027), NO_TIME),
    ("初八", d(12, 16), NO_TIME),
    ("冬月初八", d(12, 16), NO_TIME),
    ("十一月初三", d(12, 11), NO_TIME),
    ("农历十二月二十", d(1, 27, 2027), NO_TIME),
    ("春节", d(2, 6, 2027), NO_TIME),
    ("大年初一上午", d(2, 6, 2027), window(AM)),
    ("除夕", d(2, 5, 2027), NO_TIME),
    ("元宵节下午", d(2, 20, 2027), window(PM)),
    ("国庆节", d(10, 1, 2027), NO_TIME),
    # parts of day
    ("早上", None, window(EARLY)),
    ("早晨", None, window(EARLY)),
    ("清早", None, window(EARLY)),
    ("上午", None, window(AM)),
    ("上半天", None, window(AM)),
    ("中午", None, window(NOON)),
    ("下午", None, window(PM)),
    ("下半天", None, window(PM)),
    ("傍晚", None, window(DUSK)),
    ("晚上", None, window(EVE)),
    ("夜里", None, window(EVE)),
    # clock times
    ("三点", None, at(15)),
    ("三点钟", None, at(15)),
    ("3点", None, at(15)),
    ("3:30", None, at(15, 30)),
    ("三点半", None, at(15, 30)),
    ("三点一刻", None, at(15, 15)),
    ("三点三刻", None, at(15, 45)),
    ("八点半", None, at(8, 30)),
    ("七点", None, at(7)),
    ("六点", None, at(18)),
    ("早上八点半", None, at(8, 30)),
    ("下午三点", None, at(15)),
    ("晚上七点", None, at(19)),
    ("十点钟", None, at(10)),
    ("两点", None, at(14)),
    ("十二点", None, at(12)),
    ("12点", None, at(12)),
    ("一点钟", None, at(13)),
    ("三点十分", None, at(15, 10)),
    ("3点05分", None, at(15, 5)),
    ("３點半", None, at(15, 30)),
    ("8:30", None, at(8, 30)),
    ("15:30", None, at(15, 30)),
    ("中午一点", None, at(13)),
    ("下午1点半", None, at(13, 30)),
    ("下午3时", None, at(15)),
    ("三点二十", None, at(15, 20)),
    ("三点零五", None, at(15, 5)),
    ("三点五个人", None, at(15)),
    ("晚上十二点", None, at(0)),
    # combinations, raw and traditional, inside longer sentences
    ("明天下午三点", d(11, 29), at(15)),
    ("下礼拜二上半天", d(12, 1), window(AM)),
    ("大后天下午", d(12, 1), window(PM)),
    ("这个礼拜六上午十点", d(11, 28), at(10)),
    ("后天早上八点半", d(11, 30), at(8, 30)),
    ("12月3号下午两点", d(12, 3), at(14)),
    ("十一号上午", d(12, 11), window(AM)),
    ("帮我姆妈约下礼拜二上半天的助浴", d(12, 1), window(AM)),
    ("明朝下半天三点钟来", d(11, 29), at(15)),
    ("我想约後天下午兩點的理髮", d(11, 30), at(14)),
    ("麻烦侬帮我约明朝上半天", d(11, 29), window(AM)),
    ("伊下禮拜五下晝要去醫院", d(12, 4), window(PM)),
    ("明早8点", d(11, 29), at(8)),
    ("今晚七点", d(11, 28), at(19)),
    ("下周三，下午３点", d(12, 2), at(15)),
    ("明天的上午", d(11, 29), window(AM)),
    ("约在２０２６年１２月３日下午２：３０", d(12, 3), at(14, 30)),
    ("礼拜三夜快头", d(12, 2), window(DUSK)),
    ("电话13812345678，明天下午来", d(11, 29), window(PM)),
    ("住宝山路5号，后天上午", d(11, 30), window(AM)),
    ("明天快一点", d(11, 29), NO_TIME),
    ("我有两个问题，明天三点可以吗", d(11, 29), at(15)),
]


@pytest.mark.parametrize(("text", "day", "times"), TABLE, ids=[row[0] for row in TABLE])
def test_table(text: str, day: date | None, times: tuple[time | None, time | None]) -> None:
    when = parse_when(text, NOW)
    assert when is not None
    assert (when.date, when.start, when.end) == (day, *times)


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 80


SUNDAY = datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI)
OTHER_NOWS: list[tuple[datetime, str, date]] = [
    # end of month: 月底 on its last day means next month's end
    (datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI), "月底", d(11, 30)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), "下个月底", d(12, 31)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), "三十号", d(11, 30)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), "二十九号", d(12, 29)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), "明天", d(12, 1)),
    (datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), "这周日", d(12, 6)),
    # end of year
    (datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI), "一月三号", d(1, 3, 2027)),
    (datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI), "明天", d(1, 1, 2027)),
    (datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI), "十二月三十一号", d(12, 31)),
    (datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI), "下个月5号", d(1, 5, 2027)),
    (datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI), "下周一", d(1, 4, 2027)),
    (datetime(2026, 12, 30, 9, 0, tzinfo=SHANGHAI), "月底", d(12, 31)),
    # Sunday: 这周X stays in the week now ending, even when past; 下周X is the coming week
    (SUNDAY, "这周六", d(11, 28)),
    (SUNDAY, "这个礼拜一", d(11, 23)),
    (SUNDAY, "下周六", d(12, 5)),
    (SUNDAY, "下礼拜一", d(11, 30)),
    (SUNDAY, "星期天", d(11, 29)),
    (SUNDAY, "周六", d(12, 5)),
    # leap year
    (datetime(2028, 2, 28, 9, 0, tzinfo=SHANGHAI), "明天", d(2, 29, 2028)),
    (datetime(2028, 2, 28, 9, 0, tzinfo=SHANGHAI), "后天", d(3, 1, 2028)),
    (datetime(2028, 2, 28, 9, 0, tzinfo=SHANGHAI), "月底", d(2, 29, 2028)),
    # past the 5th, 月初 is next month's start
    (datetime(2026, 12, 6, 9, 0, tzinfo=SHANGHAI), "月初", d(1, 1, 2027)),
    # an aware now in UTC is converted: 22:00 UTC is already 06:00 on the 29th in Shanghai
    (datetime(2026, 11, 28, 22, 0, tzinfo=timezone.utc), "明天", d(11, 30)),
    # a naive now is Shanghai wall-clock time
    (datetime(2026, 11, 28, 23, 0), "明天", d(11, 29)),
]


@pytest.mark.parametrize(("now", "text", "day"), OTHER_NOWS, ids=[f"{r[0]:%Y-%m-%d}-{r[1]}" for r in OTHER_NOWS])
def test_other_nows(now: datetime, text: str, day: date) -> None:
    when = parse_when(text, now)
    assert when is not None
    assert when.date == day


def test_now_defaults_to_shanghai_today() -> None:
    when = parse_when("今天")
    assert when is not None
    assert when.date == datetime.now(SHANGHAI).date()


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("下礼拜二上半天", "12月1日（星期二）上午"),
        ("后天下午三点", "11月30日（星期一）下午3点"),
        ("今晚七点半", "11月28日（星期六）晚上7点半"),
        ("十一号", "12月11日（星期五）"),
        ("早上八点一刻", "上午8点15分"),
        ("傍晚", "傍晚"),
        ("明早", "11月29日（星期日）早上"),
    ],
)
def test_describe(text: str, described: str) -> None:
    when = parse_when(text, NOW)
    assert when is not None
    assert when.describe() == described


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("帮我姆妈约下礼拜二上半天的助浴", "下礼拜二上半天"),
        ("明朝下半天三点钟来", "明朝下半天三点钟"),
        ("我想约後天下午兩點的理髮", "後天下午兩點"),
        ("电话13812345678，明天下午来", "明天下午"),
        ("下半天🙂", "下半天"),
        ("约在２０２６年１２月３日", "２０２６年１２月３日"),
    ],
)
def test_matched_is_the_raw_substring(text: str, matched: str) -> None:
    when = parse_when(text, NOW)
    assert when is not None
    assert when.matched == matched


def test_fields_for_a_clock_time_and_a_part_of_day() -> None:
    clock = parse_when("明天下午三点", NOW)
    part = parse_when("明天上午", NOW)
    assert clock == When(d(11, 29), time(15), None, "afternoon", True, "明天下午三点")
    assert part == When(d(11, 29), time(8), time(12), "morning", False, "明天上午")


@pytest.mark.parametrize(
    ("raw", "plain"),
    [("下礼拜二", "下星期二"), ("明朝", "明天"), ("上半天", "上午"), ("下半天", "下午"), ("後天３點", "后天3点")],
)
def test_raw_and_normalized_forms_agree(raw: str, plain: str) -> None:
    assert normalize(raw) == plain
    a, b = parse_when(raw, NOW), parse_when(plain, NOW)
    assert a is not None
    assert b is not None
    assert (a.date, a.start, a.end) == (b.date, b.start, b.end)


@pytest.mark.parametrize(
    "text",
    [
        "我想问问长护险",
        "电话13812345678",
        "3个人",
        "我们家3个人",
        "快一点",
        "好一点点",
        "住在3号楼",
        "坐2号线过来",
        "宝山路5号",
        "今年80岁了",
        "要几点去",
        "一日三餐",
        "价格3-5元",
        "",
        "   ",
    ],
)
def test_no_date_or_time(text: str) -> None:
    assert parse_when(text, NOW) is None


_GRAMMAR = (
    "今明后大昨天朝儿下上这个本周星期礼拜一二两三四五六七八九十日号月底初年点钟半刻分时:/-早中午晚傍夜里过后以"
    "0123456789１２：廿正冬腊闰农历阴春节除夕元宵中秋小末或者还是不行没空改回头第选吧，"
)


@pytest.mark.property
@settings(max_examples=300, deadline=None)
@given(text=st.text(), now=st.datetimes(min_value=datetime(1, 1, 8), max_value=datetime(9999, 12, 24)))
def test_never_raises_on_any_text(text: str, now: datetime) -> None:
    result = parse_when(text, now)
    assert result is None or isinstance(result, When)


@pytest.mark.property
@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=_GRAMMAR, max_size=30), hour=st.integers(0, 23))
@example(text="闰六月初一", hour=10)
@example(text="明天不行", hour=1)
@example(text="腊月三十", hour=10)
def test_never_raises_on_grammar_soup(text: str, hour: int) -> None:
    result = parse_when(text, NOW.replace(hour=hour))
    if result is not None:
        assert result.matched
        result.describe()
        # ask instead of guessing: an ambiguous result never carries a date, a definite one never a question
        assert result.ambiguous == (result.question is not None)
        if result.ambiguous:
            assert result.date is None
        assert not (result.options and result.date is not None)
        assert len(set(result.options)) == len(result.options)


@pytest.mark.property
@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=_GRAMMAR, max_size=20),
    context=st.one_of(st.none(), st.text(alphabet=_GRAMMAR, max_size=30), st.text(max_size=30)),
    week_of=st.one_of(st.none(), st.dates()),
    now=st.datetimes(min_value=datetime(1, 1, 8), max_value=datetime(9999, 12, 24)),
)
def test_never_raises_with_week_of_and_context(
    text: str, context: str | None, week_of: date | None, now: datetime
) -> None:
    result = parse_when(text, now, week_of=week_of, context=context)
    assert result is None or isinstance(result, When)


@pytest.mark.property
@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.text(alphabet=_GRAMMAR, max_size=12), st.text(max_size=12)),
    options=st.lists(st.dates(), max_size=4, unique=True),
    now=st.datetimes(min_value=datetime(1, 1, 8), max_value=datetime(9999, 12, 24)),
)
@example(text="第二个", options=[date(2026, 11, 29)], now=datetime(2026, 11, 28))
def test_choose_option_never_raises_and_picks_an_option(text: str, options: list[date], now: datetime) -> None:
    chosen = choose_option(text, options, now)
    assert chosen is None or chosen in options


@pytest.mark.parametrize(
    "text",
    [
        "明天下午三点" + "啊" * 10_000,
        "😀" * 5_000 + "\x00\x1b\u200d\ufeff",
        "Привет مرحبا 下周二 こんにちは",
        "\ud800下午",
    ],
)
def test_never_raises_on_odd_input(text: str) -> None:
    parse_when(text, NOW)


def test_extreme_nows_do_not_raise() -> None:
    for text in ("大后天", "下个月底", "月底", "一月三号", "上个星期一", "前天", "元旦", "下下周日"):
        parse_when(text, datetime(9999, 12, 31, 23, 0))
        parse_when(text, datetime(1, 1, 1, 0, 0))


def _assert_specs_need_what_they_match(text: str) -> None:
    # parse_when skips a pattern when the text holds none of the characters the pattern needs: that
    # shortcut must never skip a pattern that would have matched.
    for spec in _SPECS:
        if spec.pattern.search(text):
            assert not spec.needs.isdisjoint(text), (spec.resolve.__name__, text)


_EVERY_PATTERN = ["下周末", "过几天", "小年夜", "年初二", "下个月初八", "廿三", "腊八", "除夕", "周五", "下礼拜"]


def test_every_pattern_needs_what_it_matches_in_the_table() -> None:
    texts = [normalize(text) for text in [row[0] for row in TABLE] + [row[1] for row in OTHER_NOWS] + _EVERY_PATTERN]
    for text in texts:
        _assert_specs_need_what_they_match(text)
    # every pattern is exercised by some phrase here
    assert {s.resolve.__name__ for s in _SPECS if not any(s.pattern.search(t) for t in texts)} == set()


@pytest.mark.property
@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=_GRAMMAR + "/-:号末节夕宵端重腊小除廿春元劳国清黄傍哪回改", max_size=20))
def test_every_pattern_needs_what_it_matches(text: str) -> None:
    _assert_specs_need_what_they_match(text)
