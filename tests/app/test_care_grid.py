"""网格员 (grid workers): the configuration file, and the SMS after a check-in missed twice — with a controllable
clock and the fake SMS gateway, once per grid worker and missed day, sample entries never."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from care.config import CareSettings
from care.db import CareDB, outbox, places
from care.errors import CareConfigError
from care.grid import DEFAULT_FILE, GridWorkers, phone_words
from care.outbox import Worker
from care.privacy import delete_everywhere
from care.scheduler import Scheduler, attach_reminders
from care.senders import Senders, SmsSender, StaffCaseSender, TelegramSender
from care.service import Care
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis

SENIOR, SON = "telegram:1101", "telegram:2202"
GUCUN, GUCUN_2, GUCUN_SAMPLE, DACHANG = "+8613900001001", "+8613900001002", "+8613900001003", "+8613900001004"
GRID_FILE = """\
grid_workers:
  - {street: 顾村, name: 顾村网格员甲, phone: "139 0000 1001"}
  - {street: 顾村镇, name: 顾村网格员乙, phone: "+86 139-0000-1002"}
  - {street: 顾村镇, name: 示例网格员, phone: "139 0000 1003", sample: true}
  - {street: 大场镇, name: 大场网格员, phone: "139 0000 1004"}
"""
MISSED = "每日平安问了两次都没有回音"


class World:
    def __init__(self, tmp: Path, apis: FakeApis) -> None:
        self.clock = FakeClock(dt.datetime(2026, 12, 7, 7, 0, tzinfo=SHANGHAI))
        self.store = BookingStore(f"sqlite:///{tmp / 'bookings.sqlite'}", clock=self.clock)
        self.store.ensure_schedule(dt.date(2026, 12, 7), days=3)
        attach_reminders(self.store)
        self.db = CareDB(self.store.url, clock=self.clock)
        grid = tmp / "grid.yml"
        grid.write_text(GRID_FILE, encoding="utf-8")
        self.settings = CareSettings.from_env({"CARE_GRID_WORKERS_FILE": str(grid)})
        self.care = Care(self.db, self.settings)
        self.staff_url = f"sqlite:///{tmp / 'staff.sqlite'}"
        self.schedulers = [Scheduler(self.db, self.settings), Scheduler(self.db, self.settings)]
        senders = Senders(
            {
                "telegram:": TelegramSender("1:TEST", apis.telegram_base),
                "sms:": SmsSender(f"{apis.url}/sms", "sms-test-token"),
                "staff:": StaffCaseSender(self.staff_url),
            }
        )
        self.worker = Worker(self.db, senders)
        self.apis = apis

    def at(self, hour: int, minute: int = 0, day: int = 7) -> None:
        """Both schedulers go round (as two `python -m care run` would), then the worker sends."""
        self.clock.set_local(2026, 12, day, hour, minute)
        for scheduler in self.schedulers:
            scheduler.run_once()
        self.worker.run_once()

    def sms(self, number: str) -> list[str]:
        return self.apis.texts("sms", to=number)

    def opt_in(self, street: str | None = None) -> None:
        self.care.give_consent(SENIOR, "checkin")
        self.care.checkin_optin(SENIOR, 8 * 60, street=street)

    def miss_the_day(self, day: int = 7) -> None:
        for hour, minute in ((8, 0), (8, 30), (9, 0), (9, 1), (9, 30)):
            self.at(hour, minute, day)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with fake_apis() as apis:
        w = World(tmp_path, apis)
        yield w
        w.db.dispose()
        w.store.dispose()


def test_the_street_said_at_opt_in_gets_its_grid_workers_one_sms_each_per_missed_day(world: World) -> None:
    code = world.care.family_code(SON)
    world.care.give_consent(SENIOR, "family")
    world.care.family_confirm(SENIOR, code)
    world.opt_in(street="顾村镇")
    world.at(8, 0)
    world.at(8, 30)
    assert world.apis.calls["sms"] == [], "the second try comes first"
    world.at(8, 59)
    assert world.apis.calls["sms"] == []
    world.at(9, 0)
    for number in (GUCUN, GUCUN_2):
        assert world.sms(number) == [
            "【银龄助手】顾村镇一位老人今天的每日平安问了两次都没有回音（12月7日）。"
            "老人没有留电话，工作人员已收到，会告诉您是哪位老人。"
        ]
    assert world.sms(GUCUN_SAMPLE) == [], "sample entries are never texted"
    assert world.sms(DACHANG) == [], "another street's grid worker is not told"
    assert len([t for t in world.apis.texts("telegram", to="2202") if "没有回音" in t]) == 1
    # Two schedulers going round again and again: nobody is told twice for the day.
    for minute in range(1, 40, 9):
        world.at(9, minute)
    assert [len(world.sms(n)) for n in (GUCUN, GUCUN_2)] == [1, 1]
    # A reply on the next day stops that day's alert; a day missed again is a new alert.
    world.at(8, 0, day=8)
    world.care.checkin_reply(SENIOR, "好的")
    world.miss_the_day(day=8)
    assert [len(world.sms(n)) for n in (GUCUN, GUCUN_2)] == [1, 1]
    world.miss_the_day(day=9)
    assert [len(world.sms(n)) for n in (GUCUN, GUCUN_2)] == [2, 2]
    assert "12月9日" in world.sms(GUCUN)[-1]


def test_without_a_stated_street_the_latest_booking_gives_street_contact_and_number(world: World) -> None:
    start = dt.datetime(2026, 12, 9, 9, 0, tzinfo=SHANGHAI)
    slot = next(s for s in world.store.find_slots("bath", start, start + dt.timedelta(hours=8), street="大场镇"))
    world.store.book(slot.id, SENIOR, "王阿姨", "13912345678")
    world.opt_in()
    world.miss_the_day()
    assert world.sms(DACHANG) == [
        "【银龄助手】大场镇一位老人今天的每日平安问了两次都没有回音（12月7日）。"
        "预约时留的联系人：王阿姨，电话 139 1234 5678。请上门或打电话看看。工作人员也已收到。"
    ]
    assert world.sms(GUCUN) == []


def test_a_stated_street_wins_and_a_number_left_for_sms_is_passed_on(world: World) -> None:
    world.care.touch(SENIOR, phone="+8613812345678")
    world.opt_in(street="大场镇")
    world.opt_in(street="顾村镇")  # said again, elsewhere: the latest counts
    world.miss_the_day()
    assert world.sms(DACHANG) == []
    assert world.sms(GUCUN) == [
        "【银龄助手】顾村镇一位老人今天的每日平安问了两次都没有回音（12月7日）。"
        "老人留的电话 138 1234 5678。请打个电话或上门看看。工作人员也已收到。"
    ]


def test_no_known_street_tells_family_and_agents_only(world: World) -> None:
    world.opt_in()
    world.miss_the_day()
    assert world.apis.calls["sms"] == []
    with world.db.read() as conn:
        purposes = sorted(conn.execute(sa.select(outbox.c.purpose)).scalars())
    assert purposes == ["case", "checkin", "checkin"]


def test_deleting_my_data_removes_the_street(world: World, tmp_path: Path) -> None:
    world.opt_in(street="顾村镇")
    delete_everywhere(world.care, SENIOR, f"sqlite:///{tmp_path / 'staff.sqlite'}")
    with world.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(places)).scalar() == 0


def test_the_shipped_file_is_sample_data_only() -> None:
    shipped = GridWorkers.load(DEFAULT_FILE)
    assert shipped.entries and all(w.sample for w in shipped.entries)
    assert all(shipped.for_street(w.street) == [] for w in shipped.entries)
    assert CareSettings.from_env({}).grid == shipped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid_workers:\n  - {street: 浦东, name: x, phone: '139 0000 1001'}\n", r"grid_workers\[0\]\.street"),
        ("grid_workers:\n  - {street: 顾村镇, phone: '139 0000 1001'}\n", r"grid_workers\[0\]\.name: required"),
        ("grid_workers:\n  - {street: 顾村镇, name: x, phone: '021 5600 0101'}\n", r"\.phone: a mainland mobile"),
        ("grid_workers:\n  - {street: 顾村镇, name: x, phone: 'abc'}\n", r"\.phone: not a phone number"),
        ("grid_workers:\n  - {street: 顾村镇, name: x, phone: '139 0000 1001', tel: 1}\n", r"unknown key tel"),
        ("grid_workers:\n  - {street: 顾村镇, name: x, phone: '139 0000 1001', sample: maybe}\n", r"sample: true or"),
        ("workers: []\n", r"unknown key workers"),
        ("grid_workers: [\n", r"not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "grid.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CareConfigError, match=message):
        CareSettings.from_env({"CARE_GRID_WORKERS_FILE": str(path)})


def test_a_missing_file_is_refused() -> None:
    with pytest.raises(CareConfigError, match="cannot be read"):
        CareSettings.from_env({"CARE_GRID_WORKERS_FILE": "/nonexistent/grid.yml"})


def test_phone_words() -> None:
    assert phone_words("+8613912345678") == phone_words("13912345678") == "139 1234 5678"
    assert phone_words("021-56000101") == "021-56000101"


def _agreed_to_an_older_text(world: World, purpose: str) -> None:
    """As a consent given before consent texts were kept (or to an older text): no current wording recorded."""
    from care.db import consent_wordings

    with world.db.write() as conn:
        conn.execute(
            consent_wordings.delete().where(consent_wordings.c.address == SENIOR, consent_wordings.c.purpose == purpose)
        )


def test_a_check_in_consent_to_an_older_text_is_asked_again_once_and_the_grid_worker_waits(world: World) -> None:
    code = world.care.family_code(SON)
    world.care.give_consent(SENIOR, "family")
    world.care.family_confirm(SENIOR, code)
    world.opt_in(street="顾村镇")
    _agreed_to_an_older_text(world, "checkin")
    assert world.care.consent_state(SENIOR, "checkin") == "outdated"
    assert not world.care.has_consent(SENIOR, "checkin")
    world.miss_the_day()
    told = world.apis.texts("telegram", to="1101")
    assert [t for t in told if "说明有更新" in t] == [
        "【银龄助手】每日平安的说明有更新，请您再看一下。回“同意每日平安”看新的说明；不想每天问了回“不用每天问了”。"
        "每天的问候照常。"
    ]
    assert any(t.startswith("您好，今天还好吗") for t in told), "the day's question still goes out"
    # The older text named family and staff, not grid workers: family is told, the grid worker is not.
    assert len([t for t in world.apis.texts("telegram", to="2202") if MISSED in t]) == 1
    assert world.sms(GUCUN) == [] and world.sms(GUCUN_2) == []
    world.miss_the_day(day=8)
    assert len([t for t in world.apis.texts("telegram", to="1101") if "说明有更新" in t]) == 1, "asked once per text"
    # Agreed to the new text: the grid worker is told of the next missed day.
    world.care.give_consent(SENIOR, "checkin")
    assert world.care.consent_state(SENIOR, "checkin") == "current"
    world.miss_the_day(day=9)
    assert len(world.sms(GUCUN)) == 1 and "12月9日" in world.sms(GUCUN)[0]
