"""Helpers for the staff app's tests: the app served by uvicorn on loopback, and a logged-in browser-like client."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore
from scripts.stack import free_port
from staff.accounts import Accounts
from staff.app import create_app
from staff.config import Settings
from staff.db import StaffDB
from staff.web import ProtocolGuard

PASSWORD = "correct horse battery"
SECRETS = {"YINLING_STAFF_SECRET": "s" * 32, "YINLING_RASA_JWT_SECRET": "j" * 32}


def settings_for(tmp: Path, **env: str) -> Settings:
    return Settings.from_env({"STAFF_DATABASE_URL": f"sqlite:///{tmp / 'staff.sqlite'}", **SECRETS, **env})


@dataclass
class Served:
    url: str
    app: Any
    settings: Settings
    kb: KBStore
    sleeps: list[float] = field(default_factory=list)

    @property
    def accounts(self) -> Accounts:
        return Accounts(StaffDB(self.settings.database_url), self.settings)


@contextmanager
def serve(settings: Settings, kb: KBStore | None = None, **kwargs: Any) -> Iterator[Served]:
    """The staff app (with its protocol guard) on a free loopback port, in a thread."""
    if kb is None:
        kb = KBStore(settings.database_url.replace("staff.sqlite", "kb.sqlite"))
        kb.seed_if_empty(builtin_entries()[:3])
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app = create_app(settings, kb=kb, sleep=record_sleep, **{"background": False, **kwargs})
    guarded = ProtocolGuard(app, settings.max_body_bytes, app.state.limiters["ip"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(guarded, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the staff app did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app, settings, kb, sleeps)
    finally:
        server.should_exit = True
        thread.join(10)


def login(url: str, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the page's CSRF token."""
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    answer = client.post("/login", data={"username": username, "password": password, "csrf": csrf.group(1)})
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    console = client.get("/console")
    token = re.search(r'name="csrf-token" content="([^"]+)"', console.text)
    assert token, console.text[:300]
    return client, token.group(1)


def make_user(settings: Settings, username: str, role: str) -> int:
    return Accounts(StaffDB(settings.database_url), settings).create_user(username, PASSWORD, role).id


class EventStream:
    """The console's server-sent events, read in a thread: (event name, data) in arrival order."""

    def __init__(self, client: httpx.Client) -> None:
        self.events: list[tuple[str, str, float]] = []
        self._client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name = "message"
        try:
            with self._client.stream("GET", "/api/events", timeout=httpx.Timeout(10, read=None)) as response:
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.append((name, line.split(":", 1)[1].strip(), time.monotonic()))
        except httpx.HTTPError:
            pass  # the server went away (a restart, the end of the session); wait_for reports what is missing

    def wait_for(self, name: str, contains: str = "", timeout: float = 30) -> float:
        """The arrival time of the first matching event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event, data, at in list(self.events):
                if event == name and contains in data:
                    return at
            time.sleep(0.02)
        raise AssertionError(f"no {name!r} event with {contains!r} within {timeout} s: {self.events[-5:]}")

    def close(self) -> None:
        self._stop.set()
