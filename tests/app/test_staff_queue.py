"""The handoff queue, callback tickets and working hours — on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from knowledge_base.store import KBStore
from staff.accounts import Accounts
from staff.db import StaffDB, events, handoffs
from staff.errors import Conflict, StaffConfigError
from staff.hours import SHANGHAI, WorkingHours, when_phrase
from staff.queue import Queue, channel_of
from tests.app.staff_support import PASSWORD, settings_for


@pytest.fixture(params=["sqlite", "postgresql"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'staff.sqlite'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    db = StaffDB(url)
    yield Queue(db)
    db.dispose()


def _agent(queue: Queue, name: str) -> int:
    settings = settings_for(Path("/nonexistent"))
    return Accounts(queue.db, settings).create_user(name, PASSWORD, "agent").id


def test_the_queue_is_ordered_by_priority_then_waiting_time(queue: Queue) -> None:
    first, _ = queue.open_handoff("web-a", "webchat", "misunderstood")
    second, _ = queue.open_handoff("wechat:o1", "wechat", "asked")
    third, _ = queue.open_handoff("telegram:7", "telegram", "emergency")
    fourth, _ = queue.open_handoff("web-b", "webchat", "asked")
    assert [h.id for h in queue.waiting()] == [third.id, second.id, fourth.id, first.id]
    assert queue.waiting_ahead(third) == 0 and queue.waiting_ahead(fourth) == 2
    # Asking again does not queue twice; a more urgent reason moves the conversation up.
    again, created = queue.open_handoff("web-a", "webchat", "scam")
    assert not created and again.id == first.id and again.priority == 1
    assert [h.id for h in queue.waiting()] == [third.id, first.id, second.id, fourth.id]
    assert queue.open_handoff("web-a", "webchat", "misunderstood")[0].priority == 1, "never lowered"


def test_two_agents_claiming_at_once_get_one_winner(queue: Queue) -> None:
    handoff, _ = queue.open_handoff("web-race", "webchat", "asked")
    agents = [_agent(queue, f"agent{i}") for i in range(8)]
    results: list[str] = []
    barrier = threading.Barrier(len(agents))

    def claim(agent: int) -> None:
        barrier.wait()
        try:
            queue.claim(handoff.id, agent)
            results.append("won")
        except Conflict:
            results.append("lost")

    threads = [threading.Thread(target=claim, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert queue.get(handoff.id).status == "claimed"


def test_transfer_and_close_need_the_claim(queue: Queue) -> None:
    a, b = _agent(queue, "zhang"), _agent(queue, "li")
    handoff, _ = queue.open_handoff("web-t", "webchat", "asked")
    queue.claim(handoff.id, a)
    with pytest.raises(Conflict):
        queue.transfer(handoff.id, b, a)  # b does not hold it
    moved = queue.transfer(handoff.id, a, b)
    assert moved.claimed_by == b and [h.id for h in queue.claimed_by(b)] == [handoff.id]
    with pytest.raises(Conflict):
        queue.close(handoff.id, "handed_back", by_user=a)
    assert queue.close(handoff.id, "handed_back", by_user=b).status == "closed"
    # A closed conversation may be handed over again later: a new handoff.
    again, created = queue.open_handoff("web-t", "webchat", "asked")
    assert created and again.id != handoff.id


def test_unclaimed_conversations_become_callback_tickets_exactly_once(queue: Queue) -> None:
    old, _ = queue.open_handoff("wechat:old", "wechat", "scam")
    fresh, _ = queue.open_handoff("web-fresh", "webchat", "asked")
    with queue.db.write() as conn:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == old.id)
            .values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=11))
        )
    due = dt.datetime(2030, 1, 7, 8, 30, tzinfo=SHANGHAI)
    expired = queue.expire_unclaimed(dt.timedelta(minutes=10), due)
    assert [(h.id, t.conversation_id, t.reason, t.phone) for h, t in expired] == [(old.id, "wechat:old", "scam", None)]
    assert queue.expire_unclaimed(dt.timedelta(minutes=10), due) == [], "a second pass (another process) does nothing"
    assert queue.get(old.id).close_reason == "unclaimed_pending" and queue.get(fresh.id).status == "waiting"
    assert [t.due_at for t in queue.open_tickets()] == [due]
    # Until the bot is resumed in Rasa, the handoff stays pending (a Rasa outage is retried).
    assert [h.id for h in queue.pending_resumes()] == [old.id]
    assert queue.resumed(old.id) and not queue.resumed(old.id), "recorded once"
    assert queue.pending_resumes() == [] and queue.get(old.id).close_reason == "unclaimed"


def test_every_change_reaches_the_outbox(queue: Queue) -> None:
    agent = _agent(queue, "wang")
    handoff, _ = queue.open_handoff("web-o", "webchat", "asked")
    queue.claim(handoff.id, agent)
    queue.senior_wrote("web-o", emergency=True)
    ticket = queue.create_ticket("web-o", "webchat", "asked", dt.datetime.now(dt.timezone.utc), phone="+8613912345678")
    with queue.db.read() as conn:
        rows = conn.execute(
            sa.select(events.c.kind, events.c.handoff_id, events.c.ticket_id).order_by(events.c.seq)
        ).all()
    assert [(r.kind, r.handoff_id, r.ticket_id) for r in rows] == [
        ("handoff", handoff.id, None),
        ("handoff", handoff.id, None),
        ("message", handoff.id, None),
        ("ticket", None, ticket.id),
    ]
    assert queue.get(handoff.id).priority == 0, "an emergency while waiting moves to the front"


def test_agents_online_follows_heartbeats(queue: Queue) -> None:
    agent = _agent(queue, "zhao")
    assert queue.agents_online(60) == 0
    queue.heartbeat(agent)
    queue.heartbeat(agent)
    assert queue.agents_online(60) == 1
    queue.went_away(agent)
    assert queue.agents_online(60) == 0


def test_channel_of_a_conversation() -> None:
    assert channel_of("wechat:oAbc") == "wechat"
    assert channel_of("telegram:123") == "telegram"
    assert channel_of("web-" + "a" * 32) == "webchat"
    assert channel_of("e2e-1234", "rest") == "rest"
    assert channel_of("x", "webchat") == "webchat"


# -- working hours ---------------------------------------------------------------------------------


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2030, 1, day, hour, minute, tzinfo=SHANGHAI)  # 2030-01-07 is a Monday


def test_working_hours_open_close_and_the_next_shift() -> None:
    hours = WorkingHours.parse("mon-fri 08:30-17:30; sat 09:00-12:00")
    assert hours.is_open(_at(7, 8, 30)) and not hours.is_open(_at(7, 17, 30)) and not hours.is_open(_at(7, 8, 29))
    assert hours.next_opening(_at(7, 18)) == _at(8, 8, 30)  # Monday evening → Tuesday morning
    assert hours.next_opening(_at(11, 18)) == _at(12, 9)  # Friday evening → Saturday 9:00
    assert hours.next_opening(_at(12, 13)) == _at(14, 8, 30)  # Saturday afternoon → Monday
    assert hours.next_opening(_at(9, 10)) == _at(9, 10)  # open now
    # UTC input, Shanghai meaning: 01:00 UTC is 09:00 in Shanghai.
    assert hours.is_open(dt.datetime(2030, 1, 7, 1, 0, tzinfo=dt.timezone.utc))
    assert hours.describe() == "周一到周五 8:30-17:30，周六 9:00-12:00"
    assert WorkingHours.parse("daily 00:00-24:00").is_open(_at(13, 3))
    assert when_phrase(_at(8, 8, 30), _at(7, 18)) == "明天上午"
    assert when_phrase(_at(14, 8, 30), _at(11, 18)) == "周一上午"
    assert when_phrase(_at(7, 14), _at(7, 13)) == "今天下午"


@pytest.mark.parametrize(
    "raw", ["mon-fri 8:30-17:30", "weekdays 08:30-17:30", "mon 17:00-09:00", "mon 08:00-25:00", ";"]
)
def test_malformed_working_hours_say_what_to_write(raw: str) -> None:
    with pytest.raises(StaffConfigError) as err:
        WorkingHours.parse(raw)
    assert "STAFF_WORKING_HOURS" in str(err.value) and isinstance(err.value, ValueError)


def test_a_rasa_outage_when_a_handoff_expires_is_retried_not_forgotten(tmp_path: Path) -> None:
    import asyncio

    from scripts.stack import free_port
    from staff.app import create_app, expire_unclaimed

    settings = settings_for(tmp_path, STAFF_RASA_URL=f"http://127.0.0.1:{free_port()}")  # nobody listens there
    app = create_app(settings, kb=KBStore(f"sqlite:///{tmp_path / 'kb.sqlite'}"), background=False)
    staff = app.state.staff
    handoff, _ = staff.queue.open_handoff("web-outage", "webchat", "asked")
    with staff.db.write() as conn:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == handoff.id)
            .values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30))
        )
    assert asyncio.run(expire_unclaimed(staff)) == 0
    assert [h.id for h in staff.queue.pending_resumes()] == [handoff.id], "kept for the next try"
    assert [t.conversation_id for t in staff.queue.open_tickets()] == ["web-outage"]
    assert asyncio.run(expire_unclaimed(staff)) == 0 and len(staff.queue.open_tickets()) == 1, "one ticket only"
