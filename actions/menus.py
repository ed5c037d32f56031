"""Which reply a numbered menu choice (or a button with no question in it) leads to."""

from __future__ import annotations

# Button payload intent → the response that asks what exactly the user wants (domain/).
MENU_RESPONSES = {
    "ask_care_service": "utter_topic_care",
    "ask_legal": "utter_topic_legal",
    "ask_insurance": "utter_topic_insurance",
}
# A button or number that asks for a person runs the handoff (actions/handoff.py), not a reply.
HANDOFF_INTENT = "request_human"
HANDOFF_ACTION = "action_handoff"
