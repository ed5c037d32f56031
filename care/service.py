"""The rules of proactive care, each one transaction that also writes the messages it causes.

- 每日平安: :meth:`Care.checkin_optin` (after consent), :meth:`Care.checkin_optout`,
  :meth:`Care.checkin_reply` (fine / unwell / emergency / other).
- Family: :meth:`Care.family_code` (the family member asks), :meth:`Care.family_confirm` (the
  parent confirms the code in chat, after consent), :meth:`Care.unlink` (either side). Acting for a
  parent in chat: :meth:`Care.booked_for_parent`, :meth:`Care.cancelled_for_parent`,
  :meth:`Care.moved_for_parent` — hooks the booking store runs in the change's own transaction, which
  check the link and tell the parent through the outbox.
- Escalation: :meth:`Care.emergency` — linked family notified, a case at the top of the agents' queue.
- Privacy: :meth:`Care.give_consent`, :meth:`Care.delete_person` (every store; the audit keeps the kind only).

The scheduled side (questions, follow-ups, alerts, reminders) is :mod:`care.scheduler`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bookings.catalog import SHANGHAI, default_catalog
from bookings.store import Booking, BookingStore, Slot, bookings_table, events_table, format_code, slots_table
from bookings.timeparse import describe_date
from care import classify as classifier
from care.config import CareSettings
from care.db import (
    CareDB,
    audit,
    checkin_days,
    checkins,
    consent_wordings,
    consents,
    contacts,
    family_links,
    jobs,
    link_relations,
    outbox,
    places,
)
from care.errors import CareRefusal, ConsentOutdated, ConsentRequired
from care.outbox import enqueue, insert_ignore
from care.wording import consent_wording, say

logger = logging.getLogger(__name__)

PURPOSES = ("checkin", "family")


class QuietTime(CareRefusal):
    """The chosen check-in time is inside quiet hours."""


class BadLinkCode(CareRefusal):
    """The code is unknown, used or expired."""


class NotLinked(CareRefusal):
    """The family member is not (or no longer) linked to the senior they act for."""


@dataclass(frozen=True)
class Parent:
    """A senior a family member is linked to; ``relation`` as the family member named them (母亲, 父亲 …) or None."""

    senior: str
    relation: str | None


@dataclass(frozen=True)
class Link:
    id: int
    senior: str
    family: str


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def schedule_job(conn: Connection, kind: str, subject: str, ref: str, due: dt.datetime) -> bool:
    """A pending job; a second one with the same (kind, subject, ref) is not written."""
    return insert_ignore(
        conn,
        jobs,
        {
            "kind": kind,
            "subject": subject,
            "ref": ref,
            "due_at": due,
            "status": "pending",
            "dedupe_key": f"{kind}|{subject}|{ref}",
        },
        "dedupe_key",
    )


def cancel_jobs(conn: Connection, subject: str, kinds: tuple[str, ...], ref: str | None = None) -> int:
    c = jobs.c
    stmt = jobs.update().where(c.subject == subject, c.kind.in_(kinds), c.status == "pending")
    if ref is not None:
        stmt = stmt.where(c.ref == ref)
    return int(conn.execute(stmt.values(status="cancelled")).rowcount)


def next_at_minute(minute: int, after: dt.datetime) -> dt.datetime:
    """The next Shanghai wall-clock time ``minute`` (minutes after midnight) strictly after ``after``."""
    local = after.astimezone(SHANGHAI)
    at = local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    if at <= local:
        at = (local + dt.timedelta(days=1)).replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    return at


def family_of(conn: Connection, senior: str) -> list[str]:
    c = family_links.c
    return list(conn.execute(sa.select(c.family).where(c.senior == senior, c.status == "active")).scalars())


@dataclass(frozen=True)
class Whereabouts:
    """What a grid worker needs to find a senior: the street, and a name and number if the senior left them."""

    street: str | None
    name: str | None = None
    phone: str | None = None


def whereabouts(conn: Connection, senior: str) -> Whereabouts:
    """The street the senior named at opt-in, else that of their latest booking; the booking's contact, else
    the number kept for SMS. Bookings are asked for with "老人住在宝山哪个街道或者镇", so their street is home."""
    stated = conn.execute(sa.select(places.c.street).where(places.c.address == senior)).scalar()
    booked = None
    if sa.inspect(conn).has_table(bookings_table.name):
        b, s = bookings_table.c, slots_table.c
        booked = conn.execute(
            sa.select(s.street, b.contact_name, b.phone)
            .join_from(bookings_table, slots_table, b.slot_id == s.id)
            .where(b.channel_user == senior)
            .order_by(b.created_at.desc(), b.id.desc())
            .limit(1)
        ).first()
    if booked is not None:
        return Whereabouts(stated or booked.street, booked.contact_name, booked.phone)
    phone = conn.execute(sa.select(contacts.c.phone).where(contacts.c.address == senior)).scalar()
    return Whereabouts(stated, None, phone)


def open_case(conn: Connection, senior: str, key: str, now: dt.datetime) -> None:
    """A case at the top of the agents' queue, through the outbox (the staff database is another one)."""
    enqueue(
        conn, recipient=f"staff:{senior}", purpose="case", text="care", dedupe_key=f"case|{key}", now=now, about=senior
    )


class Care:
    def __init__(self, db: CareDB, settings: CareSettings | None = None) -> None:
        self.db = db
        self.settings = settings or CareSettings()

    # -- contacts and consent --------------------------------------------------------------------
    def touch(self, address: str, phone: str | None = None) -> None:
        """The person wrote to us now: WeChat's 48-hour window restarts; a number given is kept for SMS."""
        now = self.db.now()
        with self.db.write() as conn:
            self._touch(conn, address, now, phone)

    @staticmethod
    def _touch(conn: Connection, address: str, now: dt.datetime, phone: str | None = None) -> None:
        c = contacts.c
        values: dict[str, object] = {"last_inbound_at": now}
        if phone:
            values["phone"] = phone
        if conn.execute(contacts.update().where(c.address == address).values(**values)).rowcount == 0:
            insert_ignore(conn, contacts, {"address": address, "created_at": now, **values}, "address")

    def give_consent(self, address: str, purpose: str) -> None:
        """Record consent to the current text of ``purpose`` (a consent to an older text is renewed)."""
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}")
        now = self.db.now()
        wording = consent_wording(purpose)
        with self.db.write() as conn:
            insert_ignore(
                conn, consents, {"address": address, "purpose": purpose, "given_at": now}, "address", "purpose"
            )
            w = consent_wordings.c
            if (
                conn.execute(
                    consent_wordings.update()
                    .where(w.address == address, w.purpose == purpose)
                    .values(wording=wording, given_at=now)
                ).rowcount
                == 0
            ):
                insert_ignore(
                    conn,
                    consent_wordings,
                    {"address": address, "purpose": purpose, "wording": wording, "given_at": now},
                    "address",
                    "purpose",
                )
        logger.info("Consent recorded for %s.", purpose)

    def consent_state(self, address: str, purpose: str) -> str:
        """ "current" (agreed to today's text), "outdated" (agreed to an older one) or "none"."""
        with self.db.read() as conn:
            return consent_state(conn, address, purpose)

    def has_consent(self, address: str, purpose: str) -> bool:
        """Agreed to the current text (a consent to an older text is asked again)."""
        return self.consent_state(address, purpose) == "current"

    @staticmethod
    def _require(conn: Connection, address: str, purpose: str) -> None:
        if consent_state(conn, address, purpose) != "current":
            raise ConsentRequired(purpose)

    def ask_consent_again(self, address: str, purpose: str) -> None:
        """:func:`ask_consent_again` in a transaction of its own, the message held until quiet hours end."""
        now = self.db.now()
        with self.db.write() as conn:
            ask_consent_again(conn, address, purpose, now, not_before=self.settings.quiet.end_after(now, SHANGHAI))

    # -- 每日平安 ----------------------------------------------------------------------------------
    def checkin_optin(self, senior: str, minute_of_day: int, street: str | None = None) -> dt.datetime:
        """Ask every day at ``minute_of_day`` (Shanghai); returns the first time. Needs consent first.

        ``street``: the street or town the senior said they live in, for the grid worker (care/grid.py).
        """
        if not 0 <= minute_of_day < 24 * 60:
            raise CareRefusal("a time of day is 00:00–23:59")
        if self.settings.quiet.contains_minute(minute_of_day):
            raise QuietTime(f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d} is in quiet hours")
        now = self.db.now()
        with self.db.write() as conn:
            self._require(conn, senior, "checkin")
            self._touch(conn, senior, now)
            c = checkins.c
            if (
                conn.execute(
                    checkins.update().where(c.senior == senior).values(minute_of_day=minute_of_day, active=True)
                ).rowcount
                == 0
            ):
                conn.execute(
                    checkins.insert().values(senior=senior, minute_of_day=minute_of_day, active=True, created_at=now)
                )
            if street:
                if (
                    conn.execute(
                        places.update().where(places.c.address == senior).values(street=street, updated_at=now)
                    ).rowcount
                    == 0
                ):
                    insert_ignore(conn, places, {"address": senior, "street": street, "updated_at": now}, "address")
            first = next_at_minute(minute_of_day, now)
            ref = first.date().isoformat() + f"@{minute_of_day}"
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.subject == senior,
                    jobs.c.kind == "checkin_ask",
                    jobs.c.status == "pending",
                    jobs.c.ref != ref,
                )
                .values(status="cancelled")
            )
            if not schedule_job(conn, "checkin_ask", senior, ref, first):
                # The same question was planned before (said twice, or off and on again the same day): plan it again.
                conn.execute(
                    jobs.update()
                    .where(jobs.c.dedupe_key == f"checkin_ask|{senior}|{ref}", jobs.c.status == "cancelled")
                    .values(status="pending", due_at=first)
                )
        logger.info("Check-in on at minute %d.", minute_of_day)
        return first

    def checkin_optout(self, senior: str) -> bool:
        """Stop asking; pending questions, follow-ups and alerts are cancelled. False if it was not on."""
        with self.db.write() as conn:
            changed = conn.execute(
                checkins.update().where(checkins.c.senior == senior, checkins.c.active.is_(True)).values(active=False)
            ).rowcount
            cancel_jobs(conn, senior, ("checkin_ask", "checkin_again", "checkin_alert"))
        logger.info("Check-in off (was on: %s).", bool(changed))
        return bool(changed)

    def checkin_active(self, senior: str) -> bool:
        with self.db.read() as conn:
            row = conn.execute(sa.select(checkins.c.active).where(checkins.c.senior == senior)).first()
        return bool(row and row.active)

    def checkin_minute(self, senior: str) -> int | None:
        """The minute of the day the active check-in asks at, or None when it is off."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(checkins.c.minute_of_day, checkins.c.active).where(checkins.c.senior == senior)
            ).first()
        return int(row.minute_of_day) if row is not None and row.active else None

    def open_question(self, senior: str) -> dt.date | None:
        """The day whose check-in question waits for an answer, if any."""
        c = checkin_days.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(c.day)
                .where(c.senior == senior, c.asked_at.is_not(None), c.answered_at.is_(None))
                .order_by(c.day.desc())
            ).first()
        return row.day if row else None

    def checkin_reply(self, senior: str, text: str) -> str | None:
        """Record the answer to an open question; returns its class, or None when nothing was asked.

        Unwell tells the linked family; emergency tells them and opens a top-priority case (the
        120 guidance itself comes from the Rasa server). The text is classified, never stored.
        """
        kind = classifier.classify(text)
        now = self.db.now()
        c = checkin_days.c
        with self.db.write() as conn:
            self._touch(conn, senior, now)
            # An unclear answer ("other") already stopped the follow-up; a clearer one after it still counts.
            row = conn.execute(
                sa.select(c.id, c.day)
                .where(
                    c.senior == senior,
                    c.asked_at.is_not(None),
                    sa.or_(c.answered_at.is_(None), c.answer == classifier.OTHER),
                )
                .order_by(c.day.desc())
            ).first()
            if row is None:
                return None
            day = row.day.isoformat()
            conn.execute(checkin_days.update().where(c.id == row.id).values(answered_at=now, answer=kind))
            cancel_jobs(conn, senior, ("checkin_again", "checkin_alert"), ref=day)
            if kind == classifier.UNWELL:
                for family in family_of(conn, senior):
                    enqueue(
                        conn,
                        recipient=family,
                        purpose="alert",
                        text=say("utter_care_msg_family_unwell", day=_day_words(row.day)),
                        dedupe_key=f"unwell|{senior}|{day}|{family}",
                        now=now,
                        about=senior,
                    )
            elif kind == classifier.EMERGENCY:
                self._emergency(conn, senior, f"checkin|{senior}|{day}", now)
        logger.info("Check-in answered: %s.", kind)
        return kind

    # -- escalation --------------------------------------------------------------------------------
    def emergency(self, senior: str, key: str) -> None:
        """After the 120 guidance: linked family notified, a case at the top of the agents' queue.

        ``key`` names the emergency (e.g. the message id) so that a redelivered one alerts once.
        """
        now = self.db.now()
        with self.db.write() as conn:
            self._emergency(conn, senior, key, now)

    @staticmethod
    def _emergency(conn: Connection, senior: str, key: str, now: dt.datetime) -> None:
        # An open check-in question is answered by the emergency: no "no reply" alert follows.
        c = checkin_days.c
        for row in conn.execute(
            sa.select(c.id, c.day).where(c.senior == senior, c.asked_at.is_not(None), c.answered_at.is_(None))
        ).all():
            conn.execute(
                checkin_days.update().where(c.id == row.id).values(answered_at=now, answer=classifier.EMERGENCY)
            )
            cancel_jobs(conn, senior, ("checkin_again", "checkin_alert"), ref=row.day.isoformat())
        for family in family_of(conn, senior):
            enqueue(
                conn,
                recipient=family,
                purpose="alert",
                text=say("utter_care_msg_family_emergency"),
                dedupe_key=f"emergency|{key}|{family}",
                now=now,
                about=senior,
            )
        open_case(conn, senior, f"emergency|{key}", now)

    # -- family links ------------------------------------------------------------------------------
    def family_code(self, family: str, relation: str | None = None) -> str:
        """A one-time 6-digit code for the family member to give the parent (only its hash is kept).

        ``relation``: who the parent is to them, as said ("我要绑定我妈" → 母亲), kept with the link.
        """
        now = self.db.now()
        expires = now + dt.timedelta(minutes=self.settings.link_code_minutes)
        with self.db.write() as conn:
            self._touch(conn, family, now)
            # One open code per family member: an older one stops working.
            conn.execute(
                family_links.update()
                .where(family_links.c.family == family, family_links.c.status == "pending")
                .values(status="ended", code_hash=None)
            )
            for _ in range(20):
                code = str(100_000 + secrets.randbelow(900_000))
                if insert_ignore(
                    conn,
                    family_links,
                    {
                        "family": family,
                        "status": "pending",
                        "code_hash": _code_hash(code),
                        "code_expires_at": expires,
                        "created_at": now,
                    },
                    "code_hash",
                ):
                    if relation:
                        link_id = conn.execute(
                            sa.select(family_links.c.id).where(family_links.c.code_hash == _code_hash(code))
                        ).scalar_one()
                        conn.execute(link_relations.insert().values(link_id=link_id, relation=relation))
                    return code
        raise CareRefusal("no unused link code found")

    def withdraw_code(self, family: str) -> bool:
        """The family member's open link code stops working ("算了" right after asking for it); True if one was open."""
        with self.db.write() as conn:
            ended = conn.execute(
                family_links.update()
                .where(family_links.c.family == family, family_links.c.status == "pending")
                .values(status="ended", code_hash=None)
            ).rowcount
        return bool(ended)

    def family_confirm(self, senior: str, code: str) -> Link:
        """The parent confirms the code in chat: the link is active (needs the parent's consent first)."""
        now = self.db.now()
        digits = "".join(ch for ch in code if ch.isdigit())
        c = family_links.c
        with self.db.write() as conn:
            self._require(conn, senior, "family")
            row = conn.execute(
                sa.select(c.id, c.family, c.code_expires_at).where(
                    c.code_hash == _code_hash(digits), c.status == "pending"
                )
            ).first()
            if row is None or row.code_expires_at < now or row.family == senior:
                raise BadLinkCode("unknown, used or expired code")
            existing = conn.execute(
                sa.select(c.id).where(c.senior == senior, c.family == row.family, c.status == "active")
            ).first()
            conn.execute(
                family_links.update()
                .where(c.id == row.id)
                .values(status="ended" if existing else "active", senior=senior, confirmed_at=now, code_hash=None)
            )
            link_id = existing.id if existing else row.id
            enqueue(
                conn,
                recipient=row.family,
                purpose="link",
                text=say("utter_care_msg_linked_family"),
                dedupe_key=f"linked|{link_id}",
                now=now,
                about=senior,
            )
        logger.info("Family link %s active.", link_id)
        return Link(link_id, senior, row.family)

    def unlink(self, address: str) -> int:
        """End every active link the person is on, as parent or as family; the other side is told."""
        now = self.db.now()
        c = family_links.c
        with self.db.write() as conn:
            rows = conn.execute(
                sa.select(c.id, c.senior, c.family).where(
                    c.status == "active", sa.or_(c.senior == address, c.family == address)
                )
            ).all()
            for row in rows:
                conn.execute(family_links.update().where(c.id == row.id).values(status="ended"))
                other = row.family if row.senior == address else row.senior
                enqueue(
                    conn,
                    recipient=other,
                    purpose="link",
                    text=say("utter_care_msg_unlinked"),
                    dedupe_key=f"unlinked|{row.id}",
                    now=now,
                )
        logger.info("Unlinked %d family links.", len(rows))
        return len(rows)

    def seniors_of(self, family: str) -> list[str]:
        c = family_links.c
        with self.db.read() as conn:
            return list(conn.execute(sa.select(c.senior).where(c.family == family, c.status == "active")).scalars())

    def linked_parents(self, family: str) -> list[Parent]:
        """The seniors ``family`` is linked to, oldest link first, with the relation said when linking."""
        c = family_links.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(c.senior, link_relations.c.relation)
                .join_from(family_links, link_relations, link_relations.c.link_id == c.id, isouter=True)
                .where(c.family == family, c.status == "active")
                .order_by(c.confirmed_at, c.id)
            ).all()
        return [Parent(str(row.senior), row.relation) for row in rows]

    def booked_for_parent(self, family: str) -> Callable[[Connection, Booking], None]:
        """The booking store's ``on_booked`` for a family member booking for a parent.

        Inside the booking's transaction: the link must still be active (else NotLinked rolls the
        booking back), and the parent is told in their own channel, through the outbox, that the family
        booked it; reminders then go to the parent and linked family as for any booking of theirs.
        """

        def on_booked(conn: Connection, booking: Booking) -> None:
            _require_link(conn, family, booking.channel_user, "booking")
            self._tell_parent(
                conn,
                booking,
                say("utter_care_msg_booked_by_family", **booking_values(booking)),
                f"booked_for|{booking.code}",
            )
            self._tell_other_family(
                conn,
                booking,
                family,
                say("utter_care_msg_family_booked_by_other", **booking_values(booking)),
                f"booked_for|{booking.code}",
            )
            logger.info("Booking %s made by linked family; the senior and the other family are told.", booking.code)

        return on_booked

    def cancelled_for_parent(self, family: str) -> Callable[[Connection, Booking], None]:
        """The booking store's ``on_cancelled`` for a family member cancelling a parent's booking.

        Inside the cancellation's transaction: the link must still be active (else NotLinked rolls the
        cancellation back), and the parent is told through the outbox that their family cancelled it.
        The reminders are cancelled by the booking store's listener (care/scheduler.py), as for any
        cancellation.
        """

        def on_cancelled(conn: Connection, booking: Booking) -> None:
            _require_link(conn, family, booking.channel_user, "cancellation")
            self._tell_parent(
                conn,
                booking,
                say("utter_care_msg_cancelled_by_family", **booking_values(booking)),
                f"cancelled_for|{booking.code}",
            )
            self._tell_other_family(
                conn,
                booking,
                family,
                say("utter_care_msg_family_cancelled_by_other", **booking_values(booking)),
                f"cancelled_for|{booking.code}",
            )
            logger.info(
                "Booking %s cancelled by linked family; the senior and the other family are told.", booking.code
            )

        return on_cancelled

    def moved_for_parent(self, family: str) -> Callable[[Connection, Booking, Slot], None]:
        """The booking store's ``on_moved`` for a family member moving a parent's booking to another time.

        As :meth:`cancelled_for_parent`: the link checked in the move's transaction, the parent told the old
        and the new time (reminders move with the booking, care/scheduler.py). Each move is told once: the
        message is keyed on the booking, both slots and the time of the move.
        """

        def on_moved(conn: Connection, booking: Booking, old: Slot) -> None:
            _require_link(conn, family, booking.channel_user, "move")
            now = self.db.now()
            key = f"moved_for|{booking.code}|{old.id}>{booking.slot.id}|{now.isoformat()}"
            self._tell_parent(
                conn,
                booking,
                say("utter_care_msg_moved_by_family", old=slot_when(old), **booking_values(booking)),
                key,
            )
            self._tell_other_family(
                conn,
                booking,
                family,
                say("utter_care_msg_family_moved_by_other", old=slot_when(old), **booking_values(booking)),
                key,
            )
            logger.info("Booking %s moved by linked family; the senior and the other family are told.", booking.code)

        return on_moved

    def _tell_parent(self, conn: Connection, booking: Booking, text: str, key: str) -> None:
        """A message to the booking's senior, in their own channel; one written in quiet hours waits for 07:00."""
        self._tell(conn, booking.channel_user, booking, text, key)

    def _tell_other_family(self, conn: Connection, booking: Booking, actor: str, text: str, key: str) -> None:
        """The same change told to the senior's other linked family members (they get the reminders too);
        not to ``actor``, who made it and was answered in chat. Quiet hours as for the senior."""
        for other in family_of(conn, booking.channel_user):
            if other != actor:
                self._tell(conn, other, booking, text, f"{key}|{other}")

    def _tell(self, conn: Connection, recipient: str, booking: Booking, text: str, key: str) -> None:
        now = self.db.now()
        enqueue(
            conn,
            recipient=recipient,
            purpose="booking",
            text=text,
            dedupe_key=key,
            now=now,
            about=booking.channel_user,
            not_before=self.settings.quiet.end_after(now, SHANGHAI),
        )

    def bookings_for_family(self, family: str, store: BookingStore) -> dict[str, list[Booking]]:
        """What a linked family member may see: each linked parent's upcoming bookings."""
        return {senior: store.list_for_user(senior) for senior in self.seniors_of(family)}

    def family(self, senior: str) -> list[str]:
        with self.db.read() as conn:
            return family_of(conn, senior)

    # -- privacy -----------------------------------------------------------------------------------
    def delete_person(self, address: str) -> dict[str, int]:
        """Delete the person's care data and bookings (same database, one transaction); returns counts.

        The staff database's handoffs and tickets are deleted by :func:`care.privacy.delete_everywhere`.
        The audit row says only that a deletion happened, and when.
        """
        now = self.db.now()
        counts: dict[str, int] = {}
        with self.db.write() as conn:
            for links_row in conn.execute(
                sa.select(family_links.c.id).where(
                    sa.or_(family_links.c.senior == address, family_links.c.family == address)
                )
            ).all():
                conn.execute(link_relations.delete().where(link_relations.c.link_id == links_row.id))
                conn.execute(family_links.delete().where(family_links.c.id == links_row.id))
                counts["family_links"] = counts.get("family_links", 0) + 1
            for name, stmt in (
                ("checkin_days", checkin_days.delete().where(checkin_days.c.senior == address)),
                ("checkins", checkins.delete().where(checkins.c.senior == address)),
                ("jobs", jobs.delete().where(jobs.c.subject == address)),
                (
                    "outbox",
                    outbox.delete().where(
                        sa.or_(
                            outbox.c.recipient == address,
                            outbox.c.about == address,
                            outbox.c.recipient == f"staff:{address}",
                        )
                    ),
                ),
                ("consents", consents.delete().where(consents.c.address == address)),
                ("consent_wordings", consent_wordings.delete().where(consent_wordings.c.address == address)),
                ("places", places.delete().where(places.c.address == address)),
                ("contacts", contacts.delete().where(contacts.c.address == address)),
            ):
                counts[name] = int(conn.execute(stmt).rowcount)
            if sa.inspect(conn).has_table(bookings_table.name):
                ids = list(
                    conn.execute(
                        sa.select(bookings_table.c.id).where(bookings_table.c.channel_user == address)
                    ).scalars()
                )
                if ids:
                    conn.execute(events_table.delete().where(events_table.c.booking_id.in_(ids)))
                    conn.execute(bookings_table.delete().where(bookings_table.c.id.in_(ids)))
                counts["bookings"] = len(ids)
            conn.execute(audit.insert().values(at=now, kind="personal_data_deleted"))
        logger.info("Personal data deleted: %s.", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        return counts


def ask_consent_again(
    conn: Connection, address: str, purpose: str, now: dt.datetime, not_before: dt.datetime | None = None
) -> None:
    """Tell a person whose consent was given to an older text that it changed, and how to read and agree to
    the new one (or stop); once per text (the outbox's dedupe key names the text)."""
    enqueue(
        conn,
        recipient=address,
        purpose="link" if purpose == "family" else "checkin",
        text=say(f"utter_care_msg_consent_{purpose}_changed"),
        dedupe_key=f"reconsent|{purpose}|{address}|{consent_wording(purpose)}",
        now=now,
        about=address,
        not_before=not_before,
    )
    logger.info("Consent for %s: the changed text is asked about (once per text).", purpose)


def _require_link(conn: Connection, family: str, senior: str, what: str) -> None:
    """NotLinked unless ``family`` is linked to ``senior`` now (read in the caller's transaction);
    ConsentOutdated when the senior agreed to an older text of the family consent, which may not have
    said that family can do this (the older texts did not mention cancelling or moving)."""
    c = family_links.c
    linked = conn.execute(sa.select(c.id).where(c.family == family, c.senior == senior, c.status == "active")).first()
    if linked is None:
        raise NotLinked(f"the family link ended before the {what} was made")
    if consent_state(conn, senior, "family") != "current":
        raise ConsentOutdated("family", senior)


def consent_state(conn: Connection, address: str, purpose: str) -> str:
    c, w = consents.c, consent_wordings.c
    if conn.execute(sa.select(c.id).where(c.address == address, c.purpose == purpose)).first() is None:
        return "none"
    wording = conn.execute(sa.select(w.wording).where(w.address == address, w.purpose == purpose)).scalar()
    # No text recorded: given before texts were kept, to one of the older texts.
    return "current" if wording == consent_wording(purpose) else "outdated"


def slot_when(slot: Slot) -> str:
    """12月9日（星期三）14:00: the date, its weekday and the starting time."""
    start = slot.start.astimezone(SHANGHAI)
    return f"{describe_date(start.date())}{start:%H:%M}"


def booking_values(booking: Booking) -> dict[str, str]:
    """What a message about one booking says: service, when, place and the code read in two groups."""
    service = default_catalog().service(booking.slot.service)
    return {
        "service": service.name,
        "when": slot_when(booking.slot),
        "place": service.resource(booking.slot.resource).name,
        "code": format_code(booking.code),
    }


def _day_words(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"
