"""The care outbox and its senders: transactional writes, retries with backoff, leases, channel rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from care.db import CareDB, contacts, outbox
from care.outbox import FAILED, PENDING, SENT, RetryPolicy, Worker, enqueue
from care.senders import Senders, SmsSender, TelegramSender, WeChatSender
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def db(tmp_path: Path, clock: FakeClock) -> Iterator[CareDB]:
    care_db = CareDB(f"sqlite:///{tmp_path / 'care.sqlite'}", clock=clock)
    yield care_db
    care_db.dispose()


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with fake_apis() as server:
        yield server


def _senders(apis: FakeApis, template: str | None = None) -> Senders:
    sms = SmsSender(f"{apis.url}/sms", "sms-test-token")
    return Senders(
        {
            "telegram:": TelegramSender("123:TEST", apis.telegram_base),
            "sms:": sms,
            "wechat:": WeChatSender("wxapp", "secret", apis.url, template_id=template, sms=sms),
        }
    )


def _put(db: CareDB, recipient: str, key: str, text: str = "您好，今天还好吗？") -> None:
    with db.write() as conn:
        enqueue(conn, recipient=recipient, purpose="checkin", text=text, dedupe_key=key, now=db.now())


def _row(db: CareDB, key: str) -> sa.Row[Any]:
    with db.read() as conn:
        return conn.execute(sa.select(outbox).where(outbox.c.dedupe_key == key)).one()


def test_a_message_exists_exactly_when_its_transaction_committed(db: CareDB, apis: FakeApis) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        enqueue(conn, recipient="telegram:1", purpose="alert", text="不该发出", dedupe_key="rolled-back", now=db.now())
        raise RuntimeError("the state change failed")
    _put(db, "telegram:2", "committed")
    _put(db, "telegram:2", "committed", text="重复写入")  # the same key writes nothing
    assert Worker(db, _senders(apis)).run_once() == 1
    assert apis.texts("telegram") == ["您好，今天还好吗？"]


def test_failures_back_off_exponentially_then_the_message_is_sent_once(
    db: CareDB, apis: FakeApis, clock: FakeClock
) -> None:
    apis.fail("telegram", 2, status=502)
    worker = Worker(db, _senders(apis), RetryPolicy(max_attempts=5, base_seconds=30))
    _put(db, "telegram:7", "k")
    assert worker.run_once() == 0
    row = _row(db, "k")
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "telegram_502")
    assert row.next_attempt_at == clock() + dt.timedelta(seconds=30)
    clock.advance(seconds=29)
    assert worker.run_once() == 0 and _row(db, "k").attempts == 1, "not due yet: not tried"
    clock.advance(seconds=1)
    assert worker.run_once() == 0
    assert _row(db, "k").next_attempt_at == clock() + dt.timedelta(seconds=60), "the second wait doubles"
    clock.advance(seconds=60)
    assert worker.run_once() == 1
    assert _row(db, "k").status == SENT and apis.texts("telegram") == ["您好，今天还好吗？"]
    clock.advance(hours=2)
    assert worker.run_once() == 0 and len(apis.calls["telegram"]) == 1


def test_retry_after_from_the_platform_is_respected(db: CareDB, apis: FakeApis, clock: FakeClock) -> None:
    apis.fail("telegram", 1, status=429, body={"ok": False, "parameters": {"retry_after": 300}})
    worker = Worker(db, _senders(apis))
    _put(db, "telegram:7", "k")
    worker.run_once()
    assert _row(db, "k").next_attempt_at == clock() + dt.timedelta(seconds=300)


def test_a_blocked_chat_is_not_retried_and_the_last_attempt_gives_up(
    db: CareDB, apis: FakeApis, clock: FakeClock
) -> None:
    apis.fail("telegram", 1, status=403, body={"ok": False, "description": "Forbidden: bot was blocked by the user"})
    worker = Worker(db, _senders(apis), RetryPolicy(max_attempts=2, base_seconds=1))
    _put(db, "telegram:8", "blocked")
    worker.run_once()
    assert (_row(db, "blocked").status, _row(db, "blocked").last_error) == (FAILED, "telegram_403")
    apis.fail("telegram", 5, status=500)
    _put(db, "telegram:9", "flaky")
    worker.run_once()
    clock.advance(seconds=5)
    worker.run_once()
    assert (_row(db, "flaky").status, _row(db, "flaky").attempts) == (FAILED, 2)
    clock.advance(hours=5)
    assert worker.run_once() == 0 and apis.calls["telegram"] == []


def test_a_lease_keeps_other_workers_off_until_it_expires(db: CareDB, apis: FakeApis, clock: FakeClock) -> None:
    first = Worker(db, _senders(apis), owner="first", lease=dt.timedelta(seconds=60))
    second = Worker(db, _senders(apis), owner="second")
    _put(db, "telegram:3", "k")
    message_id = int(_row(db, "k").id)
    assert first.claim(message_id) is not None
    assert second.claim(message_id) is None and second.run_once() == 0
    clock.advance(seconds=61)  # the first worker died holding it
    assert second.run_once() == 1
    assert _row(db, "k").status == SENT and len(apis.calls["telegram"]) == 1


def _contact(db: CareDB, address: str, last_inbound: dt.datetime, phone: str | None = None) -> None:
    with db.write() as conn:
        conn.execute(
            contacts.insert().values(address=address, phone=phone, last_inbound_at=last_inbound, created_at=db.now())
        )


def test_wechat_inside_48_hours_uses_customer_service_messages(db: CareDB, apis: FakeApis, clock: FakeClock) -> None:
    _contact(db, "wechat:oA", clock() - dt.timedelta(hours=47))
    _put(db, "wechat:oA", "k")
    assert Worker(db, _senders(apis)).run_once() == 1
    assert apis.calls["wechat"][0]["touser"] == "oA" and apis.texts("wechat") == ["您好，今天还好吗？"]
    assert _row(db, "k").via == "wechat"


def test_wechat_outside_48_hours_falls_back_to_template_then_sms_then_gives_up(
    db: CareDB, apis: FakeApis, clock: FakeClock
) -> None:
    old = clock() - dt.timedelta(hours=49)
    _contact(db, "wechat:oT", old)
    _contact(db, "wechat:oS", old, phone="+8613912345678")
    _contact(db, "wechat:oN", old)
    _put(db, "wechat:oT", "template")
    Worker(db, _senders(apis, template="TPL-1")).run_once()
    assert apis.calls["template"][0]["template_id"] == "TPL-1" and _row(db, "template").via == "wechat_template"
    _put(db, "wechat:oS", "sms")
    _put(db, "wechat:oN", "nothing")
    Worker(db, _senders(apis)).run_once()
    assert (
        apis.calls["sms"] == [{"to": "+8613912345678", "text": "您好，今天还好吗？"}] and _row(db, "sms").via == "sms"
    )
    assert (_row(db, "nothing").status, _row(db, "nothing").last_error) == (FAILED, "wechat_window")
    assert apis.calls["wechat"] == [], "no customer-service message outside the window"


def test_wechat_45015_inside_the_window_is_treated_as_outside(db: CareDB, apis: FakeApis, clock: FakeClock) -> None:
    _contact(db, "wechat:oW", clock() - dt.timedelta(hours=1), phone="+8613912345678")
    apis.fail("wechat", 1, status=200, body={"errcode": 45015, "errmsg": "response out of time limit"})
    _put(db, "wechat:oW", "k")
    assert Worker(db, _senders(apis)).run_once() == 1
    assert _row(db, "k").via == "sms"


def test_sms_gateway_retries_server_errors_and_refuses_a_wrong_token(
    db: CareDB, apis: FakeApis, clock: FakeClock
) -> None:
    apis.fail("sms", 1, status=503)
    _put(db, "sms:+8613811112222", "k")
    worker = Worker(db, _senders(apis), RetryPolicy(base_seconds=10))
    worker.run_once()
    clock.advance(seconds=10)
    worker.run_once()
    assert apis.calls["sms"] == [{"to": "+8613811112222", "text": "您好，今天还好吗？"}]
    wrong = Senders({"sms:": SmsSender(f"{apis.url}/sms", "wrong")})
    _put(db, "sms:+8613811113333", "denied")
    Worker(db, wrong).run_once()
    assert (_row(db, "denied").status, _row(db, "denied").last_error) == (FAILED, "sms_401")


def test_an_address_without_a_configured_sender_fails_with_its_reason(db: CareDB) -> None:
    _put(db, "telegram:1", "k")
    Worker(db, Senders({})).run_once()
    assert (_row(db, "k").status, _row(db, "k").last_error) == (FAILED, "no_sender")


def test_senders_from_env_serve_only_configured_channels(apis: FakeApis) -> None:
    senders = Senders.from_env({"TELEGRAM_TOKEN": "1:x", "TELEGRAM_API_BASE_URL": apis.telegram_base})
    assert senders.for_address("telegram:5") is not None
    assert senders.for_address("wechat:o") is None and senders.for_address("web-abc") is None
    assert senders.for_address("staff:telegram:5") is not None
