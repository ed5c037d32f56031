"""The WeChat channel end to end: a real Sanic server on loopback, recorded WeChat payloads, a fake bot
answering through the channel's output channel, and a fake WeChat API server (channels/wechat/)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from channels.dedupe import Bindings, MemoryBindings, MemoryDeduplicator
from channels.guard import APOLOGY
from channels.wechat import (
    EMPTY_TEXT,
    UNSUPPORTED_TYPE,
    VOICE_NOT_UNDERSTOOD,
    WeChatConfig,
    WeChatInput,
)
from channels.wechat.crypto import WeChatCrypto, sha1_signature
from channels.wechat.errors import WeChatConfigError
from tests.rasa.test_wechat_api import APP_ID, APP_SECRET, FakeWeChatAPI, fake_wechat_api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wechat"
TOKEN = "yinling-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oK3Xw5nQ2pLm8vTz1aR7eYhC4dUs"
ACCOUNT = "gh_8d2f4c6a1b3e"
XML = {"Content-Type": "text/xml"}


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")


def signed_query(timestamp: int | None = None, nonce: str | None = None, **extra: str) -> dict[str, str]:
    """A fresh signed query, as WeChat makes one per delivery (a new nonce each time unless given)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    return {"signature": sha1_signature(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, **extra}


Reply = Callable[[UserMessage], list[dict[str, Any]]]


def echo(message: UserMessage) -> list[dict[str, Any]]:
    return [{"text": f"您说的是：{message.text}"}]


@dataclass
class FakeBot:
    """Stands in for Rasa's agent: records messages and answers through the message's output channel."""

    reply: Reply = echo
    delay: float = 0.0
    calls: list[UserMessage] = field(default_factory=list)
    crash: bool = False
    # When set, the bot does not finish before the test opens the gate: "answered before the bot was done"
    # is then a fact of order, not of time.
    gate: asyncio.Event | None = None

    async def __call__(self, message: UserMessage) -> None:
        self.calls.append(message)
        await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.crash:
            raise RuntimeError("the action server is down")
        for answer in self.reply(message):
            await message.output_channel.send_response(message.sender_id, dict(answer))


@dataclass
class Harness:
    url: str
    http: aiohttp.ClientSession
    channel: WeChatInput
    bot: FakeBot
    api: FakeWeChatAPI

    async def post(self, body: str | bytes, query: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, str]:
        headers = kwargs.pop("headers", XML)
        data = body.encode("utf-8") if isinstance(body, str) else body
        params = signed_query() if query is None else query
        async with self.http.post(self.url, data=data, params=params, headers=headers, **kwargs) as resp:
            return resp.status, await resp.text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running(
    bot: FakeBot | None = None,
    access_log: bool = False,
    environ: dict[str, str] | None = None,
    bindings: Bindings | None = None,
    **config: Any,
) -> AsyncIterator[Harness]:
    async with fake_wechat_api() as api:
        settings: dict[str, Any] = {"token": TOKEN, "app_id": APP_ID, "app_secret": APP_SECRET, "api_base": api.base}
        settings.update(config)
        channel = WeChatInput(
            WeChatConfig.from_credentials(settings, environ=environ or {}),
            deduplicator=MemoryDeduplicator(),
            bindings=bindings or MemoryBindings(),
        )
        channel.followup_delay = 0.05
        fake_bot = bot or FakeBot()
        # Sanic rewrites its own methods when an app starts; test mode lets several apps start in one process.
        was_test_mode, Sanic.test_mode = Sanic.test_mode, True
        app = Sanic(f"wechat_test_{uuid.uuid4().hex[:12]}")
        app.blueprint(channel.blueprint(fake_bot), url_prefix="/webhooks/wechat")
        port = _free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=access_log)
        assert server is not None
        await server.startup()
        await server.start_serving()
        try:
            async with aiohttp.ClientSession() as http:
                yield Harness(f"http://127.0.0.1:{port}/webhooks/wechat/webhook", http, channel, fake_bot, api)
                await channel.drain()
        finally:
            await channel.client.close()
            server.close()
            await server.wait_closed()
            Sanic.test_mode = was_test_mode


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def passive(body: str) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


# ------------------------------------------------------------------ URL verification


def test_get_echostr_verification() -> None:
    async def scenario() -> None:
        async with running() as h:
            async with h.http.get(h.url, params=signed_query(echostr="7531594862")) as resp:
                assert resp.status == 200 and await resp.text() == "7531594862"
            bad = {**signed_query(echostr="1"), "signature": "0" * 40}
            stale = signed_query(timestamp=int(time.time()) - 301, echostr="1")
            future = signed_query(timestamp=int(time.time()) + 301, echostr="1")
            for query in (bad, stale, future, {"echostr": "1"}):
                async with h.http.get(h.url, params=query) as resp:
                    assert resp.status == 403
            async with h.http.get(h.url.rsplit("/", 1)[0] + "/") as resp:
                assert resp.status == 200 and (await resp.json()) == {"status": "ok"}

    run(scenario)


# ------------------------------------------------------------------ every message type


def test_text_goes_to_rasa_and_the_reply_comes_back_passively() -> None:
    async def scenario() -> None:
        async with running() as h:
            status, body = await h.post(fixture("text"))
            assert status == 200
            reply = passive(body)
            assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
            assert reply["MsgType"] == "text" and reply["Content"] == "您说的是：长护险哪能申请？"
            assert abs(int(reply["CreateTime"]) - time.time()) < 10
            (message,) = h.bot.calls
            assert message.text == "长护险哪能申请？"
            assert message.sender_id == f"wechat:{OPENID}"
            assert message.message_id == "24831990012345678"
            assert message.input_channel == "wechat"
            assert message.metadata is not None and message.metadata["channel"] == "wechat"
            assert not h.api.send_attempts  # one piece: nothing through the API

    run(scenario)


def test_voice_uses_the_recognition_text() -> None:
    async def scenario() -> None:
        async with running() as h:
            status, body = await h.post(fixture("voice"))
            assert status == 200 and passive(body)["Content"] == "您说的是：我想预约上门助浴。"
            assert [m.text for m in h.bot.calls] == ["我想预约上门助浴。"]
            assert h.bot.calls[0].metadata == {"channel": "wechat", "msg_type": "voice"}

    run(scenario)


def test_voice_without_recognition_asks_again_without_rasa() -> None:
    async def scenario() -> None:
        async with running() as h:
            status, body = await h.post(fixture("voice_unrecognized"))
            assert status == 200 and passive(body)["Content"] == VOICE_NOT_UNDERSTOOD
            assert h.bot.calls == []

    run(scenario)


def test_empty_text_asks_again() -> None:
    async def scenario() -> None:
        async with running() as h:
            body = fixture("text").replace("长护险哪能申请？", "  ")
            status, reply = await h.post(body)
            assert status == 200 and passive(reply)["Content"] == EMPTY_TEXT and h.bot.calls == []

    run(scenario)


def test_subscribe_greets_through_rasa() -> None:
    async def scenario() -> None:
        async with running(FakeBot(reply=lambda m: [{"text": "您好！我是银龄助手。"}])) as h:
            status, body = await h.post(fixture("event_subscribe"))
            assert status == 200 and passive(body)["Content"] == "您好！我是银龄助手。"
            assert [m.text for m in h.bot.calls] == ["/greet"]
            assert h.bot.calls[0].sender_id == f"wechat:{OPENID}"

    run(scenario)


def test_unsubscribe_processes_nothing() -> None:
    async def scenario() -> None:
        async with running() as h:
            status, body = await h.post(fixture("event_unsubscribe"))
            assert (status, body) == (200, "success")
            await asyncio.sleep(0.1)
            assert h.bot.calls == [] and h.api.token_requests == 0 and not h.api.send_attempts

    run(scenario)


def test_menu_view_event_needs_no_answer() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert await h.post(fixture("event_view")) == (200, "success")
            assert h.bot.calls == []

    run(scenario)


def test_menu_click_uses_the_mapping() -> None:
    async def scenario() -> None:
        async with running(menu={"MENU_BOOK_SERVICE": "/book_service"}) as h:
            status, _ = await h.post(fixture("event_click"))
            assert status == 200 and [m.text for m in h.bot.calls] == ["/book_service"]

    run(scenario)


def test_menu_click_without_mapping_passes_the_event_key() -> None:
    async def scenario() -> None:
        async with running() as h:
            status, _ = await h.post(fixture("event_click"))
            assert status == 200 and [m.text for m in h.bot.calls] == ["MENU_BOOK_SERVICE"]

    run(scenario)


@pytest.mark.parametrize("name", ["image", "location", "link", "video", "unknown"])
def test_other_types_get_a_plain_answer(name: str) -> None:
    async def scenario() -> None:
        async with running() as h:
            status, body = await h.post(fixture(name))
            reply = passive(body)
            assert status == 200 and reply["Content"] == UNSUPPORTED_TYPE
            assert reply["Content"].startswith("我现在只能看懂文字和语音")
            assert reply["ToUserName"] == OPENID and h.bot.calls == []

    run(scenario)


def test_buttons_become_a_numbered_list() -> None:
    def ask(_: UserMessage) -> list[dict[str, Any]]:
        buttons = [{"title": "助餐", "payload": "/a"}, {"title": "助浴", "payload": "/b"}]
        return [{"text": "您想预约哪项服务？", "buttons": buttons}]

    async def scenario() -> None:
        async with running(FakeBot(reply=ask)) as h:
            _, body = await h.post(fixture("text"))
            assert passive(body)["Content"] == "您想预约哪项服务？\n1. 助餐\n2. 助浴\n（请回复数字 1–2）"

    run(scenario)


def test_several_pieces_first_passively_rest_through_the_api() -> None:
    long_text = "长护险申请需要带身份证和医保卡。" * 100  # > 2048 bytes: split

    async def scenario() -> None:
        async with running(FakeBot(reply=lambda m: [{"text": "第一条"}, {"text": long_text}])) as h:
            _, body = await h.post(fixture("text"))
            assert passive(body)["Content"] == "第一条"
            await h.channel.drain()
            sent = [m["text"]["content"] for m in h.api.sent]
            assert "".join(sent).replace("\n", "") == long_text and len(sent) >= 2  # split at sentence ends
            assert all(len(piece.encode("utf-8")) <= 2048 for piece in sent)
            assert all(m["touser"] == OPENID for m in h.api.sent)

    run(scenario)


def test_a_crashing_bot_still_answers_with_an_apology() -> None:
    async def scenario() -> None:
        async with running(FakeBot(crash=True)) as h:
            _, body = await h.post(fixture("text"))
            assert passive(body)["Content"] == APOLOGY

    run(scenario)


# ------------------------------------------------------------------ retries


def test_same_msgid_twice_is_processed_once() -> None:
    async def scenario() -> None:
        async with running() as h:
            first = await h.post(fixture("text"))
            second = await h.post(fixture("text"), query=signed_query(nonce="retry-1"))
            assert len(h.bot.calls) == 1
            assert passive(first[1])["Content"] == passive(second[1])["Content"] == "您说的是：长护险哪能申请？"

    run(scenario)


def test_concurrent_retries_are_processed_once() -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=0.2)) as h:
            results = await asyncio.gather(
                *(h.post(fixture("text"), query=signed_query(nonce=f"n{i}")) for i in range(4))
            )
            assert len(h.bot.calls) == 1
            assert {passive(body)["Content"] for _, body in results} == {"您说的是：长护险哪能申请？"}

    run(scenario)


def test_event_retries_are_deduplicated_by_sender_and_time() -> None:
    async def scenario() -> None:
        async with running() as h:
            await h.post(fixture("event_subscribe"))
            await h.post(fixture("event_subscribe"), query=signed_query(nonce="retry"))
            assert [m.text for m in h.bot.calls] == ["/greet"]
            later = fixture("event_subscribe").replace("1745903900", "1745903999")  # subscribed again later
            await h.post(later)
            assert [m.text for m in h.bot.calls] == ["/greet", "/greet"]
            assert h.bot.calls[0].message_id != h.bot.calls[1].message_id

    run(scenario)


# ------------------------------------------------------------------ the 5-second deadline


def test_slow_bot_gets_success_then_one_customer_service_message() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        async with running(FakeBot(gate=gate), reply_timeout=0.3) as h:
            # The bot cannot finish until the gate opens: WeChat is answered at the budget, not by the bot.
            status, body = await asyncio.wait_for(h.post(fixture("text")), timeout=60)
            assert (status, body) == (200, "success")
            assert h.api.sent == []
            gate.set()
            sent = await h.api.wait_for_messages(1)
            await h.channel.drain()
            assert len(sent) == 1 and len(h.api.sent) == 1
            assert sent[0]["touser"] == OPENID and sent[0]["msgtype"] == "text"
            assert sent[0]["text"]["content"] == "您说的是：长护险哪能申请？"
            assert h.api.token_requests == 1

    run(scenario)


def test_retry_while_the_slow_bot_is_still_running_does_not_process_again() -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=1.0), reply_timeout=0.3) as h:
            assert await h.post(fixture("text")) == (200, "success")
            # WeChat's retry arrives while the bot is still thinking.
            assert await h.post(fixture("text"), query=signed_query(nonce="retry")) == (200, "success")
            await h.channel.drain()
            assert len(h.bot.calls) == 1 and len(h.api.sent) == 1

    run(scenario)


def test_token_is_cached_across_two_slow_messages() -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=0.5), reply_timeout=0.2) as h:
            await h.post(fixture("text"))
            await h.post(fixture("voice"))
            await h.api.wait_for_messages(2)
            await h.channel.drain()
            assert h.api.token_requests == 1 and len(h.api.sent) == 2

    run(scenario)


def test_expired_token_is_refreshed_and_the_message_still_arrives_once() -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=0.5), reply_timeout=0.2) as h:
            h.api.refuse_tokens["TOKEN-1"] = 42001
            assert await h.post(fixture("text")) == (200, "success")
            await h.api.wait_for_messages(1)
            await h.channel.drain()
            assert h.api.token_requests == 2 and h.api.send_attempts == ["TOKEN-1", "TOKEN-2"]
            assert len(h.api.sent) == 1

    run(scenario)


def test_slow_multi_piece_answer_arrives_in_order() -> None:
    async def scenario() -> None:
        bot = FakeBot(delay=0.4, reply=lambda m: [{"text": f"第{i}条"} for i in range(1, 5)])
        async with running(bot, reply_timeout=0.2) as h:
            assert await h.post(fixture("text")) == (200, "success")
            await h.api.wait_for_messages(4)
            await h.channel.drain()
            assert [m["text"]["content"] for m in h.api.sent] == ["第1条", "第2条", "第3条", "第4条"]

    run(scenario)


# ------------------------------------------------------------------ bad input


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName><![CDATA[gh_8d2f4c6a1b3e]]></ToUserName><FromUserName><![CDATA[oK3Xw5nQ2pLm8vTz1aR7eYhC4dUs]]></FromUserName>
<CreateTime>1745904000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>&secret;</Content><MsgId>2</MsgId></xml>"""


def _bad_requests() -> dict[str, tuple[Callable[[], tuple[bytes, dict[str, str], dict[str, str]]], int]]:
    text = fixture("text").encode("utf-8")
    stale = int(time.time()) - 3600
    return {
        "malformed xml": (lambda: (b"<xml><MsgType>text</MsgType", signed_query(), XML), 400),
        "not xml at all": (lambda: ("长护险".encode(), signed_query(), XML), 400),
        "wrong root": (lambda: (b"<root><MsgType>text</MsgType></root>", signed_query(), XML), 400),
        "no sender": (lambda: (b"<xml><MsgType>text</MsgType><Content>a</Content></xml>", signed_query(), XML), 400),
        "billion laughs": (lambda: (BILLION_LAUGHS.encode(), signed_query(), XML), 400),
        "external entity": (lambda: (XXE.encode(), signed_query(), XML), 400),
        "10 MB body": (lambda: (b"<xml>" + b"a" * 10_000_000 + b"</xml>", signed_query(), XML), 413),
        "json content type": (lambda: (text, signed_query(), {"Content-Type": "application/json"}), 415),
        "form content type": (
            lambda: (text, signed_query(), {"Content-Type": "application/x-www-form-urlencoded"}),
            415,
        ),
        "bad signature": (lambda: (text, {**signed_query(), "signature": "f" * 40}, XML), 403),
        "no signature": (lambda: (text, {"timestamp": str(int(time.time())), "nonce": "1"}, XML), 403),
        "stale timestamp": (lambda: (text, signed_query(timestamp=stale), XML), 403),
        "aes without key": (lambda: (text, signed_query(encrypt_type="aes", msg_signature="0" * 40), XML), 400),
    }


@pytest.mark.parametrize("case", list(_bad_requests()))
def test_bad_input_is_refused_and_the_server_keeps_serving(case: str) -> None:
    build, expected = _bad_requests()[case]

    async def scenario() -> None:
        async with running() as h:
            body, query, headers = build()
            status, _ = await h.post(body, query=query, headers=headers)
            assert status == expected
            assert h.bot.calls == []
            # The next good request is served normally.
            status, reply = await h.post(fixture("text"))
            assert status == 200 and passive(reply)["Content"] == "您说的是：长护险哪能申请？"
            assert len(h.bot.calls) == 1

    run(scenario)


def test_chunked_huge_body_is_refused_while_streaming() -> None:
    async def scenario() -> None:
        async with running() as h:
            yielded = 0
            total_chunks = 320  # 20 MiB, far more than loopback socket buffers hold

            async def chunks() -> AsyncIterator[bytes]:
                nonlocal yielded
                for _ in range(total_chunks):
                    yielded += 1
                    yield b"a" * 65536

            status, _ = await h.post(chunks(), headers=XML)  # no Content-Length: the limit applies while reading
            assert status == 413 and h.bot.calls == []
            # Refused while streaming: the server stopped reading, so the client could not send it all.
            assert yielded < total_chunks
            assert (await h.post(fixture("text")))[0] == 200

    run(scenario)


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml; charset=utf-8", "TEXT/XML"])
def test_both_xml_content_types_are_accepted(content_type: str) -> None:
    async def scenario() -> None:
        async with running() as h:
            status, _ = await h.post(fixture("text"), headers={"Content-Type": content_type})
            assert status == 200 and len(h.bot.calls) == 1

    run(scenario)


# ------------------------------------------------------------------ safe mode


def _encrypted_request(crypto: WeChatCrypto, xml: str, nonce: str = "1357924680") -> tuple[str, dict[str, str]]:
    encrypted = crypto.encrypt(xml)
    stamp = str(int(time.time()))
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = {
        **signed_query(timestamp=int(stamp), nonce=nonce),
        "openid": OPENID,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(TOKEN, stamp, nonce, encrypted),
    }
    return body, query


def test_safe_mode_end_to_end() -> None:
    async def scenario() -> None:
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        async with running(encoding_aes_key=AES_KEY) as h:
            body, query = _encrypted_request(crypto, fixture("text"))
            status, reply = await h.post(body, query=query)
            assert status == 200
            envelope = passive(reply)
            assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
            assert envelope["Nonce"] == "1357924680"
            expected = hashlib.sha1(
                "".join(sorted([TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]])).encode()
            ).hexdigest()
            assert envelope["MsgSignature"] == expected
            inner = passive(crypto.decrypt(envelope["Encrypt"]))
            assert inner["Content"] == "您说的是：长护险哪能申请？" and inner["ToUserName"] == OPENID
            assert [m.message_id for m in h.bot.calls] == ["24831990012345678"]

    run(scenario)


def test_safe_mode_refuses_a_bad_message_signature_and_a_foreign_appid() -> None:
    async def scenario() -> None:
        async with running(encoding_aes_key=AES_KEY) as h:
            body, query = _encrypted_request(WeChatCrypto(TOKEN, AES_KEY, APP_ID), fixture("text"))
            assert (await h.post(body, query={**query, "msg_signature": "0" * 40}))[0] == 403
            foreign_body, foreign_query = _encrypted_request(
                WeChatCrypto(TOKEN, AES_KEY, "wx0000000000000000"), fixture("voice"), nonce="2468013579"
            )
            assert (await h.post(foreign_body, query=foreign_query))[0] == 400
            assert h.bot.calls == []
            assert (await h.post(body, query=query))[0] == 200 and len(h.bot.calls) == 1

    run(scenario)


def test_safe_mode_success_stays_plain() -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=0.6), reply_timeout=0.2, encoding_aes_key=AES_KEY) as h:
            body, query = _encrypted_request(WeChatCrypto(TOKEN, AES_KEY, APP_ID), fixture("text"))
            assert await h.post(body, query=query) == (200, "success")
            await h.api.wait_for_messages(1)

    run(scenario)


# ------------------------------------------------------------------ privacy


def test_logs_carry_neither_openid_nor_text(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(FakeBot(delay=0.4), reply_timeout=0.1) as h:
            await h.post(fixture("text"))
            await h.post(fixture("text"), query=signed_query(nonce="retry"))
            await h.post(b"<xml><broken", headers=XML)
            await h.api.wait_for_messages(1)

    caplog.set_level(logging.DEBUG, logger="channels")
    run(scenario)
    logged = caplog.text
    assert "channels.wechat" in logged  # the channel did log
    assert OPENID not in logged and "长护险" not in logged and APP_SECRET not in logged


def test_access_log_masks_the_openid_wechat_puts_in_the_url(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(access_log=True, encoding_aes_key=AES_KEY) as h:
            body, query = _encrypted_request(WeChatCrypto(TOKEN, AES_KEY, APP_ID), fixture("text"))
            assert query["openid"] == OPENID
            assert (await h.post(body, query=query))[0] == 200

    caplog.set_level(logging.INFO, logger="sanic.access")
    run(scenario)
    requests = [str(getattr(r, "request", "")) for r in caplog.records if r.name == "sanic.access"]
    assert any("/webhooks/wechat/webhook" in r and "openid=" in r for r in requests)
    assert not any(OPENID in r for r in requests)


# ------------------------------------------------------------------ configuration


def test_missing_token_is_a_clear_config_error() -> None:
    with pytest.raises(WeChatConfigError) as info:
        WeChatInput.from_credentials({"app_id": APP_ID, "app_secret": APP_SECRET})
    assert isinstance(info.value, ValueError)
    assert "WECHAT_TOKEN" in str(info.value) and "credentials.yml" in str(info.value)


def test_missing_everything_names_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"WECHAT_TOKEN.*WECHAT_APP_ID.*WECHAT_APP_SECRET"):
        WeChatInput.from_credentials(None)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_TOKEN", "env-token")
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9")
    channel = WeChatInput.from_credentials({"reply_timeout": 3, "menu": {"K": "/greet"}})
    assert isinstance(channel, WeChatInput) and channel.name() == "wechat"
    config = channel.config
    assert (config.token, config.app_id, config.app_secret) == ("env-token", APP_ID, APP_SECRET)
    assert config.encoding_aes_key == AES_KEY and config.api_base == "http://127.0.0.1:9"
    assert config.reply_timeout == 3.0 and dict(config.menu) == {"K": "/greet"}
    # credentials.yml wins over the environment
    assert WeChatConfig.from_credentials({"token": "file-token"}).token == "file-token"


def test_defaults() -> None:
    config = WeChatConfig.from_credentials({"token": "t", "app_id": "a", "app_secret": "s"}, environ={})
    assert config.reply_timeout == 4.5 and config.timestamp_window == 300 and config.max_body_bytes == 65536
    assert config.api_base == "https://api.weixin.qq.com" and config.encoding_aes_key is None and not config.menu


@pytest.mark.parametrize(
    "bad",
    [
        {"reply_timeout": 6},
        {"reply_timeout": 0},
        {"reply_timeout": "soon"},
        {"menu": ["a"]},
        {"menu": {"K": ""}},
        {"encoding_aes_key": "too-short"},
    ],
)
def test_bad_settings_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(WeChatConfigError):
        WeChatInput.from_credentials({"token": "t", "app_id": "a", "app_secret": "s", **bad})
