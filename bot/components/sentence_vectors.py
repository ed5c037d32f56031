"""What the sentence featurizers share (``e5_featurizer``, ``use_featurizer``): one loaded model per process and
thread count, and sentence features added to messages in batches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

_lock = threading.Lock()
_models: dict[tuple[str, int], Any] = {}


def shared_model(name: str, threads: int, load: Callable[[], Any]) -> Any:
    """The process-wide model ``name`` for ``threads`` (loading reads large arrays: once, under a lock)."""
    with _lock:
        if (name, threads) not in _models:
            _models[name, threads] = load()
        return _models[name, threads]


def add_sentence_features(
    messages: Sequence[Message], encode: Callable[[list[str]], Any], origin: str, batch_size: int
) -> None:
    """Each message's text encoded (``batch_size`` at a time) and added as its dense sentence features."""
    for offset in range(0, len(messages), batch_size):
        batch = messages[offset : offset + batch_size]
        vectors = np.asarray(encode([m.get(TEXT) for m in batch]), dtype=np.float32)
        for message, vector in zip(batch, vectors.reshape(len(batch), -1)):
            message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, origin))
