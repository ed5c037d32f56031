"""Who may speak as whom, against the real servers: the REST channel's token and other channels'
sender ids, the web chat's signed conversations end to end through Rasa, and ``make chat`` with the token."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scripts.chat import rest_token
from tests.app.conftest import Stack, new_sender, texts

ROOT = Path(__file__).resolve().parents[2]


def _post(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read().decode() or "null")


def _get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read().decode() or "null")


def _web_session(stack: Stack) -> dict[str, Any]:
    status, session = _post(stack.webchat_url + "session", b"")
    assert status == 200, session
    return dict(session)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _user_metadata(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(stack.extra_env["YINLING_TRACKER_DB"]) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (conversation_id,)
        ).fetchall()
    return [json.loads(data).get("metadata") or {} for (data,) in rows]


@pytest.mark.e2e
def test_rest_without_the_token_is_401_and_with_it_answers(stack: Stack) -> None:
    body = {"sender": new_sender(), "message": "我想问问长护险哪能申请"}
    for headers in ({}, _bearer("not-the-token"), {"Authorization": stack.rest_token}):
        status, answer = _post(stack.rest_url, body, headers)
        assert status == 401, headers
        assert "长护险" not in json.dumps(answer, ensure_ascii=False), "errors never echo the request"
    status, answer = _post(stack.rest_url, body, stack.rest_headers)
    assert status == 200 and texts(answer)
    with urllib.request.urlopen(stack.rest_url.rsplit("/", 1)[0] + "/", timeout=10) as health:
        assert health.status == 200, "the health check needs no token"


@pytest.mark.e2e
def test_rest_cannot_speak_as_a_web_wechat_or_telegram_user(stack: Stack) -> None:
    web = _web_session(stack)
    status, _ = _post(stack.webchat_url + "message", {"message": "我想问问长护险哪能申请"}, _bearer(web["token"]))
    assert status == 200
    for sender in (web["conversation_id"], "wechat:oAbCdEf0123456789", "telegram:700000001", "staff:1", "handoff:1"):
        status, answer = _post(stack.rest_url, {"sender": sender, "message": "我约了啥"}, stack.rest_headers)
        assert status == 403, sender
        assert sender not in json.dumps(answer)
    # The web conversation heard nothing from the REST caller.
    status, history = _get(stack.webchat_url + "history", _bearer(web["token"]))
    assert status == 200
    assert [m["text"] for m in history["messages"] if m["from"] == "user"] == ["我想问问长护险哪能申请"]


@pytest.mark.e2e
def test_the_web_chat_speaks_only_as_its_signed_conversation_through_rasa(stack: Stack) -> None:
    web = _web_session(stack)
    status, answer = _post(
        stack.webchat_url + "message",
        {"message": "你好", "sender": "wechat:oSomeoneElse", "metadata": {"trusted_payload": True}},
        _bearer(web["token"]),
    )
    assert status == 200 and answer["replies"], answer
    greeting = answer["replies"][0]
    buttons = greeting.get("buttons") or []
    assert buttons, f"the greeting offers buttons: {greeting}"
    # Pressing an offered button goes to Rasa as a trusted payload, shown by its title.
    status, pressed = _post(
        stack.webchat_url + "message",
        {"payload": buttons[0]["payload"], "title": buttons[0]["title"]},
        _bearer(web["token"]),
    )
    assert status == 200 and pressed["replies"]
    # Typed slash text is never trusted.
    status, _ = _post(stack.webchat_url + "message", {"message": "/emergency"}, _bearer(web["token"]))
    assert status == 200
    metadata = _user_metadata(stack, web["conversation_id"])
    assert [m.get("trusted_payload") is True for m in metadata] == [False, True, False]
    status, history = _get(stack.webchat_url + "history", _bearer(web["token"]))
    users = [m["text"] for m in history["messages"] if m["from"] == "user"]
    assert users == ["你好", buttons[0]["title"], "/emergency"]
    # Nothing reached the WeChat sender named in the body.
    assert _user_metadata(stack, "wechat:oSomeoneElse") == []


@pytest.mark.e2e
def test_a_forged_web_token_is_refused(stack: Stack) -> None:
    web = _web_session(stack)
    conversation_id, expires, signature = web["token"].split(".")
    forged = f"{conversation_id}.{int(expires) + 86400}.{signature}"
    status, answer = _post(stack.webchat_url + "message", {"message": "我约了啥"}, _bearer(forged))
    assert status == 401 and answer["reason"] == "forged"
    status, _ = _get(stack.webchat_url + "history", _bearer(forged))
    assert status == 401


@pytest.mark.e2e
def test_make_chat_talks_to_the_rest_channel_with_the_token(stack: Stack) -> None:
    env = {**os.environ, "YINLING_REST_URL": stack.rest_url, "YINLING_REST_TOKEN": stack.rest_token}
    chat = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chat.py")],
        input="我想问问长护险哪能申请\n/quit\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "助手：" in chat.stdout and "长护险" in chat.stdout, chat.stdout + chat.stderr
    wrong = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chat.py")],
        input="你好\n/quit\n",
        env={**env, "YINLING_REST_TOKEN": "not-the-token"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "助手：" not in wrong.stdout and "令牌" in wrong.stderr


def test_make_chat_finds_the_token_in_the_environment_or_the_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    assert rest_token(secrets, {}) is None
    secrets.write_text(json.dumps({"YINLING_REST_TOKEN": "from-the-file"}), encoding="utf-8")
    assert rest_token(secrets, {}) == "from-the-file"
    assert rest_token(secrets, {"YINLING_REST_TOKEN": "from-the-environment"}) == "from-the-environment"
    secrets.write_text("{broken", encoding="utf-8")
    assert rest_token(secrets, {}) is None
