"""Parse the Chinese date/time expressions older people use when booking a service.

Written by hand on purpose: JioNLP's ``parse_time`` ships a large package whose licence and
size did not fit this project, and bookings need only a bounded grammar (a day, a part of
day, a clock time). The grammar is a registry of small patterns, each with a resolver; the
text goes through ``textnorm`` first (traditional → simplified, full-width → half-width,
Shanghainese 明朝/礼拜/上半天 → 明天/星期/上午), and the tables also accept the raw words.
Lunar dates are converted with lunar-python (MIT, pure Python), never by hand.

Week convention (weeks run Monday–Sunday; X is any weekday; today is in "the current week"):

=====================================  ==========================================================
said                                   means
=====================================  ==========================================================
这/本(一)(个)礼拜X                      day X of the current week, even if already past (the
                                       caller refuses past days)
下(一)(个)礼拜X                         day X of the next Monday–Sunday week
下下(个)礼拜X                           day X of the week after next
上(一)(个)礼拜X, 上上(个)礼拜X          day X of last week, of the week before
礼拜X (no 这/下/上)                     the next such day, today included; inside ``week_of``
                                       when the caller passes the week it asked about
这/下/下下/上(上) 礼拜 with no day      no date: ``week_of`` is that week's Monday, and the
                                       ``question`` asks which day
(这/下)周末                             two options: Saturday, Sunday of that week; a bare 周末
                                       is the next two weekend days, today included
=====================================  ==========================================================

礼拜, 星期 and 周 are the same word (also 禮拜/週, and the homophones voice input and pinyin typing give:
里拜, 理拜, 礼白, 新期, 星其); X is 一…六, 1–7 (also full-width), and Sunday is 天/日/七 (礼拜天, 礼拜日,
星期天, 周日, 周天, 礼拜七). After 礼拜/星期 (not 周: 周武 is a name) the formal numerals 壹…柒 and the slips
武/伍/午/舞 (五) and 陆/溜 (六) are weekdays too (下礼拜武). 下礼拜的今天/下个礼拜今朝 is today a week on.
下礼拜 followed by 随便哪天/哪天都行 is still 下礼拜 without a day.

Ask instead of guessing. When an expression names more than one day, ``When.date`` is None,
``When.options`` lists the candidates (most likely first) and ``When.question`` asks, with the
options numbered, each with its date and weekday (``choose_option`` reads the answer):

- 过两天/过两日/过个两三天 → 后天, 大后天; 这两天/今明两天 → 今天, 明天; 明后天/过一两天 → 明天, 后天;
  过几天/过些天/个把礼拜/改天/回头/这几天 … → no options, the question asks for a day.
- Seasons and spans name no day, so the question quotes the words and asks for one: 过完年/过了年/年后/年前/
  年初/明年/下半年, 节后/节前, 开春/入秋/春天/天暖和 (alone or after a function word: 王春天 is a name), 上/中/下旬,
  最近几天, 近期; waiting for something (等我儿子回来, 等我女儿下班, 等我出院, 等天暖和了); a month with no
  day (下个月, 这个月: "下个月哪一天？"); 月初/月头(上)/月中/X月中旬, whatever the day today (the question gives an
  example day of the month meant: “1月3号”). A definite day said after (春节后, 国庆以后, 元旦前, 冬至前后,
  过完元宵) is some day near it, not that day: asked too. A definite day elsewhere in the message wins.
- 月底/月末/月尾, 这个月底, 下个月(的)月底, 十二月底 and 年底/年末/今年年底 name a few days, not one: the question
  offers the last three days of that month (of December for 年底) that are not past, numbered, even when only one
  is left; 月底 alone said on one of a month's last two days also offers the last three days of next month.
  月底以后, 年底前, 明年年底 are asked without options. 上半个月/下半月 are asked like 月中.
- Vague words said together are one vague wish, asked with all their words: 明年开春, 年后开春, 过了年开春 (never
  “明年”); the words after a vague day belong to it (过完年以后, 等天暖和点, 月初那几天, 天热起来以后), and so does
  a 等 before it (等过完年).
- 明天/明早/明晚/后天/大后天 said between 00:00 and 04:59 Shanghai time → the coming daytime
  (today's calendar date, one day earlier than the calendar reading) first, the calendar date
  second: at 1 a.m. "明天" often means "after I have slept".
- X月Y with Chinese numerals and no 号/日 (十二月二十) → the Gregorian date, the lunar date.
- two days joined by 或者/还是 (后天或者下礼拜五), or both said to suit (礼拜四礼拜五都行, 明天和后天都可以)
  → both; a bare weekday after 下礼拜X is in that week (下礼拜二或者礼拜三 → next Tuesday, next Wednesday).
- a day refused (明天不行, 不是明天) loses to any other expression; if every expression is refused,
  nothing is guessed and the question asks when it suits.
- an entity cut out of its message (礼拜五 out of 下礼拜五) is read inside the message passed as
  ``context``.

Lunar dates (农历), converted by lunar-python and read back with their Gregorian date:
- 初一…初十 and 廿一…廿九 alone, or any day after 农历/阴历 (农历十五), are the next such lunar day on
  or after today (十五 alone is just a number).
- X月Y is lunar when it says so: 农历/阴历/老历/旧历, 闰, 正月/冬月/腊月, or a 初/廿 day (十一月初三 is
  冬月初三); it is Gregorian when it says so: 号/日, a year, typed digits (十一月三号, 12月20); with
  neither (十二月二十) both are offered. A lunar X月Y is its next occurrence on or after today (a
  4-digit year picks the lunar year). 月初 (no day after it) stays the start of the Gregorian month;
  这个月初八/下个月初八 are in this/next lunar month; 年初X is 正月初X.
- 闰六月 is the leap month only (六月 the ordinary one), looked for in the next three lunar years;
  if there is none, the question says so. A 三十 in a month of 29 days is taken from the next year
  that has one, except 腊月三十, which everyone means as 除夕.
- Festivals: 春节/大年初一 正月初一, 元宵/正月半 正月十五, 端午 五月初五, 七夕 七月初七, 中秋/八月半 八月十五,
  重阳 九月初九, 腊八 腊月初八, 小年 腊月廿四 (Shanghai and the rest of the south keep 廿四, "官三民四";
  the north 廿三), 除夕/大年夜/年三十 the day before 正月初一 (腊月廿九 or 三十). 小年夜 is asked: in
  Shanghai it is the night before 大年夜, elsewhere the eve of the northern 小年 (腊月廿三).
- Lunar years 1900–2100 only; outside them lunar words are not resolved.

Solar terms and holidays: the 24 solar terms (冬至, 清明, 立春 …, from lunar-python) are their next day on or after
today, when they stand alone or after a function word (约在冬至, 明年清明; 王立春 and 下大雪 are not dates);
元旦, 劳动节/五一节, 国庆节, 妇女节, 儿童节, 教师节, 平安夜, 圣诞节 are their next Gregorian date. A definite day
followed by 前一天/后两天 … is moved by that many days (冬至前一天, 元旦的后一天). 元月 is January and
公历/阳历 make X月Y Gregorian (公历十二月二十).

Ranges of hours and approximate times (never one guessed hour; the slot found is read back with its time):
- 两点到三点, 2点-3点, 两点半到三点半, 两到三点 → the window from the first time to the second (14:00–15:00);
  十一点到一点 is 11:00–13:00.
- 两三点, 三四点钟, 九十点钟, 十一二点 (either of two neighbouring hours) → a window over both hours: 两三点 is
  14:00–16:00, a slot starting at 2 or at 3 p.m.
- 十点多 → 10:00–11:00; 十点以前 → from the start of that part of the day to 10:00 (上午: 08:00–10:00);
  三点以后 → 15:00 to the end of that part of the day (17:00).
- 十点左右, 十点来钟, 十来点, 三点钟光景, 十点上下, 三点前后, 大概/差不多 九点 → that time (the nearest free slot is
  searched), with ``approximate`` set and read back as “上午10点左右”.
- A window is read back as “下午2点到4点之间” (``describe_time``).

Other rules worth knowing:
- A bare hour is read for daytime services: 1–6 → afternoon, 7–11 → morning, 12 → noon; 晚上12点/半夜12点 is
  midnight (00:00, read back as “半夜12点”), 凌晨三点 3 a.m., 半夜十一点 23:00.
- After a meal: 吃过中饭/中饭后/午饭后 → the afternoon, 吃过早饭 → the morning, 吃好夜饭/晚饭后 → the evening.
- N号 in a clause that says it is an address (我住12号, 门牌号12号, 我家是12号) is not a date, nor after a road,
  lane or building word (盘古路100弄5号) or before one (3号楼, 2号线).
- Clock times also as 差五分十点/十点差五分 (9:55), 三点差一刻 (14:45), 九点过五分 (9:05); hours in words
  run 零…二十四 (so 五十点 is no hour). Parts of day include Shanghainese and northern words (上半日, 下半晌,
  晌午, 夜里厢, 夜头) and 上五/下五/中五, the voice-input slip for 上午/下午/中午, when it follows a day and
  precedes a clock time or ends the phrase (上五楼 is a floor). 那天/这天 and 吧/呢 between two parts of one
  expression are skipped (元旦那天上午, 后天吧，上午十点钟).
- When a text holds several expressions, the one with the most parts (day, part of day,
  clock) wins, a definite day beats an ambiguous one; ties go to the first.
- Only the first characters the normalizer keeps (its length cap) are read.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple
from zoneinfo import ZoneInfo

import cn2an
import regex
from lunar_python import LunarYear, Solar

from textnorm import default_normalizer

SHANGHAI = ZoneInfo("Asia/Shanghai")

_WEEKDAY_NAMES = "一二三四五六日"
_LATE_NIGHT_END = 5  # 00:00–04:59: "明天" may mean the coming daytime


def describe_date(day: datetime.date, *, lunar: bool = False) -> str:
    """A date read back with its weekday: ``12月2日（星期三）``; with ``lunar``, ``1月27日（星期三，农历腊月二十）``."""
    words = f"星期{_WEEKDAY_NAMES[day.weekday()]}"
    lunar_words = _lunar_words(day) if lunar else None
    if lunar_words is not None:
        words += f"，农历{lunar_words}"
    return f"{day.month}月{day.day}日（{words}）"


@dataclass(frozen=True)
class When:
    """A resolved date/time expression.

    ``date`` is None when no day was said or when the day is ambiguous; then ``question`` (if set)
    is one short question to put to the user, ``options`` the candidate days (most likely first,
    possibly none) and ``week_of`` the Monday of the week meant by 下礼拜/这礼拜 without a day.
    ``lunar`` holds the lunar words of ``date`` when the day was said as a lunar date or festival.
    """

    date: datetime.date | None
    start: datetime.time | None
    end: datetime.time | None
    part_of_day: str | None
    exact_time: bool
    matched: str
    options: tuple[datetime.date, ...] = ()
    question: str | None = None
    week_of: datetime.date | None = None
    lunar: str | None = None
    approximate: bool = False  # 十点左右, 十点来钟: about that time

    @property
    def ambiguous(self) -> bool:
        """True when the user must be asked (``date`` is then None)."""
        return self.question is not None

    def describe(self) -> str:
        """Plain Chinese read-back, e.g. ``12月1日（星期二）上午``, ``12月1日（星期二）下午2点到4点之间`` or
        ``1月27日（星期三，农历腊月二十）``."""
        day = "" if self.date is None else describe_date(self.date, lunar=self.lunar is not None)
        if self.start is None:
            return day
        return day + describe_time(self.start, None if self.exact_time else self.end, approximate=self.approximate)


def describe_time(start: datetime.time, end: datetime.time | None = None, *, approximate: bool = False) -> str:
    """A time or a window read back: ``下午3点``, ``上午10点左右``, ``下午``, ``下午2点到4点之间``, ``半夜12点``."""
    if end is None:
        return _describe_clock(start) + ("左右" if approximate else "")
    label = _WINDOW_LABELS.get((start, end))
    if label is not None:
        return label
    first, last = _describe_clock(start), _describe_clock(end)
    prefix = _clock_label(start)
    if last.startswith(prefix) and _clock_label(end) == prefix:
        last = last[len(prefix) :]
    return f"{first}到{last}之间"


@dataclass(frozen=True)
class _Part:
    key: str  # morning | noon | afternoon | evening
    label: str  # how describe() reads the window back
    start: int
    end: int
    pm_hours: range  # hours said in 12-hour form that mean hour + 12 in this part of day
    twelve: int = 12  # 晚上十二点 is midnight (00:00; the date is not moved to the next day)


_MORNING_EARLY = _Part("morning", "早上", 6, 9, range(0))
_MORNING = _Part("morning", "上午", 8, 12, range(0))
_NOON = _Part("noon", "中午", 11, 13, range(1, 6))
_AFTERNOON = _Part("afternoon", "下午", 13, 17, range(1, 12))
_DUSK = _Part("evening", "傍晚", 17, 19, range(1, 12))
_EVENING = _Part("evening", "晚上", 18, 21, range(4, 12), twelve=0)  # 夜里两点 is 2 a.m., 晚上七点 is 19:00
_SMALL_HOURS = _Part("night", "凌晨", 0, 6, range(0), twelve=0)  # 凌晨三点 is 3 a.m.
_MIDNIGHT = _Part("night", "半夜", 0, 5, range(9, 12), twelve=0)  # 半夜十一点 is 23:00, 半夜12点 00:00, 半夜两点 2 a.m.

# Mandarin words plus Shanghainese ones (上半天, 上昼, 早浪向, 夜快, 夜到) the normalizer may not know.
_PARTS: dict[str, _Part] = {
    **dict.fromkeys(["早上", "早晨", "清早", "早浪向", "早浪厢", "早浪"], _MORNING_EARLY),
    **dict.fromkeys(["上午", "上半天", "上半日", "上半晌", "上昼"], _MORNING),
    **dict.fromkeys(["中午", "中浪向", "中浪", "晌午"], _NOON),
    **dict.fromkeys(["下午", "下半天", "下半日", "下半晌", "下昼"], _AFTERNOON),
    **dict.fromkeys(["傍晚", "夜快头", "夜快", "黄昏"], _DUSK),
    **dict.fromkeys(["晚上", "夜里向", "夜里厢", "夜里", "夜到", "夜头", "晚间"], _EVENING),
    **dict.fromkeys(["凌晨", "后半夜"], _SMALL_HOURS),
    **dict.fromkeys(["半夜里", "半夜", "深夜", "半夜三更"], _MIDNIGHT),
}
# 吃过中饭 (after lunch) is the afternoon, 吃好夜饭 the evening, 吃过早饭 the morning.
_MEALS = {
    "早饭": _MORNING,
    "早点": _MORNING,
    "中饭": _AFTERNOON,
    "午饭": _AFTERNOON,
    "夜饭": _EVENING,
    "晚饭": _EVENING,
}
_BY_KEY = {"morning": _MORNING, "noon": _NOON, "afternoon": _AFTERNOON, "evening": _EVENING, "night": _SMALL_HOURS}
_WINDOW_LABELS: dict[tuple[datetime.time, datetime.time | None], str] = {
    (datetime.time(p.start), datetime.time(p.end)): p.label for p in _PARTS.values()
}
_PART_LABELS = {"morning": "上午", "noon": "中午", "afternoon": "下午", "evening": "晚上", "night": "凌晨"}

_RELATIVE_DAYS = {
    **dict.fromkeys(["今天", "今朝", "今日"], 0),
    **dict.fromkeys(["明天", "明朝", "明儿个", "明儿", "明日"], 1),
    **dict.fromkeys(["后天", "后日"], 2),
    **dict.fromkeys(["大后天", "大后日"], 3),
    **dict.fromkeys(["昨天", "昨日"], -1),
    "前天": -2,
}
# 明早 = 明天早上: one word naming a day and a part of day.
_DAY_PARTS = {
    "今早": (0, _MORNING_EARLY),
    "明早": (1, _MORNING_EARLY),
    **dict.fromkeys(["今晚", "今夜"], (0, _EVENING)),
    **dict.fromkeys(["明晚", "明夜"], (1, _EVENING)),
}
# After 礼拜/星期 (not 周: 周武 is a name), formal numerals (壹…柒) and what voice input makes of 五 and 六
# (下礼拜武, 礼拜陆) name weekdays too.
_WEEKDAY_SLIPS = {"壹": 0, "贰": 1, "叁": 2, "肆": 3, "伍": 4, "武": 4, "舞": 4, "午": 4, "陆": 5, "溜": 5, "柒": 6}
_WEEKDAYS = {
    **{ch: i for i, ch in enumerate(_WEEKDAY_NAMES)},
    "天": 6,
    "七": 6,
    **{str(i + 1): i for i in range(7)},
    **_WEEKDAY_SLIPS,
}
_SLIPS = "".join(_WEEKDAY_SLIPS)
_WEEK_OFFSETS = {"这": 0, "本": 0, "下": 1, "下下": 2, "上": -1, "上上": -2}  # after dropping 个/一
_OFFSET_UNITS = {"天": 1, "日": 1, "星期": 7, "礼拜": 7, "周": 7}
_HOLIDAYS = {
    **dict.fromkeys(["元旦", "元旦节"], (1, 1)),
    **dict.fromkeys(["劳动节", "五一节"], (5, 1)),
    "国庆节": (10, 1),
    "妇女节": (3, 8),
    "儿童节": (6, 1),
    "教师节": (9, 10),
    "平安夜": (12, 24),
    "圣诞节": (12, 25),
}
# The 24 solar terms (节气), by lunar-python: 冬至 is a family day in Shanghai, 清明 a day for the graves.
_SOLAR_TERMS = "立春 雨水 惊蛰 春分 清明 谷雨 立夏 小满 芒种 夏至 小暑 大暑 立秋 处暑 白露 秋分 寒露 霜降 立冬 小雪 大雪 冬至 小寒 大寒".split()

# Vague words: the options they may offer, as day offsets from today (none: ask for a day).
_VAGUE: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(["过两天", "过个两天", "过两三天", "过个两三天", "过两日", "过两三日", "隔两天", "隔两日"], (2, 3)),
    **dict.fromkeys(["过一两天", "过个一两天", "过一两日"], (1, 2)),
    **dict.fromkeys(["这两天", "这一两天", "这两日", "今明两天", "今明天"], (0, 1)),
    **dict.fromkeys(["明后天", "明后两天", "明后日"], (1, 2)),
    **dict.fromkeys(
        [
            "过几天",
            "过几日",
            "隔几天",
            "个把礼拜",
            "个把星期",
            "过个几天",
            "过些天",
            "过些日子",
            "过阵子",
            "过一阵",
            "过段时间",
            "这几天",
            "改天",
            "改日",
            "回头",
            "哪天",
        ],
        (),
    ),
}
# Seasons and spans (过完年, 开春, 月中, 下旬 …): a day is meant but not said; the question quotes the words.
_VAGUE_SAID = [
    *[
        "过完年",
        "过好年",
        "过了年",
        "过年以后",
        "过年后",
        "过年前后",
        "过年前",
        "过年",
        "年前年后",
        "年后",
        "年前",
        "年关",
    ],
    *["年初", "明年", "上半年", "下半年"],
    *["节前节后", "节后", "节前"],
    *["上旬", "中旬", "下旬", "最近几天", "最近哪天", "近几天", "近期", "这段时间", "过一段时间"],
]
# A word that is also a name (冬至, 国庆) is a date alone or after a few function words.
_DATE_WORD_BEFORE = r"(?:(?<![\p{Han}])|(?<=[今明后到是在过等了年的那这个约就定排选要和或]))"
# Seasons, also words in names (王春天): only alone or after a function word (开春以后, 等开春).
_SEASONS = ["开春", "开年", "入春", "入冬", "入夏", "入秋", "春天", "夏天", "秋天", "冬天", "天暖和", "天热", "天凉"]
_ASK_SAID = "您说的“{said}”是哪一天？请说个日子，比如“下礼拜二”“20号”。"
# A day followed or preceded by these words is refused, not asked for.
_REFUSED_AFTER = regex.compile(
    r"[\s,，、的]{0,2}(?:不行|不可以|不成|不方便|不合适|去不了|来不了|没空|没时间|有事|不来|不去)"
)
_REFUSED_BEFORE = regex.compile(r"(?:不是|除了|除开)[\s,，、]{0,2}$")
_EITHER = regex.compile(r"[\s,，、]{0,2}(?:或者|还是|或是|要么|或)[\s,，、]{0,2}")
# 星期四星期五都行, 明天和后天都可以: two days and "either will do".
_BOTH = regex.compile(r"[\s,，、]{0,2}(?:和|跟|同|或者|还是)?[\s,，、]{0,2}")
# 礼拜三到礼拜五, 12月8号到10号: every day from the first to the second is an option (a week at most).
_THROUGH = regex.compile(r"[\s,，、]{0,2}(?:到|至|~|～|—|-)[\s,，、]{0,2}")
_THROUGH_DAYS = 7
_EITHER_WILL_DO = regex.compile(r"[\s,，、]{0,2}(?:的话)?(?:都|也都|全)(?:行|可以|好|成|没问题|方便)")


class _Option(NamedTuple):
    day: datetime.date
    lunar: str | None = None  # lunar words when the option is a lunar reading


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    weak: bool  # a bare 一点 is usually "a little" (快一点): trust it only next to a day or part of day
    before: int = 0  # minutes before the hour (差五分十点), taken off once the hour is placed in the day
    span: int = 0  # a window this many minutes long from the time (两三点, 两点到三点, 十点多); 0: one time
    about: bool = False  # 十点左右, 十点来钟, 三点钟光景: about that time
    bound: str | None = None  # "before" (十点以前) or "after" (三点以后): the rest of that part of the day


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    day: datetime.date | None = None
    part: _Part | None = None
    clock: _Clock | None = None
    options: tuple[_Option, ...] = ()  # several candidate days: ask
    vague: bool = False  # a day was meant but not said (改天): ask
    ask: str | None = None  # what to ask instead of the usual question for a vague piece
    week: datetime.date | None = None  # Monday of 下礼拜 said without a day: ask which day
    weekday: int | None = None  # a bare 礼拜X, which 下礼拜 just before it (下礼拜的礼拜三) places
    week_said: datetime.date | None = None  # Monday of the week 下礼拜X named, which a bare 礼拜Y after it shares
    lunar: str | None = None  # lunar words of ``day``

    @property
    def kinds(self) -> set[str]:
        kinds = {k for k in ("part", "clock") if getattr(self, k) is not None}
        if self.week is not None:
            kinds.add("week")
        elif self.day is not None or self.options or self.vague:
            kinds.add("day")
        return kinds

    @property
    def definite(self) -> bool:
        return not (self.options or self.vague or self.week)


@dataclass(frozen=True)
class _Context:
    today: datetime.date
    late_night: bool  # 00:00–04:59 in Shanghai
    week_of: datetime.date | None  # the Monday a bare weekday falls in, when the caller asked about a week


def _kinds(group: list[_Piece]) -> set[str]:
    return {kind for piece in group for kind in piece.kinds}


# Chinese numerals in the shapes dates and times use (cn2an alone would also take 两两 as 22).
_CN = r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?|[零〇][一二三四五六七八九]|[零〇一二两三四五六七八九])"
_NUM = rf"(?:(?<![0-9])[0-9]{{1,2}}(?![0-9])|{_CN})"
# An hour in words: 零…二十四, never 三十/五十 (so 上五十点 still holds 十点).
_HOUR = r"(?:(?<![0-9])[0-9]{1,2}(?![0-9])|二十[一二三四]?|十[一二三四五六七八九]?|[零〇一二两三四五六七八九])"
# Minutes without 分 must look like minutes (三点二十, 三点零五, 3点05), not a lone digit (三点五).
_BARE_MINUTE = r"(?:[0-9]{2}|[一二三四五]?十[一二三四五六七八九]?|[零〇][一二三四五六七八九])"
# A lunar day: 初一…初十, 十一…十九, 二十/廿, 廿一…廿九, 三十 (and digits after 初).
_LUNAR_DAY = r"(?:初(?:十|[一二三四五六七八九]|[1-9](?![0-9]))|廿[一二三四五六七八九]|二十[一二三四五六七八九]?|三十|十[一二三四五六七八九]?)"
_WEEK_REL = r"(?P<rel>下下一?个?|下一?个?|这一?个?|本个?|上上一?个?|上一?个?)"
# Voice input and pinyin typing give homophones of 礼拜/星期: 里拜, 理拜, 礼白, 新期, 星其 (not before 拜托, 拜年 …).
_WEEK_TYPO = r"(?:(?:[里理]拜|礼[白败])(?![托访年佛神拜师会])|新期|星[其奇])"
_WEEK_WORD = rf"(?:星期|礼拜|周(?![围边到全年岁])|{_WEEK_TYPO})"
_WEEK_NEEDS = "星礼周里理新"

_LUNAR_MONTH_NAMES = ("正月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "冬月", "腊月")
_LUNAR_DAY_NAMES = tuple(
    [f"初{n}" for n in "一二三四五六七八九十"]
    + [f"十{n}" for n in "一二三四五六七八九"]
    + ["二十"]
    + [f"廿{n}" for n in "一二三四五六七八九"]
    + ["三十"]
)
_LUNAR_YEARS = (1900, 2100)  # the years the lunar tables are trusted for here
_LUNAR_LOOKAHEAD_YEARS = 3  # how far ahead a lunar date (闰月, a 三十) is looked for
_LUNAR_MONTH_WORDS = {"正": 1, "冬": 11, "腊": 12}
_LUNAR_PREFIXES = ("农历", "阴历", "老历", "旧历")
_GREGORIAN_PREFIXES = ("公历", "阳历", "新历")
_GREGORIAN_MONTH_WORDS = {"元": 1}  # 元月三号 is January the 3rd

# Festivals by lunar (month, day); 除夕 is handled as the day before 正月初一.
_FESTIVALS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(["春节", "大年初一"], (1, 1)),
    **dict.fromkeys(["元宵节", "元宵", "正月半"], (1, 15)),
    **dict.fromkeys(["端午节", "端午", "端阳"], (5, 5)),
    **dict.fromkeys(["七夕节", "七夕"], (7, 7)),
    **dict.fromkeys(["中秋节", "中秋", "八月半"], (8, 15)),
    **dict.fromkeys(["重阳节", "重阳", "重九"], (9, 9)),
    **dict.fromkeys(["腊八节", "腊八"], (12, 8)),
    "小年": (12, 24),  # Shanghai (江南, 民四): 腊月廿四; northern China keeps 廿三
}
_NEW_YEARS_EVE = ["除夕夜", "除夕", "大年夜", "大年三十", "年三十"]


def _words(words: Iterable[str]) -> str:
    return "|".join(regex.escape(w) for w in sorted(words, key=len, reverse=True))  # longest first


def _number(text: str | None) -> int | None:
    if not text:
        return None
    if text.isascii():
        return int(text) if text.isdigit() else None
    try:
        return int(cn2an.cn2an(text, "smart"))
    except ValueError:
        return None


def _lunar_day_number(text: str) -> int | None:
    if text.startswith("初"):
        return _number(text[1:])
    return _number(text)


def _safe_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _shift(today: datetime.date, days: int) -> datetime.date | None:
    try:
        return today + datetime.timedelta(days=days)
    except OverflowError:
        return None


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _this_month(today: datetime.date, months: int) -> tuple[int, int]:
    return _add_months(today.year, today.month, months)


def _last_day(year: int, month: int) -> datetime.date | None:
    first_next = _safe_date(*_add_months(year, month, 1), 1)
    return _shift(first_next, -1) if first_next else None


def _next_month_day(today: datetime.date, day: int) -> datetime.date | None:
    # 十一号: this month if not past, else the next month that has that day.
    for months in range(3):
        found = _safe_date(*_this_month(today, months), day)
        if found is not None and found >= today:
            return found
    return None


def _next_month_date(today: datetime.date, month: int, day: int) -> datetime.date | None:
    # 十二月三号: this year if not past, else the next year that has it (2月29号 waits for a leap year).
    for years in range(9):
        found = _safe_date(today.year + years, month, day)
        if found is not None and found >= today:
            return found
    return None


def _month_prefix(text: str | None) -> int:
    return 1 if text and text.startswith("下") else 0


def _monday(day: datetime.date) -> datetime.date | None:
    return _shift(day, -day.weekday())


# --- the lunar calendar (lunar-python computes; this keeps its months as Python dates) ---------------------------


class _LunarMonth(NamedTuple):
    year: int  # lunar year
    month: int  # 1–12, negative for a leap month (lunar-python's convention)
    first: datetime.date  # its 初一
    days: int  # 29 or 30

    @property
    def name(self) -> str:
        return ("闰" if self.month < 0 else "") + _LUNAR_MONTH_NAMES[abs(self.month) - 1]


# lunar-python's Julian day numbers are whole days at noon: JD 2451545 is 2000-01-01.
_JD_TO_ORDINAL = 2451545 - datetime.date(2000, 1, 1).toordinal()


@functools.lru_cache(maxsize=32)
def _lunar_months(year: int) -> tuple[_LunarMonth, ...]:
    """The months of lunar year ``year`` in order, the leap month in its place (about 5 ms the first time)."""
    if not _LUNAR_YEARS[0] <= year <= _LUNAR_YEARS[1]:
        return ()
    return tuple(
        _LunarMonth(
            year, m.getMonth(), datetime.date.fromordinal(m.getFirstJulianDay() - _JD_TO_ORDINAL), m.getDayCount()
        )
        for m in LunarYear(year).getMonthsInYear()
    )


def _lunar_of(day: datetime.date) -> tuple[_LunarMonth, int] | None:
    """The lunar month holding ``day`` and the day's number in it."""
    for year in (day.year - 1, day.year):
        for month in _lunar_months(year):
            if month.first <= day < month.first + datetime.timedelta(days=month.days):
                return month, (day - month.first).days + 1
    return None


def _lunar_words(day: datetime.date) -> str | None:
    found = _lunar_of(day)
    return None if found is None else found[0].name + _LUNAR_DAY_NAMES[found[1] - 1]


def _lunar_months_from(today: datetime.date) -> Iterable[_LunarMonth]:
    """Lunar months in order, from the one holding ``today`` on, for a few years."""
    for year in range(today.year - 1, today.year + _LUNAR_LOOKAHEAD_YEARS):
        for month in _lunar_months(year):
            if month.first + datetime.timedelta(days=month.days) > today:
                yield month


def _in_lunar_month(month: _LunarMonth, day: int) -> datetime.date | None:
    return month.first + datetime.timedelta(days=day - 1) if 1 <= day <= month.days else None


def _next_lunar(
    today: datetime.date, month: int | None, day: int, *, leap: bool = False, year: int | None = None
) -> _Option | None:
    """The next lunar (month, day) on or after today; any month when ``month`` is None; in ``year`` if given."""
    months = _lunar_months(year) if year is not None else _lunar_months_from(today)
    for candidate in months:
        if month is not None and (abs(candidate.month) != month or (candidate.month < 0) != leap):
            continue
        found = _in_lunar_month(candidate, day)
        if found is not None and (year is not None or found >= today):
            return _Option(found, candidate.name + _LUNAR_DAY_NAMES[day - 1])
    return None


def _next_new_years_eve(today: datetime.date) -> datetime.date | None:
    after = _shift(today, 1)
    spring = None if after is None else _next_lunar(after, 1, 1)
    return None if spring is None else _shift(spring.day, -1)


# --- the grammar: a registry of patterns and resolvers ---------------------------------------------------------------

Resolver = Callable[["regex.Match[str]", _Context], "_Piece | None"]


class _Spec(NamedTuple):
    pattern: regex.Pattern[str]
    needs: frozenset[str]  # every match holds one of these characters: a text without any is not searched
    resolve: Resolver


_SPECS: list[_Spec] = []


def _spec(pattern: str, needs: Iterable[str] | None = None) -> Callable[[Resolver], Resolver]:
    """Register a pattern, the characters one of which any match holds, and the resolver of its matches.

    ``needs`` may be left out only for a plain list of words (their first characters are used).
    Skipping the patterns a text cannot match keeps parse_when fast as the grammar grows.
    """
    if needs is None and regex.search(r"[()\[\]?*+{}\\]", pattern):
        raise ValueError(f"pattern {pattern!r} is not a plain word list: give the characters it needs")

    def register(resolver: Resolver) -> Resolver:
        chars = needs if needs is not None else {word[0] for word in pattern.split("|")}
        _SPECS.append(_Spec(regex.compile(pattern), frozenset(chars), resolver))
        return resolver

    return register


def _day_piece(m: regex.Match[str], day: datetime.date | None, part: _Part | None = None) -> _Piece | None:
    return None if day is None else _Piece(m.start(), m.end(), day=day, part=part)


def _options_piece(m: regex.Match[str], options: Iterable[_Option | None], part: _Part | None = None) -> _Piece | None:
    """A piece with several candidate days; one candidate is a plain day, none is no piece."""
    unique: list[_Option] = []
    for option in options:
        if option is not None and option.day not in [o.day for o in unique]:
            unique.append(option)
    if len(unique) == 1:
        return _Piece(m.start(), m.end(), day=unique[0].day, part=part, lunar=unique[0].lunar)
    return _Piece(m.start(), m.end(), part=part, options=tuple(unique)) if unique else None


def _relative(m: regex.Match[str], ctx: _Context, offset: int, part: _Part | None = None) -> _Piece | None:
    if ctx.late_night and offset >= 1:  # at 1 a.m. "明天" may mean the coming daytime, today's date
        options = [_shift(ctx.today, offset - 1), _shift(ctx.today, offset)]
        return _options_piece(m, [_Option(d) for d in options if d is not None], part)
    return _day_piece(m, _shift(ctx.today, offset), part)


@_spec(_words(_RELATIVE_DAYS))
def _relative_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _relative(m, ctx, _RELATIVE_DAYS[m[0]])


@_spec(_words(_DAY_PARTS))
def _day_part(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    offset, part = _DAY_PARTS[m[0]]
    return _relative(m, ctx, offset, part)


@_spec(
    needs=_WEEK_NEEDS,
    pattern=rf"{_WEEK_REL}?{_WEEK_WORD}(?:(?P<wd>[一二三四五六日天七])|(?P<wd>[1-7])(?![0-9])|(?<=[拜期白败其奇])(?P<wd>[{_SLIPS}]))"
    r"(?![次回趟遍拜饭觉休睡餐])",
)
def _week_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    weekday = _WEEKDAYS[m["wd"]]
    if m["rel"] is None:  # bare 星期X: the next such day, today included; in the week asked about if any
        if ctx.week_of is not None:
            day = _shift(ctx.week_of, weekday)
        else:
            day = _shift(ctx.today, (weekday - ctx.today.weekday()) % 7)
        return None if day is None else _Piece(m.start(), m.end(), day=day, weekday=weekday)
    weeks = _WEEK_OFFSETS[m["rel"].replace("个", "").replace("一", "")]
    monday = _shift(ctx.today, 7 * weeks - ctx.today.weekday())
    day = None if monday is None else _shift(monday, weekday)
    return None if day is None else _Piece(m.start(), m.end(), day=day, week_said=monday)


@_spec(needs=_WEEK_NEEDS, pattern=rf"{_WEEK_REL}{_WEEK_WORD}(?![一二三四五六日天七末1-7{_SLIPS}])")
def _week_only(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    weeks = _WEEK_OFFSETS[m["rel"].replace("个", "").replace("一", "")]
    monday = _shift(ctx.today, 7 * weeks - ctx.today.weekday())
    return None if monday is None else _Piece(m.start(), m.end(), week=monday)


# 下礼拜的今天, 下个礼拜今朝: the same weekday, a week (or two) on.
@_spec(needs=_WEEK_NEEDS, pattern=rf"{_WEEK_REL}{_WEEK_WORD}的?(?:今天|今朝|今日|这天|这一天|同一天)")
def _same_day_next_week(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    weeks = _WEEK_OFFSETS[m["rel"].replace("个", "").replace("一", "")]
    return _day_piece(m, _shift(ctx.today, 7 * weeks))


@_spec(needs="末", pattern=rf"{_WEEK_REL}?{_WEEK_WORD}末")
def _weekend(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    if m["rel"] is None:  # the next two weekend days, today included
        ahead = [_shift(ctx.today, n) for n in range(8)]
        return _options_piece(m, [_Option(d) for d in ahead if d is not None and d.weekday() >= 5][:2])
    weeks = _WEEK_OFFSETS[m["rel"].replace("个", "").replace("一", "")]
    saturday = _shift(ctx.today, 7 * weeks + 5 - ctx.today.weekday())
    sunday = None if saturday is None else _shift(saturday, 1)
    days = [d for d in (saturday, sunday) if d is not None]
    coming = [d for d in days if d >= ctx.today]
    # 这周末 said on a Sunday is today: Saturday has passed (a weekend wholly past stays for the caller to refuse)
    return _options_piece(m, [_Option(d) for d in coming or days])


@_spec(_words(_VAGUE))
def _vague(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    offsets = _VAGUE[m[0]]
    if not offsets:
        return _Piece(m.start(), m.end(), vague=True)
    days = [_shift(ctx.today, n) for n in offsets]
    return _options_piece(m, [_Option(d) for d in days if d is not None]) or _Piece(m.start(), m.end(), vague=True)


@_spec(_words(_VAGUE_SAID))
def _vague_said(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)


@_spec(needs={w[0] for w in _SEASONS}, pattern=rf"{_DATE_WORD_BEFORE}(?:{_words(_SEASONS)})")
def _season(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)


# 等我儿子回来, 等我女儿下班, 等天暖和了: waiting for something, not a day.
@_spec(
    needs="等",
    pattern=r"等(?:到)?[\p{Han}]{0,6}?(?:回来|回家|回上海|下班|放假|放学|有空|空了|休息好|出院|过来|来了|暖和|天热|天凉|天冷|凉快|忙完|好了|好点|好些|好一点)",
)
def _waiting(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)


# 下个月, 这个月 with no day: which day of it?
@_spec(
    needs="月",
    pattern=r"(?P<rel>下一?个?|这一?个?|本)月份?(?![0-9０-９零〇一二两三四五六七八九十廿初中底末头上下号日的])",
)
def _month_only(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    example = f"{m[0].removesuffix('份')}5号"
    return _Piece(m.start(), m.end(), vague=True, ask=f"{{said}}哪一天？比如“{example}”。")


# 两三天以后 (2 or 3 days on) are two options; 一两个礼拜以后 is asked.
_NEIGHBOURS = {
    "一两": 1,
    "一二": 1,
    "两三": 2,
    "二三": 2,
    "三四": 3,
    "四五": 4,
    "五六": 5,
    "六七": 6,
    "七八": 7,
    "八九": 8,
}


@_spec(
    needs="后",
    pattern=rf"过?(?P<pair>{_words(_NEIGHBOURS)})(?:(?P<day>天|日)|个?(?:星期|礼拜|周))(?:以后|之后|后)",
)
def _offset_pair(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    n = _NEIGHBOURS[m["pair"]]
    if not m["day"]:
        return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)
    return _options_piece(m, [_Option(d) for d in (_shift(ctx.today, n), _shift(ctx.today, n + 1)) if d is not None])


@_spec(
    needs="过后",
    pattern=rf"过(?P<n>{_NUM})(?P<unit>天|个?星期|个?礼拜|周)|(?P<n>{_NUM})(?P<unit>天|日|个?星期|个?礼拜|周)(?:以后|之后|后)",
)
def _offset(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    n = _number(m["n"])
    return _day_piece(m, None if n is None else _shift(ctx.today, n * _OFFSET_UNITS[m["unit"].lstrip("个")]))


# X月Y: Gregorian when it says so (号/日, a year, digits), lunar when it says so (农历, 闰, 正/冬/腊月, 初/廿 days),
# and both options when it says neither (十二月二十).
@_spec(
    needs="月",
    pattern=rf"(?:(?P<y>(?<![0-9])[0-9]{{4}})年|(?P<yrel>今年|明年))?"
    rf"(?:(?P<lp>{_words(_LUNAR_PREFIXES)})|(?P<gp>{_words(_GREGORIAN_PREFIXES)}))?(?P<leap>闰)?"
    rf"(?P<m>[正冬腊元]|{_NUM})月份?(?P<d>{_LUNAR_DAY}|{_NUM})"
    r"(?:(?P<suffix>号|日)|(?![0-9一二三四五六七八九十点时分个岁多]))",
)
def _month_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    month = _LUNAR_MONTH_WORDS.get(m["m"]) or _GREGORIAN_MONTH_WORDS.get(m["m"]) or _number(m["m"])
    day = _lunar_day_number(m["d"])
    if month is None or day is None:
        return None
    year = int(m["y"]) if m["y"] else ctx.today.year + (m["yrel"] == "明年") if m["yrel"] else None
    lunar_said = bool(m["lp"] or m["leap"] or m["m"] in _LUNAR_MONTH_WORDS or m["d"][0] in "初廿")
    gregorian_said = bool(m["suffix"] or m["gp"] or year is not None or m["m"].isascii() or m["d"].isascii())
    gregorian = None
    if not lunar_said:
        if year is not None:
            gregorian = _safe_date(year, month, day)
        else:
            gregorian = _next_month_date(ctx.today, month, day)
        if gregorian_said:
            return _day_piece(m, gregorian)
    lunar = None
    if month == 12 and day == 30 and not m["leap"] and not m["y"]:
        # 腊月三十 is 除夕 to everyone, also in the years whose 腊月 ends on 廿九
        eve = _next_new_years_eve(ctx.today)
        lunar = None if eve is None else _Option(eve, _lunar_words(eve))
    elif 1 <= month <= 12 and 1 <= day <= 30:
        # a 4-digit year names the lunar year; 今年/明年 would be off by one in January, so they are not used
        lunar = _next_lunar(ctx.today, month, day, leap=bool(m["leap"]), year=int(m["y"]) if m["y"] else None)
    piece = _options_piece(m, [None if gregorian is None else _Option(gregorian), lunar])
    if piece is None and lunar_said:  # 闰六月 in a year without one: say so rather than read 初一 alone
        return _Piece(m.start(), m.end(), vague=True, ask=f"最近几年的农历里没有这一天。{ASK_DAY}")
    return piece


@_spec(
    needs="/-", pattern=r"(?<![0-9/.:-])(?:(?P<y>[0-9]{4})[-/.])?(?P<m>[0-9]{1,2})[/-](?P<d>[0-9]{1,2})(?![0-9/.:-])"
)
def _numeric_date(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    if m["y"] is None and "-" in m[0]:  # 3-5 is a range of numbers, not March 5th
        return None
    month, day = int(m["m"]), int(m["d"])
    if m["y"]:
        return _day_piece(m, _safe_date(int(m["y"]), month, day))
    return _day_piece(m, _next_month_date(ctx.today, month, day))


_CLAUSE = regex.compile(r"[\s,，。；;!！?？、]")
_ADDRESS_SAID = regex.compile(r"住|家是|家在|门牌|地址|号码|房间|房号|几号楼")


# 号 after an address word (宝山路5号, 12弄3号) or before a place (3号楼, 2号线) is not a date.
@_spec(
    needs="号日",
    pattern=rf"(?:(?P<rel>下一?个?月|这一?个?月|本月)的?)?(?<![路弄街巷村楼栋幢室号牌])(?:(?P<d>{_NUM})号|(?P<d>(?<![0-9])[0-9]{{1,2}})日)"
    r"(?![楼线门床房室窗院路弄栋幢座机位车层])",
)
def _day_of_month(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    day = _number(m["d"])
    clause = _CLAUSE.split(m.string[: m.start()])[-1]
    if day is None or _ADDRESS_SAID.search(clause):  # 我住12号, 门牌号12号, 我家是12号: an address
        return None
    if m["rel"]:
        return _day_piece(m, _safe_date(*_this_month(ctx.today, _month_prefix(m["rel"])), day))
    return _day_piece(m, _next_month_day(ctx.today, day))


# 月底/月末/月尾 and 年底 name the last days of a month, not one: these many are offered, numbered.
_END_DAYS = 3
# Said right after an end or a part of a month: 月底以后 is some day after it, 月底前 some day before it: asked.
_EDGE_AFTER = r"(?P<aside>以后|之后|过后|后(?![天日])|以前|之前|前(?![后天日]))?"


def _end_days(year: int, month: int, today: datetime.date) -> list[datetime.date]:
    """The last ``_END_DAYS`` days of a month that are not past."""
    last = _last_day(year, month)
    if last is None:
        return []
    days = [_shift(last, n - _END_DAYS + 1) for n in range(_END_DAYS)]
    return [d for d in days if d is not None and d >= today]


def _end_piece(m: regex.Match[str], days: list[datetime.date]) -> _Piece:
    """The month's (or year's) last days as numbered options, even a single one: a range is asked, never guessed."""
    if not days or m["aside"]:
        return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)
    return _Piece(m.start(), m.end(), options=tuple(_Option(d) for d in days))


@_spec(
    needs="月",
    pattern=rf"(?:(?P<rel>下一?个?|这一?个?|本)|(?P<mon>{_NUM}))?月份?(?:的?月)?"
    r"(?:(?P<edge>底|末|尾)|(?P<edge>初)(?![一二三四五六七八九十1-9])|(?P<edge>头)上?|(?P<edge>[上中下])旬|(?P<edge>中)(?![午饭间心]))"
    + _EDGE_AFTER,
)
def _month_edge(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    today = ctx.today
    if m["edge"] not in ("底", "末", "尾"):
        # 月初, 月头(上) (Shanghainese for 月初), 月中, 上/中/下旬: some days, not one: ask, with an example day of it
        day = {"初": 3, "头": 3, "上": 5, "中": 15, "下": 25}[m["edge"]]
        return _month_part(m, ctx, day)
    if m["mon"]:  # 十二月底: that month of this year, or of next year once its last days have passed
        month = _number(m["mon"]) or 0
        start = _next_month_date(today.replace(day=1), month, 1)
        days = [] if start is None else _end_days(start.year, month, today)
        if not days and start is not None:
            days = _end_days(start.year + 1, month, today)
        return _end_piece(m, days)
    days = _end_days(*_this_month(today, _month_prefix(m["rel"])), today)
    if not m["rel"] and len(days) < 2:  # 月底 on a month's last day: today, or the end of next month?
        days += _end_days(*_this_month(today, 1), today)
    return _end_piece(m, days)


def _month_part(m: regex.Match[str], ctx: _Context, day: int) -> _Piece:
    """Part of a month (月初, 下旬, 下半个月): asked, with an example day of the month meant."""
    today = ctx.today
    if m["mon"]:
        example = _next_month_date(today, _number(m["mon"]) or 0, day)
    elif m["rel"]:
        example = _safe_date(*_this_month(today, _month_prefix(m["rel"])), day)
    else:
        example = _next_month_day(today, day)
    words = _ASK_SAID if example is None else f"您说的“{{said}}”是哪一天？比如“{example.month}月{example.day}号”。"
    return _Piece(m.start(), m.end(), vague=True, ask=words)


# 上半个月, 下半月, 下个月的下半个月: half a month, asked like 月中.
@_spec(
    needs="半",
    pattern=rf"(?:(?:(?P<rel>下一?个?|这一?个?|本)|(?P<mon>{_NUM}))月份?的?)?(?P<half>[上下])半个?月(?!份)"
    + _EDGE_AFTER,
)
def _half_month(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _month_part(m, ctx, 8 if m["half"] == "上" else 20)


# 年底, 年末, 今年年底: the last days of December, numbered; 明年年底 and 年底前 are asked.
@_spec(needs="年", pattern=r"(?P<y>今年|明年|今|明)?年(?:底|末|尾)(?:边|头)?" + _EDGE_AFTER)
def _year_end(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    if m["y"] and m["y"].startswith("明"):
        return _Piece(m.start(), m.end(), vague=True, ask=_ASK_SAID)
    return _end_piece(m, _end_days(ctx.today.year, 12, ctx.today))


@_spec(_words(_HOLIDAYS))
def _holiday(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _day_piece(m, _next_month_date(ctx.today, *_HOLIDAYS[m[0]]))


# 国庆 alone, where a date can stand (国庆以后, 过了国庆): 钱国庆 is a person.
@_spec(needs="国", pattern=rf"{_DATE_WORD_BEFORE}国庆(?!节)")
def _national_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _day_piece(m, _next_month_date(ctx.today, 10, 1))


@functools.lru_cache(maxsize=16)
def _solar_terms(year: int) -> tuple[tuple[str, datetime.date], ...]:
    """The solar terms lunar-python lists, under their Chinese names, for lunar year ``year`` (冬至 of the
    December before it, then 小寒 … 大雪 of the year)."""
    if not _LUNAR_YEARS[0] <= year <= _LUNAR_YEARS[1]:
        return ()
    table = Solar.fromYmd(year, 6, 1).getLunar().getJieQiTable()
    return tuple(
        (name, datetime.date(day.getYear(), day.getMonth(), day.getDay()))
        for name, day in table.items()
        if name in _SOLAR_TERMS
    )


# A term alone or after a few function words (约在冬至, 明年清明): 王立春 and 刘小满 are people.
@_spec(
    needs={w[0] for w in _SOLAR_TERMS},
    pattern=rf"{_DATE_WORD_BEFORE}(?P<t>{_words(_SOLAR_TERMS)})"
    r"(?:节|(?![天多少大小了啊呀]))",
)
def _solar_term(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    days = sorted(
        day
        for year in range(ctx.today.year - 1, ctx.today.year + 3)  # a year's table holds the December before it
        for name, day in _solar_terms(year)
        if name == m["t"] and day >= ctx.today
    )
    return _day_piece(m, days[0] if days else None)


def _lunar_piece(m: regex.Match[str], found: _Option | None) -> _Piece | None:
    return None if found is None else _Piece(m.start(), m.end(), day=found.day, lunar=found.lunar)


@_spec(needs={w[0] for w in _FESTIVALS}, pattern=rf"(?:{_words(_FESTIVALS)})(?![轻纪夜])")
def _festival(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _lunar_piece(m, _next_lunar(ctx.today, *_FESTIVALS[m[0]]))


@_spec(needs="除年", pattern=rf"(?<![0-9零〇一二三四五六七八九十])(?:{_words(_NEW_YEARS_EVE)})(?![岁号日个多])")
def _new_years_eve(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    eve = _next_new_years_eve(ctx.today)
    return None if eve is None else _Piece(m.start(), m.end(), day=eve, lunar=_lunar_words(eve))


@_spec("小年夜", needs="小")
def _small_new_years_eve(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    # Shanghai: the night before 大年夜; elsewhere: the eve of 小年 (腊月廿三). Ask.
    eve = _next_new_years_eve(ctx.today)
    before = None if eve is None else _shift(eve, -1)
    before_option = None
    if before is not None and before >= ctx.today:
        before_option = _Option(before, _lunar_words(before))
    return _options_piece(m, [before_option, _next_lunar(ctx.today, 12, 23)])


@_spec(needs="年", pattern=r"大?年初(?P<d>十|[一二三四五六七八九])(?![号日])")
def _new_year_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _lunar_piece(m, _next_lunar(ctx.today, 1, _number(m["d"]) or 0))


@_spec(needs="月", pattern=r"(?P<rel>下一?个?|这一?个?|本)月(?P<d>初(?:十|[一二三四五六七八九]))(?![号日])")
def _lunar_month_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    # 下个月初八: 初八 is a lunar day, so the month is the lunar one (this one, or the next).
    months = list(itertools.islice(_lunar_months_from(ctx.today), 2))
    index = 1 if m["rel"].startswith("下") else 0
    if len(months) <= index:
        return None
    day = _lunar_day_number(m["d"]) or 0
    found = _in_lunar_month(months[index], day)
    if found is None:
        return None
    return _Piece(m.start(), m.end(), day=found, lunar=months[index].name + _LUNAR_DAY_NAMES[day - 1])


# 初八 and 廿三 alone are lunar days; 十五 alone is just a number, 农历十五 a lunar day.
@_spec(
    needs="初廿农阴老旧",
    pattern=rf"(?:(?:{_words(_LUNAR_PREFIXES)})(?P<d>{_LUNAR_DAY}|(?<![0-9])[0-9]{{1,2}})|"
    r"(?P<d>初(?:十|[一二三四五六七八九]|[1-9](?![0-9]))|廿[一二三四五六七八九]))"
    r"(?![号日0-9一二三四五六七八九十点时分个岁多月])",
)
def _lunar_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    day = _lunar_day_number(m["d"])
    if day is None or not 1 <= day <= 30:
        return None
    return _lunar_piece(m, _next_lunar(ctx.today, None, day))


@_spec(_words(_PARTS))
def _part_of_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), part=_PARTS[m[0]])


# 明天一早 is early morning; in 星期一早上 the 一 is the day's, and 早上 the part of day.
@_spec(needs="一", pattern=r"(?<![期拜周])一早(?![上晨])")
def _first_thing(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), part=_MORNING_EARLY)


# 下五/上五/中五 for 下午/上午/中午 (same sound, a slip of voice input), only right after a day and before a
# clock time or the end: 上五楼 and 下五个 are something else.
@_spec(
    needs="五",
    pattern=rf"(?<=^|[天日朝号一二三四五六七1-7\s,，])(?P<p>[上下中])五"
    rf"(?=$|[\s,，。.!！?？的吧来去]|{_HOUR}(?:点|时)|[0-9]{{1,2}}:)",
)
def _misheard_part_of_day(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), part=_PARTS[m["p"] + "午"])


@_spec(needs=":", pattern=r"(?<![0-9.:])(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?![0-9:])")
def _colon_clock(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _clock_piece(m, _Clock(int(m["h"]), int(m["mi"]), weak=False))


# 十点左右, 十点来钟, 三点钟光景 (about); 十点以前, 三点以后 (the rest of that part of the day).
_CLOCK_SUFFIX = r"(?:(?P<about>左右|来钟|光景|上下|前后|的样子|模样)|(?P<bound>以前|之前|以后|之后|前|后)(?![天日]))?"

# "N minutes to": 差五分十点, 十点差五分, 三点差一刻 (9:55, 14:45).
_TO_THE_HOUR = rf"差(?:(?P<less>{_NUM})分钟?|(?P<lq>一)刻钟?)"


@_spec(
    needs="点时",
    pattern=rf"(?:{_TO_THE_HOUR})?(?:(?P<h>{_HOUR})(?P<lai>(?<=十)来)?点|(?P<h>(?<![0-9])[0-9]{{1,2}})时)(?![点儿])(?P<zhong>钟)?"
    rf"(?:(?P<half>半)|过?(?P<q>[一三])刻|过?(?P<mi>{_NUM})分|(?P<mi>{_BARE_MINUTE})(?![0-9])|{_TO_THE_HOUR}"
    rf"|(?P<more>多)(?!少))?钟?{_CLOCK_SUFFIX}",
)
def _spoken_clock(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    hour = _number(m["h"])
    minute = 30 if m["half"] else {"一": 15, "三": 45}.get(m["q"] or "", _number(m["mi"]) or 0)
    before = 15 if m["lq"] else _number(m["less"]) or 0
    about = bool(m["about"] or m["lai"])  # 十点左右, 十来点 (about ten)
    bare = not (m["zhong"] or m["half"] or m["q"] or m["mi"] or before or m["more"] or about or m["bound"])
    if hour is None or not 0 <= before < 60:
        return None
    clock = _Clock(
        hour,
        minute,
        bare and m["h"] == "一",
        before,
        span=60 if m["more"] else 0,
        about=about,
        bound=_bound(m),
    )
    return _clock_piece(m, clock)


def _bound(m: regex.Match[str]) -> str | None:
    return None if not m["bound"] else "before" if "前" in m["bound"] else "after"


def _clock_piece(m: regex.Match[str], clock: _Clock) -> _Piece | None:
    if not (0 <= clock.hour <= 23 and 0 <= clock.minute <= 59):
        return None
    return _Piece(m.start(), m.end(), clock=clock)


def _clock_at(n: str) -> str:
    """A clock time whose groups end in ``n`` (h1, half1 …), for the ranges below."""
    return (
        rf"(?P<h{n}>{_HOUR})(?:点|时)钟?"
        rf"(?:(?P<half{n}>半)|过?(?P<q{n}>[一三])刻|过?(?P<mi{n}>{_NUM})分|(?P<mi{n}>{_BARE_MINUTE})(?![0-9]))?"
    )


def _minutes_of(m: regex.Match[str], n: str) -> int | None:
    hour = _number(m[f"h{n}"])
    if hour is None or not 0 <= hour <= 23:
        return None
    minute = 30 if m[f"half{n}"] else {"一": 15, "三": 45}.get(m[f"q{n}"] or "", _number(m[f"mi{n}"]) or 0)
    return hour * 60 + minute if 0 <= minute <= 59 else None


# 两点到三点, 2点-3点, 两点半到三点半, 两到三点, 上午10点到下午2点: a window from one time to the other;
# 两点或者三点, 两点、三点: a window over both hours.
@_spec(
    needs="点时",
    pattern=rf"(?:{_clock_at('1')}|(?P<h1>{_HOUR}))\s*(?:到|至|-|~|～|—|－|(?P<or>或者|或是|还是|或|、|/))\s*"
    rf"(?:{_words(_PARTS)})?{_clock_at('2')}钟?(?:之间|中间|的时候)?",
)
def _clock_span(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    first, last = _minutes_of(m, "1"), _minutes_of(m, "2")
    if first is None or last is None:
        return None
    # 十一点到一点 is two hours, 上午10点到下午2点 four; 两点或者三点 is either hour: 14:00–16:00
    span = (last - first) % (12 * 60) + (60 if m["or"] else 0)
    if span == 0 or span > 6 * 60:
        return None
    return _clock_piece(m, _Clock(first // 60, first % 60, weak=False, span=span))


# 两三点, 三四点钟, 九十点钟, 十一二点: either of two neighbouring hours, a window over both.
_HOUR_PAIRS = {**_NEIGHBOURS, "九十": 9, "十一二": 11}


@_spec(needs="点时", pattern=rf"(?<![0-9十])(?P<pair>{_words(_HOUR_PAIRS)})(?:点|时)(?:钟)?{_CLOCK_SUFFIX}")
def _hour_pair(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _clock_piece(m, _Clock(_HOUR_PAIRS[m["pair"]], 0, weak=False, span=120, bound=_bound(m)))


# 吃过中饭, 中饭后, 吃好夜饭: the part of the day after that meal.
@_spec(
    needs="饭点",
    pattern=rf"(?:吃(?:过|好|了|完)了?(?P<meal>{_words(_MEALS)})(?:以后|之后|后)?|(?P<meal>{_words(_MEALS)})(?:以后|之后|过后|后))",
)
def _after_meal(m: regex.Match[str], ctx: _Context) -> _Piece | None:
    return _Piece(m.start(), m.end(), part=_MEALS[m["meal"]])


# --- from pieces to one expression -------------------------------------------------------------------------------


def _pieces(text: str, ctx: _Context) -> list[_Piece]:
    """All pieces in text order; where two overlap, the one starting first (then the longer) wins."""
    chars = set(text)
    found = [
        piece
        for spec in _SPECS
        if not spec.needs.isdisjoint(chars)
        for m in spec.pattern.finditer(text)
        if (piece := spec.resolve(m, ctx))
    ]
    found.sort(key=lambda p: (p.start, p.start - p.end))
    kept: list[_Piece] = []
    for piece in found:
        if not kept or piece.start >= kept[-1].end:
            kept.append(_shifted(text, piece) if piece.day is not None and piece.definite else piece)
    return _joined_vague(text, kept)


# Words after a vague day that belong to it, so the question quotes them too: 过完年以后, 等天暖和点, 月底那几天,
# 天热起来以后, 冬天过了.
_VAGUE_TAIL = regex.compile(
    r"(?:以后|之后|过后|前后|以前|之前|左右|那几天|那阵子?|那段时间|那会儿?|的时候|头几天|几天|起来|过了|过去|暖和|凉快|天气|一点|[点些快了]"
    rf"|{_words(_SEASONS)})+"
)
_WAIT_LEAD = regex.compile(r"等到?$")
# Between two vague words of one wish (明年开春, 年后开春, 过了年再开春): nothing, or a few function words.
_VAGUE_GAP = regex.compile(r"[\s,，、的再就等到]*")


def _fuzzy_day(piece: _Piece) -> bool:
    """A day meant but not said, or one of a few days offered (月底): not a week, not a definite day."""
    return bool(piece.vague or piece.options) and piece.week is None and not (piece.part or piece.clock)


def _joined_vague(text: str, pieces: list[_Piece]) -> list[_Piece]:
    """A vague day keeps the words that follow it, and two vague days said together are one vague wish, asked
    with all its words ("明年开春" is not asked as "明年"): a vague phrase never loses its vagueness."""
    out: list[_Piece] = []
    for i, piece in enumerate(pieces):
        if _fuzzy_day(piece):
            limit = pieces[i + 1].start if i + 1 < len(pieces) else len(text)
            tail = _VAGUE_TAIL.match(text, piece.end, limit)
            if tail is not None:
                piece = replace(piece, end=tail.end())
            lead = _WAIT_LEAD.search(text, out[-1].end if out else 0, piece.start)
            if lead is not None:  # 等过完年, 等到开春: the wait is part of what is asked about
                piece = replace(piece, start=lead.start())
        last = out[-1] if out else None
        if (
            last is not None
            and _fuzzy_day(last)
            and _fuzzy_day(piece)
            and (last.vague or piece.vague)
            and _VAGUE_GAP.fullmatch(text, last.end, piece.start)
        ):
            out[-1] = _Piece(last.start, piece.end, vague=True, ask=_ASK_SAID)
            continue
        out.append(piece)
    return out


# 冬至前一天, 元旦的后一天: a day said by its distance from another.
_DAY_SHIFT = regex.compile(r"的?(?P<dir>前|后)(?P<n>[一两二三123])天(?![后前以之])")


# 元旦以后, 过了冬至: some day after it, not that day: ask.
_AFTER = regex.compile(
    r"(?:以后|之后|过后|前后|(?P<before>以前|之前)|后(?![天日一两二三123])|(?P<before>前)(?![天日一两二三123]))"
)
_AFTER_BEFORE = regex.compile(r"(?:等过了|过了|过完)$")


def _shifted(text: str, piece: _Piece) -> _Piece:
    m = _DAY_SHIFT.match(text, piece.end)
    if m is None and piece.day is not None:
        after = _AFTER.match(text, piece.end)
        before = _AFTER_BEFORE.search(text, 0, piece.start)
        if after is not None or before is not None:
            following = _shift(piece.day, -1 if after is not None and after["before"] else 1) or piece.day
            ask = f"您说的“{{said}}”具体是哪一天？比如“{following.month}月{following.day}日”。"
            start, end = before.start() if before else piece.start, after.end() if after else piece.end
            return _Piece(start, end, vague=True, ask=ask)
    if m is None or piece.day is None:
        return piece
    days = (_number(m["n"]) or 0) * (-1 if m["dir"] == "前" else 1)
    day = _shift(piece.day, days)
    if day is None:
        return piece
    lunar = _lunar_words(day) if piece.lunar else None
    return replace(piece, end=m.end(), day=day, weekday=None, lunar=lunar)


_JOINER = regex.compile(
    r"(?:[\s,，、的在吧呢啊呀]|[那这当]一?天|随便)*"
)  # 元旦那天上午: 那天 only points back at the day


def _groups(text: str, pieces: list[_Piece]) -> list[list[_Piece]]:
    """Adjacent pieces of different kinds form one expression (明天 + 下午 + 三点, 下礼拜 + 的 + 礼拜三)."""
    groups: list[list[_Piece]] = []
    for piece in pieces:
        last = groups[-1] if groups else None
        if last and _JOINER.fullmatch(text, last[-1].end, piece.start) and not piece.kinds & _kinds(last):
            last.append(piece)
        else:
            groups.append([piece])
    return [g for g in groups if not (len(g) == 1 and g[0].clock and g[0].clock.weak)]


def _group_day(group: list[_Piece]) -> _Piece | None:
    """The piece that names the group's day; 下礼拜 + 礼拜三 become one day."""
    week = next((p for p in group if p.week is not None), None)
    day = next((p for p in group if "day" in p.kinds), None)
    if week is not None and week.week is not None and day is not None and day.weekday is not None:
        merged = _shift(week.week, day.weekday)
        if merged is not None:
            return replace(day, start=min(week.start, day.start), end=max(week.end, day.end), day=merged, weekday=None)
    if week is not None and day is not None and day.vague and not day.options:  # 下礼拜哪天都行: ask which day of it
        return week
    return day or week


def _refused(text: str, group: list[_Piece]) -> bool:
    return bool(
        _REFUSED_AFTER.match(text, group[-1].end)
        or _REFUSED_BEFORE.search(text[max(0, group[0].start - 6) : group[0].start])
    )


def _rank(text: str, group: list[_Piece]) -> tuple[bool, int, bool, bool]:
    """Higher is better: not refused, more parts, a day, a definite day."""
    day = _group_day(group)
    kinds = {"day" if kind == "week" else kind for kind in _kinds(group)}
    return (not _refused(text, group), len(kinds), day is not None, day is None or day.definite)


def _resolve_hour(hour: int, part: _Part | None) -> int:
    if part is not None:
        return part.twelve if hour == 12 else hour + 12 if hour in part.pm_hours else hour
    return hour + 12 if 1 <= hour <= 6 else hour  # daytime services: 三点 is 15:00


def _part_for_hour(hour: int) -> str:
    return "morning" if hour < 12 else "noon" if hour == 12 else "afternoon" if hour < 18 else "evening"


def _clock_label(t: datetime.time) -> str:
    if t.hour == 0:
        return "半夜"
    return "凌晨" if t.hour < 6 else _PART_LABELS[_part_for_hour(t.hour)]


def _describe_clock(t: datetime.time) -> str:
    hour = 12 if t.hour == 0 else t.hour - 12 if t.hour > 12 else t.hour
    minutes = "" if t.minute == 0 else "半" if t.minute == 30 else f"{t.minute}分"
    return f"{_clock_label(t)}{hour}点{minutes}"


_ABOUT = regex.compile(r"大概|大约|差不多|约莫|约摸|估计")
_DAY_MINUTES = 24 * 60


def _time_of(minutes: int) -> datetime.time:
    minutes = min(max(minutes, 0), _DAY_MINUTES - 1)
    return datetime.time(minutes // 60, minutes % 60)


def _clock_window(minutes: int, clock: _Clock, part: _Part) -> tuple[int, int | None]:
    """The time said, and the end of its window (None for one time): 两三点 14:00–16:00, 十点以前 08:00–10:00."""
    if clock.span:
        return minutes, minutes + clock.span
    if clock.bound == "before":
        return (part.start * 60 if part.start * 60 < minutes else minutes - 60), minutes
    if clock.bound == "after":
        return minutes, (part.end * 60 if part.end * 60 > minutes else minutes + 60)
    return minutes, None


ASK_DAY = "您想约哪一天？比如“明天”“下礼拜二”。"  # a day meant and nothing said of it (改天, 回头, 过几天)
_ASK_AFTER_REFUSAL = "那您哪天方便？比如“后天”“下礼拜二”。"
_SAID_MAX = 20  # characters of the user's own words quoted back in a question


def _options_question(said: str, options: Sequence[_Option]) -> str:
    lines = [f"您说的“{said[:_SAID_MAX]}”是哪一天？"]
    lines += [f"{i}. {describe_date(o.day, lunar=o.lunar is not None)}" for i, o in enumerate(options, start=1)]
    return "\n".join([*lines, "请回复数字。"])


def _week_question(words: str, monday: datetime.date) -> str:
    example = _shift(monday, 1) or monday
    return f"{words}哪一天？比如“{words}二”（{example.month}月{example.day}日）。"


class _Source(NamedTuple):
    raw: str
    normalized: str
    source_index: tuple[int, ...]

    def original(self, start: int, end: int) -> str:
        """Map a span of the normalized text back onto the raw text (best effort)."""
        first, stop = self.source_index[start], self.source_index[end - 1] + 1
        limit = min(self.source_index[end] if end < len(self.source_index) else len(self.raw), stop + 2)
        # A replacement (上半天 → 上午) maps its last character to an inner source one: take the rest of the
        # word, which is at most two characters longer than its target in the normalization table.
        while stop < limit and self.raw[stop].isalnum():
            stop += 1
        return self.raw[first:stop]


def _source(text: str) -> _Source:
    normalized = default_normalizer().normalize(text)
    return _Source(text, normalized.text, normalized.source_index)


def _to_when(group: list[_Piece], src: _Source, day: _Piece | None = None) -> When:
    day = day or _group_day(group)
    part = next((p.part for p in group if p.part), None)
    clock = next((p.clock for p in group if p.clock), None)
    start: datetime.time | None = None
    end: datetime.time | None = None
    key: str | None = None
    exact = about = False
    if clock is not None:
        minutes = (_resolve_hour(clock.hour, part) * 60 + clock.minute - clock.before) % (24 * 60)
        hour = minutes // 60
        key = part.key if part else _part_for_hour(hour)
        first, last = _clock_window(minutes, clock, part or _BY_KEY[key])
        start, end = _time_of(first), None if last is None else _time_of(last)
        exact = last is None
        clock_piece = next(p for p in group if p.clock is clock)
        about = exact and (
            clock.about or bool(_ABOUT.search(src.normalized, max(0, group[0].start - 4), clock_piece.start))
        )
    elif part is not None:
        start, end, key = datetime.time(part.start), datetime.time(part.end), part.key
    matched = src.original(min(p.start for p in group), max(p.end for p in group))
    when = When(None, start, end, key, exact, matched, approximate=about)
    if day is None:
        return when
    if day.definite:
        return replace(when, date=day.day, lunar=day.lunar)
    said = src.original(day.start, day.end)
    if day.options:
        return replace(when, options=tuple(o.day for o in day.options), question=_options_question(said, day.options))
    if day.week is not None:
        words = regex.sub(_WEEK_TYPO, "礼拜", src.normalized[day.start : day.end])  # 下里拜 is asked as 下礼拜
        if "礼拜" in said or "禮拜" in said:
            words = words.replace("星期", "礼拜")
        return replace(when, week_of=day.week, question=_week_question(words, day.week))
    return replace(when, question=(day.ask or ASK_DAY).replace("{said}", said[:_SAID_MAX]))


def _either(src: _Source, groups: list[list[_Piece]], best: int) -> When | None:
    """后天或者下礼拜五, 礼拜四礼拜五都行: two definite days joined by 或者/还是, or said to suit both, are two options;
    礼拜三到礼拜五: the days from one to the other are."""
    for first in (best - 1, best):
        if first < 0 or first + 1 >= len(groups):
            continue
        a, b = groups[first], groups[first + 1]
        day_a, day_b = _group_day(a), _group_day(b)
        if day_a is not None and day_b is not None and day_a.week_said is not None and day_b.weekday is not None:
            # 下礼拜二或者礼拜三: the second day is in the week the first one named
            day_b = replace(day_b, day=_shift(day_a.week_said, day_b.weekday), weekday=None)
        through = (
            day_a is not None
            and day_b is not None
            and day_a.definite
            and day_b.definite
            and day_a.day is not None
            and day_b.day is not None
            and _THROUGH.fullmatch(src.normalized, a[-1].end, b[0].start)
        )
        if through and day_a is not None and day_b is not None and day_a.day is not None and day_b.day is not None:
            span = (day_b.day - day_a.day).days  # 8号到20号 said on the 10th: which month? asked, not guessed
            days = [_shift(day_a.day, n) for n in range(span + 1)] if 0 < span < _THROUGH_DAYS else []
            options = tuple(_Option(d) for d in days if d is not None)
            merged = replace(
                day_a, start=a[0].start, end=b[-1].end, day=None, lunar=None, options=options, vague=not options
            )
            merged = replace(merged, ask=None if options else _ASK_SAID)
            return replace(_to_when(groups[best], src, merged), matched=src.original(a[0].start, b[-1].end))
        if (
            day_a is None
            or day_b is None
            or not (day_a.definite and day_b.definite)
            or day_a.day == day_b.day
            or not (
                _EITHER.fullmatch(src.normalized, a[-1].end, b[0].start)
                or (
                    _BOTH.fullmatch(src.normalized, a[-1].end, b[0].start)
                    and _EITHER_WILL_DO.match(src.normalized, b[-1].end)
                )
            )
        ):
            continue
        options = (_Option(day_a.day, day_a.lunar), _Option(day_b.day, day_b.lunar)) if day_a.day and day_b.day else ()
        merged = replace(day_a, start=a[0].start, end=b[-1].end, day=None, lunar=None, options=options)
        when = _to_when(groups[best], src, merged)
        return replace(when, matched=src.original(a[0].start, b[-1].end))
    return None


def _parse(src: _Source, ctx: _Context, within: tuple[int, int] | None = None) -> When | None:
    groups = _groups(src.normalized, _pieces(src.normalized, ctx))
    if within is not None:  # only the expressions that overlap the span an upstream extractor cut out
        groups = [g for g in groups if g[0].start < within[1] and g[-1].end > within[0]]
    if not groups:
        return None
    ranks = [_rank(src.normalized, g) for g in groups]
    best = max(range(len(groups)), key=ranks.__getitem__)
    if not ranks[best][0] and within is not None:  # the extractor cut out a refused day: read the whole message
        return None
    if not ranks[best][0]:  # every day said was refused ("明天不行"): ask, never book the refused day
        start, end = groups[best][0].start, groups[best][-1].end
        return When(None, None, None, None, False, src.original(start, end), question=_ASK_AFTER_REFUSAL)
    if within is None:
        either = _either(src, groups, best)
        if either is not None:
            return either
    return _to_when(groups[best], src)


_WEEKDAY_ANSWER = regex.compile(
    rf"(?:那就|就|那|是|要|选|还是)?(?:{_WEEK_WORD}(?P<wd>[日天])|{_WEEK_WORD}?(?P<wd>[一二三四五六七1-7]))"
    r"(?:吧|呢|啊|呀|好了|那天|这天|可以|行)?[\s.!。！~]*"
)


def _local_now(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return datetime.datetime.now(SHANGHAI)
    if now.tzinfo is None:
        return now  # a naive now is already Shanghai wall-clock time
    try:
        return now.astimezone(SHANGHAI)
    except OverflowError:  # within hours of datetime's limits
        return now


def _context(now: datetime.datetime | None, week_of: datetime.date | None) -> _Context:
    local = _local_now(now)
    monday = None if week_of is None else _monday(week_of)
    return _Context(local.date(), local.hour < _LATE_NIGHT_END, monday)


def parse_when(
    text: str,
    now: datetime.datetime | None = None,
    *,
    week_of: datetime.date | None = None,
    context: str | None = None,
) -> When | None:
    """The date/time expression in ``text`` resolved against ``now`` (Shanghai time), or ``None``.

    ``week_of``: the week the caller asked about (any day of it); a bare weekday (礼拜三, 周三, or just 三)
    then falls in that week. ``context``: the whole message ``text`` was cut from (an entity value); the
    expression around ``text`` is read there, so 礼拜五 cut from 下礼拜五 is still next week's Friday.
    A result with ``question`` set is ambiguous: ``date`` is None and the caller asks.
    """
    ctx = _context(now, week_of)
    src = _source(text)
    if ctx.week_of is not None:  # the whole answer is a weekday ("三", "礼拜三吧"); 下下礼拜三 is not
        said = src if context is None else _source(context)
        answer = _WEEKDAY_ANSWER.fullmatch(said.normalized)
        if answer is not None and (day := _shift(ctx.week_of, _WEEKDAYS[answer["wd"]])) is not None:
            return When(day, None, None, None, False, said.raw.strip())
    if context is not None and context != text:
        whole = _source(context)
        at = whole.normalized.find(src.normalized) if src.normalized else -1
        if at >= 0:
            return _parse(whole, ctx, (at, at + len(src.normalized))) or _parse(whole, ctx)
        return _parse(src, ctx) or _parse(whole, ctx)
    return _parse(src, ctx)


# --- answers to a numbered question ------------------------------------------------------------------------------

_FILLER = "吧呀啊了的呢嘛哦喔哈。.!！,，~ "
_NOT_THESE = regex.compile(r"不是|都不|不要|不对|没有|不行")
# "Any of these" (随便, 哪天都行, 你定吧, 看着办, 都一样, 无所谓): the first, most likely option, which the caller
# reads back. A day or a span said with it (下礼拜随便哪天) is not this: that is a new question.
_WHICHEVER = (
    r"(?:哪个|哪一个|哪天|哪一天|哪日|哪个日子|啥时候|什么时候|几号|任何一天|随便哪天|随便哪一天|随便哪个|怎么)"
)
_ANY_OF_THESE = regex.compile(
    r"(?:我|我们|我这边|我这里)?(?:不要紧的?|没关系的?)?(?:"
    rf"{_WHICHEVER}?(?:都|也都|全|也)(?:行|可以|好|成|没关系|不要紧|无所谓|一样|方便|没问题)"
    r"|随便(?:哪天|哪一天|哪个|哪一个|挑一天|挑一个|选一天|选一个|挑|选|你|你们|你挑|你定|定一天)?(?:都行|都可以|都好)?"
    r"|(?:哪天|哪一天|哪个)?(?:无所谓|随你|随你们|随你的便|随意|任何一天)(?:哪天|哪一天|哪个)?"
    r"|(?:(?:你|您|你们)(?:帮我|替我|给我)?|帮我|替我|给我)(?:定|来定|挑|选|安排|看着办|看着安排|说了算|决定|做主)"
    r"(?:一天|一个|个日子|好了|就好|就行|就是|好)?"
    r"|看着办|都一样|(?:听|依|全凭|全听|都听)(?:你|您|你们)的?(?:安排)?)"
)


def any_will_do(text: str) -> bool:
    """The reply to a numbered question says any option will do: 随便, 哪天都行, 你定吧, 看着办, 都一样."""
    core = default_normalizer().normalize(text).text.strip(_FILLER)
    return bool(core) and _ANY_OF_THESE.fullmatch(core) is not None


_LEAD = r"(?:我|那)?(?:就|还是)?(?:选|要|是|挑|定)?"
_ORDINAL = regex.compile(rf"{_LEAD}第?(?P<n>[0-9]{{1,2}}|[一二两三四五六七八九十])(?:个|种|项|条)?(?:那天|那个)?")
_FIRST = regex.compile(rf"{_LEAD}(?:(?:头|前)一个|(?:前面|上面|前头)(?:那|这)?一?个?|第一)")
_LAST = regex.compile(rf"{_LEAD}(?:(?:后|末)一个|(?:后面|下面|后头)(?:那|这)?一?个?|最后(?:那|一)?个?)")
_BARE_DAY_OF_MONTH = regex.compile(rf"{_LEAD}(?P<d>{_NUM})(?:号|日)(?:那天|那个)?")


def choose_option(
    text: str, options: Sequence[datetime.date], now: datetime.datetime | None = None
) -> datetime.date | None:
    """The option a reply to a numbered question means, or None when it is unclear.

    Understood: a number (1, １, 一, 第二个, 选2, 第一个吧), a position (头一个, 前面那个, 后面那个, 最后一个),
    "any of these" (随便, 哪天都行, 你定吧, 看着办, 都一样: the first, most likely option, which the caller reads
    back, :func:`any_will_do`), or a day equal to exactly one option (12月3号, 礼拜三, 29号, 明天).
    """
    if not options:
        return None
    core = default_normalizer().normalize(text).text.strip(_FILLER)
    if not core:
        return None
    if _ANY_OF_THESE.fullmatch(core):
        return options[0]
    if _NOT_THESE.search(core):
        return None
    if (m := _ORDINAL.fullmatch(core)) is not None:
        n = _number(m["n"])
        return options[n - 1] if n is not None and 1 <= n <= len(options) else None
    if _FIRST.fullmatch(core):
        return options[0]
    if _LAST.fullmatch(core):
        return options[-1]
    return _option_by_day(core, options, _context(now, None))


def _option_by_day(core: str, options: Sequence[datetime.date], ctx: _Context) -> datetime.date | None:
    def only(found: Iterable[datetime.date]) -> datetime.date | None:
        unique = set(found)
        return unique.pop() if len(unique) == 1 else None

    if (m := _BARE_DAY_OF_MONTH.fullmatch(core)) is not None:  # 29号: the option on that day of a month
        return only(o for o in options if o.day == _number(m["d"]))
    groups = _groups(core, _pieces(core, ctx))
    days = [day for g in groups if (day := _group_day(g)) is not None]
    if len(days) != 1:
        return None
    day = days[0]
    if day.weekday is not None:  # 礼拜三: the option on that weekday
        return only(o for o in options if o.weekday() == day.weekday)
    said = {o.day for o in day.options} | ({day.day} if day.day is not None else set())
    return only(o for o in options if o in said)
