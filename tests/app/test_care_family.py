"""Family links (one-time code, parent's consent and confirmation, unlink from either side), what family
may see, emergency escalation, and 删除我的信息 across stores with an audit that keeps only the fact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from care.db import CareDB, audit, checkins, consent_wordings, consents, contacts, family_links, jobs, outbox
from care.errors import ConsentRequired
from care.outbox import Worker
from care.privacy import delete_everywhere
from care.scheduler import attach_reminders
from care.senders import Senders, StaffCaseSender, TelegramSender
from care.service import BadLinkCode, Care
from staff.db import StaffDB
from staff.queue import Queue
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis

MUM, SON, OTHER = "wechat:oMum", "telegram:5005", "telegram:6006"


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with fake_apis() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[BookingStore]:
    bookings = BookingStore(f"sqlite:///{tmp_path / 'bookings.sqlite'}", clock=clock)
    bookings.ensure_schedule(dt.date(2026, 12, 7), days=5)
    attach_reminders(bookings)
    yield bookings
    bookings.dispose()


@pytest.fixture
def care(store: BookingStore, clock: FakeClock) -> Iterator[Care]:
    db = CareDB(store.url, clock=clock)
    yield Care(db)
    db.dispose()


def _worker(care: Care, apis: FakeApis, staff_url: str) -> Worker:
    senders = Senders({"telegram:": TelegramSender("1:T", apis.telegram_base), "staff:": StaffCaseSender(staff_url)})
    return Worker(care.db, senders)


def test_a_code_links_only_after_the_parent_consents_and_confirms(care: Care, apis: FakeApis, tmp_path: Path) -> None:
    code = care.family_code(SON)
    assert len(code) == 6 and code.isdigit()
    with pytest.raises(ConsentRequired):
        care.family_confirm(MUM, code)
    assert care.family(MUM) == [], "nothing stored before consent"
    care.give_consent(MUM, "family")
    with pytest.raises(BadLinkCode):
        care.family_confirm(MUM, "000000")
    link = care.family_confirm(MUM, f"{code[:3]} {code[3:]}")
    assert (link.senior, link.family) == (MUM, SON) and care.family(MUM) == [SON]
    with pytest.raises(BadLinkCode):
        care.family_confirm(MUM, code)  # one time only
    _worker(care, apis, f"sqlite:///{tmp_path / 'staff.sqlite'}").run_once()
    assert apis.texts("telegram", to="5005") == [
        "绑定好了。您能看到家人的预约，也能替家人预约、取消或改时间，会收到预约提醒和每日平安的消息，看不到聊天内容。说“解除绑定”可以取消。"
    ]
    with care.db.read() as conn:
        hashes = conn.execute(sa.select(family_links.c.code_hash)).scalars().all()
    assert code not in str(hashes), "the code itself is never stored"


def test_codes_expire_and_a_new_code_replaces_the_old(care: Care, clock: FakeClock) -> None:
    care.give_consent(MUM, "family")
    old = care.family_code(SON)
    new = care.family_code(SON)
    with pytest.raises(BadLinkCode):
        care.family_confirm(MUM, old)
    clock.advance(minutes=31)
    with pytest.raises(BadLinkCode):
        care.family_confirm(MUM, new)


def test_family_sees_bookings_and_either_side_can_unlink(
    care: Care, store: BookingStore, apis: FakeApis, tmp_path: Path
) -> None:
    care.give_consent(MUM, "family")
    care.family_confirm(MUM, care.family_code(SON))
    start = dt.datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)
    slot = store.find_slots("bath", start, start + dt.timedelta(hours=1))[0]
    booking = store.book(slot.id, MUM, "李阿婆", "13900001111")
    assert [b.code for b in care.bookings_for_family(SON, store)[MUM]] == [booking.code]
    assert care.bookings_for_family(OTHER, store) == {}
    assert care.unlink(SON) == 1 and care.family(MUM) == []
    care.family_confirm(MUM, care.family_code(SON))
    assert care.unlink(MUM) == 1 and care.bookings_for_family(SON, store) == {}
    with care.db.read() as conn:
        told = conn.execute(sa.select(outbox.c.recipient).where(outbox.c.purpose == "link")).scalars().all()
    assert sorted(told) == sorted([SON, MUM, SON, SON]), "linked ×2 to the son; unlinked: the other side each time"


def test_an_emergency_tells_family_and_flags_a_top_case_once(care: Care, apis: FakeApis, tmp_path: Path) -> None:
    staff_url = f"sqlite:///{tmp_path / 'staff.sqlite'}"
    care.give_consent(MUM, "family")
    care.family_confirm(MUM, care.family_code(SON))
    care.emergency(MUM, "wechat:oMum|msg-1")
    care.emergency(MUM, "wechat:oMum|msg-1")  # redelivered
    _worker(care, apis, staff_url).run_once()
    assert [t for t in apis.texts("telegram", to="5005") if "紧急" in t] == [
        "【银龄助手】紧急：您家人刚才说遇到了危急情况，已提醒拨打 120，工作人员也已收到。请马上联系。"
    ]
    waiting = Queue(StaffDB(staff_url)).waiting()
    assert [(h.conversation_id, h.reason, h.priority, h.channel) for h in waiting] == [(MUM, "care", 0, "wechat")]


def test_deleting_my_data_removes_it_from_every_store_and_keeps_only_the_fact(
    care: Care, store: BookingStore, tmp_path: Path
) -> None:
    staff_url = f"sqlite:///{tmp_path / 'staff.sqlite'}"
    care.give_consent(MUM, "family")
    care.give_consent(MUM, "checkin")
    care.family_confirm(MUM, care.family_code(SON))
    care.checkin_optin(MUM, 9 * 60)
    care.touch(MUM, phone="+8613900001111")
    start = dt.datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)
    slot = store.find_slots("bath", start, start + dt.timedelta(hours=1))[0]
    store.book(slot.id, MUM, "李阿婆", "13900001111")
    kept = store.book(slot.id, OTHER, "张老伯", "13900002222")
    queue = Queue(StaffDB(staff_url))
    queue.create_ticket(MUM, "wechat", "asked", dt.datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI), phone="+8613900001111")
    queue.open_handoff(MUM, "wechat", "asked")
    queue.open_handoff(OTHER, "telegram", "asked")

    counts = delete_everywhere(care, MUM, staff_url)
    assert counts["bookings"] == 1 and counts["tickets"] == 1 and counts["handoffs"] == 1
    assert store.list_for_user(MUM) == [] and [b.code for b in store.list_for_user(OTHER)] == [kept.code]
    with care.db.read() as conn:
        for table, column in (
            (contacts, contacts.c.address),
            (consents, consents.c.address),
            (consent_wordings, consent_wordings.c.address),
            (checkins, checkins.c.senior),
            (jobs, jobs.c.subject),
        ):
            assert conn.execute(sa.select(sa.func.count()).select_from(table).where(column == MUM)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(family_links)).scalar() == 0
        mentions = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(sa.or_(outbox.c.about == MUM, outbox.c.recipient.contains("oMum")))
        ).scalar()
        assert mentions == 0
        rows = conn.execute(sa.select(audit)).all()
    assert [(r.kind,) for r in rows] == [("personal_data_deleted",)] and set(rows[0]._mapping) == {"id", "at", "kind"}
    assert queue.open_tickets() == [] and [h.conversation_id for h in queue.waiting()] == [OTHER]
