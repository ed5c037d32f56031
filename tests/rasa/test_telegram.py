"""The Telegram webhook channel, end to end on loopback.

A real Sanic server mounts ``TelegramInput`` where Rasa would (``/webhooks/telegram/...``);
python-telegram-bot sends the replies to a fake Bot API server (see ``test_telegram_fake_api``);
``ScriptedRasa`` stands in for Rasa's agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels.guard import APOLOGY
from channels.telegram import (
    HELP_TEXT,
    MAX_BODY_BYTES,
    SECRET_HEADER,
    TEXT_LIMIT,
    TEXT_ONLY_TEXT,
    TelegramConfigError,
    TelegramInput,
    TelegramSettings,
)
from tests.rasa.test_telegram_fake_api import (
    FIXTURES,
    TOKEN,
    FakeTelegramApi,
    ScriptedRasa,
    fake_telegram,
    load_update,
    serve_channels,
)

SECRET = "Yinling_test-secret_0123456789"
CHAT_ID = 700000001
WEBHOOK = "/webhooks/telegram/webhook"
GREETING = [
    {
        "text": "您好！我是银龄助手，很高兴为您服务。",
        "buttons": [
            {"title": "1. 养老服务", "payload": "/ask_care_service"},
            {"title": "2. 法律公证", "payload": "/ask_legal"},
        ],
    }
]
TELEGRAM_ENV = ("TELEGRAM_TOKEN", "TELEGRAM_SECRET_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_API_BASE_URL")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Memory deduplication (a shared Redis would remember update ids across runs) and no stray settings.
    for var in ("REDIS_URL", *TELEGRAM_ENV):
        monkeypatch.delenv(var, raising=False)


def text_update(update_id: int, text: str) -> dict[str, Any]:
    update = load_update("text_message")
    update["update_id"] = update_id
    update["message"]["text"] = text
    return update


@dataclass
class Stack:
    fake: FakeTelegramApi
    channel: TelegramInput
    rasa: ScriptedRasa
    url: str
    session: aiohttp.ClientSession

    async def post(
        self, update: dict[str, Any] | bytes, secret: str | None = SECRET, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if secret is not None:
            all_headers[SECRET_HEADER] = secret
        body = update if isinstance(update, bytes) else json.dumps(update, ensure_ascii=False).encode()
        async with self.session.post(f"{self.url}{WEBHOOK}", data=body, headers=all_headers) as reply:
            return reply.status, await reply.json()

    async def settle(self) -> None:
        await self.channel.drain(timeout=15)

    def sent_texts(self) -> list[str]:
        return [c["text"] for c in self.fake.sent()]


@contextlib.asynccontextmanager
async def telegram_stack(rasa: ScriptedRasa | None = None, **credentials: Any) -> AsyncIterator[Stack]:
    async with fake_telegram() as fake:
        settings = TelegramSettings.load(
            {"token": TOKEN, "secret_token": SECRET, "base_url": fake.base_url, **credentials}
        )
        channel = TelegramInput(settings)
        script = rasa or ScriptedRasa()
        async with serve_channels([channel], script) as url, aiohttp.ClientSession() as session:
            yield Stack(fake, channel, script, url, session)


# --- every recorded update kind -------------------------------------------------------------


UPDATE_KINDS = [
    ("text_message", "我想问问助餐服务怎么申请", "收到：我想问问助餐服务怎么申请"),
    ("command_start", "/greet", "收到：/greet"),
    ("command_help", None, HELP_TEXT),
    ("command_other", "book 体检", "收到：book 体检"),
    ("photo", None, TEXT_ONLY_TEXT),
    ("sticker", None, TEXT_ONLY_TEXT),
    ("voice", None, TEXT_ONLY_TEXT),
    ("edited_message", None, None),
    ("callback_query", None, None),
    ("unknown_update", None, None),
    ("group_message", None, None),
]


def test_every_recorded_update_is_exercised() -> None:
    recorded = {path.stem for path in FIXTURES.glob("*.json")}
    assert recorded == {fixture for fixture, _, _ in UPDATE_KINDS}


@pytest.mark.parametrize(("fixture", "to_rasa", "reply"), UPDATE_KINDS)
def test_each_recorded_update_kind(fixture: str, to_rasa: str | None, reply: str | None) -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            update = load_update(fixture)
            assert await stack.post(update) == (200, {"status": "accepted"})
            await stack.settle()
            assert stack.rasa.texts == ([to_rasa] if to_rasa else [])
            assert stack.sent_texts() == ([reply] if reply else [])
            if reply:
                assert stack.fake.sent()[0]["chat_id"] == str(CHAT_ID)
                assert "reply_markup" not in stack.fake.sent()[0]

    asyncio.run(scenario())


def test_the_user_message_carries_sender_message_id_and_metadata() -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            await stack.post(load_update("text_message"))
            await stack.settle()
            [message] = stack.rasa.received
            assert message.sender_id == f"telegram:{CHAT_ID}"
            assert message.message_id == "512340001"
            assert message.metadata == {"channel": "telegram"}
            assert message.input_channel == "telegram"
            # At startup the token was checked with getMe; no webhook is registered unless configured.
            assert stack.fake.calls_to("getMe") and not stack.fake.calls_to("setWebhook")

    asyncio.run(scenario())


def test_start_with_a_bot_name_or_deep_link_still_greets() -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            await stack.post(text_update(1, "/start@yinling_test_bot"))
            await stack.post(text_update(2, "/start from_leaflet"))
            await stack.post(text_update(3, "/"))
            await stack.settle()
            assert stack.rasa.texts == ["/greet", "/greet"]
            assert HELP_TEXT in stack.sent_texts()

    asyncio.run(scenario())


# --- the sender is verified first ------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper(), "秘密", SECRET + " "], ids=repr
)
def test_a_wrong_or_missing_secret_is_refused_and_nothing_happens(secret: str | None) -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            update = load_update("text_message")
            status, _ = await stack.post(update, secret=secret)
            assert status == 403
            await stack.settle()
            assert stack.rasa.received == [] and stack.fake.sent() == []
            # The refused delivery did not use up the update id: the genuine one still works.
            assert await stack.post(update) == (200, {"status": "accepted"})
            await stack.settle()
            assert len(stack.rasa.received) == 1

    asyncio.run(scenario())


# --- repeated deliveries -----------------------------------------------------------------------


def test_the_same_update_twice_has_one_effect() -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            update = load_update("text_message")
            first, second = await stack.post(update), await stack.post(update)
            assert first == (200, {"status": "accepted"}) and second == (200, {"status": "duplicate"})
            await stack.settle()
            assert len(stack.rasa.received) == 1 and len(stack.fake.sent()) == 1

    asyncio.run(scenario())


def test_the_same_update_concurrently_has_one_effect() -> None:
    async def scenario() -> None:
        async with telegram_stack(ScriptedRasa(delay=0.2)) as stack:
            update = load_update("text_message")
            answers = await asyncio.gather(*(stack.post(update) for _ in range(12)))
            assert sorted(body["status"] for _, body in answers) == ["accepted"] + ["duplicate"] * 11
            assert {status for status, _ in answers} == {200}
            await stack.settle()
            assert len(stack.rasa.received) == 1 and len(stack.fake.sent()) == 1

    asyncio.run(scenario())


# --- fast answer, slow work after ---------------------------------------------------------------


def test_the_webhook_answers_before_rasa_is_done() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        async with telegram_stack(ScriptedRasa(gate=gate)) as stack:
            # Rasa cannot finish before the gate opens, so an answer here was given before Rasa was done.
            answer = await asyncio.wait_for(stack.post(load_update("text_message")), timeout=60)
            assert answer == (200, {"status": "accepted"})
            assert stack.fake.sent() == []  # the reply is still being worked on
            gate.set()
            await stack.settle()
            assert stack.sent_texts() == ["收到：我想问问助餐服务怎么申请"]

    asyncio.run(scenario())


def test_when_too_much_is_in_progress_telegram_is_asked_to_send_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.telegram.MAX_PENDING", 1)

    async def scenario() -> None:
        async with telegram_stack(ScriptedRasa(delay=1.0)) as stack:
            assert (await stack.post(text_update(1, "一")))[0] == 200
            assert (await stack.post(text_update(2, "二")))[0] == 503
            await stack.settle()
            # The deferred update was not marked as seen, so Telegram's re-delivery is handled.
            assert await stack.post(text_update(2, "二")) == (200, {"status": "accepted"})
            await stack.settle()
            assert stack.rasa.texts == ["一", "二"]

    asyncio.run(scenario())


def test_silence_from_rasa_becomes_the_apology() -> None:
    async def scenario() -> None:
        async with telegram_stack(ScriptedRasa(script={"我想问问助餐服务怎么申请": []})) as stack:
            await stack.post(load_update("text_message"))
            await stack.settle()
            assert stack.sent_texts() == [APOLOGY]

    asyncio.run(scenario())


# --- buttons as a reply keyboard ---------------------------------------------------------------


def test_buttons_become_a_big_keyboard_and_a_tapped_title_sends_the_payload() -> None:
    rasa = ScriptedRasa(script={"/greet": GREETING, "/ask_care_service": [{"text": "您想问哪项养老服务？"}]})

    async def scenario() -> None:
        async with telegram_stack(rasa) as stack:
            await stack.post(load_update("command_start"))
            await stack.settle()
            [greeting] = stack.fake.sent()
            assert greeting["reply_markup"]["keyboard"] == [[{"text": "1. 养老服务"}], [{"text": "2. 法律公证"}]]
            assert greeting["reply_markup"]["resize_keyboard"] is True
            assert greeting["reply_markup"]["one_time_keyboard"] is True

            await stack.post(text_update(10, "1. 养老服务"))  # what Telegram sends when the button is tapped
            await stack.settle()
            assert stack.rasa.texts[-1] == "/ask_care_service"
            # The answer has no buttons, so the old keyboard goes away…
            assert stack.fake.sent()[-1]["reply_markup"] == {"remove_keyboard": True}

            await stack.post(text_update(11, "谢谢"))
            await stack.settle()
            # …once: there is nothing left to remove.
            assert "reply_markup" not in stack.fake.sent()[-1]

            await stack.post(text_update(12, "1. 养老服务"))
            await stack.settle()
            # No keyboard is offered any more, so the same words are just text.
            assert stack.rasa.texts[-1] == "1. 养老服务"

    asyncio.run(scenario())


def test_later_messages_of_the_same_turn_keep_the_keyboard() -> None:
    rasa = ScriptedRasa(script={"/greet": [*GREETING, {"text": "也可以直接打字问我。"}]})

    async def scenario() -> None:
        async with telegram_stack(rasa) as stack:
            await stack.post(load_update("command_start"))
            await stack.settle()
            first, second = stack.fake.sent()
            assert "keyboard" in first["reply_markup"] and "reply_markup" not in second
            # Help and "text only" notices leave the keyboard usable, too.
            await stack.post(load_update("photo"))
            await stack.settle()
            assert "reply_markup" not in stack.fake.sent()[-1]
            await stack.post(text_update(20, "2. 法律公证"))
            await stack.settle()
            assert stack.rasa.texts[-1] == "/ask_legal"

    asyncio.run(scenario())


def test_buttons_without_text_still_get_a_prompt() -> None:
    rasa = ScriptedRasa(script={"/greet": [{"text": "", "buttons": GREETING[0]["buttons"]}]})

    async def scenario() -> None:
        async with telegram_stack(rasa) as stack:
            await stack.post(load_update("command_start"))
            await stack.settle()
            [sent] = stack.fake.sent()
            assert sent["text"].strip() and len(sent["reply_markup"]["keyboard"]) == 2

    asyncio.run(scenario())


# --- long answers --------------------------------------------------------------------------------


def test_a_6000_character_answer_is_sent_in_two_pieces_within_the_limit() -> None:
    long_answer = "长护险是上海的长期护理保险，失能老人可以申请上门护理。" * 240
    long_answer = long_answer[:6000]
    rasa = ScriptedRasa(script={"我想问问助餐服务怎么申请": [{"text": long_answer}]})

    async def scenario() -> None:
        async with telegram_stack(rasa) as stack:
            await stack.post(load_update("text_message"))
            await stack.settle()
            pieces = stack.sent_texts()
            assert len(stack.fake.calls_to("sendMessage")) == 2
            assert all(len(p) <= TEXT_LIMIT for p in pieces)
            assert "".join(pieces).replace("\n", "") == long_answer

    asyncio.run(scenario())


# --- bad requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe\x00", 400),
        (b"[1, 2]", 400),
        (b'{"message": {"text": "hi"}}', 400),
        (b'{"update_id": "1"}', 400),
        (b'{"update_id": -5}', 400),
        (b'{"update_id": 7, "message": "not an object"}', 400),
        (b'{"update_id": 7, "padding": "' + b"x" * MAX_BODY_BYTES + b'"}', 413),
    ],
    ids=["broken", "not-utf8", "list", "no-update-id", "string-id", "negative-id", "bad-message", "huge"],
)
def test_malformed_bodies_are_refused_and_the_server_stays_healthy(body: bytes, status: int) -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            assert (await stack.post(body))[0] == status
            async with stack.session.get(f"{stack.url}/webhooks/telegram/") as health:
                assert health.status == 200
            assert await stack.post(load_update("text_message")) == (200, {"status": "accepted"})
            await stack.settle()
            assert len(stack.rasa.received) == 1

    asyncio.run(scenario())


def test_a_huge_chunked_body_without_length_is_cut_off() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"update_id": 9, "padding": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}'

    async def scenario() -> None:
        async with telegram_stack() as stack:
            headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            async with stack.session.post(f"{stack.url}{WEBHOOK}", data=chunks(), headers=headers) as reply:
                assert reply.status == 413
            assert await stack.post(load_update("text_message")) == (200, {"status": "accepted"})

    asyncio.run(scenario())


# --- failures while sending are logged, without personal data ---------------------------------


def test_send_errors_are_logged_without_text_or_chat_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="channels")

    async def scenario() -> None:
        async with telegram_stack() as stack:
            stack.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", times=10)
            assert await stack.post(load_update("text_message")) == (200, {"status": "accepted"})
            await stack.settle()
            assert stack.fake.calls_to("sendMessage") and stack.fake.sent() == []

    asyncio.run(scenario())
    errors = [r for r in caplog.records if r.name == "channels.telegram" and r.levelno == logging.ERROR]
    assert errors and "512340001" in errors[0].getMessage() and "blocked by the user" in errors[0].getMessage()
    for secret_thing in (str(CHAT_ID), "助餐", "秀英", TOKEN, SECRET):
        assert secret_thing not in caplog.text


def test_a_conversation_logs_no_personal_data_or_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="channels")

    async def scenario() -> None:
        async with telegram_stack(ScriptedRasa(script={"/greet": GREETING})) as stack:
            for name in ("command_start", "text_message", "photo", "edited_message", "group_message"):
                await stack.post(load_update(name))
            await stack.post(b"{not json")
            await stack.post(load_update("text_message"), secret="wrong")
            await stack.settle()
            assert len(stack.fake.sent()) == 3

    asyncio.run(scenario())
    assert "channels.telegram" in {r.name for r in caplog.records}
    for secret_thing in (str(CHAT_ID), "1234567890", "助餐", "秀英", "王家", "养老服务", TOKEN, SECRET):
        assert secret_thing not in caplog.text


def test_flood_control_is_waited_out_once() -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            stack.fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
            await stack.post(load_update("text_message"))
            await stack.settle()
            assert len(stack.fake.calls_to("sendMessage")) == 2
            assert stack.sent_texts() == ["收到：我想问问助餐服务怎么申请"]

    asyncio.run(scenario())


# --- configuration ---------------------------------------------------------------------------------


def test_from_credentials_builds_the_channel_rasa_mounts_at_webhooks_telegram() -> None:
    async def scenario() -> None:
        channel = TelegramInput.from_credentials({"token": TOKEN, "secret_token": SECRET})
        assert isinstance(channel, TelegramInput)
        assert channel.name() == "telegram" and channel.url_prefix() == "telegram"
        assert channel.get_output_channel() is not None
        routes = {r.uri for r in channel.blueprint(ScriptedRasa())._future_routes}
        assert routes == {"/", "/webhook"}

    asyncio.run(scenario())


def test_rasa_loads_the_channel_from_a_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.run import create_http_input_channels

    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_SECRET_FOR_TEST", SECRET)
    credentials = tmp_path / "credentials.yml"
    # Token from TELEGRAM_TOKEN (the channel's own fallback), secret through Rasa's ${VAR} expansion.
    credentials.write_text("channels.telegram.TelegramInput:\n  secret_token: ${TELEGRAM_SECRET_FOR_TEST}\n")

    async def scenario() -> None:
        [channel] = create_http_input_channels(None, str(credentials))
        assert isinstance(channel, TelegramInput)
        assert channel.secret_matches(SECRET) and channel.settings.token == TOKEN

    asyncio.run(scenario())
    monkeypatch.delenv("TELEGRAM_TOKEN")
    with pytest.raises(TelegramConfigError):
        create_http_input_channels(None, str(credentials))


def test_a_missing_token_is_a_clear_config_error() -> None:
    with pytest.raises(TelegramConfigError, match="TELEGRAM_TOKEN") as raised:
        TelegramSettings.load({"secret_token": SECRET}, environ={})
    assert isinstance(raised.value, ValueError)
    with pytest.raises(TelegramConfigError, match="BotFather"):
        TelegramSettings.load({"token": "not a token", "secret_token": SECRET}, environ={})


@pytest.mark.parametrize("secret", ["a", "A-Za-z0-9_-", "x" * 256])
def test_valid_secrets_are_accepted(secret: str) -> None:
    assert TelegramSettings.load({"token": TOKEN, "secret_token": secret}, environ={}).secret_token == secret


@pytest.mark.parametrize("secret", [None, "has space", "秘密", "semi;colon", "x" * 257, "a/b"])
def test_bad_secrets_are_clear_config_errors(secret: str | None) -> None:
    with pytest.raises(TelegramConfigError, match="secret_token"):
        TelegramSettings.load({"token": TOKEN, "secret_token": secret}, environ={})


def test_settings_come_from_the_environment_when_credentials_lack_them() -> None:
    env = {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_SECRET_TOKEN": SECRET,
        "TELEGRAM_WEBHOOK_URL": "https://yinling.example.org/webhooks/telegram/webhook",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
    }
    settings = TelegramSettings.load(None, environ=env)
    assert (settings.token, settings.secret_token) == (TOKEN, SECRET)
    assert settings.webhook_url == env["TELEGRAM_WEBHOOK_URL"] and settings.base_url == env["TELEGRAM_API_BASE_URL"]
    # credentials.yml wins over the environment; the base URL has a default.
    other = TelegramSettings.load({"token": "42:other", "secret_token": "other"}, environ={"TELEGRAM_TOKEN": TOKEN})
    assert (other.token, other.secret_token, other.base_url) == ("42:other", "other", "https://api.telegram.org/bot")
    assert TOKEN not in repr(settings) and SECRET not in repr(settings)


def test_a_plain_http_webhook_url_is_a_config_error() -> None:
    with pytest.raises(TelegramConfigError, match="https"):
        TelegramSettings.load(
            {"token": TOKEN, "secret_token": SECRET, "webhook_url": "http://x.example/hook"}, environ={}
        )


def test_a_configured_webhook_url_is_registered_with_the_secret_at_startup() -> None:
    url = "https://yinling.example.org/webhooks/telegram/webhook"

    async def scenario() -> None:
        async with telegram_stack(webhook_url=url) as stack:
            [call] = stack.fake.calls_to("setWebhook")
            assert call["url"] == url and call["secret_token"] == SECRET
            assert call["allowed_updates"] == ["message"]

    asyncio.run(scenario())


def test_a_failing_set_webhook_is_logged_and_the_server_still_serves(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        fake = FakeTelegramApi()
        fake.fail("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        await fake.start()
        try:
            settings = TelegramSettings.load(
                {
                    "token": TOKEN,
                    "secret_token": SECRET,
                    "base_url": fake.base_url,
                    "webhook_url": "https://x.example/h",
                }
            )
            channel, rasa = TelegramInput(settings), ScriptedRasa()
            async with serve_channels([channel], rasa) as url, aiohttp.ClientSession() as session:
                headers = {SECRET_HEADER: SECRET}
                async with session.post(f"{url}{WEBHOOK}", json=load_update("text_message"), headers=headers) as r:
                    assert r.status == 200
                await channel.drain(timeout=10)
                assert len(rasa.received) == 1
        finally:
            await fake.stop()

    asyncio.run(scenario())
    assert any("setWebhook failed" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_a_token_telegram_refuses_stops_the_startup_with_a_config_error() -> None:
    async def scenario() -> None:
        async with fake_telegram() as fake:
            settings = TelegramSettings.load({"token": "42:REVOKED", "secret_token": SECRET, "base_url": fake.base_url})
            with pytest.raises(TelegramConfigError, match="refused the bot token"):
                await TelegramInput(settings).start()

    asyncio.run(scenario())
