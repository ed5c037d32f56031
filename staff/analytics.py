"""Analytics for administrators: what the assistant did, per day and channel, with charts and CSV.

Sources, all read-only:

- Rasa's SQL tracker store (``events`` table; ``STAFF_TRACKER_URL``, else the SQLite file
  ``YINLING_TRACKER_DB`` that ``make run`` sets): user messages per day and channel, intents,
  the KB entries answered (``custom.kb_entry`` of bot messages), NLU fallbacks;
- the staff database: handoffs (rate, wait until an agent claimed, unclaimed ones), unanswered
  questions by reason;
- the bookings database: bookings made per service, cancellations and reschedules; attendance taken
  by staff (``booking_attendance``: 已到 / 未到 per booking whose time has come), counted per service by
  the slot's start in the period: ``attended`` and ``no_show``. Bookings nobody marked count as neither.

Charts are SVG drawn here (:func:`bar_chart`, :func:`hbar_chart`): a few dozen lines, no
JavaScript and nothing loaded from elsewhere, and they print sharply on A4.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from staff.db import StaffDB, handoffs, unanswered
from staff.queue import channel_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHANNEL_NAMES = {"webchat": "网页", "wechat": "微信", "telegram": "Telegram", "rest": "接口"}
PALETTE = ("#0b5cad", "#d9822b", "#1f6b2a", "#a4001d", "#6a3d9a", "#55606b")


@dataclass
class Report:
    start: dt.date
    end: dt.date  # exclusive
    days: list[dt.date]
    per_day: dict[str, list[int]]  # channel → messages per day
    messages: int = 0
    conversations: int = 0
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    top_entries: list[tuple[str, int]] = field(default_factory=list)
    fallbacks: int = 0
    unanswered: dict[str, int] = field(default_factory=dict)
    handoffs: int = 0
    handed_conversations: int = 0
    claimed: int = 0
    unclaimed: int = 0
    waits: list[float] = field(default_factory=list)  # seconds until claimed
    # service → booked/cancelled/rescheduled (events in the period), attended/no_show (slots in the period)
    bookings: dict[str, dict[str, int]] = field(default_factory=dict)
    tracker_available: bool = True
    no_shows_recorded: bool = False  # the bookings database answered with its attendance table

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.messages if self.messages else 0.0

    @property
    def handoff_rate(self) -> float:
        return self.handed_conversations / self.conversations if self.conversations else 0.0

    def wait(self, q: float) -> float | None:
        if not self.waits:
            return None
        ordered = sorted(self.waits)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def wait_median(self) -> float | None:
        return statistics.median(self.waits) if self.waits else None

    def total(self, kind: str) -> int:
        return sum(v.get(kind, 0) for v in self.bookings.values())


def shanghai_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def period(days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last ``days`` days up to and including today (Shanghai)."""
    today = today or dt.datetime.now(SHANGHAI).date()
    return today - dt.timedelta(days=days - 1), today + dt.timedelta(days=1)


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=7)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(start, dt.time(0), SHANGHAI).astimezone(dt.timezone.utc),
        dt.datetime.combine(end, dt.time(0), SHANGHAI).astimezone(dt.timezone.utc),
    )


class Analytics:
    def __init__(self, staff_db: StaffDB, tracker: Engine | None, bookings: Engine | None) -> None:
        self.staff_db, self.tracker, self.bookings = staff_db, tracker, bookings

    def report(self, start: dt.date, end: dt.date) -> Report:
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        report = Report(start, end, days, {})
        since, until = _bounds(start, end)
        self._tracker(report, since, until)
        self._staff(report, since, until)
        self._bookings(report, since, until)
        return report

    def _tracker(self, report: Report, since: dt.datetime, until: dt.datetime) -> None:
        if self.tracker is None:
            report.tracker_available = False
            return
        events = sa.table(
            "events",
            sa.column("sender_id"),
            sa.column("type_name"),
            sa.column("timestamp"),
            sa.column("intent_name"),
            sa.column("data"),
        )
        window = sa.and_(events.c.timestamp >= since.timestamp(), events.c.timestamp < until.timestamp())
        index = {d: i for i, d in enumerate(report.days)}
        intents: Counter[str] = Counter()
        entries: Counter[str] = Counter()
        senders: set[str] = set()
        try:
            with self.tracker.connect() as conn:
                users = conn.execute(
                    sa.select(events.c.sender_id, events.c.timestamp, events.c.intent_name).where(
                        window, events.c.type_name == "user"
                    )
                ).all()
                bots = conn.execute(
                    sa.select(events.c.data).where(
                        window, events.c.type_name == "bot", events.c.data.like('%"kb_entry"%')
                    )
                ).all()
        except sa.exc.SQLAlchemyError:
            report.tracker_available = False
            return
        for sender, stamp, intent in users:
            channel = channel_of(str(sender))
            day = dt.datetime.fromtimestamp(float(stamp), SHANGHAI).date()
            if day not in index:
                continue
            report.per_day.setdefault(channel, [0] * len(report.days))[index[day]] += 1
            report.messages += 1
            senders.add(str(sender))
            if intent:
                intents[str(intent)] += 1
            if intent == "nlu_fallback":
                report.fallbacks += 1
        for (data,) in bots:
            try:
                custom = ((json.loads(data) or {}).get("data") or {}).get("custom") or {}
            except (ValueError, AttributeError):
                continue
            entry = custom.get("kb_entry") if isinstance(custom, dict) else None
            if entry and custom.get("confident", True):
                entries[str(entry)] += 1
        report.conversations = len(senders)
        report.top_intents = intents.most_common(10)
        report.top_entries = entries.most_common(10)

    def _staff(self, report: Report, since: dt.datetime, until: dt.datetime) -> None:
        with self.staff_db.read() as conn:
            rows = conn.execute(
                sa.select(
                    handoffs.c.conversation_id, handoffs.c.created_at, handoffs.c.claimed_at, handoffs.c.close_reason
                ).where(handoffs.c.created_at >= since, handoffs.c.created_at < until)
            ).all()
            reasons = conn.execute(
                sa.select(unanswered.c.reason, sa.func.count())
                .where(unanswered.c.at >= since, unanswered.c.at < until)
                .group_by(unanswered.c.reason)
            ).all()
        report.handoffs = len(rows)
        report.handed_conversations = len({r.conversation_id for r in rows})
        for r in rows:
            if r.claimed_at is not None:
                report.claimed += 1
                report.waits.append(max(0.0, (r.claimed_at - r.created_at).total_seconds()))
            elif r.close_reason == "unclaimed":
                report.unclaimed += 1
        report.unanswered = {str(reason): int(count) for reason, count in reasons}

    def _bookings(self, report: Report, since: dt.datetime, until: dt.datetime) -> None:
        if self.bookings is None:
            return
        from bookings.store import ACTIVE, attendance_table, bookings_table, events_table, slots_table

        try:
            with self.bookings.connect() as conn:
                rows = conn.execute(
                    sa.select(slots_table.c.service, events_table.c.kind, sa.func.count())
                    .select_from(events_table.join(slots_table, events_table.c.slot_id == slots_table.c.id))
                    .where(events_table.c.at >= since, events_table.c.at < until)
                    .group_by(slots_table.c.service, events_table.c.kind)
                ).all()
        except sa.exc.SQLAlchemyError:
            return
        per: dict[str, dict[str, int]] = defaultdict(
            lambda: {"booked": 0, "cancelled": 0, "rescheduled": 0, "attended": 0, "no_show": 0}
        )
        for service, kind, count in rows:
            per[str(service)][str(kind)] = int(count)
        try:
            with self.bookings.connect() as conn:
                marks = conn.execute(
                    sa.select(slots_table.c.service, attendance_table.c.attended, sa.func.count())
                    .select_from(
                        attendance_table.join(
                            bookings_table, attendance_table.c.booking_id == bookings_table.c.id
                        ).join(slots_table, bookings_table.c.slot_id == slots_table.c.id)
                    )
                    .where(
                        bookings_table.c.status == ACTIVE,
                        slots_table.c.starts_at >= since,
                        slots_table.c.starts_at < until,
                    )
                    .group_by(slots_table.c.service, attendance_table.c.attended)
                ).all()
        except sa.exc.SQLAlchemyError:
            marks = None  # a bookings database no newer booking store has opened yet: no attendance table
        for service, attended, count in marks or []:
            per[str(service)]["attended" if attended else "no_show"] += int(count)
        report.no_shows_recorded = marks is not None
        report.bookings = dict(sorted(per.items(), key=lambda kv: -kv[1]["booked"]))


# -- CSV ----------------------------------------------------------------------------------------


def to_csv(report: Report) -> str:
    """One table: section, key, day (when per day), value."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "day", "value"])
    for channel, counts in sorted(report.per_day.items()):
        for day, count in zip(report.days, counts):
            writer.writerow(["messages_per_day", channel, day.isoformat(), count])
    for name, count in report.top_intents:
        writer.writerow(["top_intent", name, "", count])
    for name, count in report.top_entries:
        writer.writerow(["top_entry", name, "", count])
    wait_median = report.wait_median
    for key, value in (
        ("messages", report.messages),
        ("conversations", report.conversations),
        ("fallbacks", report.fallbacks),
        ("fallback_rate", round(report.fallback_rate, 4)),
        ("handoffs", report.handoffs),
        ("handoff_rate", round(report.handoff_rate, 4)),
        ("handoffs_unclaimed", report.unclaimed),
        ("wait_median_seconds", "" if wait_median is None else round(wait_median, 1)),
        ("wait_p90_seconds", "" if report.wait(0.9) is None else round(report.wait(0.9) or 0.0, 1)),
        ("attended", report.total("attended") if report.no_shows_recorded else "not recorded"),
        ("no_shows", report.total("no_show") if report.no_shows_recorded else "not recorded"),
    ):
        writer.writerow(["summary", key, "", value])
    for reason, count in sorted(report.unanswered.items()):
        writer.writerow(["unanswered", reason, "", count])
    for service, kinds in report.bookings.items():
        for kind, count in kinds.items():
            writer.writerow(["bookings", f"{service}:{kind}", "", count])
    return out.getvalue()


# -- SVG charts ---------------------------------------------------------------------------------


def _nice_max(value: float) -> float:
    """The top of the axis: four ticks of 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 4.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            return float(multiple * magnitude * 4)
    return float(value)


def bar_chart(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, width: int = 640, height: int = 260
) -> str:
    """Stacked vertical bars, one per label; a legend names each series (colour is not the only cue:
    every series also gets its total in the legend, and the bars carry <title> tooltips)."""
    left, right, top, bottom = 44, 10, 28, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = _nice_max(max(totals, default=0))
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="#1b1f24">{escape(title)}</text>',
    ]
    for k in range(5):
        value = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dbe1"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#55606b">{value:g}</text>'
        )
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        base = float(top + plot_h)
        for s, (name, values) in enumerate(series.items()):
            value = float(values[i])
            if value <= 0:
                continue
            h = plot_h * value / peak
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(label)} {escape(name)}: {value:g}</title></rect>"
            )
        every = max(1, n // 10)
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle" fill="#55606b">{escape(label)}</text>'
            )
    x = left
    for s, (name, values) in enumerate(series.items()):
        text = f"{name} {sum(values):g}"
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" font-size="11" fill="#1b1f24">{escape(text)}</text>')
        x += 24 + 8 * len(text)
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(items: Sequence[tuple[str, float]], title: str, width: int = 640) -> str:
    """Horizontal bars with the value written next to each (readable in black and white)."""
    row, top, label_w = 22, 28, 220
    height = top + row * max(len(items), 1) + 8
    peak = max((v for _, v in items), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" font-size="13" font-weight="bold" fill="#1b1f24">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="4" y="{top + 14}" font-size="12" fill="#55606b">（这段时间没有）</text>')
    for i, (label, value) in enumerate(items):
        y = top + row * i
        w = (width - label_w - 60) * value / peak
        short = label if len(label) <= 24 else label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end" fill="#1b1f24">{escape(short)}</text>'
        )
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="11" fill="#1b1f24">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def charts(report: Report, entry_titles: dict[str, str]) -> dict[str, str]:
    labels = [f"{d.month}/{d.day}" for d in report.days]
    series = {CHANNEL_NAMES.get(c, c): v for c, v in sorted(report.per_day.items())} or {"消息": [0] * len(labels)}
    booked = [(service, float(k["booked"])) for service, k in report.bookings.items()]
    cancelled = [(service, float(k["cancelled"])) for service, k in report.bookings.items()]
    no_shows = [(service, float(k["no_show"])) for service, k in report.bookings.items()]
    return {
        "per_day": bar_chart(labels, series, "每天的消息（按渠道）"),
        "intents": hbar_chart([(n, float(c)) for n, c in report.top_intents], "最常见的意图"),
        "entries": hbar_chart(
            [(entry_titles.get(n, n), float(c)) for n, c in report.top_entries], "回答最多的知识库条目"
        ),
        "bookings": hbar_chart(booked, "各项服务的预约"),
        "cancellations": hbar_chart(cancelled, "各项服务的取消"),
        "no_shows": hbar_chart(no_shows, "各项服务的爽约（登记为未到）"),
    }


def summary(report: Report) -> dict[str, Any]:
    def minutes(seconds: float | None) -> str:
        return "—" if seconds is None else f"{seconds / 60:.1f} 分钟"

    return {
        "messages": report.messages,
        "conversations": report.conversations,
        "fallback_rate": f"{report.fallback_rate:.1%}",
        "fallbacks": report.fallbacks,
        "handoffs": report.handoffs,
        "handoff_rate": f"{report.handoff_rate:.1%}",
        "wait_median": minutes(report.wait_median),
        "wait_p90": minutes(report.wait(0.9)),
        "unclaimed": report.unclaimed,
        "booked": report.total("booked"),
        "cancelled": report.total("cancelled"),
        "rescheduled": report.total("rescheduled"),
        "no_shows": report.total("no_show") if report.no_shows_recorded else None,
        "attended": report.total("attended"),
        "unanswered": sum(report.unanswered.values()),
    }
