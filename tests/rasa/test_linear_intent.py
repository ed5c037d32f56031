"""LinearIntentClassifier: trains and predicts on tiny data, persists, calibrates, and survives odd input."""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.e5_featurizer import E5SentenceFeaturizer
from bot.components.emergency_guard import EmergencyGuard
from bot.components.linear_intent import (
    MODEL_JSON,
    LinearIntentClassifier,
    LinearIntentError,
    expected_calibration_error,
    fit_temperature,
    main,
    read_report,
    suggest_fallback,
)
from bot.components.normalizer import TextNormalizer
from tests.rasa.test_emergency_guard import EMERGENCIES

EXAMPLES = {
    "ask_weather": [
        "上海明天天气怎么样",
        "北京会下雨吗",
        "今天杭州冷不冷",
        "南京的天气预报",
        "查一下苏州的气温",
        "宝山下午有雨吗",
        "明天上海要带伞吗",
        "无锡最近天气好吗",
    ],
    "set_alarm": [
        "明天早上七点叫我起床",
        "设一个八点的闹钟",
        "帮我定个六点半的闹钟",
        "下午三点提醒我吃药",
        "闹钟调到七点",
        "每天早上六点叫醒我",
        "十分钟后叫我",
        "晚上九点设个闹钟",
    ],
    "greet": ["你好", "早上好", "您好啊", "嗨", "下午好", "哈喽", "你好呀", "晚上好"],
}
UNSEEN = {"后天上海下雪吗": "ask_weather", "设一个九点的闹钟提醒我": "set_alarm", "你好啊小助手": "greet"}


def _context(name: str) -> ExecutionContext:
    return ExecutionContext(graph_schema=None, node_name=name)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextNormalizer, E5SentenceFeaturizer]:
    storage = LocalModelStorage(tmp_path_factory.mktemp("e5"))
    featurizer = E5SentenceFeaturizer.create(
        E5SentenceFeaturizer.get_default_config(), storage, Resource("e5"), _context("e5")
    )
    return TextNormalizer(TextNormalizer.get_default_config()), featurizer


def _messages(steps: tuple[TextNormalizer, E5SentenceFeaturizer], texts: list[str]) -> list[Message]:
    normalizer, featurizer = steps
    messages = [Message(data={TEXT: t}) for t in texts]
    normalizer.process(messages)
    featurizer.process(messages)
    return messages


def _training_data(steps: tuple[TextNormalizer, E5SentenceFeaturizer]) -> TrainingData:
    messages = []
    for intent, texts in EXAMPLES.items():
        for message in _messages(steps, texts):
            message.set(INTENT, intent)
            messages.append(message)
    return TrainingData(training_examples=messages)


def _train(
    steps: tuple[TextNormalizer, E5SentenceFeaturizer], tmp_path: Path, **config: Any
) -> tuple[LinearIntentClassifier, LocalModelStorage, Resource, dict[str, Any]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage, resource = LocalModelStorage(tmp_path), Resource("linear_intent")
    full = {**LinearIntentClassifier.get_default_config(), **config}
    classifier = LinearIntentClassifier.create(full, storage, resource, _context("linear_intent"))
    classifier.train(_training_data(steps))
    return classifier, storage, resource, full


def _predict(
    classifier: LinearIntentClassifier, steps: tuple[TextNormalizer, E5SentenceFeaturizer], texts: list[str]
) -> list[Message]:
    return classifier.process(_messages(steps, texts))


def test_it_learns_the_intents_of_a_tiny_data_set(steps: Any, tmp_path: Path) -> None:
    classifier, *_ = _train(steps, tmp_path)
    messages = _predict(classifier, steps, list(UNSEEN))
    assert [m.get(INTENT)["name"] for m in messages] == list(UNSEEN.values())


def test_the_ranking_is_a_sorted_probability_distribution(steps: Any, tmp_path: Path) -> None:
    classifier, *_ = _train(steps, tmp_path, ranking_length=0)
    for message in _predict(classifier, steps, list(UNSEEN)):
        ranking = message.get(INTENT_RANKING_KEY)
        confidences = [r["confidence"] for r in ranking]
        assert {r["name"] for r in ranking} == set(EXAMPLES), "every intent is ranked"
        assert math.isclose(sum(confidences), 1.0, abs_tol=1e-5)
        assert confidences == sorted(confidences, reverse=True)
        assert all(isinstance(c, float) and 0.0 <= c <= 1.0 for c in confidences)
        assert message.get(INTENT) == ranking[0]


def test_the_ranking_is_cut_to_its_length(steps: Any, tmp_path: Path) -> None:
    classifier, *_ = _train(steps, tmp_path, ranking_length=2)
    (message,) = _predict(classifier, steps, ["北京后天天气好吗"])
    assert len(message.get(INTENT_RANKING_KEY)) == 2
    assert sum(r["confidence"] for r in message.get(INTENT_RANKING_KEY)) <= 1.0 + 1e-6


def test_a_stored_model_loads_and_predicts_the_same(steps: Any, tmp_path: Path) -> None:
    classifier, storage, resource, config = _train(steps, tmp_path)
    texts = [*UNSEEN, "随便说点什么"]
    before = [m.get(INTENT_RANKING_KEY) for m in _predict(classifier, steps, texts)]
    loaded = LinearIntentClassifier.load(config, storage, resource, _context("linear_intent"))
    after = [m.get(INTENT_RANKING_KEY) for m in _predict(loaded, steps, texts)]
    assert [[r["name"] for r in ranking] for ranking in after] == [[r["name"] for r in ranking] for ranking in before]
    for a, b in zip(after, before):
        assert np.allclose([r["confidence"] for r in a], [r["confidence"] for r in b], atol=1e-6)


def test_the_stored_model_is_json_and_plain_arrays(steps: Any, tmp_path: Path) -> None:
    _, storage, resource, _ = _train(steps, tmp_path)
    with storage.read_from(resource) as directory:
        files = sorted(p.name for p in directory.iterdir())
        assert files == ["linear_intent.json", "linear_intent.npz"]
        with np.load(directory / "linear_intent.npz", allow_pickle=False) as arrays:
            assert all(arrays[key].dtype != object for key in arrays.files)


def test_same_data_same_model(steps: Any, tmp_path: Path) -> None:
    texts = [*UNSEEN, "今天冷不冷要不要设闹钟"]
    first, *_ = _train(steps, tmp_path / "a")
    second, *_ = _train(steps, tmp_path / "b")
    one = [m.get(INTENT_RANKING_KEY) for m in _predict(first, steps, texts)]
    two = [m.get(INTENT_RANKING_KEY) for m in _predict(second, steps, texts)]
    assert one == two


@pytest.mark.parametrize(
    ("text", "has_intent"),
    [
        ("", False),
        ("   ", False),
        ("😀😀👍", True),  # the normalizer keeps the raw text when only emoji remain
        ("天气" * 2500, True),  # 5,000 characters
        ("\x00\x07明天\u200b下雨吗\r\n", True),
        ("Is it going to rain in 上海 tomorrow?", True),
    ],
)
def test_odd_input_gets_an_answer_not_an_error(steps: Any, tmp_path: Path, text: str, has_intent: bool) -> None:
    classifier, *_ = _train(steps, tmp_path)
    (message,) = _predict(classifier, steps, [text])
    intent = message.get(INTENT)
    if has_intent:
        assert intent["name"] in EXAMPLES and 0.0 < intent["confidence"] <= 1.0
        assert message.get(INTENT_RANKING_KEY)[0] == intent
    else:
        assert intent == {"name": None, "confidence": 0.0}
        assert message.get(INTENT_RANKING_KEY) == []


def test_no_intent_and_low_confidence_go_to_the_fallback(steps: Any, tmp_path: Path) -> None:
    classifier, *_ = _train(steps, tmp_path)
    strict = FallbackClassifier({**FallbackClassifier.get_default_config(), "threshold": 0.999})
    empty, unsure = _predict(classifier, steps, ["", "嗯"])
    strict.process([empty, unsure])
    assert empty.get(INTENT)["name"] == "nlu_fallback"
    assert unsure.get(INTENT)["name"] == "nlu_fallback"
    lenient = FallbackClassifier({**FallbackClassifier.get_default_config(), "threshold": 0.05})
    (sure,) = _predict(classifier, steps, ["明天北京天气怎么样"])
    lenient.process([sure])
    assert sure.get(INTENT)["name"] == "ask_weather"


def test_the_emergency_guard_still_catches_every_emergency_after_it(steps: Any, tmp_path: Path) -> None:
    classifier, *_ = _train(steps, tmp_path)
    guard = EmergencyGuard(EmergencyGuard.get_default_config())
    fallback = FallbackClassifier({**FallbackClassifier.get_default_config(), "threshold": 0.5})
    messages = _predict(classifier, steps, EMERGENCIES)
    assert all(m.get(INTENT)["name"] in EXAMPLES for m in messages), "the classifier alone knows no emergency"
    # config.yml's order: the fallback first, then the guard (see the next test for why).
    fallback.process(messages)
    guard.process(messages)
    for message in messages:
        assert message.get(INTENT) == {"name": "emergency", "confidence": 1.0}
        assert message.get(INTENT_RANKING_KEY)[0]["name"] == "emergency"


def test_a_guard_before_the_fallback_would_lose_emergencies_to_the_ambiguity_rule() -> None:
    # Why config.yml puts the guard last: the guard keeps the classifier's other intents in the
    # ranking, and FallbackClassifier calls 1.0 next to 0.95 ambiguous.
    message = Message(data={TEXT: "我跌倒了起不来"})
    message.set(INTENT, {"name": "greet", "confidence": 0.95}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": "greet", "confidence": 0.95}], add_to_output=True)
    EmergencyGuard(EmergencyGuard.get_default_config()).process([message])
    FallbackClassifier({**FallbackClassifier.get_default_config(), "ambiguity_threshold": 0.2}).process([message])
    assert message.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize("config", [{"blocks": ["char"]}, {"combine": "vote"}])
def test_the_baselines_train_and_predict(steps: Any, tmp_path: Path, config: dict[str, Any]) -> None:
    classifier, _, _, _ = _train(steps, tmp_path, **config)
    messages = _predict(classifier, steps, ["设一个八点半的闹钟", "你好呀"])
    assert [m.get(INTENT)["name"] for m in messages] == ["set_alarm", "greet"]


def test_char_only_needs_no_dense_features(tmp_path: Path) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("linear_intent")
    config = {**LinearIntentClassifier.get_default_config(), "blocks": ["char"]}
    classifier = LinearIntentClassifier.create(config, storage, resource, _context("c"))
    messages = [Message(data={TEXT: t, INTENT: i}) for i, texts in EXAMPLES.items() for t in texts]
    classifier.train(TrainingData(training_examples=messages))
    (message,) = classifier.process([Message(data={TEXT: "设个闹钟"})])
    assert message.get(INTENT)["name"] == "set_alarm"


def test_dense_block_without_a_dense_featurizer_is_a_config_error(tmp_path: Path) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("linear_intent")
    classifier = LinearIntentClassifier.create(
        LinearIntentClassifier.get_default_config(), storage, resource, _context("c")
    )
    messages = [Message(data={TEXT: t, INTENT: i}) for i, texts in EXAMPLES.items() for t in texts]
    with pytest.raises(InvalidConfigException, match="USESentenceFeaturizer"):
        classifier.train(TrainingData(training_examples=messages))


def test_an_intent_with_a_single_example_does_not_stop_the_calibration(tmp_path: Path) -> None:
    # xSID's training split has intents with one example: cross-validation and the temperature
    # must still happen (a temperature of 1 on raw SVM scores spreads the probability so thin
    # that the fallback takes almost everything).
    storage, resource = LocalModelStorage(tmp_path), Resource("linear_intent")
    config = {**LinearIntentClassifier.get_default_config(), "blocks": ["char"]}
    classifier = LinearIntentClassifier.create(config, storage, resource, _context("c"))
    messages = [Message(data={TEXT: t, INTENT: i}) for i, texts in EXAMPLES.items() for t in texts]
    messages.append(Message(data={TEXT: "取消明天的闹钟", INTENT: "cancel_alarm"}))
    classifier.train(TrainingData(training_examples=messages))
    with storage.read_from(resource) as directory:
        report = json.loads((directory / MODEL_JSON).read_text(encoding="utf-8"))["report"]
    (head,) = report["heads"]
    assert head["folds"] == 5 and head["oof"]["calibrated_on"] == 24, (
        "the single example is held out, not calibrated on"
    )
    assert head["temperature"] < 0.9, "fitted, not left at 1"
    assert "fallback_suggestion" in report
    (message,) = classifier.process([Message(data={TEXT: "设一个八点的闹钟"})])
    assert message.get(INTENT)["name"] == "set_alarm" and message.get(INTENT)["confidence"] > 0.5


def test_fewer_than_two_intents_trains_nothing_and_classifies_nothing(tmp_path: Path) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("linear_intent")
    config = {**LinearIntentClassifier.get_default_config(), "blocks": ["char"]}
    classifier = LinearIntentClassifier.create(config, storage, resource, _context("c"))
    classifier.train(TrainingData(training_examples=[Message(data={TEXT: "你好", INTENT: "greet"})]))
    (message,) = classifier.process([Message(data={TEXT: "你好"})])
    assert message.get(INTENT) == {"name": None, "confidence": 0.0}
    loaded = LinearIntentClassifier.load(config, storage, resource, _context("c"))
    (message,) = loaded.process([Message(data={TEXT: "你好"})])
    assert message.get(INTENT) == {"name": None, "confidence": 0.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"blocks": ["words"]}, "'blocks' must list"),
        ({"blocks": []}, "'blocks' must list"),
        ({"combine": "stack"}, "'combine' must be one of"),
        ({"C": [1.0, -1.0]}, "'C' must be a positive number"),
        ({"C": "big"}, "'C' must be a positive number"),
        ({"dense_scale": 0}, "'dense_scale' must be a positive number"),
        ({"char_ngram_range": [3, 1]}, "'char_ngram_range'"),
        ({"cv_folds": 1}, "'cv_folds'"),
        ({"class_weight": "auto"}, "'class_weight'"),
        ({"ranking_length": -1}, "'ranking_length'"),
    ],
)
def test_bad_settings_say_what_to_change(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfigException, match=message):
        LinearIntentClassifier.validate_config(change)


def test_temperature_fitting_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_t = 2.5
    logits = rng.normal(0, 3, size=(4000, 5))
    probabilities = np.exp(logits / true_t) / np.exp(logits / true_t).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=p) for p in probabilities])
    fitted = fit_temperature(logits, y)
    assert abs(fitted - true_t) < 0.25
    calibrated = np.exp(logits / fitted) / np.exp(logits / fitted).sum(axis=1, keepdims=True)
    raw = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert expected_calibration_error(calibrated, y) < expected_calibration_error(raw, y)


def test_fallback_suggestion_answers_when_right_more_often_than_wrong() -> None:
    # Confident predictions are right, unsure ones are wrong: the suggestion separates them.
    y = np.array([0, 1, 0, 1, 0, 1])
    probabilities = np.array([[0.95, 0.05], [0.1, 0.9], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6], [0.35, 0.65]])
    suggestion = suggest_fallback(probabilities, y)
    assert suggestion["right_when_answered"] == 1.0 and suggestion["wrong_caught"] == 1.0
    assert suggestion["right_sent_to_fallback"] == 0.0 and suggestion["answered"] == pytest.approx(4 / 6, abs=1e-4)
    # When every answer is right, nothing needs to fall back.
    assert suggest_fallback(probabilities[[0, 1, 2, 5]], y[[0, 1, 2, 5]])["answered"] == 1.0


def test_a_perfect_cross_validation_does_not_make_the_model_certain() -> None:
    scores = np.array([[2.0, -1.0], [-1.0, 2.0]] * 5)
    y = np.array([0, 1] * 5)
    temperature = fit_temperature(scores, y)
    top = np.exp(3 / temperature) / (1 + np.exp(3 / temperature))
    assert 0.9 < top < 0.97, "10 of 10 right reads as about 11/12, not as certainty"


def test_the_training_report_is_readable_from_a_model_archive(
    steps: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, storage, resource, _ = _train(steps, tmp_path / "model")
    archive = tmp_path / "model.tar.gz"
    with storage.read_from(resource) as directory, tarfile.open(archive, "w:gz") as tar:
        tar.add(directory / MODEL_JSON, arcname=f"components/train_LinearIntentClassifier2/{MODEL_JSON}")
    report = read_report(archive)
    assert report["examples"] == 24 and report["intents"] == 3
    (head,) = report["heads"]
    assert head["folds"] == 5 and len(head["grid"]) == 4  # C × dense_scale of the defaults
    assert head["temperature"] > 0
    assert 0.0 < report["fallback_suggestion"]["threshold"] < 1.0
    assert main([str(archive)]) == 0
    assert '"fallback_suggestion"' in capsys.readouterr().out
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(LinearIntentError, match="holds no LinearIntentClassifier model"):
        read_report(empty)
