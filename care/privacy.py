"""删除我的信息: a senior's personal data removed from every store the app runtime owns.

- care tables and bookings (one database, one transaction: :meth:`care.service.Care.delete_person`);
- the staff database: the senior's handoffs, callback tickets (which hold the phone number), answers
  marked by agents (they quote the conversation) and agents' bookings; the staff audit keeps its
  rows without the conversation id;
- the audit (care_audit) keeps only that a deletion happened, and when — no id, no count of what.

The conversation itself lives in Rasa's tracker store, which belongs to the Rasa server: the action
that confirms the deletion marks its events (``actions/proactive.py``), and the Rasa server's tracker
store (``bot/tracker_store.py``, SQLite under ``make run``, PostgreSQL under ``make run-cluster``)
deletes every stored event of that conversation when it saves the turn.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from care.service import Care
from staff.db import StaffDB, agent_bookings, events, feedback, handoffs, tickets
from staff.db import audit as staff_audit

logger = logging.getLogger(__name__)


def delete_everywhere(care: Care, address: str, staff_database_url: str | None = None) -> dict[str, int]:
    counts = care.delete_person(address)
    staff = StaffDB(staff_database_url)
    try:
        with staff.write() as conn:
            ids = list(conn.execute(sa.select(handoffs.c.id).where(handoffs.c.conversation_id == address)).scalars())
            ticket_ids = list(
                conn.execute(sa.select(tickets.c.id).where(tickets.c.conversation_id == address)).scalars()
            )
            if ids or ticket_ids:
                conn.execute(
                    events.delete().where(sa.or_(events.c.handoff_id.in_(ids), events.c.ticket_id.in_(ticket_ids)))
                )
            counts["tickets"] = int(conn.execute(tickets.delete().where(tickets.c.id.in_(ticket_ids))).rowcount)
            counts["handoffs"] = int(conn.execute(handoffs.delete().where(handoffs.c.id.in_(ids))).rowcount)
            # Marked answers quote the conversation; agents' bookings name it.
            counts["feedback"] = int(
                conn.execute(feedback.delete().where(feedback.c.conversation_id == address)).rowcount
            )
            conn.execute(agent_bookings.delete().where(agent_bookings.c.conversation_id == address))
            # The staff audit keeps what was done, no longer to whom.
            conn.execute(
                staff_audit.update().where(staff_audit.c.conversation_id == address).values(conversation_id=None)
            )
    finally:
        staff.dispose()
    logger.info("Deleted everywhere: %s.", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return counts
