"""Handoffs (the agents' queue), callback tickets and agent presence, in the staff database.

The bot's handoff action (action server) opens handoffs and tickets; the staff app claims,
transfers and closes them. Every change is one transaction that also appends to the
``staff_events`` outbox, so every staff process sees it. Claims are compare-and-set updates
(``WHERE status = 'waiting'``): two agents pressing 认领 at once get one winner and one 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from staff.db import OPEN_STATUSES, StaffDB, emit, handoffs, now, presence, tickets, users
from staff.errors import Conflict, InvalidInput, NotFound

# Lower is more urgent; the queue is ordered by priority, then by waiting time. "care": a senior who
# did not answer the daily check-in, or an emergency escalated by proactive care (care/), is as
# urgent as an emergency.
PRIORITY = {"emergency": 0, "care": 0, "scam": 1, "asked": 2, "complaint": 2, "misunderstood": 3}
CHANNELS = ("webchat", "wechat", "telegram", "rest")
PENDING_RESUME = "unclaimed_pending"


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    channel: str
    priority: int
    reason: str
    status: str
    created_at: dt.datetime
    claimed_by: int | None
    claimed_at: dt.datetime | None
    closed_at: dt.datetime | None
    close_reason: str | None
    last_senior_at: dt.datetime | None

    def public(self, agent_names: Mapping[int, str] | None = None) -> dict[str, Any]:
        names = agent_names or {}
        return {
            "id": self.id,
            "channel": self.channel,
            "priority": self.priority,
            "reason": self.reason,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "claimed_by": names.get(self.claimed_by, None) if self.claimed_by else None,
            "claimed_by_id": self.claimed_by,
            "close_reason": self.close_reason,
            "last_senior_at": self.last_senior_at.isoformat() if self.last_senior_at else None,
        }


@dataclass(frozen=True)
class Ticket:
    id: int
    conversation_id: str
    channel: str
    phone: str | None
    priority: int
    reason: str
    status: str
    due_at: dt.datetime
    created_at: dt.datetime
    handoff_id: int | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "phone": self.phone,
            "priority": self.priority,
            "reason": self.reason,
            "status": self.status,
            "due_at": self.due_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "handoff_id": self.handoff_id,
        }


def _handoff(row: Any) -> Handoff:
    return Handoff(**{k: row._mapping[k] for k in Handoff.__dataclass_fields__})


def _ticket(row: Any) -> Ticket:
    return Ticket(**{k: row._mapping[k] for k in Ticket.__dataclass_fields__})


def channel_of(conversation_id: str, latest_input_channel: str | None = None) -> str:
    """The channel a conversation lives on, from its id's prefix (web chat ids start with web-)."""
    if conversation_id.startswith("wechat:"):
        return "wechat"
    if conversation_id.startswith("telegram:"):
        return "telegram"
    if conversation_id.startswith("web-") or latest_input_channel == "webchat":
        return "webchat"
    return latest_input_channel if latest_input_channel in CHANNELS else "rest"


class Queue:
    def __init__(self, db: StaffDB) -> None:
        self.db = db

    # -- opening (the bot's side) ------------------------------------------------------------
    def open_handoff(self, conversation_id: str, channel: str, reason: str) -> tuple[Handoff, bool]:
        """A waiting handoff for the conversation; an open one is reused (its priority raised if needed)."""
        if reason not in PRIORITY:
            raise InvalidInput(f"reason must be one of {', '.join(PRIORITY)}")
        priority = PRIORITY[reason]
        for _attempt in range(3):
            try:
                with self.db.write() as conn:
                    existing = self._open_for(conn, conversation_id)
                    if existing is not None:
                        if priority < existing.priority:
                            conn.execute(
                                handoffs.update()
                                .where(handoffs.c.id == existing.id)
                                .values(priority=priority, reason=reason)
                            )
                            emit(conn, "handoff", existing.id)
                        return self._get(conn, existing.id), False
                    at = now()
                    new_id = conn.execute(
                        handoffs.insert()
                        .values(
                            conversation_id=conversation_id,
                            channel=channel,
                            priority=priority,
                            reason=reason,
                            status="waiting",
                            created_at=at,
                            last_senior_at=at,
                        )
                        .returning(handoffs.c.id)
                    ).scalar_one()
                    emit(conn, "handoff", new_id)
                    return self._get(conn, new_id), True
            except sa.exc.IntegrityError:
                continue  # another process opened one for this conversation first: reuse it
        raise Conflict("could not open a handoff for this conversation")

    def waiting_ahead(self, handoff: Handoff) -> int:
        """How many waiting conversations come before this one in the queue."""
        c = handoffs.c
        with self.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(handoffs)
                    .where(
                        c.status == "waiting",
                        c.id != handoff.id,
                        sa.or_(
                            c.priority < handoff.priority,
                            sa.and_(c.priority == handoff.priority, c.created_at <= handoff.created_at),
                        ),
                    )
                ).scalar_one()
            )

    def agents_online(self, within_seconds: int) -> int:
        cutoff = now() - dt.timedelta(seconds=within_seconds)
        with self.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(presence.join(users, users.c.id == presence.c.user_id))
                    .where(presence.c.last_seen >= cutoff, users.c.active.is_(True))
                ).scalar_one()
            )

    def create_ticket(
        self,
        conversation_id: str,
        channel: str,
        reason: str,
        due_at: dt.datetime,
        phone: str | None = None,
        handoff_id: int | None = None,
    ) -> Ticket:
        with self.db.write() as conn:
            return self._create_ticket(conn, conversation_id, channel, reason, due_at, phone, handoff_id)

    @staticmethod
    def _create_ticket(
        conn: Connection,
        conversation_id: str,
        channel: str,
        reason: str,
        due_at: dt.datetime,
        phone: str | None,
        handoff_id: int | None,
    ) -> Ticket:
        ticket_id = conn.execute(
            tickets.insert()
            .values(
                conversation_id=conversation_id,
                channel=channel,
                phone=phone,
                priority=PRIORITY.get(reason, 2),
                reason=reason,
                status="open",
                due_at=due_at,
                created_at=now(),
                handoff_id=handoff_id,
            )
            .returning(tickets.c.id)
        ).scalar_one()
        emit(conn, "ticket", ticket_id=ticket_id)
        row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).one()
        return _ticket(row)

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _open_for(conn: Connection, conversation_id: str) -> Handoff | None:
        row = conn.execute(
            sa.select(handoffs).where(
                handoffs.c.conversation_id == conversation_id, handoffs.c.status.in_(OPEN_STATUSES)
            )
        ).first()
        return _handoff(row) if row is not None else None

    @staticmethod
    def _get(conn: Connection, handoff_id: int) -> Handoff:
        row = conn.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id)).first()
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        return _handoff(row)

    def get(self, handoff_id: int) -> Handoff:
        with self.db.read() as conn:
            return self._get(conn, handoff_id)

    def open_for(self, conversation_id: str) -> Handoff | None:
        with self.db.read() as conn:
            return self._open_for(conn, conversation_id)

    def waiting(self) -> list[Handoff]:
        c = handoffs.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(handoffs).where(c.status == "waiting").order_by(c.priority, c.created_at, c.id)
            ).all()
        return [_handoff(r) for r in rows]

    def claimed_by(self, user_id: int) -> list[Handoff]:
        c = handoffs.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(handoffs).where(c.status == "claimed", c.claimed_by == user_id).order_by(c.claimed_at)
            ).all()
        return [_handoff(r) for r in rows]

    def all_open(self) -> list[Handoff]:
        c = handoffs.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(handoffs).where(c.status.in_(OPEN_STATUSES)).order_by(c.priority, c.created_at)
            ).all()
        return [_handoff(r) for r in rows]

    def open_tickets(self) -> list[Ticket]:
        c = tickets.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(tickets).where(c.status == "open").order_by(c.due_at, c.priority, c.id)).all()
        return [_ticket(r) for r in rows]

    def ticket(self, ticket_id: int) -> Ticket:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).first()
        if row is None:
            raise NotFound(f"no ticket {ticket_id}")
        return _ticket(row)

    def has_open_ticket(self, conversation_id: str) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute(
                    sa.select(tickets.c.id).where(
                        tickets.c.conversation_id == conversation_id, tickets.c.status == "open"
                    )
                ).first()
                is not None
            )

    # -- changing (the staff side) ---------------------------------------------------------
    def claim(self, handoff_id: int, user_id: int) -> Handoff:
        c = handoffs.c
        with self.db.write() as conn:
            done = conn.execute(
                handoffs.update()
                .where(c.id == handoff_id, c.status == "waiting")
                .values(status="claimed", claimed_by=user_id, claimed_at=now())
            ).rowcount
            if not done:
                current = self._get(conn, handoff_id)
                raise Conflict(f"handoff {handoff_id} is {current.status}, not waiting")
            emit(conn, "handoff", handoff_id)
            return self._get(conn, handoff_id)

    def claim_next(self, user_id: int) -> Handoff | None:
        for handoff in self.waiting():
            try:
                return self.claim(handoff.id, user_id)
            except Conflict:
                continue
        return None

    def transfer(self, handoff_id: int, from_user: int, to_user: int, *, any_owner: bool = False) -> Handoff:
        c = handoffs.c
        with self.db.write() as conn:
            target = conn.execute(sa.select(users.c.active).where(users.c.id == to_user)).first()
            if target is None or not target.active:
                raise InvalidInput("the colleague to transfer to does not exist or is not active")
            condition = [c.id == handoff_id, c.status == "claimed"]
            if not any_owner:
                condition.append(c.claimed_by == from_user)
            done = conn.execute(
                handoffs.update().where(*condition).values(claimed_by=to_user, claimed_at=now())
            ).rowcount
            if not done:
                raise Conflict(f"handoff {handoff_id} is not claimed by you")
            emit(conn, "handoff", handoff_id)
            return self._get(conn, handoff_id)

    def close(self, handoff_id: int, reason: str, *, by_user: int | None = None) -> Handoff:
        c = handoffs.c
        with self.db.write() as conn:
            condition = [c.id == handoff_id, c.status.in_(OPEN_STATUSES)]
            if by_user is not None:
                condition.append(c.claimed_by == by_user)
            done = conn.execute(
                handoffs.update().where(*condition).values(status="closed", closed_at=now(), close_reason=reason)
            ).rowcount
            if not done:
                raise Conflict(f"handoff {handoff_id} is not open (or not yours)")
            emit(conn, "handoff", handoff_id)
            return self._get(conn, handoff_id)

    def expire_unclaimed(self, older_than: dt.timedelta, due_at: dt.datetime) -> list[tuple[Handoff, Ticket]]:
        """Waiting handoffs older than ``older_than`` become callback tickets (each exactly once).

        They are closed as ``unclaimed_pending`` until the bot has been resumed in Rasa
        (:meth:`resumed`), so a Rasa outage at that moment cannot leave a senior paused for good:
        :meth:`pending_resumes` lists them for the next try.
        """
        c = handoffs.c
        cutoff = now() - older_than
        expired: list[tuple[Handoff, Ticket]] = []
        with self.db.read() as conn:
            ids = conn.execute(sa.select(c.id).where(c.status == "waiting", c.created_at < cutoff)).scalars().all()
        for handoff_id in ids:
            with self.db.write() as conn:
                done = conn.execute(
                    handoffs.update()
                    .where(c.id == handoff_id, c.status == "waiting")
                    .values(status="closed", closed_at=now(), close_reason=PENDING_RESUME)
                ).rowcount
                if not done:
                    continue  # claimed meanwhile, or another staff process expired it
                handoff = self._get(conn, handoff_id)
                emit(conn, "handoff", handoff_id)
                ticket = self._create_ticket(
                    conn, handoff.conversation_id, handoff.channel, handoff.reason, due_at, None, handoff_id
                )
            expired.append((handoff, ticket))
        return expired

    def pending_resumes(self) -> list[Handoff]:
        """Expired handoffs whose conversation Rasa has not yet been told to resume."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(handoffs).where(handoffs.c.close_reason == PENDING_RESUME).order_by(handoffs.c.id)
            ).all()
        return [_handoff(r) for r in rows]

    def resumed(self, handoff_id: int) -> bool:
        """Record that the bot was resumed; False if another process recorded it first."""
        with self.db.write() as conn:
            return bool(
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == handoff_id, handoffs.c.close_reason == PENDING_RESUME)
                    .values(close_reason="unclaimed")
                ).rowcount
            )

    def senior_wrote(self, conversation_id: str, emergency: bool) -> Handoff | None:
        """A senior wrote while waiting for a person: note the time (and raise the priority)."""
        with self.db.write() as conn:
            handoff = self._open_for(conn, conversation_id)
            if handoff is None:
                return None
            values: dict[str, Any] = {"last_senior_at": now()}
            if emergency and handoff.priority > PRIORITY["emergency"]:
                values.update(priority=PRIORITY["emergency"], reason="emergency")
            conn.execute(handoffs.update().where(handoffs.c.id == handoff.id).values(**values))
            emit(conn, "message", handoff.id)
            return self._get(conn, handoff.id)

    def ticket_done(self, ticket_id: int, user_id: int) -> Ticket:
        with self.db.write() as conn:
            done = conn.execute(
                tickets.update()
                .where(tickets.c.id == ticket_id, tickets.c.status == "open")
                .values(status="done", done_by=user_id, done_at=now())
            ).rowcount
            if not done:
                raise Conflict(f"ticket {ticket_id} is already done")
            emit(conn, "ticket", ticket_id=ticket_id)
            row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).one()
            return _ticket(row)

    def heartbeat(self, user_id: int) -> None:
        with self.db.write() as conn:
            done = conn.execute(presence.update().where(presence.c.user_id == user_id).values(last_seen=now())).rowcount
            if not done:
                conn.execute(presence.insert().values(user_id=user_id, last_seen=now()))

    def went_away(self, user_id: int) -> None:
        with self.db.write() as conn:
            conn.execute(presence.delete().where(presence.c.user_id == user_id))

    def note_message(self, handoff_id: int) -> None:
        with self.db.write() as conn:
            emit(conn, "message", handoff_id)
