"""Rasa's SQL tracker store, which also forgets a conversation when 删除我的信息 is confirmed.

``endpoints.yml`` (``make run``, SQLite) and ``deploy/endpoints.cluster.yml`` (``make run-cluster``,
PostgreSQL) name this class as the tracker store. It is Rasa's own ``SQLTrackerStore`` with one
addition: when an event of the turn being saved carries the metadata ``{"yinling":
"forget_conversation"}`` (actions/care.py puts it on the events of a confirmed deletion), every
stored event of that sender — all sessions — is deleted in one transaction and nothing of the turn
is stored. The next message starts a new, empty conversation.

Why here and not in the action server: Rasa's ``SQLTrackerStore.save`` counts the stored events
and appends those of the in-memory tracker beyond that count. Rows deleted by the action server
during the turn would be written back, all of them, when Rasa saves the turn a moment later. The
tracker store itself is the one place that runs after the turn and under the conversation's lock.

Only the sender's own turn can carry the marker (it is an event returned by the action server,
which accepts calls only from Rasa). Nothing of the conversation is logged: the log says that a
conversation was deleted and how many events it had, never whose.

Cheaper round trips (issue 15: the tracker store was about a third of the Rasa process's time in a
knowledge turn). Rows, queries' meaning and what is stored are Rasa's; only how they are issued changes:

- a turn is saved in one transaction with one count of the stored events (Rasa's ``save`` counts
  them, and this class counted them once more to look for the marker: two sessions, two counts);
  a tracker with nothing new (the empty one Rasa saves when a conversation starts) opens no transaction;
- the count and the read of a conversation are statements built once per process (SQLAlchemy builds
  and hashes an ORM query's cache key on every call: 8 % of the process's samples), the rows are
  written with one ``INSERT`` of many rows instead of the ORM's unit of work;
- on SQLite, connections are kept in a pool (SQLAlchemy 1.4 opens a new SQLite connection for every
  session by default) and the file is in WAL mode: a commit appends to the log and syncs it once instead
  of writing a rollback journal and the file. Every commit is still on disk before the reply
  (``synchronous=FULL``, as before); ``YINLING_TRACKER_SQLITE_SYNC=NORMAL`` syncs only at checkpoints
  (a power cut may then lose the last turns, never corrupt the file; a crashed process loses nothing).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.pool import QueuePool

from common.errors import ConfigError

logger = logging.getLogger(__name__)

MARKER_KEY = "yinling"
FORGET = "forget_conversation"


def forgets(events: Iterable[Event]) -> bool:
    """True when one of ``events`` asks for the conversation to be deleted."""
    for event in events:
        metadata: Any = event.metadata
        if isinstance(metadata, dict) and metadata.get(MARKER_KEY) == FORGET:
            return True
    return False


SQLITE_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class TrackerStoreConfigError(ConfigError):
    pass


def sqlite_sync_mode(env: dict[str, str] | None = None) -> str:
    """``PRAGMA synchronous`` for the SQLite tracker file: ``YINLING_TRACKER_SQLITE_SYNC``, default FULL."""
    mode = (env if env is not None else dict(os.environ)).get("YINLING_TRACKER_SQLITE_SYNC", "FULL").upper()
    if mode not in SQLITE_SYNC_MODES:
        raise TrackerStoreConfigError(
            f"YINLING_TRACKER_SQLITE_SYNC={mode!r}: choose one of {', '.join(SQLITE_SYNC_MODES)}"
        )
    return mode


def pooled_sqlite_engine(url: Any, sync: str) -> Any:
    """An engine on a SQLite file that keeps its connections, each in WAL mode with ``synchronous=sync``."""
    # Rasa's server uses the store from its event loop only; the pool hands a connection to one user at a time.
    engine = sa.create_engine(url, poolclass=QueuePool, connect_args={"check_same_thread": False})

    def set_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sync}")
        finally:
            cursor.close()

    sa.event.listen(engine, "connect", set_pragmas)
    return engine


class ForgettingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` + deleting a sender's whole conversation on the action server's request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.engine.dispose()
            self.engine = pooled_sqlite_engine(url, sqlite_sync_mode())
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        events = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        # The latest session's events: those not older than its SessionStarted (all, if none), as Rasa's own query.
        start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        latest = sa.or_(events.c.timestamp >= start, start.is_(None))
        self._count_latest = sa.select(sa.func.count()).select_from(events).where(events.c.sender_id == sender, latest)
        self._read_latest = sa.select(events.c.data).where(events.c.sender_id == sender, latest).order_by(events.c.id)
        self._read_all = sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        self._insert = sa.insert(events)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        query = self._read_all if fetch_events_from_all_sessions else self._read_latest
        with self.session_scope() as session:
            rows = session.execute(query, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            stored = int(session.execute(self._count_latest, {"sender_id": tracker.sender_id}).scalar_one())
            new = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            if not forgets(new):
                await self.stream_events(tracker)
                if new:
                    session.execute(self._insert, [_row(tracker.sender_id, event) for event in new])
                    session.commit()
                return
        deleted = self.forget(tracker.sender_id)
        logger.info("Conversation deleted from the tracker store on the user's request (%d events).", deleted)

    def forget(self, sender_id: str) -> int:
        """Delete every stored event of ``sender_id`` (all sessions); returns how many there were."""
        with self.session_scope() as session:
            deleted = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
        return int(deleted)


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """The columns Rasa's ``SQLTrackerStore.save`` writes for one event."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }
