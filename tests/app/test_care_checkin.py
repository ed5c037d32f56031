"""每日平安 with a controllable clock: question, second try, alert to family and agents, quiet hours, opt-out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from care import classify
from care.config import CareSettings, QuietHours
from care.db import CareDB, checkin_days, outbox
from care.errors import ConsentRequired
from care.outbox import Worker
from care.scheduler import Scheduler
from care.senders import Senders, StaffCaseSender, TelegramSender
from care.service import Care, QuietTime
from staff.db import StaffDB
from staff.queue import PRIORITY, Queue
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis

SENIOR, SON, DAUGHTER = "telegram:1001", "telegram:2002", "telegram:3003"


class World:
    def __init__(self, tmp: Path, apis: FakeApis) -> None:
        self.clock = FakeClock(dt.datetime(2026, 12, 7, 7, 0, tzinfo=SHANGHAI))
        self.db = CareDB(f"sqlite:///{tmp / 'care.sqlite'}", clock=self.clock)
        self.staff_url = f"sqlite:///{tmp / 'staff.sqlite'}"
        self.settings = CareSettings(retry_after=dt.timedelta(minutes=30), alert_after=dt.timedelta(minutes=30))
        self.care = Care(self.db, self.settings)
        self.scheduler = Scheduler(self.db, self.settings)
        senders = Senders(
            {"telegram:": TelegramSender("1:TEST", apis.telegram_base), "staff:": StaffCaseSender(self.staff_url)}
        )
        self.worker = Worker(self.db, senders)
        self.apis = apis

    def tick(self) -> None:
        """What `python -m care run` does each round."""
        self.scheduler.run_once()
        self.worker.run_once()

    def at(self, hour: int, minute: int = 0, day: int = 7) -> None:
        self.clock.set_local(2026, 12, day, hour, minute)
        self.tick()

    def sent_to(self, address: str) -> list[str]:
        return self.apis.texts("telegram", to=address.removeprefix("telegram:"))

    def link(self, family: str) -> None:
        code = self.care.family_code(family)
        self.care.give_consent(SENIOR, "family")
        self.care.family_confirm(SENIOR, code)

    def waiting(self) -> list[tuple[str, str, int]]:
        queue = Queue(StaffDB(self.staff_url))
        return [(h.conversation_id, h.reason, h.priority) for h in queue.waiting()]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with fake_apis() as apis:
        w = World(tmp_path, apis)
        yield w
        w.db.dispose()


def test_opting_in_needs_consent_first(world: World) -> None:
    with pytest.raises(ConsentRequired):
        world.care.checkin_optin(SENIOR, 8 * 60)
    with world.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(checkin_days)).scalar() == 0
    world.care.give_consent(SENIOR, "checkin")
    first = world.care.checkin_optin(SENIOR, 8 * 60)
    assert first == dt.datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI)


def test_no_reply_asks_again_then_alerts_each_family_member_once_and_opens_a_top_case(world: World) -> None:
    world.link(SON)
    world.link(DAUGHTER)
    world.care.give_consent(SENIOR, "checkin")
    world.care.checkin_optin(SENIOR, 8 * 60)
    world.at(7, 59)
    assert world.sent_to(SENIOR) == []
    world.at(8, 0)
    assert world.sent_to(SENIOR) == ["您好，今天还好吗？回“好”或者“不舒服”就行。"]
    world.at(8, 29)
    assert len(world.sent_to(SENIOR)) == 1, "the second try waits the retry time"
    world.at(8, 30)
    assert len(world.sent_to(SENIOR)) == 2 and "还没收到您的回音" in world.sent_to(SENIOR)[1]
    assert not any("没有回音" in t for t in world.sent_to(SON))
    world.at(9, 0)
    for family in (SON, DAUGHTER):
        alerts = [t for t in world.sent_to(family) if "没有回音" in t]
        assert len(alerts) == 1 and "12月7日" in alerts[0]
    assert world.waiting() == [(SENIOR, "care", PRIORITY["emergency"])]
    # Schedulers going round again, however often, alert nobody twice for the day.
    for minute in range(1, 30, 7):
        world.at(9, minute)
    assert [len([t for t in world.sent_to(f) if "没有回音" in t]) for f in (SON, DAUGHTER)] == [1, 1]
    # The next day starts again with one question.
    world.at(8, 0, day=8)
    assert world.sent_to(SENIOR)[-1].startswith("您好，今天还好吗")


def test_a_reply_stops_the_follow_up_and_unwell_tells_the_family(world: World) -> None:
    world.link(SON)
    world.care.give_consent(SENIOR, "checkin")
    world.care.checkin_optin(SENIOR, 8 * 60)
    world.at(8, 0)
    world.clock.set_local(2026, 12, 7, 8, 10)
    assert world.care.checkin_reply(SENIOR, "今天头有点晕") == classify.UNWELL
    world.at(8, 30)
    world.at(9, 0)
    assert len(world.sent_to(SENIOR)) == 1, "answered: no second question"
    assert [t for t in world.sent_to(SON) if "身体不舒服" in t] and not [
        t for t in world.sent_to(SON) if "没有回音" in t
    ]
    assert world.waiting() == []
    with world.db.read() as conn:
        row = conn.execute(sa.select(checkin_days.c.answer)).one()
    assert row.answer == "unwell", "the class is kept, never the text"


def test_fine_tells_nobody_and_an_emergency_reply_escalates(world: World) -> None:
    world.link(SON)
    world.care.give_consent(SENIOR, "checkin")
    world.care.checkin_optin(SENIOR, 8 * 60)
    world.at(8, 0)
    assert world.care.checkin_reply(SENIOR, "蛮好，没啥不舒服") == classify.FINE
    world.at(9, 0)
    assert world.sent_to(SON) == [
        "绑定好了。您能看到家人的预约，也能替家人预约、取消或改时间，会收到预约提醒和每日平安的消息，看不到聊天内容。说“解除绑定”可以取消。"
    ]
    world.at(8, 0, day=8)
    assert world.care.checkin_reply(SENIOR, "我摔倒了起不来") == classify.EMERGENCY
    world.tick()
    assert any("紧急" in t for t in world.sent_to(SON))
    assert world.waiting() == [(SENIOR, "care", 0)]


def test_quiet_hours_refuse_a_night_time_and_move_the_second_try_to_the_morning(world: World) -> None:
    world.care.give_consent(SENIOR, "checkin")
    with pytest.raises(QuietTime):
        world.care.checkin_optin(SENIOR, 22 * 60)
    with pytest.raises(QuietTime):
        world.care.checkin_optin(SENIOR, 6 * 60 + 30)
    world.care.checkin_optin(SENIOR, 20 * 60 + 45)
    world.at(20, 45)
    assert len(world.sent_to(SENIOR)) == 1
    for hour, minute, day in ((21, 15, 7), (23, 0, 7), (3, 0, 8), (6, 59, 8)):
        world.at(hour, minute, day=day)
        assert len(world.sent_to(SENIOR)) == 1, f"quiet at {hour}:{minute:02d}"
    world.at(7, 0, day=8)
    assert len(world.sent_to(SENIOR)) == 2, "the second try waits for the end of quiet hours"


def test_opting_out_cancels_what_was_pending(world: World) -> None:
    world.link(SON)
    world.care.give_consent(SENIOR, "checkin")
    world.care.checkin_optin(SENIOR, 8 * 60)
    world.at(8, 0)
    assert world.care.checkin_optout(SENIOR) is True
    for hour in (8, 9, 10):
        world.at(hour, 45)
    world.at(8, 0, day=8)
    assert len(world.sent_to(SENIOR)) == 1 and not [t for t in world.sent_to(SON) if "没有回音" in t]
    assert world.care.checkin_optout(SENIOR) is False
    with world.db.read() as conn:
        purposes = conn.execute(sa.select(outbox.c.purpose)).scalars().all()
    assert sorted(purposes) == ["checkin", "link"]


def test_opting_in_again_or_off_and_on_the_same_day_still_asks_once(world: World) -> None:
    world.care.give_consent(SENIOR, "checkin")
    world.care.checkin_optin(SENIOR, 8 * 60)
    world.care.checkin_optin(SENIOR, 8 * 60)  # said twice
    world.care.checkin_optout(SENIOR)
    world.care.checkin_optin(SENIOR, 8 * 60)  # off and on again before the first question
    world.at(8, 0)
    world.at(8, 1)
    assert world.sent_to(SENIOR) == ["您好，今天还好吗？回“好”或者“不舒服”就行。"]


def test_quiet_hours_span_midnight() -> None:
    quiet = QuietHours.parse("21:30-06:45")
    assert quiet.contains_minute(21 * 60 + 30) and quiet.contains_minute(0) and quiet.contains_minute(6 * 60 + 44)
    assert not quiet.contains_minute(6 * 60 + 45) and not quiet.contains_minute(21 * 60 + 29)
    at = dt.datetime(2026, 12, 7, 23, 0, tzinfo=SHANGHAI)
    assert quiet.end_after(at, SHANGHAI) == dt.datetime(2026, 12, 8, 6, 45, tzinfo=SHANGHAI)
    assert quiet.start_before(at, SHANGHAI) == dt.datetime(2026, 12, 7, 21, 29, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("好", "fine"),
        ("挺好的，放心", "fine"),
        ("没事没事", "fine"),
        ("没啥不舒服", "fine"),
        ("不太好，腰疼", "unwell"),
        ("还好就是头晕", "unwell"),
        ("有点发烧", "unwell"),
        ("胸口好痛，透不过气", "emergency"),
        ("老伴叫不醒了", "emergency"),
        ("救命", "emergency"),
        ("今天吃火锅", "other"),
        ("你是谁", "other"),
        ("", "other"),
    ],
)
def test_replies_are_classified(text: str, kind: str) -> None:
    assert classify.classify(text) == kind


def test_settings_refuse_unknown_names_and_bad_values() -> None:
    from care.errors import CareConfigError

    with pytest.raises(CareConfigError, match=r"CARE_QUIET_HOUR; known: .*CARE_QUIET_HOURS"):
        CareSettings.from_env({"CARE_QUIET_HOUR": "21:00-07:00"})
    with pytest.raises(CareConfigError, match="expected HH:MM-HH:MM"):
        CareSettings.from_env({"CARE_QUIET_HOURS": "9pm-7am"})
    with pytest.raises(CareConfigError, match="CARE_CHECKIN_RETRY_MINUTES='soon': expected a number"):
        CareSettings.from_env({"CARE_CHECKIN_RETRY_MINUTES": "soon"})
    settings = CareSettings.from_env({"CARE_CHECKIN_RETRY_MINUTES": "45", "CARE_QUIET_HOURS": "22:00-06:30"})
    assert settings.retry_after == dt.timedelta(minutes=45) and settings.quiet == QuietHours(22 * 60, 6 * 60 + 30)
