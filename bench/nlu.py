"""NLU part: the project's pipeline against Rasa's stock Chinese pipeline on three train/test splits.

Each split runs ``.venv-rasa/bin/python -m bot.evaluate --train T.yml --test S.yml --json`` as
a subprocess (both pipelines are trained and scored there, at their full settings) and the
JSON object on its last line is kept as it is:

- ``project``: the project's own training data (``training_data/nlu/*.yml`` with the synonyms,
  lookup tables and regexes, merged into one file because the tool takes a file) against
  ``bench/nlu_test.yml``;
- ``smp2017``: SMP2017-ECDT task 1, train split against test split (``bot.convert smp2017``);
- ``xsid_zh``: xSID 0.7 Chinese, valid split as training data against the test split
  (``bot.convert xsid``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
PIPELINES = ("project", "rasa_default")
METRICS = ("accuracy", "macro_f1", "entity_f1", "train_s", "parse_p50_ms")


@dataclass(frozen=True)
class NluTools:
    """How to call the Rasa-side tools; tests point this at a stand-in."""

    python: Path = RASA_VENV / "bin" / "python"
    evaluate_module: str = "bot.evaluate"
    convert_module: str = "bot.convert"
    cwd: Path = ROOT

    def convert(self, fmt: str, source: Path, target: Path, timeout: float = 600.0) -> None:
        if not source.is_file():
            raise BenchError(f"{source} is missing (set --eval-data to the folder holding smp2017/ and xsid_zh/)")
        run_tool(
            [str(self.python), "-m", self.convert_module, fmt, str(source), str(target)],
            timeout=timeout,
            env=base_env(),
            cwd=self.cwd,
        )
        if not target.is_file():
            raise BenchError(f"{self.convert_module} {fmt} finished but wrote no {target.name}")

    def evaluate(self, train: Path, test: Path, timeout: float) -> dict[str, Any]:
        command = [str(self.python), "-m", self.evaluate_module, "--train", str(train), "--test", str(test), "--json"]
        return run_json_tool(command, timeout=timeout, env=base_env(), cwd=self.cwd)


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
            if value is None and metric == "entity_f1":
                continue  # the test set has no entities: shown as "n/a", never as 0
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


def _smp2017(tools: NluTools, eval_dir: Path, work: Path) -> tuple[Path, Path]:
    train, test = work / "smp2017_train.yml", work / "smp2017_test.yml"
    tools.convert("smp2017", eval_dir / "smp2017" / "smp2017_task1_train.tsv", train)
    tools.convert("smp2017", eval_dir / "smp2017" / "smp2017_task1_test.tsv", test)
    return train, test


def _xsid(tools: NluTools, eval_dir: Path, work: Path) -> tuple[Path, Path]:
    train, test = work / "xsid_zh_train.yml", work / "xsid_zh_test.yml"
    tools.convert("xsid", eval_dir / "xsid_zh" / "zh.valid.conll", train)
    tools.convert("xsid", eval_dir / "xsid_zh" / "zh.test.conll", test)
    return train, test


# name -> (what is trained and tested, how the two files are made)
DATASETS: dict[str, tuple[str, Prepare]] = {
    "project": ("training_data/ vs bench/nlu_test.yml", _project),
    "smp2017": ("SMP2017-ECDT task 1: train vs test", _smp2017),
    "xsid_zh": ("xSID 0.7 zh: valid (as training data) vs test", _xsid),
}


def run_nlu(
    eval_dir: Path, work: Path, tools: NluTools | None = None, timeout: float = 3600.0
) -> dict[str, dict[str, Any]]:
    """Every dataset in turn; one that fails records its error and the others still run."""
    tools = tools or NluTools()
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    for name, (description, prepare) in DATASETS.items():
        start = time.perf_counter()
        row: dict[str, Any] = {"description": description}
        try:
            train, test = prepare(tools, eval_dir, work)
            logger.info("NLU %s: training and scoring both pipelines", name)
            row["result"] = validate(tools.evaluate(train, test, timeout), f"NLU {name}")
            row["status"] = "ok"
        except BenchError as err:
            logger.error("NLU %s failed: %s", name, err)
            row["status"], row["error"] = "failed", str(err)
        row["seconds"] = round(time.perf_counter() - start, 1)
        out[name] = row
    return out
