"""LinearIntentClassifier: a linear intent model over sentence embeddings and character n-grams.

Features of a message: a character n-gram TF-IDF of the normalized text (``bot.components.normalizer.TextNormalizer``
runs first and sets the text), next to the dense sentence vectors that featurizers before it put on the message
(``bot.components.use_featurizer.USESentenceFeaturizer``, ``bot.components.e5_featurizer.E5SentenceFeaturizer``),
each multiplied by a scale. ``dense_scale`` as a list scales all the vectors as one block; as a mapping from
featurizer names (their ``alias`` in config.yml) to lists, each vector gets its own scale. A linear SVM
(liblinear) scores every intent; a softmax with a temperature turns the scores into probabilities.

Why this and not DIET: on SMP2017 a linear model over these features beats DIET on the same
features by several points and trains in seconds (README.md, "How intents are classified").

Everything that is chosen is chosen on the training data only, at training time:
- the hyper-parameters: every combination of ``C`` and the scales is scored by stratified k-fold
  cross-validation (intent macro-F1, then accuracy, then the earlier combination); the best one is
  refitted on all the data;
- the temperature: fitted on the out-of-fold scores of that combination (minimum negative
  log-likelihood), so that a confidence of 0.7 means right about 7 times in 10;
- a fallback threshold suggestion from the same out-of-fold probabilities (see
  ``suggest_fallback``): stored with the model and printed by ``python -m bot.components.linear_intent``.

Early exit (``early_exit: true``): a second, cheaper head is trained and calibrated the same way
over the characters and the vectors of ``exit_featurizers`` (none: characters only), and it answers
alone when its confidence reaches a threshold; only the other messages need the remaining vectors,
which a lazy ``E5SentenceFeaturizer`` then computes on demand (``bot.components.e5_featurizer.embed_pending``).
The threshold is chosen on the training data too: on the out-of-fold probabilities of both heads, the
lowest threshold of ``EXIT_GRID`` at which answering with the cheap head above it is right at least as
often as the full model on the same examples (``choose_exit``).

The model also carries its fallback suggestion to the messages it classifies (``FALLBACK_KEY``), so
that ``bot.components.calibrated_fallback.CalibratedFallbackClassifier`` uses the thresholds suggested for the
data it was trained on instead of numbers fixed in config.yml for one data set.

``combine: vote`` trains one head per feature block (dense alone, characters alone), each with
its own cross-validated ``C`` and temperature, and averages their probabilities: the ensemble
baseline of the benchmark. ``blocks: [char]`` is the character n-gram baseline.

The model is stored as JSON (classes, vocabulary, settings, the cross-validation report) and
NumPy ``.npz`` arrays (weights, IDF), never as a pickle.

    .venv-rasa/bin/python -m bot.components.linear_intent models/yinling-<fingerprint>.tar.gz   # the training report
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import math
import sys
import tarfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException, RasaException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from common.errors import ConfigError, YinlingError

logger = logging.getLogger(__name__)

MODEL_JSON = "linear_intent.json"
MODEL_ARRAYS = "linear_intent.npz"
# 2: dense sources scaled on their own, and an early-exit head that may read some of them.
FORMAT_VERSION = 2
BLOCKS = ("char", "dense")
COMBINES = ("concat", "vote")
# The fallback thresholds the suggestion considers (FallbackClassifier's two settings).
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
AMBIGUITY_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
# The early-exit thresholds considered (the character head's calibrated confidence).
EXIT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
# Message attribute (not in the parse output): the model's fallback suggestion, for CalibratedFallbackClassifier.
FALLBACK_KEY = "linear_intent_fallback"


class LinearIntentError(YinlingError, RasaException):
    """The classifier cannot train or load; the message says why."""


class LinearIntentConfigError(LinearIntentError, ConfigError, InvalidConfigException):
    """A setting in config.yml is unusable; the message says what to change."""


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Settings:
    blocks: tuple[str, ...]
    combine: str
    c_grid: tuple[float, ...]
    # The dense sentence features, as sources scaled on their own: each source is the featurizer names whose
    # features it joins (empty: every dense feature on the message), with the scales cross-validation tries.
    sources: tuple[tuple[str, ...], ...]
    scale_grids: tuple[tuple[float, ...], ...]
    ngram_range: tuple[int, int]
    cv_folds: int
    class_weight: str | None
    featurizers: tuple[str, ...]
    ranking_length: int
    random_seed: int
    early_exit: bool = False
    # The sources (indexes into ``sources``) the early-exit head reads beside the characters.
    exit_sources: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        name = "LinearIntentClassifier"
        blocks = tuple(config.get("blocks") or ())
        if not blocks or any(b not in BLOCKS for b in blocks) or len(set(blocks)) != len(blocks):
            raise LinearIntentConfigError(f"{name}: 'blocks' must list one or both of {list(BLOCKS)}, got {blocks!r}.")
        combine = str(config.get("combine"))
        if combine not in COMBINES:
            raise LinearIntentConfigError(f"{name}: 'combine' must be one of {list(COMBINES)}, got {combine!r}.")
        c_grid = _positive_list(config.get("C"), f"{name}: 'C'")
        featurizers = tuple(str(f) for f in config.get("featurizers") or ())
        sources, scale_grids = _dense_sources(config.get("dense_scale"), featurizers, name)
        ngram = config.get("char_ngram_range")
        if (
            not isinstance(ngram, (list, tuple))
            or len(ngram) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in ngram)
            or not 1 <= ngram[0] <= ngram[1] <= 8
        ):
            raise LinearIntentConfigError(f"{name}: 'char_ngram_range' must be [min, max] with 1 <= min <= max <= 8.")
        folds = config.get("cv_folds")
        if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
            raise LinearIntentConfigError(f"{name}: 'cv_folds' must be an integer of at least 2.")
        weight = config.get("class_weight")
        if weight not in (None, "balanced"):
            raise LinearIntentConfigError(f"{name}: 'class_weight' must be 'balanced' or null.")
        ranking = config.get("ranking_length")
        if not isinstance(ranking, int) or isinstance(ranking, bool) or ranking < 0:
            raise LinearIntentConfigError(f"{name}: 'ranking_length' must be 0 (all intents) or a positive integer.")
        seed = config.get("random_seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise LinearIntentConfigError(f"{name}: 'random_seed' must be an integer.")
        early_exit = config.get("early_exit", False)
        if not isinstance(early_exit, bool):
            raise LinearIntentConfigError(f"{name}: 'early_exit' must be true or false.")
        if early_exit and (combine != "concat" or set(blocks) != set(BLOCKS)):
            raise LinearIntentConfigError(
                f"{name}: 'early_exit' needs both blocks [char, dense] and combine: concat (the character head "
                "answers first, the full model the rest)."
            )
        exit_sources = _exit_sources(config.get("exit_featurizers"), sources, early_exit, name)
        return cls(
            blocks=blocks,
            combine=combine,
            c_grid=c_grid,
            sources=sources,
            scale_grids=scale_grids,
            ngram_range=(int(ngram[0]), int(ngram[1])),
            cv_folds=folds,
            class_weight=weight,
            featurizers=featurizers,
            ranking_length=ranking,
            random_seed=seed,
            early_exit=early_exit,
            exit_sources=exit_sources,
        )


def _dense_sources(
    value: Any, featurizers: tuple[str, ...], name: str
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[float, ...], ...]]:
    """``dense_scale`` as sources and their scale lists.

    A number or a list scales all the dense features (of ``featurizers``, or of every featurizer) as one
    block; a mapping from featurizer names (their ``alias`` in config.yml) to numbers or lists scales each
    featurizer's vector on its own, every combination tried by cross-validation.
    """
    if not isinstance(value, dict):
        return (featurizers,), (_positive_list(value, f"{name}: 'dense_scale'"),)
    if not value or not all(isinstance(key, str) and key for key in value):
        raise LinearIntentConfigError(
            f"{name}: 'dense_scale' as a mapping needs featurizer names (their alias) as keys, got {value!r}."
        )
    if featurizers:
        raise LinearIntentConfigError(
            f"{name}: give either 'featurizers' or a 'dense_scale' per featurizer, not both "
            "(the mapping's keys already name the featurizers)."
        )
    grids = tuple(_positive_list(scales, f"{name}: 'dense_scale' of {key!r}") for key, scales in value.items())
    return tuple((key,) for key in value), grids


def _exit_sources(value: Any, sources: tuple[tuple[str, ...], ...], early_exit: bool, name: str) -> tuple[int, ...]:
    """The sources the early-exit head reads beside the characters (``exit_featurizers``, by name)."""
    names = value if value is not None else []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LinearIntentConfigError(f"{name}: 'exit_featurizers' must be a list of featurizer names.")
    if names and not early_exit:
        raise LinearIntentConfigError(f"{name}: 'exit_featurizers' is for the early exit: set early_exit: true.")
    index = {source[0]: i for i, source in enumerate(sources) if len(source) == 1}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise LinearIntentConfigError(
            f"{name}: 'exit_featurizers' {unknown} must be keys of a 'dense_scale' mapping "
            "(dense_scale: {NAME: [scales], ...}), so that their scale is chosen like the others'."
        )
    if len(set(names)) != len(names) or (names and len(names) == len(sources)):
        raise LinearIntentConfigError(
            f"{name}: 'exit_featurizers' must name each featurizer once and leave out at least one of "
            "'dense_scale' (the slow one the early exit saves)."
        )
    return tuple(index[n] for n in names)


def _positive_list(value: Any, what: str) -> tuple[float, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = tuple(float(v) for v in values if not isinstance(v, bool))
    except (TypeError, ValueError):
        numbers = ()
    if not numbers or len(numbers) != len(values) or any(not math.isfinite(n) or n <= 0 for n in numbers):
        raise LinearIntentConfigError(f"{what} must be a positive number or a list of them, got {value!r}.")
    return numbers


# ---------------------------------------------------------------- features


def _char_vectorizer(ngram_range: tuple[int, int], vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # Sublinear TF and L2-normalized rows: a long message does not drown the embedding block.
    return TfidfVectorizer(
        analyzer="char", ngram_range=ngram_range, sublinear_tf=True, dtype=np.float32, vocabulary=vocabulary
    )


def _dense_matrix(messages: Sequence[Message], featurizers: tuple[str, ...], dims: int | None) -> np.ndarray:
    """Each message's dense sentence features of ``featurizers`` (all: empty), zeros where a message has none."""
    rows: list[np.ndarray | None] = []
    for message in messages:
        _, sentence = message.get_dense_features(TEXT, list(featurizers) or None)
        row = None if sentence is None else np.asarray(sentence.features, dtype=np.float32).reshape(-1)
        rows.append(None if row is None or row.size == 0 else row)  # size 0: a lazy featurizer's placeholder
    found = {row.shape[0] for row in rows if row is not None}
    if len(found) > 1:
        raise LinearIntentError(f"LinearIntentClassifier: dense sentence features of different sizes {sorted(found)}")
    width = dims if dims is not None else (found.pop() if found else 0)
    if found and dims is not None and found != {dims}:
        raise LinearIntentError(
            f"LinearIntentClassifier: the model was trained on {dims} dense features but the message has "
            f"{found.pop()}; the featurizers before it changed since training: retrain the model."
        )
    out = np.zeros((len(rows), width), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out


def _dense_sources_of(
    messages: Sequence[Message], sources: Sequence[tuple[str, ...]], dims: Sequence[int] | None
) -> list[np.ndarray]:
    """One matrix per dense source (``_dense_matrix`` of its featurizers)."""
    return [_dense_matrix(messages, source, None if dims is None else dims[i]) for i, source in enumerate(sources)]


def _texts(messages: Sequence[Message]) -> list[str]:
    return [m.get(TEXT) if isinstance(m.get(TEXT), str) else "" for m in messages]


def _design(
    blocks: Sequence[str],
    char: sp.csr_matrix | None,
    dense: Sequence[np.ndarray],
    sources: Sequence[int],
    scales: Sequence[float],
) -> sp.csr_matrix:
    """The design matrix: characters (if in ``blocks``), then each used dense source times its scale."""
    parts: list[Any] = []
    for block in blocks:
        if block == "char":
            parts.append(char)
        else:
            parts.extend(sp.csr_matrix(dense[i] * scale) for i, scale in zip(sources, scales))
    return sp.hstack(parts, format="csr", dtype=np.float32)


# ---------------------------------------------------------------- the linear heads


def _fit_svm(x: sp.csr_matrix, y: np.ndarray, n_classes: int, c: float, settings: Settings) -> tuple[Any, Any]:
    """A one-vs-rest linear SVM; returns (weights n_classes × n_features, intercepts)."""
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=c, class_weight=settings.class_weight, random_state=settings.random_seed, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's ConvergenceWarning on separable toy data
        model.fit(x, y)
    coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    present = model.classes_
    weights = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    bias = np.full(n_classes, -1e3, dtype=np.float32)  # an intent absent from a fold never wins in it
    if len(present) == 2:
        # liblinear keeps one hyperplane for two classes: positive means the second.
        weights[present[1]], bias[present[1]] = coef[0], intercept[0]
        weights[present[0]], bias[present[0]] = -coef[0], -intercept[0]
    else:
        weights[present], bias[present] = coef, intercept
    return weights, bias


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimizes the cross-entropy of held-out scores.

    The targets are smoothed by 1/(n+2), Laplace's rule of succession: n right answers out of
    n are read as (n+1)/(n+2), not as certainty. Without it, a small data set that the model
    gets all right in cross-validation drives the temperature to zero and every confidence to 1.
    """
    from scipy.optimize import minimize_scalar

    n, k = scores.shape
    smoothing = 1.0 / (n + 2)
    rows = np.arange(n)

    def nll(log_t: float) -> float:
        log_p = np.log(np.clip(_softmax(scores, math.exp(log_t)), 1e-12, 1.0))
        true = log_p[rows, y]
        return float(-((1.0 - smoothing) * true + smoothing * log_p.mean(axis=1)).mean()) if k > 1 else 0.0

    result = minimize_scalar(nll, bounds=(math.log(1e-3), math.log(1e2)), method="bounded")
    return float(math.exp(result.x))


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def suggest_fallback(probabilities: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """FallbackClassifier settings from out-of-fold probabilities.

    A message the classifier answers gains 1 if right and costs 1 if wrong; a fallback (ask
    again, offer a person) neither gains nor costs. The suggestion is the (threshold,
    ambiguity threshold) pair with the highest total, the lowest pair among equals.
    """
    order = np.sort(probabilities, axis=1)
    top = order[:, -1]
    margin = top - (order[:, -2] if probabilities.shape[1] > 1 else 0.0)
    correct = probabilities.argmax(axis=1) == y
    best: tuple[float, float, float] | None = None
    for threshold in THRESHOLD_GRID:
        for ambiguity in AMBIGUITY_GRID:
            answered = (top >= threshold) & (margin >= ambiguity)
            value = float(np.sum(answered & correct) - np.sum(answered & ~correct))
            if best is None or value > best[0]:
                best = (value, threshold, ambiguity)
    assert best is not None
    _, threshold, ambiguity = best
    answered = (top >= threshold) & (margin >= ambiguity)
    return {
        "threshold": threshold,
        "ambiguity_threshold": ambiguity,
        "answered": round(float(answered.mean()), 4),
        "right_when_answered": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
        "right_sent_to_fallback": round(float((correct & ~answered).sum() / max(1, correct.sum())), 4),
        "wrong_caught": round(float((~correct & ~answered).sum() / max(1, (~correct).sum())), 4),
    }


def choose_exit(exit_probabilities: np.ndarray, full_probabilities: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The early-exit threshold, from out-of-fold probabilities of the character head and the full model.

    For each threshold of ``EXIT_GRID`` (lowest first), the examples whose character-head
    confidence reaches it are answered by that head, the others by the full model. The choice is
    the lowest threshold at which this mix is right at least as often as the full model alone
    (so exiting costs no accuracy out of fold), and stays so at every higher threshold of the grid;
    ``threshold`` is None when no threshold qualifies (never exit).
    """
    confidence = exit_probabilities.max(axis=1)
    exit_right = exit_probabilities.argmax(axis=1) == y
    full_right = full_probabilities.argmax(axis=1) == y
    rows = []
    for threshold in EXIT_GRID:
        exits = confidence >= threshold
        mixed = np.where(exits, exit_right, full_right)
        rows.append(
            {
                "threshold": threshold,
                "exits": round(float(exits.mean()), 4),
                "accuracy": round(float(mixed.mean()), 4),
                "ok": bool(mixed.sum() >= full_right.sum()),
            }
        )
    chosen = None
    for row in reversed(rows):  # the lowest threshold from which every higher one qualifies too
        if not row["ok"]:
            break
        chosen = row
    return {
        "threshold": None if chosen is None else chosen["threshold"],
        "exits": 0.0 if chosen is None else chosen["exits"],
        "accuracy": round(float(full_right.mean()), 4) if chosen is None else chosen["accuracy"],
        "full_accuracy": round(float(full_right.mean()), 4),
        "grid": rows,
    }


def mix_exit(exit_probabilities: np.ndarray, full_probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """Each row from the character head where it is sure enough, else from the full model."""
    if threshold is None:
        return full_probabilities
    exits = exit_probabilities.max(axis=1) >= threshold
    return np.where(exits[:, None], exit_probabilities, full_probabilities)


@dataclass
class Head:
    """One linear model over some feature blocks, with its calibration temperature."""

    blocks: tuple[str, ...]
    c: float
    sources: tuple[int, ...]  # the dense sources it reads (indexes into the model's), empty without "dense"
    scales: tuple[float, ...]  # one per source
    temperature: float
    weights: np.ndarray  # n_classes × n_features
    bias: np.ndarray

    def probabilities(self, char: sp.csr_matrix | None, dense: Sequence[np.ndarray]) -> np.ndarray:
        x = _design(self.blocks, char, dense, self.sources, self.scales)
        scores = np.asarray(x @ self.weights.T) + self.bias
        return _softmax(scores, self.temperature)


def _folds(y: np.ndarray, settings: Settings) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds; none only when every intent has a single example (nothing to hold out).

    An intent with fewer examples than folds is missing from some folds' training part: its
    held-out examples there cannot be right, and they are left out of the calibration
    (see ``_train_head``), not allowed to stop it.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y)
    folds = min(settings.cv_folds, int(counts.max()))
    if folds < 2:
        return []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.random_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The least populated class in y has only 1 member"
        return list(splitter.split(np.zeros(len(y)), y))


def _source_label(source: tuple[str, ...]) -> str:
    return "+".join(source) or "dense"


def _scale_report(settings: Settings, sources: tuple[int, ...], scales: tuple[float, ...]) -> Any:
    """A head's scales as reported: one number for a single source, else a mapping by featurizer name."""
    if len(sources) == 1:
        return scales[0]
    return {_source_label(settings.sources[i]): scale for i, scale in zip(sources, scales)}


def _train_head(
    blocks: tuple[str, ...],
    sources: tuple[int, ...],
    texts: list[str],
    dense: list[np.ndarray],
    y: np.ndarray,
    n_classes: int,
    settings: Settings,
) -> tuple[Head, Any, dict[str, Any]]:
    """Cross-validate the grid for one head, fit the best on everything; returns the head, its vectorizer, a report.

    ``sources``: the dense sources the head reads (with "dense" in ``blocks``); every combination of their
    scale lists is tried, with every C.
    """
    from sklearn.metrics import accuracy_score, f1_score

    uses_char = "char" in blocks
    sources = sources if "dense" in blocks else ()
    grids = [settings.scale_grids[i] for i in sources]
    if not uses_char and len(grids) == 1:
        grids = [grids[0][:1]]  # one block alone: scaling it is the same as changing C, so only C is searched
    grid = [(c, tuple(s)) for c in settings.c_grid for s in itertools.product(*grids)]
    folds = _folds(y, settings)
    report: dict[str, Any] = {"blocks": list(blocks), "folds": len(folds), "grid": []}
    started = time.perf_counter()
    if folds and len(grid) >= 1:
        oof = {point: np.zeros((len(y), n_classes), dtype=np.float32) for point in grid}
        # Held-out examples whose intent the fold's training part had: the ones calibration can learn from.
        seen = np.zeros(len(y), dtype=bool)
        for train_idx, test_idx in folds:
            seen[test_idx] = np.isin(y[test_idx], y[train_idx])
            char_train = char_test = None
            if uses_char:
                vectorizer = _char_vectorizer(settings.ngram_range)
                char_train = vectorizer.fit_transform([texts[i] for i in train_idx])
                char_test = vectorizer.transform([texts[i] for i in test_idx])
            for c, s in grid:
                weights, bias = _fit_svm(
                    _design(blocks, char_train, [d[train_idx] for d in dense], sources, s),
                    y[train_idx],
                    n_classes,
                    c,
                    settings,
                )
                x_test = _design(blocks, char_test, [d[test_idx] for d in dense], sources, s)
                oof[(c, s)][test_idx] = np.asarray(x_test @ weights.T) + bias
        scored = []
        for point in grid:
            predicted = oof[point].argmax(axis=1)
            macro = float(f1_score(y, predicted, average="macro"))
            accuracy = float(accuracy_score(y, predicted))
            scored.append((macro, accuracy, point))
            report["grid"].append(
                {
                    "C": point[0],
                    "dense_scale": _scale_report(settings, sources, point[1]) if sources else None,
                    "macro_f1": macro,
                    "accuracy": accuracy,
                }
            )
        # Best macro-F1, then accuracy; max() keeps the first of equals (the grid's order).
        _, _, best = max(scored, key=lambda item: (item[0], item[1]))
        temperature = fit_temperature(oof[best][seen], y[seen])
        probabilities = _softmax(oof[best], temperature)
        report["oof"] = {
            "accuracy": round(float(accuracy_score(y, probabilities.argmax(axis=1))), 4),
            "macro_f1": round(float(f1_score(y, probabilities.argmax(axis=1), average="macro")), 4),
            "ece_before": round(expected_calibration_error(_softmax(oof[best][seen], 1.0), y[seen]), 4),
            "ece_after": round(expected_calibration_error(probabilities[seen], y[seen]), 4),
            "calibrated_on": int(seen.sum()),
        }
        report["_oof_seen"] = seen
    else:
        best, temperature, probabilities = grid[0], 1.0, None
        report["note"] = "no cross-validation: every intent has a single example; first grid values, temperature 1"
    vectorizer = None
    char_all = None
    if uses_char:
        vectorizer = _char_vectorizer(settings.ngram_range)
        char_all = vectorizer.fit_transform(texts)
    weights, bias = _fit_svm(_design(blocks, char_all, dense, sources, best[1]), y, n_classes, best[0], settings)
    report.update(
        C=best[0],
        dense_scale=_scale_report(settings, sources, best[1]) if sources else None,
        temperature=round(temperature, 4),
    )
    report["seconds"] = round(time.perf_counter() - started, 2)
    head = Head(blocks, best[0], sources, best[1], temperature, weights, bias)
    report["_oof_probabilities"] = probabilities  # for the ensemble's fallback suggestion; not persisted
    return head, vectorizer, report


# ---------------------------------------------------------------- the Rasa component


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Intent classification with a calibrated linear SVM over sentence embedding ⊕ character n-grams."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Feature blocks: "dense" (sentence features of the featurizers before, e.g. e5) and
            # "char" (character n-gram TF-IDF of the message text).
            "blocks": ["char", "dense"],
            # "concat": one model over all blocks; "vote": one model per block, probabilities averaged.
            "combine": "concat",
            # Lists are searched by cross-validation on the training data.
            "C": [0.3, 1.0],
            "dense_scale": [2.0, 3.0],
            "char_ngram_range": [1, 3],
            "cv_folds": 5,
            "class_weight": "balanced",
            # Dense featurizers (by name) whose sentence features are used; empty: all of them.
            "featurizers": [],
            "ranking_length": LABEL_RANKING_LENGTH,
            "random_seed": 42,
            # A cheap head answers alone when sure (threshold chosen by cross-validation): the characters,
            # and the vectors of these featurizers (keys of a dense_scale mapping); the others are computed
            # only for the rest (a lazy featurizer, e.g. E5SentenceFeaturizer with lazy: true).
            "early_exit": False,
            "exit_featurizers": [],
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "scipy"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        Settings.from_config({**cls.get_default_config(), **config})

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: _Model | None = None,
    ) -> None:
        self._settings = Settings.from_config({**self.get_default_config(), **config})
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    # -- training

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and isinstance(m.get(TEXT), str)]
        classes = sorted({str(m.get(INTENT)) for m in examples})
        if len(classes) < 2:
            # As Rasa's own classifiers do: nothing to tell apart, so nothing is trained and
            # every message gets no intent (the FallbackClassifier then falls back).
            logger.warning(
                "LinearIntentClassifier: %d intent(s) in the training data, need 2: not trained.", len(classes)
            )
            return self._resource
        started = time.perf_counter()
        index = {name: i for i, name in enumerate(classes)}
        y = np.array([index[str(m.get(INTENT))] for m in examples], dtype=np.int64)
        texts = _texts(examples)
        settings = self._settings
        dense = _dense_sources_of(examples, settings.sources, None) if "dense" in settings.blocks else []
        for source, matrix in zip(settings.sources, dense):
            if matrix.shape[1] == 0:
                raise LinearIntentConfigError(
                    f"LinearIntentClassifier: 'blocks' includes 'dense' but no training example has dense sentence "
                    f"features{' from ' + _source_label(source) if source else ''}: put a sentence featurizer "
                    "(bot.components.use_featurizer.USESentenceFeaturizer, with that alias if named) before it "
                    "in the pipeline, or set blocks: [char]."
                )
        all_sources = tuple(range(len(dense)))
        block_sets = (
            [settings.blocks] if settings.combine == "concat" else [(b,) for b in settings.blocks]  # one head per block
        )
        heads, reports, oofs = [], [], []
        seen = np.ones(len(y), dtype=bool)
        vectorizer = None
        for blocks in block_sets:
            head, head_vectorizer, report = _train_head(blocks, all_sources, texts, dense, y, len(classes), settings)
            heads.append(head)
            oofs.append(report.pop("_oof_probabilities"))
            seen &= report.pop("_oof_seen", seen)
            reports.append(report)
            vectorizer = vectorizer or head_vectorizer
        exit_head, exit_threshold, exit_report = None, None, None
        if settings.early_exit:
            exit_blocks = ("char", "dense") if settings.exit_sources else ("char",)
            exit_head, _, exit_train = _train_head(
                exit_blocks, settings.exit_sources, texts, dense, y, len(classes), settings
            )
            exit_oof = exit_train.pop("_oof_probabilities")
            seen &= exit_train.pop("_oof_seen", seen)
            if exit_oof is not None and oofs[0] is not None:
                exit_report = {"head": exit_train, **choose_exit(exit_oof[seen], oofs[0][seen], y[seen])}
                exit_threshold = exit_report["threshold"]
                oofs = [mix_exit(exit_oof, oofs[0], exit_threshold)]
            else:
                exit_report = {"head": exit_train, "threshold": None, "note": "no cross-validation: no early exit"}
        model = _Model(
            classes,
            heads,
            vectorizer,
            settings.sources if dense else (),
            [d.shape[1] for d in dense],
            settings.ngram_range,
        )
        if exit_head is not None and exit_threshold is not None:
            model.exit_head, model.exit_threshold = exit_head, exit_threshold
        training_report: dict[str, Any] = {
            "examples": len(examples),
            "intents": len(classes),
            "heads": reports,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if exit_report is not None:
            training_report["early_exit"] = exit_report
        if all(p is not None for p in oofs):
            combined = np.mean(np.stack(oofs), axis=0)
            training_report["fallback_suggestion"] = suggest_fallback(combined[seen], y[seen])
            model.fallback = {
                "threshold": training_report["fallback_suggestion"]["threshold"],
                "ambiguity_threshold": training_report["fallback_suggestion"]["ambiguity_threshold"],
            }
        model.report = training_report
        self._model = model
        logger.info(
            "LinearIntentClassifier trained on %d examples of %d intents in %.1f s: %s",
            len(examples),
            len(classes),
            training_report["seconds"],
            json.dumps({k: v for k, v in training_report.items() if k != "heads"}),
        )
        self.persist()
        return self._resource

    # -- prediction

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None:
            # Untrained (fewer than two intents in the data): no intent, as for an empty text.
            probabilities: list[np.ndarray | None] = [None] * len(messages)
        else:
            probabilities = self._model.probabilities(messages)
        classes = self._model.classes if self._model is not None else []
        for message, row in zip(messages, probabilities):
            if row is None:
                # Nothing to classify (empty text): no intent, so the FallbackClassifier falls back.
                message.set(INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            order = np.argsort(-row, kind="stable")
            if self._settings.ranking_length:
                order = order[: self._settings.ranking_length]
            ranking = [{INTENT_NAME_KEY: classes[i], PREDICTED_CONFIDENCE_KEY: float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            if self._model is not None and self._model.fallback is not None:
                message.set(FALLBACK_KEY, dict(self._model.fallback))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    # -- persistence

    def persist(self) -> None:
        if self._model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(directory)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model = _Model.load(directory)
        except ValueError:
            # Rasa's storage says the resource does not exist: the component was never trained
            # (no intent examples), as Rasa's own classifiers handle it.
            logger.warning("LinearIntentClassifier: no trained model in %s; intents will not be classified.", resource)
            model = None
        return cls(config, model_storage, resource, model)


class _Model:
    """The trained state: intent names, the character vectorizer, the dense sources and the linear heads."""

    def __init__(
        self,
        classes: list[str],
        heads: list[Head],
        vectorizer: Any,
        sources: Sequence[tuple[str, ...]],
        dense_dims: Sequence[int],
        ngram_range: tuple[int, int],
    ) -> None:
        self.classes = classes
        self.heads = heads
        self.vectorizer = vectorizer
        # Each dense source's featurizer names (empty: all dense features) and width.
        self.sources = [tuple(source) for source in sources]
        self.dense_dims = list(dense_dims)
        self.ngram_range = ngram_range
        self.report: dict[str, Any] = {}
        # Early exit: a head over the characters (and maybe cheap sources) that answers alone at or above the threshold.
        self.exit_head: Head | None = None
        self.exit_threshold: float | None = None
        # The fallback suggestion handed to CalibratedFallbackClassifier on each message.
        self.fallback: dict[str, float] | None = None

    def _dense(self, messages: Sequence[Message], used: Sequence[int]) -> list[np.ndarray]:
        """The dense sources ``used`` of these messages (the others empty: no head reads them here)."""
        empty = np.zeros((len(messages), 0), dtype=np.float32)
        return [
            _dense_matrix(messages, source, self.dense_dims[i]) if i in used else empty
            for i, source in enumerate(self.sources)
        ]

    def probabilities(self, messages: Sequence[Message]) -> list[np.ndarray | None]:
        from bot.components.e5_featurizer import embed_pending

        texts = _texts(messages)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        out: list[np.ndarray | None] = [None] * len(messages)
        if not todo:
            return out
        char = self.vectorizer.transform([texts[i] for i in todo]) if self.vectorizer is not None else None
        if self.exit_head is not None and self.exit_threshold is not None and char is not None:
            chosen = [messages[i] for i in todo]
            names = {name for i in self.exit_head.sources for name in self.sources[i]}
            embed_pending(chosen, names)  # a cheap source left lazy (a config mistake) is computed, not read as zeros
            early = self.exit_head.probabilities(char, self._dense(chosen, self.exit_head.sources))
            sure = early.max(axis=1) >= self.exit_threshold
            for i, row in zip(np.asarray(todo)[sure], early[sure]):
                out[int(i)] = row
            if sure.all():
                return out
            todo = [i for i, done in zip(todo, sure) if not done]
            char = char[np.flatnonzero(~sure)]
        chosen = [messages[i] for i in todo]
        if self.sources:
            embed_pending(chosen)  # a lazy featurizer left the embedding for whoever needs it
        dense = self._dense(chosen, range(len(self.sources)))
        combined = np.mean([head.probabilities(char, dense) for head in self.heads], axis=0)
        for i, row in zip(todo, combined):
            out[i] = row
        return out

    @staticmethod
    def _head_meta(head: Head) -> dict[str, Any]:
        return {
            "blocks": list(head.blocks),
            "C": head.c,
            "sources": list(head.sources),
            "dense_scale": list(head.scales),
            "temperature": head.temperature,
        }

    @staticmethod
    def _head_from(meta: dict[str, Any], weights: np.ndarray, bias: np.ndarray) -> Head:
        return Head(
            blocks=tuple(meta["blocks"]),
            c=float(meta["C"]),
            sources=tuple(int(i) for i in meta["sources"]),
            scales=tuple(float(x) for x in meta["dense_scale"]),
            temperature=float(meta["temperature"]),
            weights=weights,
            bias=bias,
        )

    def save(self, directory: Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        heads = []
        for n, head in enumerate(self.heads):
            arrays[f"head{n}_weights"] = head.weights
            arrays[f"head{n}_bias"] = head.bias
            heads.append(self._head_meta(head))
        vocabulary = None
        if self.vectorizer is not None:
            arrays["idf"] = self.vectorizer.idf_.astype(np.float32)
            vocabulary = {term: int(i) for term, i in self.vectorizer.vocabulary_.items()}
        exit_head = None
        if self.exit_head is not None:
            arrays["exit_weights"], arrays["exit_bias"] = self.exit_head.weights, self.exit_head.bias
            exit_head = {**self._head_meta(self.exit_head), "threshold": self.exit_threshold}
        np.savez_compressed(directory / MODEL_ARRAYS, **arrays)
        meta = {
            "format": FORMAT_VERSION,
            "exit_head": exit_head,
            "fallback": self.fallback,
            "classes": self.classes,
            "sources": [list(source) for source in self.sources],
            "dense_dims": self.dense_dims,
            "char_ngram_range": list(self.ngram_range),
            "heads": heads,
            "vocabulary": vocabulary,
            "report": self.report,
        }
        (directory / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> _Model:
        try:
            meta = json.loads((directory / MODEL_JSON).read_text(encoding="utf-8"))
            # allow_pickle=False: the arrays file can hold numbers only.
            with np.load(directory / MODEL_ARRAYS, allow_pickle=False) as arrays:
                stored = {key: arrays[key] for key in arrays.files}
        except (OSError, ValueError) as err:
            raise LinearIntentError(f"LinearIntentClassifier: cannot read the stored model: {err}") from err
        if meta.get("format") != FORMAT_VERSION:
            raise LinearIntentError(
                f"LinearIntentClassifier: stored model format {meta.get('format')!r}, expected {FORMAT_VERSION}: retrain."
            )
        ngram_range = (int(meta["char_ngram_range"][0]), int(meta["char_ngram_range"][1]))
        vectorizer = None
        if meta["vocabulary"] is not None:
            vectorizer = _char_vectorizer(ngram_range, {str(k): int(v) for k, v in meta["vocabulary"].items()})
            vectorizer.idf_ = stored["idf"]
        heads = [
            cls._head_from(h, stored[f"head{n}_weights"], stored[f"head{n}_bias"]) for n, h in enumerate(meta["heads"])
        ]
        sources = [tuple(str(name) for name in source) for source in meta["sources"]]
        model = cls(
            list(meta["classes"]), heads, vectorizer, sources, [int(d) for d in meta["dense_dims"]], ngram_range
        )
        model.report = dict(meta.get("report") or {})
        exit_head = meta.get("exit_head")
        if exit_head is not None:
            model.exit_head = cls._head_from(exit_head, stored["exit_weights"], stored["exit_bias"])
            model.exit_threshold = float(exit_head["threshold"])
        fallback = meta.get("fallback")
        if fallback is not None:
            model.fallback = {k: float(fallback[k]) for k in ("threshold", "ambiguity_threshold")}
        return model


# ---------------------------------------------------------------- the training report of a model archive


def read_report(archive: Path) -> dict[str, Any]:
    """The training report (chosen settings, out-of-fold scores, fallback suggestion) inside a model archive."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + MODEL_JSON)), None)
            if member is None:
                raise LinearIntentError(f"{archive} holds no LinearIntentClassifier model")
            handle = tar.extractfile(member)
            assert handle is not None
            meta = json.load(io.TextIOWrapper(handle, encoding="utf-8"))
    except (OSError, tarfile.TarError, json.JSONDecodeError) as err:
        raise LinearIntentError(f"cannot read {archive}: {err}") from err
    return dict(meta.get("report") or {})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.components.linear_intent", description=read_report.__doc__)
    parser.add_argument("model", type=Path, help="a trained Rasa model archive (models/*.tar.gz)")
    args = parser.parse_args(argv)
    try:
        report = read_report(args.model)
    except LinearIntentError as err:
        print(f"linear_intent: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
