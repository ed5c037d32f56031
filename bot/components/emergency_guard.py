"""EmergencyGuard: a message that describes danger now is an emergency, whatever the classifier says.

Placed last in the pipeline, after FallbackClassifier (it keeps the classifier's other intents in
the ranking, and a confident second intent next to its 1.0 would make the fallback's ambiguity rule
turn an emergency into ``nlu_fallback``). What counts as danger now, of which kind, and what is only a
mention is decided by :mod:`textnorm.safety` over the table ``training_data/safety.yml`` — the same code
and table the 每日平安 reply reader (care/classify.py) uses. When danger now is found, the message's
intent becomes ``emergency`` with confidence 1.0 and an entity ``emergency_kind`` names the kind, so the
first reply fits the case (fire → 119 and get out; stroke → note the time, no food or water).

A danger feared (我怕半夜心脏病发作) or asked how to help with (老年人噎住了怎么急救) is the intent ``concern`` with
``concern_kind`` ``fear`` or ``first_aid`` and an entity ``danger_kind`` naming the danger: what to prepare, or short
first-aid steps after "if it is happening now, call 120" (``utter_concern``). 我老伴噎住了 喘不上气 stays an emergency.

With no danger now, a trouble below an emergency (the table's ``concerns``: a burst pipe, a power cut, a
broken lift or lock, a health complaint such as 头晕 血压170 要紧伐) becomes the intent ``concern`` with an
entity ``concern_kind``, whatever the classifier said, and gets practical advice from the Rasa server alone
(``utter_concern``); 心慌 said with loneliness or worry becomes ``palpitations``, answered with comfort and one
numbered question (the body → 120; the feelings → someone to talk to). A message naming a service (家庭医生
能上门伐) stays the classifier's.

When the classifier alone said ``emergency`` for a message that only mentions danger (learning first aid,
fearing a fall, the news, a question about what would happen), or for a question that says nothing of
danger now, the guard hands the message to the classifier's next guess — judged like any other guess, with
the fallback thresholds the intent model chose (:mod:`bot.components.calibrated_fallback`): a next guess at
0.004 is ``nlu_fallback``, not a scam warning. A health complaint said with a severe word or a sign of the body
(血压二百多 头痛得厉害) is never handed on: the alarm stands. So is its alarm for feelings alone (一个人在家 睡不着): small
talk and the fallback's knowledge-base search both comfort first (actions/care.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.components.calibrated_fallback import fallback_intent, falls_back, suggested_thresholds
from bot.components.normalizer import RAW_TEXT
from textnorm.safety import (
    DEFAULT_TABLE,
    FEAR,
    FEELINGS,
    FIRST_AID,
    GENERAL,
    PALPITATIONS,
    Assessment,
    SafetyTable,
    SafetyTableError,
    assess,
    combine,
)
from textnorm.safety import load_table as _load_table

logger = logging.getLogger(__name__)

KIND_ENTITY = "emergency_kind"
CONCERN_ENTITY = "concern_kind"
# with the concern `fear` or `first_aid`: which danger is feared or asked about (a kind of the table's `kinds`)
DANGER_ENTITY = "danger_kind"
__all__ = ["CONCERN_ENTITY", "DANGER_ENTITY", "GENERAL", "KIND_ENTITY", "EmergencyGuard", "load_table"]


def load_table(path: Path | str) -> SafetyTable:
    """Compile the safety table; a bad file is Rasa's configuration error, saying what to fix."""
    try:
        return _load_table(path)
    except SafetyTableError as err:
        raise InvalidConfigException(f"EmergencyGuard: {err}") from err


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EmergencyGuard(GraphComponent):
    """Overrides the intent with ``emergency`` when danger now is described, and names its kind."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "table": str(DEFAULT_TABLE),
            "intent": "emergency",
            # below an emergency: practical advice (utter_concern), and 心慌 with feelings (one question)
            "concern_intent": "concern",
            "palpitations_intent": "palpitations",
            # for a next guess when the message carries no thresholds of the intent model (Rasa's defaults)
            "threshold": 0.3,
            "ambiguity_threshold": 0.1,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._table = load_table(config["table"])
        self._intent = str(config["intent"])
        self._concern_intent = str(config["concern_intent"])
        self._palpitations_intent = str(config["palpitations_intent"])
        self._thresholds = float(config["threshold"]), float(config["ambiguity_threshold"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmergencyGuard:
        return cls(config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        load_table(config.get("table", DEFAULT_TABLE))

    def assess(self, message: Message) -> Assessment:
        texts = dict.fromkeys(t for t in (message.get(TEXT), message.get(RAW_TEXT)) if isinstance(t, str) and t)
        return combine((assess(self._table, t) for t in texts), self._table)

    def is_emergency(self, text: str) -> bool:
        return assess(self._table, text).kind is not None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            found = self.assess(message)
            current = message.get(INTENT) or {}
            said_emergency = current.get(INTENT_NAME_KEY) == self._intent
            if found.kind is not None:
                if not (said_emergency and current.get(PREDICTED_CONFIDENCE_KEY, 0) >= 1.0):
                    logger.info(
                        "EmergencyGuard routed a message to '%s' (kind %s; classifier said %s).",
                        self._intent,
                        found.kind,
                        current.get(INTENT_NAME_KEY),
                    )
                self._route(message, self._intent, KIND_ENTITY, found.kind)
            elif found.concern is not None and found.concern != FEELINGS:
                intent = self._palpitations_intent if found.concern == PALPITATIONS else self._concern_intent
                logger.info(
                    "EmergencyGuard: below an emergency (%s); intent '%s' (classifier said %s).",
                    found.concern,
                    intent,
                    current.get(INTENT_NAME_KEY),
                )
                self._route(message, intent, CONCERN_ENTITY, found.concern)
                if found.concern in (FEAR, FIRST_AID):
                    self._add_entity(message, DANGER_ENTITY, found.danger or GENERAL)
            elif said_emergency and not found.urgent and (found.mentioned or found.asking or found.concern == FEELINGS):
                self._hand_on(message)
            elif said_emergency:
                self._route(message, self._intent, KIND_ENTITY, GENERAL)
        return messages

    def _route(self, message: Message, intent: str, entity: str | None = None, value: str | None = None) -> None:
        """``intent`` at confidence 1.0, first in the ranking; with ``entity`` naming its kind (``value``)."""
        top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
        dropped = {intent, self._intent}  # an alarm overruled leaves no `emergency` behind it in the ranking
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) not in dropped]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        if entity is not None:
            self._add_entity(message, entity, value)

    def _add_entity(self, message: Message, entity: str, value: str | None) -> None:
        """An entity the guard sets (``emergency_kind``, ``concern_kind``, ``danger_kind``) over the whole text."""
        text = message.get(TEXT) or ""
        entities = [e for e in message.get(ENTITIES) or [] if e.get(ENTITY_ATTRIBUTE_TYPE) != entity]
        entities.append(
            {
                ENTITY_ATTRIBUTE_TYPE: entity,
                ENTITY_ATTRIBUTE_VALUE: value,
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text),
                EXTRACTOR: self.__class__.__name__,
            }
        )
        message.set(ENTITIES, entities, add_to_output=True)

    def _hand_on(self, message: Message) -> None:
        """The classifier said emergency, but danger was only mentioned: its next guess, judged like any guess.

        The next guess keeps the confidence the classifier gave it (its calibrated probability); below the
        intent model's fallback thresholds, or too close to the guess after it, the message is ``nlu_fallback``
        (the action server still looks in the knowledge base for it)."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
        threshold, ambiguity = suggested_thresholds(message, self._thresholds)
        if falls_back(ranking, threshold, ambiguity):
            top = fallback_intent(threshold)
            ranking = [top, *ranking]
        else:
            top = ranking[0]
        logger.info("EmergencyGuard: danger only mentioned; intent '%s' instead.", top.get(INTENT_NAME_KEY))
        message.set(INTENT, dict(top), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
