"""Speed and scale: where a turn's time goes, what each change saved, and what replicas add.

    .venv/bin/python -m bench.cluster profile   # py-spy flame graphs of one user's KB turns
    .venv/bin/python -m bench.cluster compare   # before/after medians of the changes, interleaved
    .venv/bin/python -m bench.cluster replicas  # msg/s, p50/p95 through nginx with 1 and 2 Rasa replicas

Results go to ``bench/results/scale/`` (JSON, one file per command) and the flame graphs to
``bench/results/profile/``. The machine is shared, so every comparison runs its variants
interleaved, round after round, and reports medians over the rounds and ratios between them;
a single run's figures are not comparable with another run's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import argparse
import datetime as dt
import json
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.e2e import answered, kb_entry, scenarios
from bench.errors import BenchError
from bench.load import run_load
from bench.proc import ROOT
from bench.stats import median, summarize
from scripts.cluster import Cluster
from scripts.stack import Stack, train_model

logger = logging.getLogger("bench.cluster")

RESULTS = ROOT / "bench" / "results"
PROFILE_DIR = RESULTS / "profile"
SCALE_DIR = RESULTS / "scale"
SEED = 20250429


def _knowledge() -> tuple[str, ...]:
    return scenarios(SEED)["knowledge"].messages


def _payload(messages: tuple[str, ...], tag: str) -> Callable[[int, int], dict[str, str]]:
    def make(user: int, seq: int) -> dict[str, str]:
        # A fresh sender per request, as bench/e2e.py: every turn is a conversation's first.
        return {
            "sender": f"bench-{tag}-{user}-{seq}-{secrets.token_hex(3)}",
            "message": messages[(seq * 7 + user) % len(messages)],
        }

    return make


def _stats(url: str, headers: dict[str, str], users: int, requests: int, seconds: float, tag: str) -> dict[str, Any]:
    stats = run_load(
        url,
        _payload(_knowledge(), tag),
        concurrency=users,
        max_requests=requests,
        max_seconds=seconds,
        warmup=max(users, 3),
        timeout=120.0,
        check=answered,
        headers=headers,
    )
    return stats.to_dict()


@contextmanager
def single_stack(work: Path, model: Path, name: str, **env: str) -> Iterator[Stack]:
    """`make run`'s two servers (SQLite), on free ports, with extra environment."""
    from knowledge_base.files import builtin_entries
    from knowledge_base.store import KBStore

    kb_url = f"sqlite:///{work / 'kb.sqlite'}"
    if not (work / "kb.sqlite").exists():
        work.mkdir(parents=True, exist_ok=True)
        KBStore(kb_url).seed_if_empty(builtin_entries())
    stack = Stack.isolated(model, work / name, kb_url, f"sqlite:///{work / 'bookings.sqlite'}", **env)
    try:
        stack.start(timeout=600)
        yield stack
    finally:
        stack.stop()


# -- profile ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def profile(
    work: Path,
    model: Path,
    turns: int,
    out: Path,
    prefix: str = "",
    fmt: str = "flamegraph",
    conversation_turns: int = 1,
    **env: str,
) -> dict[str, Any]:
    """py-spy flame graphs of the Rasa server and the action server while one user asks KB questions.

    Each conversation asks ``conversation_turns`` questions (1: every turn is a conversation's first, as in
    bench/e2e.py). ``fmt="raw"`` writes py-spy's collapsed stacks (one line per stack with its sample count)
    instead, which ``bench.flame`` sums into milliseconds per turn."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    messages = _knowledge()
    with single_stack(work, model, "profile", **env) as stack, httpx.Client(trust_env=False, timeout=60) as client:
        for text in messages[:10]:  # warm caches (jieba, embeddings, TF graph) before recording
            client.post(
                stack.rest_url,
                json={"sender": f"warm-{secrets.token_hex(4)}", "message": text},
                headers=stack.rest_headers,
            )
        spies = []
        for name in ("rasa", "actions"):
            pid = stack.processes[name].pid
            target = out / f"{prefix}{name}-kb-turn.{'svg' if fmt == 'flamegraph' else 'txt'}"
            spies.append(
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "250",
                        "--subprocesses",
                        "--nonblocking",
                        "--format",
                        fmt,
                        "--output",
                        str(target),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        time.sleep(2.0)  # py-spy attaches
        latencies = []
        sender = ""
        for n in range(turns):
            if n % conversation_turns == 0:
                sender = f"prof-{secrets.token_hex(4)}"
            start = time.perf_counter()
            answer = client.post(
                stack.rest_url,
                json={"sender": sender, "message": messages[n % len(messages)]},
                headers=stack.rest_headers,
            ).json()
            latencies.append((time.perf_counter() - start) * 1000)
            if not kb_entry(answer) and answered(answer) is not None:
                raise BenchError(f"a profiled turn failed: {answer!r}")
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its flame graph and exits
        for spy in spies:
            _, err = spy.communicate(timeout=120)
            if spy.returncode not in (0, -2):
                raise BenchError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    return {
        "turns": turns,
        "turns_per_conversation": conversation_turns,
        "latency_ms": summarize(latencies),
        "flame_graphs": sorted(p.name for p in out.glob(f"{prefix}*-kb-turn.*")),
    }


# -- compare (before/after, interleaved) -------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str]
    model: Path | None = None


def compare(
    work: Path, variants: list[Variant], model: Path, rounds: int, users: tuple[int, ...], seconds: float
) -> dict[str, Any]:
    """Each variant's KB p50/p95 and msg/s per user count, variants interleaved round after round."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {v.name: {str(u): [] for u in users} for v in variants}
    for round_number in range(rounds):
        for variant in variants:
            logger.info("compare: round %d, %s", round_number + 1, variant.name)
            with single_stack(work, variant.model or model, f"{variant.name}-{round_number}", **variant.env) as stack:
                for n in users:
                    raw[variant.name][str(n)].append(
                        _stats(stack.rest_url, stack.rest_headers, n, 2000, seconds, f"{variant.name}-{n}")
                    )
    return {
        "rounds": rounds,
        "seconds_per_cell": seconds,
        "variants": {v.name: v.env for v in variants},
        "cells": _medians(raw),
    }


def _medians(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for name, by_users in raw.items():
        cells[name] = {}
        for users, runs in by_users.items():
            ok = [r for r in runs if r["latency_ms"]]
            cells[name][users] = {
                "p50_ms": round(median([r["latency_ms"]["p50"] for r in ok]), 1) if ok else None,
                "p95_ms": round(median([r["latency_ms"]["p95"] for r in ok]), 1) if ok else None,
                "msg_per_s": round(median([r["throughput_rps"] for r in ok]), 2) if ok else None,
                "errors": sum(r["errors"] for r in runs),
                "runs": runs,
            }
    return cells


# -- replicas ----------------------------------------------------------------------------------


def replicas(work: Path, model: Path, pg: str, rounds: int, users: tuple[int, ...], seconds: float) -> dict[str, Any]:
    """Through nginx: 1 Rasa replica + 1 action server, then 2 + 2, interleaved; medians and the ratio."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        "1": {str(u): [] for u in users},
        "2": {str(u): [] for u in users},
    }
    for round_number in range(rounds):
        for count in (1, 2):
            logger.info("replicas: round %d, %d replica(s)", round_number + 1, count)
            cluster = Cluster.isolated(
                model,
                work / f"cluster-{count}-{round_number}",
                replicas=count,
                action_servers=count,
                pg=pg,
                extra_env={"YINLING_RATE_SENDER": "0", "YINLING_RATE_IP": "0"},
            )
            try:
                cluster.start(timeout=600)
                for n in users:
                    raw[str(count)][str(n)].append(
                        _stats(cluster.rest_url, cluster.rest_headers, n, 3000, seconds, f"r{count}-{n}")
                    )
            finally:
                cluster.stop(drop_databases=True)
    cells = _medians(raw)
    ratio = {
        u: round(cells["2"][u]["msg_per_s"] / cells["1"][u]["msg_per_s"], 2)
        for u in cells["1"]
        if cells["1"][u]["msg_per_s"] and cells["2"][u]["msg_per_s"]
    }
    return {"rounds": rounds, "seconds_per_cell": seconds, "cells": cells, "throughput_ratio_2_to_1": ratio}


def _write(name: str, result: dict[str, Any]) -> Path:
    SCALE_DIR.mkdir(parents=True, exist_ok=True)
    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "cores": os.cpu_count(),
        **result,
    }
    path = SCALE_DIR / f"{name}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile")
    p.add_argument("--turns", type=int, default=150)
    p.add_argument("--out", type=Path, default=PROFILE_DIR, help="folder for the flame graphs")
    p.add_argument("--prefix", default="", help="put before each flame graph's name (e.g. 'after-')")
    p.add_argument("--format", default="flamegraph", choices=("flamegraph", "raw"), help="raw: collapsed stacks")
    p.add_argument("--env", action="append", default=[], help="VAR=VALUE for both servers (repeatable)")
    p.add_argument("--conversation-turns", type=int, default=1, help="questions per conversation (default 1)")
    c = sub.add_parser("compare")
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--users", default="1,8")
    c.add_argument("--seconds", type=float, default=15.0)
    c.add_argument("--variant", action="append", default=[], help="NAME:VAR=VALUE,VAR=VALUE[:MODEL] (repeatable)")
    r = sub.add_parser("replicas")
    r.add_argument("--rounds", type=int, default=2)
    r.add_argument("--users", default="1,8,16")
    r.add_argument("--seconds", type=float, default=20.0)
    r.add_argument("--pg", default=os.environ.get("YINLING_CLUSTER_PG", "postgresql://postgres@127.0.0.1:5432"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    model = train_model()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        if args.command == "profile":
            env = dict(item.split("=", 1) for item in args.env)
            result = profile(
                work, model, args.turns, args.out, args.prefix, args.format, args.conversation_turns, **env
            )
            path = _write(f"profile{'-' + args.prefix.rstrip('-') if args.prefix else ''}", result)
        elif args.command == "compare":
            variants = []
            for spec in args.variant:
                name, _, rest = spec.partition(":")
                settings, _, other_model = rest.partition(":")
                env = dict(item.split("=", 1) for item in settings.split(",") if item)
                variants.append(Variant(name, env, Path(other_model) if other_model else None))
            if len(variants) < 2:
                raise SystemExit("compare needs two or more --variant")
            users = tuple(int(u) for u in args.users.split(","))
            path = _write(
                f"compare-{'-'.join(v.name for v in variants)}",
                compare(work, variants, model, args.rounds, users, args.seconds),
            )
        else:
            users = tuple(int(u) for u in args.users.split(","))
            path = _write("replicas", replicas(work, model, args.pg, args.rounds, users, args.seconds))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
