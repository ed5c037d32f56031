"""The edge of the world for the care tests: a controllable clock and fake platform APIs on loopback.

``FakeApis`` answers Telegram's ``sendMessage`` (Bot API shapes), WeChat's token, customer-service
and template message calls, and an SMS gateway, records every call, and can be told to fail the
next N calls of one kind (HTTP status or WeChat errcode).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bookings.catalog import SHANGHAI


class FakeClock:
    """Aware UTC time that moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start.astimezone(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> dt.datetime:
        self.at += dt.timedelta(**delta)
        return self.at

    def set_local(self, year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
        self.at = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)
        return self.at


class FakeApis(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: dict[str, list[dict[str, Any]]] = {"telegram": [], "wechat": [], "template": [], "sms": []}
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def telegram_base(self) -> str:
        return f"{self.url}/bot"

    def fail(self, kind: str, times: int, status: int = 500, body: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.failures.setdefault(kind, []).extend([(status, body or {"ok": False})] * times)

    def texts(self, kind: str, to: str | None = None) -> list[str]:
        with self.lock:
            calls = list(self.calls[kind])
        key = {"telegram": "chat_id", "sms": "to"}.get(kind, "touser")
        out = []
        for call in calls:
            if to is not None and str(call.get(key)) != to:
                continue
            text = call.get("text")
            if isinstance(text, dict):
                text = text.get("content")
            if kind == "template":
                text = call["data"]["content"]["value"]
            out.append(str(text))
        return out

    def wait_for(self, kind: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls[kind]) >= count:
                    return list(self.calls[kind])
            time.sleep(0.05)
        raise AssertionError(f"{kind}: expected {count} calls, got {len(self.calls[kind])}")


class _Handler(BaseHTTPRequestHandler):
    server: FakeApis

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, kind: str, params: dict[str, Any], ok: Any) -> None:
        with self.server.lock:
            pending = self.server.failures.get(kind)
            if pending:
                status, body = pending.pop(0)
                failure: tuple[int, dict[str, Any]] | None = (status, body)
            else:
                failure = None
                self.server.calls[kind].append(params)
        if failure is not None:
            self._reply(*failure)
        else:
            self._reply(200, ok)

    def do_GET(self) -> None:
        if self.path.startswith("/cgi-bin/token"):
            self._reply(200, {"access_token": "fake-access-token", "expires_in": 7200})
        else:
            self._reply(404, {})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        path = urlsplit(self.path).path
        params: dict[str, Any] = (
            json.loads(raw or "{}") if raw.startswith("{") else {k: v[-1] for k, v in parse_qs(raw).items()}
        )
        if path.endswith("/sendMessage"):
            chat = {"id": int(params.get("chat_id", 0)), "type": "private"}
            self._record("telegram", params, {"ok": True, "result": {"message_id": 1, "date": 0, "chat": chat}})
        elif path == "/cgi-bin/message/custom/send":
            self._record("wechat", params, {"errcode": 0, "errmsg": "ok"})
        elif path == "/cgi-bin/message/template/send":
            self._record("template", params, {"errcode": 0, "errmsg": "ok", "msgid": 1})
        elif path == "/sms":
            if self.headers.get("Authorization") != "Bearer sms-test-token":
                self._reply(401, {"error": "unauthorized"})
                return
            self._record("sms", params, {"id": "1", "status": "queued"})
        else:
            self._reply(404, {})


@contextmanager
def fake_apis() -> Iterator[FakeApis]:
    server = FakeApis()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
