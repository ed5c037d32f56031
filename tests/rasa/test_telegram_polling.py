"""Polling mode: getUpdates from the fake Bot API, relayed to a real Telegram webhook channel on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channels import telegram_polling
from channels.telegram import TEXT_ONLY_TEXT, TelegramConfigError, TelegramInput, TelegramSettings
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

SECRET = "polling-secret_0123456789"
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


def settings_for(fake: FakeTelegramApi, token: str = TOKEN, secret: str | None = SECRET) -> TelegramSettings:
    credentials = {"token": token, "base_url": fake.base_url, "secret_token": secret}
    return TelegramSettings.load(credentials, environ={}, require_secret=False)


@contextlib.asynccontextmanager
async def server(fake: FakeTelegramApi, rasa: ScriptedRasa) -> AsyncIterator[tuple[TelegramInput, str]]:
    """The Rasa server's side: the webhook channel, answering through the fake Bot API."""
    channel = TelegramInput(settings_for(fake))
    async with serve_channels([channel], rasa) as url:
        yield channel, f"{url}/webhooks/telegram/webhook"


async def poll(fake: FakeTelegramApi, rasa: ScriptedRasa, rounds: int = 1) -> TelegramInput:
    async with server(fake, rasa) as (channel, webhook):
        await run_polling(settings_for(fake), webhook, rounds=rounds, poll_timeout=0)
        await channel.drain(timeout=10)
        return channel


def test_one_round_relays_every_update_to_the_webhook_channel() -> None:
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

            # Handled by the webhook channel exactly as in webhook mode, trusted /start included.
            assert rasa.texts == ["我想问问助餐服务怎么申请", "/greet"]
            assert {m.sender_id for m in rasa.received} == {"telegram:700000001"}
            assert [m.metadata for m in rasa.received] == [
                {"channel": "telegram"},
                {"channel": "telegram", "trusted_payload": True},
            ]
            assert {m.input_channel for m in rasa.received} == {"telegram"}

            sent = fake.sent()
            assert [m["text"] for m in sent] == ["收到：我想问问助餐服务怎么申请", GREETING[0]["text"], TEXT_ONLY_TEXT]
            assert sent[1]["reply_markup"]["keyboard"] == [[{"text": "1. 养老服务"}], [{"text": "2. 法律公证"}]]

    asyncio.run(scenario())


def test_the_next_round_confirms_what_was_relayed_and_taps_map_to_payloads(monkeypatch: pytest.MonkeyPatch) -> None:
    rasa = ScriptedRasa(script={"/greet": GREETING})

    async def scenario() -> None:
        async with fake_telegram() as fake:
            tap = load_update("text_message")
            tap["update_id"], tap["message"]["text"] = 512340050, "2. 法律公证"
            fake.pending_updates = [load_update("command_start")]
            async with server(fake, rasa) as (channel, webhook):
                relay_round = telegram_polling.poll_once

                async def round_then_settle(*args: Any) -> tuple[int | None, bool]:
                    result = await relay_round(*args)
                    await channel.drain(timeout=10)
                    if len(fake.calls_to("getUpdates")) == 1:
                        fake.pending_updates.append(tap)  # the user taps once the keyboard is there
                    return result

                monkeypatch.setattr("channels.telegram_polling.poll_once", round_then_settle)
                await run_polling(settings_for(fake), webhook, rounds=2, poll_timeout=0)
            first, second = fake.calls_to("getUpdates")
            # The second round confirms the first round's update; the tap waits for the next one.
            assert "offset" not in first and second["offset"] == "512340003"
            assert [u["update_id"] for u in fake.pending_updates] == [512340050]
            assert rasa.texts == ["/greet", "/ask_legal"]
            assert rasa.received[1].metadata == {"channel": "telegram", "trusted_payload": True}

    asyncio.run(scenario())


def test_a_server_that_is_down_leaves_the_update_unconfirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.telegram_polling._backoff", lambda failures: 0.0)

    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.pending_updates = [load_update("text_message")]
            with loopback_socket() as sock:
                closed_port = sock.getsockname()[1]  # nothing listens once the socket is closed
            webhook = f"http://127.0.0.1:{closed_port}/webhooks/telegram/webhook"
            await run_polling(settings_for(fake), webhook, rounds=2, poll_timeout=0)
            # Offered again (offset = its own id), so Telegram keeps it for when the server is back.
            first, second = fake.calls_to("getUpdates")
            assert "offset" not in first and second["offset"] == "512340001"
            assert [u["update_id"] for u in fake.pending_updates] == [512340001]
            assert fake.sent() == []

    asyncio.run(scenario())


def test_a_busy_server_gets_the_update_again_and_handles_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.telegram_polling._backoff", lambda failures: 0.0)
    monkeypatch.setattr("channels.telegram.MAX_PENDING", 0)  # the server answers 503 to everything
    rasa = ScriptedRasa()

    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.pending_updates = [load_update("text_message")]
            async with server(fake, rasa) as (channel, webhook):
                await run_polling(settings_for(fake), webhook, rounds=1, poll_timeout=0)
                assert rasa.received == [] and len(fake.pending_updates) == 1
                monkeypatch.setattr("channels.telegram.MAX_PENDING", 10)
                await run_polling(settings_for(fake), webhook, rounds=2, poll_timeout=0)
                await channel.drain(timeout=10)
            assert rasa.texts == ["我想问问助餐服务怎么申请"]
            assert fake.pending_updates == []

    asyncio.run(scenario())


def test_a_wrong_secret_stops_the_poller_with_a_config_error() -> None:
    async def scenario() -> None:
        async with fake_telegram() as fake:
            fake.pending_updates = [load_update("text_message")]
            async with server(fake, ScriptedRasa()) as (_, webhook):
                with pytest.raises(TelegramConfigError, match="TELEGRAM_SECRET_TOKEN"):
                    await run_polling(settings_for(fake, secret="not-the-secret"), webhook, rounds=1, poll_timeout=0)
            assert len(fake.pending_updates) == 1  # nothing confirmed

    asyncio.run(scenario())


def test_no_secret_is_a_config_error_before_anything_is_fetched() -> None:
    async def scenario() -> None:
        async with fake_telegram() as fake:
            with pytest.raises(TelegramConfigError, match="TELEGRAM_SECRET_TOKEN"):
                await run_polling(settings_for(fake, secret=None), "http://127.0.0.1:1/x", rounds=1, poll_timeout=0)
            assert fake.calls == []

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


def test_main_names_a_mistyped_key_and_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        f"channels.telegram.TelegramInput:\n  token: '{TOKEN}'\n  secret_tokn: x\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit) as exited:
        main(["--credentials", str(credentials)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'secret_tokn' (did you mean 'secret_token'?)" in err and str(credentials) in err
