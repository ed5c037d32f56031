"""The care tables, in the booking database, and the engines that open them.

Why the booking database: a reminder must be written in the transaction that makes the booking
(a transactional outbox), and one transaction spans one database. ``CARE_DATABASE_URL`` is
therefore not a separate setting: the tables go wherever ``BOOKINGS_DATABASE_URL`` (else
``DATABASE_URL``, else ``var/bookings.sqlite``) points.

Guarantees, and what provides them:

- One message per (purpose, recipient): ``care_outbox.dedupe_key`` is unique, so a missed day's
  alert to one family member can be written once only, whoever writes it and however often.
- One job per (kind, subject, ref): ``care_jobs.dedupe_key`` is unique, so two schedulers or a
  redelivered event cannot schedule the same reminder twice.
- Claims are compare-and-set updates (``… WHERE status = 'pending'``): of two schedulers or workers,
  one wins and the other sees 0 rows. On SQLite writers are serialized by ``BEGIN IMMEDIATE``; on
  PostgreSQL the row lock of the UPDATE makes the loser re-read the row after the winner commits.
- Personal data (addresses, phone numbers, message text) is stored, never logged: logs carry ids,
  kinds and counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bookings.store import UTCDateTime, database_url
from care.errors import CareUnavailable
from yinling.db import driver_url, sqlite_engine, sqlite_file

Clock = Callable[[], dt.datetime]
_SCHEMA_LOCK_KEY = 0x59_4C_43_41  # "YLCA"

metadata = sa.MetaData()

# Where to reach a person (a senior or a family member) and what the channel rules need.
contacts = sa.Table(
    "care_contacts",
    metadata,
    # A conversation id: telegram:<chat>, wechat:<openid>, web-<hex>, or sms:<E.164>.
    sa.Column("address", sa.String(160), primary_key=True),
    sa.Column("phone", sa.String(32), nullable=True),  # for SMS when the channel cannot be used
    # WeChat's 48-hour rule counts from the user's last message to the account.
    sa.Column("last_inbound_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
# The street or town (街道/镇) a senior said they live in, for the grid worker (care/grid.py).
places = sa.Table(
    "care_places",
    metadata,
    sa.Column("address", sa.String(160), primary_key=True),
    sa.Column("street", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
consents = sa.Table(
    "care_consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("address", sa.String(160), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("given_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("address", "purpose", name="uq_care_consents"),
    sa.CheckConstraint("purpose IN ('checkin', 'family')", name="ck_care_consents_purpose"),
)
# Which consent text each consent was given to (care.wording.consent_wording): a consent given to an
# older text — or before texts were recorded, when no row is here — is asked again before it is relied on
# for what the older text did not say. A table of its own, so create_all adds it to an existing database.
consent_wordings = sa.Table(
    "care_consent_wordings",
    metadata,
    sa.Column("address", sa.String(160), primary_key=True),
    sa.Column("purpose", sa.String(16), primary_key=True),
    sa.Column("wording", sa.String(16), nullable=False),
    sa.Column("given_at", UTCDateTime(), nullable=False),
)
checkins = sa.Table(
    "care_checkins",
    metadata,
    sa.Column("senior", sa.String(160), primary_key=True),
    sa.Column("minute_of_day", sa.Integer, nullable=False),  # Shanghai wall clock, 0..1439
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("minute_of_day BETWEEN 0 AND 1439", name="ck_care_checkins_minute"),
)
# One row per senior and day: what was asked, what came back, whether anyone was alerted.
checkin_days = sa.Table(
    "care_checkin_days",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("senior", sa.String(160), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("asked_at", UTCDateTime(), nullable=True),
    sa.Column("asked_again_at", UTCDateTime(), nullable=True),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("answer", sa.String(16), nullable=True),  # fine | unwell | emergency | other (no text kept)
    sa.Column("alerted_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("senior", "day", name="uq_care_checkin_days"),
)
family_links = sa.Table(
    "care_family_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("senior", sa.String(160), nullable=True),  # set when the code is confirmed
    sa.Column("family", sa.String(160), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # sha256 of the one-time code: a leaked table does not hand out links.
    sa.Column("code_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("code_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'active', 'ended')", name="ck_care_family_links_status"),
)
sa.Index(
    "uq_care_family_active",
    family_links.c.senior,
    family_links.c.family,
    unique=True,
    sqlite_where=sa.text("status = 'active'"),
    postgresql_where=sa.text("status = 'active'"),
)
# Who the linked senior is to the family member, as they said it when asking for the code ("我要绑定我妈" →
# 母亲), so that "帮我妈约…" finds the right parent among several links.
link_relations = sa.Table(
    "care_link_relations",
    metadata,
    sa.Column("link_id", sa.Integer, primary_key=True),
    sa.Column("relation", sa.String(8), nullable=False),
)
jobs = sa.Table(
    "care_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("subject", sa.String(160), nullable=False),  # the senior
    sa.Column("ref", sa.String(64), nullable=False),  # a booking code, a day …
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("dedupe_key", sa.String(240), nullable=False, unique=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'cancelled')", name="ck_care_jobs_status"),
    sa.Index("ix_care_jobs_due", "status", "due_at"),
)
outbox = sa.Table(
    "care_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recipient", sa.String(160), nullable=False),
    sa.Column("purpose", sa.String(24), nullable=False),  # reminder, checkin, alert, case …
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("about", sa.String(160), nullable=True),  # the senior it concerns (for deletion)
    sa.Column("dedupe_key", sa.String(240), nullable=False, unique=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.String(64), nullable=True),  # an error class, never a response body
    sa.Column("via", sa.String(16), nullable=True),  # the sender that delivered it
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_care_outbox_status"),
    sa.Index("ix_care_outbox_due", "status", "next_attempt_at"),
)
# What happened, without who: deletions leave only their kind and time.
audit = sa.Table(
    "care_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CareDB:
    """Engines for the care tables (in the booking database); tables created on first open."""

    def __init__(self, url: str | None = None, clock: Clock | None = None) -> None:
        self.url = driver_url(url or database_url())
        self.clock: Clock = clock or utcnow
        if self.url.startswith("sqlite"):
            if sqlite_file(self.url) is None:
                raise CareUnavailable("care needs a SQLite file, not an in-memory database")
            self.write_engine: Engine = sqlite_engine(self.url, immediate=True)
            self.read_engine: Engine = sqlite_engine(self.url, immediate=False)
        else:
            self.write_engine = self.read_engine = sa.create_engine(self.url, pool_pre_ping=True)
        try:
            with self.write_engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                metadata.create_all(conn)
        except sa.exc.OperationalError as err:
            raise CareUnavailable("the care tables cannot be opened; check BOOKINGS_DATABASE_URL") from err

    def now(self) -> dt.datetime:
        return self.clock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self.write_engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise CareUnavailable("the care database did not accept the write") from err

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.read_engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise CareUnavailable("the care database did not answer") from err

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


def create_tables(conn: Connection) -> None:
    """Create the care tables on ``conn`` (used by the booking store's hook before its first write)."""
    metadata.create_all(conn)
