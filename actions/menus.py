"""Which reply a numbered menu choice (or a button with no question in it) leads to (actions/topics.yml)."""

from __future__ import annotations

from actions.topics import load

_TOPICS = load()
# Button payload intent → the response that asks what exactly the user wants (domain/).
MENU_RESPONSES = {t.intent: t.ask for t in _TOPICS.topics if t.ask}
# A button or number that asks for a person runs the handoff (actions/handoff.py), not a reply.
HANDOFF_INTENT = _TOPICS.handoff.intent
HANDOFF_ACTION = _TOPICS.handoff.action
# What a button press with no question and no topic of its own asks: the first topic's question.
DEFAULT_MENU_RESPONSE = next(iter(MENU_RESPONSES.values()))
