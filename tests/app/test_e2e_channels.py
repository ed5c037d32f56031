"""Every channel gives the same answer as the REST channel, against the real servers.

WeChat and Telegram are switched on for the shared test servers by their secrets in the
environment (see ``platform_env`` in conftest.py); their platform APIs are a fake on
loopback. The web page is driven in Debian's headless Chromium.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.app.conftest import PLATFORM, FakePlatform, Stack, new_sender, texts

pytestmark = pytest.mark.e2e
QUESTION = "我想问问长护险哪能申请"


def rest_answer(stack: Stack, text: str) -> str:
    return "\n".join(texts(stack.say(new_sender(), text)))


def _wechat_query(openid: str) -> str:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([PLATFORM["WECHAT_TOKEN"], timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"


def test_a_signed_wechat_message_gets_the_rest_answer(stack: Stack, fake_platform: FakePlatform) -> None:
    openid = f"o{uuid.uuid4().hex[:20]}"
    body = (
        f"<xml><ToUserName><![CDATA[gh_yinling]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{QUESTION}]]></Content><MsgId>{int(time.time() * 1000)}</MsgId></xml>"
    ).encode()
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/wechat/webhook?{_wechat_query(openid)}"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = response.read().decode()
    if reply == "success":  # the bot was slower than WeChat's deadline: it went to the customer-service API
        answer = fake_platform.wait_for("wechat", lambda m: m["touser"] == openid)["text"]["content"]
    else:
        answer = ET.fromstring(reply).findtext("Content")
    assert answer == rest_answer(stack, QUESTION)


def test_a_telegram_update_gets_the_rest_answer(stack: Stack, fake_platform: FakePlatform) -> None:
    chat_id = int(time.time() * 1000) % 10**9
    update = {
        "update_id": chat_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "阿姨"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "阿姨"},
            "text": QUESTION,
        },
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/telegram/webhook",
        data=json.dumps(update).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": PLATFORM["TELEGRAM_SECRET_TOKEN"],
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    sent = fake_platform.wait_for("telegram", lambda m: str(m.get("chat_id")) == str(chat_id))
    assert sent["text"] == rest_answer(stack, QUESTION)


def test_a_gbk_wechat_body_is_a_400_and_the_server_keeps_answering(stack: Stack) -> None:
    body = (
        '<?xml version="1.0" encoding="GBK"?><xml><ToUserName><![CDATA[gh_yinling]]></ToUserName>'
        "<FromUserName><![CDATA[oGbkTest]]></FromUserName><CreateTime>1</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{QUESTION}]]></Content><MsgId>1</MsgId></xml>"
    ).encode("gbk")
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/wechat/webhook?{_wechat_query('oGbkTest')}"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400 and refused.value.read() == b"refused: BadPayloadError"
    assert rest_answer(stack, QUESTION)


@pytest.mark.parametrize("length", ["-5", "abc"])
def test_a_malformed_content_length_is_refused_and_does_not_freeze_the_server(stack: Stack, length: str) -> None:
    # Sanic 21.12 froze on a negative length and answered 500 to a non-number, on any route.
    head = (
        "POST /webhooks/rest/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.rasa_port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"sender": "x", "message": "hi"}')
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert rest_answer(stack, QUESTION)


def test_a_telegram_update_without_string_text_is_answered_200_and_dropped(stack: Stack) -> None:
    chat_id = int(time.time() * 1000) % 10**9 + 1
    update = {
        "update_id": chat_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "阿姨"},
            "text": {"not": "a string"},
        },
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/telegram/webhook",
        data=json.dumps(update).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": PLATFORM["TELEGRAM_SECRET_TOKEN"],
        },
        method="POST",
    )
    # "ignored" is answered only when the update is dropped at the webhook, before any work is started.
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and json.loads(response.read()) == {"status": "ignored"}


def test_the_web_page_holds_a_conversation_in_chromium(stack: Stack) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        reason = "Debian's chromium is missing: run scripts/install_chromium.sh"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{stack.rasa_port}/webhooks/webchat/")
        box = page.get_by_role("textbox")
        box.fill(QUESTION)
        box.press("Enter")
        page.get_by_text("来源：").first.wait_for(timeout=60_000)
        box.fill("我跌倒了起不来")
        box.press("Enter")
        page.get_by_text("【紧急】", exact=False).first.wait_for(timeout=60_000)
        browser.close()
