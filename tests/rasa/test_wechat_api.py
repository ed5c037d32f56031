"""The customer-service client against a fake WeChat API server on loopback (channels/wechat/api.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from channels.wechat.api import CustomerServiceClient, WeChatAPIError

APP_ID = "wx5e1f0a2b3c4d5e6f"
APP_SECRET = "s3cr3t-for-tests-only"
OPENID = "oK3Xw5nQ2pLm8vTz1aR7eYhC4dUs"


class FakeWeChatAPI:
    """The two WeChat endpoints the channel uses, with switches to misbehave."""

    def __init__(self) -> None:
        self.token_requests = 0
        self.send_attempts: list[str] = []  # access_token used by each custom/send call
        self.sent: list[dict[str, Any]] = []  # bodies of the accepted ones
        self.expires_in = 7200
        self.refuse_tokens: dict[str, int] = {}  # token -> errcode to answer custom/send with
        self.send_errcode = 0
        self.token_error: dict[str, Any] | None = None
        self.new_message = asyncio.Event()
        self.base = ""

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        q = request.query
        if self.token_error is not None:
            return web.json_response(self.token_error)
        if (q.get("grant_type"), q.get("appid"), q.get("secret")) != ("client_credential", APP_ID, APP_SECRET):
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        return web.json_response({"access_token": f"TOKEN-{self.token_requests}", "expires_in": self.expires_in})

    async def send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        self.send_attempts.append(token)
        if token in self.refuse_tokens:
            return web.json_response({"errcode": self.refuse_tokens[token], "errmsg": "access_token expired"})
        if not token.startswith("TOKEN-"):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.send_errcode:
            return web.json_response({"errcode": self.send_errcode, "errmsg": "response out of time limit"})
        raw = await request.read()
        body = json.loads(raw.decode("utf-8"))
        body["_raw"] = raw
        self.sent.append(body)
        self.new_message.set()
        # WeChat sends JSON labelled text/plain; the client must cope.
        return web.Response(text=json.dumps({"errcode": 0, "errmsg": "ok"}), content_type="text/plain")

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async def enough() -> None:
            while len(self.sent) < count:
                self.new_message.clear()
                await self.new_message.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.sent


@asynccontextmanager
async def fake_wechat_api() -> AsyncIterator[FakeWeChatAPI]:
    fake = FakeWeChatAPI()
    app = web.Application()
    app.router.add_get("/cgi-bin/token", fake.token)
    app.router.add_post("/cgi-bin/message/custom/send", fake.send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def _client(fake: FakeWeChatAPI, **kwargs: Any) -> CustomerServiceClient:
    return CustomerServiceClient(APP_ID, APP_SECRET, api_base=fake.base, **kwargs)


def test_sends_utf8_json_with_the_documented_shape() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            client = _client(fake)
            await client.send_text(OPENID, "您好，预约成功。")
            await client.close()
            assert fake.sent[0]["touser"] == OPENID
            assert fake.sent[0]["msgtype"] == "text"
            assert fake.sent[0]["text"] == {"content": "您好，预约成功。"}
            assert "您好".encode() in fake.sent[0]["_raw"]  # not \\u escapes

    asyncio.run(scenario())


def test_token_is_cached_across_messages() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            client = _client(fake)
            await client.send_text(OPENID, "一")
            await client.send_text(OPENID, "二")
            await asyncio.gather(*(client.send_text(OPENID, str(i)) for i in range(5)))
            await client.close()
            assert fake.token_requests == 1
            assert len(fake.sent) == 7 and set(fake.send_attempts) == {"TOKEN-1"}

    asyncio.run(scenario())


def test_token_is_fetched_again_shortly_before_it_expires() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            fake.expires_in = 1  # kept for at most half its life
            client = _client(fake)
            await client.send_text(OPENID, "一")
            await asyncio.sleep(0.6)
            await client.send_text(OPENID, "二")
            await client.close()
            assert fake.token_requests == 2
            assert fake.send_attempts == ["TOKEN-1", "TOKEN-2"]

    asyncio.run(scenario())


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_refused_token_is_refreshed_and_the_send_retried_once(errcode: int) -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            fake.refuse_tokens["TOKEN-1"] = errcode
            client = _client(fake)
            await client.send_text(OPENID, "您好")
            await client.close()
            assert fake.token_requests == 2
            assert fake.send_attempts == ["TOKEN-1", "TOKEN-2"]
            assert [m["text"]["content"] for m in fake.sent] == ["您好"]

    asyncio.run(scenario())


def test_retry_happens_only_once() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            fake.refuse_tokens.update({"TOKEN-1": 42001, "TOKEN-2": 42001})
            client = _client(fake)
            with pytest.raises(WeChatAPIError) as info:
                await client.send_text(OPENID, "您好")
            await client.close()
            assert info.value.errcode == 42001
            assert fake.send_attempts == ["TOKEN-1", "TOKEN-2"] and not fake.sent

    asyncio.run(scenario())


def test_other_errcodes_raise_without_retry() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            fake.send_errcode = 45015
            client = _client(fake)
            with pytest.raises(WeChatAPIError) as info:
                await client.send_text(OPENID, "您好")
            await client.close()
            assert info.value.errcode == 45015 and len(fake.send_attempts) == 1 and fake.token_requests == 1

    asyncio.run(scenario())


def test_token_errors_say_what_to_check_and_hide_the_secret() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            fake.token_error = {"errcode": 40125, "errmsg": "invalid appsecret"}
            client = _client(fake)
            with pytest.raises(WeChatAPIError) as info:
                await client.send_text(OPENID, "您好")
            await client.close()
            assert info.value.errcode == 40125 and "app_secret" in str(info.value)
            assert APP_SECRET not in str(info.value) and not fake.send_attempts

    asyncio.run(scenario())


def test_unreachable_api_is_a_wechat_error_without_the_url() -> None:
    async def scenario() -> None:
        async with fake_wechat_api() as fake:
            base = fake.base  # the server is gone after the block
        client = CustomerServiceClient(APP_ID, APP_SECRET, api_base=base, timeout_seconds=2)
        with pytest.raises(WeChatAPIError) as info:
            await client.send_text(OPENID, "您好")
        await client.close()
        assert info.value.errcode is None and APP_SECRET not in str(info.value)
        assert info.value.__cause__ is None  # aiohttp's error, which prints the URL, is not chained

    asyncio.run(scenario())
