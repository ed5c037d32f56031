"""End-to-end part: both real servers, driven through the REST channel on loopback.

Measured, in this order, on servers started by :class:`scripts.stack.Stack` with a temporary
knowledge base, bookings database and tracker store:

1. cold start: from spawning both servers to the first reply that names a KB entry (which
   needs both), with the trained model already present; repeated, the last stack stays up;
2. edit to answer: an answer edited through the admin API (``knowledge_base.api.AdminServer``
   in a thread), timed from the PUT to the first bot reply that carries the new text;
3. load: each scenario × concurrency cell through :func:`bench.load.run_load`; every request
   uses a fresh sender id, so every turn is a conversation's first turn;
4. peak RSS (VmHWM) of every process in each server's process group, after the load.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.errors import BenchError
from bench.load import run_load
from bench.proc import tail
from bench.stats import median
from knowledge_base.evaluate import HELDOUT
from scripts.stack import Stack, train_model

logger = logging.getLogger(__name__)

PROBE = "我想问问长护险哪能申请"  # a knowledge question: its answer needs both servers
APOLOGY_START = "抱歉，系统刚才有点忙"  # channels/guard.py: what a user gets when a turn failed


def texts(replies: Any) -> list[str]:
    if not isinstance(replies, list):
        return []
    return [str(r["text"]) for r in replies if isinstance(r, dict) and r.get("text")]


def kb_entry(replies: Any) -> str | None:
    if not isinstance(replies, list):
        return None
    for reply in replies:
        custom = reply.get("custom") if isinstance(reply, dict) else None
        if isinstance(custom, dict) and custom.get("kb_entry"):
            return str(custom["kb_entry"])
    return None


def answered(replies: Any) -> str | None:
    """None for a real answer; else what is wrong with it (load-generator check)."""
    said = texts(replies)
    if not said:
        return "no reply text"
    if said[0].startswith(APOLOGY_START):
        return "apology (a server failed the turn)"
    return None


@dataclass(frozen=True)
class Scenario:
    description: str
    messages: tuple[str, ...]
    tag: Callable[[Any], str]


def _heldout_queries(seed: int) -> tuple[str, ...]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()[1:]
    queries = [line.split("\t")[0] for line in lines if line.strip()]
    random.Random(seed).shuffle(queries)  # noqa: S311 - a reproducible order
    return tuple(queries)


def scenarios(seed: int) -> dict[str, Scenario]:
    return {
        "smalltalk": Scenario(
            "small talk answered by Rasa alone",
            ("你好", "谢谢侬", "侬好", "谢谢", "早上好", "再会"),
            lambda r: "KB answer (unexpected)" if kb_entry(r) else "Rasa only",
        ),
        "knowledge": Scenario(
            "knowledge questions (held-out set) answered via the action server",
            _heldout_queries(seed),
            lambda r: "named a KB entry" if kb_entry(r) else "no KB entry",
        ),
        "booking": Scenario(
            "first turn of a booking: the form starts and asks a question",
            (
                "下礼拜二上半天帮我约个助浴，住在顾村",
                "明天上午帮我约个助浴，阿拉住在友谊路",
                "后天下午想约个上门护理，住在罗店",
            ),
            # Late at night (Shanghai) "明天"/"后天" are asked back as numbered days ("…请回复数字。"): a question too.
            lambda r: (
                "asked a question"
                if any(t.rstrip().endswith(("？", "?")) or "请回复数字" in t for t in texts(r))
                else "no question"
            ),
        ),
    }


@dataclass(frozen=True)
class E2EConfig:
    concurrencies: tuple[int, ...] = (1, 8, 32)
    max_requests: int = 3000  # per cell, whichever bound comes first
    max_seconds: float = 30.0
    request_timeout: float = 60.0
    cold_starts: int = 3
    edits: int = 7
    start_timeout: float = 600.0
    edit_timeout: float = 30.0
    seed: int = 20250429
    model: Path | None = None  # None: bot.tools.train's model for the current data (trained first if stale)


# -- processes ----------------------------------------------------------------------------


def _pgrp(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces or parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[2])


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def group_memory(pgid: int) -> dict[str, Any]:
    """Peak (VmHWM) and current (VmRSS) resident memory of every process in a process group, in MB."""
    processes: list[dict[str, Any]] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _pgrp(int(entry.name)) == pgid:
            status = _status(int(entry.name))
            if "VmHWM" not in status:
                continue
            processes.append(
                {
                    "pid": int(entry.name),
                    "name": status.get("Name", "?"),
                    "peak_mb": round(int(status["VmHWM"].split()[0]) / 1024, 1),
                    "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
                }
            )
    if not processes:
        raise BenchError(f"no process left in process group {pgid} to read memory from")
    return {"processes": processes, "peak_mb": round(sum(p["peak_mb"] for p in processes), 1)}


def _logs(stack: Stack) -> str:
    if stack.log_dir is None:
        return ""
    return "\n".join(
        f"---- {log.name} (end)\n{tail(log.read_text(errors='replace'), 1500)}"
        for log in sorted(stack.log_dir.glob("*.log"))
    )


def _check_alive(stack: Stack) -> None:
    for name, process in stack.processes.items():
        if process.poll() is not None:
            raise BenchError(f"the {name} server exited with code {process.returncode}\n{_logs(stack)}")


def _say(client: httpx.Client, stack: Stack, text: str) -> Any:
    response = client.post(
        stack.rest_url, json={"sender": f"bench-{secrets.token_hex(6)}", "message": text}, headers=stack.rest_headers
    )
    response.raise_for_status()
    return response.json()


# -- the measurements ---------------------------------------------------------------------


def cold_start(stack: Stack, timeout: float) -> float:
    """Seconds from spawning both servers to the first reply that names a KB entry."""
    start = time.perf_counter()
    stack.start_actions()
    stack.start_rasa()
    with httpx.Client(trust_env=False, timeout=30.0) as client:
        while True:
            _check_alive(stack)
            try:
                if kb_entry(_say(client, stack, PROBE)):
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass  # not listening yet, or Rasa up but still loading
            if time.perf_counter() - start > timeout:
                raise BenchError(f"no answer naming a KB entry within {timeout:.0f} s of starting\n{_logs(stack)}")
            time.sleep(0.1)


@contextmanager
def admin_api(stack: Stack) -> Iterator[tuple[str, str]]:
    """The KB admin API of the staff app (started next to the servers if needed): yields (base URL, admin token)."""
    from staff.accounts import Accounts
    from staff.config import Settings
    from staff.db import StaffDB

    if "staff" not in stack.processes:
        stack.start_staff()
    settings = Settings.from_env(stack.env())
    accounts = Accounts(StaffDB(settings.database_url), settings)
    user = accounts.create_user(f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16), "admin")
    yield f"{stack.staff_url}/api/kb", accounts.new_api_token(user.id)


def edit_to_answer(stack: Stack, kb_url: str, repeats: int, timeout: float) -> dict[str, Any]:
    runs: list[float] = []
    polls: list[int] = []
    with (
        admin_api(stack) as (base, token),
        httpx.Client(
            trust_env=False,
            timeout=30.0,
            headers={"Authorization": f"Bearer {token}", "X-Admin-User": "bench"},
        ) as admin,
        httpx.Client(trust_env=False, timeout=60.0) as bot,
    ):
        entry_id = kb_entry(_say(bot, stack, PROBE))
        if entry_id is None:
            raise BenchError(f"the probe question {PROBE!r} got no KB answer")
        url = f"{base}/entries/{entry_id}"
        original = admin.get(url).raise_for_status().json()
        try:
            for run in range(repeats):
                marker = f"【更新{run}-{secrets.token_hex(3)}】"
                edited = {**original, "answer": marker + str(original["answer"])[:100]}
                start = time.perf_counter()
                admin.put(url, json={"entry": edited, "reason": "bench: edit to answer"}).raise_for_status()
                count = 0
                while True:
                    count += 1
                    if any(marker in text for text in texts(_say(bot, stack, PROBE))):
                        break
                    if time.perf_counter() - start > timeout:
                        raise BenchError(f"an edited answer did not reach the bot within {timeout:.0f} s")
                    time.sleep(0.02)
                runs.append(time.perf_counter() - start)
                polls.append(count)
        finally:
            admin.put(url, json={"entry": original, "reason": "bench: restore"}).raise_for_status()
    # Each poll is one full bot turn, so a result is at most one turn later than the change.
    return {
        "entry": entry_id,
        "runs_s": [round(r, 3) for r in runs],
        "median_s": round(median(runs), 3),
        "max_s": round(max(runs), 3),
        "polls_per_run": polls,
    }


def load_cells(stack: Stack, cfg: E2EConfig) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, scenario in scenarios(cfg.seed).items():
        messages = scenario.messages
        cells: dict[str, Any] = {}
        for concurrency in cfg.concurrencies:
            logger.info("e2e load: %s at %d concurrent users", name, concurrency)

            def payload(
                user: int,
                seq: int,
                name: str = name,
                concurrency: int = concurrency,
                messages: tuple[str, ...] = messages,
            ) -> dict[str, str]:
                # A fresh sender per request: every turn is the first of its conversation.
                return {
                    "sender": f"bench-{name}-{concurrency}-{user}-{seq}-{secrets.token_hex(3)}",
                    "message": messages[(seq * 7 + user) % len(messages)],
                }

            stats = run_load(
                stack.rest_url,
                payload,
                concurrency=concurrency,
                max_requests=cfg.max_requests,
                max_seconds=cfg.max_seconds,
                warmup=max(concurrency, 3),
                timeout=cfg.request_timeout,
                check=answered,
                tag=scenario.tag,
                headers=stack.rest_headers,
            )
            cells[str(concurrency)] = stats.to_dict()
            _check_alive(stack)
        out[name] = {"description": scenario.description, "messages": len(messages), "cells": cells}
    return out


def _new_stack(model: Path, work: Path, number: int, kb_url: str, bookings_url: str) -> Stack:
    return Stack.isolated(model, work / f"stack-{number}", kb_url, bookings_url)


def _error_lines(stack: Stack, limit: int = 4) -> list[str]:
    """The last distinct ERROR lines of the servers' logs (they never hold message text at INFO)."""
    found: list[str] = []
    for log in sorted(stack.log_dir.glob("*.log")) if stack.log_dir else []:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
        distinct = list(dict.fromkeys(line.split(" ERROR ", 1)[1].strip() for line in lines))
        found += [f"{log.stem}: {line[:300]}" for line in distinct[-limit:]]
    return found


def _load_problems(load: dict[str, Any], stack: Stack) -> list[str]:
    problems = []
    for name, scenario in load.items():
        for concurrency, cell in scenario["cells"].items():
            if cell["errors"]:
                problems.append(
                    f"load {name} at {concurrency} users: {cell['errors']} of {cell['sent']} requests failed "
                    f"({cell['error_kinds']})"
                )
    if problems:
        problems += [f"server log: {line}" for line in _error_lines(stack)]
    return problems


def run_e2e(cfg: E2EConfig, work: Path) -> dict[str, Any]:
    """All end-to-end measurements; sub-steps that fail are listed in ``problems``."""
    from knowledge_base.files import builtin_entries
    from knowledge_base.store import KBStore

    if cfg.cold_starts < 1 or cfg.edits < 1:
        raise BenchError("the end-to-end part needs at least one cold start and one edit")
    if cfg.model is not None:
        if not cfg.model.is_file():
            raise BenchError(f"model {cfg.model} does not exist")
        model = cfg.model
    else:
        logger.info("e2e: making sure a trained model is present (bot.tools.train; trains only if the data changed)")
        model = train_model()
    kb_url = f"sqlite:///{work / 'kb.sqlite'}"
    bookings_url = f"sqlite:///{work / 'bookings.sqlite'}"
    # As after `make run`'s setup: the KB database is seeded before the servers start.
    KBStore(kb_url).seed_if_empty(builtin_entries())
    result: dict[str, Any] = {"model": model.name, "problems": []}
    cold: list[float] = []
    stack: Stack | None = None
    try:
        for number in range(cfg.cold_starts):
            if stack is not None:
                stack.stop()
            stack = _new_stack(model, work, number, kb_url, bookings_url)
            stack.workdir.mkdir(parents=True, exist_ok=True)
            logger.info("e2e: cold start %d of %d", number + 1, cfg.cold_starts)
            cold.append(cold_start(stack, cfg.start_timeout))
        assert stack is not None
        result["cold_start_s"] = {
            "runs": [round(c, 2) for c in cold],
            "median": round(median(cold), 2),
            "max": round(max(cold), 2),
        }
        steps: dict[str, Callable[[Stack], Any]] = {
            "edit_to_answer": lambda s: edit_to_answer(s, kb_url, cfg.edits, cfg.edit_timeout),
            "load": lambda s: load_cells(s, cfg),
        }
        for key, step in steps.items():
            logger.info("e2e: %s", key.replace("_", " "))
            try:
                result[key] = step(stack)
            except (BenchError, httpx.HTTPError, OSError, ValueError, KeyError) as err:
                logger.error("e2e %s failed: %s", key, err)
                result["problems"].append(f"{key}: {type(err).__name__}: {err}")
                _check_alive(stack)
        result["memory"] = {name: group_memory(process.pid) for name, process in stack.processes.items()}
        result["problems"] += _load_problems(result.get("load") or {}, stack)
    except BenchError:
        raise
    except Exception as err:
        logs = _logs(stack) if stack is not None else ""
        raise BenchError(f"{type(err).__name__}: {err}\n{logs}") from err
    finally:
        if stack is not None:
            stack.stop()
    return result
