"""Rasa's SQL tracker store, which also forgets a conversation when 删除我的信息 is confirmed.

``endpoints.yml`` (``make run``, SQLite) and ``deploy/endpoints.cluster.yml`` (``make run-cluster``,
PostgreSQL) name this class as the tracker store. It is Rasa's own ``SQLTrackerStore`` with one
addition: when an event of the turn being saved carries the metadata ``{"yinling":
"forget_conversation"}`` (actions/care.py puts it on the events of a confirmed deletion), every
stored event of that sender — all sessions — is deleted in one transaction and nothing of the turn
is stored. The next message starts a new, empty conversation.

Why here and not in the action server: Rasa's ``SQLTrackerStore.save`` counts the stored events
and appends those of the in-memory tracker beyond that count. Rows deleted by the action server
during the turn would be written back, all of them, when Rasa saves the turn a moment later. The
tracker store itself is the one place that runs after the turn and under the conversation's lock.

Only the sender's own turn can carry the marker (it is an event returned by the action server,
which accepts calls only from Rasa). Nothing of the conversation is logged: the log says that a
conversation was deleted and how many events it had, never whose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

MARKER_KEY = "yinling"
FORGET = "forget_conversation"


def forgets(events: Iterable[Event]) -> bool:
    """True when one of ``events`` asks for the conversation to be deleted."""
    for event in events:
        metadata: Any = event.metadata
        if isinstance(metadata, dict) and metadata.get(MARKER_KEY) == FORGET:
            return True
    return False


class ForgettingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` + deleting a sender's whole conversation on the action server's request."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            new = list(self._additional_events(session, tracker))
        if forgets(new):
            deleted = self.forget(tracker.sender_id)
            logger.info("Conversation deleted from the tracker store on the user's request (%d events).", deleted)
            return
        await super().save(tracker)

    def forget(self, sender_id: str) -> int:
        """Delete every stored event of ``sender_id`` (all sessions); returns how many there were."""
        with self.session_scope() as session:
            deleted = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
        return int(deleted)
