"""The staff database: users, sessions, audit, handoffs, callback tickets, feedback, presence.

SQLite by default (WAL, writes in ``BEGIN IMMEDIATE``), PostgreSQL by URL. Both the staff app
and the bot's handoff action (action server) open it, so the tables are created by whichever
process starts first (serialized by an advisory lock on PostgreSQL).

Guarantees:
- one open handoff per conversation: a partial unique index on ``conversation_id`` where the
  status is waiting or claimed;
- live updates for every staff process: each change appends a row to ``staff_events`` (an
  outbox), which every staff app process polls; nothing is kept only in one process's memory,
  so a restart loses no waiting conversation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bookings.store import UTCDateTime
from staff.config import database_url
from staff.errors import Unavailable
from yinling.db import driver_url, sqlite_engine, sqlite_file

_SCHEMA_LOCK_KEY = 0x59_4C_53_54  # "YLST"
OPEN_STATUSES = ("waiting", "claimed")

metadata = sa.MetaData()

users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    # sha256 of the user's API token (scripts); the token itself is shown once and never stored.
    sa.Column("api_token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'admin')", name="ck_staff_users_role"),
)
sessions = sa.Table(
    "staff_sessions",
    metadata,
    # sha256 of the cookie's value: a leaked database does not hand out live sessions.
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)
audit = sa.Table(
    "staff_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("conversation_id", sa.String(160), nullable=True, index=True),
    sa.Column("target", sa.String(256), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    # Facts about the action (lengths, ids, counts), never message text or personal data.
    sa.Column("details", sa.Text, nullable=True),
)
handoffs = sa.Table(
    "staff_handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(160), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),  # 0 emergency < 1 scam < 2 asked, complaint < 3 misunderstood
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_by", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=True),
    sa.Column("claimed_at", UTCDateTime(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("close_reason", sa.String(32), nullable=True),
    sa.Column("last_senior_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('waiting', 'claimed', 'closed')", name="ck_staff_handoffs_status"),
    sa.Index("ix_staff_handoffs_queue", "status", "priority", "created_at"),
)
sa.Index(
    "uq_staff_handoffs_open",
    handoffs.c.conversation_id,
    unique=True,
    sqlite_where=sa.text("status IN ('waiting', 'claimed')"),
    postgresql_where=sa.text("status IN ('waiting', 'claimed')"),
)
tickets = sa.Table(
    "staff_callback_tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(160), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("phone", sa.String(32), nullable=True),  # E.164; None when the senior left none
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("handoff_id", sa.Integer, sa.ForeignKey("staff_handoffs.id"), nullable=True),
    sa.Column("done_by", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'done')", name="ck_staff_tickets_status"),
)
events = sa.Table(
    "staff_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("handoff_id", sa.Integer, nullable=True),
    sa.Column("ticket_id", sa.Integer, nullable=True),
)
presence = sa.Table(
    "staff_presence",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), primary_key=True),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
)
feedback = sa.Table(
    "staff_answer_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(160), nullable=False),
    sa.Column("event_ts", sa.Float, nullable=False),  # the bot event's timestamp in the tracker
    sa.Column("verdict", sa.String(8), nullable=False),
    sa.Column("question", sa.Text, nullable=True),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("intent", sa.String(64), nullable=True),
    sa.Column("kb_entry", sa.String(64), nullable=True),
    sa.Column("marked_by", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reviewed", sa.Boolean, nullable=False, default=False),
    sa.CheckConstraint("verdict IN ('right', 'wrong')", name="ck_staff_feedback_verdict"),
    sa.UniqueConstraint("conversation_id", "event_ts", "marked_by", name="uq_staff_feedback_once"),
)
agent_bookings = sa.Table(
    "staff_agent_bookings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("booking_code", sa.String(6), nullable=False),
    sa.Column("conversation_id", sa.String(160), nullable=False, index=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False),
    sa.Column("caller_agreed", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("booking_code", name="uq_staff_agent_bookings_code"),
)

# Messages where the assistant was not sure (staff/unanswered.py): masked before they are
# written, never in clear. ``status`` is what an administrator did with the message's group.
unanswered = sa.Table(
    "staff_unanswered",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(24), nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # masked (staff.masking.mask)
    sa.Column("intent", sa.String(64), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("kb_entry", sa.String(64), nullable=True),
    sa.Column("kb_score", sa.Float, nullable=True),
    sa.Column("vector", sa.LargeBinary, nullable=True),  # e5 query embedding of the masked text, float32
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("handled_at", UTCDateTime(), nullable=True),
    sa.Column("handled_by", sa.String(64), nullable=True),
    sa.Column("handled_note", sa.String(200), nullable=True),
    sa.CheckConstraint(
        "reason IN ('nlu_fallback', 'kb_below_threshold', 'unhelpful', 'marked_wrong')",
        name="ck_staff_unanswered_reason",
    ),
    sa.CheckConstraint("status IN ('open', 'dismissed', 'added', 'drafted')", name="ck_staff_unanswered_status"),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class StaffDB:
    """Engines for the staff database; tables created on first open."""

    def __init__(self, url: str | None = None) -> None:
        self.url = driver_url(url or database_url())
        if self.url.startswith("sqlite"):
            if sqlite_file(self.url) is None:
                raise Unavailable("the staff database needs a SQLite file, not an in-memory database")
            self.write_engine: Engine = sqlite_engine(self.url, immediate=True, foreign_keys=True)
            self.read_engine: Engine = sqlite_engine(self.url, immediate=False, foreign_keys=True)
        else:
            self.write_engine = self.read_engine = sa.create_engine(self.url, pool_pre_ping=True)
        try:
            with self.write_engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                metadata.create_all(conn)
        except sa.exc.OperationalError as err:
            raise Unavailable("the staff database cannot be opened; check STAFF_DATABASE_URL") from err

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self.write_engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise Unavailable("the staff database did not accept the write") from err

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.read_engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as err:
            raise Unavailable("the staff database did not answer") from err

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


def emit(conn: Connection, kind: str, handoff_id: int | None = None, ticket_id: int | None = None) -> None:
    """Append to the outbox every staff process follows (inside the caller's transaction)."""
    conn.execute(events.insert().values(at=now(), kind=kind, handoff_id=handoff_id, ticket_id=ticket_id))
