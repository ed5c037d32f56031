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


# Issue 10: phrasings of people in their 70s–80s that are in no test above and not in the training data
# (Shanghainese words, voice-input homophones such as 里拜三/理拜三 and 下五 for 下午, 差五分十点, solar terms,
# addresses that hold a 号), said on a Wednesday. A time is "HH:MM" for a clock time, else a part of day.
WEDNESDAY = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # lunar 十月廿四; this week Mon 11-30 … Sun 12-06
SENIOR_PHRASINGS: list[tuple[str, date | None, str | None]] = [
    ("下个礼拜三", d(12, 9), None),
    ("下周三", d(12, 9), None),
    ("下星期天", d(12, 13), None),
    ("下个星期六下午", d(12, 12), "afternoon"),
    ("礼拜天", d(12, 6), None),
    ("礼拜日", d(12, 6), None),
    ("星期天", d(12, 6), None),
    ("这个礼拜六", d(12, 5), None),
    ("本周五", d(12, 4), None),
    ("这礼拜天上午", d(12, 6), "morning"),
    ("星期6", d(12, 5), None),
    ("周6下午", d(12, 5), "afternoon"),
    ("下周1", d(12, 7), None),
    ("礼拜7", d(12, 6), None),
    ("下下礼拜三", d(12, 16), None),
    ("下下个星期五", d(12, 18), None),
    ("星期二", d(12, 8), None),
    ("明朝", d(12, 3), None),
    ("明早", d(12, 3), "morning"),
    ("明天早上", d(12, 3), "morning"),
    ("明天一早", d(12, 3), "morning"),
    ("明儿上午", d(12, 3), "morning"),
    ("后日", d(12, 4), None),
    ("大后天", d(12, 5), None),
    ("大后日下半天", d(12, 5), "afternoon"),
    ("今朝下半天", d(12, 2), "afternoon"),
    ("今朝夜里", d(12, 2), "evening"),
    ("明朝下半日", d(12, 3), "afternoon"),
    ("后天上半日", d(12, 4), "morning"),
    ("后天上昼", d(12, 4), "morning"),
    ("明朝早浪向", d(12, 3), "morning"),
    ("明朝中浪向", d(12, 3), "noon"),
    ("上半天", None, "morning"),
    ("下半天", None, "afternoon"),
    ("中浪向", None, "noon"),
    ("中浪头", None, "noon"),
    ("早上八点钟", None, "08:00"),
    ("下午两点半", None, "14:30"),
    ("三点一刻", None, "15:15"),
    ("两点三刻", None, "14:45"),
    ("十点差五分", None, "09:55"),
    ("差五分十点", None, "09:55"),
    ("三点差一刻", None, "14:45"),
    ("差一刻三点", None, "14:45"),
    ("夜里七点", None, "19:00"),
    ("晚上七点", None, "19:00"),
    ("夜到七点钟", None, "19:00"),
    ("十二点半", None, "12:30"),
    ("中午12点", None, "12:00"),
    ("两点半钟", None, "14:30"),
    ("上午10点", None, "10:00"),
    ("下午2：30", None, "14:30"),
    ("十四点", None, "14:00"),
    ("14点", None, "14:00"),
    ("下昼两点", None, "14:00"),
    ("九点半", None, "09:30"),
    ("十点钟光景", None, "10:00"),
    ("八点多", None, "08:00-09:00"),
    ("三点左右", None, "15:00"),
    ("明朝上半天十点钟光景", d(12, 3), "10:00"),
    ("后天下半天两点", d(12, 4), "14:00"),
    ("下礼拜二下午三点钟", d(12, 8), "15:00"),
    ("礼拜四早上", d(12, 3), "morning"),
    ("星期五中午", d(12, 4), "noon"),
    ("12月15号", d(12, 15), None),
    ("十二月十五日", d(12, 15), None),
    ("12月15", d(12, 15), None),
    ("15号下午", d(12, 15), "afternoon"),
    ("十五号", d(12, 15), None),
    ("本月15号", d(12, 15), None),
    ("这个月15号", d(12, 15), None),
    ("下个月3号", d(1, 3, 2027), None),
    ("下月3号", d(1, 3, 2027), None),
    ("下个月三号上午", d(1, 3, 2027), "morning"),
    ("1月3号", d(1, 3, 2027), None),
    ("明年1月5号", d(1, 5, 2027), None),
    ("元旦", d(1, 1, 2027), None),
    ("元旦节", d(1, 1, 2027), None),
    ("元旦那天上午", d(1, 1, 2027), "morning"),
    ("初八", d(12, 16), None),
    ("正月初八", d(2, 13, 2027), None),
    ("正月十五", d(2, 20, 2027), None),
    ("腊月二十三", d(1, 30, 2027), None),
    ("腊月廿三", d(1, 30, 2027), None),
    ("腊八", d(1, 15, 2027), None),
    ("冬至", d(12, 22), None),
    ("冬至那天", d(12, 22), None),
    ("冬至前一天", d(12, 21), None),
    ("里拜三", d(12, 2), None),
    ("理拜三", d(12, 2), None),
    ("下里拜三", d(12, 9), None),
    ("下个里拜五", d(12, 11), None),
    ("里拜天", d(12, 6), None),
    ("礼白三", d(12, 2), None),
    ("新期三", d(12, 2), None),
    ("星其四", d(12, 3), None),
    ("明天下五", d(12, 3), "afternoon"),
    ("明天上五十点", d(12, 3), "10:00"),
    ("后天下五两点", d(12, 4), "14:00"),
    ("礼拜几", None, None),
    ("2号楼", None, None),
    ("100弄5号", None, None),
    ("3楼", None, None),
    ("住2号楼3楼", None, None),
    ("5号楼3单元", None, None),
    ("我住在8号楼", None, None),
    ("盘古路100弄5号", None, None),
    ("友谊路88号", None, None),
    ("101室", None, None),
    ("坐3号线", None, None),
    ("5幢", None, None),
    ("3号床", None, None),
    ("我今年82岁", None, None),
    ("一个人住", None, None),
    ("搞错了不是周三是周四", d(12, 3), None),
    ("明天不行后天可以", d(12, 4), None),
    ("下礼拜三上半天九点", d(12, 9), "09:00"),
    ("下午三点钟到", None, "15:00"),
    ("早上7点", None, "07:00"),
    ("周日早上", d(12, 6), "morning"),
    ("下个礼拜四上半天", d(12, 10), "morning"),
    ("下礼拜天下半天", d(12, 13), "afternoon"),
    ("这礼拜五下昼", d(12, 4), "afternoon"),
    ("星期三下午", d(12, 2), "afternoon"),
    ("礼拜五早浪", d(12, 4), "morning"),
    ("下个周五", d(12, 11), None),
    ("下周的周五", d(12, 11), None),
    ("下礼拜的星期二", d(12, 8), None),
    ("下一周三", d(12, 9), None),
    ("明朝早上九点", d(12, 3), "09:00"),
    ("明早九点半", d(12, 3), "09:30"),
    ("后天中午十二点", d(12, 4), "12:00"),
    ("明天傍晚五点", d(12, 3), "17:00"),
    ("今朝夜里八点", d(12, 2), "20:00"),
    ("今天下午4点半", d(12, 2), "16:30"),
    ("早上九点差一刻", None, "08:45"),
    ("差十分九点", None, "08:50"),
    ("九点过五分", None, "09:05"),
    ("十点过一刻", None, "10:15"),
    ("两点零五分", None, "14:05"),
    ("下午两点钟左右", None, "14:00"),
    ("上午九点到十点", None, "09:00-10:00"),
    ("12号上午", d(12, 12), "morning"),
    ("十二号下半天", d(12, 12), "afternoon"),
    ("12月20号上午十点", d(12, 20), "10:00"),
    ("2026年12月20日", d(12, 20), None),
    ("12月20日上午", d(12, 20), "morning"),
    ("下个月五号", d(1, 5, 2027), None),
    ("下个月初五", d(12, 13), None),
    ("1号", d(1, 1, 2027), None),
    ("这个月20号", d(12, 20), None),
    ("元旦前一天", d(12, 31), None),
    ("元旦后一天", d(1, 2, 2027), None),
    ("圣诞节", d(12, 25), None),
    ("冬至节", d(12, 22), None),
    ("腊八节", d(1, 15, 2027), None),
    ("小年", d(1, 31, 2027), None),
    ("大年夜", d(2, 5, 2027), None),
    ("年初三", d(2, 8, 2027), None),
    ("正月初五", d(2, 10, 2027), None),
    ("农历十一月十五", d(12, 23), None),
    ("阴历冬月十八", d(12, 26), None),
    ("初十", d(12, 18), None),
    ("廿八", d(12, 6), None),
    ("十五", None, None),
    ("过三天", d(12, 5), None),
    ("三天以后", d(12, 5), None),
    ("一个礼拜以后", d(12, 9), None),
    ("里拜五下午", d(12, 4), "afternoon"),
    ("下个理拜一", d(12, 7), None),
    ("里拜六上午十点", d(12, 5), "10:00"),
    ("下下里拜二", d(12, 15), None),
    ("住3号楼2单元", None, None),
    ("二楼", None, None),
    ("我家在5楼", None, None),
    ("3号线转1号线", None, None),
    ("宝山路3号", None, None),
    ("一楼门口", None, None),
    ("吃了三天药", None, None),
    ("住院一个礼拜了", None, None),
    ("三周岁", None, None),
    ("80多岁", None, None),
    ("住在友谊路3号", None, None),
    ("12幢", None, None),
    ("二号门", None, None),
    ("周到", None, None),
    ("帮我约下礼拜三上半天，我老伴要洗澡", d(12, 9), "morning"),
    ("那就明朝下半天三点钟好了", d(12, 3), "15:00"),
    ("后天吧，上午十点钟", d(12, 4), "10:00"),
    ("下个礼拜一早上八点半到", d(12, 7), "08:30"),
    ("这个礼拜天不行，下个礼拜天", d(12, 13), None),
    ("我想12月18号去", d(12, 18), None),
    ("十八号上午可以吗", d(12, 18), "morning"),
    ("就这礼拜六吧", d(12, 5), None),
    ("礼拜六上昼九点钟", d(12, 5), "09:00"),
    ("明天下午三点钟以后", d(12, 3), "15:00-17:00"),
    ("今天下午还来得及伐", d(12, 2), "afternoon"),
    ("下个月8号", d(1, 8, 2027), None),
    ("元月三号", d(1, 3, 2027), None),
    ("阳历12月18号", d(12, 18), None),
    ("公历十二月二十", d(12, 20), None),
    ("阴历十一月初一", d(12, 9), None),
    ("冬月廿三", d(12, 31), None),
    ("年三十", d(2, 5, 2027), None),
    ("大后天上半天", d(12, 5), "morning"),
    ("今朝夜快", d(12, 2), "evening"),
    ("明朝夜到", d(12, 3), "evening"),
    ("夜里厢七点", None, "19:00"),
    ("两点钟", None, "14:00"),
    ("早上六点半", None, "06:30"),
    ("上午十一点一刻", None, "11:15"),
    ("十二点一刻", None, "12:15"),
    ("下午一点三刻", None, "13:45"),
    ("3点30", None, "15:30"),
    ("15：00", None, "15:00"),
    ("我住盘古路500弄12号302室", None, None),
    ("坐51路公交", None, None),
    ("买了3斤菜", None, None),
    ("血压150", None, None),
    ("吃了2片药", None, None),
    ("楼上3楼的阿姨", None, None),
    ("我78岁", None, None),
    ("两三个人", None, None),
    ("五六十块钱", None, None),
    ("七八十岁", None, None),
    # a last held-out round
    ("麻烦侬帮我约下个礼拜二下半天", d(12, 8), "afternoon"),
    ("后天上午九点钟左右来好伐", d(12, 4), "09:00"),
    ("今朝下半天三点半", d(12, 2), "15:30"),
    ("10号上午9点", d(12, 10), "09:00"),
    ("这星期天下午", d(12, 6), "afternoon"),
    ("冬至前两天", d(12, 20), None),
    ("礼拜三下昼两点钟", d(12, 2), "14:00"),
    ("差一刻十点", None, "09:45"),
    ("明天下午2点到4点", d(12, 3), "14:00-16:00"),
    ("下个里拜天上午", d(12, 13), "morning"),
    ("电梯到8楼", None, None),
    ("5号门进来", None, None),
]


@pytest.mark.parametrize(("text", "day", "said_time"), SENIOR_PHRASINGS, ids=[row[0] for row in SENIOR_PHRASINGS])
def test_senior_phrasings(text: str, day: date | None, said_time: str | None) -> None:
    when = parse_when(text, WEDNESDAY)
    if day is None and said_time is None:
        assert when is None
        return
    assert when is not None
    assert not when.ambiguous
    assert when.date == day
    if said_time is None:
        assert when.start is None
    elif "-" in said_time:  # a window of clock times: 两点到三点, 八点多
        assert not when.exact_time
        assert (when.start, when.end) == tuple(time.fromisoformat(t) for t in said_time.split("-"))
    elif ":" in said_time:
        assert when.exact_time
        assert when.start == time.fromisoformat(said_time)
    else:
        assert not when.exact_time
        assert when.part_of_day == said_time


SUNDAY = datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI)
OTHER_NOWS: list[tuple[datetime, str, date]] = [
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
    for text in (
        "大后天",
        "下个月底",
        "月底",
        "年底",
        "十二月底",
        "下半个月",
        "一月三号",
        "上个星期一",
        "前天",
        "元旦",
        "下下周日",
    ):
        parse_when(text, datetime(9999, 12, 31, 23, 0))
        parse_when(text, datetime(1, 1, 1, 0, 0))


def _assert_specs_need_what_they_match(text: str) -> None:
    # parse_when skips a pattern when the text holds none of the characters the pattern needs: that
    # shortcut must never skip a pattern that would have matched.
    for spec in _SPECS:
        if spec.pattern.search(text):
            assert not spec.needs.isdisjoint(text), (spec.resolve.__name__, text)


_EVERY_PATTERN = [
    "月底",
    "年底",
    "下半个月",
    "下周末",
    "过几天",
    "小年夜",
    "年初二",
    "下个月初八",
    "廿三",
    "腊八",
    "除夕",
    "周五",
    "下礼拜",
    "冬至",
    "明天下五",
    "明天一早",
    "下午两三点",
    "两点到三点",
    "吃过中饭",
    "开春",
    "等我儿子回来",
    "下个月",
    "下礼拜的今天",
    "国庆以后",
    "开春以后",
    "两三天以后",
]


def test_every_pattern_needs_what_it_matches_in_the_table() -> None:
    texts = [normalize(text) for text in [row[0] for row in TABLE] + [row[1] for row in OTHER_NOWS] + _EVERY_PATTERN]
    for text in texts:
        _assert_specs_need_what_they_match(text)
    # every pattern is exercised by some phrase here
    assert {s.resolve.__name__ for s in _SPECS if not any(s.pattern.search(t) for t in texts)} == set()


@pytest.mark.property
@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet=_GRAMMAR + "/-:号末节夕宵端重腊小除廿春元劳国清黄傍哪回改里理拜差冬至立公阳厢", max_size=20)
)
def test_every_pattern_needs_what_it_matches(text: str) -> None:
    _assert_specs_need_what_they_match(text)
