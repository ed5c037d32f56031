"""Early exit (a cheap head answers alone when sure; e5 only for the rest) and the calibrated fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components import e5_featurizer
from bot.components.calibrated_fallback import CalibratedFallbackClassifier
from bot.components.e5_featurizer import E5_PENDING, E5SentenceFeaturizer
from bot.components.linear_intent import FALLBACK_KEY, LinearIntentClassifier, LinearIntentError, choose_exit, mix_exit
from bot.components.normalizer import TextNormalizer
from bot.components.use_featurizer import USESentenceFeaturizer
from tests.rasa.test_linear_intent import UNSEEN, _context, _train


def _lazy_featurizer(tmp_path: Path) -> E5SentenceFeaturizer:
    config = {**E5SentenceFeaturizer.get_default_config(), "lazy": True}
    return E5SentenceFeaturizer.create(config, LocalModelStorage(tmp_path), Resource("e5"), _context("e5"))


def _lazy_messages(featurizer: E5SentenceFeaturizer, texts: list[str]) -> list[Message]:
    messages = [Message(data={TEXT: t}) for t in texts]
    TextNormalizer(TextNormalizer.get_default_config()).process(messages)
    featurizer.process(messages)
    return messages


def test_a_lazy_featurizer_marks_the_embedding_pending_and_embed_pending_computes_it(tmp_path: Path) -> None:
    featurizer = _lazy_featurizer(tmp_path)
    message, empty = _lazy_messages(featurizer, ["长护险怎么申请", ""])
    _, placeholder = message.get_dense_features(TEXT)
    assert placeholder is not None and placeholder.features.shape == (1, 0)
    # CRFEntityExtractor extracts nothing from a message without any features: the placeholder counts.
    assert message.features_present(TEXT) and not empty.features_present(TEXT)
    assert isinstance(message.get(E5_PENDING), dict) and empty.get(E5_PENDING) is None
    assert E5_PENDING not in message.as_dict(only_output_properties=True)
    e5_featurizer.embed_pending([message, empty])
    _, sentence = message.get_dense_features(TEXT)
    assert sentence is not None and sentence.features.shape == (1, 384)
    assert message.get(E5_PENDING) is None
    assert empty.get_dense_features(TEXT) == (None, None)


def test_the_lazy_featurizer_still_embeds_training_data(tmp_path: Path) -> None:
    from rasa.shared.nlu.training_data.training_data import TrainingData

    message = Message(data={TEXT: "长护险怎么申请", INTENT: "ask_care_service"})
    _lazy_featurizer(tmp_path).process_training_data(TrainingData(training_examples=[message]))
    assert message.get_dense_features(TEXT)[1] is not None and message.get(E5_PENDING) is None


def test_choose_exit_takes_the_lowest_threshold_that_costs_no_accuracy_out_of_fold() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    full = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.3, 0.7], [0.7, 0.3], [0.4, 0.6]])  # all right
    # The character head is right and sure on the first three, unsure (0.55) and wrong on the rest.
    early = np.array([[0.99, 0.01], [0.01, 0.99], [0.97, 0.03], [0.55, 0.45], [0.45, 0.55], [0.55, 0.45]])
    chosen = choose_exit(early, full, y)
    assert chosen["threshold"] == 0.6 and chosen["exits"] == 0.5 and chosen["accuracy"] == 1.0
    mixed = mix_exit(early, full, chosen["threshold"])
    assert np.array_equal(mixed[:3], early[:3]) and np.array_equal(mixed[3:], full[3:])
    # A character head that is sure and wrong is never allowed to answer alone.
    assert choose_exit(early[:, ::-1], full, y)["threshold"] is None
    assert mix_exit(early, full, None) is full


def test_early_exit_answers_sure_messages_without_the_embedding(tmp_path: Path, monkeypatch: Any) -> None:
    featurizer = E5SentenceFeaturizer.create(
        E5SentenceFeaturizer.get_default_config(), LocalModelStorage(tmp_path / "e5"), Resource("e5"), _context("e5")
    )
    normalizer = TextNormalizer(TextNormalizer.get_default_config())
    classifier, *_ = _train((normalizer, featurizer), tmp_path / "model", early_exit=True)
    model = classifier._model
    assert model is not None and model.exit_head is not None
    model.exit_threshold = 0.0  # every message sure: nothing may be embedded
    calls: list[int] = []
    real = e5_featurizer._embed
    monkeypatch.setattr(e5_featurizer, "_embed", lambda m, *a: (calls.append(len(m)), real(m, *a)))
    lazy = _lazy_featurizer(tmp_path / "lazy")
    messages = classifier.process(_lazy_messages(lazy, list(UNSEEN)))
    assert calls == [] and all(m.get(E5_PENDING) for m in messages)
    assert [m.get(INTENT)["name"] for m in messages] == list(UNSEEN.values())
    model.exit_threshold = 1.01  # nobody sure: every message gets its embedding
    messages = classifier.process(_lazy_messages(lazy, list(UNSEEN)))
    assert calls == [len(UNSEEN)] and all(m.get_dense_features(TEXT)[1] is not None for m in messages)
    assert [m.get(INTENT)["name"] for m in messages] == list(UNSEEN.values())


def test_the_early_exit_and_the_fallback_suggestion_survive_storage(tmp_path: Path) -> None:
    featurizer = E5SentenceFeaturizer.create(
        E5SentenceFeaturizer.get_default_config(), LocalModelStorage(tmp_path / "e5"), Resource("e5"), _context("e5")
    )
    steps = (TextNormalizer(TextNormalizer.get_default_config()), featurizer)
    classifier, storage, resource, config = _train(steps, tmp_path / "model", early_exit=True)
    assert classifier._model is not None
    report = classifier._model.report
    assert "early_exit" in report and len(report["early_exit"]["grid"]) > 1
    loaded = LinearIntentClassifier.load(config, storage, resource, _context("linear_intent"))
    assert loaded._model is not None
    assert loaded._model.exit_threshold == classifier._model.exit_threshold
    assert loaded._model.fallback == classifier._model.fallback is not None
    (message,) = loaded.process(_lazy_messages(_lazy_featurizer(tmp_path / "lazy"), ["设一个八点半的闹钟"]))
    assert message.get(INTENT)["name"] == "set_alarm"
    assert message.get(FALLBACK_KEY) == classifier._model.fallback
    assert FALLBACK_KEY not in message.as_dict(only_output_properties=True)


@pytest.mark.parametrize(
    "config", [{"early_exit": "yes"}, {"early_exit": True, "blocks": ["char"]}, {"early_exit": True, "combine": "vote"}]
)
def test_bad_early_exit_settings_say_what_to_change(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfigException, match="early_exit"):
        LinearIntentClassifier.validate_config(config)


def _classified(confidences: list[float], suggestion: dict[str, float] | None) -> Message:
    message = Message(data={TEXT: "x"})
    ranking = [{"name": f"i{n}", "confidence": c} for n, c in enumerate(confidences)]
    message.set(INTENT, ranking[0], add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
    if suggestion is not None:
        message.set(FALLBACK_KEY, suggestion)
    return message


def test_the_calibrated_fallback_uses_the_models_thresholds_and_else_its_own() -> None:
    fallback = CalibratedFallbackClassifier({"threshold": 0.3, "ambiguity_threshold": 0.1})
    lenient = _classified([0.5, 0.45], {"threshold": 0.2, "ambiguity_threshold": 0.0})
    strict = _classified([0.5, 0.45], None)  # 0.05 apart: ambiguous by the config's 0.1
    low = _classified([0.35, 0.1], {"threshold": 0.4, "ambiguity_threshold": 0.0})
    fallback.process([lenient, strict, low])
    assert lenient.get(INTENT)["name"] == "i0"
    assert strict.get(INTENT) == {"name": "nlu_fallback", "confidence": 0.3}
    assert low.get(INTENT) == {"name": "nlu_fallback", "confidence": 0.4}
    assert low.get(INTENT_RANKING_KEY)[0]["name"] == "nlu_fallback" and low.get(INTENT_RANKING_KEY)[1]["name"] == "i0"
    nothing = Message(data={TEXT: ""})
    nothing.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
    nothing.set(INTENT_RANKING_KEY, [], add_to_output=True)
    fallback.process([nothing])
    assert nothing.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize("config", [{"threshold": 1.5}, {"ambiguity_threshold": -0.1}, {"threshold": True}])
def test_bad_fallback_settings_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfigException, match="CalibratedFallbackClassifier"):
        CalibratedFallbackClassifier.validate_config(config)


# ---------------------------------------------------------------- a cheap head over characters and USE, e5 for the rest


def _aliased(tmp_path: Path, lazy: bool) -> tuple[TextNormalizer, USESentenceFeaturizer, E5SentenceFeaturizer]:
    use = USESentenceFeaturizer.create(
        {**USESentenceFeaturizer.get_default_config(), "alias": "use"},
        LocalModelStorage(tmp_path),
        Resource("use"),
        _context("use"),
    )
    e5 = E5SentenceFeaturizer.create(
        {**E5SentenceFeaturizer.get_default_config(), "alias": "e5", "lazy": lazy},
        LocalModelStorage(tmp_path),
        Resource("e5"),
        _context("e5"),
    )
    return TextNormalizer(TextNormalizer.get_default_config()), use, e5


def _featurized(steps: tuple[Any, ...], texts: list[str]) -> list[Message]:
    messages = [Message(data={TEXT: t}) for t in texts]
    for step in steps:
        step.process(messages)
    return messages


CHEAP_HEAD = {"dense_scale": {"use": [1.0, 2.0], "e5": [3.0]}, "early_exit": True, "exit_featurizers": ["use"]}


def _train_two_sources(tmp_path: Path) -> tuple[LinearIntentClassifier, LocalModelStorage, Resource, dict[str, Any]]:
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from tests.rasa.test_linear_intent import EXAMPLES

    messages = []
    for intent, texts in EXAMPLES.items():
        for message in _featurized(_aliased(tmp_path / "features", lazy=False), texts):
            message.set(INTENT, intent)
            messages.append(message)
    (tmp_path / "model").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "model"), Resource("linear_intent")
    config = {**LinearIntentClassifier.get_default_config(), **CHEAP_HEAD}
    classifier = LinearIntentClassifier.create(config, storage, resource, _context("linear_intent"))
    classifier.train(TrainingData(training_examples=messages))
    return classifier, storage, resource, config


def test_the_cheap_head_reads_characters_and_use_and_e5_runs_only_for_the_rest(
    tmp_path: Path, monkeypatch: Any
) -> None:
    classifier, storage, resource, config = _train_two_sources(tmp_path)
    model = classifier._model
    assert model is not None and model.exit_head is not None
    assert model.sources == [("use",), ("e5",)] and model.dense_dims == [512, 384]
    assert model.exit_head.blocks == ("char", "dense") and model.exit_head.sources == (0,)
    assert model.heads[0].sources == (0, 1) and model.heads[0].scales[1] == 3.0
    report = model.report
    # Every scale of each source is tried with every C; the cheap head searches USE's scales alone.
    assert {(g["C"], g["dense_scale"]["use"], g["dense_scale"]["e5"]) for g in report["heads"][0]["grid"]} == {
        (c, u, 3.0) for c in (0.3, 1.0) for u in (1.0, 2.0)
    }
    assert {g["dense_scale"] for g in report["early_exit"]["head"]["grid"]} == {1.0, 2.0}
    calls: list[int] = []
    real = e5_featurizer._embed
    monkeypatch.setattr(e5_featurizer, "_embed", lambda m, *a: (calls.append(len(m)), real(m, *a)))
    lazy = _aliased(tmp_path / "lazy", lazy=True)
    model.exit_threshold = 0.0  # every message sure: e5 never runs, USE always does
    messages = classifier.process(_featurized(lazy, list(UNSEEN)))
    assert calls == [] and all(m.get(E5_PENDING) for m in messages)
    assert [m.get(INTENT)["name"] for m in messages] == list(UNSEEN.values())
    model.exit_threshold = 1.01  # nobody sure: e5 for every message
    messages = classifier.process(_featurized(lazy, list(UNSEEN)))
    assert calls == [len(UNSEEN)] and [m.get(INTENT)["name"] for m in messages] == list(UNSEEN.values())
    # Stored and loaded, the model reads the same sources and answers the same.
    loaded = LinearIntentClassifier.load(config, storage, resource, _context("linear_intent"))
    assert loaded._model is not None and loaded._model.sources == model.sources
    assert loaded._model.exit_head is not None and loaded._model.exit_head.scales == model.exit_head.scales
    loaded._model.exit_threshold = model.exit_threshold
    again = loaded.process(_featurized(lazy, list(UNSEEN)))
    for before, after in zip(messages, again):
        assert after.get(INTENT) == before.get(INTENT)


def test_a_cheap_source_left_lazy_is_computed_not_read_as_zeros(tmp_path: Path) -> None:
    classifier, *_ = _train_two_sources(tmp_path)
    assert classifier._model is not None
    classifier._model.exit_threshold = 0.0
    normalizer = _aliased(tmp_path / "lazy", lazy=True)[0]
    use_lazy = E5SentenceFeaturizer.create(  # a mistake: the cheap head's source named after a lazy featurizer
        {**E5SentenceFeaturizer.get_default_config(), "alias": "use", "lazy": True},
        LocalModelStorage(tmp_path),
        Resource("e5b"),
        _context("e5b"),
    )
    (message,) = _featurized((normalizer, use_lazy), ["设一个八点半的闹钟"])
    assert message.get(E5_PENDING)["name"] == "use"
    with pytest.raises(LinearIntentError, match="trained on 512 dense features but the message has 384"):
        classifier.process([message])  # computed (384 e5 dims), so the mismatch is caught, never scored on zeros


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"dense_scale": {"use": [1.0]}, "exit_featurizers": ["use"]}, "set early_exit: true"),
        ({"dense_scale": [2.0], "early_exit": True, "exit_featurizers": ["use"]}, "keys of a 'dense_scale' mapping"),
        ({**CHEAP_HEAD, "exit_featurizers": ["use", "e5"]}, "leave out at least one"),
        ({**CHEAP_HEAD, "exit_featurizers": "use"}, "must be a list"),
        ({"dense_scale": {"use": [1.0]}, "featurizers": ["use"]}, "not both"),
        ({"dense_scale": {}}, "featurizer names"),
        ({"dense_scale": {"use": [0]}}, "'dense_scale' of 'use' must be a positive number"),
    ],
)
def test_bad_source_settings_say_what_to_change(config: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidConfigException, match=match):
        LinearIntentClassifier.validate_config(config)
