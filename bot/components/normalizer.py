"""TextNormalizer: the first pipeline step, normalizing colloquial Chinese in place.

Runs before the tokenizer so that every later component (jieba, CountVectors, DIET,
the E5 featurizer, the emergency guard) sees the same normalized text. Entity offsets
of training examples are moved onto the normalized text; an entity whose characters
were all removed (an annotated emoji, say) is dropped.
"""

from __future__ import annotations

import logging
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
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from textnorm.normalize import DEFAULT_MAX_CHARS, DEFAULT_TABLE, NormalizationTableError, Normalizer

logger = logging.getLogger(__name__)

# The raw text is kept on the message under this key, for components that must see
# what the user typed (the emergency guard also scans it).
RAW_TEXT = "text_raw"
# Rasa reads a message starting with "/" as an intent command ("/emergency", "/book_service{...}").
# Only a channel may send one, for a button it offered and verified, by setting this metadata key;
# from anyone else "/" is just a character, stripped here before Rasa's command parser sees the text.
TRUSTED_PAYLOAD = "trusted_payload"


def is_trusted_payload(message: Message) -> bool:
    metadata = message.get("metadata")
    return isinstance(metadata, dict) and metadata.get(TRUSTED_PAYLOAD) is True


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Normalizes the user's text: 繁→简, 全角→半角, 上海话虚词, emoji, repeated punctuation."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"table": str(DEFAULT_TABLE), "max_chars": DEFAULT_MAX_CHARS}

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            self._normalizer = Normalizer(config["table"], int(config["max_chars"]))
        except NormalizationTableError as err:
            raise InvalidConfigException(f"TextNormalizer: {err}. Fix the table or the 'table' option.") from err

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        return cls(config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("max_chars", DEFAULT_MAX_CHARS)) < 1:
            raise InvalidConfigException("TextNormalizer: 'max_chars' must be a positive integer.")

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def _normalize(self, message: Message) -> None:
        raw = message.get(TEXT)
        if not isinstance(raw, str) or not raw:
            return
        if raw.lstrip().startswith("/") and is_trusted_payload(message):
            return  # a verified button payload: Rasa parses it as the intent it names
        result = self._normalizer.normalize(raw)
        if result.text.lstrip().startswith("/"):
            # Typed, not pressed (also "／" full-width, which normalizing makes "/").
            message.set(RAW_TEXT, raw)
            message.set(TEXT, result.text.lstrip(" /") or "？")
            return
        if not result.text:
            # Nothing but emoji or punctuation: keep the raw text so the classifier
            # still sees something (and falls back politely) instead of an empty message.
            return
        message.set(RAW_TEXT, raw)
        message.set(TEXT, result.text)
        entities = message.get(ENTITIES)
        if not entities:
            return
        moved = []
        for entity in entities:
            span = result.map_span(entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END])
            if span is None:
                logger.warning("An annotated entity of type %s vanished during normalization.", entity.get("entity"))
                continue
            start, end = entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END]
            value = entity.get(ENTITY_ATTRIBUTE_VALUE)
            if value == raw[start:end]:
                # No synonym was annotated: the value is the span, so it follows the text.
                value = result.text[span[0] : span[1]]
            moved.append(
                {
                    **entity,
                    ENTITY_ATTRIBUTE_START: span[0],
                    ENTITY_ATTRIBUTE_END: span[1],
                    ENTITY_ATTRIBUTE_VALUE: value,
                }
            )
        message.set(ENTITIES, moved)
