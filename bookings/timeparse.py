"""Parse the Chinese date/time expressions older people use when booking a service.

Written by hand on purpose: JioNLP's ``parse_time`` ships a large package whose licence and
size did not fit this project, and bookings need only a bounded grammar (a day, a part of
day, a clock time). The grammar is a registry of small patterns, each with a resolver; the
text goes through ``textnorm`` first (traditional → simplified, full-width → half-width,
Shanghainese 明朝/礼拜/上半天 → 明天/星期/上午), and the tables also accept the raw words.

Rules worth knowing:
- Weeks run Monday–Sunday. 这周X is day X of the current week even if it has passed (the
  caller decides what to do with a past date); 下周X is day X of the next week; a bare
  星期X/周X is the next such day, today included.
- A bare hour is read for daytime services: 1–6 → afternoon, 7–11 → morning, 12 → noon.
- When a text holds several expressions, the one with the most parts (day, part of day,
  clock) wins; ties go to the first.
- Only the first characters the normalizer keeps (its length cap) are read.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import cn2an
import regex

from textnorm import default_normalizer

SHANGHAI = ZoneInfo("Asia/Shanghai")

_WEEKDAY_NAMES = "一二三四五六日"


@dataclass(frozen=True)
class When:
    """A resolved date/time expression."""

    date: datetime.date | None
    start: datetime.time | None
    end: datetime.time | None
    part_of_day: str | None
    exact_time: bool
    matched: str

    def describe(self) -> str:
        """Plain Chinese read-back, e.g. ``12月1日（星期二）上午`` or ``11月30日（星期一）下午3点``."""
        day = ""
        if self.date is not None:
            day = f"{self.date.month}月{self.date.day}日（星期{_WEEKDAY_NAMES[self.date.weekday()]}）"
        if self.start is None:
            return day
        if self.exact_time:
            return day + _describe_clock(self.start)
        return day + _WINDOW_LABELS.get((self.start, self.end), "")


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

# Mandarin words plus Shanghainese ones (上半天, 上昼, 早浪向, 夜快, 夜到) the normalizer may not know.
_PARTS: dict[str, _Part] = {
    **dict.fromkeys(["早上", "早晨", "清早", "一早", "早浪向", "早浪"], _MORNING_EARLY),
    **dict.fromkeys(["上午", "上半天", "上昼"], _MORNING),
    **dict.fromkeys(["中午", "中浪向", "中浪"], _NOON),
    **dict.fromkeys(["下午", "下半天", "下昼"], _AFTERNOON),
    **dict.fromkeys(["傍晚", "夜快头", "夜快", "黄昏"], _DUSK),
    **dict.fromkeys(["晚上", "夜里向", "夜里", "夜到", "晚间"], _EVENING),
}
_WINDOW_LABELS: dict[tuple[datetime.time, datetime.time | None], str] = {
    (datetime.time(p.start), datetime.time(p.end)): p.label for p in _PARTS.values()
}
_PART_LABELS = {"morning": "上午", "noon": "中午", "afternoon": "下午", "evening": "晚上"}

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
_WEEKDAYS = {**{ch: i for i, ch in enumerate(_WEEKDAY_NAMES)}, "天": 6, **{str(i + 1): i for i in range(7)}}
_WEEK_OFFSETS = {"这": 0, "本": 0, "下": 1, "下下": 2, "上": -1}  # after dropping 个/一
_OFFSET_UNITS = {"天": 1, "日": 1, "星期": 7, "礼拜": 7, "周": 7}
_HOLIDAYS = {"元旦": (1, 1), "劳动节": (5, 1), "国庆节": (10, 1)}


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    weak: bool  # a bare 一点 is usually "a little" (快一点): trust it only next to a day or part of day


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    day: datetime.date | None = None
    part: _Part | None = None
    clock: _Clock | None = None

    @property
    def kinds(self) -> set[str]:
        return {k for k in ("day", "part", "clock") if getattr(self, k) is not None}


def _kinds(group: list[_Piece]) -> set[str]:
    return {kind for piece in group for kind in piece.kinds}


# Chinese numerals in the shapes dates and times use (cn2an alone would also take 两两 as 22).
_CN = r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?|[零〇][一二三四五六七八九]|[零〇一二两三四五六七八九])"
_NUM = rf"(?:(?<![0-9])[0-9]{{1,2}}(?![0-9])|{_CN})"
# Minutes without 分 must look like minutes (三点二十, 三点零五, 3点05), not a lone digit (三点五).
_BARE_MINUTE = r"(?:[0-9]{2}|[一二三四五]?十[一二三四五六七八九]?|[零〇][一二三四五六七八九])"


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


Resolver = Callable[["regex.Match[str]", datetime.date], "_Piece | None"]
_SPECS: list[tuple[regex.Pattern[str], Resolver]] = []


def _spec(pattern: str) -> Callable[[Resolver], Resolver]:
    """Register a pattern and the resolver that turns its match into a piece."""

    def register(resolver: Resolver) -> Resolver:
        _SPECS.append((regex.compile(pattern), resolver))
        return resolver

    return register


def _day_piece(m: regex.Match[str], day: datetime.date | None, part: _Part | None = None) -> _Piece | None:
    return None if day is None else _Piece(m.start(), m.end(), day=day, part=part)


@_spec(_words(_RELATIVE_DAYS))
def _relative_day(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    return _day_piece(m, _shift(today, _RELATIVE_DAYS[m[0]]))


@_spec(_words(_DAY_PARTS))
def _day_part(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    offset, part = _DAY_PARTS[m[0]]
    return _day_piece(m, _shift(today, offset), part)


@_spec(r"(?P<rel>下下个?|下个?|这一?个?|本|上个?)?(?:星期|礼拜|周)(?P<wd>[一二三四五六日天1-7])(?![0-9])")
def _week_day(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    weekday = _WEEKDAYS[m["wd"]]
    if m["rel"] is None:  # bare 星期X: the next such day, today included
        return _day_piece(m, _shift(today, (weekday - today.weekday()) % 7))
    weeks = _WEEK_OFFSETS[m["rel"].replace("个", "").replace("一", "")]
    return _day_piece(m, _shift(today, 7 * weeks + weekday - today.weekday()))


@_spec(
    rf"过(?P<n>{_NUM})(?P<unit>天|个?星期|个?礼拜|周)|(?P<n>{_NUM})(?P<unit>天|日|个?星期|个?礼拜|周)(?:以后|之后|后)"
)
def _offset(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    n = _number(m["n"])
    return _day_piece(m, None if n is None else _shift(today, n * _OFFSET_UNITS[m["unit"].lstrip("个")]))


@_spec(rf"(?:(?P<y>(?<![0-9])[0-9]{{4}})年|(?P<yrel>今年|明年))?(?P<m>{_NUM})月(?P<d>{_NUM})(?:号|日)")
def _month_day(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    month, day = _number(m["m"]), _number(m["d"])
    if month is None or day is None:
        return None
    if m["y"] or m["yrel"]:
        year = int(m["y"]) if m["y"] else today.year + (m["yrel"] == "明年")
        return _day_piece(m, _safe_date(year, month, day))
    return _day_piece(m, _next_month_date(today, month, day))


@_spec(r"(?<![0-9/.:-])(?:(?P<y>[0-9]{4})[-/.])?(?P<m>[0-9]{1,2})[/-](?P<d>[0-9]{1,2})(?![0-9/.:-])")
def _numeric_date(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    if m["y"] is None and "-" in m[0]:  # 3-5 is a range of numbers, not March 5th
        return None
    month, day = int(m["m"]), int(m["d"])
    if m["y"]:
        return _day_piece(m, _safe_date(int(m["y"]), month, day))
    return _day_piece(m, _next_month_date(today, month, day))


# 号 after an address word (宝山路5号, 12弄3号) or before a place (3号楼, 2号线) is not a date.
@_spec(
    rf"(?P<rel>下个?月|这个?月|本月)?(?<![路弄街巷村楼栋幢室])(?:(?P<d>{_NUM})号|(?P<d>(?<![0-9])[0-9]{{1,2}})日)"
    r"(?![楼线门床房室窗院路弄栋幢座机位车层])"
)
def _day_of_month(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    day = _number(m["d"])
    if day is None:
        return None
    if m["rel"]:
        return _day_piece(m, _safe_date(*_this_month(today, _month_prefix(m["rel"])), day))
    return _day_piece(m, _next_month_day(today, day))


@_spec(rf"(?:(?P<rel>下个?|这个?|本)|(?P<mon>{_NUM}))?月(?:(?P<edge>底|末)|(?P<edge>初)(?![一二三四五六七八九十]))")
def _month_edge(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    if m["mon"]:  # 十二月底: that month of this year, or of next year once it has passed
        month = _number(m["mon"]) or 0
        start = _next_month_date(today.replace(day=1), month, 1)
        return _day_piece(m, start if start is None or m["edge"] == "初" else _last_day(start.year, month))
    months = _month_prefix(m["rel"])
    if m["edge"] == "初":  # a bare 月初: today while still in the 1st–5th, else the 1st of next month
        if not m["rel"] and today.day <= 5:
            return _day_piece(m, today)
        return _day_piece(m, _safe_date(*_this_month(today, months if m["rel"] else 1), 1))
    last = _last_day(*_this_month(today, months))
    if not m["rel"] and last == today:  # already the last day: the caller means next month's end
        last = _last_day(*_this_month(today, 1))
    return _day_piece(m, last)


@_spec(_words(_HOLIDAYS))
def _holiday(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    return _day_piece(m, _next_month_date(today, *_HOLIDAYS[m[0]]))


@_spec(_words(_PARTS))
def _part_of_day(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    return _Piece(m.start(), m.end(), part=_PARTS[m[0]])


@_spec(r"(?<![0-9.:])(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?![0-9:])")
def _colon_clock(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    return _clock_piece(m, int(m["h"]), int(m["mi"]), weak=False)


@_spec(
    rf"(?:(?P<h>{_NUM})点|(?P<h>(?<![0-9])[0-9]{{1,2}})时)(?![点儿])(?P<zhong>钟)?"
    rf"(?:(?P<half>半)|(?P<q>[一三])刻|(?P<mi>{_NUM})分|(?P<mi>{_BARE_MINUTE})(?![0-9]))?"
)
def _spoken_clock(m: regex.Match[str], today: datetime.date) -> _Piece | None:
    hour = _number(m["h"])
    minute = 30 if m["half"] else {"一": 15, "三": 45}.get(m["q"] or "", _number(m["mi"]) or 0)
    bare = not (m["zhong"] or m["half"] or m["q"] or m["mi"])
    if hour is None:
        return None
    return _clock_piece(m, hour, minute, weak=bare and m["h"] == "一")


def _clock_piece(m: regex.Match[str], hour: int, minute: int, *, weak: bool) -> _Piece | None:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return _Piece(m.start(), m.end(), clock=_Clock(hour, minute, weak))


def _pieces(text: str, today: datetime.date) -> list[_Piece]:
    """All pieces in text order; where two overlap, the one starting first (then the longer) wins."""
    found = [p for pattern, resolve in _SPECS for m in pattern.finditer(text) if (p := resolve(m, today))]
    found.sort(key=lambda p: (p.start, p.start - p.end))
    kept: list[_Piece] = []
    for piece in found:
        if not kept or piece.start >= kept[-1].end:
            kept.append(piece)
    return kept


_JOINER = regex.compile(r"[\s,，、的在]{0,3}")


def _groups(text: str, pieces: list[_Piece]) -> list[list[_Piece]]:
    """Adjacent pieces of different kinds form one expression (明天 + 下午 + 三点)."""
    groups: list[list[_Piece]] = []
    for piece in pieces:
        last = groups[-1] if groups else None
        if last and _JOINER.fullmatch(text, last[-1].end, piece.start) and not piece.kinds & _kinds(last):
            last.append(piece)
        else:
            groups.append([piece])
    return [g for g in groups if not (len(g) == 1 and g[0].clock and g[0].clock.weak)]


def _resolve_hour(hour: int, part: _Part | None) -> int:
    if part is not None:
        return part.twelve if hour == 12 else hour + 12 if hour in part.pm_hours else hour
    return hour + 12 if 1 <= hour <= 6 else hour  # daytime services: 三点 is 15:00


def _part_for_hour(hour: int) -> str:
    return "morning" if hour < 12 else "noon" if hour == 12 else "afternoon" if hour < 18 else "evening"


def _describe_clock(t: datetime.time) -> str:
    label = "凌晨" if t.hour < 6 else _PART_LABELS[_part_for_hour(t.hour)]
    hour = t.hour - 12 if t.hour > 12 else t.hour
    minutes = "" if t.minute == 0 else "半" if t.minute == 30 else f"{t.minute}分"
    return f"{label}{hour}点{minutes}"


def _to_when(group: list[_Piece], matched: str) -> When:
    day = next((p.day for p in group if p.day), None)
    part = next((p.part for p in group if p.part), None)
    clock = next((p.clock for p in group if p.clock), None)
    if clock is not None:
        hour = _resolve_hour(clock.hour, part)
        key = part.key if part else _part_for_hour(hour)
        return When(day, datetime.time(hour, clock.minute), None, key, True, matched)
    if part is not None:
        return When(day, datetime.time(part.start), datetime.time(part.end), part.key, False, matched)
    return When(day, None, None, None, False, matched)


def _shanghai_today(now: datetime.datetime | None) -> datetime.date:
    if now is None:
        return datetime.datetime.now(SHANGHAI).date()
    if now.tzinfo is None:
        return now.date()  # a naive now is already Shanghai wall-clock time
    return now.astimezone(SHANGHAI).date()


def _original_span(text: str, source: tuple[int, ...], start: int, end: int) -> str:
    """Map a span of the normalized text back onto the raw text (best effort)."""
    first, stop = source[start], source[end - 1] + 1
    limit = min(source[end] if end < len(source) else len(text), stop + 2)
    # A replacement (上半天 → 上午) maps its last character to an inner source one: take the rest of the
    # word, which is at most two characters longer than its target in the normalization table.
    while stop < limit and text[stop].isalnum():
        stop += 1
    return text[first:stop]


def parse_when(text: str, now: datetime.datetime | None = None) -> When | None:
    """The date/time expression in ``text`` resolved against ``now`` (Shanghai time), or ``None``."""
    today = _shanghai_today(now)
    normalized = default_normalizer().normalize(text)
    groups = _groups(normalized.text, _pieces(normalized.text, today))
    if not groups:
        return None
    best = max(groups, key=lambda g: len(_kinds(g)))
    matched = _original_span(text, normalized.source_index, best[0].start, best[-1].end)
    return _to_when(best, matched)
