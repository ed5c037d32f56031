"""EmergencyGuard: a message that describes danger now is an emergency, whatever DIET says.

Placed after DIETClassifier and before FallbackClassifier. When the normalized text (or
the raw text) matches a phrase in ``training_data/safety.yml``, the message's intent
becomes ``emergency`` with confidence 1.0, so the emergency rule answers first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import regex
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.normalizer import RAW_TEXT

logger = logging.getLogger(__name__)

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "training_data" / "safety.yml"


def load_patterns(path: Path | str) -> list[regex.Pattern[str]]:
    """Compile the emergency phrases; a bad file is a configuration error."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return [regex.compile(p) for p in data["emergency"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, regex.error) as err:
        raise InvalidConfigException(f"EmergencyGuard: cannot load emergency phrases from {path}: {err}") from err


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EmergencyGuard(GraphComponent):
    """Overrides the intent with ``emergency`` when a danger phrase is present."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"table": str(DEFAULT_TABLE), "intent": "emergency"}

    def __init__(self, config: dict[str, Any]) -> None:
        self._patterns = load_patterns(config["table"])
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
        load_patterns(config.get("table", DEFAULT_TABLE))

    def is_emergency(self, text: str) -> bool:
        return any(p.search(text) for p in self._patterns)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            texts = [t for t in (message.get(TEXT), message.get(RAW_TEXT)) if isinstance(t, str)]
            if not any(self.is_emergency(t) for t in texts):
                continue
            current = message.get(INTENT) or {}
            if current.get(INTENT_NAME_KEY) == self._intent and current.get(PREDICTED_CONFIDENCE_KEY, 0) >= 1.0:
                continue
            logger.info(
                "EmergencyGuard routed a message to '%s' (classifier said %s).",
                self._intent,
                current.get(INTENT_NAME_KEY),
            )
            top = {INTENT_NAME_KEY: self._intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
