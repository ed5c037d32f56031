"""NLU part: the project's pipeline against Rasa's stock Chinese pipeline and two baselines on three splits.

Each pipeline on each split is one ``.venv-rasa/bin/python -m bot.tools.evaluate --train T.yml
--test S.yml --pipelines P --json`` subprocess, at full settings; the JSON objects on their last
lines are merged per split into what ``bot.tools.evaluate`` prints for all pipelines at once:

- ``project``: the project's own training data (``training_data/nlu/*.yml`` with the synonyms,
  lookup tables and regexes, merged into one file because the tool takes a file) against
  ``bench/nlu_test.yml``;
- ``smp2017``: SMP2017-ECDT task 1, train split against test split (``bot.tools.convert smp2017``);
- ``xsid_zh``: xSID 0.7 Chinese, valid split as training data against the test split
  (``bot.tools.convert xsid``).

The pipelines (``bot.tools.evaluate``'s registry): ``project`` (config.yml), ``rasa_default`` (Rasa's
stock Chinese pipeline), and two plain baselines of the project's linear classifier:
``char_linear`` (character n-grams alone) and ``ensemble`` (an e5 model and a character model,
probabilities averaged).

Rasa trains DIET on about one core, so the twelve jobs run two at a time (one per usable core),
each pinned to its own core with one TensorFlow thread, longest first. Every job is measured
in the same conditions (one core, the other core busy with another training) except at the
very end, when the last job runs alone; each job's ``shared_s`` says for how long it had a
neighbour. Two pinned jobs at once each ran 1.23x longer than alone here, so the part takes
about 0.6 of the time of one job after the other.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchError
from bench.proc import ROOT, run_json_tool, run_tool
from scripts.stack import RASA_VENV, base_env

logger = logging.getLogger(__name__)

TRAINING_DATA = ROOT / "training_data"
PROJECT_TEST = ROOT / "bench" / "nlu_test.yml"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval"
PIPELINES = ("project", "rasa_default", "char_linear", "ensemble")
METRICS = ("accuracy", "macro_f1", "entity_f1", "train_s", "parse_p50_ms", "parse_p95_ms", "peak_rss_mb")
# Figures that may be null: entity F1 (no entities in the test set, or no extractor in the pipeline).
NULLABLE = ("entity_f1",)


@dataclass(frozen=True)
class NluTools:
    """How to call the Rasa-side tools; tests point this at a stand-in."""

    python: Path = RASA_VENV / "bin" / "python"
    evaluate_module: str = "bot.tools.evaluate"
    convert_module: str = "bot.tools.convert"
    cwd: Path = ROOT

    def convert(self, fmt: str, source: Path, target: Path, timeout: float = 600.0) -> None:
        if not source.is_file():
            raise BenchError(f"{source} is missing ({EVAL_DATA_HINT})")
        run_tool(
            [str(self.python), "-m", self.convert_module, fmt, str(source), str(target)],
            timeout=timeout,
            env=base_env(),
            cwd=self.cwd,
        )
        if not target.is_file():
            raise BenchError(f"{self.convert_module} {fmt} finished but wrote no {target.name}")

    def evaluate(
        self, train: Path, test: Path, timeout: float, pipeline: str | None = None, cpu: int | None = None
    ) -> dict[str, Any]:
        """``bot.tools.evaluate`` on one split: every pipeline, or only ``pipeline``; pinned to ``cpu`` if given."""
        command = [str(self.python), "-m", self.evaluate_module, "--train", str(train), "--test", str(test), "--json"]
        if pipeline is not None:
            command += ["--pipelines", pipeline]
        env = base_env()
        if cpu is not None:
            # One core, one thread: TensorFlow would otherwise start a pool per core and the
            # two jobs would fight over both cores.
            command = ["taskset", "--cpu-list", str(cpu), *command]
            env.update(TF_INTRA_OP_PARALLELISM_THREADS="1", TF_INTER_OP_PARALLELISM_THREADS="1", OMP_NUM_THREADS="1")
        return run_json_tool(command, timeout=timeout, env=env, cwd=self.cwd)


class _BlockStrings(yaml.SafeDumper):
    """Multi-line strings (Rasa's example lists) as literal blocks, as Rasa's own files write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockStrings.add_representer(str, _str)


def project_training_files(root: Path = ROOT) -> list[Path]:
    data = root / "training_data"
    files = sorted((data / "nlu").glob("*.yml")) + [data / n for n in ("synonyms.yml", "lookups.yml", "regex.yml")]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise BenchError(f"training data missing: {', '.join(missing)}")
    if not any(p.parent.name == "nlu" for p in files):
        raise BenchError(f"no NLU files in {data / 'nlu'}")
    return files


def merge_nlu_files(files: list[Path], target: Path) -> int:
    """Write the ``nlu:`` items of every file into one Rasa NLU YAML file; return the number of items."""
    items: list[Any] = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise BenchError(f"cannot read {path}: {err}") from err
        if not isinstance(data, dict) or not isinstance(data.get("nlu"), list):
            raise BenchError(f"{path} has no 'nlu:' list")
        items.extend(data["nlu"])
    target.write_text(
        yaml.dump({"version": "3.1", "nlu": items}, Dumper=_BlockStrings, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return len(items)


def validate(result: dict[str, Any], what: str) -> dict[str, Any]:
    """Check the evaluation's JSON has every figure; an absent figure must not turn into a zero."""
    problems = [k for k in ("n_train", "n_test") if not isinstance(result.get(k), int) or result[k] <= 0]
    pipelines = result.get("pipelines")
    if not isinstance(pipelines, dict):
        raise BenchError(f"{what}: no 'pipelines' object in the evaluation's JSON")
    for name in PIPELINES:
        scores = pipelines.get(name)
        if not isinstance(scores, dict):
            problems.append(f"pipelines.{name}")
            continue
        for metric in METRICS:
            value = scores.get(metric)
            if value is None and metric in NULLABLE:
                continue  # no entities in the test set or no extractor: shown as "n/a", never as 0
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                problems.append(f"pipelines.{name}.{metric}={value!r}")
    if problems:
        raise BenchError(f"{what}: missing or invalid figures in the evaluation's JSON: {', '.join(problems)}")
    return result


Prepare = Callable[[NluTools, Path, Path], tuple[Path, Path]]


def _project(tools: NluTools, eval_dir: Path, work: Path) -> tuple[Path, Path]:
    if not PROJECT_TEST.is_file():
        raise BenchError(f"{PROJECT_TEST.relative_to(ROOT)} is missing: the project's NLU test set")
    train = work / "project_train.yml"
    merge_nlu_files(project_training_files(), train)
    return train, PROJECT_TEST


EVAL_DATA_HINT = "make bench EVAL_DATA=DIR, or --eval-data DIR: the folder holding smp2017/ and xsid_zh/"
EVAL_FILES = (
    "smp2017/smp2017_task1_train.tsv",
    "smp2017/smp2017_task1_test.tsv",
    "xsid_zh/zh.valid.conll",
    "xsid_zh/zh.test.conll",
)


def missing_eval_files(eval_dir: Path) -> list[Path]:
    """The external evaluation files the NLU part needs that are not in ``eval_dir``."""
    return [eval_dir / name for name in EVAL_FILES if not (eval_dir / name).is_file()]


def _smp2017(tools: NluTools, eval_dir: Path, work: Path) -> tuple[Path, Path]:
    train, test = work / "smp2017_train.yml", work / "smp2017_test.yml"
    tools.convert("smp2017", eval_dir / EVAL_FILES[0], train)
    tools.convert("smp2017", eval_dir / EVAL_FILES[1], test)
    return train, test


def _xsid(tools: NluTools, eval_dir: Path, work: Path) -> tuple[Path, Path]:
    train, test = work / "xsid_zh_train.yml", work / "xsid_zh_test.yml"
    tools.convert("xsid", eval_dir / EVAL_FILES[2], train)
    tools.convert("xsid", eval_dir / EVAL_FILES[3], test)
    return train, test


# name -> (what is trained and tested, how the two files are made)
DATASETS: dict[str, tuple[str, Prepare]] = {
    "project": ("training_data/ vs bench/nlu_test.yml", _project),
    "smp2017": ("SMP2017-ECDT task 1: train vs test", _smp2017),
    "xsid_zh": ("xSID 0.7 zh: valid (as training data) vs test", _xsid),
}


@dataclass(frozen=True)
class Job:
    """One pipeline trained and scored on one dataset: one ``bot.tools.evaluate`` process."""

    dataset: str
    pipeline: str
    train: Path
    test: Path


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pinned(cpus: list[int]) -> bool:
    """Whether jobs run side by side, one per core (else one after the other, unpinned)."""
    return len(cpus) > 1 and shutil.which("taskset") is not None


def run_jobs(
    jobs: list[Job], tools: NluTools, timeout: float, cpus: list[int]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Run the jobs as many at once as there are ``cpus``, each pinned to its own core, longest first.

    The stock pipeline's DIET trainings first (by far the longest), then by training file size,
    and a free core takes the next job at once. Each outcome records when its job ran, so the report
    can say how long each job had a neighbour (``shared_s``) and ran alone (only jobs at the
    very end do). With one CPU (or ``taskset`` missing) the jobs run in turn, unpinned.
    """
    pin = pinned(cpus)
    free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for cpu in cpus if pin else [None]:
        free.put(cpu)
    origin = time.perf_counter()

    def one(job: Job) -> dict[str, Any]:
        cpu = free.get()
        start = time.perf_counter()
        outcome: dict[str, Any] = {"cpu": cpu}
        try:
            logger.info("NLU %s / %s: training and scoring (cpu %s)", job.dataset, job.pipeline, cpu)
            outcome["result"] = tools.evaluate(job.train, job.test, timeout, pipeline=job.pipeline, cpu=cpu)
        except BenchError as err:
            logger.error("NLU %s / %s failed: %s", job.dataset, job.pipeline, err)
            outcome["error"] = str(err)
        finally:
            end = time.perf_counter()
            free.put(cpu)
        outcome.update(start=start - origin, end=end - origin, seconds=round(end - start, 1))
        logger.info("NLU %s / %s: done in %.0f s", job.dataset, job.pipeline, outcome["seconds"])
        return outcome

    ordered = sorted(jobs, key=lambda j: (j.pipeline == "rasa_default", j.train.stat().st_size), reverse=True)
    with ThreadPoolExecutor(max_workers=len(cpus) if pin else 1) as pool:
        outcomes = {(j.dataset, j.pipeline): o for j, o in zip(ordered, pool.map(one, ordered))}
    for key, outcome in outcomes.items():
        others = [(o["start"], o["end"]) for k, o in outcomes.items() if k != key]
        outcome["shared_s"] = round(covered(outcome["start"], outcome["end"], others), 1)
    for outcome in outcomes.values():
        outcome["start"], outcome["end"] = round(outcome["start"], 1), round(outcome["end"], 1)
    return outcomes


def covered(start: float, end: float, others: list[tuple[float, float]]) -> float:
    """Seconds of ``[start, end]`` during which at least one of the ``others`` intervals ran."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in others if b > start and a < end)
    total, reach = 0.0, start
    for a, b in clipped:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def merge_results(dataset: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """One dataset's evaluation JSON from its per-pipeline runs; they must agree on the data sizes."""
    errors = [o["error"] for o in outcomes if "error" in o]
    if errors:
        raise BenchError("\n".join(errors))
    results = [o["result"] for o in outcomes]
    sizes = {(r.get("n_train"), r.get("n_test")) for r in results}
    if len(sizes) != 1:
        raise BenchError(f"NLU {dataset}: the pipelines saw different data sizes {sorted(sizes, key=str)}")
    n_train, n_test = sizes.pop()
    pipelines: dict[str, Any] = {}
    for result in results:
        pipelines.update(result.get("pipelines") or {})
    return validate({"n_train": n_train, "n_test": n_test, "pipelines": pipelines}, f"NLU {dataset}")


def run_nlu(
    eval_dir: Path,
    work: Path,
    tools: NluTools | None = None,
    timeout: float = 3600.0,
    cpus: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every dataset × pipeline, spread over the cores; a dataset that fails records its error, the others still run."""
    tools = tools or NluTools()
    cpus = usable_cpus() if cpus is None else cpus
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    jobs: list[Job] = []
    for name, (description, prepare) in DATASETS.items():
        out[name] = {"description": description}
        try:
            train, test = prepare(tools, eval_dir, work)
        except BenchError as err:
            logger.error("NLU %s failed: %s", name, err)
            out[name].update(status="failed", error=str(err), seconds=0.0)
            continue
        jobs += [Job(name, pipeline, train, test) for pipeline in PIPELINES]
    outcomes = run_jobs(jobs, tools, timeout, cpus)
    for name, row in out.items():
        if "status" in row:
            continue
        mine = [outcomes[(name, pipeline)] for pipeline in PIPELINES]
        row["jobs"] = {
            p: {k: o[k] for k in ("cpu", "seconds", "shared_s", "start", "end")} for p, o in zip(PIPELINES, mine)
        }
        row["seconds"] = round(sum(o["seconds"] for o in mine), 1)
        try:
            row["result"] = merge_results(name, mine)
            row["status"] = "ok"
        except BenchError as err:
            logger.error("NLU %s failed: %s", name, err)
            row["status"], row["error"] = "failed", str(err)
    return out
