"""``make fuzz``: every webhook and admin route, in process and then over real HTTP; a report; exit 1 on any failure.

    .venv/bin/python -m fuzz [--inputs 100000] [--budget 600] [--live 300] [--seed 0] [--out bench/results/fuzz]

1. In process, in parallel (one process per runtime, so the two cores are both used):
   ``.venv-rasa/bin/python -m fuzz.channels`` (Rasa input channels) and ``.venv/bin/python -m fuzz.staff``
   (staff app), each route up to ``--inputs`` generated requests within its share of ``--budget``.
2. Over real HTTP (``--live`` inputs per route, same generators and seed): the channels on a real
   Sanic server and the staff app on uvicorn, both on loopback, so Sanic's and uvicorn's own
   protocol layers are in the test too and the two status histograms can be compared.

A run fails when any route answered ≥ 500, let an exception escape or logged an error (each such
input is saved under ``<out>/crashes/`` as a reproducer; send it again with
``.venv-rasa/bin/python -m fuzz.channels --replay FILE`` or ``.venv/bin/python -m fuzz.staff --replay FILE``). Routes that
stopped short of ``--inputs`` because the budget ran out are named in the report; that alone does
not fail the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
DEFAULT_OUT = ROOT / "bench" / "results" / "fuzz"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)  # noqa: S607
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def _start(
    python: Path | str, module: str, args: argparse.Namespace, json_out: Path, crash_dir: Path, *extra: str
) -> Any:
    command = [
        str(python),
        "-m",
        module,
        "--seed",
        str(args.seed),
        "--crash-dir",
        str(crash_dir),
        "--json",
        str(json_out),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _collect(procs: list[tuple[str, Any, Path]]) -> tuple[list[dict[str, Any]], list[str]]:
    parts, problems = [], []
    for name, proc, json_out in procs:
        code = proc.wait()
        if not json_out.exists():
            problems.append(f"{name}: the fuzzer process ended with status {code} and wrote no results")
            continue
        data = json.loads(json_out.read_text(encoding="utf-8"))
        data["exit_code"] = code
        parts.append(data)
    return parts, problems


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    crash_dir = out / "crashes"
    shutil.rmtree(crash_dir, ignore_errors=True)
    started = time.perf_counter()
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "cores": os.cpu_count(),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "seed": args.seed,
        "inputs_goal": args.inputs,
        "budget_s": args.budget,
        "live_inputs": args.live,
    }
    with tempfile.TemporaryDirectory(prefix="yinling-fuzz-") as tmp:
        work = Path(tmp)
        budget = [f"--budget={args.budget}"] if args.budget else []
        inputs = [f"--inputs={args.inputs}"]
        procs = [
            (
                "channels",
                _start(RASA_PY, "fuzz.channels", args, work / "ch.json", crash_dir, *inputs, *budget),
                work / "ch.json",
            ),
            (
                "staff",
                _start(sys.executable, "fuzz.staff", args, work / "st.json", crash_dir, *inputs, *budget),
                work / "st.json",
            ),
        ]
        parts, problems = _collect(procs)
        if args.live:
            live = [f"--inputs={args.live}", "--live"]
            procs = [
                (
                    "channels-live",
                    _start(RASA_PY, "fuzz.channels", args, work / "chl.json", crash_dir, *live),
                    work / "chl.json",
                ),
                (
                    "staff-live",
                    _start(sys.executable, "fuzz.staff", args, work / "stl.json", crash_dir, *live),
                    work / "stl.json",
                ),
            ]
            live_parts, live_problems = _collect(procs)
            parts += live_parts
            problems += live_problems
    routes = [r for p in parts for r in p["routes"]]
    failures = sum(r["server_errors"] + r["exceptions"] + r["error_logs"] + r["check_failures"] for r in routes)
    short = [r["route"] for r in routes if r["inputs"] < r["goal"] and not r["route"].endswith("[HTTP]")]
    meta["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "meta": meta,
        "parts": parts,
        "in_process_vs_http": compare(parts),
        "problems": problems,
        "failures": failures,
        "short_of_goal": short,
        "status": "failed" if failures or problems else "ok",
        "total_s": round(time.perf_counter() - started, 1),
    }


def compare(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input by input, the status in process against the status over real HTTP (same seed, same inputs)."""
    in_process = {r["route"]: r for p in parts if not p["part"].endswith("-live") for r in p["routes"]}
    rows = []
    for part in parts:
        if not part["part"].endswith("-live"):
            continue
        for live in part["routes"]:
            name = live["route"].removesuffix(" [HTTP]")
            other = in_process.get(name)
            if other is None:
                continue
            pairs = list(zip(other["first_statuses"], live["first_statuses"]))
            differ = [(i, a, b) for i, (a, b) in enumerate(pairs) if a != b]
            rows.append({"route": name, "compared": len(pairs), "same": len(pairs) - len(differ), "differ": differ[:5]})
    return rows


def _row(r: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
    per_cpu = r.get("inputs_per_cpu_s")
    return (
        f"| {r['route']} | {r['inputs']:,} | {r['server_errors']} | {r['exceptions']} | {r['error_logs']} | "
        f"{r['inputs_per_s'] or 0:.0f} | {per_cpu or 0:.0f} | {statuses} |"
    )


def render_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Fuzz report (`make fuzz`)",
        "",
        f"{meta['date']} · commit {meta['commit']}{' (dirty)' if meta['dirty'] else ''} · {meta['cores']} cores · "
        f"load {meta['load_start']} → {meta['load_end']} · seed {meta['seed']} · {results['total_s']} s in all",
        "",
        f"**Status: {results['status']}** — {results['failures']} failing inputs (answers ≥ 500, escaped exceptions, "
        "error log records). Goal per route: "
        f"{meta['inputs_goal']:,} inputs within a budget of {meta['budget_s'] or 'no limit'} s shared by the routes.",
        "",
    ]
    if results["short_of_goal"]:
        lines += [
            f"Short of the {meta['inputs_goal']:,}-input goal (the time budget ran out first): "
            + ", ".join(results["short_of_goal"])
            + ". The per-CPU-second rates below say how long the full goal takes on an idle machine.",
            "",
        ]
    for problem in results["problems"]:
        lines.append(f"- problem: {problem}")
    for part in results["parts"]:
        lines += [
            "",
            f"## {part['part']} ({part['seconds']} s, exit {part.get('exit_code')})",
            "",
            "| route | inputs | 5xx | exceptions | error logs | inputs/s | inputs/CPU-s | status codes |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
            *(_row(r) for r in part["routes"]),
        ]
        for r in part["routes"]:
            for sample in r["samples"]:
                lines.append(f"- {r['route']}: `{sample}`")
            for path in r["reproducers"]:
                lines.append(
                    f"- reproducer: `{Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}`"
                )
    if results.get("in_process_vs_http"):
        lines += [
            "",
            "## In process vs real HTTP",
            "",
            "The first inputs of each route, sent both ways (same seed, fresh servers): how often the status was the same.",
            "",
            "| route | inputs compared | same status | first differences (input: in process → HTTP) |",
            "|---|---:|---:|---|",
        ]
        for row in results["in_process_vs_http"]:
            differ = ", ".join(f"{i}: {a} → {b}" for i, a, b in row["differ"]) or "none"
            lines.append(f"| {row['route']} | {row['compared']} | {row['same']} | {differ} |")
    lines += [
        "",
        "Inputs/s is wall-clock on this (shared) machine; inputs/CPU-s counts the fuzzing process's CPU time "
        "(generator, app and, for [HTTP], the client) and does not depend on what else runs.",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "latest.md").write_text(render_markdown(results), encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per route (default 100,000)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the in-process pass (0: no limit)")
    parser.add_argument("--live", type=int, default=300, help="inputs per route over real HTTP (0: skip)")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not RASA_PY.exists():
        print(f"fuzz: {RASA_PY} is missing; run `make setup` first", file=sys.stderr)
        return 2
    results = run(args)
    write(results, args.out)
    print(f"fuzz: {results['status']}, {results['failures']} failing inputs; report in {args.out / 'latest.md'}")
    return 0 if results["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
