"""Run a command-line tool of the project and read the JSON object on its last line."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.errors import BenchError

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TAIL_CHARS = 3000


def tail(text: str, chars: int = TAIL_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= chars else "…" + text[-chars:]


def describe(command: Sequence[str]) -> str:
    """A short name for a command in messages: its module and first arguments, without a ``taskset`` prefix."""
    parts = [str(part) for part in command]
    if parts and Path(parts[0]).name == "taskset":
        parts = parts[3:]  # taskset --cpu-list N
    return " ".join(parts[1:4])


def run_tool(command: Sequence[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    """Run ``command`` in its own process group and return its stdout; raise BenchError if it fails.

    On timeout the whole group is stopped, so a tool's own children (Rasa's) do not outlive it.
    """
    what = describe(command)
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        _stop_group(process)
        raise BenchError(f"`{what}` did not finish within {timeout:.0f} s") from err
    except BaseException:
        _stop_group(process)
        raise
    if process.returncode != 0:
        raise BenchError(f"`{what}` exited with code {process.returncode}:\n{tail(stderr or stdout)}")
    return stdout


def _stop_group(process: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.communicate(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def last_json_line(stdout: str, what: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of ``stdout``."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchError(f"{what} printed nothing on stdout")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError as err:
        raise BenchError(f"{what}: the last line of its output is not JSON: {lines[-1][:200]!r}") from err
    if not isinstance(data, dict):
        raise BenchError(f"{what}: the last line is JSON but not an object")
    return data


def run_json_tool(
    command: Sequence[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> dict[str, Any]:
    what = describe(command)
    logger.info("running %s", what)
    return last_json_line(run_tool(command, timeout=timeout, env=env, cwd=cwd), what)
