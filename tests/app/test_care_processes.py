"""Several processes on one database: two schedulers alert each contact once; a process killed with
SIGKILL between the commit and the send leaves a message that is sent exactly once after a restart."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookings.catalog import SHANGHAI
from care.db import CareDB
from care.outbox import Worker
from care.scheduler import Scheduler
from care.senders import Senders, TelegramSender
from care.service import Care
from scripts.stack import Stack, Supervisor
from staff.db import StaffDB
from staff.queue import Queue
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis

ROOT = Path(__file__).resolve().parents[2]
SENIOR, FAMILY = "telegram:7001", ("telegram:7002", "telegram:7003")
ALERT = "没有回音"


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with fake_apis() as server:
        yield server


def _missed_checkin(url: str, apis: FakeApis) -> dt.datetime:
    """A senior with two family members who did not answer at 08:00 nor at 08:30; the alert is due at 09:00."""
    clock = FakeClock(dt.datetime(2026, 12, 7, 7, 0, tzinfo=SHANGHAI))
    db = CareDB(url, clock=clock)
    care = Care(db)
    care.give_consent(SENIOR, "checkin")
    care.give_consent(SENIOR, "family")
    for family in FAMILY:
        care.family_confirm(SENIOR, care.family_code(family))
    care.checkin_optin(SENIOR, 8 * 60, street="顾村镇")
    scheduler = Scheduler(db)
    worker = Worker(db, Senders({"telegram:": TelegramSender("1:TEST", apis.telegram_base)}))
    for hour, minute in ((8, 0), (8, 30)):
        clock.set_local(2026, 12, 7, hour, minute)
        scheduler.run_once()
        worker.run_once()
    db.dispose()
    return dt.datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)


def _proc(
    mode: str,
    url: str,
    now: dt.datetime,
    apis: FakeApis,
    staff_url: str,
    go: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tests.app.care_proc", mode, url, now.isoformat(), apis.telegram_base, staff_url]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    return subprocess.Popen([*args, *([str(go)] if go else [])], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def _alerts(apis: FakeApis) -> dict[str, int]:
    return {f: sum(ALERT in t for t in apis.texts("telegram", to=f.removeprefix("telegram:"))) for f in FAMILY}


def _cases(staff_url: str) -> list[tuple[str, str, int]]:
    return [(h.conversation_id, h.reason, h.priority) for h in Queue(StaffDB(staff_url)).waiting()]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'care.sqlite'}"
    return str(request.getfixturevalue("pg_schema_url"))


def test_two_scheduler_processes_alert_each_contact_exactly_once(url: str, apis: FakeApis, tmp_path: Path) -> None:
    staff_url = f"sqlite:///{tmp_path / 'staff.sqlite'}"
    now = _missed_checkin(url, apis)
    assert _alerts(apis) == dict.fromkeys(FAMILY, 0)
    go = tmp_path / "go"
    # The senior named 顾村镇 at opt-in: its grid worker gets one SMS too (the sample entry none).
    grid = tmp_path / "grid.yml"
    grid.write_text(
        "grid_workers:\n"
        "  - {street: 顾村镇, name: 网格员甲, phone: '139 0000 7004'}\n"
        "  - {street: 顾村镇, name: 示例, phone: '139 0000 7005', sample: true}\n",
        encoding="utf-8",
    )
    env = {
        "CARE_GRID_WORKERS_FILE": str(grid),
        "SMS_GATEWAY_URL": f"{apis.url}/sms",
        "SMS_GATEWAY_TOKEN": "sms-test-token",
    }
    procs = [_proc("round", url, now, apis, staff_url, go, env) for _ in range(2)]
    go.touch()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _alerts(apis) == dict.fromkeys(FAMILY, 1)
    assert [ALERT in t for t in apis.texts("sms", to="+8613900007004")] == [True]
    assert apis.texts("sms", to="+8613900007005") == []
    assert sum(int(o.split("jobs=")[1].split()[0]) for o in outputs) >= 1
    assert _cases(staff_url) == [(SENIOR, "care", 0)]


@pytest.mark.parametrize("mode", ["commit-and-hang", "claim-and-hang"])
def test_sigkill_between_commit_and_send_sends_exactly_once_after_restart(
    mode: str, apis: FakeApis, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'care.sqlite'}"
    staff_url = f"sqlite:///{tmp_path / 'staff.sqlite'}"
    now = _missed_checkin(url, apis)
    if mode == "claim-and-hang":
        # The alert is committed by a scheduler first; the worker then dies holding its lease.
        committing = _proc("commit-and-hang", url, now, apis, staff_url)
        assert committing.stdout is not None and committing.stdout.readline().startswith("committed jobs=1")
        committing.send_signal(signal.SIGKILL)
        committing.wait()
    victim = _proc(mode, url, now, apis, staff_url)
    assert victim.stdout is not None
    said = victim.stdout.readline()
    assert said.startswith("committed jobs=1") or said.startswith("claimed=True"), said
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert _alerts(apis) == dict.fromkeys(FAMILY, 0), "killed before sending"

    if mode == "claim-and-hang":
        # Its lease still holds: a restarted worker leaves that one message alone until it expires.
        go = tmp_path / "go-early"
        go.touch()
        early = _proc("round", url, now, apis, staff_url, go)
        assert early.wait(timeout=120) == 0
        assert sum(_alerts(apis).values()) == 1, "the other family member's alert was not leased"
        now += dt.timedelta(seconds=61)
    go = tmp_path / "go"
    go.touch()
    for _ in range(2):  # restarted, and then once more: nothing is sent twice
        restarted = _proc("round", url, now, apis, staff_url, go)
        assert restarted.wait(timeout=120) == 0
    assert _alerts(apis) == dict.fromkeys(FAMILY, 1)
    assert _cases(staff_url) == [(SENIOR, "care", 0)]


def _wait_for_log(path: Path, text: str, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(encoding="utf-8", errors="replace").count(text) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} ×{count} not in {path.name} within {timeout} s")


def test_make_run_supervises_the_care_process_and_restarts_it_after_sigkill(tmp_path: Path) -> None:
    stack = Stack(
        model=tmp_path / "unused.tar.gz",
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        extra_env={
            "BOOKINGS_DATABASE_URL": f"sqlite:///{tmp_path / 'bookings.sqlite'}",
            "STAFF_DATABASE_URL": f"sqlite:///{tmp_path / 'staff.sqlite'}",
            "CARE_POLL_SECONDS": "0.2",
        },
    )
    log = tmp_path / "logs" / "care.log"
    try:
        stack.start_care()
        _wait_for_log(log, "Care scheduler and worker started")
        first = stack.processes["care"]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        now = [0.0]
        supervisor = Supervisor(stack, clock=lambda: now[0])
        assert "the care server stopped" in supervisor.check()[0]
        now[0] = 1.0
        assert "restarted the care server" in supervisor.check()[0]
        _wait_for_log(log, "Care scheduler and worker started", count=2)
        assert stack.processes["care"].poll() is None and stack.processes["care"].pid != first.pid
    finally:
        stack.stop()
