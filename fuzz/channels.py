"""Fuzz the Rasa input channels in process (Rasa runtime: ``.venv-rasa/bin/python -m fuzz.channels``).

The channels are mounted as ``rasa run`` mounts them (Rasa's own ``register`` on a Sanic app) and
driven through Sanic's ASGI interface (:mod:`fuzz.core`). Rasa's agent is played by
:class:`FakeAgent`, at the edge of the world: it keeps Rasa's own tracker objects (so the web chat
reads history, offered buttons and resent messages as it would from Rasa) and answers each message
with a short reply and, now and then, numbered buttons. Telegram's Bot API is answered in process
by a fake request object of python-telegram-bot; WeChat's customer-service client is an in-process
fake that counts sends (its API base also points at a closed loopback port).

Routes (each gets ``--inputs`` generated requests, or as many as its share of ``--budget`` allows):

- ``rest POST /webhooks/rest/webhook``
- ``webchat POST /webhooks/webchat/session`` (token issue and renewal)
- ``webchat POST /webhooks/webchat/message``
- ``webchat GET /webhooks/webchat/history``
- ``wechat GET /webhooks/wechat/webhook`` (URL verification)
- ``wechat POST /webhooks/wechat/webhook`` (plain mode)
- ``wechat POST /webhooks/wechat/webhook`` in safe mode (AES): a second WeChat channel configured
  with an EncodingAESKey, mounted at ``/webhooks/wechat-aes/webhook`` next to the plain one
- ``telegram POST /webhooks/telegram/webhook``
"""

from __future__ import annotations

import os

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.pop("REDIS_URL", None)  # in-process memory only: the fuzzer must not touch a shared Redis

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fuzz.core import (
    Answer,
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

logger = logging.getLogger("fuzz.channels")

REST_TOKEN = "fuzz-rest-token-0123456789abcdef"  # noqa: S105 - a test value
WEBCHAT_SECRET = "fuzz-webchat-secret-0123456789abcdef"  # noqa: S105 - a test value
WECHAT_TOKEN = "fuzz-wechat-token"  # noqa: S105 - a test value
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
ACCOUNT = "gh_8d2f4c6a1b3e"
TELEGRAM_TOKEN = "123456789:AAFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzF"  # noqa: S105 - a test value
TELEGRAM_SECRET = "fuzz_secret-token"  # noqa: S105 - a test value
# Port 9 (discard) on loopback has no listener here: an API call the fuzzer did not expect fails at once.
CLOSED_API = "http://127.0.0.1:9"
AES_PREFIX = "/webhooks/wechat-aes"

BUTTONS = [
    {"title": "1. 养老服务", "payload": "/ask_care_service"},
    {"title": "2. 法律公证", "payload": "/ask_legal"},
]
ROUTES = (
    "rest",
    "webchat-session",
    "webchat-message",
    "webchat-history",
    "wechat-verify",
    "wechat-plain",
    "wechat-aes",
    "telegram",
)


# Limits that a flood of one process from a few addresses would hit at once stay on, but high: the
# fuzzer is after what the routes do with odd input, not after 429s (the rate-limit tests cover
# those). The buckets still run on every request.
FUZZ_ENV = {
    **{
        f"YINLING_RATE_{name}": "600000/100000"
        for name in ("SENDER", "IP", "HISTORY", "WECHAT_SENDER", "WECHAT_IP", "TELEGRAM_SENDER", "TELEGRAM_IP")
    },
    "YINLING_REST_TOKEN": REST_TOKEN,
    "YINLING_WEBCHAT_SECRET": WEBCHAT_SECRET,
}


class ObjectTrackerStore:
    """The tracker-store calls the channels make, keeping Rasa's tracker objects as they are.

    Rasa's ``InMemoryTrackerStore`` serializes each tracker on save and rebuilds every event on
    retrieve (about 5 ms a conversation here), which would make the fuzzer measure Rasa's event
    deserialization rather than the channel. The channels only read trackers, so sharing the object
    changes nothing they can see.
    """

    def __init__(self) -> None:
        self.trackers: dict[str, Any] = {}

    async def retrieve(self, sender_id: str) -> Any:
        return self.trackers.get(sender_id)

    async def get_or_create_tracker(self, sender_id: str, max_event_history: int | None = None) -> Any:
        from rasa.shared.core.trackers import DialogueStateTracker

        tracker = self.trackers.get(sender_id)
        if tracker is None:
            tracker = self.trackers[sender_id] = DialogueStateTracker(sender_id, [])
        return tracker

    async def save(self, tracker: Any) -> None:
        self.trackers[tracker.sender_id] = tracker


class FakeAgent:
    """Rasa's agent at the edge: records each message in a real tracker store and answers briefly."""

    def __init__(self) -> None:
        from rasa.core.lock_store import InMemoryLockStore

        self.tracker_store = ObjectTrackerStore()
        self.lock_store = InMemoryLockStore()
        self.messages = 0

    async def handle_message(self, message: Any) -> None:
        from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

        self.messages += 1
        with_buttons = self.messages % 3 == 0
        reply: dict[str, Any] = {"text": f"收到，第{self.messages % 1000}条。"}
        if with_buttons:
            reply["buttons"] = BUTTONS
        if message.input_channel == "webchat":
            # Only the web chat reads the tracker back (history, buttons, resends).
            async with self.lock_store.lock(message.sender_id):
                tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
                if not tracker.events:
                    for event in (
                        ActionExecuted("action_session_start"),
                        SessionStarted(),
                        ActionExecuted("action_listen"),
                    ):
                        tracker.update(event)
                tracker.update(
                    UserUttered(
                        message.text,
                        input_channel=message.input_channel,
                        message_id=message.message_id,
                        metadata=message.metadata,
                    )
                )
                event = BotUttered(reply["text"], data={"buttons": reply.get("buttons")})
                tracker.update(event)
                await message.output_channel.send_response(message.sender_id, event.message())
                await self.tracker_store.save(tracker)
            return
        await message.output_channel.send_response(message.sender_id, reply)


def _fake_telegram_request() -> Any:
    """python-telegram-bot's request object, answered in process like the Bot API would."""
    from telegram.request import BaseRequest

    class FakeBotAPI(BaseRequest):
        def __init__(self) -> None:
            self.calls = 0

        async def initialize(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

        @property
        def read_timeout(self) -> float | None:
            return 5.0

        async def do_request(self, url: str, method: str, request_data: Any = None, **_: Any) -> tuple[int, bytes]:
            self.calls += 1
            endpoint = url.rsplit("/", 1)[-1]
            params = request_data.parameters if request_data is not None else {}
            if endpoint == "getMe":
                result: Any = {"id": 123456789, "is_bot": True, "first_name": "银龄助手", "username": "YinlingBot"}
            elif endpoint == "sendMessage":
                chat = params.get("chat_id", 1)
                result = {
                    "message_id": self.calls,
                    "date": int(time.time()),
                    "chat": {"id": int(chat), "type": "private"},
                    "text": str(params.get("text", "")),
                }
            else:
                result = True
            return 200, json.dumps({"ok": True, "result": result}).encode("utf-8")

    return FakeBotAPI()


class FakeCustomerService:
    """The WeChat customer-service message API, in process: pieces after the passive reply go here."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_text(self, openid: str, content: str) -> None:
        self.sent += 1

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- the apps


class Channels:
    """The channels under test, their Sanic apps and what the route generators need from them."""

    def __init__(self) -> None:
        with environment(**FUZZ_ENV):
            self._build()

    def _build(self) -> None:
        from rasa.core.channels.channel import register
        from sanic import Sanic
        from telegram import Bot

        from channels.dedupe import MemoryBindings, MemoryDeduplicator
        from channels.rest import RestInput
        from channels.telegram import TelegramInput, TelegramSettings
        from channels.webchat import WebChatInput
        from channels.wechat import WeChatConfig, WeChatInput
        from channels.wechat.crypto import WeChatCrypto

        self.agent = FakeAgent()
        self.wechat_api = FakeCustomerService()
        self.rest = RestInput.from_credentials(None)
        self.webchat = WebChatInput.from_credentials(None)
        wechat_settings = {
            "token": WECHAT_TOKEN,
            "app_id": APP_ID,
            "app_secret": "fuzz-app-secret",
            "api_base": CLOSED_API,
        }
        self.wechat = WeChatInput(
            WeChatConfig.from_credentials(wechat_settings, environ=dict(os.environ)),
            deduplicator=MemoryDeduplicator(),
            client=self.wechat_api,  # type: ignore[arg-type]
            bindings=MemoryBindings(),
        )
        self.wechat_aes = WeChatInput(
            WeChatConfig.from_credentials({**wechat_settings, "encoding_aes_key": AES_KEY}, environ=dict(os.environ)),
            deduplicator=MemoryDeduplicator(),
            client=self.wechat_api,  # type: ignore[arg-type]
            bindings=MemoryBindings(),
        )
        for channel in (self.wechat, self.wechat_aes):
            channel.followup_delay = 0.0  # pieces after the passive reply: no pause before the (fake) API
        self.crypto = WeChatCrypto(WECHAT_TOKEN, AES_KEY, APP_ID)
        settings = TelegramSettings.load(
            {"token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET}, environ=dict(os.environ)
        )
        self.telegram = TelegramInput(settings, deduplicator=MemoryDeduplicator())
        bot = Bot(TELEGRAM_TOKEN, request=_fake_telegram_request(), get_updates_request=_fake_telegram_request())
        self.telegram.bot = bot
        self.telegram.handler.bot = bot

        name = uuid.uuid4().hex[:10]
        self.app = Sanic(f"fuzz_channels_{name}", configure_logging=False)
        self.app.config.ACCESS_LOG = False
        self.app.ctx.agent = self.agent
        register([self.rest, self.webchat, self.wechat, self.telegram], self.app, route="/webhooks/")
        # Safe mode is another configuration of the same route. Sanic 21.12 starts only one app per
        # process in ASGI mode, so it is mounted next to the plain one, under its own prefix.
        aes_hook = self.wechat_aes.blueprint(self.agent.handle_message)
        aes_hook.name = "yinling_wechat_aes_webhook"
        self.app.blueprint(aes_hook, url_prefix=AES_PREFIX)
        self.tokens = TokenPool(self.webchat.signer)

    async def settle(self) -> None:
        """Let the background work of the last request finish (Telegram answers after its 200)."""
        for channel in (self.telegram, self.wechat, self.wechat_aes):
            if channel.tasks.pending:
                await channel.drain(10)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The ASGI lifespan of ``app``: its start listeners before, its stop listeners after."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    from sanic import Sanic

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    # Sanic rewrites its own methods at each startup; in test mode it rewrites the originals again,
    # so several apps can start one after another in one process (the smoke tests do).
    test_mode, Sanic.test_mode = Sanic.test_mode, True
    try:
        started = await asyncio.wait_for(outbox.get(), 60)
    finally:
        Sanic.test_mode = test_mode
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), 60)
        if stopped["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"the app did not stop cleanly: {stopped}")
        # Sanic 21.12 goes on to treat the finished lifespan as an HTTP request and fails on the
        # missing request (AttributeError); the shutdown itself completed above.
        with contextlib.suppress(AttributeError):
            await asyncio.wait_for(task, 60)


class TokenPool:
    """Web chat conversations for the fuzzer: each token speaks a few times, then a new one is issued.

    Short conversations keep the tracker store's per-message cost flat over 100,000 messages.
    """

    USES = 25

    def __init__(self, signer: Any) -> None:
        self.signer = signer
        self.current = signer.issue().token
        self.uses = 0
        self.expired = signer.issue().token  # made valid, then expired by editing its time below
        self.forged = self.current[:-4] + "AAAA"

    def token(self) -> str:
        self.uses += 1
        if self.uses > self.USES:
            self.current, self.uses = self.signer.issue().token, 0
        return str(self.current)


# --------------------------------------------------------------------------- generators


def _client(m: Mutator) -> str:
    if m.chance(0.02):
        return m.pick(["::1", "2001:db8::1", "", "not-an-ip", "999.1.1.1"])
    return f"198.51.{m.rng.randrange(256)}.{m.rng.randrange(256)}"


def _method(m: Mutator, good: str) -> str:
    if m.chance(0.03):
        return str(m.pick(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST", "BREW"]))
    return good


def _headers(m: Mutator, content_type: str | None, auth: str | None) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    ctype = m.content_type(content_type) if content_type is not None else None
    if ctype is not None:
        headers.append(("content-type", ctype))
    authorization = m.authorization(auth)
    if authorization is not None:
        headers.append(("authorization", authorization))
    headers.extend(m.extra_headers())
    return headers


def rest_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:rest")
    senders = [f"prog-{i}" for i in range(200)] + ["web-x", "wechat:oX", "telegram:1", "handoff:2", "Staff:3"]

    def make(_: int) -> Probe:
        valid = {"sender": m.pick(senders), "message": m.text() or "你好", "metadata": {"source": "fuzz"}}
        return Probe(
            _method(m, "POST"),
            "/webhooks/rest/webhook",
            headers=_headers(m, "application/json", f"Bearer {REST_TOKEN}"),
            body=m.json_body(valid),
            client=_client(m),
        )

    return Route("rest POST /webhooks/rest/webhook", ch.app, make)


def webchat_session_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:webchat-session")

    def make(_: int) -> Probe:
        roll = m.rng.random()
        if roll < 0.4:
            auth = None
        elif roll < 0.7:
            auth = f"Bearer {ch.tokens.token()}"
        else:
            auth = f"Bearer {m.pick([ch.tokens.forged, ch.tokens.expired, m.ascii_token(), m.text()[:80]])}"
        headers = [("authorization", auth)] if auth is not None else []
        if m.chance(0.3):
            headers = _headers(m, "application/json", auth)
        body = m.json_body({}) if m.chance(0.3) else b""
        return Probe(_method(m, "POST"), "/webhooks/webchat/session", headers=headers, body=body, client=_client(m))

    return Route("webchat POST /webhooks/webchat/session", ch.app, make)


def webchat_message_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:webchat-message")
    ids = [uuid.uuid4().hex[:16] for _ in range(50)]

    def make(_: int) -> Probe:
        roll = m.rng.random()
        valid: dict[str, Any]
        if roll < 0.6:
            valid = {"message": m.text() or "你好"}
        elif roll < 0.9:
            button = m.pick(BUTTONS)
            valid = {"payload": button["payload"], "title": button["title"]}
        else:
            valid = {"payload": m.pick(["/emergency", "/book_service", "/restart", m.text()]), "title": m.text()}
        if m.chance(0.4):
            valid["message_id"] = m.pick(ids) if m.chance(0.5) else uuid.UUID(int=m.rng.getrandbits(128)).hex
        return Probe(
            _method(m, "POST"),
            "/webhooks/webchat/message",
            headers=_headers(m, "application/json", f"Bearer {ch.tokens.token()}"),
            body=m.json_body(valid),
            client=_client(m),
        )

    return Route("webchat POST /webhooks/webchat/message", ch.app, make)


def webchat_history_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:webchat-history")

    def make(_: int) -> Probe:
        query: bytes = b""
        roll = m.rng.random()
        if roll < 0.3:
            query = b""
        elif roll < 0.6:
            query = f"after={int(time.time() * 1000) - m.rng.randrange(10**6)}.{m.rng.randrange(100)}".encode()
        elif roll < 0.85:
            query = b"after=" + urllib.parse.quote(m.text()[:100], safe="", errors="surrogatepass").encode()
        else:
            query = m.pick([b"after=", b"after=1&after=2", b"after=%ff%fe", b"after=1." + b"9" * 5000, b"&&=="])
        return Probe(
            _method(m, "GET"),
            "/webhooks/webchat/history",
            query=query,
            headers=_headers(m, None, f"Bearer {ch.tokens.token()}"),
            client=_client(m),
        )

    return Route("webchat GET /webhooks/webchat/history", ch.app, make)


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324 - WeChat's protocol


def _signed_query(m: Mutator, extra: dict[str, str] | None = None, mutate: float = 0.15) -> dict[str, str]:
    stamp = str(int(time.time()))
    nonce = uuid.UUID(int=m.rng.getrandbits(128)).hex[:12]
    query = {"signature": _sign(WECHAT_TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, **(extra or {})}
    if m.chance(mutate):
        key = m.pick(list(query))
        op = m.rng.randrange(4)
        if op == 0:
            del query[key]
        elif op == 1:
            query[key] = m.text()[:200]
        elif op == 2:
            query[key] = m.pick(["0" * 40, "", "-1", "99999999999999999999", str(int(time.time()) - 10_000), "1e9"])
        else:
            query[m.key()] = m.text()[:50]
    return query


def _encode_query(m: Mutator, query: dict[str, str]) -> bytes:
    encoded = urllib.parse.urlencode(query, encoding="utf-8", errors="surrogatepass").encode("ascii")
    if m.chance(0.03):
        encoded += m.pick([b"&signature=x", b"&%zz", b"&timestamp", b"&nonce=%00"])
    return encoded


def _openid(m: Mutator) -> str:
    return "o" + "".join(m.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(27))


def _wechat_message(m: Mutator) -> dict[str, str]:
    base = {
        "ToUserName": f"<![CDATA[{ACCOUNT}]]>",
        "FromUserName": f"<![CDATA[{_openid(m) if m.chance(0.7) else 'oFuzzFixedOpenId0000000000000'}]]>",
        "CreateTime": str(int(time.time())),
    }
    kind = m.pick(["text", "text", "text", "voice", "event", "image", "location", "link", "unknown"])
    msg_id = str(m.rng.randrange(10**17, 10**18))
    if kind == "text":
        return {**base, "MsgType": "<![CDATA[text]]>", "Content": f"<![CDATA[{m.text()}]]>", "MsgId": msg_id}
    if kind == "voice":
        return {
            **base,
            "MsgType": "<![CDATA[voice]]>",
            "MediaId": "<![CDATA[media]]>",
            "Format": "<![CDATA[amr]]>",
            "Recognition": f"<![CDATA[{m.text()}]]>",
            "MsgId": msg_id,
        }
    if kind == "event":
        event = m.pick(["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "LOCATION", "bogus"])
        return {
            **base,
            "MsgType": "<![CDATA[event]]>",
            "Event": f"<![CDATA[{event}]]>",
            "EventKey": f"<![CDATA[{m.text()[:40]}]]>",
        }
    if kind == "location":
        return {
            **base,
            "MsgType": "<![CDATA[location]]>",
            "Location_X": "31.4",
            "Location_Y": "121.4",
            "Scale": "15",
            "MsgId": msg_id,
        }
    return {**base, "MsgType": f"<![CDATA[{kind}]]>", "PicUrl": "<![CDATA[http://x/y.jpg]]>", "MsgId": msg_id}


def wechat_verify_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:wechat-verify")

    def make(_: int) -> Probe:
        echostr = str(m.rng.randrange(10**18)) if m.chance(0.6) else m.text()[:300]
        query = _signed_query(m, {"echostr": echostr}, mutate=0.4)
        return Probe(
            _method(m, "GET"),
            "/webhooks/wechat/webhook",
            query=_encode_query(m, query),
            headers=m.extra_headers(),
            client=_client(m),
        )

    return Route("wechat GET /webhooks/wechat/webhook", ch.app, make)


def wechat_plain_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:wechat-plain")

    def make(_: int) -> Probe:
        fields = _wechat_message(m)
        openid = fields["FromUserName"][9:-3]
        body = m.xml(fields) if m.chance(0.8) else m.xml(fields)[: m.rng.randrange(1, 400)]
        query = _signed_query(m, {"openid": openid})
        return Probe(
            _method(m, "POST"),
            "/webhooks/wechat/webhook",
            query=_encode_query(m, query),
            headers=_headers(m, "text/xml", None),
            body=body,
            client=_client(m),
        )

    return Route("wechat POST /webhooks/wechat/webhook (plain)", ch.app, make)


def wechat_aes_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:wechat-aes")

    def make(_: int) -> Probe:
        fields = _wechat_message(m)
        openid = fields["FromUserName"][9:-3]
        inner = m.xml(fields).decode("utf-8", "replace")
        try:
            encrypted = ch.crypto.encrypt(inner)
        except UnicodeEncodeError:
            encrypted = ch.crypto.encrypt(inner.encode("utf-8", "replace").decode("utf-8"))
        roll = m.rng.random()
        if roll < 0.08:
            encrypted = m.mutate_text(encrypted)
        elif roll < 0.12:
            encrypted = m.pick(["", "====", "A" * 31, "!!!", encrypted[:-1], encrypted + "A"])
        stamp = str(int(time.time()))
        nonce = uuid.UUID(int=m.rng.getrandbits(128)).hex[:12]
        query = {
            "signature": _sign(WECHAT_TOKEN, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes" if m.chance(0.95) else m.pick(["raw", "", "AES"]),
            "msg_signature": _sign(WECHAT_TOKEN, stamp, nonce, encrypted) if m.chance(0.9) else m.ascii_token(0, 50),
        }
        envelope = {"ToUserName": f"<![CDATA[{ACCOUNT}]]>", "Encrypt": f"<![CDATA[{encrypted}]]>"}
        if m.chance(0.05):  # a plaintext message to a safe-mode account: must be refused
            body = m.xml(fields)
        elif m.chance(0.8):
            body = f"<xml>{''.join(f'<{k}>{v}</{k}>' for k, v in envelope.items())}</xml>".encode(
                "utf-8", "surrogatepass"
            )
        else:
            body = m.xml(envelope)
        return Probe(
            _method(m, "POST"),
            f"{AES_PREFIX}/webhook",
            query=_encode_query(m, query),
            headers=_headers(m, "text/xml", None),
            body=body,
            client=_client(m),
        )

    return Route("wechat POST /webhooks/wechat/webhook (aes)", ch.app, make)


def telegram_route(ch: Channels, seed: str) -> Route:
    m = Mutator(f"{seed}:telegram")
    next_id = [500_000_000]

    def make(_: int) -> Probe:
        next_id[0] += 1
        update_id = next_id[0] if m.chance(0.95) else next_id[0] - m.rng.randrange(1, 50)
        chat_id = m.rng.randrange(1, 5000) if m.chance(0.95) else m.pick([-1001234567890, 0, 2**53])
        person = {"id": chat_id, "is_bot": False, "first_name": "秀英", "language_code": "zh-hans"}
        message: dict[str, Any] = {
            "message_id": m.rng.randrange(1, 10**6),
            "from": person,
            "chat": {"id": chat_id, "first_name": "秀英", "type": "private" if m.chance(0.9) else "group"},
            "date": int(time.time()),
        }
        roll = m.rng.random()
        if roll < 0.7:
            message["text"] = (
                m.pick(["/start", "/help", "1. 养老服务", "/start@YinlingBot abc"]) if m.chance(0.1) else m.text()
            )
        elif roll < 0.8:
            message["voice"] = {"file_id": "v", "file_unique_id": "u", "duration": 3}
        elif roll < 0.85:
            message["sticker"] = {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1, "is_animated": False}
        update: dict[str, Any] = {"update_id": update_id}
        kind = m.rng.random()
        if kind < 0.85:
            update["message"] = message
        elif kind < 0.92:
            update["edited_message"] = message
        else:
            update["callback_query"] = {"id": "1", "from": person, "chat_instance": "x", "data": m.text()[:64]}
        secret = TELEGRAM_SECRET if m.chance(0.9) else m.pick(["", "wrong", TELEGRAM_SECRET + "x", m.text()[:40]])
        headers = _headers(m, "application/json", None)
        if m.chance(0.97):
            headers.append(("x-telegram-bot-api-secret-token", secret))
        return Probe(
            _method(m, "POST"),
            "/webhooks/telegram/webhook",
            headers=headers,
            body=m.json_body(update, p_valid=0.3),
            client=_client(m),
        )

    return Route("telegram POST /webhooks/telegram/webhook", ch.app, make)


MAKERS: dict[str, Callable[[Channels, str], Route]] = {
    "rest": rest_route,
    "webchat-session": webchat_session_route,
    "webchat-message": webchat_message_route,
    "webchat-history": webchat_history_route,
    "wechat-verify": wechat_verify_route,
    "wechat-plain": wechat_plain_route,
    "wechat-aes": wechat_aes_route,
    "telegram": telegram_route,
}


async def fuzz_channels(
    inputs: int, seed: str, crash_dir: Path | None, routes: tuple[str, ...] = ROUTES, budget: float | None = None
) -> list[RouteResult]:
    """Every channel route, ``inputs`` requests each; the results in route order."""
    channels = Channels()
    results: list[RouteResult] = []
    with watching_logs() as logs:
        async with lifespan(channels.app):
            startup = logs.take()
            if startup:
                raise RuntimeError(f"the channels logged errors while starting: {startup[:3]}")
            for name in routes:
                route = MAKERS[name](channels, seed)
                result = await run_route(
                    route, inputs, seed, logs, crash_dir, settle=channels.settle, seconds=share(budget, routes)
                )
                logger.info("%s", summary_line(result))
                results.append(result)
            await channels.settle()
        leftover = logs.take()
        if leftover and results:  # errors while stopping count against the last route
            results[-1].error_logs += len(leftover)
            results[-1].samples.extend(text.splitlines()[0][:300] for _, text in leftover[:5])
    return results


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    """``app`` on a real Sanic server on a free loopback port, as ``rasa run`` serves it; yields the port."""
    import socket

    from sanic import Sanic

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    # Sanic rewrites its connection code at each startup; test mode lets it start in a process that
    # may have started another app before (as the smoke test does).
    test_mode, Sanic.test_mode = Sanic.test_mode, True
    try:
        await server.startup()
    finally:
        Sanic.test_mode = test_mode
    await server.before_start()
    await server.after_start()
    try:
        yield port
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def fuzz_channels_live(
    inputs: int, seed: str, crash_dir: Path | None, routes: tuple[str, ...] = ROUTES, budget: float | None = None
) -> list[RouteResult]:
    """The same generators over real HTTP to a real Sanic server (Sanic's own protocol layer included)."""
    channels = Channels()
    results: list[RouteResult] = []
    with watching_logs() as logs:
        async with served(channels.app) as port:

            async def via(probe: Probe) -> Answer:
                return await call_http("127.0.0.1", port, probe)

            logs.take()
            for name in routes:
                route = MAKERS[name](channels, seed)
                route.name += " [HTTP]"
                result = await run_route(
                    route,
                    inputs,
                    seed,
                    logs,
                    crash_dir,
                    settle=channels.settle,
                    via=via,
                    seconds=share(budget, routes),
                )
                logger.info("%s", summary_line(result))
                results.append(result)
            await channels.settle()
    return results


async def _replay(files: list[Path]) -> int:
    channels = Channels()
    async with lifespan(channels.app):
        code = await replay(channels.app, files)
        await channels.settle()
    return code


def main(argv: list[str] | None = None) -> int:
    from common.redact import install as install_redaction

    parser = argparse.ArgumentParser(prog="python -m fuzz.channels", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--crash-dir", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+", help="send these saved reproducers again, nothing else")
    parser.add_argument("--budget", type=float, help="seconds for all routes together (shared equally); default: none")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--live", action="store_true", help="over real HTTP to a real Sanic server on loopback")
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
        print(f"fuzz.channels: unknown route(s) {unknown}; choose from {list(MAKERS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    run = fuzz_channels_live if args.live else fuzz_channels
    results = asyncio.run(run(args.inputs, args.seed, args.crash_dir, routes, args.budget))
    data = {
        "part": "channels-live" if args.live else "channels",
        "seconds": round(time.perf_counter() - started, 1),
        "routes": [r.as_json() for r in results],
    }
    if args.json:
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
