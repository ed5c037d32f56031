"""The edge of the world for the Telegram tests: a fake Bot API server and helpers to serve channels.

``FakeTelegramApi`` is an aiohttp app on 127.0.0.1 that answers the few Bot API methods the
channel uses (getMe, sendMessage, setWebhook, deleteWebhook, getUpdates) with the JSON shapes
of https://core.telegram.org/bots/api and records every call. python-telegram-bot talks to it
for real (``base_url=fake.base_url``). The tests at the bottom pin the fake to Telegram's
behaviour where the channel relies on it.

The updates in ``tests/fixtures/telegram`` are written in the exact format Telegram delivers
(field names and nesting as in Bot API 9), with made-up ids and names.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from rasa.core.channels.channel import InputChannel, UserMessage, register
from sanic import Sanic
from telegram import Bot
from telegram.error import Forbidden, InvalidToken

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
TOKEN = "123456789:TEST-fake_token_for_loopback_only"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "银龄助手",
    "username": "yinling_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters PTB sends JSON-encoded inside form fields.
_JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "link_preview_options"}


def load_update(name: str) -> dict[str, Any]:
    update: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return update


def loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class _Failure:
    status: int
    description: str
    times: int
    parameters: dict[str, Any] | None = None


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegramApi:
    """Answers like api.telegram.org for one bot token; everything it got is in ``calls``."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    webhook_url: str = ""
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def fail(
        self, method: str, status: int, description: str, times: int = 1, parameters: dict[str, Any] | None = None
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail the way Telegram does."""
        self._failures[method.lower()] = _Failure(status, description, times, parameters)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def sent(self) -> list[dict[str, Any]]:
        """sendMessage calls that Telegram accepted."""
        return [c.params for c in self.calls if c.method == "sendMessage" and c.params.get("_ok")]

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = loopback_socket()
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw: dict[str, Any] = await request.json()
        else:
            raw = {**request.query, **(await request.post())}
        params: dict[str, Any] = {}
        for key, value in raw.items():
            params[key] = json.loads(value) if key in _JSON_PARAMS and isinstance(value, str) else value
        return params

    @staticmethod
    def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        method = request.match_info["method"]
        call = Call(method, params)
        self.calls.append(call)
        failure = self._failures.get(method.lower())
        if failure is not None and failure.times > 0:
            failure.times -= 1
            return self._error(failure.status, failure.description, failure.parameters)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return self._error(404, "Not Found")
        result = handler(params)
        if isinstance(result, web.Response):
            return result
        params["_ok"] = True
        return web.json_response({"ok": True, "result": result})

    def _api_getme(self, _: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        text = str(params.get("text") or "")
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            "text": text,
        }
        return message

    def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    def _api_deletewebhook(self, _: dict[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]] | web.Response:
        if self.webhook_url:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        # Like Telegram: asking with an offset confirms (forgets) every earlier update.
        self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        return self.pending_updates[:limit]


@contextlib.asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegramApi]:
    fake = FakeTelegramApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@dataclass
class ScriptedRasa:
    """Stands in for ``agent.handle_message``: records messages and answers from a script.

    ``script`` maps a message text to the bot messages to send; anything else is echoed.
    """

    script: dict[str, Sequence[dict[str, Any]]] = field(default_factory=dict)
    delay: float = 0.0
    received: list[UserMessage] = field(default_factory=list)
    # When set, no answer is sent before the test opens the gate (order, not time, shows who answered first).
    gate: asyncio.Event | None = None

    @property
    def texts(self) -> list[str | None]:
        return [m.text for m in self.received]

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        replies = self.script.get(message.text or "", [{"text": f"收到：{message.text}"}])
        for reply in replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))


@contextlib.asynccontextmanager
async def serve_channels(channels: Sequence[InputChannel], rasa: ScriptedRasa) -> AsyncIterator[str]:
    """A real Sanic server on loopback with the channels mounted by Rasa's own code; yields its base URL.

    ``rasa`` plays the agent: Rasa's handler calls ``app.ctx.agent.handle_message``.
    """
    app = Sanic(f"telegram_test_{uuid.uuid4().hex[:12]}")
    app.config.ACCESS_LOG = False
    app.ctx.agent = SimpleNamespace(handle_message=rasa)
    register(list(channels), app, route="/webhooks/")
    sock = loopback_socket()
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    # Sanic rewrites its own connection code at each startup; in test mode it rewrites the original
    # again, so several servers can start one after another in one process.
    test_mode, Sanic.test_mode = Sanic.test_mode, True
    try:
        await server.startup()
    finally:
        Sanic.test_mode = test_mode
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


# --- the fake behaves like Telegram where the channel depends on it ---------------------------


def test_the_fake_refuses_other_tokens_like_telegram() -> None:
    async def run() -> None:
        async with fake_telegram() as fake:
            async with Bot("42:WRONG", base_url=fake.base_url) as _:
                pass

    with pytest.raises(InvalidToken):
        asyncio.run(run())


def test_the_fake_answers_ptb_with_real_shapes_and_records_calls() -> None:
    async def run() -> None:
        async with fake_telegram() as fake, Bot(TOKEN, base_url=fake.base_url) as bot:
            assert bot.username == "yinling_test_bot"
            sent = await bot.send_message(chat_id=700000001, text="您好")
            assert sent.text == "您好" and sent.chat.id == 700000001
            fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
            with pytest.raises(Forbidden):
                await bot.send_message(chat_id=700000001, text="您好")
            assert [c["text"] for c in fake.sent()] == ["您好"]
            assert len(fake.calls_to("sendMessage")) == 2

    asyncio.run(run())


def test_the_fake_confirms_updates_by_offset_like_telegram() -> None:
    async def run() -> None:
        async with fake_telegram() as fake, Bot(TOKEN, base_url=fake.base_url) as bot:
            fake.pending_updates = [load_update("text_message"), load_update("command_start")]
            first = await bot.get_updates(timeout=0)
            assert [u.update_id for u in first] == [512340001, 512340002]
            again = await bot.get_updates(offset=512340002, timeout=0)
            assert [u.update_id for u in again] == [512340002]
            assert await bot.get_updates(offset=512340003, timeout=0) == ()

    asyncio.run(run())
