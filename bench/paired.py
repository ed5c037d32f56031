"""Two checkouts side by side: same answers? what does a knowledge turn cost in each?

    .venv/bin/python -m bench.paired BEFORE_DIR AFTER_DIR [--rounds 4] [--users 1,8] [--seconds 8]
        [--env-a VAR=VALUE] [--env-b VAR=VALUE] [--model models/yinling-….tar.gz] [--out result.json]

Both variants' servers (each checkout's own ``scripts/stack.py``, code and settings; the same model and a
knowledge base seeded from the same files) run at the same time, each on its own ports and databases.

1. Answers: every held-out and unanswerable question of ``knowledge_base/eval`` is asked of both, each
   as a conversation's first turn; the replies (text and the entry they name) must be identical.
2. Cost, interleaved: for each round and user count, a cell of knowledge questions on A, then on B (the
   order alternates by round), so both meet the same background load. Each cell gives p50/p95 latency,
   msg/s and the CPU time the servers used per answered turn (utime + stime of every process of each
   server's process group, from /proc): on a shared machine, CPU per turn moves much less with the
   neighbours' load than latency does. Medians over the rounds, and B/A ratios.

Every request is a new conversation with a held-out question, cycling through them (as bench/e2e.py), or, with
``--conversation-turns N``, each user asks N questions in one conversation before starting the next.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import argparse
import datetime as dt
import importlib.util
import json
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from bench.e2e import answered, scenarios
from bench.errors import BenchError
from bench.load import run_load
from bench.proc import ROOT
from bench.stats import median

logger = logging.getLogger("bench.paired")

SEED = 20250429
TICKS = os.sysconf("SC_CLK_TCK")


def _stack_module(checkout: Path, tag: str) -> ModuleType:
    """``scripts/stack.py`` of ``checkout``, loaded under its own name (its ROOT is that checkout)."""
    spec = importlib.util.spec_from_file_location(f"_paired_stack_{tag}", checkout / "scripts" / "stack.py")
    if spec is None or spec.loader is None:
        raise BenchError(f"{checkout}: no scripts/stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state is fields[0]
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


@dataclass
class Variant:
    name: str
    checkout: Path
    env: dict[str, str]
    stack: Any = None
    cells: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def groups(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.stack.processes.items()}

    def cpu(self) -> dict[str, float]:
        return {name: group_cpu_seconds(pgid) for name, pgid in self.groups().items()}


def _knowledge() -> tuple[str, ...]:
    return scenarios(SEED)["knowledge"].messages


def _questions() -> list[str]:
    folder = ROOT / "knowledge_base" / "eval"
    out: list[str] = []
    for name in ("heldout.tsv", "unanswerable.tsv"):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()[1:]
        out += [line.split("\t")[0] for line in lines if line.strip()]
    return out


def _reply_key(replies: Any) -> list[tuple[str, str | None]]:
    if not isinstance(replies, list):
        return [("<not a list>", None)]
    key = []
    for reply in replies:
        custom = reply.get("custom") if isinstance(reply, dict) else None
        entry = custom.get("kb_entry") if isinstance(custom, dict) else None
        key.append((str(reply.get("text") if isinstance(reply, dict) else reply), entry))
    return key


def _ask(client: httpx.Client, variant: Variant, text: str) -> list[tuple[str, str | None]]:
    body = {"sender": f"paired-{secrets.token_hex(6)}", "message": text}
    response = client.post(variant.stack.rest_url, json=body, headers=variant.stack.rest_headers)
    response.raise_for_status()
    return _reply_key(response.json())


def same_answers(a: Variant, b: Variant, again: int = 3) -> dict[str, Any]:
    """Ask both every evaluation question (a first turn each). A question answered differently is asked
    ``again`` more times of each: if either checkout's own replies vary (a random response variant, a random
    code), it is listed as varying by design; if each answers it one way and the two ways differ, as different."""
    differ: list[dict[str, Any]] = []
    varying: list[str] = []
    questions = _questions()
    with httpx.Client(trust_env=False, timeout=60) as client:
        for text in questions:
            first = [_ask(client, v, text) for v in (a, b)]
            if first[0] == first[1]:
                continue
            seen = [{json.dumps(first[i], ensure_ascii=False)} for i in (0, 1)]
            for _ in range(again):
                for i, v in enumerate((a, b)):
                    seen[i].add(json.dumps(_ask(client, v, text), ensure_ascii=False))
            if len(seen[0]) > 1 or len(seen[1]) > 1:
                varying.append(text)
            else:
                differ.append({"question": text, a.name: first[0], b.name: first[1]})
    return {"questions": len(questions), "different": len(differ), "examples": differ[:10], "varying": varying}


def _payload(tag: str, offset: int, conversation_turns: int) -> Callable[[int, int], dict[str, str]]:
    messages = _knowledge()
    run = secrets.token_hex(3)
    asked: dict[int, int] = {}

    def make(user: int, seq: int) -> dict[str, str]:
        # Each user goes on in one conversation for ``conversation_turns`` of its questions, then starts another
        # (1: every question a conversation's first turn, as bench/e2e.py).
        turn = asked.get(user, 0)
        asked[user] = turn + 1
        return {
            "sender": f"paired-{tag}-{run}-{user}-{turn // conversation_turns}",
            "message": messages[(offset + seq * 7 + user) % len(messages)],
        }

    return make


def cell(
    variant: Variant, users: int, seconds: float, requests: int, offset: int, conversation_turns: int = 1
) -> dict[str, Any]:
    before, start = variant.cpu(), time.perf_counter()
    stats = run_load(
        variant.stack.rest_url,
        _payload(f"{variant.name}-{users}", offset, conversation_turns),
        concurrency=users,
        max_requests=requests,
        max_seconds=seconds,
        timeout=120.0,
        check=answered,
        headers=variant.stack.rest_headers,
    ).to_dict()
    after, wall = variant.cpu(), time.perf_counter() - start
    ok = max(int(stats["ok"]), 1)
    cpu = {name: round((after[name] - before[name]) / ok * 1000, 2) for name in after}
    latency = stats["latency_ms"] or {}
    return {
        "p50_ms": latency.get("p50"),
        "p95_ms": latency.get("p95"),
        "msg_per_s": stats["throughput_rps"],
        "ok": stats["ok"],
        "errors": stats["errors"],
        "cpu_ms_per_turn": {**cpu, "total": round(sum(cpu.values()), 2)},
        "wall_s": round(wall, 2),
        "load": os.getloadavg()[0],
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Callable[[dict[str, Any]], Any]) -> float | None:
        values = [get(r) for r in runs if get(r) is not None]
        return round(median(values), 2) if values else None

    names = sorted({name for r in runs for name in r["cpu_ms_per_turn"]})
    return {
        "p50_ms": med(lambda r: r["p50_ms"]),
        "p95_ms": med(lambda r: r["p95_ms"]),
        "msg_per_s": med(lambda r: r["msg_per_s"]),
        "cpu_ms_per_turn": {name: med(_cpu_of(name)) for name in names},
        "errors": sum(r["errors"] for r in runs),
    }


def _cpu_of(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda run: run["cpu_ms_per_turn"].get(name)


def _ratio(b: float | None, a: float | None) -> float | None:
    return round(b / a, 3) if a and b is not None else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from knowledge_base.files import builtin_entries
    from knowledge_base.store import KBStore

    variants = [
        Variant("A", args.a.resolve(), dict(item.split("=", 1) for item in args.env_a)),
        Variant("B", args.b.resolve(), dict(item.split("=", 1) for item in args.env_b)),
    ]
    users = [int(u) for u in args.users.split(",")]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "model": args.model.name,
        "variants": {v.name: {"checkout": str(v.checkout), "env": v.env} for v in variants},
        "rounds": args.rounds,
        "seconds_per_cell": args.seconds,
        "turns_per_conversation": args.conversation_turns,
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-paired-") as tmp:
        work = Path(tmp)
        try:
            for v in variants:
                stack_module = _stack_module(v.checkout, v.name)
                kb_url = f"sqlite:///{work / v.name / 'kb.sqlite'}"
                (work / v.name).mkdir()
                KBStore(kb_url).seed_if_empty(builtin_entries())
                v.stack = stack_module.Stack.isolated(
                    args.model,
                    work / v.name / "stack",
                    kb_url,
                    f"sqlite:///{work / v.name / 'bookings.sqlite'}",
                    **v.env,
                )
                v.stack.start(timeout=600)
                for text in _knowledge()[-20:]:
                    v.stack.say(f"warm-{secrets.token_hex(4)}", text)
            if not args.skip_answers:
                logger.info("paired: the same answers?")
                result["answers"] = same_answers(variants[0], variants[1])
                logger.info("paired: %s", result["answers"])
            offset = 0
            for round_number in range(args.rounds):
                order = variants if round_number % 2 == 0 else variants[::-1]
                for n in users:
                    requests = args.requests if n == 1 else 100_000
                    for v in order:
                        logger.info("paired: round %d, %d user(s), %s", round_number + 1, n, v.name)
                        v.cells.setdefault(str(n), []).append(
                            cell(v, n, args.seconds, requests, offset, args.conversation_turns)
                        )
                    offset += 97  # the next cell starts elsewhere in the questions
        finally:
            for v in variants:
                if v.stack is not None:
                    v.stack.stop()
    result["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result["cells"] = {
        v.name: {n: {"median": _medians(runs), "runs": runs} for n, runs in v.cells.items()} for v in variants
    }
    ratios: dict[str, Any] = {}
    for count in map(str, users):
        a, b = result["cells"]["A"][count]["median"], result["cells"]["B"][count]["median"]
        ratios[count] = {
            "p50": _ratio(b["p50_ms"], a["p50_ms"]),
            "p95": _ratio(b["p95_ms"], a["p95_ms"]),
            "msg_per_s": _ratio(b["msg_per_s"], a["msg_per_s"]),
            "cpu_total": _ratio(b["cpu_ms_per_turn"].get("total"), a["cpu_ms_per_turn"].get("total")),
        }
    result["ratios_b_to_a"] = ratios
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"A = {result['variants']['A']}", f"B = {result['variants']['B']}"]
    if "answers" in result:
        answers = result["answers"]
        lines.append(
            f"answers: {answers['different']} of {answers['questions']} differ; "
            f"varying by design in both: {answers['varying']}"
        )
    for n, ratio in result["ratios_b_to_a"].items():
        for name in ("A", "B"):
            m = result["cells"][name][n]["median"]
            cpu = ", ".join(f"{k} {v}" for k, v in m["cpu_ms_per_turn"].items())
            lines.append(
                f"{n} user(s) {name}: p50 {m['p50_ms']} ms, p95 {m['p95_ms']} ms, {m['msg_per_s']} msg/s, "
                f"CPU ms/turn: {cpu}, errors {m['errors']}"
            )
        lines.append(f"{n} user(s) B/A: {ratio}")
    lines.append(f"load average {result['load_start']} → {result['load_end']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="checkout A (before)")
    parser.add_argument("b", type=Path, help="checkout B (after)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--users", default="1,8")
    parser.add_argument("--seconds", type=float, default=8.0, help="per cell")
    parser.add_argument("--requests", type=int, default=80, help="per one-user cell")
    parser.add_argument("--env-a", action="append", default=[], help="VAR=VALUE for A's servers (repeatable)")
    parser.add_argument("--env-b", action="append", default=[], help="VAR=VALUE for B's servers (repeatable)")
    parser.add_argument("--model", type=Path, help="Rasa model (default: the newest in models/)")
    parser.add_argument("--skip-answers", action="store_true", help="do not compare the answers first")
    parser.add_argument(
        "--conversation-turns", type=int, default=1, help="questions per conversation (default 1: all first turns)"
    )
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.model is None:
        models = sorted((ROOT / "models").glob("yinling-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise SystemExit("no model in models/; pass --model")
        args.model = models[-1]
    args.model = args.model.resolve()
    result = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(render(result))
    answers = result.get("answers") or {}
    return 1 if answers.get("different") else 0


if __name__ == "__main__":
    sys.exit(main())
