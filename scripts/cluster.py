"""Run 银龄助手 as a cluster on loopback: ``make run-cluster`` (``python scripts/cluster.py run``).

The topology of a district deployment, on one machine:

    clients ──▶ nginx :5005 ──▶ Rasa replicas (2) ──▶ nginx :5055 ──▶ action servers (2)
                                  │   tracker store: PostgreSQL (Rasa's SQL tracker store)
                                  │   lock store:    Redis (Rasa's RedisLockStore)
                                  │   channel dedup: Redis (REDIS_URL)
                                  └── knowledge base, bookings, staff queue: PostgreSQL

Every process is started from the files a district IT team would install: the Rasa replicas and
the action servers from ``deploy/systemd/yinling-{rasa,actions}@.service`` (their ``ExecStart=`` and
``Environment=`` lines, ``%i`` = the port, ``/opt/yinling`` = this checkout), nginx from
``deploy/systemd/yinling-nginx.service`` with ``deploy/nginx.conf.tmpl`` rendered, and Rasa with
``deploy/endpoints.cluster.yml``. So the cluster tests exercise those files as they are.

Databases: ``<name>_tracker``, ``<name>_kb``, ``<name>_bookings`` and ``<name>_staff`` on the
PostgreSQL server of ``--pg`` (created when missing); Redis keys under the lock prefix ``<name>``
in the database of ``--redis``. ``make run`` stays the embedded single-machine default.

Also: ``render-nginx`` (print the nginx configuration for given ports), ``env-file`` (write the
``/etc/yinling/cluster.env`` the systemd units read).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    import psycopg

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.stack import (
    ROOT,
    StackError,
    base_env,
    compose_credentials,
    ensure_secrets,
    free_port,
    http_get,
    post_json,
    train_model,
)

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALL_DIR = "/opt/yinling"  # where the units expect the checkout; read as ROOT here
NGINX = os.environ.get("YINLING_NGINX", "/usr/sbin/nginx")
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# A conversation's Redis ticket is given up after this many seconds if its replica died holding it
# (Rasa's default is 60): a killed replica's conversations wait at most this long on the others.
# It must be longer than the slowest turn (the action timeout is 8 s).
LOCK_LIFETIME_S = 20


class ClusterError(StackError):
    pass


# -- systemd units ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """The part of a systemd unit this script runs: ``ExecStart=`` and ``Environment=``."""

    name: str
    exec_start: str
    environment: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Unit:
        exec_start = ""
        environment: dict[str, str] = {}
        section = ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]":
                continue
            key, _, value = line.partition("=")
            if key == "ExecStart":
                exec_start = value
            elif key == "Environment":
                name, _, setting = value.partition("=")
                environment[name] = setting
        if not exec_start:
            raise ClusterError(f"{path}: no ExecStart= in [Service]")
        return cls(path.name, exec_start, environment)

    def command(self, instance: str, env: Mapping[str, str]) -> list[str]:
        """ExecStart as argv: ``%i`` is the instance, ``${NAME}`` from ``env``, /opt/yinling is ROOT."""

        def expand(word: str) -> str:
            word = word.replace("%i", instance).replace(INSTALL_DIR, str(ROOT))

            def variable(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    raise ClusterError(f"{self.name}: ExecStart needs {name}, which is not set")
                return env[name]

            return re.sub(r"\$\{([A-Z0-9_]+)\}", variable, word)

        return [expand(word) for word in shlex.split(self.exec_start)]

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        merged = dict(base)
        for name, value in self.environment.items():
            merged[name] = value.replace(INSTALL_DIR, str(ROOT))
        return merged


def render_nginx(
    host: str, port: int, action_port: int, rasa_ports: list[int], action_ports: list[int], run_dir: Path
) -> str:
    """deploy/nginx.conf.tmpl with every @NAME@ filled in."""

    def servers(ports: list[int]) -> str:
        # max_fails/fail_timeout: a dead backend is skipped for 5 s after one failed connection.
        return "\n".join(f"        server {host}:{p} max_fails=1 fail_timeout=5s;" for p in ports)

    text = (DEPLOY / "nginx.conf.tmpl").read_text(encoding="utf-8")
    values = {
        "RUN_DIR": str(run_dir),
        "HOST": host,
        "PORT": str(port),
        "ACTION_PORT": str(action_port),
        "RASA_SERVERS": servers(rasa_ports),
        "ACTION_SERVERS": servers(action_ports),
    }
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ClusterError(f"deploy/nginx.conf.tmpl: no value for {', '.join(sorted(set(left)))}")
    return text


# -- databases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> Postgres:
        parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
        if parts.scheme != "postgresql" or not parts.hostname:
            raise ClusterError(f"--pg {url!r}: expected postgresql://user[:password]@host[:port]")
        user, password = unquote(parts.username or "postgres"), unquote(parts.password or "")
        return cls(parts.hostname, parts.port or 5432, user, password)

    def url(self, database: str) -> str:
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"postgresql+psycopg://{quote(self.user, safe='')}{secret}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def create(self, names: list[str]) -> None:
        from psycopg import sql

        with self._admin() as conn:
            have = {row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()}
            for name in names:
                if name not in have:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop(self, names: list[str]) -> None:
        from psycopg import sql

        with self._admin() as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def has_table(self, database: str, table: str) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or None,
                dbname=database,
                connect_timeout=5,
            ) as conn:
                row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        except psycopg.OperationalError:
            return False
        return bool(row and row[0])


@dataclass(frozen=True)
class Redis:
    host: str
    port: int
    db: int

    @classmethod
    def parse(cls, url: str) -> Redis:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ClusterError(f"--redis {url!r}: expected redis://host[:port][/db]")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ClusterError(f"--redis {url!r}: the database must be a number, e.g. redis://127.0.0.1:6379/0")
        return cls(parts.hostname, parts.port or 6379, int(path or 0))

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


# -- the cluster --------------------------------------------------------------------------------


@dataclass
class Cluster:
    """nginx, N Rasa replicas and M action servers, each process in its own process group."""

    model: Path
    workdir: Path
    name: str = "yinling"
    host: str = "127.0.0.1"
    port: int = 5005  # nginx: the channels and Rasa's API
    action_port: int = 5055  # nginx: the action servers, for the Rasa replicas
    rasa_ports: list[int] = field(default_factory=lambda: [5105, 5106])
    action_ports: list[int] = field(default_factory=lambda: [5155, 5156])
    action_workers: int = 1
    pg: str = DEFAULT_PG
    redis: str = DEFAULT_REDIS
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def isolated(
        cls, model: Path, workdir: Path, replicas: int = 2, action_servers: int = 2, **kwargs: object
    ) -> Cluster:
        """Every port free on loopback and databases of its own (tests, benchmarks)."""
        return cls(
            model=model,
            workdir=workdir,
            name=f"ylc_{uuid.uuid4().hex[:10]}",
            port=free_port(),
            action_port=free_port(),
            rasa_ports=[free_port() for _ in range(replicas)],
            action_ports=[free_port() for _ in range(action_servers)],
            **kwargs,  # type: ignore[arg-type]
        )

    # -- names and settings ---------------------------------------------------------------
    @property
    def databases(self) -> dict[str, str]:
        return {part: f"{self.name}_{part}" for part in ("tracker", "kb", "bookings", "staff")}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def replica_url(self, port: int) -> str:
        return f"http://{self.host}:{port}/webhooks/rest/webhook"

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def rest_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env()['YINLING_REST_TOKEN']}"}

    def env(self) -> dict[str, str]:
        pg, redis = Postgres.parse(self.pg), Redis.parse(self.redis)
        env = base_env()
        env.update(ensure_secrets(self.workdir, {**env, **self.extra_env}))
        dbs = self.databases
        env.update(
            {
                "YINLING_HOST": self.host,
                "YINLING_MODEL": str(self.model),
                "YINLING_CREDENTIALS": str(self.workdir / "credentials.yml"),
                "YINLING_RUN_DIR": str(self.run_dir),
                "YINLING_ACTION_WORKERS": str(self.action_workers),
                "YINLING_ACTION_URL": f"http://{self.host}:{self.action_port}/webhook",
                "YINLING_PG_HOST": pg.host,
                "YINLING_PG_PORT": str(pg.port),
                "YINLING_PG_USER": pg.user,
                "YINLING_PG_PASSWORD": pg.password,
                "YINLING_TRACKER_DB": dbs["tracker"],
                "YINLING_REDIS_HOST": redis.host,
                "YINLING_REDIS_PORT": str(redis.port),
                "YINLING_REDIS_DB": str(redis.db),
                "YINLING_LOCK_PREFIX": re.sub(r"[^A-Za-z0-9]", "", self.name),
                "REDIS_URL": redis.url,
                "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_S),
                "KB_DATABASE_URL": pg.url(dbs["kb"]),
                "BOOKINGS_DATABASE_URL": pg.url(dbs["bookings"]),
                "STAFF_DATABASE_URL": pg.url(dbs["staff"]),
                "STAFF_RASA_URL": self.url,
                # nginx adds X-Forwarded-For: the channels' per-address limits count the sender.
                "SANIC_PROXIES_COUNT": "1",
                # Rasa listens with a backlog of 100 by default: a burst of new connections from nginx
                # beyond that waits for SYN retries, and nginx's connect times out.
                "SANIC_BACKLOG": "1024",
            }
        )
        env.update(self.extra_env)
        return env

    # -- processes ------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = (logs / f"{name}.log").open("ab")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_unit(self, unit_file: str, instance: str, name: str) -> None:
        unit = Unit.load(UNITS / unit_file)
        env = unit.env(self.env())
        self._spawn(name, unit.command(instance, env), env)

    def start_rasa(self, port: int) -> None:
        self.start_unit("yinling-rasa@.service", str(port), f"rasa-{port}")

    def start_actions(self, port: int) -> None:
        self.start_unit("yinling-actions@.service", str(port), f"actions-{port}")

    def start_nginx(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "nginx.conf").write_text(
            render_nginx(self.host, self.port, self.action_port, self.rasa_ports, self.action_ports, self.run_dir),
            encoding="utf-8",
        )
        if not Path(NGINX).exists():
            raise ClusterError(f"{NGINX} is missing: run `make setup` (scripts/install_nginx.sh installs it)")
        self.start_unit("yinling-nginx.service", "", "nginx")

    def prepare(self) -> None:
        """Databases, the KB seeded and indexed once, the booking schedule: before any replica races."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        Postgres.parse(self.pg).create(list(self.databases.values()))
        env = self.env()
        compose_credentials(env, Path(env["YINLING_CREDENTIALS"]))
        python = str(ROOT / ".venv" / "bin" / "python")
        subprocess.run([python, "-m", "knowledge_base", "init"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [python, "-c", "from bookings.store import BookingStore; BookingStore().ensure_schedule()"],
            cwd=ROOT,
            env=env,
            check=True,
        )

    def start(self, timeout: float = 600.0) -> None:
        self.prepare()
        for port in self.action_ports:
            self.start_actions(port)
        # The first replica creates the tracker tables; the others start once they exist
        # (replicas creating them together would race on CREATE TABLE).
        first, *others = self.rasa_ports
        self.start_rasa(first)
        self.start_nginx()
        pg = Postgres.parse(self.pg)
        deadline = time.monotonic() + timeout
        while not pg.has_table(self.databases["tracker"], "events"):
            self._check_alive(f"rasa-{first}")
            if time.monotonic() > deadline:
                raise ClusterError(f"rasa-{first} made no tracker tables in {timeout:.0f} s")
            time.sleep(0.5)
        for port in others:
            self.start_rasa(port)
        self.wait_healthy(deadline - time.monotonic())

    def _check_alive(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is not None:
            raise ClusterError(f"{name} exited with code {process.returncode} while starting (see its log)")

    def health_urls(self) -> dict[str, str]:
        urls = {f"rasa-{p}": f"http://{self.host}:{p}/webhooks/rest/" for p in self.rasa_ports}
        urls.update({f"actions-{p}": f"http://{self.host}:{p}/health" for p in self.action_ports})
        urls["nginx"] = f"{self.url}/webhooks/rest/"
        return urls

    def wait_healthy(self, timeout: float, names: list[str] | None = None) -> None:
        pending = {k: v for k, v in self.health_urls().items() if names is None or k in names}
        deadline = time.monotonic() + max(timeout, 1.0)
        while pending:
            for name, url in list(pending.items()):
                self._check_alive(name)
                if http_get(url) == 200:
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise ClusterError(f"not healthy after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the named process's whole group (a replica's worker processes too)."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait()

    def stop(self, drop_databases: bool = False) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        for log in self._logs:
            log.close()
        self._logs.clear()
        if drop_databases:
            Postgres.parse(self.pg).drop(list(self.databases.values()))

    def say(self, sender: str, text: str, url: str | None = None) -> list[dict[str, object]]:
        answer = post_json(url or self.rest_url, {"sender": sender, "message": text}, headers=self.rest_headers)
        if not isinstance(answer, list):
            raise ClusterError(f"unexpected answer from the REST channel: {answer!r}")
        return answer


def env_file(cluster: Cluster) -> str:
    """The /etc/yinling/cluster.env the systemd units read (secrets included: mode 0600)."""
    lines = [
        f"{name}={value}"
        for name, value in sorted(cluster.env().items())
        if name.startswith(("YINLING_", "KB_", "BOOKINGS_", "STAFF_", "REDIS_", "TICKET_", "SANIC_", "RASA_"))
    ]
    return "\n".join(lines) + "\n"


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


def build(args: argparse.Namespace, model: Path) -> Cluster:
    return Cluster(
        model=model,
        workdir=args.workdir,
        name=args.name,
        host=args.host,
        port=args.port,
        action_port=args.action_port,
        rasa_ports=_ports(args.rasa_ports),
        action_ports=_ports(args.action_ports),
        action_workers=args.action_workers,
        pg=args.pg,
        redis=args.redis,
    )


def run(args: argparse.Namespace) -> int:
    cluster = build(args, train_model())

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(
            f"run-cluster: nginx on {cluster.port} (actions {cluster.action_port}), Rasa replicas on "
            f"{', '.join(map(str, cluster.rasa_ports))}, action servers on "
            f"{', '.join(map(str, cluster.action_ports))}; PostgreSQL databases {cluster.name}_*; Redis {cluster.redis}",
            flush=True,
        )
        cluster.start(timeout=args.timeout)
        print(
            "\n银龄助手 is running as a cluster.\n"
            f"  REST channel: POST {cluster.rest_url}  (token: YINLING_REST_TOKEN, else {args.workdir}/secrets.json)\n"
            f"  Web page: {cluster.url}/webhooks/webchat/\n"
            f"  Logs: {args.workdir / 'logs'}\n"
            "  Stop: Ctrl-C\n",
            flush=True,
        )
        restarts: dict[str, int] = {}
        while True:  # like systemd's Restart=always: a process that dies is started again
            for name, process in list(cluster.processes.items()):
                if process.poll() is None:
                    continue
                del cluster.processes[name]
                restarts[name] = restarts.get(name, 0) + 1
                print(f"run-cluster: {name} stopped (exit code {process.returncode}); restarting it.", flush=True)
                time.sleep(min(30.0, 2.0 ** restarts[name]))
                kind, _, port = name.partition("-")
                if kind == "rasa":
                    cluster.start_rasa(int(port))
                elif kind == "actions":
                    cluster.start_actions(int(port))
                else:
                    cluster.start_nginx()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nrun-cluster: stopping …", flush=True)
        return 0
    except (StackError, subprocess.CalledProcessError) as err:
        print(f"run-cluster: {err}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run 银龄助手 as a cluster on loopback (see the module docstring).")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("run", "render-nginx", "env-file"):
        p = sub.add_parser(command)
        p.add_argument("--host", default=os.environ.get("YINLING_HOST", "127.0.0.1"))
        p.add_argument("--port", type=int, default=int(os.environ.get("YINLING_RASA_PORT", "5005")))
        p.add_argument("--action-port", type=int, default=int(os.environ.get("YINLING_ACTION_PORT", "5055")))
        p.add_argument("--rasa-ports", default="5105,5106", help="one Rasa replica per port (comma-separated)")
        p.add_argument("--action-ports", default="5155,5156", help="one action server per port")
        p.add_argument("--action-workers", type=int, default=1, help="processes per action server")
        p.add_argument("--name", default="yinling", help="database name prefix and Redis lock prefix")
        p.add_argument("--pg", default=os.environ.get("YINLING_CLUSTER_PG", DEFAULT_PG))
        p.add_argument("--redis", default=os.environ.get("YINLING_CLUSTER_REDIS", DEFAULT_REDIS))
        p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the servers")
        p.add_argument("--workdir", type=Path, default=Path(os.environ.get("YINLING_VAR", ROOT / "var")) / "cluster")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    cluster = build(args, Path(os.environ.get("YINLING_MODEL", str(ROOT / "models" / "model.tar.gz"))))
    if args.command == "render-nginx":
        sys.stdout.write(
            render_nginx(
                cluster.host,
                cluster.port,
                cluster.action_port,
                cluster.rasa_ports,
                cluster.action_ports,
                cluster.run_dir,
            )
        )
    else:
        sys.stdout.write(env_file(cluster))
    return 0


if __name__ == "__main__":
    sys.exit(main())
