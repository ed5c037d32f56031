"""Run the benchmark and write ``latest.md``, ``latest.json`` and PNG plots.

    .venv/bin/python -m bench.run [--quick] [--out bench/results] [--eval-data ../shared/eval]

Parts, in order: NLU (not with --quick), retrieval quality, retrieval at scale, end to end, the agents'
console (senior ↔ agent latencies, console load), the administrators' console (grouping 10,000
unanswered questions, hit-testing response time), and (not with --quick) the fuzzer of every webhook and
admin route (``make fuzz``, its own report in ``bench/results/fuzz/``).
A part that fails is reported with its error, the other parts still run, and the exit code
is 1. Every figure is measured in this run; the report carries the date, the commit and
the machine.
"""

from __future__ import annotations

import os

# Before numpy, faiss or the embedding engine load: one BLAS/OpenMP thread and passive waits,
# as the servers run (ARCHITECTURE.md, "Threads on two cores": otherwise threads fight on 2 cores and latency jumps).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import datetime as dt
import json
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchConfigError, BenchError
from bench.proc import ROOT

logger = logging.getLogger("bench")

PARTS = ("nlu", "retrieval_quality", "retrieval_scale", "e2e", "conversation", "staff", "admin", "fuzz")
QUICK_PARTS = ("retrieval_quality", "retrieval_scale", "e2e", "conversation", "staff", "admin")


@dataclass(frozen=True)
class Profile:
    """How much of each part to run: ``make bench`` (≤ 60 min) or ``make bench-quick`` (≤ 10 min)."""

    name: str
    scale: Any  # bench.retrieval_scale.ScaleConfig (imported late: it loads numpy and faiss)
    e2e: Any  # bench.e2e.E2EConfig
    budget_s: float  # what the Makefile target promises; the report says whether the run kept to it
    nlu_timeout_s: float = 3600.0


def profile(quick: bool) -> Profile:
    from bench.e2e import E2EConfig
    from bench.retrieval_scale import ScaleConfig

    if quick:
        return Profile(
            "quick",
            ScaleConfig(sizes=(1_000, 10_000), queries=60, query_rounds=1, sample_docs=25, repeat_max=1_000),
            E2EConfig(max_requests=400, max_seconds=10.0, cold_starts=2, edits=5),
            budget_s=600,
        )
    # NLU takes about 45 of the 60 minutes on 2 cores (six trainings at full settings, two at a
    # time), so index builds above 1k entries run once, each query is timed once per index, and
    # each load cell is capped at 12 s.
    return Profile(
        "full",
        ScaleConfig(sizes=(1_000, 10_000, 100_000), queries=100, query_rounds=1, sample_docs=120, repeat_max=1_000),
        E2EConfig(max_requests=3000, max_seconds=12.0, cold_starts=2, edits=5),
        budget_s=3600,
    )


# -- provenance ---------------------------------------------------------------------------


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)  # noqa: S607
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def provenance(mode: str, argv: list[str]) -> dict[str, Any]:
    try:
        commit, dirty = _git("rev-parse", "--short", "HEAD"), bool(_git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError) as err:
        commit, dirty = f"unknown (git: {type(err).__name__})", False
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "load_start": _load(),
        "mode": mode,
        "command": " ".join(["python -m bench.run", *argv]),
    }


# -- parts --------------------------------------------------------------------------------


def run_part(name: str, body: Callable[[], Any]) -> dict[str, Any]:
    """Run one part; a failure is recorded with its error (and traceback for the unexpected)."""
    logger.info("== %s", name)
    start = time.perf_counter()
    part: dict[str, Any] = {}
    try:
        data = body()
        part["data"] = data
        problems = list(data.get("problems") or []) if isinstance(data, dict) else []
        part["status"] = "failed" if problems else "ok"
        if problems:
            part["problems"] = problems
    except BenchError as err:
        part.update(status="failed", error=str(err))
    except Exception as err:  # noqa: BLE001 - any failure must reach the report, then the exit code
        part.update(status="failed", error=f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
    part["seconds"] = round(time.perf_counter() - start, 1)
    if part["status"] == "failed":
        logger.error("%s FAILED: %s", name, part.get("error") or part.get("problems"))
    else:
        logger.info("%s done in %.0f s", name, part["seconds"])
    return part


def _nlu(eval_dir: Path, work: Path, prof: Profile) -> dict[str, Any]:
    from bench.nlu import pinned, run_nlu, usable_cpus

    cpus = usable_cpus()
    datasets = run_nlu(eval_dir, work / "nlu", timeout=prof.nlu_timeout_s, cpus=cpus)
    problems = [f"{name}: {row['error']}" for name, row in datasets.items() if row["status"] != "ok"]
    schedule = {"cpus": cpus, "pinned": pinned(cpus), "at_once": len(cpus) if pinned(cpus) else 1}
    return {"eval_data": str(eval_dir), "datasets": datasets, "schedule": schedule, "problems": problems}


def _quality() -> dict[str, Any]:
    from bench.retrieval_scale import run_quality

    return run_quality()


def _scale(prof: Profile) -> dict[str, Any]:
    from bench.retrieval_scale import run_scale

    return run_scale(prof.scale)


def _staff(prof: Profile, work: Path) -> dict[str, Any]:
    from bench.staff import StaffConfig, run_staff

    (work / "staff").mkdir(parents=True, exist_ok=True)
    return run_staff(StaffConfig(model=prof.e2e.model), work / "staff")


def _admin(prof: Profile, work: Path) -> dict[str, Any]:
    from bench.admin import AdminConfig, run_admin

    (work / "admin").mkdir(parents=True, exist_ok=True)
    return run_admin(AdminConfig(model=prof.e2e.model), work / "admin")


def _fuzz() -> dict[str, Any]:
    import fuzz.__main__ as fuzzer

    results = fuzzer.run(fuzzer.parse_args([]))
    fuzzer.write(results, fuzzer.DEFAULT_OUT)
    problems = list(results["problems"])
    if results["failures"]:
        problems.append(f"{results['failures']} failing inputs (see bench/results/fuzz/latest.md)")
    routes = [r for part in results["parts"] for r in part["routes"]]
    return {
        "report": "bench/results/fuzz/latest.md",
        "routes": {
            r["route"]: {k: r[k] for k in ("inputs", "server_errors", "exceptions", "error_logs")} for r in routes
        },
        "short_of_goal": results["short_of_goal"],
        "problems": problems,
    }


def _e2e(prof: Profile, work: Path) -> dict[str, Any]:
    from bench.e2e import run_e2e

    (work / "e2e").mkdir(parents=True, exist_ok=True)
    return run_e2e(prof.e2e, work / "e2e")


def _conversation(prof: Profile, work: Path) -> dict[str, Any]:
    from bench.conversation import run_conversations

    (work / "conversation").mkdir(parents=True, exist_ok=True)
    return run_conversations(work / "conversation", prof.e2e.model)


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="retrieval and end to end only, smaller (≤ 10 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the report goes")
    parser.add_argument(
        "--eval-data",
        type=Path,
        default=ROOT.parent / "shared" / "eval",
        help="folder holding smp2017/ and xsid_zh/ (default: ../shared/eval from the repository)",
    )
    parser.add_argument("--parts", help=f"comma-separated subset of {','.join(PARTS)} (for development)")
    parser.add_argument("--sizes", help="KB sizes for the scale part, comma-separated (default by mode)")
    parser.add_argument("--model", type=Path, help="Rasa model to use (default: bot.tools.train's, trained if stale)")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary folder (server logs, databases)")
    return parser.parse_args(argv)


def _selected(args: argparse.Namespace) -> tuple[str, ...]:
    if not args.parts:
        return QUICK_PARTS if args.quick else PARTS
    chosen = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise BenchConfigError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return chosen


def _check_eval_data(eval_dir: Path) -> None:
    """Refuse at once, not after half an hour of training, when SMP2017 or xSID is not where it is looked for."""
    from bench.nlu import EVAL_DATA_HINT, missing_eval_files

    missing = missing_eval_files(eval_dir.resolve())
    if missing:
        raise BenchConfigError(f"evaluation data not found: {', '.join(map(str, missing))} ({EVAL_DATA_HINT})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)  # libraries that set DEBUG on their own loggers stay quiet
    for noisy in ("faiss", "faiss.loader", "bm25s", "httpx", "knowledge_base.api"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        selected = _selected(args)
        prof = profile(args.quick)
        if args.sizes:
            sizes = tuple(int(s) for s in args.sizes.split(","))
            prof = replace(prof, scale=replace(prof.scale, sizes=sizes))
        if args.model:
            prof = replace(prof, e2e=replace(prof.e2e, model=args.model.resolve()))
        if "nlu" in selected:
            _check_eval_data(args.eval_data)
    except (BenchConfigError, ValueError) as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": {**provenance(prof.name, argv), "budget_s": prof.budget_s}, "parts": {}}
    work = Path(tempfile.mkdtemp(prefix="yinling-bench-"))
    bodies: dict[str, Callable[[], Any]] = {
        "nlu": lambda: _nlu(args.eval_data.resolve(), work, prof),
        "retrieval_quality": _quality,
        "retrieval_scale": lambda: _scale(prof),
        "e2e": lambda: _e2e(prof, work),
        "conversation": lambda: _conversation(prof, work),
        "staff": lambda: _staff(prof, work),
        "admin": lambda: _admin(prof, work),
        "fuzz": _fuzz,
    }
    try:
        for name in PARTS:
            if name not in selected:
                reason = "--quick runs retrieval and end to end only" if args.quick else "not selected (--parts)"
                results["parts"][name] = {"status": "skipped", "reason": reason}
                continue
            results["parts"][name] = run_part(name, bodies[name])
    finally:
        if args.keep_work:
            logger.info("work folder kept: %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, p in results["parts"].items() if p["status"] == "failed"]
    results["status"] = "failed" if failed else "ok"
    results["meta"]["load_end"] = _load()
    results["total_s"] = round(time.perf_counter() - started, 1)
    return _write(results, args.out, failed)


def _write(results: dict[str, Any], out: Path, failed: list[str]) -> int:
    from bench.report import render_markdown, write_plots

    out.mkdir(parents=True, exist_ok=True)
    try:
        plots = write_plots(results, out)
    except Exception as err:  # noqa: BLE001 - a broken plot must not lose the figures
        results["status"] = "failed"
        failed.append("plots")
        results["parts"]["plots"] = {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0}
        plots = []
    results["plots"] = [p.name for p in plots]
    (out / "latest.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "latest.md").write_text(render_markdown(results), encoding="utf-8")
    print(f"bench: wrote {out / 'latest.md'}, {out / 'latest.json'} and {len(plots)} plot(s) in {results['total_s']} s")
    if failed:
        print(f"bench: FAILED parts: {', '.join(failed)} (details in {out / 'latest.md'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
