"""Database engines shared by the knowledge base and the bookings.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` (a deferred
transaction that reads and then writes fails with SQLITE_BUSY under concurrency instead
of waiting its turn), read transactions with a plain ``BEGIN``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def driver_url(url: str) -> str:
    """A bare postgresql:// would select psycopg2, which this runtime does not install."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory database)."""
    path = sa.engine.make_url(url).database
    return Path(path) if path and path != ":memory:" else None


DEFAULT_BUSY_TIMEOUT_MS = 5000


def busy_timeout_ms() -> int:
    """How long a SQLite writer waits for a lock: ``YINLING_SQLITE_BUSY_MS`` (default 5000)."""
    raw = os.environ.get("YINLING_SQLITE_BUSY_MS", "")
    try:
        value = int(raw) if raw else DEFAULT_BUSY_TIMEOUT_MS
    except ValueError as err:
        raise ValueError(f"YINLING_SQLITE_BUSY_MS={raw!r}: expected milliseconds, e.g. 5000") from err
    return max(100, value)


def sqlite_engine(url: str, immediate: bool, foreign_keys: bool = False) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    # Short: a locked database must give the senior a clear "系统忙" within seconds, not hold them for 30.
    busy_ms = busy_timeout_ms()
    engine = sa.create_engine(url, connect_args={"timeout": busy_ms / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
