"""Working hours of the agents, and when the next shift starts (Asia/Shanghai).

``STAFF_WORKING_HOURS`` is a list of ``<days> <HH:MM>-<HH:MM>`` separated by ``;``, days as
``mon-fri``, ``sat``, ``mon,wed,fri`` or ``daily``; the default is ``mon-fri 08:30-17:30``.
``24:00`` ends a window at midnight. Used by the bot's handoff action (is anyone working now,
when will someone call back) and by the staff app (the callback tickets' due time).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from staff.errors import StaffConfigError

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_HOURS = "mon-fri 08:30-17:30"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WINDOW = re.compile(r"^\s*([a-z,\-]+)\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]
    start_minute: int
    end_minute: int


def _days(spec: str, raw: str) -> frozenset[int]:
    if spec == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise StaffConfigError(
                f"STAFF_WORKING_HOURS={raw!r}: {part!r} is not a day range like mon-fri, sat or daily"
            )
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


@dataclass(frozen=True)
class WorkingHours:
    windows: tuple[Window, ...]
    text: str

    @classmethod
    def parse(cls, raw: str | None) -> WorkingHours:
        raw = (raw or DEFAULT_HOURS).strip()
        windows: list[Window] = []
        for piece in filter(None, (p.strip() for p in raw.split(";"))):
            match = _WINDOW.match(piece.lower())
            if match is None:
                raise StaffConfigError(
                    f"STAFF_WORKING_HOURS={raw!r}: {piece!r} should look like 'mon-fri 08:30-17:30' (several joined by ';')"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if not (0 <= start < end <= 24 * 60) or m1 > 59 or m2 > 59:
                raise StaffConfigError(f"STAFF_WORKING_HOURS={raw!r}: {piece!r} needs a start before its end")
            windows.append(Window(_days(match.group(1), raw), start, end))
        if not windows:
            raise StaffConfigError("STAFF_WORKING_HOURS is empty; set e.g. 'mon-fri 08:30-17:30'")
        return cls(tuple(windows), raw)

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(SHANGHAI)
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in w.days and w.start_minute <= minute < w.end_minute for w in self.windows)

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        """The start of the next window after ``at`` (``at`` itself when open now)."""
        if self.is_open(at):
            return at
        local = at.astimezone(SHANGHAI).replace(second=0, microsecond=0)
        for offset in range(8):
            day = (local + dt.timedelta(days=offset)).date()
            starts = sorted(w.start_minute for w in self.windows if day.weekday() in w.days)
            for minute in starts:
                candidate = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), SHANGHAI)
                if candidate > local:
                    return candidate
        raise StaffConfigError(f"STAFF_WORKING_HOURS={self.text!r} never opens")

    def describe(self) -> str:
        """For seniors: 周一到周五 8:30-17:30."""
        parts = []
        for w in self.windows:
            days = sorted(w.days)
            if len(days) == 7:
                label = "每天"
            elif days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
                label = f"{DAY_NAMES[days[0]]}到{DAY_NAMES[days[-1]]}"
            else:
                label = "、".join(DAY_NAMES[d] for d in days)
            parts.append(f"{label} {_clock(w.start_minute)}-{_clock(w.end_minute)}")
        return "，".join(parts)


def _clock(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def when_phrase(opening: dt.datetime, now: dt.datetime) -> str:
    """今天下午 / 明天上午 / 周一上午 … for "someone will call you back ___"."""
    local, today = opening.astimezone(SHANGHAI), now.astimezone(SHANGHAI).date()
    days = (local.date() - today).days
    if days <= 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    elif days == 2:
        day = "后天"
    else:
        day = DAY_NAMES[local.weekday()]
    half = "上午" if local.hour < 12 else "下午"
    return f"{day}{half}"
