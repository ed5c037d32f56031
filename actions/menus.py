"""Which reply a numbered menu choice (or a button with no question in it) leads to."""

from __future__ import annotations

# Button payload intent → the response that asks what exactly the user wants (domain/).
MENU_RESPONSES = {
    "ask_care_service": "utter_topic_care",
    "ask_legal": "utter_topic_legal",
    "ask_insurance": "utter_topic_insurance",
    "request_human": "utter_handoff",
}
