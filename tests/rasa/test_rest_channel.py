"""The REST channel on a real Sanic server: its token, other channels' sender ids, trusted payloads,
rate limits, size caps and errors that never echo the request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.conversation import TRUSTED_PAYLOAD
from channels.http_limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS, TOO_LONG, Throttle
from channels.rest import NO_TOKEN, RESERVED_SENDER_PREFIXES, RestConfigError, RestInput
from common.ratelimit import SLOW_DOWN, Limit
from tests.rasa.webchannel_harness import CHOICES, FakeClock, RecordingRasa, serve

TOKEN = "rest-test-token-0123456789abcdef"
WEBHOOK = "/webhooks/rest/webhook"
PLENTY = Limit(1000, 1000)


@dataclass
class Rest:
    url: str
    client: httpx.AsyncClient
    rasa: RecordingRasa
    clock: FakeClock

    async def post(self, body: dict[str, Any] | bytes, token: str | None = TOKEN, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        all_headers = {"Content-Type": "application/json", **headers}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.post(f"{self.url}{WEBHOOK}", content=content, headers=all_headers)

    async def say(self, sender: str, text: str, **extra: Any) -> list[dict[str, Any]]:
        answer = await self.post({"sender": sender, "message": text, **extra})
        assert answer.status_code == 200, answer.text
        return list(answer.json())


@contextlib.asynccontextmanager
async def rest(
    token: str | None = TOKEN,
    *,
    sender: Limit = PLENTY,
    ip: Limit = PLENTY,
    rasa: RecordingRasa | None = None,
) -> AsyncIterator[Rest]:
    clock = FakeClock()
    channel = RestInput(token, throttle=Throttle(sender, ip, clock=clock))
    script = rasa or RecordingRasa(script={"你好": [{"text": "您好！想问什么？", "buttons": CHOICES}]})
    async with serve([channel], script) as url, httpx.AsyncClient(timeout=10) as client:
        yield Rest(url, client, script, clock)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


# ---- the token ---------------------------------------------------------------------------------------


def test_messages_need_the_token_and_the_health_check_does_not() -> None:
    async def scenario() -> None:
        async with rest() as api:
            for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1], "Basic " + TOKEN):
                answer = await api.post({"sender": "me", "message": "你好"}, token=token)
                assert answer.status_code == 401, token
                assert answer.headers["www-authenticate"].startswith("Bearer")
                assert TOKEN not in answer.text
            lowercase = await api.post({"sender": "me", "message": "你好"}, token=None, Authorization=f"bearer {TOKEN}")
            assert lowercase.status_code == 200
            assert api.rasa.texts == ["你好"]
            health = await api.client.get(f"{api.url}/webhooks/rest/")
            assert health.status_code == 200 and health.json() == {"status": "ok"}

    run(scenario)


def test_without_a_token_configured_the_channel_says_so_and_logs_it_once(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with rest(token=None) as api:
            for _ in range(3):
                answer = await api.post({"sender": "me", "message": "你好"}, token="anything")
                assert answer.status_code == 503 and answer.json()["error"] == NO_TOKEN
            assert api.rasa.received == []

    with caplog.at_level(logging.ERROR, logger="channels.rest"):
        run(scenario)
    assert [r.getMessage() for r in caplog.records].count(
        f"{NO_TOKEN}: set YINLING_REST_TOKEN to let programs use /webhooks/rest/webhook."
    ) == 1


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_REST_TOKEN", TOKEN)
    channel = RestInput.from_credentials({})
    assert isinstance(channel, RestInput) and channel.token == TOKEN
    with pytest.raises(RestConfigError, match="YINLING_REST_TOKEN"):
        RestInput.from_credentials({"token": "in-the-file"})
    monkeypatch.setenv("YINLING_RATE_IP", "fast")
    with pytest.raises(ValueError, match="YINLING_RATE_IP"):
        RestInput.from_credentials(None)


# ---- who may be spoken as ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "web-0123456789abcdef0123456789abcdef",
        "wechat:oAbCdEf0123456789",
        "telegram:700000001",
        "handoff:42",
        "staff:admin",
        "WeChat:oAbC",
        " telegram:1",
        "WEB-anything",
    ],
)
def test_senders_of_other_channels_are_refused(sender: str) -> None:
    async def scenario() -> None:
        async with rest() as api:
            answer = await api.post({"sender": sender, "message": "我约了啥"})
            assert answer.status_code == 403
            assert sender.strip() not in answer.text
            assert all(prefix in answer.json()["error"] for prefix in RESERVED_SENDER_PREFIXES)
            assert api.rasa.received == []

    run(scenario)


def test_own_senders_are_fine() -> None:
    async def scenario() -> None:
        async with rest() as api:
            for sender in ("terminal-1a2b3c4d", "e2e-0001", "partner:42", "webby"):
                await api.say(sender, "你好")
            assert [m.sender_id for m in api.rasa.received] == ["terminal-1a2b3c4d", "e2e-0001", "partner:42", "webby"]

    run(scenario)


@pytest.mark.parametrize("sender", ["a\nb", "x\u202ey", "tab\there", "\x00"])
def test_senders_with_control_characters_are_a_400(sender: str) -> None:
    async def scenario() -> None:
        async with rest() as api:
            answer = await api.post({"sender": sender, "message": "你好"})
            assert answer.status_code == 400 and "sender" in answer.json()["error"]

    run(scenario)


# ---- payloads -----------------------------------------------------------------------------------------


def test_trusted_payload_metadata_from_a_caller_is_dropped() -> None:
    async def scenario() -> None:
        async with rest() as api:
            await api.say("me", "/emergency", metadata={TRUSTED_PAYLOAD: True, "button_title": "x", "lang": "zh"})
            assert api.rasa.received[0].metadata == {"lang": "zh"}

    run(scenario)


def test_a_slash_message_is_trusted_only_when_it_is_a_button_just_offered() -> None:
    async def scenario() -> None:
        async with rest() as api:
            await api.say("me", "/ask_legal")  # nothing offered yet
            await api.say("me", "你好")  # offers CHOICES
            await api.say("me", "/ask_legal")  # one of them
            await api.say("me", "/ask_care_service")  # the offer was answered: no longer open
            await api.say("someone-else", "/ask_legal")  # offered to "me", not to them
            trusted = [(m.text, bool((m.metadata or {}).get(TRUSTED_PAYLOAD))) for m in api.rasa.received]
            assert trusted == [
                ("/ask_legal", False),
                ("你好", False),
                ("/ask_legal", True),
                ("/ask_care_service", False),
                ("/ask_legal", False),
            ]

    run(scenario)


# ---- limits and sizes -------------------------------------------------------------------------------------


def test_a_flooding_sender_gets_429_with_retry_after_and_the_polite_text() -> None:
    async def scenario() -> None:
        async with rest(sender=Limit(per_minute=20, burst=2)) as api:
            await api.say("me", "一")
            await api.say("me", "二")
            slow = await api.post({"sender": "me", "message": "三"})
            assert slow.status_code == 429
            assert slow.headers["retry-after"] == "3"
            assert slow.json()["text"] == SLOW_DOWN and "三" not in slow.text
            await api.say("other", "你好")
            api.clock.advance(3)
            await api.say("me", "三")
            assert api.rasa.texts == ["一", "二", "你好", "三"]

    run(scenario)


def test_one_address_is_limited_whatever_senders_and_tokens_it_tries() -> None:
    async def scenario() -> None:
        async with rest(ip=Limit(per_minute=30, burst=3)) as api:
            await api.say("a", "你好")
            assert (await api.post({"sender": "b", "message": "你好"}, token="guess")).status_code == 401
            await api.say("c", "你好")
            slow = await api.post({"sender": "d", "message": "你好"})
            assert slow.status_code == 429 and slow.json()["text"] == SLOW_DOWN
            assert (await api.post({"sender": "d", "message": "你好"}, token="guess-again")).status_code == 429
            api.clock.advance(2)
            await api.say("d", "你好")

    run(scenario)


def test_sizes_and_shapes() -> None:
    async def scenario() -> None:
        async with rest() as api:
            too_long = await api.post({"sender": "me", "message": "长" * (MAX_MESSAGE_CHARS + 1)})
            assert too_long.status_code == 413 and too_long.json()["text"] == TOO_LONG
            huge = json.dumps({"sender": "me", "message": "x", "metadata": {"pad": "y" * MAX_BODY_BYTES}}).encode()
            assert (await api.post(huge)).status_code == 413
            # the last two: bytes that are not UTF-8 in the sender (found by `make fuzz`: a 500 before)
            for body in (
                b"{not json",
                b"[1]",
                b'{"sender": "x"}',
                b'{"sender": "", "message": "hi"}',
                b'{"sender": "prog-\xf4\x90\x80\x80108", "message": "hi"}',
                b'{"sender": "me\xff", "message": "hi"}',
            ):
                answer = await api.post(body)
                assert answer.status_code == 400 and answer.json()["error"]
            assert (await api.say("me", "长" * MAX_MESSAGE_CHARS)) != []
            assert api.rasa.texts == ["长" * MAX_MESSAGE_CHARS]

    run(scenario)


@pytest.mark.property
@settings(max_examples=40)
@given(text=st.text(min_size=1, max_size=40).filter(lambda t: t.strip()))
@example(text="<script>alert(1)</script>")
@example(text="13812345678 张秀英")
def test_error_answers_never_echo_what_was_sent(text: str) -> None:
    async def scenario() -> None:
        async with rest() as api:
            marker = f"ECHO {text} ECHO"
            for body in (
                {"sender": f"wechat:{marker}", "message": marker},
                {"sender": marker, "message": marker * 1000},
                {"sender": marker + "x" * 200, "message": marker},
                {"sender": marker, "message": 5, "metadata": marker},
            ):
                answer = await api.post(body)
                assert answer.status_code in (400, 403, 413)
                assert marker not in answer.text and json.dumps(marker)[1:-1] not in answer.text
            assert api.rasa.received == []

    run(scenario)
