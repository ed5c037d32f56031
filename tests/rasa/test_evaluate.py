"""bot.tools.evaluate: metrics, span alignment, input checks, and the CLI end to end on tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.tools.evaluate import (
    PIPELINES,
    EvaluationInputError,
    Example,
    Parse,
    _parse_result,
    align_span,
    confusion,
    entity_counts,
    has_entity_extractor,
    load_examples,
    micro_f1,
    percentile,
    pipeline_config,
    score,
)

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """\
version: "3.1"
nlu:
- intent: ask_weather
  examples: |
    - [上海](city)明天天气怎么样
    - [北京](city)会下雨吗
    - 今天[杭州](city)冷不冷
    - [南京](city)的天气预报
    - 查一下[苏州](city)的气温
    - [宝山](city)下午有雨吗
    - 明天[上海](city)要带伞吗
    - [无锡](city)最近天气好吗
- intent: set_alarm
  examples: |
    - 明天早上七点叫我起床
    - 设一个八点的闹钟
    - 帮我定个六点半的闹钟
    - 下午三点提醒我吃药
    - 闹钟调到七点
    - 每天早上六点叫醒我
    - 十分钟后叫我
    - 晚上九点设个闹钟
- intent: greet
  examples: |
    - 你好
    - 早上好
    - 您好啊
    - 嗨
    - 下午好
    - 哈喽
    - 你好呀
    - 晚上好
"""

# `goodbye` is not in TRAIN: it must count as an error, not crash the run.
TEST = """\
version: "3.1"
nlu:
- intent: ask_weather
  examples: |
    - [上海](city)后天天气怎么样
    - [北京](city)明天下雨吗
    - 今天  [Hangzhou](city) 热不热
- intent: set_alarm
  examples: |
    - 明天六点叫我起床
    - 设一个九点的闹钟
- intent: greet
  examples: |
    - 你好啊
    - 早上好呀
- intent: goodbye
  examples: |
    - 再见
"""

METRICS = {
    "accuracy",
    "macro_f1",
    "entity_f1",
    "train_s",
    "parse_p50_ms",
    "parse_p95_ms",
    "peak_rss_mb",
    "train_peak_rss_mb",
    "confusion",
    "accuracy_before_fallback",
}


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("source", "target", "span", "expected"),
    [
        ("今天[上海]", "今天[上海]", (3, 5), (3, 5)),
        ("今天  Hangzhou 热", "今天 hangzhou 热", (4, 12), (3, 11)),  # spaces collapsed, lower-cased
        ("１３８去宝山", "138去宝山", (4, 6), (4, 6)),  # full-width digits, one for one
        ("好的👍宝山", "好的宝山", (3, 5), (2, 4)),  # a dropped emoji before the span
        ("要覅帮侬叫人", "要不要帮你叫人", (1, 2), (1, 3)),  # one character rewritten as two
        ("好的👍", "好的", (2, 3), None),  # the whole span vanished
    ],
)
def test_align_span(source: str, target: str, span: tuple[int, int], expected: tuple[int, int] | None) -> None:
    assert align_span(source, target, *span) == expected


def _parse(text: str, intent: str, entities: tuple[tuple[str, int, int], ...] = ()) -> Parse:
    return Parse(text=text, intent=intent, entities=entities, seconds=0.01)


def test_entity_f1_needs_type_and_exact_span() -> None:
    examples = [
        Example("上海明天天气", "ask_weather", (("city", 0, 2), ("date", 2, 4))),
        Example("北京会下雨吗", "ask_weather", (("city", 0, 2),)),
    ]
    parses = [
        _parse("上海明天天气", "ask_weather", (("city", 0, 2), ("date", 2, 3))),  # one right, one span off
        _parse("北京会下雨吗", "ask_weather", (("date", 0, 2),)),  # right span, wrong type
    ]
    assert entity_counts(examples, parses) == (1, 3, 3)
    assert micro_f1(1, 3, 3) == pytest.approx(1 / 3)
    assert micro_f1(0, 3, 0) == 0.0


def test_scores_count_unseen_and_fallback_intents_as_errors() -> None:
    examples = [Example("你好", "greet", ()), Example("再见", "goodbye", ()), Example("天气", "ask_weather", ())]
    parses = [_parse("你好", "greet"), _parse("再见", "greet"), _parse("天气", "nlu_fallback")]
    scores = score(examples, parses, train_s=1.5)
    assert scores.accuracy == pytest.approx(1 / 3)
    # F1 over the gold intents only: greet 2/3, goodbye 0, ask_weather 0.
    assert scores.macro_f1 == pytest.approx((2 / 3) / 3)
    assert scores.entity_f1 is None  # the test set has no entities
    assert scores.parse_p50_ms == pytest.approx(10.0)


def test_accuracy_before_fallback_counts_the_classifiers_intent_beneath_the_fallback() -> None:
    examples = [Example("天气", "ask_weather", ()), Example("闹钟", "set_alarm", ())]
    ranking = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "ask_weather", "confidence": 0.35}]
    fell_back = _parse_result({"text": "天气", "intent": ranking[0], "intent_ranking": ranking}, "天气", 0.01)
    assert (fell_back.intent, fell_back.classifier_intent) == ("nlu_fallback", "ask_weather")
    answered = _parse_result({"text": "闹钟", "intent": {"name": "greet", "confidence": 0.9}}, "闹钟", 0.01)
    scores = score(examples, [fell_back, answered], train_s=1.0)
    assert scores.accuracy == 0.0 and scores.accuracy_before_fallback == pytest.approx(0.5)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_epochs_override_reaches_diet_and_only_diet(name: str) -> None:
    default = pipeline_config(name, None)
    assert "policies" not in default
    quick = pipeline_config(name, 2)
    diet = [c for c in default["pipeline"] if c["name"] == "DIETClassifier"]
    if diet:
        assert diet[0]["epochs"] >= 50
        assert [c["epochs"] for c in quick["pipeline"] if c["name"] == "DIETClassifier"] == [2]
    else:
        assert quick == default


def test_the_baselines_differ_from_the_project_only_in_the_classifier() -> None:
    char = pipeline_config("char_linear", None)["pipeline"]
    ensemble = pipeline_config("ensemble", None)["pipeline"]
    assert [c for c in char if c["name"].endswith("LinearIntentClassifier")] == [
        {"name": "bot.components.linear_intent.LinearIntentClassifier", "blocks": ["char"]}
    ]
    assert {"name": "bot.components.linear_intent.LinearIntentClassifier", "combine": "vote"} in ensemble
    assert {"name": "bot.components.e5_featurizer.E5SentenceFeaturizer"} in ensemble
    project = [c["name"] for c in pipeline_config("project", None)["pipeline"]]
    assert "bot.components.linear_intent.LinearIntentClassifier" in project
    # The guard comes last, so that no fallback rule can undo an emergency (test_linear_intent.py).
    assert (
        project[-1] == "bot.components.emergency_guard.EmergencyGuard"
        and "bot.components.calibrated_fallback.CalibratedFallbackClassifier" in project
    )


def test_confusion_counts_every_gold_and_predicted_pair() -> None:
    result = confusion(["a", "a", "b", "b", "b"], ["a", "b", "b", "nlu_fallback", ""])
    assert result["labels"] == ["a", "b", "nlu_fallback", ""]
    assert result["matrix"] == [[1, 1, 0, 0], [0, 1, 1, 1]]
    assert sum(map(sum, result["matrix"])) == 5


def test_parse_percentiles() -> None:
    examples = [Example(str(i), "greet", ()) for i in range(20)]
    parses = [Parse(str(i), "greet", (), seconds=(i + 1) / 1000) for i in range(20)]
    scores = score(examples, parses, train_s=1.0)
    assert scores.parse_p50_ms == pytest.approx(10.5)
    assert scores.parse_p95_ms == pytest.approx(19.05)
    assert percentile([5.0], 95) == 5.0


def test_a_pipeline_without_an_extractor_has_no_entity_f1() -> None:
    examples = [Example("上海天气", "ask_weather", (("city", 0, 2),))]
    parses = [_parse("上海天气", "ask_weather")]
    assert score(examples, parses, 1.0).entity_f1 == 0.0
    assert score(examples, parses, 1.0, extracts_entities=False).entity_f1 is None
    assert has_entity_extractor(pipeline_config("project", None))
    assert not has_entity_extractor(pipeline_config("char_linear", None))


def test_rasa_default_is_the_stock_chinese_pipeline() -> None:
    content = yaml.safe_load(PIPELINES["rasa_default"].read_text(encoding="utf-8"))
    assert content["language"] == "zh"
    assert content["pipeline"] == [
        {"name": "JiebaTokenizer"},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "DIETClassifier", "epochs": 100},
        {"name": "EntitySynonymMapper"},
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: '3.1'\nnlu: []\n", "no intent examples"),
        ("version: '3.1'\nnlu:\n- synonym: 上海\n  examples: |\n    - 沪\n", "no intent examples"),
        ("version: '3.1'\nstories:\n- story: s\n  steps:\n  - intent: greet\n", "is not Rasa NLU YAML"),
        ("nlu: [unclosed\n", "cannot be read as Rasa NLU YAML"),
        ("version: '3.1'\nnlu:\n- intent: greet\n  examples: 42\n", "cannot be read as Rasa NLU YAML"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationInputError, match=message):
        load_examples(path, "test")


def test_load_examples_keeps_entity_offsets(tmp_path: Path) -> None:
    path = tmp_path / "test.yml"
    path.write_text(TEST, encoding="utf-8")
    examples = load_examples(path, "test")
    assert len(examples) == 8
    assert examples[2] == Example("今天  Hangzhou 热不热", "ask_weather", (("city", 4, 12),))


# ---------------------------------------------------------------- the CLI


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        # One thread each: on 2 shared cores, competing BLAS/TF threads make timings meaningless.
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "TF_INTER_OP_PARALLELISM_THREADS": "1",
        "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.tools.evaluate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    train, test = tmp_path / "train.yml", tmp_path / "test.yml"
    train.write_text(TRAIN, encoding="utf-8")
    test.write_text(TEST, encoding="utf-8")
    return train, test


def _check_report(stdout: str, pipelines: list[str]) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    # Only the table and the JSON: a title, a header, one row per pipeline, the JSON line.
    assert len(lines) == 2 + len(pipelines) + 1, stdout
    assert [line.split()[0] for line in lines[2:-1]] == pipelines
    report: dict[str, Any] = json.loads(lines[-1])
    assert (report["n_train"], report["n_test"]) == (24, 8)
    assert list(report["pipelines"]) == pipelines
    for name, metrics in report["pipelines"].items():
        assert METRICS <= set(metrics) <= METRICS | {"linear_intent"}
        for key in ("accuracy", "macro_f1"):
            assert 0.0 <= metrics[key] <= 1.0
        if name in ("char_linear", "ensemble"):
            assert metrics["entity_f1"] is None, "no entity extractor: no entity figure"
        else:
            assert 0.0 <= metrics["entity_f1"] <= 1.0
        # One test intent (goodbye) was never trained: it can't be right.
        assert metrics["accuracy"] <= 7 / 8
        assert metrics["train_s"] > 0
        assert 0 < metrics["parse_p50_ms"] <= metrics["parse_p95_ms"]
        # The serving process loads the model and parses; it is measured apart from training.
        assert 50 < metrics["peak_rss_mb"] < 4000 and metrics["train_peak_rss_mb"] > 50
        matrix = metrics["confusion"]["matrix"]
        assert sum(map(sum, matrix)) == 8 and len(matrix) == 4, "one row per gold intent"
        assert ("linear_intent" in metrics) == (name != "rasa_default"), "the linear model says how it was tuned"
    return report


def test_cli_rasa_default_json(data: tuple[Path, Path]) -> None:
    train, test = data
    result = _cli("--train", str(train), "--test", str(test), "--json", "--epochs", "2", "--pipelines", "rasa_default")
    assert result.returncode == 0, result.stderr[-3000:]
    _check_report(result.stdout, ["rasa_default"])


def test_cli_baselines_json(data: tuple[Path, Path]) -> None:
    train, test = data
    result = _cli("--train", str(train), "--test", str(test), "--json", "--pipelines", "char_linear,ensemble")
    assert result.returncode == 0, result.stderr[-3000:]
    _check_report(result.stdout, ["char_linear", "ensemble"])


def test_cli_both_pipelines_json(data: tuple[Path, Path]) -> None:
    train, test = data
    started = time.monotonic()
    result = _cli("--train", str(train), "--test", str(test), "--json", "--epochs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    _check_report(result.stdout, ["project", "rasa_default"])
    print(f"both pipelines: {time.monotonic() - started:.0f} s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--train", "/nonexistent/train.yml", "--test", "{test}"],
            "training file /nonexistent/train.yml does not exist",
        ),
        (["--train", "{train}", "--test", "{train}", "--pipelines", "spacy"], "unknown pipeline(s) spacy"),
        (["--train", "{train}", "--test", "{train}", "--pipelines", "/nonexistent/x.yml"], "unknown pipeline(s)"),
        (["--train", "{train}", "--test", "{train}", "--epochs", "0"], "expected a positive integer"),
        (["--train", "{train}", "--test", "{empty}"], "has no intent examples"),
    ],
)
def test_cli_bad_input_exits_non_zero_with_a_message(
    data: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    train, test = data
    empty = tmp_path / "empty.yml"
    empty.write_text("version: '3.1'\nnlu: []\n", encoding="utf-8")
    paths = {"train": str(train), "test": str(test), "empty": str(empty)}
    result = _cli(*(a.format(**paths) for a in args), "--json", timeout=300)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
