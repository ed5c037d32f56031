"""The agents' console in real headless Chromium, against the real servers.

A senior on the web chat page writes 我要找真人 → the conversation appears in the agent's queue
without a reload → the agent takes it (Alt+N), replies (Ctrl+Enter) → the reply appears on the
senior's page → the agent hands back (Alt+H) → the bot answers the next question. The same for a
WeChat conversation, whose reply reaches the fake WeChat customer-service API on loopback.
Screenshots are kept in /tmp (the README's is taken from this test).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from staff.accounts import Accounts
from staff.config import Settings
from staff.db import StaffDB, handoffs
from staff.queue import Queue
from tests.app.conftest import PLATFORM, FakePlatform, Stack
from tests.app.staff_support import PASSWORD

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SESSION_KEY = "yinling.webchat.session"
SCREENSHOT = Path("/tmp/staff-console.png")
SCREENSHOT_TABLET = Path("/tmp/staff-console-tablet.png")

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: apt-get install chromium chromium-driver")
        pytest.skip("Chromium is missing: apt-get install chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def desk(stack: Stack, staff_url: str) -> Iterator[tuple[Queue, Accounts]]:
    settings = Settings.from_env(stack.env())
    db = StaffDB(settings.database_url)
    # Conversations other tests left waiting would be first in the queue: close them, so Alt+N
    # takes this test's senior.
    with db.write() as conn:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.status.in_(("waiting", "claimed")))
            .values(status="closed", close_reason="test-cleanup", closed_at=datetime.datetime.now(datetime.UTC))
        )
    yield Queue(db), Accounts(db, settings)
    db.dispose()


def _console(browser: Browser, staff_url: str, accounts: Accounts, width: int = 1280, height: int = 800) -> Page:
    name = f"agent-{uuid.uuid4().hex[:6]}"
    accounts.create_user(name, PASSWORD, "agent", display_name="小王")
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{staff_url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url("**/console")
    page.get_by_text("在线").wait_for()  # the live connection is up: the agent counts as online
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_a_web_chat_senior_gets_a_person_and_then_the_bot_again(
    browser: Browser, stack: Stack, staff_url: str, desk: tuple[Queue, Accounts]
) -> None:
    queue, accounts = desk
    agent = _console(browser, staff_url, accounts)
    senior = browser.new_page(viewport={"width": 412, "height": 860})
    senior.goto(stack.webchat_url)
    senior.locator("#input").fill("我要找真人")
    senior.locator("#input").press("Enter")
    senior.get_by_text("马上为您转工作人员").wait_for(timeout=60_000)
    conversation = senior.evaluate(f"JSON.parse(localStorage.getItem('{SESSION_KEY}')).conversation_id")

    # Live: the queue shows the conversation without a reload.
    agent.locator("#waiting li", has_text="网页").wait_for(timeout=10_000)
    handoff = queue.open_for(conversation)
    assert handoff is not None and handoff.channel == "webchat"
    agent.keyboard.press("Alt+N")
    agent.locator("#case-title", has_text=f"#{handoff.id}").wait_for()
    agent.locator("#transcript .msg.senior", has_text="我要找真人").wait_for()
    assert "request_human" in agent.locator("#transcript .msg.senior .intent").first.inner_text()
    assert agent.locator("#summary li").count() == 3

    agent.locator("#reply").fill("阿姨您好，我是社区的小王，您慢慢说。")
    agent.locator("#reply").press("Control+Enter")
    agent.locator("#transcript .msg.agent", has_text="我是社区的小王").wait_for()
    senior.get_by_text("阿姨您好，我是社区的小王，您慢慢说。").wait_for(timeout=15_000)

    # The senior answers; it reaches the agent's screen live.
    senior.locator("#input").fill("我想问问家里老人助浴的事体")
    senior.locator("#input").press("Enter")
    agent.locator("#transcript .msg.senior", has_text="助浴的事体").wait_for(timeout=10_000)

    # Assist: what the senior said, searched; the top entry sent to her page as a large-print message.
    agent.keyboard.press("Alt+S")
    agent.keyboard.type("助浴哪能预约")
    agent.keyboard.press("Enter")
    agent.locator("#hits .hit").first.wait_for(timeout=30_000)
    assert 1 <= agent.locator("#hits .hit").count() <= 3
    assert agent.locator("#hits .hit").first.locator(".spoken").inner_text()
    _no_horizontal_scroll(agent)
    agent.screenshot(path=str(SCREENSHOT))
    agent.locator("#hits .hit .send").first.click()
    senior.get_by_text("【工作人员发给您】", exact=False).wait_for(timeout=15_000)

    agent.keyboard.press("Alt+H")
    senior.get_by_text("接下来由银龄助手继续为您服务").wait_for(timeout=15_000)
    assert queue.get(handoff.id).close_reason == "handed_back"
    answers_before = senior.locator(".msg-bot").count()
    senior.locator("#input").fill("我想问问长护险哪能申请")
    senior.locator("#input").press("Enter")
    senior.wait_for_function("n => document.querySelectorAll('.msg-bot').length > n", arg=answers_before)
    senior.get_by_text("来源：", exact=False).last.wait_for(timeout=60_000)
    assert agent.errors == []  # type: ignore[attr-defined]
    senior.close()
    agent.close()


def _wechat(stack: Stack, openid: str, text: str) -> None:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([PLATFORM["WECHAT_TOKEN"], timestamp, nonce])).encode()).hexdigest()
    body = (
        f"<xml><ToUserName><![CDATA[gh_yinling]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{time.time_ns() // 1000}</MsgId></xml>"
    ).encode()
    url = (
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/wechat/webhook"
        f"?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"
    )
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def test_a_wechat_senior_gets_the_agents_reply_through_the_customer_service_api(
    browser: Browser, stack: Stack, staff_url: str, desk: tuple[Queue, Accounts], fake_platform: FakePlatform
) -> None:
    queue, accounts = desk
    agent = _console(browser, staff_url, accounts, width=820, height=1180)  # a tablet, upright
    openid = f"o{uuid.uuid4().hex[:20]}"
    _wechat(stack, openid, "叫个人来")
    agent.locator("#waiting li", has_text="微信").wait_for(timeout=10_000)
    handoff = queue.open_for(f"wechat:{openid}")
    assert handoff is not None
    agent.locator(f'#waiting li[data-id="{handoff.id}"] button').click()
    agent.locator("#claim").click()
    agent.locator("#reply").wait_for()
    agent.locator("#reply").fill("张阿姨您好，我是小王，有什么可以帮您？")
    agent.locator("#send").click()
    sent = fake_platform.wait_for("wechat", lambda m: m["touser"] == openid and "我是小王" in m["text"]["content"])
    assert sent["text"]["content"] == "张阿姨您好，我是小王，有什么可以帮您？"
    _no_horizontal_scroll(agent)
    agent.screenshot(path=str(SCREENSHOT_TABLET), full_page=True)
    agent.locator("#hand-back").click()
    fake_platform.wait_for("wechat", lambda m: m["touser"] == openid and "银龄助手继续" in m["text"]["content"])
    deadline = time.monotonic() + 10
    while queue.get(handoff.id).status != "closed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with queue.db.read() as conn:
        assert conn.execute(sa.select(handoffs.c.close_reason).where(handoffs.c.id == handoff.id)).scalar_one() == (
            "handed_back"
        )
    assert agent.errors == []  # type: ignore[attr-defined]
    agent.close()
