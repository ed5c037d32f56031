"""The transactional outbox: messages written with the change that causes them, sent by a worker.

``enqueue`` runs inside the caller's transaction, so a message exists exactly when its cause was
committed. The worker then, for each due message:

1. claims it with a compare-and-set update — ``status`` to ``sending`` with a lease (owner and
   expiry) — only ``WHERE status = 'pending' AND next_attempt_at <= now`` or a ``sending`` row
   whose lease ran out. Two workers never hold one message at once;
2. sends it outside any transaction;
3. marks it ``sent`` (only while still holding the lease), or after a failure puts it back to
   ``pending`` with ``next_attempt_at = now + backoff`` (30 s, 60 s, 120 s … capped at one hour,
   or what the platform's Retry-After asks), or ``failed`` after the last attempt or a permanent
   refusal (blocked by the user, outside WeChat's window with no fallback).

A worker killed before step 2 leaves a row whose lease expires; the next worker sends it. A worker
killed between step 2 and 3 makes the message go out twice (at least once, the usual outbox
promise: the platforms take no idempotency key). That window is one HTTP round trip.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from care.db import CareDB, contacts, outbox
from care.errors import SendFailed
from care.senders import Outgoing, Senders

logger = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, object], *keys: str) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING; True when the row was new."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert
    result = conn.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))
    return bool(result.rowcount)


def enqueue(
    conn: Connection,
    *,
    recipient: str,
    purpose: str,
    text: str,
    dedupe_key: str,
    now: dt.datetime,
    about: str | None = None,
    not_before: dt.datetime | None = None,
) -> bool:
    """Write a message in the caller's transaction; a repeated ``dedupe_key`` writes nothing (False)."""
    return insert_ignore(
        conn,
        outbox,
        {
            "recipient": recipient,
            "purpose": purpose,
            "text": text,
            "about": about,
            "dedupe_key": dedupe_key,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": not_before or now,
            "created_at": now,
        },
        "dedupe_key",
    )


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None = None) -> dt.timedelta:
        """Backoff after the ``attempts``-th failure: base × 2^(attempts-1), capped; Retry-After wins if longer."""
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.cap_seconds))
        return dt.timedelta(seconds=seconds)


class Worker:
    """Sends due outbox messages; any number of workers may run against one database."""

    def __init__(
        self,
        db: CareDB,
        senders: Senders,
        policy: RetryPolicy | None = None,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.senders = senders
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.owner = owner or secrets.token_hex(8)

    def _due_ids(self, limit: int) -> list[int]:
        now = self.db.now()
        c = outbox.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(c.id)
                .where(
                    sa.or_(
                        sa.and_(c.status == PENDING, c.next_attempt_at <= now),
                        sa.and_(c.status == SENDING, c.lease_until < now),
                    )
                )
                .order_by(c.next_attempt_at, c.id)
                .limit(limit)
            ).scalars()
            return list(rows)

    def claim(self, message_id: int) -> Outgoing | None:
        """Take the message for this worker, or None if another worker has it or it is not due."""
        now = self.db.now()
        c = outbox.c
        with self.db.write() as conn:
            result = conn.execute(
                outbox.update()
                .where(
                    c.id == message_id,
                    sa.or_(
                        sa.and_(c.status == PENDING, c.next_attempt_at <= now),
                        sa.and_(c.status == SENDING, c.lease_until < now),
                    ),
                )
                .values(status=SENDING, lease_owner=self.owner, lease_until=now + self.lease)
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(sa.select(c.recipient, c.text, c.purpose).where(c.id == message_id)).one()
            address = row.recipient.removeprefix("staff:")
            contact = conn.execute(
                sa.select(contacts.c.phone, contacts.c.last_inbound_at).where(contacts.c.address == address)
            ).first()
        return Outgoing(
            id=message_id,
            recipient=row.recipient,
            text=row.text,
            purpose=row.purpose,
            phone=contact.phone if contact else None,
            last_inbound_at=contact.last_inbound_at if contact else None,
            now=now,
        )

    def deliver(self, message: Outgoing) -> str:
        """Send a claimed message and record the outcome; returns its new status."""
        sender = self.senders.for_address(message.recipient)
        try:
            if sender is None:
                raise SendFailed("no_sender", permanent=True)
            via = sender.send(message)
        except SendFailed as err:
            return self._failed(message, err)
        c = outbox.c
        with self.db.write() as conn:
            conn.execute(
                outbox.update()
                .where(c.id == message.id, c.lease_owner == self.owner, c.status == SENDING)
                .values(status=SENT, sent_at=self.db.now(), via=via, lease_owner=None, lease_until=None)
            )
        logger.info("Outbox %s sent via %s.", message.id, via)
        if message.purpose == "checkin" and self.senders.tracker is not None:
            try:
                self.senders.tracker.expect_checkin_reply(message.recipient)
            except SendFailed as err:
                # The reply then goes through the ordinary dialogue; the no-reply follow-up still comes.
                logger.warning(
                    "Could not mark outbox %s's conversation as awaiting a reply: %s", message.id, err.reason
                )
        return SENT

    def _failed(self, message: Outgoing, err: SendFailed) -> str:
        c = outbox.c
        now = self.db.now()
        with self.db.write() as conn:
            attempts = int(conn.execute(sa.select(c.attempts).where(c.id == message.id)).scalar_one()) + 1
            final = err.permanent or attempts >= self.policy.max_attempts
            status = FAILED if final else PENDING
            conn.execute(
                outbox.update()
                .where(c.id == message.id, c.lease_owner == self.owner)
                .values(
                    status=status,
                    attempts=attempts,
                    last_error=err.reason[:64],
                    next_attempt_at=now + self.policy.delay(attempts, err.retry_after),
                    lease_owner=None,
                    lease_until=None,
                )
            )
        logger.warning("Outbox %s attempt %d failed (%s): %s.", message.id, attempts, err.reason, status)
        return status

    def run_once(self, limit: int = 50) -> int:
        """Send what is due now; returns how many messages this worker sent."""
        sent = 0
        for message_id in self._due_ids(limit):
            message = self.claim(message_id)
            if message is not None and self.deliver(message) == SENT:
                sent += 1
        return sent
