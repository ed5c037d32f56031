from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import LiveIndex
from knowledge_base.store import KBStore

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL") or DEFAULT_PG
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = _postgres_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no server answered at DATABASE_URL or 127.0.0.1:5432")
        pytest.skip("no PostgreSQL server reachable (set DATABASE_URL or start one on 127.0.0.1:5432)")
    return url


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema per test, dropped afterwards."""
    schema = f"kbtest_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


# -- the running servers, shared by every end-to-end test of the session ---------------------

from scripts.stack import Stack, train_model  # noqa: E402

# An admin's API token for the staff app's KB routes (/api/kb), installed by the `admin` fixture.
ADMIN_TOKEN = "ylst_e2e-admin-token-0123456789"


@pytest.fixture(scope="session")
def kb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.sqlite'}"


@pytest.fixture(scope="session")
def bookings_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The stack's bookings database, with its sample schedule already stored: the action server stores it on its
    first booking call, and a test that reads slots before any such call must not find none."""
    from bookings.store import BookingStore

    url = f"sqlite:///{tmp_path_factory.mktemp('bookings') / 'bookings.sqlite'}"
    store = BookingStore(url)
    try:
        store.ensure_schedule()
    finally:
        store.dispose()
    return url


# Secrets that switch WeChat and Telegram on for the test servers (scripts/stack.py reads them).
PLATFORM = {
    "WECHAT_TOKEN": "yinlingtesttoken",
    "WECHAT_APP_ID": "wx0123456789abcdef",
    "WECHAT_APP_SECRET": "test-app-secret",
    "TELEGRAM_TOKEN": "123456:TEST-token_abcdefghijklmnop",
    "TELEGRAM_SECRET_TOKEN": "test-secret_token-0123",
}


class FakePlatform(ThreadingHTTPServer):
    """The WeChat and Telegram APIs the channels call, on loopback, recording what was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakePlatformHandler)
        self.received: dict[str, list[dict[str, Any]]] = {"wechat": [], "telegram": []}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, platform: str, match: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.received[platform] if match(m)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"nothing matching reached the fake {platform} API in {timeout} s")


class _FakePlatformHandler(BaseHTTPRequestHandler):
    server: FakePlatform

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _reply(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _params(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            return dict(json.loads(raw or "{}"))
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    def do_GET(self) -> None:
        if self.path.startswith("/cgi-bin/token"):
            self._reply({"access_token": "fake-access-token", "expires_in": 7200})
        else:
            self._dispatch_telegram({})

    def do_POST(self) -> None:
        params = self._params()
        if self.path.startswith("/cgi-bin/message/custom/send"):
            with self.server.lock:
                self.server.received["wechat"].append(params)
            self._reply({"errcode": 0, "errmsg": "ok"})
        else:
            self._dispatch_telegram(params)

    def _dispatch_telegram(self, params: dict[str, Any]) -> None:
        method = self.path.rsplit("/", 1)[-1].split("?")[0].lower()
        if method == "getme":
            self._reply(
                {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "银龄助手", "username": "yl_bot"}}
            )
        elif method == "sendmessage":
            with self.server.lock:
                self.server.received["telegram"].append(params)
            chat = {"id": int(params.get("chat_id", 0)), "type": "private"}
            result = {"message_id": 1, "date": int(time.time()), "chat": chat, "text": params.get("text", "")}
            self._reply({"ok": True, "result": result})
        else:
            self._reply({"ok": True, "result": True})


@pytest.fixture(scope="session")
def fake_platform() -> Iterator[FakePlatform]:
    server = FakePlatform()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, kb_url: str, bookings_url: str, fake_platform: FakePlatform
) -> Iterator[Stack]:
    """Both real servers on free loopback ports, with a model trained once (bot.tools.train)."""
    model = train_model()
    work = tmp_path_factory.mktemp("stack")
    running = Stack.isolated(
        model,
        work,
        kb_url,
        bookings_url,
        **PLATFORM,
        WECHAT_API_BASE=fake_platform.url,
        TELEGRAM_API_BASE_URL=f"{fake_platform.url}/bot",
        STAFF_WORKING_HOURS="daily 00:00-24:00",  # handoff tests must not depend on the hour they run
    )
    try:
        running.start(timeout=600)
    except Exception:
        for log in (work / "logs").glob("*.log"):
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        running.stop()
        raise
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _seats_freed_after_each_stack_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """The stack's tests share one bookings database: what a test booked is cancelled after it, so every test
    finds the same free seats, whatever ran before it ("下礼拜二上半天" is not full because another test took it)."""
    if "stack" not in request.fixturenames:
        yield
        return
    from bookings.store import BookingStore, bookings_table

    url = request.getfixturevalue("bookings_url")
    store = BookingStore(url)
    engine = sa.create_engine(store.url)
    try:
        with engine.connect() as conn:
            before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(bookings_table.c.id), 0))).scalar_one()
        yield
        with engine.connect() as conn:
            made = conn.execute(
                sa.select(bookings_table.c.code, bookings_table.c.channel_user).where(
                    bookings_table.c.id > before, bookings_table.c.status == "active"
                )
            ).all()
        for code, user in made:
            store.cancel(code, user)
    finally:
        engine.dispose()
        store.dispose()


@pytest.fixture(scope="session")
def staff_url(stack: Stack) -> str:
    """The staff app (console, KB admin API) next to the shared servers, started once."""
    if "staff" not in stack.processes:
        stack.start_staff()
    return stack.staff_url


@pytest.fixture(scope="session")
def admin(stack: Stack, staff_url: str) -> str:
    """The KB admin API (/api/kb of the staff app); ADMIN_TOKEN is an admin's API token."""
    from staff.accounts import Accounts
    from staff.config import Settings
    from staff.db import StaffDB

    settings = Settings.from_env(stack.env())
    accounts = Accounts(StaffDB(settings.database_url), settings)
    user = accounts.create_user("e2e-admin", "e2e-admin-password", "admin")
    accounts.set_api_token(user.id, ADMIN_TOKEN)
    return f"{staff_url}/api/kb"


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [str(r["text"]) for r in replies if r.get("text")]


def kb_entry(replies: list[dict[str, Any]]) -> str | None:
    return next((r["custom"]["kb_entry"] for r in replies if isinstance(r.get("custom"), dict)), None)


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def say(stack: Stack, sender: str, text: str) -> str:
    """The bot's replies to ``text``, as one string."""
    return "\n".join(texts(stack.say(sender, text)))


def to_readback(stack: Stack, sender: str, start: str, name: str, phone: str) -> str:
    """A booking started with ``start`` (service, day and street said), then the contact's name and phone: the
    read-back. When the hour is full the nearest free one offered is taken."""
    say(stack, sender, start)
    say(stack, sender, name)
    reply = say(stack, sender, phone)
    if "请回复数字" in reply:
        reply = say(stack, sender, "1")
    assert "请您核对" in reply, reply
    return reply


def saved_contacts(bookings_url: str, sender: str) -> list[tuple[str, str]]:
    """(contact name, phone) of each booking of ``sender``."""
    from bookings.store import BookingStore

    store = BookingStore(bookings_url)
    try:
        return [(b.contact_name, b.phone) for b in store.list_for_user(sender)]
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIndex]:
    """The built-in knowledge base in a fresh SQLite store, indexed once per test module (real retrieval)."""
    path = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    store = KBStore(f"sqlite:///{path}")
    store.seed_if_empty(builtin_entries())
    live = LiveIndex(store, poll_seconds=3600, background=False)
    live.refresh(force=True)
    yield live
