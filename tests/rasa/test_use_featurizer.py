from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.use_featurizer import USESentenceFeaturizer


def _featurizer(tmp_path, **config) -> USESentenceFeaturizer:  # type: ignore[no-untyped-def]
    return USESentenceFeaturizer.create(
        {**USESentenceFeaturizer.get_default_config(), **config},
        LocalModelStorage(tmp_path),
        Resource("use"),
        ExecutionContext(graph_schema=None, node_name="use"),  # type: ignore[arg-type]
    )


def _sentence(message: Message) -> np.ndarray:
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence is None, "only sentence-level features are added"
    return np.asarray(sentence.features)


def test_sentence_features_are_unit_vectors_that_track_meaning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    messages = [Message(data={TEXT: t}) for t in ("长护险怎么申请", "长户险怎么申请", "遗嘱公证要带什么")]
    messages.append(Message(data={}))  # no text: no features, no error
    _featurizer(tmp_path).process(messages)
    care, care_typo, will = (_sentence(m) for m in messages[:3])
    assert care.shape == (1, 512)
    assert abs(float(np.linalg.norm(care)) - 1.0) < 1e-3
    assert float(care @ care_typo.T) > float(care @ will.T)
    assert messages[-1].get_dense_features(TEXT) == (None, None)


def test_training_examples_are_featurized_in_batches_and_match_one_at_a_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = [f"我想约个助浴 第{i}次" for i in range(7)]
    data = TrainingData([Message(data={TEXT: t, "intent": "book_service"}) for t in texts])
    _featurizer(tmp_path, batch_size=3).process_training_data(data)
    alone = [Message(data={TEXT: t}) for t in texts]
    _featurizer(tmp_path).process(alone)
    for batched, single in zip(data.training_examples, alone):
        assert np.allclose(_sentence(batched), _sentence(single), atol=1e-5)


@pytest.mark.parametrize("config", [{"threads": 0}, {"batch_size": -1}, {"threads": "2"}, {"batch_size": True}])
def test_bad_settings_are_refused_by_name(config: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigException, match=next(iter(config))):
        USESentenceFeaturizer.validate_config({**USESentenceFeaturizer.get_default_config(), **config})
