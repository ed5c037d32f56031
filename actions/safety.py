"""The answer to the one question a safety reply asks, by number or in words.

心慌 said with loneliness or worry (training_data/safety.yml, concern ``palpitations``) is answered by the Rasa
server alone with comfort and one question, ``utter_palpitations``: 1. the body (心跳很快、胸口闷) or 2. the
feelings (心里难受，想找人说说话). A number after it comes here through the numbered-menu reader
(:func:`actions.bookings.menu_choice`, which looks up :data:`QUESTION_ANSWERS` by the response that asked):

- 1: the 120 advice, and the case is flagged for the agents and told to the linked family, as after an
  emergency (:func:`actions.proactive.escalate`).
- 2: someone to talk to — 12356, then what the community offers (``utter_comfort_offer``: a person, its
  services, 每日平安).
- any other number: the sign that means 120, then someone to talk to.

Words need no context: 心跳很快、胸口闷 is an emergency for the Rasa server; 心里难受 and 有没有人能陪我说说话 are
small talk that comforts first (IntentRules, common/comfort.py), never only "nobody is online".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.care import COMFORT_OFFER

Events = list[dict[str, Any]]
BODY, TALK = 1, 2


def answer_palpitations(dispatcher: CollectingDispatcher, tracker: Tracker, number: int | None) -> Events:
    """``number`` picked after ``utter_palpitations``: the body (120), or someone to talk to."""
    if number == BODY:
        dispatcher.utter_message(response="utter_palpitations_body")
        _escalate(tracker)
        return []
    if number != TALK:
        dispatcher.utter_message(response="utter_palpitations_unsure")
    dispatcher.utter_message(response="utter_palpitations_talk")
    dispatcher.utter_message(response=COMFORT_OFFER)
    return []


def _escalate(tracker: Tracker) -> None:
    """The linked family told and a case flagged for the agents, as after an emergency (never raises)."""
    from actions.proactive import escalate  # the care service, loaded on first use

    user: dict[str, Any] = next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})
    escalate(tracker.sender_id, f"{tracker.sender_id}|{user.get('message_id') or user.get('timestamp')}")


# The response that asked → what reads a number given to it.
QUESTION_ANSWERS: dict[str, Callable[[CollectingDispatcher, Tracker, int | None], Events]] = {
    "utter_palpitations": answer_palpitations,
}
