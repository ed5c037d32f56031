"""Call assist: knowledge-base search for what the caller says, and booking on the caller's behalf."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore
from staff.assist import Assist, message_for_senior, spoken
from staff.db import StaffDB, agent_bookings, audit
from staff.queue import Queue
from tests.app.staff_support import Served, login, make_user, serve, settings_for


@pytest.fixture(scope="module")
def assist(tmp_path_factory: pytest.TempPathFactory) -> Assist:
    store = KBStore(f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.sqlite'}")
    store.seed_if_empty(builtin_entries())
    return Assist(store)


@pytest.mark.parametrize(
    ("said", "prefix"),
    [
        ("长护险哪能申请", ("ins-ltci", "svc-changhuxian")),  # Shanghainese 哪能 = 怎么
        ("阿拉老头子想立个遗嘱要带点啥", ("law-will",)),
        ("章护险怎么申请啊", ("ins-ltci", "svc-changhuxian")),  # voice input: 章 for 长
    ],
)
def test_what_the_caller_says_finds_the_entry(assist: Assist, said: str, prefix: tuple[str, ...]) -> None:
    hits = assist.search(said)
    assert 1 <= len(hits) <= 3
    assert hits[0]["id"].startswith(prefix), [h["id"] for h in hits]
    assert hits[0]["score"] >= hits[-1]["score"]


def test_each_hit_has_the_short_answer_the_checklist_a_spoken_version_and_the_source(assist: Assist) -> None:
    hit = assist.search("遗嘱公证要带啥")[0]
    entry = assist.entry(hit["id"])
    assert hit["answer"] == entry.answer and hit["checklist"] == entry.fields["documents"]
    assert hit["spoken"].startswith(entry.answer.rstrip("。")) and "要带的东西有：" in hit["spoken"]
    assert "1." not in hit["spoken"] and "\n" not in hit["spoken"], "read out in whole sentences"
    assert hit["id"] and hit["title"] == entry.title
    message = message_for_senior(entry)
    assert message.startswith("【工作人员发给您】\n" + entry.answer) and entry.id not in message, "no internal id"


def test_sample_entries_say_so_when_read_out(assist: Assist) -> None:
    sample = next(e for e in builtin_entries() if e.sample)
    assert "示例" in spoken(sample)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Served, BookingStore]]:
    settings = settings_for(tmp_path)
    make_user(settings, "wang", "agent")
    bookings = BookingStore(f"sqlite:///{tmp_path / 'bookings.sqlite'}")
    bookings.ensure_schedule(dt.datetime.now(SHANGHAI).date())
    with serve(settings, bookings=bookings) as running:
        yield running, bookings


def _free_slot(bookings: BookingStore, client: httpx.Client) -> dict[str, Any]:
    service = client.get("/api/bookings/services").json()[0]["code"]
    for days in range(2, 12):
        day = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=days)).date()
        slots = client.get("/api/bookings/slots", params={"service": service, "day": day.isoformat()}).json()
        if slots:
            return dict(slots[0])
    raise AssertionError("no free slot in the sample schedule")


def test_booking_on_the_callers_behalf(desk: tuple[Served, BookingStore]) -> None:
    served, bookings = desk
    queue = Queue(StaffDB(served.settings.database_url))
    ticket = queue.create_ticket("wechat:oCaller", "wechat", "asked", dt.datetime.now(dt.UTC), "+8613912345678")
    agent, csrf = login(served.url, "wang")
    agent.headers["X-CSRF-Token"] = csrf
    slot = _free_slot(bookings, agent)
    form = {
        "slot_id": slot["id"],
        "contact_name": "张阿姨",
        "phone": "１３９ １２３４ ５６７８",
        "notes": "坐轮椅",
        "caller_agreed": False,
        "request_id": "req-0001-abcdef",
    }
    refused = agent.post(f"/api/tickets/{ticket.id}/bookings", json=form)
    assert refused.status_code == 422 and "agreed" in refused.text
    assert bookings.list_for_user("wechat:oCaller") == []
    made = agent.post(f"/api/tickets/{ticket.id}/bookings", json=form | {"caller_agreed": True})
    assert made.status_code == 200, made.text
    again = agent.post(f"/api/tickets/{ticket.id}/bookings", json=form | {"caller_agreed": True})
    assert again.json()["code"] == made.json()["code"] and again.json()["created"] is False, "a retry books once"
    booked = bookings.list_for_user("wechat:oCaller")
    assert [b.code for b in booked] == [made.json()["code"].replace(" ", "")]
    assert booked[0].phone == "13912345678" and booked[0].contact_name == "张阿姨"
    with StaffDB(served.settings.database_url).read() as conn:
        made_by = conn.execute(sa.select(agent_bookings)).all()
        audited = conn.execute(sa.select(audit.c.action, audit.c.target).where(audit.c.action == "booking")).all()
    assert [(r.conversation_id, r.caller_agreed) for r in made_by] == [("wechat:oCaller", True)]
    assert [a.target for a in audited] == [booked[0].code]
    bad_phone = agent.post(
        f"/api/tickets/{ticket.id}/bookings",
        json=form | {"caller_agreed": True, "phone": "12345", "request_id": "req-0002-abcdef"},
    )
    assert bad_phone.status_code == 422
    nowhere = agent.post(
        f"/api/tickets/{ticket.id}/bookings",
        json=form | {"caller_agreed": True, "slot_id": 10**8, "request_id": "req-0003-abcdef"},
    )
    assert nowhere.status_code == 404


def test_a_full_slot_is_refused_and_nothing_is_double_booked(desk: tuple[Served, BookingStore]) -> None:
    served, bookings = desk
    queue = Queue(StaffDB(served.settings.database_url))
    ticket = queue.create_ticket("web-" + "a" * 32, "webchat", "asked", dt.datetime.now(dt.UTC))
    agent, csrf = login(served.url, "wang")
    agent.headers["X-CSRF-Token"] = csrf
    slot = _free_slot(bookings, agent)
    codes, statuses = [], []
    for i in range(slot["free"] + 1):
        answer = agent.post(
            f"/api/tickets/{ticket.id}/bookings",
            json={
                "slot_id": slot["id"],
                "contact_name": f"老人{i}",
                "phone": "13912345678",
                "caller_agreed": True,
                "request_id": f"req-full-{i:04d}",
            },
        )
        statuses.append(answer.status_code)
        codes.append(answer.json().get("code"))
    assert statuses[:-1] == [200] * slot["free"] and statuses[-1] == 409
    assert len(set(codes[:-1])) == slot["free"]
    assert bookings.slot(slot["id"]).free == 0


def test_search_needs_a_login_and_refuses_empty_or_huge_queries(desk: tuple[Served, BookingStore]) -> None:
    served, _ = desk
    assert httpx.get(f"{served.url}/api/assist/search", params={"q": "长护险"}).status_code == 401
    agent, _ = login(served.url, "wang")
    assert agent.get("/api/assist/search", params={"q": ""}).status_code == 422
    assert agent.get("/api/assist/search", params={"q": "长" * 501}).status_code == 422
    hits = agent.get("/api/assist/search", params={"q": "长护险哪能申请\u202e"}).json()["hits"]
    assert 1 <= len(hits) <= 3 and {"answer", "checklist", "spoken", "id", "score"} <= set(hits[0])
