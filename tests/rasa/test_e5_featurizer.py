from __future__ import annotations

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.e5_featurizer import E5SentenceFeaturizer


def _featurize(tmp_path, texts: list[str]) -> list[np.ndarray]:
    featurizer = E5SentenceFeaturizer.create(
        E5SentenceFeaturizer.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("e5"),
        ExecutionContext(graph_schema=None, node_name="e5"),  # type: ignore[arg-type]
    )
    messages = [Message(data={TEXT: t}) for t in texts] + [Message(data={})]
    featurizer.process(messages)
    out = []
    for message in messages[:-1]:
        sequence, sentence = message.get_dense_features(TEXT)
        assert sequence is None, "only sentence-level features are added"
        out.append(sentence.features)
    assert messages[-1].get_dense_features(TEXT) == (None, None)
    return out


def test_sentence_features_are_unit_e5_vectors_that_track_meaning(tmp_path) -> None:
    care, care_typo, will = _featurize(tmp_path, ["长护险怎么申请", "长户险怎么申请", "遗嘱公证要带什么"])
    assert care.shape == (1, 384)
    assert abs(float(np.linalg.norm(care)) - 1.0) < 1e-3
    assert float(care @ care_typo.T) > float(care @ will.T)
