"""Compare NLU pipelines on one train/test split: the project's config.yml and Rasa's stock Chinese pipeline.

    .venv-rasa/bin/python -m bot.tools.evaluate --train TRAIN.yml --test TEST.yml [--json]
        [--pipelines project,rasa_default] [--epochs N]

Each pipeline is trained NLU-only on TRAIN.yml (a Rasa 3 NLU YAML file) in a temporary
directory, then every TEST.yml example is parsed one at a time. Printed per pipeline:

- accuracy: share of test examples whose top intent is the gold intent. Anything else is an
  error: an intent absent from TRAIN.yml, ``nlu_fallback`` (the project's FallbackClassifier),
  ``emergency`` (the project's EmergencyGuard), or no intent at all.
- accuracy_before_fallback: the same, but where ``nlu_fallback`` was predicted, the intent the
  classifier ranked first beneath it counts instead: how much of the accuracy the fallback takes
  (a diagnostic; ``accuracy`` is the figure that counts).
- macro_f1: intent F1 averaged over the gold intents of the test set (predicted labels that
  are not gold intents count only as false negatives of the gold intent).
- entity_f1: micro-averaged F1 over (entity type, start, end) triples: a predicted entity counts
  only when type and character span both match a gold entity exactly (roles, groups and values
  are ignored). ``null`` when the test set has no entities. If a pipeline rewrites the text
  (the project's TextNormalizer collapses spaces, for instance), gold spans are first carried
  onto the text the model returned by a character alignment.
  A pipeline without an entity extractor gets ``null`` too (it does not try).
- train_s: wall-clock seconds of training; train_peak_rss_mb: peak resident memory of the process
  that trained (imports included).
- parse_p50_ms / parse_p95_ms: latency of one parse after a warm-up, and peak_rss_mb: peak
  resident memory, both measured in a fresh process that only loads the model and parses, as a
  server does (so training's memory does not count).
- confusion: gold intents × predicted intents (``labels``, ``matrix`` rows = gold), for the report.
- linear_intent: the training report of a ``bot.components.linear_intent.LinearIntentClassifier`` in the
  pipeline (settings chosen by cross-validation, out-of-fold scores, fallback suggestion), if any.

``--pipelines`` takes names from the registry below or paths to Rasa config files (a study of a
variant, named after the file).

Thread limits are the caller's: on 2 shared cores run with OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE,
or competing BLAS threads inflate parse latency 10-20x (ARCHITECTURE.md, "Threads on two cores").

The table goes to stdout; with --json one JSON object follows on the last line. Rasa's and
TensorFlow's own output goes to stderr. Run from anywhere; the working directory becomes the
repository root because the project's components read training_data/ relative to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import difflib
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import Refusal, YinlingError

ROOT = Path(__file__).resolve().parents[2]
# The pipelines that can be compared, by name; a new baseline is one more config file here.
PIPELINES: dict[str, Path] = {
    "project": ROOT / "config.yml",
    "rasa_default": ROOT / "bot" / "pipelines" / "rasa_default.yml",
    "char_linear": ROOT / "bot" / "pipelines" / "char_linear.yml",
    "ensemble": ROOT / "bot" / "pipelines" / "ensemble.yml",
}
WARM_UP_PARSES = 3

# An entity as scored: (type, start, end).
Span = tuple[str, int, int]


class EvaluationError(YinlingError):
    """The evaluation could not run; the message says why."""


class EvaluationInputError(EvaluationError, Refusal, ValueError):
    """A command-line argument or input file is unusable; the message says what to change."""


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[Span, ...]


@dataclass(frozen=True)
class Parse:
    text: str  # the text as the model returned it (possibly normalized)
    intent: str
    entities: tuple[Span, ...]
    seconds: float
    # The classifier's own top intent where the fallback replaced it, else the intent itself.
    classifier_intent: str = ""


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    entity_f1: float | None
    train_s: float
    parse_p50_ms: float
    parse_p95_ms: float = 0.0
    peak_rss_mb: float | None = None
    train_peak_rss_mb: float | None = None
    confusion: dict[str, Any] | None = None
    linear_intent: dict[str, Any] | None = None
    accuracy_before_fallback: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "entity_f1": None if self.entity_f1 is None else round(self.entity_f1, 4),
            "train_s": round(self.train_s, 2),
            "parse_p50_ms": round(self.parse_p50_ms, 2),
            "parse_p95_ms": round(self.parse_p95_ms, 2),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
            "train_peak_rss_mb": None if self.train_peak_rss_mb is None else round(self.train_peak_rss_mb, 1),
        }
        if self.accuracy_before_fallback is not None:
            out["accuracy_before_fallback"] = round(self.accuracy_before_fallback, 4)
        if self.confusion is not None:
            out["confusion"] = self.confusion
        if self.linear_intent is not None:
            out["linear_intent"] = self.linear_intent
        return out


# ---------------------------------------------------------------- input


def load_examples(path: Path, role: str) -> list[Example]:
    """The intent examples of a Rasa 3 NLU YAML file; bad input raises EvaluationInputError."""
    from rasa.shared.exceptions import RasaException
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RESPONSE_KEY, TEXT
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    try:
        if not RasaYAMLReader.is_yaml_nlu_file(path):
            raise EvaluationInputError(
                f"{role} file {path} is not Rasa NLU YAML (a .yml/.yaml file with an 'nlu:' section)"
            )
        data = RasaYAMLReader().read(path)
    except RasaException as err:
        raise EvaluationInputError(f"{role} file {path} cannot be read as Rasa NLU YAML: {err}") from err
    examples = [
        Example(
            text=message.get(TEXT),
            intent=message.get(INTENT),
            entities=tuple(
                (e["entity"], int(e["start"]), int(e["end"]))
                for e in message.get(ENTITIES) or []
                if "start" in e and "end" in e
            ),
        )
        for message in data.intent_examples
    ]
    if not examples:
        raise EvaluationInputError(f"{role} file {path} has no intent examples")
    if any(message.get(INTENT_RESPONSE_KEY) for message in data.intent_examples):
        # Rasa reads `a/b` as the retrieval intent `a`: classified and scored as `a` alone.
        _progress(f"{role} file {path}: intent names with '/' are scored by the part before the '/'")
    return examples


def pipeline_path(name: str) -> Path:
    """The config file of a registered pipeline, or ``name`` itself if it is a path to one."""
    return PIPELINES[name] if name in PIPELINES else Path(name)


def pipeline_label(name: str) -> str:
    return name if name in PIPELINES else Path(name).stem


def pipeline_config(name: str, epochs: int | None) -> dict[str, Any]:
    """An NLU-only training config: the named file's language and pipeline; policies are irrelevant."""
    path = pipeline_path(name)
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    pipeline = [dict(component) for component in content["pipeline"]]
    if epochs is not None:
        for component in pipeline:
            if component.get("name") == "DIETClassifier":
                component["epochs"] = epochs
    return {
        "recipe": content.get("recipe", "default.v1"),
        "language": content.get("language", "zh"),
        # Set, so Rasa does not write a generated id back into the config file.
        "assistant_id": f"evaluate_{pipeline_label(name)}",
        "pipeline": pipeline,
    }


# ---------------------------------------------------------------- training and parsing


def train(config: dict[str, Any], train_path: Path, workdir: Path, name: str) -> tuple[Path, float]:
    """Train an NLU model; returns its archive and the wall-clock seconds it took."""
    from rasa.model_training import train_nlu
    from rasa.shared.exceptions import RasaException

    config_path = workdir / f"{name}.config.yml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    try:
        model = train_nlu(str(config_path), str(train_path), str(workdir), fixed_model_name=name)
    except RasaException as err:  # Rasa's own verdict on the data or the config, e.g. a bad annotation
        raise EvaluationError(f"training the {name} pipeline failed: {err}") from err
    seconds = time.perf_counter() - started
    if model is None or not Path(model).is_file():
        raise EvaluationError(f"training the {name} pipeline produced no model (see the messages above)")
    return Path(model), seconds


def has_entity_extractor(config: dict[str, Any]) -> bool:
    """Whether any component of the pipeline is registered as an entity extractor."""
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe

    return any(
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR
        in DefaultV1Recipe._from_registry(str(component["name"])).types  # Rasa's own lookup
        for component in config["pipeline"]
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve_and_parse(model: str, texts: list[str], root: str) -> tuple[list[Parse], float]:
    """Run in a fresh process: load the model, parse every text, report the parses and peak memory."""
    os.chdir(root)
    quiet_environment()
    with stdout_to_stderr():
        quiet_logging()
        parses = parse_all(Path(model), texts)
    return parses, peak_rss_mb()


def parse_in_fresh_process(model: Path, texts: Sequence[str]) -> tuple[list[Parse], float]:
    """Parse as a server would, in a process that never trained: latency and memory are the server's."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        parses, rss = pool.apply(_serve_and_parse, (str(model), list(texts), str(ROOT)))
    return parses, rss


def parse_all(model: Path, texts: Sequence[str]) -> list[Parse]:
    """Parse each text on its own, as a server would, timing each call after a short warm-up."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def run() -> list[Parse]:
        for text in texts[:WARM_UP_PARSES]:
            await agent.parse_message(text)
        parses = []
        for text in texts:
            started = time.perf_counter()
            result = await agent.parse_message(text)
            parses.append(_parse_result(result, text, time.perf_counter() - started))
        return parses

    return asyncio.run(run())


def _parse_result(result: dict[str, Any], text: str, seconds: float) -> Parse:
    intent = (result.get("intent") or {}).get("name") or ""
    entities = tuple(
        (str(e["entity"]), int(e["start"]), int(e["end"]))
        for e in result.get("entities") or []
        if "start" in e and "end" in e
    )
    classifier_intent = str(intent)
    ranking = result.get("intent_ranking") or []
    if intent == "nlu_fallback" and len(ranking) >= 2:
        classifier_intent = str(ranking[1].get("name") or "")
    return Parse(
        text=str(result.get("text") or text),
        intent=str(intent),
        entities=entities,
        seconds=seconds,
        classifier_intent=classifier_intent,
    )


# ---------------------------------------------------------------- scoring


def align_span(source: str, target: str, start: int, end: int) -> tuple[int, int] | None:
    """Carry ``source[start:end]`` onto ``target``, a rewritten ``source``; None if it vanished.

    Characters are aligned case-insensitively (difflib); in a replaced block of equal length
    positions map one to one, in other blocks proportionally. Exact for the identity and for
    one-for-one rewrites (full-width to half-width, 繁→简, lower-casing).
    """
    if source == target:
        return start, end
    matcher = difflib.SequenceMatcher(None, [c.lower() for c in source], [c.lower() for c in target], autojunk=False)
    first: int | None = None
    last: int | None = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("insert", "delete") or i2 <= start or i1 >= end:
            continue
        lo, hi, ratio_num, ratio_den = max(i1, start), min(i2, end), j2 - j1, i2 - i1
        if first is None:
            first = j1 + (lo - i1) * ratio_num // ratio_den
        last = j1 + -(-(hi - i1) * ratio_num // ratio_den)  # ceiling division
    if first is None or last is None or first >= last:
        return None
    return first, last


def entity_counts(examples: Sequence[Example], parses: Sequence[Parse]) -> tuple[int, int, int]:
    """(true positives, gold entities, predicted entities), gold spans moved onto each parse's text."""
    true_positives = gold_total = predicted_total = 0
    for example, parse in zip(examples, parses):
        gold: Counter[Span] = Counter()
        for entity_type, start, end in example.entities:
            span = align_span(example.text, parse.text, start, end)
            if span is not None:
                gold[(entity_type, span[0], span[1])] += 1
        predicted = Counter(parse.entities)
        true_positives += sum((gold & predicted).values())
        gold_total += len(example.entities)  # a gold entity that vanished is still a miss
        predicted_total += len(parse.entities)
    return true_positives, gold_total, predicted_total


def micro_f1(true_positives: int, gold: int, predicted: int) -> float:
    if not true_positives:
        return 0.0
    precision, recall = true_positives / predicted, true_positives / gold
    return 2 * precision * recall / (precision + recall)


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Counts of (gold, predicted) intents; labels are the gold intents, then any other prediction."""
    golds = sorted(set(gold))
    labels = golds + sorted(set(predicted) - set(golds), key=lambda label: (label == "", label))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in golds]
    for g, p in zip(gold, predicted):
        matrix[index[g]][index[p]] += 1
    return {"labels": labels, "matrix": matrix}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def score(
    examples: Sequence[Example], parses: Sequence[Parse], train_s: float, extracts_entities: bool = True
) -> Scores:
    from sklearn.metrics import accuracy_score, f1_score

    gold = [e.intent for e in examples]
    predicted = [p.intent for p in parses]
    has_entities = any(e.entities for e in examples) and extracts_entities
    milliseconds = [p.seconds * 1000 for p in parses]
    return Scores(
        accuracy=float(accuracy_score(gold, predicted)),
        accuracy_before_fallback=float(accuracy_score(gold, [p.classifier_intent or p.intent for p in parses])),
        macro_f1=float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)),
        entity_f1=micro_f1(*entity_counts(examples, parses)) if has_entities else None,
        train_s=train_s,
        parse_p50_ms=statistics.median(milliseconds),
        parse_p95_ms=percentile(milliseconds, 95),
        confusion=confusion(gold, predicted),
    )


def linear_intent_report(model: Path) -> dict[str, Any] | None:
    """The LinearIntentClassifier's training report inside the model, if the pipeline has one."""
    from bot.components.linear_intent import LinearIntentError, read_report

    try:
        return read_report(model)
    except LinearIntentError:
        return None


def evaluate(train_path: Path, examples: list[Example], name: str, epochs: int | None, workdir: Path) -> Scores:
    config = pipeline_config(name, epochs)
    model, seconds = train(config, train_path, workdir, pipeline_label(name))
    train_rss = peak_rss_mb()
    parses, serve_rss = parse_in_fresh_process(model, [e.text for e in examples])
    scores = score(examples, parses, seconds, extracts_entities=has_entity_extractor(config))
    return dataclasses.replace(
        scores, peak_rss_mb=serve_rss, train_peak_rss_mb=train_rss, linear_intent=linear_intent_report(model)
    )


# ---------------------------------------------------------------- output


def render_table(n_train: int, n_test: int, results: dict[str, Scores]) -> str:
    rows = [
        f"NLU evaluation: {n_train} training examples, {n_test} test examples",
        f"{'pipeline':<14}{'accuracy':>10}{'macro-F1':>10}{'entity-F1':>11}{'train s':>10}{'parse p50 ms':>14}"
        f"{'p95 ms':>8}{'RSS MB':>8}",
    ]
    for name, s in results.items():
        entity = "-" if s.entity_f1 is None else f"{s.entity_f1:.3f}"
        rss = "-" if s.peak_rss_mb is None else f"{s.peak_rss_mb:.0f}"
        rows.append(
            f"{name:<14}{s.accuracy:>10.3f}{s.macro_f1:>10.3f}{entity:>11}{s.train_s:>10.1f}{s.parse_p50_ms:>14.1f}"
            f"{s.parse_p95_ms:>8.1f}{rss:>8}"
        )
    return "\n".join(rows)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout, by Python or by C libraries, to stderr meanwhile.

    Rasa prints progress with print() and TensorFlow writes to file descriptor 1; the report
    must be the only thing on stdout.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def quiet_environment() -> None:
    """Settings read when Rasa and TensorFlow are imported (they are imported lazily, after this).

    No telemetry (ARCHITECTURE.md, "No telemetry"), quiet TensorFlow, and no training cache, so that train_s measures
    real training and nothing is written to .rasa/.
    """
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"


def quiet_logging() -> None:
    """Rasa's warnings and errors to stderr; its debug logs (which print message text) nowhere."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba sets its own logger to DEBUG on import


# ---------------------------------------------------------------- command line


def _pipeline_names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIPELINES and not (n.endswith((".yml", ".yaml")) and Path(n).is_file())]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown pipeline(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(PIPELINES)} "
            "or give the path of a Rasa config file"
        )
    return [str(Path(n).resolve()) if n not in PIPELINES else n for n in dict.fromkeys(names)]


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.tools.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, required=True, help="Rasa NLU YAML to train on")
    parser.add_argument("--test", type=Path, required=True, help="Rasa NLU YAML to score on")
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    parser.add_argument(
        "--pipelines",
        type=_pipeline_names,
        default=["project", "rasa_default"],
        help=f"comma-separated, from {','.join(PIPELINES)} or paths of Rasa config files (default: project,rasa_default)",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=None, help="DIET epochs in every pipeline (for quick runs)"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Report:
    n_train: int
    n_test: int
    results: dict[str, Scores]

    def as_json(self) -> str:
        pipelines = {name: scores.as_dict() for name, scores in self.results.items()}
        return json.dumps({"n_train": self.n_train, "n_test": self.n_test, "pipelines": pipelines})

    def table(self) -> str:
        return render_table(self.n_train, self.n_test, self.results)


def run(args: argparse.Namespace) -> Report:
    train_path, test_path = args.train.resolve(), args.test.resolve()
    for role, path in (("training", train_path), ("test", test_path)):
        if not path.is_file():  # checked before Rasa's slow import
            raise EvaluationInputError(f"{role} file {path} does not exist")
    quiet_environment()
    os.chdir(ROOT)  # the project's components read training_data/ relative to the repository
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # and are imported as bot.*
    quiet_logging()
    train_examples = load_examples(train_path, "training")
    test_examples = load_examples(test_path, "test")
    if len({e.intent for e in train_examples}) < 2:
        raise EvaluationInputError(f"training file {train_path} needs examples of at least two intents")
    unseen = {e.intent for e in test_examples} - {e.intent for e in train_examples}
    if unseen:
        _progress(f"{len(unseen)} test intent(s) absent from the training data count as errors")

    results: dict[str, Scores] = {}
    with tempfile.TemporaryDirectory(prefix="yinling-evaluate-") as workdir:
        for name in args.pipelines:
            _progress(f"training and scoring the {name} pipeline")
            results[pipeline_label(name)] = evaluate(train_path, test_examples, name, args.epochs, Path(workdir))
    return Report(len(train_examples), len(test_examples), results)


def _progress(message: str) -> None:
    print(f"evaluate: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with stdout_to_stderr():
            report = run(args)
    except EvaluationInputError as err:
        _progress(str(err))
        return 2
    except EvaluationError as err:
        _progress(str(err))
        return 1
    print(report.table())
    if args.json:
        print(report.as_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
