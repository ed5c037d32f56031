"""The WeChat channel's hardening (issue "hardening", items 3, 5 and 9), each on a real server on loopback.

Every test here failed on the channel before this change: a GBK body gave 500 and logged the
signed query; a signed query could be replayed with another body; plaintext passed with a key
configured; a second OpenID with the same MsgId got the first user's reply; typed "/intent"
text was indistinguishable from a payload; there were no rate limits and typos in
credentials.yml were dropped.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.exceptions import InvalidConfigException

from channels.dedupe import MemoryBindings
from channels.wechat import WeChatConfig, WeChatInput
from channels.wechat.crypto import WeChatCrypto
from channels.wechat.errors import WeChatConfigError
from common.ratelimit import SLOW_DOWN
from tests.rasa.test_wechat import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    APP_SECRET,
    OPENID,
    TOKEN,
    XML,
    FakeBot,
    _encrypted_request,
    fixture,
    passive,
    run,
    running,
    signed_query,
)

OTHER_OPENID = "oZ9Yv4mP1kLn7uSx0bQ6dXgB3cTr"
ECHO_TEXT = "您说的是：长护险哪能申请？"


def text_message(content: str, msg_id: int, openid: str = OPENID) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>1745904000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def by_sender(message: Any) -> list[dict[str, Any]]:
    return [{"text": f"给 {message.sender_id[-4:]} 的回答：{message.text}"}]


# ------------------------------------------------------------------ 1. only UTF-8, and nothing of it in the logs

GBK_DECLARED = fixture("text").replace("<xml>", '<?xml version="1.0" encoding="GBK"?><xml>', 1)

NOT_UTF8 = {
    "GBK declared and encoded": (GBK_DECLARED.encode("gbk"), XML),
    "GBK declared, UTF-8 bytes": (GBK_DECLARED.encode("utf-8"), XML),
    "GBK bytes, no declaration": (fixture("text").encode("gbk"), XML),
    "UTF-16 declared and encoded": (
        fixture("text").replace("<xml>", '<?xml version="1.0" encoding="UTF-16"?><xml>', 1).encode("utf-16"),
        XML,
    ),
    "GBK charset header": (fixture("text").encode("utf-8"), {"Content-Type": "text/xml; charset=GBK"}),
}


@pytest.mark.parametrize("case", list(NOT_UTF8))
def test_a_body_that_is_not_utf8_is_a_short_400_and_nothing_of_it_is_logged(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = NOT_UTF8[case]
    query = signed_query(nonce="n0nce4711", openid=OPENID)

    async def scenario() -> None:
        async with running(access_log=True) as h:
            status, answer = await h.post(body, query=query, headers=headers)
            assert (status, answer) == (400, "refused: BadPayloadError")
            assert h.bot.calls == []
            status, reply = await h.post(fixture("text"))
            assert status == 200 and passive(reply)["Content"] == ECHO_TEXT

    caplog.set_level(logging.DEBUG, logger="channels")
    caplog.set_level(logging.INFO, logger="sanic")
    run(scenario)
    assert any("Refused a WeChat request (400)" in r.getMessage() for r in caplog.records)
    assert any(
        r.name == "sanic.access" and "/webhooks/wechat/webhook?" in str(getattr(r, "request", ""))
        for r in caplog.records
    )
    logged = caplog.text + " ".join(str(getattr(r, "request", "")) for r in caplog.records)
    for secret in (query["signature"], "n0nce4711", OPENID, "长护险"):
        assert secret not in logged


def test_an_unexpected_failure_is_a_500_that_logs_neither_query_nor_openid(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenBindings(MemoryBindings):
        async def bind(self, key: str, value: str, ttl_seconds: float) -> bool:
            raise RuntimeError(f"storage down while handling {OPENID}")

    query = signed_query(nonce="n0nce4712", openid=OPENID)

    async def scenario() -> None:
        async with running(bindings=BrokenBindings(), access_log=True) as h:
            assert await h.post(fixture("text"), query=query) == (500, "refused: internal error")
            assert h.bot.calls == []

    caplog.set_level(logging.DEBUG)
    run(scenario)
    assert "RuntimeError at" in caplog.text and "bind" in caplog.text
    logged = caplog.text + " ".join(str(getattr(r, "request", "")) for r in caplog.records)
    for secret in (query["signature"], "n0nce4712", OPENID):
        assert secret not in logged


@pytest.mark.parametrize("content", ["👵🏻 长护险 長護險 ABC ١٢٣ 💊", "长护险" * 600])
def test_emoji_mixed_scripts_and_long_text_arrive_intact(content: str) -> None:
    async def scenario() -> None:
        async with running() as h:
            status, _ = await h.post(text_message(content, 9001))
            assert status == 200 and [m.text for m in h.bot.calls] == [content]

    run(scenario)


def test_control_characters_are_refused_and_the_server_keeps_serving() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert (await h.post(text_message("长护险\x01\x02", 9002)))[0] == 400
            assert (await h.post(fixture("text")))[0] == 200 and len(h.bot.calls) == 1

    run(scenario)


# ------------------------------------------------------------------ 2. a signed query string is good for one body


def test_a_signed_query_replayed_with_another_body_is_refused() -> None:
    async def scenario() -> None:
        async with running() as h:
            query = signed_query()
            first = await h.post(fixture("text"), query=query)
            assert first[0] == 200
            forged = text_message("帮我取消所有预约", 9003)
            assert await h.post(forged, query=query) == (403, "refused: ReplayError")
            assert [m.text for m in h.bot.calls] == ["长护险哪能申请？"]
            # The same body again is WeChat retrying: it gets the first answer, and nothing runs twice.
            assert await h.post(fixture("text"), query=query) == first
            assert len(h.bot.calls) == 1
            # The other body under its own signed query is an ordinary message.
            assert (await h.post(forged))[0] == 200 and len(h.bot.calls) == 2

    run(scenario)


def test_a_replay_is_a_failed_check_of_its_address() -> None:
    async def scenario() -> None:
        async with running(environ={"YINLING_RATE_WECHAT_IP": "0.001/1"}) as h:
            query = signed_query()
            assert (await h.post(fixture("text"), query=query))[0] == 200
            assert (await h.post(fixture("voice"), query=query))[0] == 403
            assert await h.post(fixture("voice"), query=query) == (403, "refused: too many failed checks")
            # A request with a valid signature is never held back by others' failures at its address.
            assert (await h.post(fixture("voice")))[0] == 200

    run(scenario)


# ------------------------------------------------------------------ 3. with a key, only safe mode


def test_with_an_aes_key_plaintext_messages_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(encoding_aes_key=AES_KEY) as h:
            assert await h.post(fixture("text")) == (403, "refused: PlaintextRefusedError")
            assert h.bot.calls == []
            body, query = _encrypted_request(WeChatCrypto(TOKEN, AES_KEY, APP_ID), fixture("text"))
            assert (await h.post(body, query=query))[0] == 200 and len(h.bot.calls) == 1

    run(scenario)
    assert "安全模式" in caplog.text and "compatibility_mode" in caplog.text  # the log says what to change


@pytest.mark.parametrize(
    ("settings", "environ"),
    [({"compatibility_mode": True}, {}), ({}, {"WECHAT_COMPATIBILITY_MODE": "1"})],
    ids=["credentials", "environment"],
)
def test_compatibility_mode_takes_both(settings: dict[str, Any], environ: dict[str, str]) -> None:
    async def scenario() -> None:
        async with running(encoding_aes_key=AES_KEY, environ=environ, **settings) as h:
            assert h.channel.config.compatibility_mode
            assert (await h.post(fixture("text")))[0] == 200
            body, query = _encrypted_request(WeChatCrypto(TOKEN, AES_KEY, APP_ID), fixture("voice"))
            assert (await h.post(body, query=query))[0] == 200
            assert len(h.bot.calls) == 2

    run(scenario)


def test_compatibility_mode_is_off_by_default_and_must_be_a_yes_or_no() -> None:
    settings = {"token": "t", "app_id": "a", "app_secret": "s", "encoding_aes_key": AES_KEY}
    config = WeChatConfig.from_credentials(settings, environ={})
    assert config.safe_mode and not config.compatibility_mode and not config.plaintext_allowed
    assert WeChatConfig.from_credentials({**settings, "encoding_aes_key": ""}, environ={}).plaintext_allowed
    with pytest.raises(WeChatConfigError, match="WECHAT_COMPATIBILITY_MODE"):
        WeChatConfig.from_credentials(settings, environ={"WECHAT_COMPATIBILITY_MODE": "perhaps"})


# ------------------------------------------------------------------ 4. answers belong to one sender


def test_two_openids_with_the_same_msgid_each_get_their_own_answer() -> None:
    async def scenario() -> None:
        async with running(FakeBot(reply=by_sender)) as h:
            _, mine = await h.post(text_message("我的问题", 4242, OPENID))
            _, theirs = await h.post(text_message("别人的问题", 4242, OTHER_OPENID))
            assert [m.sender_id for m in h.bot.calls] == [f"wechat:{OPENID}", f"wechat:{OTHER_OPENID}"]
            assert passive(mine)["ToUserName"] == OPENID and passive(mine)["Content"].endswith("我的问题")
            assert passive(theirs)["ToUserName"] == OTHER_OPENID and passive(theirs)["Content"].endswith("别人的问题")
            # Each one's retry still gets their own answer.
            _, retried = await h.post(text_message("别人的问题", 4242, OTHER_OPENID))
            assert passive(retried) == passive(theirs) and len(h.bot.calls) == 2

    run(scenario)


# ------------------------------------------------------------------ typed text is never a trusted payload

TRUST_CASES = [
    ("typed /greet", lambda: text_message("/greet", 5001), "/greet", False),
    ("typed /emergency", lambda: text_message("/emergency", 5002), "/emergency", False),
    ("subscribe", lambda: fixture("event_subscribe"), "/greet", True),
    ("configured menu key", lambda: fixture("event_click"), "/book_service", True),
    (
        "unconfigured menu key",
        lambda: fixture("event_click").replace("MENU_BOOK_SERVICE", "MENU_OTHER"),
        "MENU_OTHER",
        False,
    ),
    (
        "a body claiming trust",
        lambda: text_message("/greet", 5003).replace(
            "</xml>", "<trusted_payload>true</trusted_payload><metadata>trusted_payload</metadata></xml>"
        ),
        "/greet",
        False,
    ),
]


@pytest.mark.parametrize(("case", "body", "text", "trusted"), TRUST_CASES, ids=[c[0] for c in TRUST_CASES])
def test_only_payloads_the_channel_chose_are_trusted(case: str, body: Any, text: str, trusted: bool) -> None:
    async def scenario() -> None:
        async with running(menu={"MENU_BOOK_SERVICE": "/book_service"}) as h:
            assert (await h.post(body()))[0] == 200
            [message] = h.bot.calls
            assert message.text == text
            assert message.metadata is not None
            assert message.metadata.get("trusted_payload") is (True if trusted else None)
            assert set(message.metadata) <= {"channel", "msg_type", "trusted_payload"}

    run(scenario)


# ------------------------------------------------------------------ rate limits


def test_a_flooding_sender_gets_one_slow_down_and_the_bot_is_spared() -> None:
    async def scenario() -> None:
        async with running(environ={"YINLING_RATE_WECHAT_SENDER": "0.001/2"}) as h:
            answers = [await h.post(text_message(f"第{i}条", 7000 + i)) for i in range(5)]
            assert [m.text for m in h.bot.calls] == ["第0条", "第1条"]
            assert [passive(body)["Content"] for _, body in answers[:3]] == [
                "您说的是：第0条",
                "您说的是：第1条",
                SLOW_DOWN,
            ]
            assert answers[3:] == [(200, "success"), (200, "success")]
            # WeChat retrying the slowed-down message gets the same answer; nothing runs.
            assert await h.post(text_message("第2条", 7002)) == answers[2]
            assert len(h.bot.calls) == 2
            # Another senior is not affected.
            _, other = await h.post(text_message("我也想问", 7100, OTHER_OPENID))
            assert passive(other)["Content"] == "您说的是：我也想问"

    run(scenario)


def test_failed_signatures_block_their_address_for_a_while(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(environ={"YINLING_RATE_WECHAT_IP": "0.001/3"}) as h:
            bad = {**signed_query(), "signature": "0" * 40}
            for _ in range(2):
                assert await h.post(fixture("text"), query=bad) == (403, "refused: SignatureError")
            for _ in range(3):
                assert await h.post(fixture("text"), query=bad) == (403, "refused: too many failed checks")
            async with h.http.get(h.url, params={**signed_query(echostr="1"), "signature": "1" * 40}) as resp:
                assert resp.status == 403
            assert h.bot.calls == []
            # The platform's own, signed requests from the same address still get through.
            async with h.http.get(h.url, params=signed_query(echostr="1")) as resp:
                assert resp.status == 200
            assert (await h.post(fixture("text")))[0] == 200 and len(h.bot.calls) == 1

    caplog.set_level(logging.INFO, logger="channels")
    run(scenario)
    blocked = [r for r in caplog.records if "Refusing wechat requests from address" in r.getMessage()]
    assert len(blocked) == 1 and "127.0.0.1" not in blocked[0].getMessage()


def test_refusals_after_the_signature_check_do_not_block_the_address() -> None:
    async def scenario() -> None:
        async with running(environ={"YINLING_RATE_WECHAT_IP": "0.001/1"}) as h:
            for _ in range(3):
                status, _ = await h.post(fixture("text"), headers={"Content-Type": "application/json"})
                assert status == 415
            assert (await h.post(fixture("text")))[0] == 200

    run(scenario)


# ------------------------------------------------------------------ plumbing: drain on shutdown


def test_stopping_the_server_lets_a_slow_reply_go_out_first() -> None:
    import aiohttp

    from channels.dedupe import MemoryDeduplicator
    from tests.rasa.test_telegram_fake_api import ScriptedRasa, serve_channels
    from tests.rasa.test_wechat_api import fake_wechat_api

    async def scenario() -> None:
        async with fake_wechat_api() as api:
            settings = {"token": TOKEN, "app_id": APP_ID, "app_secret": APP_SECRET, "api_base": api.base}
            config = WeChatConfig.from_credentials({**settings, "reply_timeout": 0.2}, environ={})
            channel = WeChatInput(config, deduplicator=MemoryDeduplicator(), bindings=MemoryBindings())
            async with serve_channels([channel], ScriptedRasa(delay=0.6)) as url, aiohttp.ClientSession() as http:
                params = signed_query()
                async with http.post(
                    f"{url}/webhooks/wechat/webhook", data=fixture("text").encode(), params=params, headers=XML
                ) as r:
                    assert (r.status, await r.text()) == (200, "success")
                assert api.sent == []  # still thinking when the server is told to stop
            # The stop listener waited for the bot and the customer-service send, then closed the client.
            assert [m["text"]["content"] for m in api.sent] == ["收到：长护险哪能申请？"]
            assert channel.tasks.pending == 0

    run(scenario)


# ------------------------------------------------------------------ configuration typos


def test_an_unknown_key_in_credentials_yml_names_the_key_the_file_and_the_allowed_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.run import create_http_input_channels

    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "channels.wechat.WeChatInput:\n"
        f"  token: {TOKEN}\n  app_id: {APP_ID}\n  app_secret: {APP_SECRET}\n"
        "  reply_timout: 3\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "argv", ["rasa", "run", "--credentials", str(credentials)])
    with pytest.raises(WeChatConfigError) as info:
        create_http_input_channels(None, str(credentials))
    message = str(info.value)
    assert "'reply_timout' (did you mean 'reply_timeout'?)" in message
    assert str(credentials) in message and "channels.wechat.WeChatInput" in message
    assert "Allowed keys: api_base, app_id, app_secret, compatibility_mode, encoding_aes_key" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidConfigException)
    # Without the typo the same file starts the channel.
    credentials.write_text(credentials.read_text(encoding="utf-8").replace("reply_timout", "reply_timeout"))
    [channel] = create_http_input_channels(None, str(credentials))
    assert isinstance(channel, WeChatInput) and channel.config.reply_timeout == 3.0


def test_a_malformed_rate_limit_is_a_wechat_config_error() -> None:
    settings = {"token": "t", "app_id": "a", "app_secret": "s"}
    with pytest.raises(WeChatConfigError, match="YINLING_RATE_WECHAT_SENDER"):
        WeChatConfig.from_credentials(settings, environ={"YINLING_RATE_WECHAT_SENDER": "fast"})
    config = WeChatConfig.from_credentials(settings, environ={"YINLING_RATE_SENDER": "30/5"})
    assert (config.sender_limit.per_minute, config.sender_limit.burst) == (30, 5)


def test_secrets_stay_out_of_the_config_repr() -> None:
    config = WeChatConfig.from_credentials(
        {"token": "tok-4711", "app_id": APP_ID, "app_secret": APP_SECRET, "encoding_aes_key": AES_KEY}, environ={}
    )
    assert "tok-4711" not in repr(config) and APP_SECRET not in repr(config) and AES_KEY not in repr(config)
