"""Ask instead of guessing: ambiguous expressions, the questions they raise, and reading the answers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from bookings.timeparse import SHANGHAI, When, choose_option, describe_date, parse_when

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)  # a Saturday; next week is Mon 11-30 … Sun 12-06


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def parsed(text: str, now: datetime = NOW, **kwargs: object) -> When:
    when = parse_when(text, now, **kwargs)  # type: ignore[arg-type]
    assert when is not None
    return when


def assert_asks(when: When, options: tuple[date, ...]) -> None:
    assert when.ambiguous
    assert when.date is None
    assert when.options == options
    assert when.question is not None
    for i, option in enumerate(options, start=1):
        assert f"{i}. {describe_date(option, lunar='农历' in when.question.splitlines()[i])}" in when.question
    if options:
        assert when.question.endswith("请回复数字。")


# --- describe_date -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 12, 2), "12月2日（星期三）"),
        (date(2026, 11, 29), "11月29日（星期日）"),
        (date(2027, 1, 1), "1月1日（星期五）"),
        (date(2028, 2, 29), "2月29日（星期二）"),
    ],
)
def test_describe_date_says_the_weekday(day: date, text: str) -> None:
    assert describe_date(day) == text


def test_describe_date_weekdays_follow_the_calendar() -> None:
    names = "一二三四五六日"
    for n in range(400):
        day = date(2026, 1, 1) + timedelta(days=n)
        assert describe_date(day) == f"{day.month}月{day.day}日（星期{names[day.weekday()]}）"


# --- a week without a day ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "monday", "words"),
    [
        ("下礼拜", date(2026, 11, 30), "下礼拜"),
        ("下个星期", date(2026, 11, 30), "下个星期"),
        ("下禮拜", date(2026, 11, 30), "下礼拜"),
        ("下周吧", date(2026, 11, 30), "下周"),
        ("这礼拜", date(2026, 11, 23), "这礼拜"),
        ("这个星期", date(2026, 11, 23), "这个星期"),
        ("下下礼拜", date(2026, 12, 7), "下下礼拜"),
        ("上礼拜", date(2026, 11, 16), "上礼拜"),
    ],
)
def test_a_week_without_a_day_asks_which_day(text: str, monday: date, words: str) -> None:
    when = parsed(text)
    assert_asks(when, ())
    assert when.week_of == monday
    tuesday = monday + timedelta(days=1)
    assert when.question == f"{words}哪一天？比如“{words}二”（{tuesday.month}月{tuesday.day}日）。"


def test_a_week_without_a_day_keeps_the_part_of_day() -> None:
    when = parsed("下礼拜上午")
    assert when.week_of == date(2026, 11, 30)
    assert (when.date, when.start, when.end) == (None, time(8), time(12))


@pytest.mark.parametrize("answer", ["礼拜三", "星期三", "周三", "三", "3", "３", "就礼拜三吧", "星期三。", "禮拜三"])
@pytest.mark.parametrize("week_of", [date(2026, 11, 30), date(2026, 12, 3), date(2026, 12, 6)])
def test_a_weekday_answer_falls_in_the_week_asked_about(answer: str, week_of: date) -> None:
    # week_of may be any day of the week; the week is Monday 11-30 … Sunday 12-06
    assert parsed(answer, week_of=week_of).date == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("answer", "day"),
    [("礼拜天", date(2026, 12, 6)), ("周日", date(2026, 12, 6)), ("七", date(2026, 12, 6)), ("一", date(2026, 11, 30))],
)
def test_weekday_answers_at_the_edges_of_the_week(answer: str, day: date) -> None:
    assert parsed(answer, week_of=date(2026, 11, 30)).date == day


def test_a_weekday_answer_with_a_part_of_day_falls_in_the_week_asked_about() -> None:
    when = parsed("礼拜三下午三点", week_of=date(2026, 11, 30))
    assert (when.date, when.start) == (date(2026, 12, 2), time(15))


def test_without_week_of_a_bare_weekday_is_the_next_one_and_a_bare_number_is_nothing() -> None:
    now = at(date(2026, 12, 3), 10)  # a Thursday
    assert parsed("礼拜三", now).date == date(2026, 12, 9)
    assert parse_when("三", now) is None
    assert parsed("礼拜三", now, week_of=date(2026, 11, 30)).date == date(2026, 12, 2)


def test_a_weekday_cut_from_an_explicit_week_keeps_that_week() -> None:
    week_of = date(2026, 11, 30)
    assert parsed("礼拜三", week_of=week_of, context="下下礼拜三吧").date == date(2026, 12, 9)
    assert parsed("礼拜三", week_of=week_of, context="礼拜三吧").date == date(2026, 12, 2)


def test_explicit_words_win_over_week_of() -> None:
    week_of = date(2026, 12, 7)
    assert parsed("下礼拜三", week_of=week_of).date == date(2026, 12, 2)
    assert parsed("明天", week_of=week_of).date == date(2026, 11, 29)
    assert parsed("三号", week_of=week_of).date == date(2026, 12, 3)


def test_the_week_and_its_day_in_one_message() -> None:
    assert parsed("下礼拜，礼拜三下午").date == date(2026, 12, 2)
    assert parsed("下个星期的星期五").date == date(2026, 12, 4)


# --- weekends --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "text", "options"),
    [
        (at(date(2026, 11, 25), 10), "周末", (date(2026, 11, 28), date(2026, 11, 29))),
        (at(date(2026, 11, 28), 10), "周末", (date(2026, 11, 28), date(2026, 11, 29))),
        (at(date(2026, 11, 29), 10), "周末", (date(2026, 11, 29), date(2026, 12, 5))),
        (at(date(2026, 11, 25), 10), "这个周末", (date(2026, 11, 28), date(2026, 11, 29))),
        (at(date(2026, 11, 25), 10), "下礼拜末", (date(2026, 12, 5), date(2026, 12, 6))),
        (at(date(2026, 11, 29), 10), "下周末", (date(2026, 12, 5), date(2026, 12, 6))),
    ],
)
def test_a_weekend_offers_its_two_days(now: datetime, text: str, options: tuple[date, ...]) -> None:
    assert_asks(parsed(text, now), options)


def test_this_weekend_said_on_a_sunday_is_today() -> None:
    assert parsed("这个周末", at(date(2026, 11, 29), 10)).date == date(2026, 11, 29)
    assert parsed("上周末", at(date(2026, 11, 29), 10)).options == (date(2026, 11, 21), date(2026, 11, 22))


# --- vague days ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("过两天", (date(2026, 11, 30), date(2026, 12, 1))),
        ("過兩天", (date(2026, 11, 30), date(2026, 12, 1))),
        ("过个两三天再来", (date(2026, 11, 30), date(2026, 12, 1))),
        ("这两天", (date(2026, 11, 28), date(2026, 11, 29))),
        ("过几天", ()),
        ("过些日子", ()),
        ("改天吧", ()),
        ("回头再约", ()),
        ("过阵子", ()),
    ],
)
def test_vague_days_ask(text: str, options: tuple[date, ...]) -> None:
    when = parsed(text)
    assert_asks(when, options)
    if not options:
        assert when.question == "您想约哪一天？比如“明天”“下礼拜二”。"


def test_vague_day_with_a_time_keeps_the_time() -> None:
    when = parsed("过两天下午")
    assert when.options == (date(2026, 11, 30), date(2026, 12, 1))
    assert (when.start, when.end) == (time(13), time(17))


def test_a_definite_day_beats_a_vague_one() -> None:
    assert parsed("改天，下礼拜二上午").date == date(2026, 12, 1)
    assert parsed("回头后天来").date == date(2026, 11, 30)


def test_counted_days_are_not_vague() -> None:
    assert parsed("过三天").date == date(2026, 12, 1)
    assert parsed("过2天").date == date(2026, 11, 30)


# Issue 10: vague or two-day phrasings that are in no other test, said on a Wednesday (2026-12-02, lunar 十月廿四).
WEDNESDAY = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)
NEXT_MONDAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("下周末", (date(2026, 12, 12), date(2026, 12, 13))),
        ("这个周末", (date(2026, 12, 5), date(2026, 12, 6))),
        ("十二月十五", (date(2026, 12, 15), date(2027, 1, 22))),
        ("过两日", (date(2026, 12, 4), date(2026, 12, 5))),
        ("过一两天", (date(2026, 12, 3), date(2026, 12, 4))),
        ("明后天", (date(2026, 12, 3), date(2026, 12, 4))),
        ("今明两天", (date(2026, 12, 2), date(2026, 12, 3))),
        ("下周二或者周三都可以", (date(2026, 12, 8), date(2026, 12, 9))),
        ("下礼拜二、礼拜三都可以", (date(2026, 12, 8), date(2026, 12, 9))),
        ("星期四星期五都行", (date(2026, 12, 3), date(2026, 12, 4))),
        ("明天和后天都可以", (date(2026, 12, 3), date(2026, 12, 4))),
        ("小年夜", (date(2027, 2, 4), date(2027, 1, 30))),
        ("过几天", ()),
        ("这几天", ()),
        ("过个把礼拜", ()),
    ],
)
def test_senior_phrasings_that_ask(text: str, options: tuple[date, ...]) -> None:
    assert_asks(parsed(text, WEDNESDAY), options)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("下里拜", None),
        ("下个礼拜", None),
        ("下个礼拜随便哪天", None),
        ("下礼拜哪天都行", None),
        ("下礼拜随便哪天上午", "morning"),
    ],
)
def test_a_week_said_with_any_day_asks_which_day_of_it(text: str, part: str | None) -> None:
    when = parsed(text, WEDNESDAY)
    assert when.ambiguous
    assert when.week_of == NEXT_MONDAY
    assert when.question is not None
    assert when.question.startswith(("下礼拜哪一天", "下个礼拜哪一天"))
    assert when.part_of_day == part


@pytest.mark.parametrize(
    ("text", "example"),
    [
        ("等过了元旦", "1月2日"),
        ("元旦以后", "1月2日"),
        ("过了冬至再来", "12月23日"),
        ("下礼拜三之后", "12月10日"),
    ],
)
def test_some_day_after_a_day_asks_which(text: str, example: str) -> None:
    # "after 元旦" is no day: ask, never book 元旦 itself
    when = parsed(text, WEDNESDAY)
    assert_asks(when, ())
    assert when.question is not None
    assert when.question.startswith(f"您说的“{text.removesuffix('再来')}”具体是哪一天？")
    assert example in when.question


def test_counted_days_after_today_stay_definite() -> None:
    assert parsed("三天以后", WEDNESDAY).date == date(2026, 12, 5)
    assert parsed("两个礼拜以后", WEDNESDAY).date == date(2026, 12, 16)
    assert parsed("元旦后一天", WEDNESDAY).date == date(2027, 1, 2)


def test_the_day_after_a_week_and_a_day_shares_the_week() -> None:
    # 下礼拜二或者礼拜三: the 礼拜三 is next week's, not the one coming first
    assert parsed("下礼拜二或者礼拜三", WEDNESDAY).options == (date(2026, 12, 8), date(2026, 12, 9))
    # 明天或者礼拜五: no week was named, so the coming Friday
    assert parsed("明天或者礼拜五", WEDNESDAY).options == (date(2026, 12, 3), date(2026, 12, 4))


# --- month edges ---------------------------------------------------------------------------------------------------


def end_days(year: int, month: int, today: date) -> tuple[date, ...]:
    """The last three days of a month that are not past: what 月底 offers."""
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return tuple(day for day in (last - timedelta(days=n) for n in (2, 1, 0)) if day >= today)


def next_month(today: date) -> tuple[int, int]:
    return today.year + today.month // 12, today.month % 12 + 1


# Every weekday as today, in weeks that end a 31-day month, a leap February, a 30-day month and the year.
MONTH_END_WEEKS = [
    start + timedelta(days=n)
    for start in (date(2026, 10, 25), date(2028, 2, 23), date(2026, 11, 24), date(2026, 12, 25))
    for n in range(7)
]


def said_month_end(text: str, today: date) -> tuple[date, ...]:
    """The days each way of saying a month's or the year's end offers (the convention in bookings/timeparse.py)."""
    if text.startswith(("下个月", "下月")):
        return end_days(*next_month(today), today)
    if text.startswith(("十二月", "12月", "年", "今年")):
        days = end_days(today.year, 12, today)
        return days or end_days(today.year + 1, 12, today)
    days = end_days(today.year, today.month, today)
    if text.startswith(("这", "本")):
        return days
    # 月底 alone on one of the last two days: next month's end is offered too
    return days + end_days(*next_month(today), today) if len(days) < 2 else days


@pytest.mark.parametrize("today", MONTH_END_WEEKS, ids=lambda d: f"{d:%Y-%m-%d-%a}")
@pytest.mark.parametrize(
    "text",
    [
        "月底",
        "月末",
        "月尾",
        "月底那几天",
        "这个月底",
        "本月底",
        "这个月月底",
        "这月末",
        "下个月底",
        "下个月的月底",
        "下月末",
        "下个月月底",
        "十二月底",
        "12月底",
        "年底",
        "年末",
        "今年年底",
        "年尾",
    ],
)
def test_a_month_or_year_end_offers_its_last_days(today: date, text: str) -> None:
    when = parsed(text, at(today, 9))
    assert_asks(when, said_month_end(text, today))
    assert f"“{text}”" in str(when.question)
    for i, option in enumerate(when.options, start=1):
        assert choose_option(str(i), when.options, at(today, 9)) == option


@pytest.mark.parametrize("today", MONTH_END_WEEKS[:7], ids=lambda d: f"{d:%a}")
def test_a_month_end_keeps_the_time_said(today: date) -> None:
    when = parsed("月底下午三点", at(today, 9))
    assert when.options == said_month_end("月底", today)
    assert when.start == time(15, 0) and when.exact_time


@pytest.mark.parametrize("today", MONTH_END_WEEKS[:7], ids=lambda d: f"{d:%a}")
@pytest.mark.parametrize("text", ["月底以后", "月底前", "年底前", "年底之前", "明年年底", "下个月底以前"])
def test_before_or_after_an_end_is_asked_without_days(today: date, text: str) -> None:
    when = parsed(text, at(today, 9))
    assert_asks(when, ())
    assert f"“{text}”" in str(when.question)


@pytest.mark.parametrize("day", [1, 2, 5, 6, 15, 31])
@pytest.mark.parametrize(
    ("text", "example"),
    [
        ("月初", lambda today: date(2026, 12, 3) if today.day <= 3 else date(2027, 1, 3)),
        ("下个月初", lambda today: date(2027, 1, 3)),
        ("下个月头上", lambda today: date(2027, 1, 3)),
        ("一月初", lambda today: date(2027, 1, 3)),
        ("月中", lambda today: date(2026, 12, 15) if today.day <= 15 else date(2027, 1, 15)),
        ("这个月中旬", lambda today: date(2026, 12, 15)),
        ("下个月下旬", lambda today: date(2027, 1, 25)),
    ],
)
def test_start_and_middle_of_a_month_are_asked(day: int, text: str, example: object) -> None:
    # 月初, 月中, 下旬 are several days: asked, with an example day of the month meant, never guessed
    today = date(2026, 12, day)
    when = parsed(text, at(today, 9))
    assert_asks(when, ())
    expected = example(today)  # type: ignore[operator]
    assert when.question == f"您说的“{text}”是哪一天？比如“{expected.month}月{expected.day}号”。"


# --- late at night -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hour", [0, 1, 2, 3, 4])
@pytest.mark.parametrize(
    ("text", "offset"), [("明天", 1), ("明早", 1), ("明天上午", 1), ("明晚", 1), ("后天", 2), ("大后天", 3)]
)
def test_tomorrow_said_late_at_night_asks(hour: int, text: str, offset: int) -> None:
    today = date(2026, 11, 29)
    when = parsed(text, at(today, hour, 30))
    coming, calendar = today + timedelta(days=offset - 1), today + timedelta(days=offset)
    assert_asks(when, (coming, calendar))  # the coming daytime first
    assert when.question is not None
    assert when.question.startswith(f"您说的“{text[:2] if text != '大后天' else text}”是哪一天？")


@pytest.mark.parametrize(("hour", "minute"), [(5, 0), (7, 0), (12, 0), (23, 59)])
def test_tomorrow_said_in_the_day_is_tomorrow(hour: int, minute: int) -> None:
    assert parsed("明天", at(date(2026, 11, 29), hour, minute)).date == date(2026, 11, 30)


def test_late_night_is_shanghai_time() -> None:
    # 18:30 UTC is 02:30 on the 29th in Shanghai
    when = parsed("明天", datetime(2026, 11, 28, 18, 30, tzinfo=timezone.utc))
    assert when.options == (date(2026, 11, 29), date(2026, 11, 30))
    # 02:30 UTC is 10:30 in Shanghai
    assert parsed("明天", datetime(2026, 11, 29, 2, 30, tzinfo=timezone.utc)).date == date(2026, 11, 30)


def test_shanghainese_tomorrow_late_at_night_asks_and_a_weekday_does_not() -> None:
    small_hours = at(date(2026, 12, 3), 0, 40)
    assert_asks(parsed("明朝", small_hours), (date(2026, 12, 3), date(2026, 12, 4)))
    assert_asks(parsed("明天上午", small_hours), (date(2026, 12, 3), date(2026, 12, 4)))
    assert parsed("今天上午", small_hours).date == date(2026, 12, 3)
    assert parsed("礼拜三", small_hours).date == date(2026, 12, 9)
    late_evening = at(date(2026, 12, 2), 23, 40)
    assert parsed("今天", late_evening).date == date(2026, 12, 2)
    assert parsed("明天", late_evening).date == date(2026, 12, 3)


def test_today_said_late_at_night_is_today() -> None:
    assert parsed("今天下午", at(date(2026, 11, 29), 1)).date == date(2026, 11, 29)


def test_the_question_format() -> None:
    when = parsed("明天", at(date(2026, 12, 2), 1))
    assert when.question == "您说的“明天”是哪一天？\n1. 12月2日（星期三）\n2. 12月3日（星期四）\n请回复数字。"
    assert when.describe() == ""


def test_a_late_night_question_keeps_the_time() -> None:
    when = parsed("明天下午三点", at(date(2026, 11, 29), 1))
    assert (when.date, when.start, when.exact_time) == (None, time(15), True)
    assert when.matched == "明天下午三点"


# --- several days in one message -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("明天不行，下礼拜五", date(2026, 12, 4)),
        ("不是明天，是后天", date(2026, 11, 30)),
        ("后天没空，大后天上午", date(2026, 12, 1)),
        ("明天去不了，改到下礼拜一", date(2026, 11, 30)),
    ],
)
def test_a_refused_day_gives_way(text: str, day: date) -> None:
    assert parsed(text).date == day


@pytest.mark.parametrize("text", ["明天不行", "下礼拜二没空", "不是明天"])
def test_only_refused_days_ask(text: str) -> None:
    when = parsed(text)
    assert when.date is None
    assert when.question == "那您哪天方便？比如“后天”“下礼拜二”。"


def test_two_days_joined_by_or_are_options() -> None:
    when = parsed("后天或者下礼拜五都行")
    assert_asks(when, (date(2026, 11, 30), date(2026, 12, 4)))
    when = parsed("明天还是后天下午")
    assert_asks(when, (date(2026, 11, 29), date(2026, 11, 30)))
    assert when.start == time(13)


def test_definite_expressions_are_not_ambiguous() -> None:
    for text in ("明天下午三点", "下礼拜二", "12月3号", "腊月二十", "十一号上午"):
        when = parsed(text)
        assert not when.ambiguous
        assert when.question is None
        assert when.options == ()
        assert when.date is not None


def test_when_stays_a_frozen_dataclass_with_the_old_positional_fields() -> None:
    when = When(date(2026, 12, 1), None, None, None, False, "下礼拜二")
    assert (when.options, when.question, when.week_of, when.lunar, when.ambiguous) == ((), None, None, None, False)
    with pytest.raises(AttributeError):
        when.date = None  # type: ignore[misc]


# --- choose_option -------------------------------------------------------------------------------------------------

TWO = (date(2026, 11, 29), date(2026, 11, 30))  # Sunday, Monday
THREE = (date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 2))


@pytest.mark.parametrize(
    ("reply", "options", "chosen"),
    [
        ("1", TWO, TWO[0]),
        ("１", TWO, TWO[0]),
        ("2", TWO, TWO[1]),
        ("2。", TWO, TWO[1]),
        ("一", TWO, TWO[0]),
        ("第二个", TWO, TWO[1]),
        ("第一个吧", TWO, TWO[0]),
        ("选2", TWO, TWO[1]),
        ("我选第三个", THREE, THREE[2]),
        ("头一个", TWO, TWO[0]),
        ("前面那个", TWO, TWO[0]),
        ("后面那个", TWO, TWO[1]),
        ("后面那个吧", THREE, THREE[2]),
        ("最后一个", THREE, THREE[2]),
        ("都行", TWO, TWO[0]),
        ("29号", TWO, TWO[0]),
        ("30号那天", TWO, TWO[1]),
        ("11月30日", TWO, TWO[1]),
        ("礼拜天", TWO, TWO[0]),
        ("星期一", TWO, TWO[1]),
        ("礼拜三", THREE, THREE[2]),
        ("明天", TWO, TWO[0]),
        ("后天吧", TWO, TWO[1]),
        # unclear: ask again rather than guess
        ("3", TWO, None),
        ("第五个", THREE, None),
        ("0", TWO, None),
        ("1和2", TWO, None),
        ("都不是", TWO, None),
        ("不是", TWO, None),
        ("1号", TWO, None),
        ("礼拜二", TWO, None),
        ("嗯", TWO, None),
        ("", TWO, None),
        ("😀", TWO, None),
    ],
)
def test_choose_option(reply: str, options: tuple[date, ...], chosen: date | None) -> None:
    assert choose_option(reply, options, NOW) == chosen


def test_choose_option_without_options_is_none() -> None:
    assert choose_option("1", (), NOW) is None


def test_choose_option_answers_every_question_parse_when_asks() -> None:
    for text, now in [
        ("明天", at(date(2026, 11, 29), 1)),
        ("月底", at(date(2026, 11, 30), 9)),
        ("过两天", NOW),
        ("月底", NOW),
        ("年底", NOW),
    ]:
        when = parsed(text, now)
        for i, option in enumerate(when.options, start=1):
            assert choose_option(str(i), when.options, now) == option
            assert choose_option(f"{option.month}月{option.day}号", when.options, now) == option


# --- vague words said together stay vague, and are quoted whole -------------------------------------------------

COMBINED_VAGUE = [
    "明年开春", "过完年以后", "年后开春", "下半个月", "等天暖和点", "开春以后", "过了年开春", "明年年初", "明年春天",
    "等我儿子回来以后", "入秋以后", "等过完年", "下半月", "上半个月", "这个月下半个月", "月初那几天", "等开春了",
    "明年开年", "过年前后", "下个月头几天", "等到天热了", "开春暖和点", "等天气暖和点", "年初开春", "年后哪天",
    "等天凉快点", "冬天过了", "天热起来以后", "下个月的下半个月", "节前节后", "入冬以前",
]  # fmt: skip


@pytest.mark.parametrize("today", [date(2026, 11, 23) + timedelta(days=n) for n in range(7)], ids=lambda d: f"{d:%a}")
@pytest.mark.parametrize("text", COMBINED_VAGUE)
def test_vague_words_said_together_are_asked_with_all_their_words(today: date, text: str) -> None:
    when = parsed(text, at(today, 10))
    assert when.ambiguous and when.date is None and when.options == ()
    assert f"“{text}”" in str(when.question), when.question


@pytest.mark.parametrize("text", ["明年开春下午", "过完年以后上午十点"])
def test_a_vague_wish_keeps_the_time_said_with_it(text: str) -> None:
    when = parsed(text)
    assert when.ambiguous and when.date is None and when.start is not None


@pytest.mark.parametrize(
    ("text", "day"), [("开春后天上午", date(2026, 11, 30)), ("过完年以后 不对 明天", date(2026, 11, 29))]
)
def test_a_definite_day_beside_vague_words_still_wins(text: str, day: date) -> None:
    assert parsed(text).date == day
