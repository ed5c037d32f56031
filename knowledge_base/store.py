"""The knowledge base's source of truth: a database (SQLite by default, PostgreSQL by URL).

Every change (add, edit, delete, import, restore) writes a new revision of the entry with
author, time and reason, and bumps one global version number. Running action servers
poll that number (one tiny query) and rebuild their index when it moves, which is how
every process, on one machine or several, sees an edit within a second.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from common.errors import Refusal
from knowledge_base.schema import (
    MAX_IMPORT_ENTRIES,
    Entry,
    EntryValidationError,
    KnowledgeBaseError,
    Problem,
    parse_entry,
    validated,
)
from yinling.db import driver_url, sqlite_engine

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'knowledge_base.sqlite'}"

metadata = sa.MetaData()
entries_table = sa.Table(
    "kb_entries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("collection", sa.String(32), nullable=False, index=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
revisions_table = sa.Table(
    "kb_revisions",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.String(64), nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("data", sa.Text, nullable=True),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("entry_id", "revision", name="uq_kb_revision"),
)
state_table = sa.Table(
    "kb_state",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
audit_table = sa.Table(
    "kb_audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
)


class EntryNotFound(KnowledgeBaseError, Refusal, LookupError):
    pass


class EntryExists(KnowledgeBaseError, Refusal, ValueError):
    pass


class ChangeRefused(KnowledgeBaseError, Refusal, ValueError):
    """A change the store will not make as asked (a revision that is not a whole number, no reason)."""


MAX_AUTHOR_CHARS = 128  # the column's width
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Revision:
    entry_id: str
    revision: int
    action: str
    author: str
    reason: str
    created_at: dt.datetime
    entry: Entry | None


def database_url() -> str:
    """``KB_DATABASE_URL``, else ``DATABASE_URL``, else the SQLite file under var/."""
    return os.environ.get("KB_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _entry_from_json(text: str) -> Entry:
    # Not strict: what was stored under older limits stays readable (and indexable).
    entry, problems = parse_entry(json.loads(text), "database", None, strict=False)
    if entry is None:
        raise EntryValidationError(problems)
    return entry


def _check_change(author: str, reason: str) -> None:
    for name, value, limit in (("author", author, MAX_AUTHOR_CHARS), ("reason", reason, MAX_REASON_CHARS)):
        if not isinstance(value, str) or not value.strip():
            raise ChangeRefused(f"every change needs a {name}")
        if len(value) > limit:
            raise ChangeRefused(f"the {name} has {len(value)} characters; at most {limit}")


def _checked_import(entries: list[Entry]) -> list[Entry]:
    """Every entry valid and every id once, or every problem (rows are 1-based positions)."""
    if len(entries) > MAX_IMPORT_ENTRIES:
        raise EntryValidationError(
            [Problem("import", None, "*", f"has {len(entries)} entries; at most {MAX_IMPORT_ENTRIES} at once")]
        )
    problems: list[Problem] = []
    checked: list[Entry] = []
    first_row: dict[str, int] = {}
    for row, entry in enumerate(entries, start=1):
        try:
            checked.append(validated(entry, "import", row))
        except EntryValidationError as err:
            problems.extend(err.problems)
        if entry.id in first_row:
            problems.append(Problem("import", row, "id", f"{entry.id!r} is also at row {first_row[entry.id]}"))
        else:
            first_row[entry.id] = row
    if problems:
        raise EntryValidationError(problems)
    return checked


class KBStore:
    """Entries, their revisions, the global version and the audit log.

    Every write checks what it is given, whoever calls it: entries against the schema's
    limits (``schema.validated``), an import for duplicate ids (all or nothing), a restore
    for a whole-number revision, every change for an author and a reason.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        if self.url.startswith("sqlite"):
            self._write = sqlite_engine(self.url, immediate=True)
            self._read = sqlite_engine(self.url, immediate=False)
        else:
            self._write = self._read = sa.create_engine(driver_url(self.url), pool_pre_ping=True)
        metadata.create_all(self._write)
        with self._write.begin() as conn:
            if conn.execute(sa.select(state_table.c.version).where(state_table.c.key == "kb")).first() is None:
                conn.execute(state_table.insert().values(key="kb", version=0))

    def dispose(self) -> None:
        self._write.dispose()
        self._read.dispose()

    # -- reading --------------------------------------------------------------------------
    def version(self) -> int:
        with self._read.connect() as conn:
            return int(conn.execute(sa.select(state_table.c.version).where(state_table.c.key == "kb")).scalar_one())

    def snapshot(self) -> tuple[int, list[Entry]]:
        """The current version and every live entry, read in one transaction."""
        with self._read.begin() as conn:
            version = conn.execute(sa.select(state_table.c.version).where(state_table.c.key == "kb")).scalar_one()
            rows = conn.execute(
                sa.select(entries_table.c.data).where(entries_table.c.deleted.is_(False)).order_by(entries_table.c.id)
            ).all()
        return int(version), [_entry_from_json(r.data) for r in rows]

    def entries(self, collection: str | None = None) -> list[Entry]:
        _, entries = self.snapshot()
        return [e for e in entries if collection is None or e.collection == collection]

    def get(self, entry_id: str) -> Entry:
        with self._read.connect() as conn:
            row = conn.execute(
                sa.select(entries_table.c.data).where(
                    entries_table.c.id == entry_id, entries_table.c.deleted.is_(False)
                )
            ).first()
        if row is None:
            raise EntryNotFound(f"no entry with id {entry_id!r}")
        return _entry_from_json(row.data)

    def history(self, entry_id: str) -> list[Revision]:
        with self._read.connect() as conn:
            rows = conn.execute(
                sa.select(revisions_table)
                .where(revisions_table.c.entry_id == entry_id)
                .order_by(revisions_table.c.revision)
            ).all()
        if not rows:
            raise EntryNotFound(f"no entry with id {entry_id!r}")
        return [
            Revision(
                r.entry_id,
                r.revision,
                r.action,
                r.author,
                r.reason,
                r.created_at,
                _entry_from_json(r.data) if r.data else None,
            )
            for r in rows
        ]

    # -- writing --------------------------------------------------------------------------
    @contextmanager
    def _change(self) -> Iterator[Connection]:
        with self._write.begin() as conn:
            # Bump the version first: on PostgreSQL the row lock this takes serializes
            # writers, so each reads the revision the previous one committed (SQLite's
            # BEGIN IMMEDIATE already does the same).
            conn.execute(
                state_table.update().where(state_table.c.key == "kb").values(version=state_table.c.version + 1)
            )
            yield conn

    @staticmethod
    def _write_revision(
        conn: Connection, entry_id: str, action: str, entry: Entry | None, author: str, reason: str
    ) -> int:
        current = conn.execute(
            sa.select(entries_table.c.revision, entries_table.c.deleted).where(entries_table.c.id == entry_id)
        ).first()
        revision = (current.revision if current else 0) + 1
        data = json.dumps(entry.to_dict(), ensure_ascii=False) if entry else None
        now = _now()
        conn.execute(
            revisions_table.insert().values(
                entry_id=entry_id,
                revision=revision,
                action=action,
                data=data,
                author=author,
                reason=reason,
                created_at=now,
            )
        )
        if current is None:
            assert entry is not None
            conn.execute(
                entries_table.insert().values(
                    id=entry_id,
                    collection=entry.collection,
                    data=data,
                    revision=revision,
                    deleted=False,
                    updated_at=now,
                )
            )
        elif entry is None:
            conn.execute(
                entries_table.update()
                .where(entries_table.c.id == entry_id)
                .values(
                    revision=revision,
                    deleted=True,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                entries_table.update()
                .where(entries_table.c.id == entry_id)
                .values(
                    collection=entry.collection,
                    data=data,
                    revision=revision,
                    deleted=False,
                    updated_at=now,
                )
            )
        return revision

    def _live(self, conn: Connection, entry_id: str) -> bool:
        row = conn.execute(sa.select(entries_table.c.deleted).where(entries_table.c.id == entry_id)).first()
        return row is not None and not row.deleted

    def add(self, entry: Entry, author: str, reason: str) -> int:
        _check_change(author, reason)
        entry = validated(entry, "entry", None)
        with self._change() as conn:
            if self._live(conn, entry.id):
                raise EntryExists(f"an entry with id {entry.id!r} exists; edit it instead")
            return self._write_revision(conn, entry.id, "add", entry, author, reason)

    def edit(self, entry: Entry, author: str, reason: str) -> int:
        _check_change(author, reason)
        entry = validated(entry, "entry", None)
        with self._change() as conn:
            if not self._live(conn, entry.id):
                raise EntryNotFound(f"no entry with id {entry.id!r}")
            return self._write_revision(conn, entry.id, "edit", entry, author, reason)

    def delete(self, entry_id: str, author: str, reason: str) -> int:
        _check_change(author, reason)
        with self._change() as conn:
            if not self._live(conn, entry_id):
                raise EntryNotFound(f"no entry with id {entry_id!r}")
            return self._write_revision(conn, entry_id, "delete", None, author, reason)

    def restore(self, entry_id: str, revision: int, author: str, reason: str) -> int:
        """Make revision ``revision`` of the entry current again (as a new revision).

        ``revision`` must be an ``int`` (not a bool, a float such as 1.9, or a string such as
        "2"): callers pass what they were sent, and a silent conversion would restore
        another revision than the one asked for.
        """
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise ChangeRefused(
                f"the revision to restore must be a whole number such as 2, not {type(revision).__name__} "
                f"{str(revision)[:20]!r}"
            )
        _check_change(author, reason)
        old = next((r for r in self.history(entry_id) if r.revision == revision), None)
        if old is None:
            raise EntryNotFound(f"entry {entry_id!r} has no revision {revision}")
        # An old revision must meet today's limits to become current again.
        entry = validated(old.entry, f"{entry_id} revision {revision}", None) if old.entry is not None else None
        with self._change() as conn:
            return self._write_revision(conn, entry_id, "restore", entry, author, reason)

    def import_entries(self, entries: list[Entry], author: str, reason: str) -> dict[str, int]:
        """Add new entries and update changed ones, in one transaction (one version step).

        All or nothing: an invalid entry or an id given twice refuses the whole import, with
        every problem named by its row (1-based position in ``entries``).
        """
        _check_change(author, reason)
        entries = _checked_import(entries)
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        with self._change() as conn:
            for entry in entries:
                row = conn.execute(
                    sa.select(entries_table.c.data, entries_table.c.deleted).where(entries_table.c.id == entry.id)
                ).first()
                if row is not None and not row.deleted and _entry_from_json(row.data) == entry:
                    counts["unchanged"] += 1
                    continue
                action = "import"
                self._write_revision(conn, entry.id, action, entry, author, reason)
                counts["updated" if row is not None and not row.deleted else "added"] += 1
        return counts

    def seed_if_empty(self, entries: list[Entry], author: str = "seed") -> bool:
        with self._read.connect() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(entries_table)).scalar_one():
                return False
        self.import_entries(entries, author, "initial import of knowledge_base/data")
        return True

    def audit(self, actor: str, action: str, target: str, outcome: str = "ok") -> None:
        with self._write.begin() as conn:
            conn.execute(
                audit_table.insert().values(
                    at=_now(),
                    actor=actor[:128],
                    action=action[:32],
                    target=target[:256],
                    outcome=outcome[:32],
                )
            )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._read.connect() as conn:
            rows = conn.execute(sa.select(audit_table).order_by(audit_table.c.seq.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]
