"""The turn before the latest user message, read from a tracker's events (Rasa's JSON, both runtimes).

Several readers ask what the bot said just before the senior's latest message: the handoff (was it our question
for a number?), the menus (which numbered choices did it offer?), the knowledge answers and the staff's
unanswered list (was it a knowledge answer, from which entry?), and the booking form (what did a slot hold
before this message?). They all walk the events the same way, here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

Event = dict[str, Any]


def before_latest_user(events: Sequence[Event]) -> Iterator[Event]:
    """The events before the latest user message, newest first (none when there is no user message)."""
    seen_user = False
    for event in reversed(events):
        if seen_user:
            yield event
        elif event.get("event") == "user":
            seen_user = True


def previous_bot_messages(events: Sequence[Event]) -> list[Event]:
    """The bot's messages between the previous user message and the latest one, oldest first."""
    found: list[Event] = []
    for event in before_latest_user(events):
        kind = event.get("event")
        if kind == "user":
            break
        if kind == "bot":
            found.append(event)
    found.reverse()
    return found


def kb_entry_of(bot_event: Event) -> str | None:
    """The knowledge entry a bot message answered from (its ``custom.kb_entry``), if any."""
    custom = (bot_event.get("data") or {}).get("custom") or {}
    entry = custom.get("kb_entry") if isinstance(custom, dict) else None
    return str(entry) if entry else None


def previous_kb_entry(events: Sequence[Event]) -> str | None:
    """The entry of the bot's last message before the latest user message, if that was a knowledge answer."""
    messages = previous_bot_messages(events)
    return kb_entry_of(messages[-1]) if messages else None


def previous_response(events: Sequence[Event]) -> str | None:
    """The response (``utter_*`` name) of the bot's last message before the latest user message."""
    messages = previous_bot_messages(events)
    return (messages[-1].get("metadata") or {}).get("utter_action") if messages else None


def slot_before_latest_user(events: Sequence[Event], slot: str) -> Any:
    """The value a slot was last set to before the latest user message (None if it never was)."""
    for event in before_latest_user(events):
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None
