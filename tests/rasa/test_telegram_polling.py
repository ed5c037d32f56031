"""Polling mode: getUpdates from the fake Bot API, answers from a real REST channel on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from channels.guard import APOLOGY
from channels.rest import RestInput
from channels.telegram import TEXT_ONLY_TEXT, TelegramConfigError, TelegramSettings
from channels.telegram_polling import load_credentials, main, run_polling
from tests.rasa.test_telegram_fake_api import (
    TOKEN,
    FakeTelegramApi,
    ScriptedRasa,
    fake_telegram,
    load_update,
    loopback_socket,
    serve_channels,
)

GREETING = [
    {
        "text": "您好！我是银龄助手。",
        "buttons": [
            {"title": "1. 养老服务", "payload": "/ask_care_service"},
            {"title": "2. 法律公证", "payload": "/ask_legal"},
        ],
    }
]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "REDIS_URL",
        "TELEGRAM_TOKEN",
        "TELEGRAM_SECRET_TOKEN",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_API_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)


def settings_for(fake: FakeTelegramApi, token: str = TOKEN) -> TelegramSettings:
    return TelegramSettings.load({"token": token, "base_url": fake.base_url}, environ={}, require_secret=False)


async def poll(fake: FakeTelegramApi, rasa: ScriptedRasa, rounds: int = 1) -> None:
    async with serve_channels([RestInput()], rasa) as url:
        await run_polling(settings_for(fake), f"{url}/webhooks/rest/webhook", rounds=rounds, poll_timeout=0)


def test_one_round_answers_every_update_through_the_rest_channel() -> None:
    rasa = ScriptedRasa(script={"/greet": GREETING})

    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.webhook_url = "https://old.example.org/webhooks/telegram/webhook"  # getUpdates would be refused
            names = ("text_message", "command_start", "photo", "edited_message", "callback_query")
            fake.pending_updates = [load_update(n) for n in names]
            await poll(fake, rasa)

            assert fake.calls_to("deleteWebhook") == [{"drop_pending_updates": "false", "_ok": True}]
            [get_updates] = fake.calls_to("getUpdates")
            assert get_updates["timeout"] == "0" and get_updates["allowed_updates"] == ["message"]

            assert rasa.texts == ["我想问问助餐服务怎么申请", "/greet"]
            assert {m.sender_id for m in rasa.received} == {"telegram:700000001"}
            assert all(m.metadata == {"channel": "telegram"} for m in rasa.received)

            echo, greeting, text_only = fake.sent()
            assert echo["text"] == "收到：我想问问助餐服务怎么申请" and echo["chat_id"] == "700000001"
            assert greeting["reply_markup"]["keyboard"] == [[{"text": "1. 养老服务"}], [{"text": "2. 法律公证"}]]
            assert text_only["text"] == TEXT_ONLY_TEXT

    asyncio.run(scenario())


def test_the_next_round_confirms_what_was_handled_and_taps_map_to_payloads() -> None:
    rasa = ScriptedRasa(script={"/greet": GREETING})

    async def scenario() -> None:
        async with fake_telegram() as fake:
            tap = load_update("text_message")
            tap["update_id"], tap["message"]["text"] = 512340050, "2. 法律公证"
            fake.pending_updates = [load_update("command_start"), tap]
            await poll(fake, rasa, rounds=2)
            first, second = fake.calls_to("getUpdates")
            assert "offset" not in first and second["offset"] == "512340051"
            assert fake.pending_updates == []
            assert rasa.texts == ["/greet", "/ask_legal"]

    asyncio.run(scenario())


def test_rasa_being_down_becomes_the_apology() -> None:
    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.pending_updates = [load_update("text_message")]
            with loopback_socket() as sock:
                closed_port = sock.getsockname()[1]  # nothing listens once the socket is closed
            rasa_url = f"http://127.0.0.1:{closed_port}/webhooks/rest/webhook"
            await run_polling(settings_for(fake), rasa_url, rounds=1, poll_timeout=0)
            assert [c["text"] for c in fake.sent()] == [APOLOGY]

    asyncio.run(scenario())


def test_a_conflict_is_retried_after_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.telegram_polling._backoff", lambda failures: 0.0)
    rasa = ScriptedRasa()

    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.pending_updates = [load_update("text_message")]
            fake.fail("getUpdates", 409, "Conflict: terminated by other getUpdates request")
            await poll(fake, rasa, rounds=2)
            assert len(fake.calls_to("getUpdates")) == 2
            assert rasa.texts == ["我想问问助餐服务怎么申请"]

    asyncio.run(scenario())


def test_a_refused_token_is_a_config_error() -> None:
    async def scenario() -> None:
        async with fake_telegram() as fake:
            with pytest.raises(TelegramConfigError, match="token"):
                await run_polling(settings_for(fake, "42:REVOKED"), "http://127.0.0.1:1/x", rounds=1, poll_timeout=0)

    asyncio.run(scenario())


def test_credentials_come_from_the_rasa_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN_FOR_TEST", TOKEN)
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "channels.rest.RestInput: {}\n"
        "channels.telegram.TelegramInput:\n"
        "  token: ${TELEGRAM_TOKEN_FOR_TEST}\n"
        "  base_url: http://127.0.0.1:8081/bot\n",
        encoding="utf-8",
    )
    section: dict[str, Any] = load_credentials(credentials)
    assert section == {"token": TOKEN, "base_url": "http://127.0.0.1:8081/bot"}
    assert load_credentials(tmp_path / "missing.yml") == {}
    monkeypatch.delenv("TELEGRAM_TOKEN_FOR_TEST")
    with pytest.raises(TelegramConfigError, match="TELEGRAM_TOKEN_FOR_TEST"):
        load_credentials(credentials)


def test_main_without_a_token_exits_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--credentials", str(tmp_path / "none.yml")])
    assert exited.value.code == 2
    assert "TELEGRAM_TOKEN" in capsys.readouterr().err
