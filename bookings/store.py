"""The booking store: slots and bookings in a database (SQLite by default, PostgreSQL by URL).

Guarantees, and what provides them:

- No double booking under concurrency. Every write runs in one transaction that first locks
  the slot it takes a seat in: on SQLite the whole database, by ``BEGIN IMMEDIATE`` (a deferred
  transaction that reads then writes gets SQLITE_BUSY instead); on PostgreSQL the slot row, by
  ``SELECT ... FOR UPDATE``. Under that lock it counts the taken seats and takes the lowest free
  one. A partial unique index on (slot_id, seat) WHERE status = 'active' makes a double booking
  impossible even if the locking were wrong; a write that trips it, or a PostgreSQL serialization
  failure or deadlock, is retried from the start a bounded number of times.
- Idempotency. ``book`` with an ``idempotency_key`` it has seen returns the booking made then.
  The key's digest is unique in the table, so two deliveries racing each other cannot both insert:
  the loser trips the constraint, retries, and finds the winner's booking.
- Listeners (``add_listener``) run inside the write transaction of every booking, cancellation
  and move, on the same connection: proactive care (care/) schedules reminders there, so a
  booking and its reminders commit together or not at all. A single call may bring its own hook
  (``on_booked``, ``on_cancelled``, ``on_moved``), run in that transaction after the listeners: a
  family member acting for a parent has the link checked and the parent told there.
- Attendance (已到 / 未到) is taken by staff once a booking's time has come (``mark_attendance``),
  in its own table ``booking_attendance``: ``metadata.create_all`` adds a new table to an existing
  database on the next start (SQLite and PostgreSQL alike), so no migration step is needed.
- Personal data (names, phones, notes, channel user ids) is stored, never logged: logs carry
  booking codes and slot ids only, and ``repr(Booking)`` leaves those fields out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Dialect, Engine

from bookings.catalog import SHANGHAI, BookingError, Catalog, UnknownService, default_catalog
from common.errors import ConfigError, Refusal, Unavailable
from yinling.db import driver_url, sqlite_engine, sqlite_file

__all__ = [
    "AttendanceRefused",
    "Booking",
    "BookingClosed",
    "BookingConflict",
    "BookingError",
    "BookingEvent",
    "BookingInputError",
    "BookingNotFound",
    "BookingStore",
    "Slot",
    "SlotClosed",
    "SlotFull",
    "SlotNotFound",
    "StoreConfigError",
    "StoreUnavailable",
    "UnknownService",
    "database_url",
    "format_code",
    "parse_code",
]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'bookings.sqlite'}"

ACTIVE, CANCELLED = "active", "cancelled"
MAX_ATTEMPTS = 8
# PostgreSQL: unique_violation, serialization_failure, deadlock_detected.
_RETRY_SQLSTATES = frozenset({"23505", "40001", "40P01"})
# Any fixed number: serializes create_all between action-server replicas starting together.
_SCHEMA_LOCK_KEY = 0x59_4C_42_4B  # "YLBK"
_TEXT_LIMITS = {"channel_user": 128, "contact_name": 64, "phone": 32, "notes": 500}

T = TypeVar("T")


# -- errors ------------------------------------------------------------------------------------


class StoreConfigError(BookingError, ConfigError):
    """The database URL cannot be used; the message says what to set."""


class StoreUnavailable(BookingError, Unavailable):
    """The database did not answer or stayed locked; the caller may try again later."""


class BookingInputError(BookingError, Refusal, ValueError):
    """An argument is invalid (too long, empty, a naive datetime, a slot of another service)."""


class SlotNotFound(BookingError, Refusal, LookupError):
    """No slot has this id."""


class SlotFull(BookingError, Refusal):
    """Every seat of the slot is taken; ``slot`` says which, so alternatives can be offered."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(f"slot {slot.id} is full ({slot.capacity} seats)")
        self.slot = slot


class SlotClosed(BookingError, Refusal):
    """The slot has already started, so it can no longer be booked."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(f"slot {slot.id} has already started")
        self.slot = slot


class BookingNotFound(BookingError, Refusal, LookupError):
    """No booking with this code belongs to the caller.

    Someone else's code gets the same answer as a code that does not exist, so codes
    cannot be probed by trying them.
    """

    def __init__(self, code: str) -> None:
        super().__init__(f"no booking {code!r} for this user")
        self.code = code


class BookingClosed(BookingError, Refusal):
    """The booking is cancelled or its slot has started, so it cannot be changed."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(f"booking {booking.code} is {booking.status} and starts {booking.slot.start:%Y-%m-%d %H:%M}")
        self.booking = booking


class AttendanceRefused(BookingError, Refusal):
    """Attendance cannot be taken for this booking: it was cancelled, or its time has not come yet."""

    def __init__(self, booking: Booking, why: str) -> None:
        super().__init__(f"booking {booking.code} {why}")
        self.booking = booking
        self.why = why


class BookingConflict(BookingError, Unavailable):
    """Concurrent writers kept colliding past the retry limit; trying again later is safe."""


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable time at one resource, with its seats counted when it was read."""

    id: int
    service: str
    resource: str
    street: str
    start: dt.datetime  # aware, Asia/Shanghai
    end: dt.datetime
    capacity: int
    sample: bool
    booked: int

    @property
    def free(self) -> int:
        # A capacity lowered below the seats already taken reads as full, not negative.
        return max(self.capacity - self.booked, 0)


@dataclass(frozen=True, slots=True)
class Booking:
    code: str
    status: str
    slot: Slot
    seat: int
    created_at: dt.datetime
    updated_at: dt.datetime
    # Personal data: kept out of repr so a stray log line or traceback cannot show it.
    channel_user: str = field(repr=False)
    contact_name: str = field(repr=False)
    phone: str = field(repr=False)
    notes: str | None = field(repr=False)
    attended: bool | None = None  # taken by staff after the start: True 已到, False 未到 (no-show), None not yet

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def display_code(self) -> str:
        return format_code(self.code)


@dataclass(frozen=True, slots=True)
class BookingEvent:
    kind: str  # booked | cancelled | rescheduled
    slot_id: int
    previous_slot_id: int | None
    at: dt.datetime


def format_code(code: str) -> str:
    """ "385217" → "385 217": two groups of three are easy to read out over the phone."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def parse_code(text: str) -> str | None:
    """A booking code as a user typed or said it ("385 217", "３８５-２１７"), or None."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace() and ch not in "-.")
    if len(digits) == 6 and digits.isascii() and digits.isdigit() and digits[0] != "0":
        return digits
    return None


# -- schema ------------------------------------------------------------------------------------


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware Asia/Shanghai datetimes out, UTC in the database.

    SQLite has no time-zone type and SQLAlchemy drops the offset there, so values are
    converted to UTC before storing: comparisons and ordering then mean the same on both
    databases.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a time-zone-aware column")
        utc = value.astimezone(dt.timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(SHANGHAI)


metadata = sa.MetaData()
slots_table = sa.Table(
    "booking_slots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("resource", sa.String(64), nullable=False),
    sa.Column("street", sa.String(16), nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=False),
    sa.Column("ends_at", UTCDateTime(), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("sample", sa.Boolean, nullable=False),
    sa.UniqueConstraint("service", "resource", "starts_at", name="uq_booking_slots_key"),
    sa.CheckConstraint("capacity >= 1", name="ck_booking_slots_capacity"),
    sa.CheckConstraint("ends_at > starts_at", name="ck_booking_slots_span"),
    sa.Index("ix_booking_slots_service_start", "service", "starts_at"),
)
bookings_table = sa.Table(
    "bookings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(6), nullable=False),
    sa.Column("slot_id", sa.Integer, sa.ForeignKey("booking_slots.id"), nullable=False),
    sa.Column("seat", sa.Integer, nullable=False),
    sa.Column("channel_user", sa.String(_TEXT_LIMITS["channel_user"]), nullable=False, index=True),
    sa.Column("contact_name", sa.String(_TEXT_LIMITS["contact_name"]), nullable=False),
    sa.Column("phone", sa.String(_TEXT_LIMITS["phone"]), nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # sha256 of the caller's key: fixed width, and message ids need not be kept in clear.
    sa.Column("idempotency_key", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("code", name="uq_bookings_code"),
    sa.UniqueConstraint("idempotency_key", name="uq_bookings_idempotency_key"),
    sa.CheckConstraint(f"status IN ('{ACTIVE}', '{CANCELLED}')", name="ck_bookings_status"),
    sa.CheckConstraint("seat >= 1", name="ck_bookings_seat"),
)
# One active booking per seat; cancelled bookings keep their seat number for the record.
_active_only = sa.text(f"status = '{ACTIVE}'")
sa.Index(
    "uq_bookings_active_seat",
    bookings_table.c.slot_id,
    bookings_table.c.seat,
    unique=True,
    sqlite_where=_active_only,
    postgresql_where=_active_only,
)
events_table = sa.Table(
    "booking_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("slot_id", sa.Integer, nullable=False),
    sa.Column("previous_slot_id", sa.Integer, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('booked', 'cancelled', 'rescheduled')", name="ck_booking_events_kind"),
)
# Attendance taken by staff (one row per booking, replaced when corrected). A table of its own, so
# create_all adds it to a database made before it existed; ``marked_by`` is a staff username.
attendance_table = sa.Table(
    "booking_attendance",
    metadata,
    sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id"), primary_key=True),
    sa.Column("attended", sa.Boolean, nullable=False),
    sa.Column("marked_by", sa.String(64), nullable=False),
    sa.Column("marked_at", UTCDateTime(), nullable=False),
)


# -- engines -----------------------------------------------------------------------------------


def database_url() -> str:
    """``BOOKINGS_DATABASE_URL``, else ``DATABASE_URL``, else the SQLite file under var/."""
    return os.environ.get("BOOKINGS_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    if sqlite_file(url) is None:
        raise StoreConfigError(
            "bookings need a SQLite file (sqlite:///path/bookings.sqlite), not an in-memory database"
        )
    return sqlite_engine(url, immediate, foreign_keys=True)


def _retryable(err: sa.exc.DBAPIError) -> bool:
    """A lost race that a fresh transaction resolves, as opposed to a real failure."""
    orig = err.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    if isinstance(orig, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(orig)
    return False


def _free_seat(slot: Slot, taken: set[int]) -> int:
    """The lowest free seat number; SlotFull when none is left."""
    if len(taken) >= slot.capacity:
        raise SlotFull(slot)
    return min(set(range(1, slot.capacity + 1)) - taken)


def _key_digest(key: str | None) -> str | None:
    return None if key is None else hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_text(name: str, value: str | None, required: bool = True) -> None:
    if value is None or not value.strip():
        if required:
            raise BookingInputError(f"{name} is required")
        return
    if len(value) > _TEXT_LIMITS[name]:
        raise BookingInputError(f"{name} is longer than {_TEXT_LIMITS[name]} characters")


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BookingInputError(f"{name} must carry a time zone (Asia/Shanghai)")
    return value


# -- queries -----------------------------------------------------------------------------------


def _booked_counts() -> sa.Subquery:
    return (
        sa.select(bookings_table.c.slot_id, sa.func.count().label("booked"))
        .where(bookings_table.c.status == ACTIVE)
        .group_by(bookings_table.c.slot_id)
        .subquery("booked_counts")
    )


def _slot_select() -> tuple[sa.Select[Any], sa.ColumnElement[int]]:
    """Slots with their active bookings counted, columns labelled ``slot_*``."""
    counts = _booked_counts()
    booked = sa.func.coalesce(counts.c.booked, 0)
    stmt = sa.select(
        *(column.label(f"slot_{column.name}") for column in slots_table.c),
        booked.label("slot_booked"),
    ).select_from(slots_table.outerjoin(counts, counts.c.slot_id == slots_table.c.id))
    return stmt, booked


def _booking_select() -> sa.Select[Any]:
    slots, _ = _slot_select()
    b = bookings_table.c
    return (
        slots.add_columns(
            b.id,
            b.code,
            b.status,
            b.seat,
            b.channel_user,
            b.contact_name,
            b.phone,
            b.notes,
            b.created_at,
            b.updated_at,
            attendance_table.c.attended,
        )
        .join_from(slots_table, bookings_table, b.slot_id == slots_table.c.id)
        .outerjoin_from(bookings_table, attendance_table, attendance_table.c.booking_id == b.id)
    )


def _slot_from(row: Mapping[Any, Any]) -> Slot:
    return Slot(
        id=row["slot_id"],
        service=row["slot_service"],
        resource=row["slot_resource"],
        street=row["slot_street"],
        start=row["slot_starts_at"],
        end=row["slot_ends_at"],
        capacity=row["slot_capacity"],
        sample=bool(row["slot_sample"]),
        booked=int(row["slot_booked"]),
    )


def _booking_from(row: Mapping[Any, Any]) -> Booking:
    return Booking(
        code=row["code"],
        status=row["status"],
        slot=_slot_from(row),
        seat=row["seat"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        channel_user=row["channel_user"],
        contact_name=row["contact_name"],
        phone=row["phone"],
        notes=row["notes"],
        attended=None if row["attended"] is None else bool(row["attended"]),
    )


# -- the store ---------------------------------------------------------------------------------


class BookingStore:
    """Slots generated from the catalog, and the bookings made in them."""

    def __init__(
        self,
        url: str | None = None,
        catalog: Catalog | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.url = driver_url(url or database_url())
        self._catalog = catalog or default_catalog()
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._listeners: list[Callable[[Connection, str, Booking], None]] = []
        if self.url.startswith("sqlite"):
            self._write = _sqlite_engine(self.url, immediate=True)
            self._read = _sqlite_engine(self.url, immediate=False)
        else:
            self._write = self._read = sa.create_engine(self.url, pool_pre_ping=True)
        self._create_tables()

    def _create_tables(self) -> None:
        try:
            with self._write.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Replicas starting together would race on CREATE TABLE; one at a time.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                metadata.create_all(conn)
        except sa.exc.OperationalError as err:
            raise StoreUnavailable("the booking database cannot be opened; check BOOKINGS_DATABASE_URL") from err

    def add_listener(self, listener: Callable[[Connection, str, Booking], None]) -> None:
        """Call ``listener(conn, kind, booking)`` inside the transaction of each change (kind: booked,
        cancelled, rescheduled); an exception rolls the change back."""
        self._listeners.append(listener)

    def _changed(self, conn: Connection, kind: str, booking: Booking) -> None:
        for listener in self._listeners:
            listener(conn, kind, booking)

    def dispose(self) -> None:
        self._write.dispose()
        self._read.dispose()

    def _now(self) -> dt.datetime:
        return self._clock()

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self._read.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise StoreUnavailable("the booking database did not answer") from err

    def _write_tx(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` in a write transaction, from the start again after a lost race."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._write.begin() as conn:
                    return operation(conn)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as err:
                if not _retryable(err):
                    if isinstance(err, sa.exc.OperationalError):
                        raise StoreUnavailable("the booking database did not accept the write") from err
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise BookingConflict(f"gave up after {MAX_ATTEMPTS} attempts; try again") from err
                logger.debug("write lost a race (%s), attempt %d", type(err.orig).__name__, attempt)
                # Jitter so the losers of one race do not collide again in lockstep.
                time.sleep(0.002 * attempt * (1 + secrets.randbelow(4)))
        raise AssertionError("unreachable")

    # -- schedule --------------------------------------------------------------------------
    def ensure_schedule(self, today: dt.date | None = None, days: int = 60) -> int:
        """Store the catalog's slots for ``days`` days from ``today``; returns how many were new.

        Slots already stored are left as they are, so a booking never loses its seat to a
        capacity edit; an edited capacity applies to days not yet generated.
        """
        today = today or self._now().astimezone(SHANGHAI).date()
        generated = list(self._catalog.generate_slots(today, days))
        if not generated:
            return 0
        first, last = min(s.start for s in generated), max(s.start for s in generated)

        def insert_missing(conn: Connection) -> int:
            c = slots_table.c
            rows = conn.execute(
                sa.select(c.service, c.resource, c.starts_at).where(c.starts_at.between(first, last))
            ).all()
            have = {(r.service, r.resource, r.starts_at) for r in rows}
            missing = [s for s in generated if (s.service, s.resource, s.start) not in have]
            if missing:
                insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert
                # DO NOTHING: another process filling the same days must not fail this one.
                stmt = insert(slots_table).on_conflict_do_nothing(index_elements=["service", "resource", "starts_at"])
                conn.execute(
                    stmt,
                    [
                        {
                            "service": s.service,
                            "resource": s.resource,
                            "street": s.street,
                            "starts_at": s.start,
                            "ends_at": s.end,
                            "capacity": s.capacity,
                            "sample": s.sample,
                        }
                        for s in missing
                    ],
                )
            return len(missing)

        added = self._write_tx(insert_missing)
        logger.info("schedule from %s for %d days: %d new slots", today, days, added)
        return added

    # -- reading slots ---------------------------------------------------------------------
    def slot(self, slot_id: int) -> Slot:
        stmt, _ = _slot_select()
        with self._reading() as conn:
            row = conn.execute(stmt.where(slots_table.c.id == slot_id)).mappings().first()
        if row is None:
            raise SlotNotFound(f"no slot {slot_id}")
        return _slot_from(row)

    def serves(self, service: str, street: str) -> bool:
        """Whether ``service`` has a place (or a team) on ``street`` at all: "约满了" would be untrue otherwise."""
        return any(resource.street == street for resource in self._catalog.service(service).resources)

    def find_slots(
        self,
        service: str,
        day_start: dt.datetime,
        day_end: dt.datetime,
        street: str | None = None,
        only_free: bool = False,
    ) -> list[Slot]:
        """Slots of ``service`` starting in [day_start, day_end) and not yet started, by time."""
        self._catalog.service(service)  # an unknown code is a bug upstream: say so
        start = max(_aware(day_start, "day_start"), self._now())
        stmt, booked = _slot_select()
        c = slots_table.c
        stmt = stmt.where(c.service == service, c.starts_at >= start, c.starts_at < _aware(day_end, "day_end"))
        if street is not None:
            stmt = stmt.where(c.street == street)
        if only_free:
            stmt = stmt.where(booked < c.capacity)
        with self._reading() as conn:
            rows = conn.execute(stmt.order_by(c.starts_at, c.resource)).mappings().all()
        return [_slot_from(r) for r in rows]

    def alternatives(
        self,
        service: str,
        around: dt.datetime,
        street: str | None = None,
        n: int = 3,
        within: dt.timedelta = dt.timedelta(days=14),
    ) -> list[Slot]:
        """The ``n`` free slots nearest to ``around``: on ``street`` first, then by time distance.

        For "that time is full — 1. … 2. … 3. …": only slots with a free seat that have not
        started, at most ``within`` away.
        """
        around = _aware(around, "around")
        candidates = self.find_slots(service, around - within, around + within, only_free=True)

        def closeness(slot: Slot) -> tuple[bool, dt.timedelta, dt.datetime, str]:
            other_street = street is not None and slot.street != street
            return other_street, abs(slot.start - around), slot.start, slot.resource

        return sorted(candidates, key=closeness)[:n]

    # -- booking ---------------------------------------------------------------------------
    def book(
        self,
        slot_id: int,
        channel_user: str,
        contact_name: str,
        phone: str,
        notes: str | None = None,
        idempotency_key: str | None = None,
        on_booked: Callable[[Connection, Booking], None] | None = None,
    ) -> Booking:
        """Take a seat in the slot. Raises SlotFull, SlotClosed or SlotNotFound.

        A repeated ``idempotency_key`` returns the booking it made the first time, whatever
        has happened to that booking since (a redelivered message must not book again).
        ``on_booked(conn, booking)`` runs inside the booking's transaction when a booking is made
        (a family member booking for a parent: the link checked, the parent told); an exception
        from it rolls the booking back.
        """
        _check_text("channel_user", channel_user)
        _check_text("contact_name", contact_name)
        _check_text("phone", phone)
        _check_text("notes", notes, required=False)
        key = _key_digest(idempotency_key)

        def take_seat(conn: Connection) -> tuple[Booking, bool]:
            slot, taken = self._lock_slot(conn, slot_id)
            if key is not None:
                # After the slot lock: a concurrent twin for this slot has committed by now.
                existing = self._booking_where(conn, bookings_table.c.idempotency_key == key)
                if existing is not None:
                    return existing, False
            if slot.start <= self._now():
                raise SlotClosed(slot)
            seat = _free_seat(slot, taken)
            code = self._new_code(conn)
            now = self._now()
            booking_id = conn.execute(
                bookings_table.insert()
                .values(
                    code=code,
                    slot_id=slot.id,
                    seat=seat,
                    channel_user=channel_user,
                    contact_name=contact_name.strip(),
                    phone=phone.strip(),
                    notes=notes,
                    status=ACTIVE,
                    idempotency_key=key,
                    created_at=now,
                    updated_at=now,
                )
                .returning(bookings_table.c.id)
            ).scalar_one()
            self._record(conn, booking_id, "booked", slot.id, None)
            booked = self._booking_by_code(conn, code)
            self._changed(conn, "booked", booked)
            if on_booked is not None:
                on_booked(conn, booked)
            return booked, True

        try:
            booking, created = self._write_tx(take_seat)
        except SlotFull as full:
            logger.info("slot %s full", full.slot.id)
            raise
        if created:
            logger.info("booked %s in slot %s seat %s", booking.code, booking.slot.id, booking.seat)
        else:
            logger.info("repeated request answered with existing booking %s", booking.code)
        return booking

    def cancel(
        self, code: str, channel_user: str, on_cancelled: Callable[[Connection, Booking], None] | None = None
    ) -> Booking:
        """Cancel the booking of ``channel_user`` and free its seat; cancelling twice is harmless.

        ``on_cancelled(conn, booking)`` runs inside the cancellation's transaction when it cancels (a family
        member cancelling for a parent: the link checked, the parent told); an exception from it rolls the
        cancellation back. A booking already cancelled changes nothing, and it is not called.
        """
        clean = self._code_or_not_found(code)

        def cancel_it(conn: Connection) -> tuple[Booking, bool]:
            booking = self._lock_own_booking(conn, clean, channel_user)
            if booking.status == CANCELLED:
                return booking, False
            if booking.slot.start <= self._now():
                raise BookingClosed(booking)
            booking_id = self._set(conn, clean, status=CANCELLED)
            self._record(conn, booking_id, "cancelled", booking.slot.id, None)
            cancelled = self._booking_by_code(conn, clean)
            self._changed(conn, "cancelled", cancelled)
            if on_cancelled is not None:
                on_cancelled(conn, cancelled)
            return cancelled, True

        booking, changed = self._write_tx(cancel_it)
        if changed:
            logger.info("cancelled %s, freed slot %s seat %s", booking.code, booking.slot.id, booking.seat)
        return booking

    def reschedule(
        self,
        code: str,
        channel_user: str,
        new_slot_id: int,
        on_moved: Callable[[Connection, Booking, Slot], None] | None = None,
    ) -> Booking:
        """Move the booking of ``channel_user`` to another slot of the same service, in one transaction.

        The new seat is taken and the old one freed together; if the new slot is full
        (SlotFull) or started (SlotClosed), nothing changes. Moving to the slot it is already
        in changes nothing, so a repeated request is harmless. ``on_moved(conn, booking, old_slot)``
        runs inside the move's transaction when it moves (a family member moving a parent's booking);
        an exception from it rolls the move back.
        """
        clean = self._code_or_not_found(code)

        def move(conn: Connection) -> tuple[Booking, int | None]:
            booking = self._lock_own_booking(conn, clean, channel_user)
            if booking.status != ACTIVE or booking.slot.start <= self._now():
                raise BookingClosed(booking)
            if booking.slot.id == new_slot_id:
                return booking, None
            slot, taken = self._lock_slot(conn, new_slot_id)
            if slot.service != booking.slot.service:
                raise BookingInputError(
                    f"slot {slot.id} is for {slot.service}, booking {clean} for {booking.slot.service}"
                )
            if slot.start <= self._now():
                raise SlotClosed(slot)
            seat = _free_seat(slot, taken)
            booking_id = self._set(conn, clean, slot_id=slot.id, seat=seat)
            self._record(conn, booking_id, "rescheduled", slot.id, booking.slot.id)
            moved = self._booking_by_code(conn, clean)
            self._changed(conn, "rescheduled", moved)
            if on_moved is not None:
                on_moved(conn, moved, booking.slot)
            return moved, booking.slot.id

        booking, old_slot = self._write_tx(move)
        if old_slot is not None:
            logger.info("rescheduled %s from slot %s to slot %s", booking.code, old_slot, booking.slot.id)
        return booking

    # -- attendance ------------------------------------------------------------------------
    def mark_attendance(self, code: str, attended: bool, by: str) -> Booking:
        """Record whether the senior came (True 已到, False 未到), by a staff member ``by``.

        Only for an active booking whose slot has started (AttendanceRefused otherwise: a booking
        that has not happened yet, or was cancelled, has no attendance). Marking again replaces
        the earlier mark, so a slip can be corrected."""
        clean = self._code_or_not_found(code)
        if not by.strip() or len(by) > 64:
            raise BookingInputError("the staff member marking attendance must be named (at most 64 characters)")

        def mark(conn: Connection) -> Booking:
            b = bookings_table.c
            booking_id = conn.execute(sa.select(b.id).where(b.code == clean).with_for_update()).scalar()
            if booking_id is None:
                raise BookingNotFound(clean)
            booking = self._booking_by_code(conn, clean)
            if booking.status != ACTIVE:
                raise AttendanceRefused(booking, "was cancelled")
            if booking.slot.start > self._now():
                raise AttendanceRefused(booking, f"starts {booking.slot.start:%Y-%m-%d %H:%M}, not yet")
            conn.execute(attendance_table.delete().where(attendance_table.c.booking_id == booking_id))
            conn.execute(
                attendance_table.insert().values(
                    booking_id=booking_id, attended=attended, marked_by=by.strip(), marked_at=self._now()
                )
            )
            return self._booking_by_code(conn, clean)

        booking = self._write_tx(mark)
        logger.info("attendance of %s: %s", booking.code, "attended" if attended else "no-show")
        return booking

    def past_bookings(self, since: dt.datetime, limit: int = 500) -> list[Booking]:
        """Active bookings whose slot started between ``since`` and now, latest first (for taking attendance)."""
        c = slots_table.c
        stmt = _booking_select().where(
            bookings_table.c.status == ACTIVE, c.starts_at >= _aware(since, "since"), c.starts_at <= self._now()
        )
        with self._reading() as conn:
            rows = conn.execute(stmt.order_by(c.starts_at.desc(), bookings_table.c.id).limit(limit)).mappings().all()
        return [_booking_from(r) for r in rows]

    # -- reading bookings ------------------------------------------------------------------
    def get(self, code: str, channel_user: str) -> Booking:
        clean = self._code_or_not_found(code)
        with self._reading() as conn:
            booking = self._booking_where(conn, bookings_table.c.code == clean)
        if booking is None or booking.channel_user != channel_user:
            raise BookingNotFound(clean)
        return booking

    def list_for_user(
        self, channel_user: str, include_past: bool = False, include_cancelled: bool = False
    ) -> list[Booking]:
        """The user's bookings by start time: upcoming active ones unless asked for more."""
        stmt = _booking_select().where(bookings_table.c.channel_user == channel_user)
        if not include_past:
            stmt = stmt.where(slots_table.c.starts_at > self._now())
        if not include_cancelled:
            stmt = stmt.where(bookings_table.c.status == ACTIVE)
        with self._reading() as conn:
            rows = conn.execute(stmt.order_by(slots_table.c.starts_at, bookings_table.c.id)).mappings().all()
        return [_booking_from(r) for r in rows]

    def history(self, code: str, channel_user: str) -> list[BookingEvent]:
        """What happened to the caller's booking, oldest first."""
        clean = self._code_or_not_found(code)
        e, b = events_table.c, bookings_table.c
        with self._reading() as conn:
            owner = conn.execute(sa.select(b.channel_user).where(b.code == clean)).scalar()
            if owner is None or owner != channel_user:
                raise BookingNotFound(clean)
            rows = conn.execute(
                sa.select(e.kind, e.slot_id, e.previous_slot_id, e.at)
                .join_from(events_table, bookings_table, e.booking_id == b.id)
                .where(b.code == clean)
                .order_by(e.id)
            ).all()
        return [BookingEvent(r.kind, r.slot_id, r.previous_slot_id, r.at) for r in rows]

    # -- helpers (all run inside a transaction) --------------------------------------------
    @staticmethod
    def _code_or_not_found(code: str) -> str:
        clean = parse_code(code)
        if clean is None:
            raise BookingNotFound(code)
        return clean

    @staticmethod
    def _lock_slot(conn: Connection, slot_id: int) -> tuple[Slot, set[int]]:
        """The slot and its taken seats, the slot row locked until commit.

        On PostgreSQL the row lock queues writers for this slot, so each counts seats after
        the previous one committed; on SQLite BEGIN IMMEDIATE already holds the database.
        """
        row = (
            conn.execute(
                sa.select(*(column.label(f"slot_{column.name}") for column in slots_table.c))
                .where(slots_table.c.id == slot_id)
                .with_for_update()
            )
            .mappings()
            .first()
        )
        if row is None:
            raise SlotNotFound(f"no slot {slot_id}")
        b = bookings_table.c
        taken = set(conn.execute(sa.select(b.seat).where(b.slot_id == slot_id, b.status == ACTIVE)).scalars())
        return _slot_from({**row, "slot_booked": len(taken)}), taken

    @staticmethod
    def _new_code(conn: Connection) -> str:
        """Six random digits, not starting with 0, not used before (the unique index backs this)."""
        for _ in range(20):
            code = str(100_000 + secrets.randbelow(900_000))
            if conn.execute(sa.select(bookings_table.c.id).where(bookings_table.c.code == code)).first() is None:
                return code
        raise BookingConflict("no unused booking code found in 20 draws; the code space is nearly full")

    @staticmethod
    def _booking_where(conn: Connection, condition: sa.ColumnElement[bool]) -> Booking | None:
        row = conn.execute(_booking_select().where(condition)).mappings().first()
        return None if row is None else _booking_from(row)

    def _booking_by_code(self, conn: Connection, code: str) -> Booking:
        booking = self._booking_where(conn, bookings_table.c.code == code)
        if booking is None:
            raise BookingNotFound(code)
        return booking

    def _lock_own_booking(self, conn: Connection, code: str, channel_user: str) -> Booking:
        b = bookings_table.c
        owner = conn.execute(sa.select(b.channel_user).where(b.code == code).with_for_update()).scalar()
        if owner is None or owner != channel_user:
            if owner is not None:
                logger.info("refused a change to booking %s by someone other than its owner", code)
            raise BookingNotFound(code)
        return self._booking_by_code(conn, code)

    def _set(self, conn: Connection, code: str, **values: Any) -> int:
        b = bookings_table.c
        return int(
            conn.execute(
                bookings_table.update().where(b.code == code).values(**values, updated_at=self._now()).returning(b.id)
            ).scalar_one()
        )

    def _record(self, conn: Connection, booking_id: int, kind: str, slot_id: int, previous: int | None) -> None:
        conn.execute(
            events_table.insert().values(
                booking_id=booking_id, kind=kind, slot_id=slot_id, previous_slot_id=previous, at=self._now()
            )
        )
