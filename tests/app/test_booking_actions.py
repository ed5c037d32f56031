"""Booking actions tell a senior the truth: a locked or unreachable database is "系统忙", never "没找到"."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_common, clock
from actions.bookings import ActionBookingConfirm, ActionBookingList
from bookings.catalog import SHANGHAI
from bookings.store import BookingStore

SENDER = "booking-actions-test"


def tracker(slots: dict[str, Any], text: str = "对") -> Tracker:
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": "affirm"}}, "message_id": "m1"}]
    return Tracker(
        SENDER, slots, {"text": text, "intent": {"name": "affirm"}}, events, False, None, {}, "action_listen"
    )


@pytest.fixture
def booked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "bookings.sqlite"
    monkeypatch.setenv("YINLING_SQLITE_BUSY_MS", "200")
    store = BookingStore(f"sqlite:///{path}")
    today = dt.date(2026, 11, 30)
    store.ensure_schedule(today)
    monkeypatch.setattr(clock, "now", lambda: dt.datetime.combine(today, dt.time(8), SHANGHAI))
    start = dt.datetime.combine(today + dt.timedelta(days=2), dt.time(9), SHANGHAI)
    slot = store.find_slots("bath", start, start + dt.timedelta(hours=1), street="顾村镇")[0]
    booking = store.book(slot.id, SENDER, "张秀英", "13812345678")
    monkeypatch.setattr(booking_common, "_store", store)
    monkeypatch.setattr(booking_common, "_schedule_day", today)
    yield path, booking.code
    store.dispose()


def run(action: Any, slots: dict[str, Any], text: str = "对") -> list[str]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker(slots, text), {}))
    return [m.get("text") or m.get("response") or "" for m in dispatcher.messages]


def test_cancelling_while_the_database_is_locked_says_busy_not_not_found(booked: tuple[Path, str]) -> None:
    path, code = booked
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
    try:
        said = run(ActionBookingConfirm(), {"booking_stage": "cancel_confirm", "booking_target": code})
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert said == ["utter_busy"], said
    assert not any("没找到" in s for s in said)
    # Nothing was lost: once the lock is gone, the same answer cancels.
    assert any(
        "已经帮您取消" in s
        for s in run(ActionBookingConfirm(), {"booking_stage": "cancel_confirm", "booking_target": code})
    )


def test_a_booking_that_is_not_there_is_said_to_be_not_found(booked: tuple[Path, str]) -> None:
    said = run(ActionBookingConfirm(), {"booking_stage": "cancel_confirm", "booking_target": "000001"})
    assert any("没找到" in s for s in said)


def test_an_unreachable_database_is_busy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKINGS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/nothing")
    monkeypatch.setattr(booking_common, "_store", None)
    said = run(ActionBookingList(), {"booking_stage": None}, text="我约了啥")
    assert said == ["utter_busy"], said
