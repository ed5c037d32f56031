"""The tracker store both endpoint files name (bot/tracker_store.py): Rasa's SQL tracker store that deletes a
sender's whole conversation when the turn carrying the 删除我的信息 marker is saved — on SQLite (``make run``)
and on a real PostgreSQL database (``make run-cluster``), loaded through Rasa's own endpoint reader."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_tracker_store
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, Restarted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import FORGET, MARKER_KEY, ForgettingSQLTrackerStore, TrackerStoreConfigError, forgets

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.from_yaml(
    """
version: "3.1"
slots:
  care_stage:
    type: any
    influence_conversation: false
    mappings: [{type: custom}]
"""
)
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MARK = {MARKER_KEY: FORGET}


def _turn(text: str, *, forget: bool = False) -> list[Event]:
    return [
        UserUttered(text, {"name": "care_delete", "confidence": 1.0}),
        ActionExecuted("action_care_answer"),
        BotUttered("好的"),
        SlotSet("care_stage", None, metadata=dict(MARK) if forget else None),
        ActionExecuted("action_listen"),
    ]


async def _save_turns(store: ForgettingSQLTrackerStore, sender: str, *turns: list[Event]) -> None:
    for events in turns:
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
        if not tracker.events:
            tracker.update(SessionStarted())
        for event in events:
            tracker.update(event)
        await store.save(tracker)


def _rows(store: ForgettingSQLTrackerStore, sender: str) -> int:
    with store.session_scope() as session:
        return int(session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).count())


def _scenario(store: ForgettingSQLTrackerStore) -> None:
    async def run() -> None:
        senior, other = "web-" + uuid.uuid4().hex, "telegram:" + uuid.uuid4().hex[:8]
        # Two sessions for the senior (a restart and a new session in between), one conversation of someone else.
        await _save_turns(store, senior, _turn("你好"), [Restarted(), SessionStarted()], _turn("删除我的信息"))
        await _save_turns(store, other, _turn("你好"))
        before_other = _rows(store, other)
        assert _rows(store, senior) > 10 and before_other > 0
        # An ordinary turn with metadata of another kind is stored as usual.
        tracker = await store.retrieve(senior)
        assert tracker is not None
        tracker.update(BotUttered("提醒", metadata={"care": "reminder"}))
        await store.save(tracker)
        assert (await store.retrieve(senior)) is not None

        await _save_turns(store, senior, _turn("确定删除", forget=True))

        assert _rows(store, senior) == 0, "every session of the senior is gone"
        assert await store.retrieve(senior) is None
        assert await store.retrieve_full_tracker(senior) is None
        assert _rows(store, other) == before_other, "nobody else's conversation is touched"
        # The next message starts a new, empty conversation, stored as usual.
        await _save_turns(store, senior, _turn("你好"))
        fresh = await store.retrieve_full_tracker(senior)
        assert fresh is not None
        assert [e.text for e in fresh.events if isinstance(e, UserUttered)] == ["你好"]

    asyncio.run(run())


def test_forgets_reads_only_the_marker() -> None:
    assert forgets([SlotSet("care_stage", None, metadata=dict(MARK))])
    assert not forgets([SlotSet("care_stage", None), BotUttered("x", metadata={"yinling": "other"}), Restarted()])


def test_sqlite_tracker_store_deletes_the_conversation_on_the_marker(tmp_path: Path) -> None:
    store = ForgettingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "tracker.sqlite"))
    try:
        _scenario(store)
    finally:
        store.engine.dispose()


def test_make_run_endpoints_load_the_forgetting_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_TRACKER_DB", str(tmp_path / "tracker.sqlite"))
    monkeypatch.setenv("YINLING_ACTION_URL", "http://127.0.0.1:1/webhook")
    monkeypatch.setenv("YINLING_ACTION_TOKEN", "x")
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))
    store = create_tracker_store(endpoints.tracker_store, DOMAIN)
    # Rasa falls back to an in-memory store, with a warning only, when a custom class does not import.
    assert isinstance(store, ForgettingSQLTrackerStore)
    try:
        _scenario(store)
    finally:
        store.engine.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server (skipped, never on CI, when none answers)."""
    admin = sa.create_engine(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/test", isolation_level="AUTOCOMMIT")
    name = f"yinling_tracker_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no server answered at 127.0.0.1:5432")
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_cluster_endpoints_on_postgresql_delete_the_conversation(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "YINLING_ACTION_URL": "http://127.0.0.1:1/webhook",
        "YINLING_ACTION_TOKEN": "x",
        "YINLING_PG_HOST": PG_HOST,
        "YINLING_PG_PORT": str(PG_PORT),
        "YINLING_TRACKER_DB": pg_database,
        "YINLING_PG_USER": PG_USER,
        "YINLING_PG_PASSWORD": "",
        "YINLING_REDIS_HOST": "127.0.0.1",
        "YINLING_REDIS_PORT": "6379",
        "YINLING_REDIS_DB": "0",
        "YINLING_LOCK_PREFIX": "test",
    }.items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "deploy" / "endpoints.cluster.yml"))
    store = create_tracker_store(endpoints.tracker_store, DOMAIN)
    assert isinstance(store, ForgettingSQLTrackerStore)
    assert store.engine.dialect.name == "postgresql"
    try:
        _scenario(store)
    finally:
        store.engine.dispose()


def _two_sessions() -> list[list[Event]]:
    return [
        [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"), *_turn("你好")],
        _turn("长护险哪能申请"),
        [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"), *_turn("再会")],
    ]


def _stored(engine: sa.engine.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id")
        )
        return [tuple(row) for row in rows]


def test_rows_and_trackers_are_rasas_own(tmp_path: Path) -> None:
    """The same turns saved by Rasa's SQLTrackerStore and by this one give the same rows, and read back the same
    trackers (the latest session, and all of them), over two sessions and an empty save at the start."""

    turns = _two_sessions()  # the same events (and timestamps) for both stores

    async def run(store: SQLTrackerStore, sender: str) -> list[list[dict[str, object]]]:
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)  # saves an empty tracker
        read: list[list[dict[str, object]]] = []
        for events in turns:
            for event in events:
                tracker.update(event)
            await store.save(tracker)
            again = await store.retrieve(sender)
            full = await store.retrieve_full_tracker(sender)
            assert again is not None and full is not None
            read += [[e.as_dict() for e in again.events], [e.as_dict() for e in full.events]]
            tracker = again
        return read

    ours = ForgettingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "ours.sqlite"))
    rasas = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "rasa.sqlite"))
    try:
        assert asyncio.run(run(ours, "web-1")) == asyncio.run(run(rasas, "web-1"))
        assert _stored(ours.engine) == _stored(rasas.engine)
        assert len(_stored(ours.engine)) == 2 * 3 + 3 * len(_turn("x"))  # two session starts, three turns
    finally:
        ours.engine.dispose()
        rasas.engine.dispose()


def test_sqlite_connections_are_kept_and_in_wal_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mode, number in (("FULL", 2), ("normal", 1)):
        monkeypatch.setenv("YINLING_TRACKER_SQLITE_SYNC", mode)
        store = ForgettingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / f"{mode}.sqlite"))
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == number
                first = conn.connection.dbapi_connection
            with store.engine.connect() as conn:
                assert conn.connection.dbapi_connection is first, "the connection is reused, not opened again"
        finally:
            store.engine.dispose()


def test_a_wrong_sync_mode_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YINLING_TRACKER_SQLITE_SYNC", "sometimes")
    with pytest.raises(TrackerStoreConfigError, match="YINLING_TRACKER_SQLITE_SYNC"):
        ForgettingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.sqlite"))
