"""Start and stop the servers of 银龄助手: the action server, the Rasa server, the staff app and the
proactive-care scheduler/worker (``python -m care run``).

Used by ``make run`` (``python scripts/stack.py run``) and by the end-to-end tests.
Standard library only, so it runs under either virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.errors import Unavailable

ROOT = Path(__file__).resolve().parent.parent
RASA_VENV = ROOT / ".venv-rasa"
APP_VENV = ROOT / ".venv"


class StackError(Unavailable, RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
            "OMP_WAIT_POLICY": "PASSIVE",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# Secrets the processes share (tokens between them, signing keys). Taken from the environment when
# set there; otherwise made once per working directory and kept in <workdir>/secrets.json (mode 0600),
# so a restart keeps web chat sessions valid. Never committed, never logged.
SECRET_NAMES = (
    "YINLING_REST_TOKEN",  # callers of the REST channel (terminal chat, tests, integrations)
    "YINLING_WEBCHAT_SECRET",  # signs the web chat's conversation ids
    "YINLING_ACTION_TOKEN",  # the Rasa server → action server webhook
    "YINLING_RASA_JWT_SECRET",  # staff app → Rasa's HTTP API
    "YINLING_STAFF_SECRET",  # staff app sessions and CSRF tokens
)


def ensure_secrets(workdir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Every shared secret: from ``env`` (default os.environ) if set, else from/into ``workdir``/secrets.json."""
    env = dict(os.environ) if env is None else env
    path = workdir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        stored = {k: str(v) for k, v in loaded.items() if isinstance(v, str)}
    missing = [name for name in SECRET_NAMES if not env.get(name) and not stored.get(name)]
    if missing:
        stored.update({name: secrets.token_urlsafe(32) for name in missing})
        workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(stored, out, indent=1)
    return {name: env.get(name) or stored[name] for name in SECRET_NAMES}


# Channels switched on by their secrets in the environment (the connectors read the rest).
ENV_CHANNELS = {
    "channels.wechat.WeChatInput": ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET"),
    "channels.telegram.TelegramInput": ("TELEGRAM_TOKEN", "TELEGRAM_SECRET_TOKEN"),
}


def compose_credentials(env: dict[str, str], target: Path) -> Path:
    """credentials.yml plus every channel whose secrets are set in ``env``."""
    text = (ROOT / "credentials.yml").read_text(encoding="utf-8")
    active = {line.split(":", 1)[0].strip() for line in text.splitlines() if line and not line.startswith((" ", "#"))}
    extra = [
        f"{name}: {{}}\n"
        for name, needed in ENV_CHANNELS.items()
        if name not in active and all(env.get(var) for var in needed)
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.rstrip("\n") + "\n" + "".join(extra), encoding="utf-8")
    return target


def enabled_channels(credentials: Path) -> list[str]:
    lines = credentials.read_text(encoding="utf-8").splitlines()
    return [line.split(":", 1)[0].strip() for line in lines if line and not line.startswith((" ", "#"))]


def train_model() -> Path:
    """Train if needed (bot.tools.train) and return the model's path."""
    out = subprocess.run(
        [str(RASA_VENV / "bin" / "python"), "-m", "bot.tools.train"],
        cwd=ROOT,
        env=base_env(),
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def http_get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return 0


def post_json(
    url: str, payload: dict[str, object], timeout: float = 60.0, headers: dict[str, str] | None = None
) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode())


@dataclass
class Stack:
    """The action server and the Rasa server, each in its own process group."""

    model: Path
    rasa_port: int = 5005
    action_port: int = 5055
    host: str = "127.0.0.1"
    staff_port: int = 5057
    workdir: Path = ROOT / "var"
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)  # every text said through say(): the privacy test looks for them
    _logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def isolated(cls, model: Path, workdir: Path, kb_url: str, bookings_url: str, **extra_env: str) -> Stack:
        """Both servers on free loopback ports with databases of their own (tests, benchmarks)."""
        return cls(
            model=model,
            rasa_port=free_port(),
            action_port=free_port(),
            staff_port=free_port(),
            workdir=workdir,
            log_dir=workdir / "logs",
            extra_env={
                "KB_DATABASE_URL": kb_url,
                "BOOKINGS_DATABASE_URL": bookings_url,
                "YINLING_TRACKER_DB": str(workdir / "tracker.sqlite"),
                "STAFF_DATABASE_URL": f"sqlite:///{workdir / 'staff.sqlite'}",
                # Tests and benchmarks send far faster than any person, all from one address; the
                # limits themselves are tested per channel (tests/rasa/test_rest_channel.py).
                "YINLING_RATE_SENDER": "0",
                "YINLING_RATE_IP": "0",
                **extra_env,
            },
        )

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}/webhooks/rest/webhook"

    @property
    def rest_token(self) -> str:
        """The bearer token the REST channel of these servers wants (environment, else <workdir>/secrets.json)."""
        return ensure_secrets(self.workdir, {**base_env(), **self.extra_env})["YINLING_REST_TOKEN"]

    @property
    def rest_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.rest_token}"}

    @property
    def webchat_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}/webhooks/webchat/"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"

    @property
    def staff_url(self) -> str:
        return f"http://{self.host}:{self.staff_port}"

    def env(self) -> dict[str, str]:
        env = base_env()
        env.update(ensure_secrets(self.workdir, {**env, **self.extra_env}))
        env.setdefault("YINLING_TRACKER_DB", str(self.workdir / "rasa_tracker.sqlite"))
        env["YINLING_ACTION_URL"] = self.action_url
        # The staff database is shared by the bot's handoff action and the staff app; the
        # Rasa server's guard tells the staff app when a senior writes while waiting.
        if not env.get("STAFF_DATABASE_URL") and not env.get("DATABASE_URL"):
            env["STAFF_DATABASE_URL"] = f"sqlite:///{self.workdir / 'staff.sqlite'}"
        env["STAFF_URL"] = self.staff_url
        env["STAFF_RASA_URL"] = f"http://{self.host}:{self.rasa_port}"
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, command: list[str]) -> None:
        stdout: int | IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{name}.log").open("ab")
            self._logs.append(log)
            stdout = log
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(),
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,
        )

    def start_actions(self) -> None:
        self._spawn(
            "actions",
            [
                str(APP_VENV / "bin" / "python"),
                "-m",
                "actions.server",
                "--host",
                self.host,
                "--port",
                str(self.action_port),
            ],
        )

    def start_rasa(self) -> None:
        self._spawn(
            "rasa",
            [
                str(RASA_VENV / "bin" / "python"),
                "-m",
                "bot.server",  # rasa run, with redacted logs and an action timeout of seconds
                "run",
                # Rasa's HTTP API (tracker events, execute) for the staff app, JWT-only and on
                # loopback; the secret comes from the environment, not this command line.
                "--enable-api",
                "--jwt-method",
                "HS256",
                "--model",
                str(self.model),
                "--port",
                str(self.rasa_port),
                "--interface",
                self.host,
                "--credentials",
                str(compose_credentials(self.env(), self.workdir / "credentials.yml")),
                "--endpoints",
                str(ROOT / "endpoints.yml"),
            ],
        )

    def start_staff(self, timeout: float = 120.0) -> None:
        """The staff web app (agents' console, KB admin API) on ``staff_port``."""
        self._spawn_staff()
        self.wait_healthy(timeout, actions=False, rasa=False, staff=True)

    def _spawn_staff(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "staff",
            [
                str(APP_VENV / "bin" / "python"),
                "-m",
                "staff",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.staff_port),
            ],
        )

    def start_care(self) -> None:
        """Proactive care: reminders, 每日平安, family alerts (scheduler + outbox worker; no port)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn("care", [str(APP_VENV / "bin" / "python"), "-m", "care", "run"])

    def start(self, timeout: float = 300.0, actions: bool = True, staff: bool = False, care: bool = False) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if actions:
            self.start_actions()
        self.start_rasa()
        if staff:
            self.start_staff(timeout)
        if care:
            self.start_care()
        self.wait_healthy(timeout, actions=actions)

    def wait_healthy(self, timeout: float, actions: bool = True, rasa: bool = True, staff: bool = False) -> None:
        checks = {"rasa": f"http://{self.host}:{self.rasa_port}/webhooks/rest/"} if rasa else {}
        if actions:
            checks["actions"] = f"http://{self.host}:{self.action_port}/health"
        if staff:
            checks["staff"] = f"{self.staff_url}/health"
        deadline = time.monotonic() + timeout
        pending = dict(checks)
        while pending:
            for name, url in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    raise StackError(f"the {name} server exited with code {process.returncode} while starting")
                if http_get(url) == 200:
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise StackError(f"not healthy after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)

    def stop_process(self, name: str, grace: float = 15.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def starter(self, name: str) -> None:
        """Start the named server again (``actions``, ``rasa``, ``staff`` or ``care``)."""
        starters = {"actions": self.start_actions, "rasa": self.start_rasa, "staff": self._spawn_staff}
        {**starters, "care": self.start_care}[name]()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def say(self, sender: str, text: str) -> list[dict[str, object]]:
        """One message through the REST channel, with its token; the bot's messages."""
        self.sent.append(text)
        answer = post_json(self.rest_url, {"sender": sender, "message": text}, headers=self.rest_headers)
        if not isinstance(answer, list):
            raise StackError(f"unexpected answer from the REST channel: {answer!r}")
        return answer


@dataclass
class Supervisor:
    """Restarts a server that died, with growing pauses, while the others go on answering.

    Rasa answers emergencies, greetings and the polite apology by itself, so the action server
    crashing or being killed must not stop the service: it is started again after 1, 2, 4 … up
    to ``max_backoff`` seconds; a server that then stays up for ``stable_after`` seconds is
    forgiven its crashes.
    """

    stack: Stack
    max_backoff: float = 30.0
    stable_after: float = 120.0
    clock: Callable[[], float] = time.monotonic
    restarts: dict[str, int] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def check(self) -> list[str]:
        """One round: schedule or do restarts; returns what happened, for the console."""
        now = self.clock()
        said: list[str] = []
        for name in ("actions", "rasa", "staff", "care"):
            if name not in self.stack.processes and name not in self._due and name not in self.restarts:
                continue  # never started here (the staff app and care are optional)
            process = self.stack.processes.get(name)
            if process is None:
                if name in self._due and now >= self._due[name]:
                    del self._due[name]
                    self.stack.starter(name)
                    self._started[name] = now
                    said.append(f"run: restarted the {name} server (restart {self.restarts[name]}).")
                continue
            if process.poll() is None:
                if now - self._started.get(name, now) > self.stable_after:
                    self.restarts.pop(name, None)
                continue
            code = process.returncode
            self.stack.processes.pop(name, None)
            count = self.restarts.get(name, 0) + 1
            self.restarts[name] = count
            delay = min(self.max_backoff, 2.0 ** (count - 1))
            self._due[name] = now + delay
            said.append(f"run: the {name} server stopped (exit code {code}); restarting it in {delay:.0f} s.")
        return said


def prepare_knowledge_base() -> None:
    """Seed the KB database from knowledge_base/data if it is empty, and warm the embedding cache."""
    subprocess.run(
        [str(APP_VENV / "bin" / "python"), "-m", "knowledge_base", "init"], cwd=ROOT, env=base_env(), check=True
    )


def run(args: argparse.Namespace) -> int:
    model = train_model()
    prepare_knowledge_base()
    stack = Stack(
        model=model,
        rasa_port=args.port,
        action_port=args.action_port,
        staff_port=args.staff_port,
        host=args.host,
        workdir=args.workdir,
    )

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts this in the background hands it SIGINT ignored, and
    # Ctrl-C must still stop every process started here.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(
            f"run: starting the action server on {stack.action_port}, Rasa on {stack.rasa_port}"
            f" and the staff app on {stack.staff_port} …",
            flush=True,
        )
        stack.start(timeout=args.timeout, staff=True, care=True)
        channels = ", ".join(c.rsplit(".", 1)[-1] for c in enabled_channels(stack.workdir / "credentials.yml"))
        print(
            "\n银龄助手 is running.\n"
            f"  Channels: {channels}\n"
            f"  Web page: {stack.webchat_url}\n"
            f'  REST channel: POST {stack.rest_url}  body: {{"sender": "me", "message": "你好"}}\n'
            "    with the header 'Authorization: Bearer <token>'; the token is YINLING_REST_TOKEN if set in the\n"
            f"    environment, else the one of that name in {stack.workdir / 'secrets.json'}\n"
            f"  Staff console (agents, admins): {stack.staff_url}/console\n"
            "    first admin: .venv/bin/python -m staff create-user --role admin <name>\n"
            "  Proactive care (reminders, 每日平安, family alerts): python -m care run, restarted if it stops\n"
            "  Terminal chat: make chat   (in another terminal)\n"
            "  Stop: Ctrl-C\n",
            flush=True,
        )
        supervisor = Supervisor(stack)
        while True:
            for line in supervisor.check():
                print(line, file=sys.stderr, flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nrun: stopping …", flush=True)
        return 0
    except StackError as err:
        print(f"run: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Run 银龄助手's servers.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="train if needed, then run both servers until Ctrl-C")
    run_parser.add_argument("--host", default=os.environ.get("YINLING_HOST", "127.0.0.1"))
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("YINLING_RASA_PORT", "5005")))
    run_parser.add_argument("--action-port", type=int, default=int(os.environ.get("YINLING_ACTION_PORT", "5055")))
    run_parser.add_argument("--staff-port", type=int, default=int(os.environ.get("STAFF_PORT", "5057")))
    run_parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the servers")
    run_parser.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("YINLING_VAR", ROOT / "var")), help="runtime state"
    )
    args = parser.parse_args()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
