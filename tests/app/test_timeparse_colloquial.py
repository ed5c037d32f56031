"""Dates and times as a senior in Shanghai types them, for each day of a week as "today".

Each probe is a phrase and what it should mean; the expected day is computed here from the given today by the
conventions in the docstring of bookings/timeparse.py (weeks run Monday–Sunday, a bare 礼拜X is the next such day,
a bare N号 the next such day of a month, lunar days by lunar-python), never read from the parser. A probe may
expect a day and a time, a day and a window of time, no day at all (a house number is not a date), or a question
(a vague or ambiguous phrase is asked about, never saved as a guess).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from lunar_python import Solar

from bookings.timeparse import SHANGHAI, When, parse_when

# Monday 2026-12-07 … Sunday 2026-12-13; the week after holds the month's end and 冬至 (12-21).
WEEK = [date(2026, 12, 7) + timedelta(days=n) for n in range(7)]
HOUR = 10  # a morning hour: no late-night reading of 明天

DayFn = Callable[[date], date]


def plus(n: int) -> DayFn:
    return lambda today: today + timedelta(days=n)


def monday(today: date) -> date:
    return today - timedelta(days=today.weekday())


def this_week(wd: int) -> DayFn:
    return lambda today: monday(today) + timedelta(days=wd)


def next_week(wd: int, weeks: int = 1) -> DayFn:
    return lambda today: monday(today) + timedelta(days=7 * weeks + wd)


def coming(wd: int) -> DayFn:
    """The next such weekday, today included."""
    return lambda today: today + timedelta(days=(wd - today.weekday()) % 7)


def day_of_month(n: int) -> DayFn:
    """The next N号: this month if not past, else next month."""

    def resolve(today: date) -> date:
        this = date(today.year, today.month, n)
        if this >= today:
            return this
        return date(today.year + today.month // 12, today.month % 12 + 1, n)

    return resolve


def month_day(m: int, d: int) -> DayFn:
    def resolve(today: date) -> date:
        this = date(today.year, m, d)
        return this if this >= today else date(today.year + 1, m, d)

    return resolve


def next_month(d: int) -> DayFn:
    return lambda today: date(today.year + today.month // 12, today.month % 12 + 1, d)


def _lunar(day: date) -> tuple[int, int]:
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    return lunar.getMonth(), lunar.getDay()


def lunar(month: int | None, d: int) -> DayFn:
    """The next lunar (month, day) on or after today (any month when None; never a leap month)."""

    def resolve(today: date) -> date:
        for n in range(400):
            day = today + timedelta(days=n)
            m, dd = _lunar(day)
            if dd == d and (m == month if month is not None else True):
                return day
        raise AssertionError("no such lunar day within a year")

    return resolve


def solar_term(name: str, shift: int = 0) -> DayFn:
    def resolve(today: date) -> date:
        for n in range(400):
            day = today + timedelta(days=n)
            if Solar.fromYmd(day.year, day.month, day.day).getLunar().getJieQi() == name:
                return day + timedelta(days=shift)
        raise AssertionError("no such solar term within a year")

    return resolve


def month_end(today: date) -> date:
    first_next = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def month_end_days(today: date) -> tuple[date, ...]:
    """月底: the month's last three days (none of this week is one of them)."""
    return tuple(month_end(today) - timedelta(days=n) for n in (2, 1, 0))


def year_end_days(today: date) -> tuple[date, ...]:
    return tuple(date(today.year, 12, d) for d in (29, 30, 31))


ASK = "ask"  # a question, no day saved
NO_DAY = "none"  # no day in it at all (the time, if any, may still be read)


@dataclass(frozen=True)
class Probe:
    text: str
    day: DayFn | str | None  # a day, ASK, NO_DAY, or None (a time only)
    start: str | None = None  # "HH:MM"
    end: str | None = None  # "HH:MM" for a window
    approximate: bool = False
    options: tuple[DayFn, ...] | Callable[[date], tuple[date, ...]] = ()  # the numbered days asked, most likely first


def p(
    text: str,
    day: DayFn | str | None,
    start: str | None = None,
    end: str | None = None,
    *,
    approximate: bool = False,
    options: tuple[DayFn, ...] | Callable[[date], tuple[date, ...]] = (),
) -> Probe:
    return Probe(text, day, start, end, approximate, options)


AM, PM, NOON, EVE, EARLY = (
    ("08:00", "12:00"),
    ("13:00", "17:00"),
    ("11:00", "13:00"),
    ("18:00", "21:00"),
    ("06:00", "09:00"),
)

PROBES: list[Probe] = [
    # --- relative days, Mandarin and Shanghainese
    p("今朝下半天", plus(0), *PM),
    p("明朝", plus(1)),
    p("明朝上半天", plus(1), *AM),
    p("明朝夜里向", plus(1), *EVE),
    p("后日", plus(2)),
    p("后日上昼十点", plus(2), "10:00"),
    p("大后日下午", plus(3), *PM),
    p("明天吃过中饭", plus(1), *PM),
    p("明朝吃好中饭来", plus(1), *PM),
    p("后天吃过早饭", plus(2), *AM),
    p("今朝吃好夜饭", plus(0), *EVE),
    p("明天午饭后", plus(1), *PM),
    p("明天早浪向", plus(1), *EARLY),
    p("明儿个上午", plus(1), *AM),
    p("三天以后", plus(3)),
    p("过一个礼拜", plus(7)),
    p("两个礼拜后", plus(14)),
    p("下礼拜的今天", plus(7)),
    p("下个礼拜今朝", plus(7)),
    # --- weekdays with 这/下/下下, 礼拜/星期/周
    p("这礼拜五", this_week(4)),
    p("这个星期六上午", this_week(5), *AM),
    p("本周日", this_week(6)),
    p("下礼拜一", next_week(0)),
    p("下个星期二下午", next_week(1), *PM),
    p("下周三上午九点", next_week(2), "09:00"),
    p("下下礼拜四", next_week(3, 2)),
    p("下下个星期天", next_week(6, 2)),
    p("周五", coming(4)),
    p("礼拜天", coming(6)),
    p("星期日下午", coming(6), *PM),
    p("下礼拜天", next_week(6)),
    p("这礼拜天", this_week(6)),
    p("礼拜六吧", coming(5)),
    p("就礼拜三好了", coming(2)),
    p("下个礼拜的礼拜五", next_week(4)),
    # --- voice input and typing slips
    p("下礼拜武", next_week(4)),
    p("下礼拜伍", next_week(4)),
    p("星期3", coming(2)),
    p("礼拜天下午3点半", coming(6), "15:30"),
    p("下周4上午", next_week(3), *AM),
    p("礼拜陆", coming(5)),
    p("下个里拜二", next_week(1)),
    p("星期5下五3点", coming(4), "15:00"),
    p("明天下五两点", plus(1), "14:00"),
    # --- full-width digits
    p("１２月２０号", month_day(12, 20)),
    p("明天上午９点半", plus(1), "09:30"),
    p("下礼拜３", next_week(2)),
    p("２５号下午", day_of_month(25), *PM),
    p("晚上７点", None, "19:00"),
    # --- dates with 号/日, months
    p("8号", day_of_month(8)),
    p("十号上午", day_of_month(10), *AM),
    p("二十号", day_of_month(20)),
    p("20日", day_of_month(20)),
    p("12月20号", month_day(12, 20)),
    p("12月20日下午两点", month_day(12, 20), "14:00"),
    p("1月5号", month_day(1, 5)),
    p("一月五号", month_day(1, 5)),
    p("下个月5号", next_month(5)),
    p("下个月十号上午", next_month(10), *AM),
    p("这个月28号", day_of_month(28)),
    p("12/24", month_day(12, 24)),
    p("2027年1月8日", lambda today: date(2027, 1, 8)),
    p("元旦", month_day(1, 1)),
    p("元旦那天上午", month_day(1, 1), *AM),
    p("圣诞节", month_day(12, 25)),
    p("月底", ASK, options=month_end_days),
    p("这个月底", ASK, options=month_end_days),
    # --- lunar dates, festivals, solar terms
    p("初八", lunar(None, 8)),
    p("腊月二十", lunar(12, 20)),
    p("腊月廿三", lunar(12, 23)),
    p("正月十五", lunar(1, 15)),
    p("元宵节", lunar(1, 15)),
    p("正月初五", lunar(1, 5)),
    p("冬月初八", lunar(11, 8)),
    p("农历十一月十八", lunar(11, 18)),
    p("阴历十五", lunar(None, 15)),
    p("腊八", lunar(12, 8)),
    p("冬至", solar_term("冬至")),
    p("冬至前一天", solar_term("冬至", -1)),
    p("冬至那天上午", solar_term("冬至"), *AM),
    p("清明", solar_term("清明")),
    p("清明节", solar_term("清明")),
    p("初八上午十点", lunar(None, 8), "10:00"),
    p("除夕", lambda today: lunar(1, 1)(today) - timedelta(days=1)),
    # --- clock times
    p("早上八点半", None, "08:30"),
    p("下午三点一刻", None, "15:15"),
    p("十点差五分", None, "09:55"),
    p("差一刻十点", None, "09:45"),
    p("九点过五分", None, "09:05"),
    p("晚上7点", None, "19:00"),
    p("中午", None, *NOON),
    p("12点", None, "12:00"),
    p("中午12点", None, "12:00"),
    p("晚上12点", None, "00:00"),
    p("半夜12点", None, "00:00"),
    p("凌晨三点", None, "03:00"),
    p("下午两点半", None, "14:30"),
    p("上午10:30", None, "10:30"),
    p("三点钟", None, "15:00"),
    p("九点钟", None, "09:00"),
    p("下半天四点", None, "16:00"),
    p("夜里向七点", None, "19:00"),
    p("上半日九点半", None, "09:30"),
    # --- a day and a time in one message
    p("明天下午三点", plus(1), "15:00"),
    p("后天早上八点半", plus(2), "08:30"),
    p("下礼拜二上午九点半", next_week(1), "09:30"),
    p("礼拜四下午两点钟", coming(3), "14:00"),
    p("15号上午十点", day_of_month(15), "10:00"),
    p("明天，下午三点吧", plus(1), "15:00"),
    p("我想约明天上午", plus(1), *AM),
    p("帮我约后天下午三点的", plus(2), "15:00"),
    p("那就下礼拜三上午吧", next_week(2), *AM),
    p("明朝下半天两点", plus(1), "14:00"),
    p("下周一早上9点", next_week(0), "09:00"),
    # --- ranges of hours and approximate times: a window, never one guessed hour
    p("两三点", None, "14:00", "16:00"),
    p("两点到三点", None, "14:00", "15:00"),
    p("三四点钟", None, "15:00", "17:00"),
    p("下午两三点", None, "14:00", "16:00"),
    p("明天两三点", plus(1), "14:00", "16:00"),
    p("明天下午两点到三点", plus(1), "14:00", "15:00"),
    p("九十点钟", None, "09:00", "11:00"),
    p("八九点钟", None, "08:00", "10:00"),
    p("上午九点到十一点", None, "09:00", "11:00"),
    p("9点到10点之间", None, "09:00", "10:00"),
    p("两点半到三点半", None, "14:30", "15:30"),
    p("后天上午十点到十一点", plus(2), "10:00", "11:00"),
    p("礼拜五下午两三点钟", coming(4), "14:00", "16:00"),
    p("十点多", None, "10:00", "11:00"),
    p("下午三点多", None, "15:00", "16:00"),
    p("下午三点以后", None, "15:00", "17:00"),
    p("上午十点以前", None, "08:00", "10:00"),
    p("十点来钟", None, "10:00", approximate=True),
    p("明天十来点", plus(1), "10:00", approximate=True),
    p("明天晚上十来点钟", plus(1), "22:00", approximate=True),
    p("十点左右", None, "10:00", approximate=True),
    p("明天三点钟光景", plus(1), "15:00", approximate=True),
    p("大概九点", None, "09:00", approximate=True),
    p("下午三点前后", None, "15:00", approximate=True),
    # --- a house number, a phone or an age in the message is not a date
    p("盘古路100弄5号", NO_DAY),
    p("我住盘古路100弄5号", NO_DAY),
    p("明天上午，地址盘古路100弄5号", plus(1), *AM),
    p("后天 我住友谊路88号3楼", plus(2)),
    p("下礼拜二，住牡丹江路1号", next_week(1)),
    p("5号楼", NO_DAY),
    p("坐3号线", NO_DAY),
    p("门牌号12号", NO_DAY),
    p("我家是12号", NO_DAY),
    p("电话13812345678", NO_DAY),
    p("明天下午，电话13812345678", plus(1), *PM),
    p("我今年八十岁", NO_DAY),
    p("住5楼 明天上午", plus(1), *AM),
    p("房间号302", NO_DAY),
    # --- vague: ask, never guess
    p("过完年", ASK),
    p("年后", ASK),
    p("过了年再说", ASK),
    p("节后", ASK),
    p("春节后", ASK),
    p("春节以后", ASK),
    p("国庆以后", ASK),
    p("元旦之后", ASK),
    p("开春", ASK),
    p("开春以后", ASK),
    p("月初", ASK),
    p("下个月初", ASK),
    p("月中", ASK),
    p("下个月中旬", ASK),
    p("下旬", ASK),
    p("年底", ASK, options=year_end_days),
    p("年前", ASK),
    p("这几天", ASK),
    p("回头", ASK),
    p("改天", ASK),
    p("等我儿子回来", ASK),
    p("等我女儿下班再约", ASK),
    p("过段时间", ASK),
    p("下个月", ASK),
    p("下礼拜", ASK),
    p("下礼拜随便哪天", ASK),
    p("过两天", ASK, options=(plus(2), plus(3))),
    p("等天暖和了", ASK),
    p("最近几天", ASK),
    p("过些日子", ASK),
    p("过几天", ASK),
    p("等我出院", ASK),
    p("等我腿好了再去", ASK),
    p("年底前", ASK),
    p("年初", ASK),
    p("明年", ASK),
    p("下半年", ASK),
    p("元旦前", ASK),
    p("国庆节后", ASK),
    p("中秋以后", ASK),
    p("过完元宵", ASK),
    p("冬至以后", ASK),
    p("下下周", ASK),
    # --- more of everything, as typed
    p("礼拜一早上", coming(0), *EARLY),
    p("下个礼拜一早上八点", next_week(0), "08:00"),
    p("星期二上午十点钟", coming(1), "10:00"),
    p("周六下午", coming(5), *PM),
    p("这个礼拜四下午三点半", this_week(3), "15:30"),
    p("下礼拜五上半天", next_week(4), *AM),
    p("下个星期天中午", next_week(6), *NOON),
    p("后天中午12点", plus(2), "12:00"),
    p("明天晚上六点半", plus(1), "18:30"),
    p("明天傍晚五点", plus(1), "17:00"),
    p("大后天上午", plus(3), *AM),
    p("今天下午四点", plus(0), "16:00"),
    p("今朝夜里", plus(0), *EVE),
    p("明早八点", plus(1), "08:00"),
    p("明晚七点", plus(1), "19:00"),
    p("明天一早", plus(1), *EARLY),
    p("三号上午", day_of_month(3), *AM),
    p("三十一号", day_of_month(31)),
    p("12月31号下午", month_day(12, 31), *PM),
    p("明年1月10号", lambda today: date(2027, 1, 10)),
    p("1月10日上午9点", month_day(1, 10), "09:00"),
    p("农历腊月初八", lunar(12, 8)),
    p("正月初二", lunar(1, 2)),
    p("中秋节", lunar(8, 15)),
    p("端午", lunar(5, 5)),
    p("重阳节", lunar(9, 9)),
    p("立春", solar_term("立春")),
    p("冬至后一天", solar_term("冬至", 1)),
    p("两点钟", None, "14:00"),
    p("下午一点", None, "13:00"),
    p("1点半", None, "13:30"),
    p("十一点", None, "11:00"),
    p("十二点半", None, "12:30"),
    p("五点钟", None, "17:00"),
    p("晚上八点", None, "20:00"),
    p("上午11点到12点", None, "11:00", "12:00"),
    p("十一二点", None, "11:00", "13:00"),
    p("下午四五点", None, "16:00", "18:00"),
    p("七八点钟", None, "07:00", "09:00"),
    p("一两点", None, "13:00", "15:00"),
    p("两点左右", None, "14:00", approximate=True),
    p("明天上午十点钟左右", plus(1), "10:00", approximate=True),
    p("差不多两点", None, "14:00", approximate=True),
    p("下礼拜三两三点", next_week(2), "14:00", "16:00"),
    p("明天10点-11点", plus(1), "10:00", "11:00"),
    p("明天九点半到十点半", plus(1), "09:30", "10:30"),
    p("礼拜五下午四点以前", coming(4), "13:00", "16:00"),
    p("周三上午十点以后", coming(2), "10:00", "12:00"),
    p("地址友谊街道3号", NO_DAY),
    p("宝林八村12号", NO_DAY),
    p("我住在泰和路60号", NO_DAY),
    p("团结路28号502室", NO_DAY),
    p("明天下午三点，团结路28号", plus(1), "15:00"),
    p("我在3号床", NO_DAY),
    p("12号上午，我住牡丹江路", day_of_month(12), *AM),
    p("手机号13912345678 明天", plus(1)),
    p("电话56781234", NO_DAY),
    p("021-56781234", NO_DAY),
    p("我今年85岁明天能去吗", plus(1)),
    p("１０号上午１０点", day_of_month(10), "10:00"),
    p("下午３点半", None, "15:30"),
    p("星期６", coming(5)),
    p("１２：３０", None, "12:30"),
    p("下禮拜二下午", next_week(1), *PM),
    p("星期天上午十點", coming(6), "10:00"),
    p("礼拜三下半日", coming(2), *PM),
    p("明朝早浪", plus(1), *EARLY),
    p("后日夜快", plus(2), "17:00", "19:00"),
    p("今朝中浪向", plus(0), *NOON),
    p("星期天下午三点半钟", coming(6), "15:30"),
    p("下个礼拜二下五三点", next_week(1), "15:00"),
    # --- two times or two days with 或者/到: a window of time, numbered days
    p("两点或者三点", None, "14:00", "16:00"),
    p("两点、三点都行", None, "14:00", "16:00"),
    p("明天上午10点到下午2点", plus(1), "10:00", "14:00"),
    p("明天到后天", ASK, options=(plus(1), plus(2))),
    p("两三天以后", ASK, options=(plus(2), plus(3))),
    p("下礼拜三到礼拜五", ASK, options=(next_week(2), next_week(3), next_week(4))),
    p("12月28号到30号", ASK, options=(month_day(12, 28), month_day(12, 29), month_day(12, 30))),
    p("8号到20号", ASK),
    p("一两个礼拜以后", ASK),
    p("正月半", lunar(1, 15)),
    p("等我身体好点", ASK),
]


def _check(probe: Probe, when: When | None, today: date) -> None:
    if probe.day == NO_DAY:
        assert when is None or (when.date is None and not when.ambiguous), when
        return
    assert when is not None, "nothing read"
    if probe.day == ASK:
        assert when.ambiguous and when.date is None, when
        assert when.question
        options = probe.options(today) if callable(probe.options) else tuple(option(today) for option in probe.options)
        assert when.options == options, when
        return
    if probe.day is None:
        assert when.date is None and not when.ambiguous, when
    else:
        assert not isinstance(probe.day, str)
        assert when.date == probe.day(today), when
    if probe.start is None:
        assert when.start is None, when
        return
    assert when.start == time.fromisoformat(probe.start), when
    if probe.end is None:
        assert when.exact_time and when.end is None, when
        assert when.approximate == probe.approximate, when
    else:
        assert when.end == time.fromisoformat(probe.end), when


CASES = [(today, probe) for probe in PROBES for today in WEEK]


@pytest.mark.parametrize(("today", "probe"), CASES, ids=[f"{today:%a}-{probe.text}" for today, probe in CASES])
def test_colloquial(today: date, probe: Probe) -> None:
    when = parse_when(probe.text, datetime.combine(today, time(HOUR), tzinfo=SHANGHAI))
    _check(probe, when, today)


def test_enough_probes() -> None:
    assert len({probe.text for probe in PROBES}) == len(PROBES)
    assert len(PROBES) >= 200
