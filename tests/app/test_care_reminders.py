"""Booking reminders: written in the booking's transaction, the day before and two hours before,
to the senior and linked family, with the booking number in two groups; cancelled or moved bookings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore, Slot, format_code
from care.config import CareSettings, QuietHours
from care.db import CareDB, jobs
from care.outbox import Worker
from care.scheduler import Scheduler, attach_reminders
from care.senders import Senders, TelegramSender
from care.service import Care
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis

SENIOR, DAUGHTER = "telegram:4001", "telegram:4002"


@dataclass
class World:
    clock: FakeClock
    store: BookingStore
    db: CareDB
    care: Care
    scheduler: Scheduler
    worker: Worker
    apis: FakeApis

    def tick(self) -> None:
        self.scheduler.run_once()
        self.worker.run_once()

    def at(self, when: dt.datetime) -> None:
        self.clock.at = when.astimezone(dt.timezone.utc)
        self.tick()

    def sent(self, address: str = SENIOR) -> list[str]:
        return self.apis.texts("telegram", to=address.removeprefix("telegram:"))

    def slot(self, day: int, hour: int) -> Slot:
        start = dt.datetime(2026, 12, day, hour, 0, tzinfo=SHANGHAI)
        return next(s for s in self.store.find_slots("bath", start, start + dt.timedelta(hours=1)) if s.start == start)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))  # a Monday
    store = BookingStore(f"sqlite:///{tmp_path / 'bookings.sqlite'}", clock=clock)
    store.ensure_schedule(dt.date(2026, 12, 7), days=7)
    settings = CareSettings()
    attach_reminders(store, settings)
    db = CareDB(store.url, clock=clock)
    with fake_apis() as apis:
        senders = Senders({"telegram:": TelegramSender("1:TEST", apis.telegram_base)})
        yield World(clock, store, db, Care(db, settings), Scheduler(db, settings), Worker(db, senders), apis)
    db.dispose()
    store.dispose()


def _local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_reminders_the_day_before_and_two_hours_before_with_the_code_in_two_groups(world: World) -> None:
    booking = world.store.book(world.slot(9, 14).id, SENIOR, "王阿姨", "13912345678")
    world.at(_local(8, 13, 59))
    assert world.sent() == []
    world.at(_local(8, 14, 0))
    [day_before] = world.sent()
    assert day_before.startswith("提醒您：明天") and f"预约号 {format_code(booking.code)}" in day_before
    assert " " in format_code(booking.code) and "助浴" in day_before and "14:00" in day_before
    world.at(_local(9, 11, 59))
    assert len(world.sent()) == 1
    world.at(_local(9, 12, 0))
    assert world.sent()[1].startswith("提醒您：两个小时后") and "去不了了" in world.sent()[1]
    world.at(_local(9, 13, 0))
    assert len(world.sent()) == 2


def test_linked_family_gets_the_reminders_too(world: World) -> None:
    code = world.care.family_code(DAUGHTER)
    world.care.give_consent(SENIOR, "family")
    world.care.family_confirm(SENIOR, code)
    booking = world.store.book(world.slot(9, 10).id, SENIOR, "王阿姨", "13912345678")
    world.at(_local(8, 10))
    family = [t for t in world.sent(DAUGHTER) if t.startswith("家人预约提醒")]
    assert len(family) == 1 and format_code(booking.code) in family[0]


def test_a_cancelled_booking_is_not_reminded_and_a_moved_one_at_its_new_time(world: World) -> None:
    cancelled = world.store.book(world.slot(9, 9).id, SENIOR, "王阿姨", "13912345678")
    moved = world.store.book(world.slot(10, 15).id, SENIOR, "王阿姨", "13912345678")
    world.store.cancel(cancelled.code, SENIOR)
    world.store.reschedule(moved.code, SENIOR, world.slot(12, 10).id)
    for day, hour in ((8, 9), (9, 7), (9, 15), (10, 9), (10, 13), (10, 15)):
        world.at(_local(day, hour))  # the cancelled one's and the old time's reminders would be due here
    assert world.sent() == [], "nothing for the cancelled booking nor the old time"
    world.at(_local(11, 10))
    world.at(_local(12, 8))
    assert len(world.sent()) == 2 and all(format_code(moved.code) in t for t in world.sent())


def test_a_booking_and_its_reminders_commit_together(world: World) -> None:
    def broken(_conn: object, _kind: str, _booking: object) -> None:
        raise RuntimeError("the reminder could not be written")

    world.store.add_listener(broken)
    slot = world.slot(9, 11)
    with pytest.raises(RuntimeError):
        world.store.book(slot.id, SENIOR, "王阿姨", "13912345678")
    assert world.store.list_for_user(SENIOR) == []
    with world.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar() == 0


def test_a_reminder_due_in_quiet_hours_goes_out_the_evening_before(world: World) -> None:
    world.store.book(world.slot(9, 9).id, SENIOR, "王阿姨", "13912345678")  # 2 h before: 07:00, not quiet
    with world.db.read() as conn:
        due = sorted(r.due_at for r in conn.execute(sa.select(jobs.c.due_at)).all())
    assert due == [_local(8, 9), _local(9, 7)]
    # Quiet hours that hold 07:00: that reminder moves to the evening before, just before they begin.
    quiet_store = BookingStore(world.store.url, clock=world.clock)
    attach_reminders(quiet_store, CareSettings(quiet=QuietHours.parse("21:00-07:30")))
    quiet_store.book(world.slot(10, 9).id, SENIOR, "王阿姨", "13912345678")
    quiet_store.dispose()
    with world.db.read() as conn:
        due = sorted(r.due_at for r in conn.execute(sa.select(jobs.c.due_at)).all())
    assert due == [_local(8, 9), _local(9, 7), _local(9, 9), _local(9, 20, 59)]
    world.at(_local(9, 20, 59))
    assert world.sent()[-1].startswith("提醒您：明天12月10日（星期四）09:00"), "not 'in two hours' the evening before"
