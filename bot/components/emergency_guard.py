"""EmergencyGuard: a message that describes danger now is an emergency, whatever the classifier says.

Placed last in the pipeline, after FallbackClassifier (it keeps the classifier's other intents in
the ranking, and a confident second intent next to its 1.0 would make the fallback's ambiguity rule
turn an emergency into ``nlu_fallback``). What counts as danger now, of which kind, and what is only a
mention is decided by :mod:`textnorm.safety` over the table ``training_data/safety.yml`` — the same code
and table the 每日平安 reply reader (care/classify.py) uses. When danger now is found, the message's
intent becomes ``emergency`` with confidence 1.0 and an entity ``emergency_kind`` names the kind, so the
first reply fits the case (fire → 119 and get out; stroke → note the time, no food or water).

When the classifier alone said ``emergency`` for a message that only mentions danger (learning first aid,
fearing a fall, the news, a question about what would happen), or for a question that says nothing of
danger now, the guard hands the message to the next intent in the ranking instead.
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

from bot.components.normalizer import RAW_TEXT
from textnorm.safety import DEFAULT_TABLE, GENERAL, Assessment, SafetyTable, SafetyTableError, assess, combine
from textnorm.safety import load_table as _load_table

logger = logging.getLogger(__name__)

KIND_ENTITY = "emergency_kind"
__all__ = ["GENERAL", "KIND_ENTITY", "EmergencyGuard", "load_table"]


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
        return {"table": str(DEFAULT_TABLE), "intent": "emergency"}

    def __init__(self, config: dict[str, Any]) -> None:
        self._table = load_table(config["table"])
        self._intent = str(config["intent"])

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
        return combine(assess(self._table, t) for t in texts)

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
                self._set_emergency(message, found.kind)
            elif said_emergency and (found.mentioned or found.asking):
                self._hand_on(message)
            elif said_emergency:
                self._set_emergency(message, GENERAL)
        return messages

    def _set_emergency(self, message: Message, kind: str) -> None:
        top = {INTENT_NAME_KEY: self._intent, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        text = message.get(TEXT) or ""
        entities = [e for e in message.get(ENTITIES) or [] if e.get(ENTITY_ATTRIBUTE_TYPE) != KIND_ENTITY]
        entities.append(
            {
                ENTITY_ATTRIBUTE_TYPE: KIND_ENTITY,
                ENTITY_ATTRIBUTE_VALUE: kind,
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text),
                EXTRACTOR: self.__class__.__name__,
            }
        )
        message.set(ENTITIES, entities, add_to_output=True)

    def _hand_on(self, message: Message) -> None:
        """The classifier said emergency, but danger was only mentioned: take its next guess."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
        top = ranking[0] if ranking else {INTENT_NAME_KEY: "out_of_scope", PREDICTED_CONFIDENCE_KEY: 1.0}
        logger.info("EmergencyGuard: danger only mentioned; intent '%s' instead.", top.get(INTENT_NAME_KEY))
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking or [top], add_to_output=True)
