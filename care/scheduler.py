"""Due jobs, run once each whatever the number of schedulers, and the booking reminders they come from.

A job is claimed and handled in **one** write transaction: ``UPDATE care_jobs SET status = 'done'
WHERE id = :id AND status = 'pending'`` (0 rows: another scheduler had it), then the handler
writes the messages and the next jobs, then commit. A scheduler killed mid-job rolls back the
claim with everything else, so the job is still pending for the next one; a committed job has
its messages in the outbox. Nothing leaves the machine here; the worker sends.

Jobs (kind → what happens when it is due):

- ``checkin_ask``: today's question to the senior; ``checkin_again`` after the retry time; tomorrow's
  ``checkin_ask``.
- ``checkin_again``: unanswered → the second question; ``checkin_alert`` after the alert time. A
  second question that would fall in quiet hours waits for their end.
- ``checkin_alert``: still unanswered → one alert per linked family member and one SMS per grid worker
  (网格员) of the senior's street (care/grid.py), each unique per senior, day and contact, and one case
  at the top of the agents' queue.
- ``reminder_day`` / ``reminder_2h``: the day before and two hours before a booking, to the senior
  and to linked family; skipped if the booking was cancelled or moved (a move schedules new ones).
  A reminder due in quiet hours goes out just before they begin, the evening before.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bookings.catalog import SHANGHAI, default_catalog
from bookings.store import Booking, BookingStore, bookings_table, format_code, slots_table
from bookings.timeparse import describe_date
from care.config import CareSettings
from care.db import CareDB, checkin_days, checkins, jobs
from care.grid import phone_words
from care.outbox import enqueue, insert_ignore
from care.service import (
    Whereabouts,
    ask_consent_again,
    consent_state,
    family_of,
    next_at_minute,
    open_case,
    schedule_job,
    whereabouts,
)
from care.wording import say

logger = logging.getLogger(__name__)

Handler = Callable[[Connection, sa.Row[Any], dt.datetime, CareSettings], None]
REMINDERS = {"reminder_day": dt.timedelta(days=1), "reminder_2h": dt.timedelta(hours=2)}


# -- booking reminders (called inside the booking store's transaction) --------------------------------


def on_booking_change(
    settings: CareSettings, clock: Callable[[], dt.datetime]
) -> Callable[[Connection, str, Booking], None]:
    """The booking store's listener: schedule or cancel reminders in the booking's own transaction."""

    def listener(conn: Connection, kind: str, booking: Booking) -> None:
        senior = booking.channel_user
        if kind in ("cancelled", "rescheduled"):
            # This booking's reminders only (their ref starts with its code); a move schedules new ones.
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.subject == senior,
                    jobs.c.kind.in_(tuple(REMINDERS)),
                    jobs.c.status == "pending",
                    jobs.c.ref.startswith(booking.code + "@"),
                )
                .values(status="cancelled")
            )
        if kind in ("booked", "rescheduled") and booking.active:
            now = clock()
            for job_kind, before in REMINDERS.items():
                due = settings.quiet.start_before(booking.slot.start - before, SHANGHAI)
                if due > now:
                    ref = f"{booking.code}@{booking.slot.start.astimezone(dt.timezone.utc):%Y%m%dT%H%M}"
                    schedule_job(conn, job_kind, senior, ref, due)

    return listener


def _reminder(conn: Connection, job: sa.Row[Any], now: dt.datetime, _settings: CareSettings) -> None:
    code, _, start_key = str(job.ref).partition("@")
    b, s = bookings_table.c, slots_table.c
    row = conn.execute(
        sa.select(b.status, s.service, s.resource, s.starts_at)
        .join_from(bookings_table, slots_table, b.slot_id == s.id)
        .where(b.code == code, b.channel_user == job.subject)
    ).first()
    if row is None or row.status != "active" or f"{row.starts_at.astimezone(dt.timezone.utc):%Y%m%dT%H%M}" != start_key:
        logger.info("Reminder %s skipped: booking changed.", job.id)
        return
    service = default_catalog().service(row.service)
    start = row.starts_at.astimezone(SHANGHAI)
    days_ahead = (start.date() - now.astimezone(SHANGHAI).date()).days
    values = {
        "when": f"{describe_date(start.date())}{start:%H:%M}",
        "day": {0: "今天", 1: "明天", 2: "后天"}.get(days_ahead, ""),
        "service": service.name,
        "place": service.resource(row.resource).name,
        "code": format_code(code),
    }
    # "Two hours from now" only when it is true (a reminder moved out of quiet hours is not).
    soon = start - now <= dt.timedelta(hours=3)
    name = "utter_care_msg_reminder_2h" if soon else "utter_care_msg_reminder_day"
    enqueue(
        conn,
        recipient=job.subject,
        purpose="reminder",
        text=say(name, **values),
        dedupe_key=f"{job.kind}|{job.ref}|{job.subject}",
        now=now,
        about=job.subject,
    )
    for family in family_of(conn, str(job.subject)):
        enqueue(
            conn,
            recipient=family,
            purpose="reminder",
            text=say("utter_care_msg_family_reminder", **values),
            dedupe_key=f"{job.kind}|{job.ref}|{family}",
            now=now,
            about=job.subject,
        )


# -- 每日平安 --------------------------------------------------------------------------------------


def _day_of(job: sa.Row[Any]) -> dt.date:
    return dt.date.fromisoformat(str(job.ref).split("@", 1)[0])


def _checkin_ask(conn: Connection, job: sa.Row[Any], now: dt.datetime, settings: CareSettings) -> None:
    senior = str(job.subject)
    plan = conn.execute(
        sa.select(checkins.c.minute_of_day, checkins.c.active).where(checkins.c.senior == senior)
    ).first()
    if plan is None or not plan.active:
        return
    day = _day_of(job)
    # Tomorrow's question first: a day whose question cannot be sent must not end the check-ins.
    following = next_at_minute(plan.minute_of_day, max(now, job.due_at))
    schedule_job(conn, "checkin_ask", senior, following.date().isoformat() + f"@{plan.minute_of_day}", following)
    if not insert_ignore(conn, checkin_days, {"senior": senior, "day": day, "asked_at": now}, "senior", "day"):
        return  # already asked today (an opt-in again on the same day)
    enqueue(
        conn,
        recipient=senior,
        purpose="checkin",
        text=say("utter_care_msg_checkin"),
        dedupe_key=f"checkin|{senior}|{day}|1",
        now=now,
        about=senior,
    )
    if consent_state(conn, senior, "checkin") == "outdated":
        # Agreed to an older text of the check-in consent: asked once to read the new one (the day's
        # question still goes out; what the new text adds, the grid worker, waits for the yes).
        ask_consent_again(conn, senior, "checkin", now)
    again = settings.quiet.end_after(now + settings.retry_after, SHANGHAI)
    schedule_job(conn, "checkin_again", senior, day.isoformat(), again)


def _unanswered(conn: Connection, senior: str, day: dt.date) -> Any:
    c = checkin_days.c
    return conn.execute(
        sa.select(c.id, c.alerted_at).where(c.senior == senior, c.day == day, c.answered_at.is_(None))
    ).first()


def _checkin_again(conn: Connection, job: sa.Row[Any], now: dt.datetime, settings: CareSettings) -> None:
    senior, day = str(job.subject), _day_of(job)
    row = _unanswered(conn, senior, day)
    if row is None:
        return
    conn.execute(checkin_days.update().where(checkin_days.c.id == row.id).values(asked_again_at=now))
    enqueue(
        conn,
        recipient=senior,
        purpose="checkin",
        text=say("utter_care_msg_checkin_again"),
        dedupe_key=f"checkin|{senior}|{day}|2",
        now=now,
        about=senior,
    )
    schedule_job(conn, "checkin_alert", senior, day.isoformat(), now + settings.alert_after)


def _checkin_alert(conn: Connection, job: sa.Row[Any], now: dt.datetime, settings: CareSettings) -> None:
    senior, day = str(job.subject), _day_of(job)
    row = _unanswered(conn, senior, day)
    if row is None or row.alerted_at is not None:
        return
    conn.execute(checkin_days.update().where(checkin_days.c.id == row.id).values(alerted_at=now))
    for family in family_of(conn, senior):
        enqueue(
            conn,
            recipient=family,
            purpose="alert",
            text=say("utter_care_msg_family_missed", day=f"{day.month}月{day.day}日"),
            dedupe_key=f"missed|{senior}|{day}|{family}",
            now=now,
            about=senior,
        )
    place = whereabouts(conn, senior)
    # The grid worker only with consent to today's text (an older one did not name grid workers).
    current = consent_state(conn, senior, "checkin") == "current"
    grid = settings.grid.for_street(place.street) if current else []
    for worker in grid:
        enqueue(
            conn,
            recipient=worker.address,
            purpose="alert",
            text=_grid_text(place, day),
            dedupe_key=f"missed|{senior}|{day}|{worker.address}",
            now=now,
            about=senior,
        )
    open_case(conn, senior, f"missed|{senior}|{day}", now)
    logger.info("Check-in alert for job %s: family, %d grid workers and agents told.", job.id, len(grid))


def _grid_text(place: Whereabouts, day: dt.date) -> str:
    values = {"street": place.street, "day": f"{day.month}月{day.day}日"}
    if place.name and place.phone:
        return say("utter_care_msg_grid_missed", contact=place.name, phone=phone_words(place.phone), **values)
    if place.phone:
        return say("utter_care_msg_grid_missed_phone", phone=phone_words(place.phone), **values)
    return say("utter_care_msg_grid_missed_unknown", **values)


HANDLERS: dict[str, Handler] = {
    "checkin_ask": _checkin_ask,
    "checkin_again": _checkin_again,
    "checkin_alert": _checkin_alert,
    "reminder_day": _reminder,
    "reminder_2h": _reminder,
}


class Scheduler:
    def __init__(self, db: CareDB, settings: CareSettings | None = None) -> None:
        self.db = db
        self.settings = settings or CareSettings()

    def due(self, limit: int = 100) -> list[int]:
        now = self.db.now()
        with self.db.read() as conn:
            return list(
                conn.execute(
                    sa.select(jobs.c.id)
                    .where(jobs.c.status == "pending", jobs.c.due_at <= now)
                    .order_by(jobs.c.due_at, jobs.c.id)
                    .limit(limit)
                ).scalars()
            )

    def run_job(self, job_id: int) -> bool:
        """Claim and handle one job in one transaction; False if another scheduler had it."""
        now = self.db.now()
        with self.db.write() as conn:
            claimed = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "pending", jobs.c.due_at <= now)
                .values(status="done", done_at=now)
            ).rowcount
            if claimed != 1:
                return False
            job = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
            HANDLERS[job.kind](conn, job, now, self.settings)
        return True

    def run_once(self) -> int:
        done = 0
        for job_id in self.due():
            if self.run_job(job_id):
                done += 1
        return done


def attach_reminders(store: BookingStore, settings: CareSettings | None = None) -> None:
    """Make ``store`` write reminder jobs in its own transactions (the care tables are created first)."""
    CareDB(store.url).dispose()  # creates the care tables in the booking database
    store.add_listener(on_booking_change(settings or CareSettings.from_env(), store._now))
