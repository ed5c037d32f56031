"""Grief and fear first: a short line of comfort before the help.

"我老伴不在了，遗产哪能弄" is a question about inheritance asked by someone who has just lost
their partner. The answer starts with one warm sentence (a message of its own), then the help. The patterns read
the normalized text (Shanghainese → Mandarin). Danger is not handled here: emergencies are
answered by the Rasa server before any action runs.
"""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from common.comfort import says_a_death, says_fear, says_loneliness
from textnorm import normalize

# The sentences themselves are responses in domain/knowledge.yml.
CONDOLENCE, REASSURE, COMPANY = "utter_comfort_grief", "utter_comfort_fear", "utter_comfort_lonely"
# What can be done after the warm sentence: a person, the community's services, 每日平安 (numbered).
COMFORT_OFFER = "utter_comfort_offer"


def comfort_response(text: str) -> str | None:
    """The response with one warm sentence for grief, fear or loneliness in ``text``, else None."""
    normalized = normalize(text)
    if says_a_death(normalized):
        return CONDOLENCE
    if says_fear(normalized):
        return REASSURE
    if says_loneliness(normalized):
        return COMPANY
    return None


def comfort(dispatcher: CollectingDispatcher, text: str) -> bool:
    """Feelings with no other answer ("老伴走了以后我一个人 好孤单"): the warm sentence, then what can be done, instead
    of "没听明白" or a form. True when said."""
    response = comfort_response(text) if text else None
    if response is None:
        return False
    dispatcher.utter_message(response=response)
    dispatcher.utter_message(response=COMFORT_OFFER)
    return True
