"""The cluster's files as scripts/cluster.py reads them, and the action server's worker processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from scripts.cluster import (
    UNITS,
    Cluster,
    ClusterError,
    Postgres,
    Redis,
    Unit,
    env_file,
    render_nginx,
)
from scripts.stack import APP_VENV, ROOT, base_env, free_port

NGINX = Path("/usr/sbin/nginx")


def test_the_nginx_template_renders_to_a_configuration_nginx_accepts(tmp_path: Path) -> None:
    text = render_nginx("127.0.0.1", 18005, 18055, [18105, 18106], [18155, 18156], tmp_path)
    assert "@" not in text.replace("$", "")
    assert text.count("server 127.0.0.1:181") == 4
    assert "proxy_next_upstream error non_idempotent;" in text and "timeout non_idempotent" not in text
    if not NGINX.exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: scripts/install_nginx.sh (make setup) installs it")
        pytest.skip("nginx is not installed")
    (tmp_path / "nginx.conf").write_text(text, encoding="utf-8")
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_units_expand_their_instance_variables_and_install_dir() -> None:
    rasa = Unit.load(UNITS / "yinling-rasa@.service")
    env = {
        "YINLING_MODEL": "/m/model.tar.gz",
        "YINLING_HOST": "127.0.0.1",
        "YINLING_CREDENTIALS": "/c.yml",
    }
    argv = rasa.command("5106", env)
    assert argv[0] == str(ROOT / ".venv-rasa" / "bin" / "python")
    assert argv[argv.index("--port") + 1] == "5106"
    assert argv[argv.index("--model") + 1] == "/m/model.tar.gz"
    assert argv[argv.index("--endpoints") + 1] == str(ROOT / "deploy" / "endpoints.cluster.yml")
    assert rasa.env({})["PYTHONPATH"] == str(ROOT)
    with pytest.raises(ClusterError, match="YINLING_MODEL"):
        rasa.command("5106", {"YINLING_HOST": "x", "YINLING_CREDENTIALS": "y"})
    for name in ("yinling-actions@.service", "yinling-nginx.service"):
        assert Unit.load(UNITS / name).exec_start


def test_a_unit_without_execstart_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "x.service"
    broken.write_text("[Unit]\nDescription=x\n[Service]\nType=simple\n", encoding="utf-8")
    with pytest.raises(ClusterError, match="ExecStart"):
        Unit.load(broken)


def test_database_and_redis_addresses_are_checked() -> None:
    pg = Postgres.parse("postgresql+psycopg://yl:s%40cret@db.example:6432/ignored")
    assert (pg.host, pg.port, pg.user, pg.password) == ("db.example", 6432, "yl", "s@cret")
    assert pg.url("x_kb") == "postgresql+psycopg://yl:s%40cret@db.example:6432/x_kb"
    assert Redis.parse("redis://127.0.0.1:6380/3").url == "redis://127.0.0.1:6380/3"
    with pytest.raises(ClusterError, match="postgresql://"):
        Postgres.parse("mysql://db/x")
    with pytest.raises(ClusterError, match="number"):
        Redis.parse("redis://127.0.0.1:6379/cache")


def test_every_variable_the_endpoints_and_units_read_is_set(tmp_path: Path) -> None:
    cluster = Cluster(model=tmp_path / "m.tar.gz", workdir=tmp_path)
    env = cluster.env()
    wanted = set()
    for path in [ROOT / "deploy" / "endpoints.cluster.yml", *UNITS.glob("*.service")]:
        wanted |= set(re.findall(r"\$\{([A-Z0-9_]+)\}", path.read_text(encoding="utf-8")))
    assert wanted <= set(env), wanted - set(env)
    written = env_file(cluster)
    assert "YINLING_ACTION_TOKEN=" in written and "KB_DATABASE_URL=postgresql+psycopg://" in written


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


def test_action_server_workers_share_one_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **base_env(),
        "YINLING_ACTION_TOKEN": "action-token-for-tests-0123456789",
        "YINLING_WARM_KB": "0",
        "KB_DATABASE_URL": f"sqlite:///{tmp_path / 'kb.sqlite'}",
        "BOOKINGS_DATABASE_URL": f"sqlite:///{tmp_path / 'bookings.sqlite'}",
    }
    log = (tmp_path / "actions.log").open("wb")
    process = subprocess.Popen(
        [str(APP_VENV / "bin" / "python"), "-m", "actions.server", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "actions.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the workers never answered"
            time.sleep(0.3)
        workers = _children(process.pid)
        assert len(workers) == 2
        # Each answer closes its connection, so that Rasa's kept-alive calls are spread anew over the workers.
        with httpx.Client() as client:
            assert client.get(f"http://127.0.0.1:{port}/health").headers.get("connection") == "close"
        # Both workers listen on the port (SO_REUSEPORT): each one's sockets include a listener. The first
        # to answer /health may be ready before the other, so wait (within the deadline) for both.
        while True:
            listening = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
            if all(f"pid={pid}," in listening for pid in workers):
                break
            assert process.poll() is None, (tmp_path / "actions.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, listening
            time.sleep(0.3)
        # One worker dying takes the others down: the supervisor above (systemd, run-cluster) restarts all.
        os.kill(workers[0], signal.SIGKILL)
        assert process.wait(timeout=30) != 0
        for pid in workers[1:]:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
