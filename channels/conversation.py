"""What a conversation's tracker says, as the channels need it: the visible history, the buttons
the bot last offered, and a restart.

Read from Rasa's own tracker store (``agent.tracker_store``), so every channel and every Rasa
replica sees the same thing, and a message a human agent appends as a ``bot`` event (Rasa's
tracker events API) is part of the history like any other.

**Cursors.** Each visible message carries a cursor ``<session>.<index>``: the start time of the
conversation session it belongs to (milliseconds of its ``session_started`` event; 0 before the
first one) and the event's position in the tracker as the store returns it for that session.
Within a session the store only ever appends, so a position never changes and ``after=<cursor>``
returns exactly the messages that came later — including a message appended by someone else
while the page was busy, which a cursor made of timestamps could skip (clocks of different
processes disagree by milliseconds). A cursor from an earlier session returns the whole current
session.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.events import BotUttered, Event, Restarted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from common.errors import Refusal, YinlingError

logger = logging.getLogger(__name__)

# Metadata keys the channels themselves set on a user message; never taken from a client.
TRUSTED_PAYLOAD = "trusted_payload"
BUTTON_TITLE = "button_title"
RESERVED_METADATA = (TRUSTED_PAYLOAD, BUTTON_TITLE)

_CURSOR = re.compile(r"([0-9]{1,16})\.([0-9]{1,9})")


class ConversationError(YinlingError):
    """Root of this module's errors."""


class BadCursor(ConversationError, Refusal, ValueError):
    """An ``after`` value that no answer of ours ever gave."""


@dataclass(frozen=True, order=True)
class Cursor:
    session: int
    index: int

    def __str__(self) -> str:
        return f"{self.session}.{self.index}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise BadCursor("'after' must be a cursor from an earlier answer, like 1700000000000.12")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Shown:
    """One message as the page shows it."""

    cursor: Cursor
    sender: str  # "user" or "bot"
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    message_id: str | None = None  # of a user message: the page finds its own unsent messages by it

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"cursor": str(self.cursor), "from": self.sender, "text": self.text}
        if self.buttons:
            shown["buttons"] = self.buttons
        if self.message_id:
            shown["message_id"] = self.message_id
        return shown


def clean_buttons(raw: object) -> list[dict[str, str]]:
    """Buttons with a text title and a text payload; anything else in the list is dropped."""
    if not isinstance(raw, list):
        return []
    buttons = []
    for button in raw:
        if isinstance(button, Mapping):
            title, payload = button.get("title"), button.get("payload")
            if isinstance(title, str) and isinstance(payload, str) and title.strip() and payload.strip():
                buttons.append({"title": title, "payload": payload})
    return buttons


def bot_buttons(data: Mapping[str, Any] | None) -> list[dict[str, str]]:
    data = data or {}
    return clean_buttons(data.get("buttons")) + clean_buttons(data.get("quick_replies"))


def strip_reserved(metadata: object) -> dict[str, Any] | None:
    """A client's metadata without the keys only a channel may set (``trusted_payload`` …)."""
    if not isinstance(metadata, Mapping):
        return None
    return {str(k): v for k, v in metadata.items() if k not in RESERVED_METADATA}


def _session_of(events: Sequence[Event]) -> tuple[int, int]:
    """(session key, index of the first event of the visible part: after the last start or restart)."""
    session, start = 0, 0
    for index, event in enumerate(events):
        if isinstance(event, SessionStarted):
            session, start = int(event.timestamp * 1000), index + 1
        elif isinstance(event, Restarted):
            start = index + 1
    return session, start


def _shown(event: Event, cursor: Cursor) -> Shown | None:
    if isinstance(event, UserUttered):
        text = event.text or ""
        metadata = event.metadata or {}
        if metadata.get(TRUSTED_PAYLOAD) is True and isinstance(metadata.get(BUTTON_TITLE), str):
            text = metadata[BUTTON_TITLE]  # the button's words, not its "/intent" payload
        return Shown(cursor, "user", text, message_id=event.message_id) if text.strip() else None
    if isinstance(event, BotUttered):
        text, buttons = event.text or "", bot_buttons(event.data)
        return Shown(cursor, "bot", text, buttons) if text.strip() or buttons else None
    return None


@dataclass(frozen=True)
class History:
    messages: list[Shown]
    cursor: Cursor | None  # where the next ``after`` starts: the last event looked at

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": [m.as_json() for m in self.messages],
            "cursor": str(self.cursor) if self.cursor else None,
        }


def history(tracker: DialogueStateTracker | None, after: Cursor | None = None) -> History:
    """The visible messages of the current session (after its last restart), newer than ``after``."""
    if tracker is None:
        return History([], after)
    events = list(tracker.events)
    session, start = _session_of(events)
    if after is not None and after.session == session:
        start = max(start, after.index + 1)
    messages = [
        shown
        for index in range(start, len(events))
        if (shown := _shown(events[index], Cursor(session, index))) is not None
    ]
    last = Cursor(session, len(events) - 1) if events else after
    if after is not None and last is not None and after.session == session and after > last:
        last = after  # never hand back a cursor that would repeat what the caller has
    return History(messages, last)


def offered_buttons(tracker: DialogueStateTracker | None) -> list[dict[str, str]]:
    """Buttons of the bot's messages since the user last spoke (in the current session)."""
    if tracker is None:
        return []
    events = list(tracker.events)
    _, start = _session_of(events)
    offered: list[dict[str, str]] = []
    for event in events[start:]:
        if isinstance(event, UserUttered):
            offered = []
        elif isinstance(event, BotUttered):
            offered.extend(bot_buttons(event.data))
    return offered


def offered_button(tracker: DialogueStateTracker | None, payload: str) -> dict[str, str] | None:
    """The button the bot last offered with exactly this payload, if any."""
    return next((b for b in offered_buttons(tracker) if b["payload"] == payload), None)


@dataclass(frozen=True)
class Turn:
    """A user message found in the tracker and what the bot said after it (before the user spoke again)."""

    user: Shown | None
    replies: list[Shown]


def turn_of(tracker: DialogueStateTracker | None, message_id: str) -> Turn | None:
    """The turn that began with the user message ``message_id`` in the current session; None if absent."""
    if tracker is None:
        return None
    events = list(tracker.events)
    session, start = _session_of(events)
    for index in range(len(events) - 1, start - 1, -1):
        event = events[index]
        if isinstance(event, UserUttered) and event.message_id == message_id:
            replies: list[Shown] = []
            for later in range(index + 1, len(events)):
                if isinstance(events[later], UserUttered):
                    break
                shown = _shown(events[later], Cursor(session, later))
                if shown is not None:
                    replies.append(shown)
            return Turn(_shown(event, Cursor(session, index)), replies)
    return None


def match_replies(turn: Turn | None, sent: Iterable[Mapping[str, Any]]) -> list[Cursor | None]:
    """The cursor of each message ``sent`` to the user in ``turn``, in order (None: not in the tracker).

    The bot messages a turn recorded are matched with what the output channel collected by their
    words and buttons, in order, so that a page can tell its own replies from a message somebody
    else appended meanwhile. Messages that never reached the tracker (the silence guard's apology)
    get no cursor.
    """
    recorded = list(turn.replies) if turn else []
    cursors: list[Cursor | None] = []
    position = 0
    for message in sent:
        text, buttons = str(message.get("text") or ""), bot_buttons(message)
        found = next(
            (i for i in range(position, len(recorded)) if recorded[i].text == text and recorded[i].buttons == buttons),
            None,
        )
        if found is None:
            cursors.append(None)
        else:
            cursors.append(recorded[found].cursor)
            position = found + 1
    return cursors


async def restart(agent: Any, conversation_id: str) -> bool:
    """Append Rasa's ``restart`` event, so a half-filled form and every slot are gone. False: no such conversation."""
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.tracker_store.retrieve(conversation_id)
        if tracker is None:
            return False
        tracker.update(Restarted())
        await agent.tracker_store.save(tracker)
    logger.info("A web conversation was restarted by its page.")
    return True
