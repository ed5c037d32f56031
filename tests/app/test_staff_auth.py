"""The staff app's doors: login, sessions, CSRF, roles, throttling, and the HTTP protocol layer.

The app runs under uvicorn on loopback (real sockets: the protocol tests need them), without
Rasa: nothing here reaches a conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from staff.accounts import delay_for
from staff.db import StaffDB, audit, sessions, users
from tests.app.staff_support import PASSWORD, SECRETS, Served, login, make_user, serve, settings_for

ROOT = Path(__file__).resolve().parents[2]
# The only routes anyone may reach without logging in.
PUBLIC = {("GET", "/health"), ("GET", "/login"), ("POST", "/login")}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = settings_for(tmp_path, STAFF_LOCKOUT_FAILURES="4")
    make_user(settings, "wang", "agent")
    make_user(settings, "boss", "admin")
    with serve(settings) as running:
        yield running


def _routes(served: Served) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, with path parameters filled in."""
    schema_paths = {
        path: {m.upper() for m in methods} for path, methods in served.app.openapi().get("paths", {}).items()
    }
    hidden = [
        (route.path, route.methods) for route in served.app.routes if isinstance(route, APIRoute)
    ]  # include_in_schema=False routes (pages, login, internal) are only in app.routes
    found = []
    for path, methods in [*schema_paths.items(), *hidden]:
        filled = re.sub(r"\{[a-z_]+\}", "1", re.sub(r"\{entry_id\}", "svc-x", path))
        found.extend((method, filled) for method in methods)
    return sorted(set(found))


def _audit_count(served: Served) -> int:
    with StaffDB(served.settings.database_url).read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar_one())


def test_every_route_refuses_without_a_session(served: Served) -> None:
    routes = _routes(served)
    assert len(routes) > 30
    anonymous = httpx.Client(base_url=served.url, timeout=10)
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        answer = anonymous.request(method, path, json={} if method != "GET" else None)
        if path.startswith(("/api/", "/internal/", "/logout")):
            assert answer.status_code == 401, (method, path, answer.status_code)
        else:  # pages send the browser to the login page
            assert answer.status_code == 303 and answer.headers["location"] == "/login", (method, path)
    # A wrong or malformed credential is no better than none.
    for header in ("Bearer ylst_guessed-token-0123456789", "Basic Ym9zczpwdw==", "Bearer x", "ylst_x"):
        assert anonymous.get("/api/queue", headers={"Authorization": header}).status_code == 401
    assert anonymous.get("/api/queue", cookies={"yl_staff": "forged-session"}).status_code == 401


def test_an_agent_cannot_reach_admin_routes(served: Served) -> None:
    agent, csrf = login(served.url, "wang")
    admin_routes = [(m, p) for m, p in _routes(served) if p.startswith(("/api/admin", "/api/users", "/api/kb"))]
    assert len(admin_routes) >= 12
    for method, path in admin_routes:
        answer = agent.request(method, path, json={"reason": "x"}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert agent.get("/admin").status_code == 403
    assert agent.get("/api/queue").status_code == 200
    boss, _ = login(served.url, "boss")
    assert boss.get("/api/kb/entries").status_code == 200
    assert boss.get("/admin").status_code == 200


def test_state_changing_requests_need_the_csrf_token(served: Served) -> None:
    boss, csrf = login(served.url, "boss")
    version = served.kb.version()
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
        assert boss.post("/api/handoffs/next", headers=headers).status_code == 403
        assert boss.post("/logout", headers=headers).status_code == 403
        entry = {"entry": served.kb.entries()[0].to_dict() | {"answer": "改了"}, "reason": "csrf test"}
        assert boss.put(f"/api/kb/entries/{served.kb.entries()[0].id}", json=entry, headers=headers).status_code == 403
    assert served.kb.version() == version, "nothing was changed without the token"
    assert boss.post("/api/handoffs/next", headers={"X-CSRF-Token": csrf}).status_code == 404  # nobody waiting
    # The login form has its own token (a cookie and a field that must match).
    fresh = httpx.Client(base_url=served.url)
    fresh.get("/login")
    refused = fresh.post("/login", data={"username": "boss", "password": PASSWORD, "csrf": "made-up"})
    assert refused.status_code == 403 and "yl_staff" not in refused.cookies


def test_session_cookie_is_httponly_and_strict_and_secure_behind_tls(served: Served, tmp_path: Path) -> None:
    client = httpx.Client(base_url=served.url)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"username": "wang", "password": PASSWORD, "csrf": csrf})
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("yl_staff="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http on loopback
    secure = settings_for(tmp_path / "tls", STAFF_COOKIE_SECURE="1")
    (tmp_path / "tls").mkdir()
    make_user(secure, "li", "agent")
    with serve(secure) as running:
        client = httpx.Client(base_url=running.url)
        page = client.get("/login")
        login_cookie = page.headers["set-cookie"]
        assert "Secure" in login_cookie and "HttpOnly" in login_cookie
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        # A client over plain http would not send a Secure cookie back: hand it over as TLS would.
        answer = httpx.post(
            f"{running.url}/login",
            data={"username": "li", "password": PASSWORD, "csrf": csrf},
            cookies={"yl_login": csrf},
        )
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("yl_staff="))
        assert "Secure" in cookie


def test_passwords_are_argon2_hashes_and_sessions_are_stored_hashed(served: Served) -> None:
    client, _ = login(served.url, "wang")
    with StaffDB(served.settings.database_url).read() as conn:
        hashed = conn.execute(sa.select(users.c.password_hash).where(users.c.username == "wang")).scalar_one()
        stored = conn.execute(sa.select(sessions.c.id_hash)).scalars().all()
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert client.cookies["yl_staff"] not in stored


def test_login_brute_force_is_slowed_then_locked(served: Served) -> None:
    def attempt(password: str, username: str = "wang") -> httpx.Response:
        client = httpx.Client(base_url=served.url)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        return client.post("/login", data={"username": username, "password": password, "csrf": csrf})

    statuses = [attempt(f"guess-number-{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert served.sleeps == [delay_for(1), delay_for(2), delay_for(3), delay_for(4)]
    assert served.sleeps == sorted(served.sleeps) and served.sleeps[0] < served.sleeps[-1]
    locked = attempt(PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60, "locked even with the right password"
    with StaffDB(served.settings.database_url).read() as conn:
        failed = conn.execute(sa.select(audit.c.action).where(audit.c.action == "login_failed")).all()
    assert len(failed) == 5
    # Names that do not exist are slowed per address just the same.
    served.sleeps.clear()
    for i in range(3):
        assert attempt("whatever-password", username=f"nobody{i}").status_code == 401
    assert served.sleeps == [delay_for(1), delay_for(2), delay_for(3)]


def test_logins_per_address_are_rate_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_RATE_STAFF_LOGIN", "1/3")
    settings = settings_for(tmp_path)
    make_user(settings, "wang", "agent")
    with serve(settings) as running:
        client = httpx.Client(base_url=running.url)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        codes = [
            client.post("/login", data={"username": "wang", "password": f"wrong-{i}", "csrf": csrf}).status_code
            for i in range(5)
        ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_an_idle_session_ends(served: Served) -> None:
    client, _ = login(served.url, "wang")
    assert client.get("/api/me").status_code == 200
    with StaffDB(served.settings.database_url).write() as conn:
        conn.execute(sessions.update().values(last_seen=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)))
    assert client.get("/api/me").status_code == 401
    assert client.get("/console").status_code == 303


def test_api_tokens_work_for_scripts_without_csrf(served: Served) -> None:
    user = served.accounts.by_name("boss")
    token = served.accounts.new_api_token(user.id)
    script = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"})
    entry = served.kb.entries()[0]
    change = {"entry": entry.to_dict() | {"answer": "脚本改的短答案。"}, "reason": "脚本测试"}
    answer = script.put(f"/api/kb/entries/{entry.id}", json=change)
    assert answer.status_code == 200, answer.text
    assert served.kb.get(entry.id).answer == "脚本改的短答案。"
    assert served.kb.history(entry.id)[-1].author == "staff:boss"
    with StaffDB(served.settings.database_url).read() as conn:
        assert token not in str(conn.execute(sa.select(users.c.api_token_hash)).scalars().all())
        kb_rows = conn.execute(sa.select(audit.c.actor, audit.c.target).where(audit.c.action == "kb_change")).all()
    assert [(r.actor, r.target) for r in kb_rows] == [("boss", f"edit {entry.id}")]
    agent_token = served.accounts.new_api_token(served.accounts.by_name("wang").id)
    assert (
        httpx.get(f"{served.url}/api/kb/entries", headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403
    )


# -- the protocol layer (the old admin API's findings) -------------------------------------------


def _raw(served: Served, data: bytes, timeout: float = 5.0) -> bytes:
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_line", "extra", "status"),
    [
        ("POST /api/kb/entries", "Content-Type: application/json\r\n", 401),  # refused: no login
        ("POST /no-such-page", "Content-Type: application/json\r\n", 404),
        ("PATCH /health", "Content-Type: application/json\r\n", 405),
        ("POST /api/kb/entries", "Content-Type: text/plain\r\n", 415),
    ],
)
def test_a_refused_requests_body_is_never_read_as_the_next_request(
    served: Served, request_line: str, extra: str, status: int
) -> None:
    smuggled = b"GET /api/queue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ylst_x\r\n\r\n"
    first = f"{request_line} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {len(smuggled)}\r\n\r\n".encode()
    follow = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _raw(served, first + smuggled + follow)
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    # Either the connection closed after the refusal, or the next real request got its answer;
    # the smuggled bytes were never answered as a request of their own.
    assert statuses in ([status], [status, 200]), answer[:500]
    assert _audit_count(served) == 0


def test_a_negative_or_malformed_content_length_is_refused_at_once(served: Served) -> None:
    for value in (b"-1", b"abc", b"1 2"):
        answer = _raw(served, b"POST /api/kb/entries HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_bodies_over_the_cap_are_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, STAFF_MAX_BODY_BYTES="2048")
    make_user(settings, "boss", "admin")
    with serve(settings) as running:
        token = running.accounts.new_api_token(running.accounts.by_name("boss").id)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        big = b'{"reason": "' + b"x" * 5000 + b'"}'
        assert httpx.post(f"{running.url}/api/kb/import", content=big, headers=headers).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(5):
                yield b" " * 1000

        chunked = httpx.post(f"{running.url}/api/kb/import", content=chunks(), headers=headers)
        assert chunked.status_code == 413


def test_a_token_in_the_query_string_is_refused_and_never_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    token = served.accounts.new_api_token(served.accounts.by_name("boss").id)
    with caplog.at_level(logging.DEBUG):
        answer = httpx.get(f"{served.url}/api/kb/entries", params={"token": token, "access_token": token})
        assert answer.status_code == 401
        # The server thread writes its access line after the response has gone out: wait for it.
        deadline = time.monotonic() + 30
        while not any("/api/kb/entries 401" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the access log names the path"
            time.sleep(0.05)
    server_side = [r for r in caplog.records if r.name.split(".")[0] not in ("httpx", "httpcore")]
    assert all(token not in r.getMessage() for r in server_side)


def test_unauthenticated_requests_write_no_audit_rows(served: Served) -> None:
    for _ in range(20):
        httpx.post(f"{served.url}/api/kb/entries", json={"entry": {}, "reason": "x"})
        httpx.get(f"{served.url}/api/kb/version", headers={"Authorization": "Bearer ylst_nope"})
    assert _audit_count(served) == 0


def test_error_responses_never_echo_the_request(served: Served) -> None:
    boss, csrf = login(served.url, "boss")
    marker = "秘密-13912345678-MARKER"
    bad_json = boss.post(
        "/api/kb/entries",
        content=b'{"entry": "' + marker.encode() + b'",',
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    wrong_type = boss.post("/api/kb/entries", json={"entry": marker, "reason": 5}, headers={"X-CSRF-Token": csrf})
    too_long = boss.post("/api/handoffs/1/reply", json={"text": marker * 200}, headers={"X-CSRF-Token": csrf})
    bad_query = boss.get("/api/assist/search", params={"q": marker * 100})
    assert bad_json.status_code == 400 and wrong_type.status_code == 422
    assert too_long.status_code == 422 and bad_query.status_code == 422
    for answer in (bad_json, wrong_type, too_long, bad_query):
        assert marker not in answer.text and "1391234" not in answer.text, answer.text


def test_requests_per_user_and_per_address_are_rate_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_RATE_STAFF_USER", "1/5")
    monkeypatch.setenv("YINLING_RATE_STAFF_IP", "1/12")
    settings = settings_for(tmp_path)
    make_user(settings, "wang", "agent")
    with serve(settings) as running:
        client, _ = login(running.url, "wang")  # 3 requests from this address
        codes = [client.get("/api/me").status_code for _ in range(6)]
        assert codes[:4] == [200] * 4 and codes[5] == 429  # the login's /console took the first token
        more = [httpx.get(f"{running.url}/login").status_code for _ in range(6)]
        assert 429 in more, "the address limit applies to everyone"
        limited = httpx.get(f"{running.url}/login")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_the_first_admin_is_made_with_the_documented_command(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "STAFF_DATABASE_URL": f"sqlite:///{tmp_path / 'staff.sqlite'}",
        **SECRETS,
    }
    python = ROOT / ".venv" / "bin" / "python"
    made = subprocess.run(
        [python, "-m", "staff", "create-user", "--role", "admin", "chief"],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stdout + made.stderr
    short = subprocess.run(
        [python, "-m", "staff", "create-user", "--role", "agent", "li"],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert short.returncode == 2 and "10" in short.stderr
    typo = subprocess.run(
        [python, "-m", "staff", "list-users"],
        env={**env, "STAFF_IDLE_MINUTE": "5"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert typo.returncode == 2 and "STAFF_IDLE_MINUTE" in typo.stderr and "STAFF_IDLE_MINUTES" in typo.stderr
    listed = subprocess.run(
        [python, "-m", "staff", "list-users"], env=env, capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert listed.stdout.startswith("chief\tadmin\tactive")
    settings = settings_for(tmp_path)
    with serve(settings) as running:
        login(running.url, "chief")
        with StaffDB(settings.database_url).read() as conn:
            actions = conn.execute(sa.select(audit.c.action, audit.c.actor).order_by(audit.c.id)).all()
    assert [a.action for a in actions] == ["user_created", "login"]
    assert sys.executable  # the subprocesses used the project's .venv, not this interpreter by accident


def test_the_rasa_guard_and_the_staff_app_derive_the_same_notify_key() -> None:
    """channels/guard.py (Rasa runtime) and staff/web.py (app runtime) cannot import each other."""
    from staff.web import notify_key

    rasa_python = ROOT / ".venv-rasa" / "bin" / "python"
    if not rasa_python.exists():
        pytest.skip("the Rasa runtime (.venv-rasa) is not installed")
    guard = subprocess.run(
        [rasa_python, "-c", "from channels.guard import notify_key; print(notify_key('a-staff-secret-0123456789'))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert guard.stdout.strip() == notify_key("a-staff-secret-0123456789")
    assert notify_key("a-staff-secret-0123456789") != notify_key("another-secret-0123456789")


def test_logging_out_ends_the_session(served: Served) -> None:
    client, csrf = login(served.url, "wang")
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/me").status_code == 401
    with StaffDB(served.settings.database_url).read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar_one() == 0
