"""Fuzz the staff app's login, admin, KB API and attendance routes in process (app runtime: ``.venv/bin/python -m fuzz.staff``).

The app is built as ``python -m staff serve`` builds it (:func:`staff.app.create_app` inside its
:class:`staff.web.ProtocolGuard`) on a fresh SQLite staff database, knowledge base and bookings
database in a temporary folder, and driven through ASGI (:mod:`fuzz.core`). Callers are an admin with
an API token (KB API, attendance), an admin's or an agent's browser session with its CSRF token
(``/api/users``, the 到场登记 page and its 已到/未到 POST), and a browser at ``/login``. The bookings
database holds one booking whose time has come, one still to come and one cancelled, so the
attendance POST meets each of its answers (marked, 409 not yet, 409 cancelled, 404).

Two things are changed for speed, neither on the request path under test: argon2 hashes with its
cheapest parameters (a login costs microseconds instead of 50 ms: the fuzzer is after what the
route does with odd input, not after the hash), and the growing delay after failed logins is not
slept (it is still computed).

Routes (each gets ``--inputs`` generated requests): see :data:`ROUTES`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("REDIS_URL", None)

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fuzz.core import (
    Answer,
    ASGIApp,
    Probe,
    Route,
    RouteResult,
    call_http,
    environment,
    replay,
    run_route,
    share,
    summary_line,
    watching_logs,
)
from fuzz.mutate import Mutator

logger = logging.getLogger("fuzz.staff")

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test value
ADMIN = "fuzzadmin"
ROUTES = (
    "login",
    "kb-list",
    "kb-get",
    "kb-history",
    "kb-add",
    "kb-edit",
    "kb-delete",
    "kb-restore",
    "kb-import",
    "kb-export",
    "users-create",
    "attendance-page",
    "attendance-list",
    "attendance-mark",
)


class Staff:
    """The staff app under test and the credentials the generators use."""

    def __init__(self, folder: Path, seed_entries: int = 5) -> None:
        from knowledge_base.files import builtin_entries
        from knowledge_base.store import KBStore
        from staff.accounts import Accounts
        from staff.app import create_app
        from staff.config import Settings
        from staff.db import StaffDB
        from staff.web import LOGIN_COOKIE, SESSION_COOKIE, ProtocolGuard

        env = {
            "STAFF_DATABASE_URL": f"sqlite:///{folder / 'staff.sqlite'}",
            "YINLING_STAFF_SECRET": "f" * 32,
            "YINLING_RASA_JWT_SECRET": "j" * 32,
            "STAFF_RASA_URL": "http://127.0.0.1:9",
        }
        self.settings = Settings.from_env(env)
        self.kb = KBStore(f"sqlite:///{folder / 'kb.sqlite'}")
        self.entries = builtin_entries()[:seed_entries]
        self.kb.seed_if_empty(self.entries)
        self.ids = [e.id for e in self.entries]
        self.bookings, self.codes = past_and_future_bookings(f"sqlite:///{folder / 'bookings.sqlite'}")

        async def no_sleep(_: float) -> None:
            return None

        with environment(**{f"YINLING_RATE_{n}": "600000/100000" for n in ("STAFF_IP", "STAFF_USER", "STAFF_LOGIN")}):
            app = create_app(self.settings, kb=self.kb, bookings=self.bookings, sleep=no_sleep, background=False)
        self.app: ASGIApp = ProtocolGuard(app, self.settings.max_body_bytes, app.state.limiters["ip"])
        accounts = Accounts(StaffDB(self.settings.database_url), self.settings)
        admin = accounts.create_user(ADMIN, PASSWORD, "admin")
        accounts.create_user("fuzzagent", PASSWORD, "agent")
        self.token = accounts.new_api_token(admin.id)
        _, self.session_cookie = accounts.login(ADMIN, PASSWORD)
        session = accounts.session(self.session_cookie)
        assert session is not None
        self.csrf = session.csrf_token
        _, self.agent_cookie = accounts.login("fuzzagent", PASSWORD)
        agent_session = accounts.session(self.agent_cookie)
        assert agent_session is not None
        self.agent_csrf = agent_session.csrf_token
        self.session_name, self.login_name = SESSION_COOKIE, LOGIN_COOKIE
        self.login_csrf = "fuzz-login-csrf-0123456789"


def past_and_future_bookings(url: str) -> tuple[Any, list[str]]:
    """A bookings store with a 助餐 booking three days ago, one cancelled before it began and one
    tomorrow (as ``tests/app/test_attendance.py`` makes them); their codes: past, tomorrow, cancelled."""
    from bookings.catalog import SHANGHAI
    from bookings.store import BookingStore

    today = dt.datetime.now(SHANGHAI).date()
    morning = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(8, 0), SHANGHAI)
    then = BookingStore(url, clock=lambda: morning)  # the store as it was three days ago at 08:00
    then.ensure_schedule(morning.date(), days=5)
    sittings = then.find_slots("meal", morning, morning + dt.timedelta(hours=12))
    past = then.book(sittings[0].id, "web-fuzz-a", "王桂芳", "13912345678")
    cancelled = then.book(sittings[1].id, "web-fuzz-b", "李建国", "13800001234")
    then.cancel(cancelled.code, "web-fuzz-b")
    then.dispose()
    store = BookingStore(url)
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), SHANGHAI)
    later = store.book(
        store.find_slots("meal", tomorrow, tomorrow + dt.timedelta(days=1))[0].id, "web-fuzz-c", "张三", "13700007777"
    )
    return store, [past.code, later.code, cancelled.code]


@contextlib.contextmanager
def cheap_hashing() -> Iterator[None]:
    """argon2 at its cheapest while the fuzzer runs (see the module docstring), as it was afterwards."""
    from argon2 import PasswordHasher

    import staff.accounts

    saved = staff.accounts._hasher, staff.accounts._DUMMY_HASH
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    staff.accounts._hasher, staff.accounts._DUMMY_HASH = cheap, cheap.hash("not a password of anyone")
    try:
        yield
    finally:
        staff.accounts._hasher, staff.accounts._DUMMY_HASH = saved


def _client(m: Mutator) -> str:
    if m.chance(0.01):
        return m.pick(["::1", "", "not-an-ip"])
    return f"192.0.2.{m.rng.randrange(256)}"


def _method(m: Mutator, good: str) -> str:
    if m.chance(0.03):
        return str(m.pick(["GET", "PUT", "DELETE", "PATCH", "POST", "OPTIONS", "HEAD", "BREW"]))
    return good


def _entry_id(m: Mutator, ids: list[str]) -> str:
    roll = m.rng.random()
    if roll < 0.6:
        return str(ids[m.rng.randrange(len(ids))])
    if roll < 0.8:
        return f"fuzz-{m.rng.randrange(1000)}"
    return urllib.parse.quote(m.text()[:80] or "x", safe="", errors="surrogatepass")


def _api(
    st: Staff, m: Mutator, method: str, path: str, body: bytes = b"", query: bytes = b"", json_body: bool = True
) -> Probe:
    headers: list[tuple[str, str]] = []
    if json_body:
        ctype = m.content_type("application/json")
        if ctype is not None:
            headers.append(("content-type", ctype))
    auth = m.authorization(f"Bearer {st.token}")
    if auth is not None:
        headers.append(("authorization", auth))
    elif m.chance(0.5):  # a browser: the session cookie, with or without the CSRF header
        headers.append(("cookie", f"{st.session_name}={st.session_cookie}"))
        if m.chance(0.7):
            headers.append(("x-csrf-token", st.csrf if m.chance(0.7) else m.ascii_token()))
    headers.extend(m.extra_headers())
    return Probe(_method(m, method), path, query=query, headers=headers, body=body, client=_client(m))


def _entry(m: Mutator, st: Staff, new_id: bool) -> dict[str, Any]:
    entry = dict(m.pick(st.entries).to_dict())
    if new_id:
        entry["id"] = f"fuzz-{m.rng.randrange(1000)}"
    if m.chance(0.5):
        entry["answer"] = (m.text() or "答")[:120]
    return entry


def login_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:login")

    def make(_: int) -> Probe:
        valid = {
            "username": m.pick([ADMIN, "fuzzagent", "nobody", ADMIN.upper()]),
            "password": PASSWORD if m.chance(0.3) else m.text()[:100],
            "csrf": st.login_csrf,
        }
        fields = list(valid.items())
        for _ in range(m.rng.randrange(0, 3)):
            op = m.rng.randrange(4)
            if op == 0 and fields:
                del fields[m.rng.randrange(len(fields))]
            elif op == 1 and fields:
                i = m.rng.randrange(len(fields))
                fields[i] = (fields[i][0], m.text())
            elif op == 2 and fields:
                fields.append(m.pick(fields))
            else:
                fields.append((m.key(), m.text()))
        body = urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass").encode("ascii")
        if m.chance(0.1):
            body = m.corrupt(body)
        headers: list[tuple[str, str]] = []
        ctype = m.content_type("application/x-www-form-urlencoded")
        if ctype is not None:
            headers.append(("content-type", ctype))
        if m.chance(0.9):
            cookie = st.login_csrf if m.chance(0.9) else m.ascii_token()
            headers.append(("cookie", f"{st.login_name}={cookie}"))
        headers.extend(m.extra_headers())
        return Probe(_method(m, "POST"), "/login", headers=headers, body=body, client=_client(m))

    return Route("staff POST /login", st.app, make)


def kb_list_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-list")

    def make(_: int) -> Probe:
        query = b""
        if m.chance(0.6):
            value = m.pick(["legal", "care", "insurance", "", m.text()[:60]])
            query = b"collection=" + urllib.parse.quote(value, safe="", errors="surrogatepass").encode()
        return _api(st, m, "GET", "/api/kb/entries", query=query, json_body=False)

    return Route("staff GET /api/kb/entries", st.app, make)


def kb_get_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-get")
    return Route(
        "staff GET /api/kb/entries/{id}",
        st.app,
        lambda _: _api(st, m, "GET", f"/api/kb/entries/{_entry_id(m, st.ids)}", json_body=False),
    )


def kb_history_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-history")
    return Route(
        "staff GET /api/kb/entries/{id}/history",
        st.app,
        lambda _: _api(st, m, "GET", f"/api/kb/entries/{_entry_id(m, st.ids)}/history", json_body=False),
    )


def kb_add_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-add")

    def make(_: int) -> Probe:
        body = m.json_body({"entry": _entry(m, st, new_id=True), "reason": "模糊测试"})
        return _api(st, m, "POST", "/api/kb/entries", body=body)

    return Route("staff POST /api/kb/entries", st.app, make)


def kb_edit_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-edit")

    def make(_: int) -> Probe:
        entry = _entry(m, st, new_id=False)
        path_id = entry["id"] if m.chance(0.8) else _entry_id(m, st.ids)
        body = m.json_body({"entry": entry, "reason": "模糊测试"})
        return _api(st, m, "PUT", f"/api/kb/entries/{path_id}", body=body)

    return Route("staff PUT /api/kb/entries/{id}", st.app, make)


def kb_delete_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-delete")

    def make(_: int) -> Probe:
        # Mostly entries the add route made (fuzz-N), so the seeded ones stay for the other routes.
        entry_id = f"fuzz-{m.rng.randrange(1000)}" if m.chance(0.8) else _entry_id(m, st.ids)
        return _api(st, m, "DELETE", f"/api/kb/entries/{entry_id}", body=m.json_body({"reason": "模糊测试"}))

    return Route("staff DELETE /api/kb/entries/{id}", st.app, make)


def kb_restore_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-restore")

    def make(_: int) -> Probe:
        body = m.json_body({"revision": m.rng.randrange(1, 4), "reason": "模糊测试"})
        return _api(st, m, "POST", f"/api/kb/entries/{_entry_id(m, st.ids)}/restore", body=body)

    return Route("staff POST /api/kb/entries/{id}/restore", st.app, make)


def kb_import_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-import")

    def make(_: int) -> Probe:
        entries = [_entry(m, st, new_id=m.chance(0.5)) for _ in range(m.rng.randrange(0, 4))]
        body = m.json_body({"entries": entries, "reason": "模糊测试"})
        return _api(st, m, "POST", "/api/kb/import", body=body)

    return Route("staff POST /api/kb/import", st.app, make)


def kb_export_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:kb-export")

    def make(_: int) -> Probe:
        fmt = m.pick(["yaml", "csv", "xlsx", "exe", "", m.text()[:20]]) if m.chance(0.5) else "yaml"
        params = [("format", fmt)]
        if m.chance(0.3):
            params.append(("collection", m.pick(["legal", "care", m.text()[:40]])))
        query = urllib.parse.urlencode(params, encoding="utf-8", errors="surrogatepass").encode("ascii")
        return _api(st, m, "GET", "/api/kb/export", query=query, json_body=False)

    return Route("staff GET /api/kb/export", st.app, make)


def users_create_route(st: Staff, seed: str) -> Route:
    """Opening an agent account from the admin page: session cookie plus CSRF header, JSON body."""
    m = Mutator(f"{seed}:users-create")

    def make(_: int) -> Probe:
        valid = {
            "username": f"agent{m.rng.randrange(10**6)}",
            "password": "a long enough password",
            "role": m.pick(["agent", "admin", "root"]),
            "display_name": "小李",
        }
        headers = [("cookie", f"{st.session_name}={st.session_cookie}")]
        if m.chance(0.9):
            headers.append(
                ("x-csrf-token", st.csrf if m.chance(0.85) else m.pick(["", m.ascii_token(), st.csrf + "x"]))
            )
        ctype = m.content_type("application/json")
        if ctype is not None:
            headers.append(("content-type", ctype))
        headers.extend(m.extra_headers())
        return Probe(_method(m, "POST"), "/api/users", headers=headers, body=m.json_body(valid), client=_client(m))

    return Route("staff POST /api/users (session + CSRF)", st.app, make)


def _session(st: Staff, m: Mutator) -> list[tuple[str, str]]:
    """A browser's cookie: the admin's or the agent's session (both may take attendance), or a forged one."""
    cookie, csrf = (st.session_cookie, st.csrf) if m.chance(0.5) else (st.agent_cookie, st.agent_csrf)
    if m.chance(0.05):
        cookie = m.ascii_token()
    headers = [("cookie", f"{st.session_name}={cookie}")] if m.chance(0.9) else []
    if m.chance(0.85):
        headers.append(("x-csrf-token", csrf if m.chance(0.85) else m.pick(["", m.ascii_token(), csrf + "x"])))
    return headers


def _booking_code(m: Mutator, codes: list[str]) -> str:
    roll = m.rng.random()
    if roll < 0.6:
        return m.pick(codes)  # past (marked), tomorrow (409 not yet), cancelled (409)
    if roll < 0.7:
        code = m.pick(codes)
        return f"{code[:3]}%20{code[3:]}"  # as the page shows it, "385 217"
    if roll < 0.8:
        return str(m.rng.randrange(100_000, 1_000_000))  # no such booking
    return urllib.parse.quote(m.text()[:40] or "x", safe="", errors="surrogatepass")


def attendance_page_route(st: Staff, seed: str) -> Route:
    """The 到场登记 page: a browser with an agent's or admin's session (or none: the login redirect)."""
    m = Mutator(f"{seed}:attendance-page")

    def make(_: int) -> Probe:
        headers = _session(st, m)
        headers.extend(m.extra_headers())
        query = b""
        if m.chance(0.2):
            query = urllib.parse.quote(m.text()[:60], safe="=&", errors="surrogatepass").encode()
        return Probe(_method(m, "GET"), "/attendance", query=query, headers=headers, client=_client(m))

    return Route("staff GET /attendance (session)", st.app, make)


def attendance_list_route(st: Staff, seed: str) -> Route:
    m = Mutator(f"{seed}:attendance-list")

    def make(_: int) -> Probe:
        query = b""
        if m.chance(0.8):
            days = m.pick(["1", "7", "31", "0", "32", "-1", "", "1e3", str(10**30), m.text()[:20]])
            query = b"days=" + urllib.parse.quote(days, safe="", errors="surrogatepass").encode()
        return _api(st, m, "GET", "/api/attendance", query=query, json_body=False)

    return Route("staff GET /api/attendance", st.app, make)


def attendance_mark_route(st: Staff, seed: str) -> Route:
    """已到 / 未到 for a booking: an admin's API token, or a browser session with or without its CSRF token."""
    m = Mutator(f"{seed}:attendance-mark")

    def make(_: int) -> Probe:
        path = f"/api/bookings/{_booking_code(m, st.codes)}/attendance"
        body = m.json_body({"attended": m.chance(0.5)}, p_valid=0.4)
        if m.chance(0.5):
            return _api(st, m, "POST", path, body=body)
        headers = _session(st, m)
        ctype = m.content_type("application/json")
        if ctype is not None:
            headers.append(("content-type", ctype))
        headers.extend(m.extra_headers())
        return Probe(_method(m, "POST"), path, headers=headers, body=body, client=_client(m))

    return Route("staff POST /api/bookings/{code}/attendance (token or session + CSRF)", st.app, make)


MAKERS: dict[str, Callable[[Staff, str], Route]] = {
    "login": login_route,
    "kb-list": kb_list_route,
    "kb-get": kb_get_route,
    "kb-history": kb_history_route,
    "kb-add": kb_add_route,
    "kb-edit": kb_edit_route,
    "kb-delete": kb_delete_route,
    "kb-restore": kb_restore_route,
    "kb-import": kb_import_route,
    "kb-export": kb_export_route,
    "users-create": users_create_route,
    "attendance-page": attendance_page_route,
    "attendance-list": attendance_list_route,
    "attendance-mark": attendance_mark_route,
}


async def fuzz_staff(
    inputs: int, seed: str, crash_dir: Path | None, routes: tuple[str, ...] = ROUTES, budget: float | None = None
) -> list[RouteResult]:
    results: list[RouteResult] = []
    with cheap_hashing(), tempfile.TemporaryDirectory(prefix="yinling-fuzz-staff-") as tmp:
        st = Staff(Path(tmp))
        with watching_logs() as logs:
            for name in routes:
                route = MAKERS[name](st, seed)
                result = await run_route(route, inputs, seed, logs, crash_dir, seconds=share(budget, routes))
                logger.info("%s", summary_line(result))
                results.append(result)
    return results


async def fuzz_staff_live(
    inputs: int, seed: str, crash_dir: Path | None, routes: tuple[str, ...] = ROUTES, budget: float | None = None
) -> list[RouteResult]:
    """The same generators over real HTTP to the app served by uvicorn, as ``python -m staff serve`` does."""
    import threading

    import uvicorn

    from scripts.stack import free_port

    results: list[RouteResult] = []
    with cheap_hashing(), tempfile.TemporaryDirectory(prefix="yinling-fuzz-staff-live-") as tmp:
        st = Staff(Path(tmp))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(st.app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the staff app did not start within 60 s")
            await asyncio.sleep(0.05)

        async def via(probe: Probe) -> Answer:
            return await call_http("127.0.0.1", port, probe)

        try:
            with watching_logs() as logs:
                for name in routes:
                    route = MAKERS[name](st, seed)
                    route.name += " [HTTP]"
                    result = await run_route(
                        route, inputs, seed, logs, crash_dir, via=via, seconds=share(budget, routes)
                    )
                    logger.info("%s", summary_line(result))
                    results.append(result)
        finally:
            server.should_exit = True
            thread.join(30)
    return results


async def _replay(files: list[Path]) -> int:
    with cheap_hashing(), tempfile.TemporaryDirectory(prefix="yinling-fuzz-replay-") as tmp:
        return await replay(Staff(Path(tmp)).app, files)


def main(argv: list[str] | None = None) -> int:
    from common.redact import install as install_redaction

    parser = argparse.ArgumentParser(prog="python -m fuzz.staff", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--crash-dir", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+", help="send these saved reproducers again, nothing else")
    parser.add_argument("--budget", type=float, help="seconds for all routes together (shared equally); default: none")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--live", action="store_true", help="over real HTTP to the app served by uvicorn")
    args = parser.parse_args(argv)
    install_redaction()
    # Only errors are looked for: records below ERROR are not even made (the servers' refusals log
    # warnings by the thousand, and each record is redacted as it is made).
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fuzz").setLevel(logging.INFO)
    if args.replay:
        return asyncio.run(_replay(args.replay))
    routes = tuple(r for r in args.routes.split(",") if r)
    unknown = [r for r in routes if r not in MAKERS]
    if unknown:
        print(f"fuzz.staff: unknown route(s) {unknown}; choose from {list(MAKERS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    run = fuzz_staff_live if args.live else fuzz_staff
    results = asyncio.run(run(args.inputs, args.seed, args.crash_dir, routes, args.budget))
    data = {
        "part": "staff-live" if args.live else "staff",
        "seconds": round(time.perf_counter() - started, 1),
        "routes": [r.as_json() for r in results],
    }
    if args.json:
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
