"""action_kb_answer: answer a question from the knowledge base, naming the entry.

The index is built once per process at import (the action server loads this module at
start) and follows the knowledge base's version, so an administrator's edit is answered
by the next message without a retrain or restart.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.menus import MENU_RESPONSES
from knowledge_base.answers import Reply, compose
from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import LiveIndex
from knowledge_base.store import KBStore

logger = logging.getLogger(__name__)

# Which collection to try first for each question intent; the whole KB is the fallback.
INTENT_COLLECTION = {
    "ask_care_service": "services",
    "ask_legal": "legal",
    "ask_insurance": "insurance",
    "scam_worry": "legal",
}

_index: LiveIndex | None = None


def knowledge_index() -> LiveIndex:
    """The process-wide live index over the KB store (seeded from knowledge_base/data if empty)."""
    global _index
    if _index is None:
        store = KBStore()
        if store.seed_if_empty(builtin_entries()):
            logger.info("Seeded the knowledge base from knowledge_base/data.")
        index = LiveIndex(store, poll_seconds=float(os.environ.get("KB_POLL_SECONDS", "0.2")))
        index.refresh(force=True)
        logger.info("Knowledge index ready: %d entries, version %d.", len(index.entries), index.version)
        _index = index
    return _index


if os.environ.get("YINLING_WARM_KB", "1") != "0":
    # The action server imports this module at start: build the index now, so the
    # server reports healthy only when it can answer.
    knowledge_index()


def kb_reply(message: dict[str, Any]) -> Reply:
    """Search the KB for the message's text; a street it names points to that street's entries."""
    index = knowledge_index()
    text = str(message.get("text") or "")
    street = next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == "street"), None)
    hits = index.search(text, top_k=5)
    if street:
        local = index.search(text, top_k=3, street=str(street))
        if local and local[0].score >= index.settings.threshold:
            hits = local + hits
    reply = compose(hits, index.entries, index.settings.threshold)
    logger.info(
        "KB answer: intent=%s entry=%s score=%.3f confident=%s",
        (message.get("intent") or {}).get("name"),
        reply.entry_id,
        reply.score,
        reply.confident,
    )
    return reply


def utter_reply(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    dispatcher.utter_message(
        text=reply.text,
        json_message={"kb_entry": reply.entry_id, "score": round(reply.score, 4), "confident": reply.confident},
    )


class ActionKnowledgeAnswer(Action):
    def name(self) -> str:
        return "action_kb_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        if not text or text.startswith("/"):
            # A button press carries no question; ask for one.
            intent = str((message.get("intent") or {}).get("name"))
            dispatcher.utter_message(response=MENU_RESPONSES.get(intent, MENU_RESPONSES["ask_care_service"]))
            return []
        utter_reply(dispatcher, kb_reply(message))
        return []


class ActionFallbackKnowledge(Action):
    """When the classifier is unsure, a confident knowledge-base answer still beats "I didn't understand"."""

    def name(self) -> str:
        return "action_fallback_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        reply = kb_reply(message) if message.get("text") else None
        if reply is not None and reply.confident:
            utter_reply(dispatcher, reply)
        else:
            dispatcher.utter_message(response="utter_default")
        return []
