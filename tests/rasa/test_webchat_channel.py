"""The web chat channel's API on a real Sanic server: signed conversations, who speaks, buttons,
history with cursors, restarts, resends, limits and size caps.

The agent is :class:`tests.rasa.webchannel_harness.RecordingRasa`: Rasa's own tracker and lock
stores with scripted answers. Clocks are fakes, so expiry and rate limits never depend on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rasa.shared.core.events import Restarted

from channels.conversation import BUTTON_TITLE, TRUSTED_PAYLOAD
from channels.guard import APOLOGY
from channels.http_limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS, TOO_LONG, Throttle
from channels.webchat import CONTENT_SECURITY_POLICY, WebChatInput
from channels.webchat_token import DEFAULT_LIFETIME_SECONDS, ConversationSigner, WebChatConfigError
from common.ratelimit import SLOW_DOWN, Limit
from tests.rasa.webchannel_harness import CHOICES, FakeClock, RecordingRasa, serve

SECRET = "webchat-test-secret-0123456789abcdef"
BASE = "/webhooks/webchat"
ID = re.compile(r"web-[0-9a-f]{32}")
PLENTY = Limit(1000, 1000)  # limits no test here reaches unless it means to


@dataclass
class Page:
    """What the browser page does, as HTTP calls."""

    url: str
    client: httpx.AsyncClient
    rasa: RecordingRasa
    clock: FakeClock
    channel: WebChatInput

    async def session(self, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(f"{self.url}{BASE}/session", headers=headers)

    async def start(self) -> dict[str, Any]:
        answer = await self.session()
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def send(self, token: str, body: dict[str, Any] | bytes) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return await self.client.post(
            f"{self.url}{BASE}/message",
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    async def say(self, token: str, text: str, **extra: Any) -> dict[str, Any]:
        answer = await self.send(token, {"message": text, **extra})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def press(self, token: str, payload: str, title: str) -> dict[str, Any]:
        answer = await self.send(token, {"payload": payload, "title": title})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def history(self, token: str, after: str | None = None) -> httpx.Response:
        params = {"after": after} if after is not None else {}
        return await self.client.get(
            f"{self.url}{BASE}/history", params=params, headers={"Authorization": f"Bearer {token}"}
        )

    async def restart(self, token: str) -> httpx.Response:
        return await self.client.post(f"{self.url}{BASE}/restart", headers={"Authorization": f"Bearer {token}"})


@contextlib.asynccontextmanager
async def webchat(
    rasa: RecordingRasa | None = None,
    *,
    sender: Limit = PLENTY,
    ip: Limit = PLENTY,
    history_limit: Limit = PLENTY,
) -> AsyncIterator[Page]:
    clock = FakeClock()
    channel = WebChatInput(
        ConversationSigner(SECRET, clock=clock),
        throttle=Throttle(sender, ip, clock=clock),
        history_limit=history_limit,
        clock=clock,
    )
    script = rasa or RecordingRasa(script={"你好": [{"text": "您好！想问什么？", "buttons": CHOICES}]})
    async with serve([channel], script) as url, httpx.AsyncClient(timeout=10) as client:
        yield Page(url, client, script, clock, channel)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def texts(history: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["from"], m["text"]) for m in history["messages"]]


# ---- conversations are the server's, signed, and expire -----------------------------------------


def test_a_new_session_is_a_random_signed_id_valid_for_thirty_days() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            first, second = await page.start(), await page.start()
            assert ID.fullmatch(first["conversation_id"]) and ID.fullmatch(second["conversation_id"])
            assert first["conversation_id"] != second["conversation_id"]
            assert first["expires_at"] == int(page.clock.now) + DEFAULT_LIFETIME_SECONDS
            assert first["token"].startswith(first["conversation_id"] + ".")

    run(scenario)


def test_the_sender_is_the_verified_conversation_never_the_body() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            session = await page.start()
            await page.say(session["token"], "你好", sender="wechat:oSomeoneElse", conversation_id="web-" + "0" * 32)
            assert [m.sender_id for m in page.rasa.received] == [session["conversation_id"]]
            assert page.rasa.received[0].input_channel == "webchat"

    run(scenario)


def test_renewing_keeps_the_conversation_and_moves_the_expiry() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            session = await page.start()
            page.clock.advance(20 * 86400)
            renewed = (await page.session(session["token"])).json()
            assert renewed["conversation_id"] == session["conversation_id"]
            assert renewed["expires_at"] == session["expires_at"] + 20 * 86400
            page.clock.advance(15 * 86400)  # 35 days after the first token, 15 after the renewal
            assert (await page.send(session["token"], {"message": "你好"})).status_code == 401
            assert (await page.send(renewed["token"], {"message": "你好"})).status_code == 200

    run(scenario)


def test_expired_tokens_are_refused_everywhere_and_cannot_be_renewed() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            page.clock.advance(DEFAULT_LIFETIME_SECONDS)
            for answer in (
                await page.send(token, {"message": "你好"}),
                await page.history(token),
                await page.restart(token),
                await page.session(token),
            ):
                assert answer.status_code == 401
                assert answer.json()["reason"] == "expired"
                assert answer.headers["www-authenticate"].startswith("Bearer")
            assert page.rasa.received == []

    run(scenario)


def _forgeries(token: str) -> list[tuple[str, str]]:
    conversation_id, expires, signature = token.split(".")
    other_signer = ConversationSigner("another-secret-of-the-same-length!!", clock=lambda: 1_800_000_000.0)
    return [
        ("another id, same signature", f"web-{'a' * 32}.{expires}.{signature}"),
        ("a later expiry", f"{conversation_id}.{int(expires) + 86400}.{signature}"),
        (
            "a flipped signature digit",
            f"{conversation_id}.{expires}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        ),
        ("signed with another key", other_signer.issue(conversation_id).token),
        ("a sender of another channel", f"wechat:oAbc.{expires}.{signature}"),
        ("not a token", "hello"),
        ("too long to be a token", "x" * 500),
    ]


def test_forged_tokens_are_refused_and_nothing_reaches_rasa() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            for what, forged in _forgeries(token):
                for answer in (await page.send(forged, {"message": "你好"}), await page.history(forged)):
                    assert answer.status_code == 401, what
                    assert answer.json()["reason"] in ("forged", "malformed"), what
                    assert forged not in answer.text
            missing = await page.client.post(f"{page.url}{BASE}/message", json={"message": "你好"})
            assert missing.status_code == 401 and missing.json()["reason"] == "missing"
            assert page.rasa.received == []

    run(scenario)


def test_the_channel_refuses_to_start_without_a_good_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YINLING_WEBCHAT_SECRET", raising=False)
    with pytest.raises(WebChatConfigError, match="YINLING_WEBCHAT_SECRET"):
        WebChatInput.from_credentials({})
    monkeypatch.setenv("YINLING_WEBCHAT_SECRET", "short")
    with pytest.raises(WebChatConfigError, match="at least 16"):
        WebChatInput.from_credentials(None)
    monkeypatch.setenv("YINLING_WEBCHAT_SECRET", SECRET)
    with pytest.raises(WebChatConfigError, match="unknown key"):
        WebChatInput.from_credentials({"sesion_days": 3})
    with pytest.raises(WebChatConfigError, match="session_days"):
        WebChatInput.from_credentials({"session_days": "many"})
    channel = WebChatInput.from_credentials({"session_days": 7})
    assert isinstance(channel, WebChatInput) and channel.signer.lifetime == 7 * 86400
    monkeypatch.setenv("YINLING_RATE_SENDER", "lots")
    with pytest.raises(ValueError, match="YINLING_RATE_SENDER"):
        WebChatInput.from_credentials({})


# ---- buttons: trusted only when the bot offered them -------------------------------------------------


def test_an_offered_button_is_a_trusted_payload_shown_by_its_title() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            await page.say(token, "你好")
            await page.press(token, "/ask_legal", "随便写的标题")
            pressed = page.rasa.received[-1]
            assert pressed.text == "/ask_legal"
            # The title is the button's own, from the tracker, not what the page claimed.
            assert pressed.metadata == {TRUSTED_PAYLOAD: True, BUTTON_TITLE: "2. 法律公证"}
            shown = texts((await page.history(token)).json())
            assert ("user", "2. 法律公证") in shown and ("user", "/ask_legal") not in shown

    run(scenario)


def test_payloads_the_bot_did_not_just_offer_are_typed_words() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            await page.press(token, "/emergency", "救命")  # never offered
            await page.say(token, "你好")  # offers CHOICES
            await page.say(token, "随便说一句")  # ... and the user moved on
            await page.press(token, "/ask_care_service", "1. 养老服务")  # a button of an earlier turn
            await page.press(token, "/restart", "")  # no title: the payload's own words
            received = page.rasa.received
            assert [m.text for m in received] == ["救命", "你好", "随便说一句", "1. 养老服务", "/restart"]
            assert all(not (m.metadata or {}).get(TRUSTED_PAYLOAD) for m in received)

    run(scenario)


def test_metadata_sent_by_the_page_never_reaches_rasa() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            await page.say(token, "/emergency", metadata={TRUSTED_PAYLOAD: True}, trusted_payload=True)
            assert page.rasa.received[0].text == "/emergency"
            assert page.rasa.received[0].metadata is None

    run(scenario)


# ---- history and cursors ------------------------------------------------------------------------------


def test_history_is_the_visible_conversation_in_order_with_cursors() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            assert (await page.history(token)).json() == {"messages": [], "cursor": None}
            first = await page.say(token, "你好")
            await page.press(token, "/ask_care_service", "1. 养老服务")
            history = (await page.history(token)).json()
            assert texts(history) == [
                ("user", "你好"),
                ("bot", "您好！想问什么？"),
                ("user", "1. 养老服务"),
                ("bot", "收到：/ask_care_service"),
            ]
            assert history["messages"][1]["buttons"] == CHOICES
            cursors = [m["cursor"] for m in history["messages"]]
            assert len(set(cursors)) == 4
            # The POST's answer named the same events.
            assert first["cursor"] == cursors[0]
            assert [r["cursor"] for r in first["replies"]] == [cursors[1]]
            assert first["replies"][0]["buttons"] == CHOICES
            # After a cursor: only what came later; after the last: nothing, and the same cursor back.
            later = (await page.history(token, after=cursors[1])).json()
            assert texts(later) == texts(history)[2:]
            last = (await page.history(token, after=history["cursor"])).json()
            assert last == {"messages": [], "cursor": history["cursor"]}

    run(scenario)


def test_a_message_appended_from_outside_appears_after_the_cursor_once() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            session = await page.start()
            token = session["token"]
            await page.say(token, "我要找真人")
            cursor = (await page.history(token)).json()["cursor"]
            await page.rasa.push(session["conversation_id"], "您好，我是工作人员王老师，请问有什么可以帮您？")
            new = (await page.history(token, after=cursor)).json()
            assert texts(new) == [("bot", "您好，我是工作人员王老师，请问有什么可以帮您？")]
            again = (await page.history(token, after=new["cursor"])).json()
            assert again["messages"] == []

    run(scenario)


def test_an_agent_reply_landing_inside_a_turn_is_not_claimed_by_the_turn() -> None:
    """The page advances its cursor only from history; replies tell it which events it already shows."""

    async def scenario() -> None:
        rasa = RecordingRasa()
        async with webchat(rasa) as page:
            session = await page.start()
            token = session["token"]
            await page.say(token, "你好")
            cursor = (await page.history(token)).json()["cursor"]
            await rasa.push(session["conversation_id"], "工作人员：我在。")
            answer = await page.say(token, "收到：工作人员：我在。")  # a reply with the same words as the push
            newer = (await page.history(token, after=cursor)).json()["messages"]
            shown_by_reply = {answer["cursor"], *(r["cursor"] for r in answer["replies"])}
            not_yet_shown = [m for m in newer if m["cursor"] not in shown_by_reply]
            assert [(m["from"], m["text"]) for m in not_yet_shown] == [("bot", "工作人员：我在。")]

    run(scenario)


def test_restart_and_a_new_rasa_session_start_the_visible_history_again() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            session = await page.start()
            token, conversation = session["token"], session["conversation_id"]
            await page.say(token, "第一句")
            old_cursor = (await page.history(token)).json()["cursor"]
            await page.rasa.new_session(conversation)  # idle past the session expiry
            await page.say(token, "第二句")
            assert texts((await page.history(token)).json()) == [("user", "第二句"), ("bot", "收到：第二句")]
            # A cursor of the earlier session gets the whole current one.
            assert texts((await page.history(token, after=old_cursor)).json()) == [
                ("user", "第二句"),
                ("bot", "收到：第二句"),
            ]

    run(scenario)


@pytest.mark.parametrize("after", ["abc", "1.2.3", "-1.2", "1." + "9" * 20, "１.２"])
def test_a_cursor_we_never_gave_is_a_clear_400(after: str) -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            answer = await page.history(token, after=after)
            assert answer.status_code == 400
            assert "cursor" in answer.json()["error"] and after not in answer.text

    run(scenario)


# ---- restart ------------------------------------------------------------------------------------------------


def test_restart_ends_the_old_conversation_in_the_tracker_and_gives_a_new_one() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            session = await page.start()
            await page.say(session["token"], "明天帮我约个助浴")
            answer = await page.restart(session["token"])
            assert answer.status_code == 200
            fresh = answer.json()
            assert ID.fullmatch(fresh["conversation_id"]) and fresh["conversation_id"] != session["conversation_id"]
            assert isinstance((await page.rasa.events(session["conversation_id"]))[-1], Restarted)
            assert (await page.history(session["token"])).json()["messages"] == []
            assert (await page.history(fresh["token"])).json()["messages"] == []
            await page.say(fresh["token"], "你好")
            assert page.rasa.received[-1].sender_id == fresh["conversation_id"]

    run(scenario)


# ---- resending ----------------------------------------------------------------------------------------------


def test_a_resent_message_is_answered_from_the_record_not_run_twice() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            first = await page.say(token, "你好", message_id="m-0001-abcdef")
            again = await page.say(token, "你好", message_id="m-0001-abcdef")
            assert page.rasa.texts == ["你好"]
            assert again["resent"] is True
            assert again["cursor"] == first["cursor"]
            assert [(r["text"], r["cursor"]) for r in again["replies"]] == [
                (r["text"], r["cursor"]) for r in first["replies"]
            ]
            await page.say(token, "你好", message_id="m-0002-abcdef")  # another message with the same words
            assert page.rasa.texts == ["你好", "你好"]
            # The history names the page's ids, so a page finds which of its unsent messages did arrive.
            users = [m for m in (await page.history(token)).json()["messages"] if m["from"] == "user"]
            assert [m["message_id"] for m in users] == ["m-0001-abcdef", "m-0002-abcdef"]

    run(scenario)


def test_copies_of_a_message_sent_together_are_answered_once() -> None:
    async def scenario() -> None:
        async with webchat(RecordingRasa(delay=0.2)) as page:
            token = (await page.start())["token"]
            answers = await asyncio.gather(*(page.say(token, "你好", message_id="same-id-123") for _ in range(3)))
            assert page.rasa.texts == ["你好"]
            assert len({a["cursor"] for a in answers}) == 1

    run(scenario)


def test_when_rasa_fails_the_page_still_gets_the_apology() -> None:
    async def scenario() -> None:
        async with webchat(RecordingRasa(failing={"坏了"})) as page:
            token = (await page.start())["token"]
            answer = await page.say(token, "坏了")
            assert answer["replies"] == [{"text": APOLOGY, "cursor": None}]

    run(scenario)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"message": ""}',
        b'{"message": 5}',
        b'{"payload": "/x", "message": "y"}',
        b'{"payload": ""}',
        b'{"message": "hi", "message_id": "short"}',
        b'{"message": "hi", "message_id": "has space in it"}',
    ],
)
def test_malformed_messages_get_a_clear_400(body: bytes) -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            answer = await page.send(token, body)
            assert answer.status_code == 400
            assert answer.json()["error"]
            assert page.rasa.received == []

    run(scenario)


# ---- limits and sizes ----------------------------------------------------------------------------------------


def test_a_flooding_conversation_is_asked_politely_to_slow_down() -> None:
    async def scenario() -> None:
        async with webchat(sender=Limit(per_minute=6, burst=3)) as page:
            token = (await page.start())["token"]
            for i in range(3):
                await page.say(token, f"第{i}句")
            slow = await page.send(token, {"message": "第4句"})
            assert slow.status_code == 429
            assert slow.json()["text"] == SLOW_DOWN
            assert slow.headers["retry-after"] == "10"  # one token at 6 a minute
            assert "第4句" not in slow.text
            other = (await page.start())["token"]  # someone else is not slowed
            assert (await page.send(other, {"message": "你好"})).status_code == 200
            page.clock.advance(10)
            assert (await page.send(token, {"message": "第4句"})).status_code == 200
            assert page.rasa.texts == ["第0句", "第1句", "第2句", "你好", "第4句"]

    run(scenario)


def test_one_address_making_sessions_and_messages_is_limited() -> None:
    async def scenario() -> None:
        async with webchat(ip=Limit(per_minute=60, burst=4)) as page:
            sessions = [await page.session() for _ in range(4)]
            assert [s.status_code for s in sessions] == [200] * 4
            blocked = await page.session()
            assert blocked.status_code == 429 and blocked.json()["text"] == SLOW_DOWN
            assert int(blocked.headers["retry-after"]) == 1
            token = sessions[0].json()["token"]
            assert (await page.send(token, {"message": "你好"})).status_code == 429
            page.clock.advance(1)
            assert (await page.send(token, {"message": "你好"})).status_code == 200

    run(scenario)


def test_polling_history_has_its_own_limit() -> None:
    async def scenario() -> None:
        async with webchat(history_limit=Limit(per_minute=30, burst=2)) as page:
            token = (await page.start())["token"]
            assert [(await page.history(token)).status_code for _ in range(3)] == [200, 200, 429]
            assert (await page.send(token, {"message": "你好"})).status_code == 200, "sending is limited apart"
            page.clock.advance(2)
            assert (await page.history(token)).status_code == 200

    run(scenario)


def test_too_long_messages_and_bodies_get_413_with_words_for_the_page() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            long = "长" * (MAX_MESSAGE_CHARS + 1)
            for body in ({"message": long}, {"payload": "/x", "title": long}):
                answer = await page.send(token, body)
                assert answer.status_code == 413
                assert answer.json()["text"] == TOO_LONG
                assert "长长长" not in answer.text
            huge = json.dumps({"message": "x", "pad": "y" * MAX_BODY_BYTES}).encode()
            assert (await page.send(token, huge)).status_code == 413
            assert (await page.say(token, "长" * MAX_MESSAGE_CHARS))["replies"]  # the cap itself is fine
            assert page.rasa.texts == ["长" * MAX_MESSAGE_CHARS]

    run(scenario)


@pytest.mark.property
@settings(max_examples=40)
@given(text=st.text(min_size=1, max_size=40).filter(lambda t: t.strip()))
@example(text="<script>alert(1)</script>")
@example(text="\x00\u202e🙂長護險")
def test_error_answers_never_echo_what_was_sent(text: str) -> None:
    async def scenario() -> None:
        async with webchat() as page:
            token = (await page.start())["token"]
            marker = f"ECHO {text} ECHO"  # the space makes it no valid message id or cursor
            in_header = "web-" + urllib.parse.quote(marker)  # headers are ASCII
            for answer in (
                await page.send(token, {"message": marker, "message_id": marker}),
                await page.send(token, {"payload": marker, "message": marker}),
                await page.send(in_header, {"message": marker}),
                await page.history(token, after=marker),
            ):
                assert answer.status_code in (400, 401)
                for sent in (marker, json.dumps(marker)[1:-1], in_header):
                    assert sent not in answer.text

    run(scenario)


# ---- the page's files -----------------------------------------------------------------------------------------


def test_api_answers_are_not_cached_and_the_page_only_talks_to_its_own_server() -> None:
    async def scenario() -> None:
        async with webchat() as page:
            answer = await page.session()
            assert answer.headers["cache-control"] == "no-store"
            index = await page.client.get(f"{page.url}{BASE}/")
            assert index.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert "connect-src 'self';" in CONTENT_SECURITY_POLICY

    run(scenario)
