"""The Telegram channel's hardening (issue "hardening", items 3, 5 and 10), on a real server on loopback.

Each of these failed before this change: JSON nested 10,000 deep gave 500; updates with no chat,
no sender or non-string text were accepted and failed later; there were no rate limits, no
trusted-payload marking, and typos in credentials.yml were dropped.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.exceptions import InvalidConfigException

from channels.telegram import MAX_JSON_DEPTH, TelegramConfigError, TelegramInput, TelegramSettings
from common.ratelimit import SLOW_DOWN
from tests.rasa.test_telegram import CHAT_ID, GREETING, SECRET, TELEGRAM_ENV, telegram_stack, text_update
from tests.rasa.test_telegram_fake_api import TOKEN, ScriptedRasa, load_update


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Memory deduplication (a shared Redis would remember update ids across runs), no stray settings.
    for var in ("REDIS_URL", "YINLING_RATE_SENDER", "YINLING_RATE_IP", *TELEGRAM_ENV):
        monkeypatch.delenv(var, raising=False)


# ------------------------------------------------------------------ 10. deep JSON is a 400


def _nested(depth: int, opener: str, closer: str) -> bytes:
    update = json.dumps(text_update(42, "你好"), ensure_ascii=False)
    inner = opener * depth + "1" + closer * depth
    return update.replace('"text": "你好"', f'"text": "你好", "deep": {inner}').encode("utf-8")


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a": ', "}")], ids=["arrays", "objects"])
def test_json_nested_ten_thousand_deep_is_a_400_and_the_server_keeps_serving(
    opener: str, closer: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with telegram_stack() as stack:
            status, answer = await stack.post(_nested(10_000, opener, closer))
            assert (status, answer) == (400, {"status": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"})
            assert await stack.post(text_update(43, "还在吗")) == (200, {"status": "accepted"})
            await stack.settle()
            assert stack.rasa.texts == ["还在吗"]

    run_logged(scenario, caplog)
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text


def test_moderate_nesting_and_brackets_in_text_are_fine() -> None:
    text = "[[[{{{ 长护险 }}}]]]" * 300

    async def scenario() -> None:
        async with telegram_stack() as stack:
            assert (await stack.post(_nested(MAX_JSON_DEPTH - 4, "[", "]")))[0] == 200
            assert await stack.post(text_update(44, text)) == (200, {"status": "accepted"})
            await stack.settle()
            assert stack.rasa.texts == ["你好", text]

    asyncio.run(scenario())


# ------------------------------------------------------------------ 10. updates the channel cannot act on


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    update = load_update("text_message")
    target = update
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return update


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    update = load_update("text_message")
    target = update
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return update


UNUSABLE = {
    "no chat": (_without(("message", "chat")), "message without a chat"),
    "chat without id": (_without(("message", "chat", "id")), "message without a chat"),
    "chat id a string": (_with(("message", "chat", "id"), "700000001"), "message without a chat"),
    "chat without type": (_without(("message", "chat", "type")), "message without a chat"),
    "no sender": (_without(("message", "from")), "message without a sender"),
    "sender id a bool": (_with(("message", "from", "id"), True), "message without a sender"),
    "text a number": (_with(("message", "text"), 12345), "message text is not a string"),
    "text an object": (_with(("message", "text"), {"秀英": "13800138000"}), "message text is not a string"),
    "text a list": (_with(("message", "text"), ["长护险"]), "message text is not a string"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_updates_without_chat_sender_or_string_text_are_answered_200_and_dropped(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    update, reason = UNUSABLE[case]

    async def scenario() -> None:
        async with telegram_stack() as stack:
            assert await stack.post(copy.deepcopy(update)) == (200, {"status": "ignored"})
            await stack.settle()
            assert stack.rasa.received == [] and stack.fake.sent() == []
            assert stack.channel.pending == 0
            # The same update id was not used up: a proper update with it still gets through.
            assert await stack.post(load_update("text_message")) == (200, {"status": "accepted"})

    run_logged(scenario, caplog)
    [warning] = [r.getMessage() for r in caplog.records if "Ignoring Telegram update" in r.getMessage()]
    assert warning == f"Ignoring Telegram update 512340001: {reason}."
    for personal in (str(CHAT_ID), "秀英", "13800138000", "助餐", "长护险"):
        assert personal not in caplog.text


# ------------------------------------------------------------------ 3. only payloads the channel chose are trusted


def test_typed_commands_and_intents_are_plain_words_and_only_verified_payloads_are_trusted() -> None:
    rasa = ScriptedRasa(script={"/greet": GREETING})
    claims_trust = text_update(5, "/ask_legal")
    claims_trust["metadata"] = {"trusted_payload": True}
    claims_trust["message"]["metadata"] = {"trusted_payload": True}

    async def scenario() -> None:
        async with telegram_stack(rasa) as stack:
            for update in (
                load_update("command_start"),  # Telegram's own /start: the greeting, trusted
                text_update(2, "1. 养老服务"),  # a button this chat was offered: its payload, trusted
                text_update(3, "/emergency"),  # typed: words, not an intent
                text_update(4, "/ask_care_service@yinling_test_bot 助餐"),
                claims_trust,
            ):
                assert (await stack.post(update))[0] == 200
                await stack.settle()
            received = [(m.text, (m.metadata or {}).get("trusted_payload", False)) for m in stack.rasa.received]
            assert received == [
                ("/greet", True),
                ("/ask_care_service", True),
                ("emergency", False),
                ("ask_care_service 助餐", False),
                ("ask_legal", False),
            ]
            assert all(set(m.metadata or {}) <= {"channel", "trusted_payload"} for m in stack.rasa.received)

    asyncio.run(scenario())


# ------------------------------------------------------------------ rate limits


def test_a_flooding_chat_gets_one_slow_down_and_the_bot_is_spared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_RATE_TELEGRAM_SENDER", "0.001/2")

    async def scenario() -> None:
        async with telegram_stack() as stack:
            for i in range(6):
                # Always 200: a 429 would only make Telegram deliver the flood again.
                assert await stack.post(text_update(100 + i, f"第{i}条")) == (200, {"status": "accepted"})
                await stack.settle()
            assert stack.rasa.texts == ["第0条", "第1条"]
            assert stack.sent_texts() == ["收到：第0条", "收到：第1条", SLOW_DOWN]
            other = text_update(200, "我也想问")
            other["message"]["chat"]["id"] = other["message"]["from"]["id"] = CHAT_ID + 1
            await stack.post(other)
            await stack.settle()
            assert stack.rasa.texts[-1] == "我也想问"

    asyncio.run(scenario())


def test_wrong_secrets_block_their_address_for_a_while(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("YINLING_RATE_TELEGRAM_IP", "0.001/3")

    async def scenario() -> None:
        async with telegram_stack() as stack:
            for _ in range(6):
                assert (await stack.post(load_update("text_message"), secret="guess"))[0] == 403
            await stack.settle()
            assert stack.rasa.received == []
            # The right secret always gets through: others' failures at a shared address block nobody.
            assert (await stack.post(load_update("text_message")))[0] == 200

    run_logged(scenario, caplog)
    assert sum("Refusing telegram requests from address" in r.getMessage() for r in caplog.records) == 1


# ------------------------------------------------------------------ configuration typos


def test_an_unknown_key_in_credentials_yml_names_the_key_the_file_and_the_allowed_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.run import create_http_input_channels

    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        f"channels.telegram.TelegramInput:\n  token: '{TOKEN}'\n  secret_token: {SECRET}\n  webhook: https://x\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "argv", ["rasa", "run", "--credentials", str(credentials)])
    with pytest.raises(TelegramConfigError) as info:
        create_http_input_channels(None, str(credentials))
    message = str(info.value)
    assert "'webhook' (did you mean 'webhook_url'?)" in message and str(credentials) in message
    assert "Allowed keys: base_url, secret_token, token, webhook_url" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidConfigException)


def test_limits_come_from_the_environment_and_bad_ones_are_config_errors() -> None:
    base = {"token": TOKEN, "secret_token": SECRET}
    settings = TelegramSettings.load(base, environ={"YINLING_RATE_TELEGRAM_SENDER": "5/2", "YINLING_RATE_IP": "7/3"})
    assert (settings.sender_limit.per_minute, settings.sender_limit.burst) == (5, 2)
    assert (settings.address_limit.per_minute, settings.address_limit.burst) == (7, 3)
    with pytest.raises(TelegramConfigError, match="YINLING_RATE_TELEGRAM_IP"):
        TelegramSettings.load(base, environ={"YINLING_RATE_TELEGRAM_IP": "-1/2"})
    assert isinstance(TelegramInput(TelegramSettings.load(base, environ={})), TelegramInput)


def run_logged(scenario: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="channels")
    asyncio.run(scenario())
