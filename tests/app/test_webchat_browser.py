"""The web chat page (channels/webchat/) in real headless Chromium, measured against MIIT 适老化.

Two kinds of server:

- **The real channel code with a scripted agent** (module fixture ``site``): channels/webchat.py
  served by Sanic in the Rasa runtime, as ``rasa run`` mounts it, with
  ``tests.rasa.webchannel_harness.RecordingRasa`` as Rasa's agent (Rasa's own tracker and lock
  stores; canned replies: buttons, a long text with line breaks, a slow answer held until the
  test releases it). Failures (5xx, a dropped connection, a lost answer, 429) are made with
  Playwright's request routing. Every page behaviour and the elderly-friendly measurements run here.
- **The real servers** (``stack`` from tests/app/conftest.py, marked e2e): a booking form
  interrupted by a reload, 重新开始 ending that form, 删除我的信息 leaving nothing to show after a
  reload, and a human agent's message appended to Rasa's tracker store from outside showing up on
  the open page.

Chromium is Debian's (/usr/bin/chromium, see scripts/install_chromium.sh): Playwright's own
browser download cannot be reached from here. Screenshots are kept in /tmp/webchat*.png.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "channels" / "webchat"
CHANNEL_MODULE = ROOT / "channels" / "webchat.py"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path("/tmp")
SCREENSHOT = SHOTS / "webchat.png"
SCREENSHOT_DESKTOP = SHOTS / "webchat-desktop.png"

PAGE_PATH = "/webhooks/webchat/"
MESSAGE_PATH = PAGE_PATH + "message"
SESSION_KEY = "yinling.webchat.session"

MIN_TEXT_PX = 24.0  # 18 pt
MIN_LINE_HEIGHT = 1.3
MIN_CONTRAST = 4.5
MIN_TARGET_PX = 60.0
SIZE_STEPS_PX = [24.0, 28.0, 32.0, 36.0]
WEB_ID = re.compile(r"web-[0-9a-f]{32}")
GREETING_START = "我是银龄助手"


def _unavailable(reason: str, *, module_level: bool = False) -> None:
    """CI must run these tests; a developer without Chromium is told how to get it."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Page,
        Playwright,
        Request,
        Route,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - depends on the environment
    _unavailable(
        "Playwright is not installed: .venv/bin/pip install playwright (never `playwright install`)", module_level=True
    )


# ---- what the channel module declares, read without importing Rasa (.venv has none) ----


def _channel_constant(name: str) -> Any:
    tree = ast.parse(CHANNEL_MODULE.read_text(encoding="utf-8"))
    for node in tree.body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    raise LookupError(f"{name} not found in {CHANNEL_MODULE}")


CONTENT_TYPES: dict[str, str] = _channel_constant("CONTENT_TYPES")
CSP: str = _channel_constant("CONTENT_SECURITY_POLICY")


# ---- the real channel code with a scripted agent, in the Rasa runtime -----------------------------

BUTTONS = [
    {"title": "1. 养老服务", "payload": "/ask_elderly_care"},
    {"title": "2. 公证办理", "payload": "/ask_notary"},
    {"title": "3. 保险产品", "payload": "/ask_insurance"},
]
LONG_LINES = [
    "办理居家照护服务，请准备：",
    "1. 身份证",
    "2. 户口本",
    "3. 医保卡",
    "详情：https://www.example.org/baoshan/yanglao/jujia-zhaohu-fuwu-banli-zhinan-2025-04-29.html",
    "带好材料到街道社区事务受理服务中心办理，工作日上午 9:00 到下午 5:00。",
]
LONG_TEXT = "\n".join(LONG_LINES[:4]) + "\n\n" + "\n".join(LONG_LINES[4:])  # a blank line too
QUESTION = "请问您想了解哪一方面？"

# channels/webchat.py mounted the way `rasa run` does it, with RecordingRasa as the agent and a
# few /test/ routes for the test to look behind the page (what Rasa received, the tracker).
SITE_SERVER = """
import asyncio, json, sys
from sanic import Sanic, response
from rasa.core.channels.channel import register
from channels.http_limits import Throttle
from channels.webchat import WebChatInput
from channels.webchat_token import ConversationSigner
from common.ratelimit import Limit
from tests.rasa.webchannel_harness import RecordingRasa

port, buttons, long_text, question = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]


class PageRasa(RecordingRasa):
    gate = None

    async def replies(self, message):
        text = message.text or ""
        if "长" in text:
            return [{"text": long_text}]
        if text.startswith("/"):
            return [{"text": f"好的，您选了 {text}。"}]
        if "慢" in text:
            await self.gate.wait()
        return [{"text": question, "buttons": buttons}, {"custom": {"handoff": False}}]


agent = PageRasa()
plenty = Limit(10_000, 10_000)  # every page here comes from one address, faster than any person
app = Sanic("webchat_browser_test")
app.ctx.agent = agent
register([WebChatInput(ConversationSigner("browser-test-secret-0123456789"), throttle=Throttle(plenty, plenty),
                       history_limit=plenty)], app, route="/webhooks/")


@app.before_server_start
async def make_gate(app, loop):
    agent.gate = asyncio.Event()


@app.get("/test/received")
async def received(request):
    return response.json([{"sender": m.sender_id, "text": m.text, "metadata": m.metadata} for m in agent.received])


@app.post("/test/reset")
async def reset(request):
    agent.gate.set()  # a slow answer left over from the last test goes out now
    await asyncio.sleep(0)
    agent.gate.clear()
    agent.received.clear()
    return response.json({})


@app.post("/test/release")
async def release(request):
    agent.gate.set()
    return response.json({})


@app.post("/test/push")
async def push(request):
    await agent.push(request.json["conversation_id"], request.json["text"])
    return response.json({})


@app.get("/test/events/<conversation_id>")
async def events(request, conversation_id):
    return response.json([type(e).type_name for e in await agent.events(conversation_id)])


app.run(host="127.0.0.1", port=port, access_log=False, workers=1)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.url, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, url, err.read(), {k.lower(): v for k, v in err.headers.items()}


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except (urllib.error.URLError, ConnectionError):
        return False


@dataclass
class Site:
    """The server and a look behind the page: what Rasa received and what its tracker holds."""

    base: str

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read().decode())

    def received(self) -> list[dict[str, Any]]:
        return list(self._call("/test/received"))

    @property
    def messages(self) -> list[str]:
        return [r["text"] for r in self.received()]

    def reset(self) -> None:
        self._call("/test/reset", {})

    def release(self) -> None:
        self._call("/test/release", {})

    def push(self, conversation_id: str, text: str) -> None:
        self._call("/test/push", {"conversation_id": conversation_id, "text": text})

    def events(self, conversation_id: str) -> list[str]:
        return list(self._call(f"/test/events/{conversation_id}"))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    if not RASA_PYTHON.exists():
        _unavailable(f"{RASA_PYTHON} is missing: run scripts/setup.sh (the Rasa runtime serves the page)")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    args = [str(port), json.dumps(BUTTONS, ensure_ascii=False), LONG_TEXT, QUESTION]
    server = subprocess.Popen(
        [str(RASA_PYTHON), "-c", SITE_SERVER, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(base + PAGE_PATH):
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read().decode() if server.stderr and server.poll() is not None else ""
                pytest.fail(f"the Rasa-side page server did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield Site(base)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(autouse=True)
def _fresh_site(request: pytest.FixtureRequest) -> None:
    if "site" in request.fixturenames:
        site: Site = request.getfixturevalue("site")
        site.reset()


# ---- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: run scripts/install_chromium.sh (installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = _launch(playwright)
        yield chromium
        chromium.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


# Stubbed so that a pop-up would be recorded instead of blocking the test.
NO_POPUPS = """
window.__popups = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (text) => { window.__popups.push(name + ": " + text); return null; };
}
"""


@dataclass
class Watch:
    """What a page did that it must not: pop-ups, script errors, requests off this server."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


OpenPage = Callable[..., Page]


def _server_error(route: Route) -> None:
    route.fulfill(status=500, content_type="application/json", body='{"error": "boom"}')


@contextmanager
def _pages(browser: Browser, origin: str) -> Iterator[OpenPage]:
    """Opens pages on ``origin`` and checks, when done, that none misbehaved."""
    opened: list[tuple[Page, Watch]] = []

    def open_(
        width: int = 1280,
        height: int = 900,
        init: tuple[str, ...] = (),
        url: str | None = None,
        prepare: Callable[[BrowserContext], None] | None = None,
    ) -> Page:
        watch = Watch()
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(15_000)

        def only_local(route: Route, request: Request) -> None:
            if not request.url.startswith(origin + "/"):
                watch.foreign.append(request.url)
                route.abort()
            elif request.url.endswith(MESSAGE_PATH) and "出错" in (request.post_data or ""):
                _server_error(route)  # "出错" in a message: the server answers 500
            else:
                route.continue_()

        context.route("**/*", only_local)
        for script in (NO_POPUPS, *init):
            context.add_init_script(script)
        if prepare is not None:
            prepare(context)  # e.g. more routes; the last one added is asked first
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            # Failed requests are logged by Chromium itself; anything else is the page's fault.
            if message.type == "error" and "Failed to load resource" not in message.text:
                watch.errors.append(message.text)

        def on_dialog(dialog: Dialog) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.on("dialog", on_dialog)
        page.goto(url or origin + PAGE_PATH)
        page.locator(".msg-bot").first.wait_for()  # the greeting or the history: the script ran
        opened.append((page, watch))
        return page

    try:
        yield open_
    except BaseException:
        for page, _ in opened:
            page.context.close()
        raise
    problems = []
    for page, watch in opened:
        popups = page.evaluate("window.__popups") if not page.is_closed() else []
        problems += [f"alert/confirm/prompt: {popups}"] if popups else []
        problems += [f"dialogs: {watch.dialogs}"] if watch.dialogs else []
        problems += [f"script or policy errors: {watch.errors}"] if watch.errors else []
        problems += [f"requests elsewhere: {watch.foreign}"] if watch.foreign else []
        page.context.close()
    assert problems == [], f"the page misbehaved: {problems}"


@pytest.fixture
def open_page(browser: Browser, site: Site) -> Iterator[OpenPage]:
    with _pages(browser, site.base) as open_:
        yield open_


def _say(page: Page, text: str) -> None:
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")


def _wait_bot_count(page: Page, count: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('.msg-bot').length >= n", arg=count)


def _conversation_id(page: Page) -> str:
    return str(json.loads(page.evaluate(f"localStorage.getItem('{SESSION_KEY}')"))["conversation_id"])


def _converse(page: Page, site: Site) -> None:
    """A conversation that shows every kind of message and the typing indicator."""
    _say(page, "你好")
    _wait_bot_count(page, 2)
    _say(page, "说长一点")
    _wait_bot_count(page, 3)
    _say(page, "出错了吗")
    page.locator(".msg-error").wait_for()
    _say(page, "慢慢说")
    page.locator("#typing").wait_for(state="visible")


# ---- measuring ------------------------------------------------------------------------------

# Every visible element that holds text of its own, every control, with its colours.
MEASURE = """
() => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const backgrounds = (el) => {
    const out = [];
    for (let n = el; n; n = n.parentElement) {
      const bg = rgba(getComputedStyle(n).backgroundColor);
      out.push(bg);
      if (bg.length < 4 || bg[3] === 1) break;
    }
    return out;
  };
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const texts = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el) || el.closest(".visually-hidden")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own && el.tagName !== "TEXTAREA") continue;
    const s = getComputedStyle(el);
    texts.push({ what: describe(el), fontSize: parseFloat(s.fontSize), lineHeight: parseFloat(s.lineHeight),
                 fg: rgba(s.color), bgs: backgrounds(el) });
  }
  const input = document.getElementById("input");
  texts.push({ what: "textarea::placeholder", fontSize: parseFloat(getComputedStyle(input).fontSize),
               lineHeight: parseFloat(getComputedStyle(input).lineHeight),
               fg: rgba(getComputedStyle(input, "::placeholder").color), bgs: backgrounds(input) });
  // tabindex=-1 only lets the page move the focus there (the 重新开始 question): not a target.
  const targets = [...document.querySelectorAll("button, textarea, input, select, a[href], [role=button], [tabindex]:not([tabindex='-1'])")]
    .filter(visible)
    .map((el) => { const r = el.getBoundingClientRect(); return { what: describe(el), width: r.width, height: r.height }; });
  return { texts, targets };
}
"""


def _channel(value: float) -> float:
    value /= 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def _luminance(rgb: tuple[float, float, float]) -> float:
    r, g, b = (_channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _effective_background(layers: list[list[float]]) -> tuple[float, float, float]:
    """Composite the element's and its ancestors' backgrounds over a white canvas."""
    colour = (255.0, 255.0, 255.0)
    for layer in reversed(layers):
        alpha = layer[3] if len(layer) > 3 else 1.0
        colour = (
            layer[0] * alpha + colour[0] * (1 - alpha),
            layer[1] * alpha + colour[1] * (1 - alpha),
            layer[2] * alpha + colour[2] * (1 - alpha),
        )
    return colour


def _contrast(fg: list[float], layers: list[list[float]]) -> float:
    bg = _effective_background(layers)
    alpha = fg[3] if len(fg) > 3 else 1.0  # translucent text: blend it over its background first
    text = (
        fg[0] * alpha + bg[0] * (1 - alpha),
        fg[1] * alpha + bg[1] * (1 - alpha),
        fg[2] * alpha + bg[2] * (1 - alpha),
    )
    lighter, darker = sorted((_luminance(text), _luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass
class Measured:
    min_font: float
    min_line_ratio: float
    min_contrast: float
    min_target: float
    lowest_contrast: str
    smallest_target: str


def _measure(page: Page) -> Measured:
    data = page.evaluate(MEASURE)
    texts, targets = data["texts"], data["targets"]
    small = [t for t in texts if t["fontSize"] < MIN_TEXT_PX]
    assert not small, f"text under {MIN_TEXT_PX}px: {small}"
    tight = [t for t in texts if t["lineHeight"] / t["fontSize"] < MIN_LINE_HEIGHT]
    assert not tight, f"line height under {MIN_LINE_HEIGHT}: {tight}"
    contrasts = [(_contrast(t["fg"], t["bgs"]), t["what"]) for t in texts]
    faint = [c for c in contrasts if c[0] < MIN_CONTRAST]
    assert not faint, f"contrast under {MIN_CONTRAST}:1: {faint}"
    tiny = [t for t in targets if t["width"] < MIN_TARGET_PX or t["height"] < MIN_TARGET_PX]
    assert not tiny, f"targets under {MIN_TARGET_PX}x{MIN_TARGET_PX}px: {tiny}"
    lowest = min(contrasts)
    smallest = min(targets, key=lambda t: min(t["width"], t["height"]))
    return Measured(
        min_font=min(t["fontSize"] for t in texts),
        min_line_ratio=min(t["lineHeight"] / t["fontSize"] for t in texts),
        min_contrast=lowest[0],
        min_target=min(smallest["width"], smallest["height"]),
        lowest_contrast=lowest[1],
        smallest_target=smallest["what"],
    )


def _font_px(page: Page, selector: str) -> float:
    return float(page.locator(selector).first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))


# ---- tests: the conversation ------------------------------------------------------------------


def test_page_greets_in_chinese_and_loads_nothing_from_elsewhere(open_page: OpenPage) -> None:
    page = open_page()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.title() == "银龄助手"
    greeting = page.locator(".msg-bot").first
    assert greeting.locator(".who").inner_text() == "助手"
    assert "发送" in greeting.locator(".bubble").inner_text()
    assert page.locator("#messages").get_attribute("aria-live") == "polite"
    # open_page's teardown asserts: no requests off this server, no script errors, no pop-ups.


def test_enter_sends_and_shift_enter_makes_a_new_line(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    box = page.locator("#input")
    box.fill("第一行")
    box.press("Shift+Enter")
    box.type("第二行")
    assert site.received() == []
    assert box.input_value() == "第一行\n第二行"
    box.press("Enter")
    _wait_bot_count(page, 2)
    assert site.messages == ["第一行\n第二行"]
    assert box.input_value() == ""
    mine = page.locator(".msg-user").last
    assert mine.locator(".who").inner_text() == "我"
    assert mine.locator(".bubble p").all_inner_texts() == ["第一行", "第二行"]


def test_send_button_sends_and_empty_input_sends_nothing(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    page.locator("#send").click()
    page.locator("#input").fill("   ")
    page.locator("#send").click()
    page.locator("#input").fill("问一下")
    page.locator("#send").click()
    _wait_bot_count(page, 2)
    assert site.messages == ["问一下"]


def test_quick_replies_send_their_payload_as_a_trusted_button_and_show_their_title(
    open_page: OpenPage, site: Site
) -> None:
    page = open_page()
    _say(page, "你好")
    _wait_bot_count(page, 2)
    # The custom payload after the buttons message shows nothing.
    assert page.locator(".msg-bot").count() == 2
    choices = page.locator(".msg-bot").last.locator(".quick-reply")
    assert choices.all_inner_texts() == [b["title"] for b in BUTTONS]
    boxes = [choices.nth(i).bounding_box() for i in range(3)]
    assert all(b is not None for b in boxes)
    tops = [b["y"] for b in boxes if b]
    assert tops == sorted(tops) and len(set(tops)) == 3, "one quick reply per row"
    assert len({round(b["x"]) for b in boxes if b}) == 1

    choices.nth(1).click()
    _wait_bot_count(page, 3)
    pressed = site.received()[-1]
    assert pressed["text"] == "/ask_notary"
    assert pressed["metadata"] == {"trusted_payload": True, "button_title": "2. 公证办理"}
    assert pressed["sender"] == _conversation_id(page)
    assert page.locator(".msg-user .bubble").last.inner_text() == "2. 公证办理"
    assert "/ask_notary" in page.locator(".msg-bot .bubble").last.inner_text()


def test_bot_line_breaks_become_spaced_paragraphs(open_page: OpenPage) -> None:
    page = open_page()
    _say(page, "说长一点")
    _wait_bot_count(page, 2)
    paragraphs = page.locator(".msg-bot").last.locator(".bubble p")
    assert paragraphs.all_inner_texts() == LONG_LINES  # every line kept, the blank line as spacing
    geometry = paragraphs.evaluate_all(
        "ps => ps.map(p => { const r = p.getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, lh: parseFloat(getComputedStyle(p).lineHeight)}; })"
    )
    for above, below in itertools.pairwise(geometry):
        # From the last line of one paragraph to the first of the next, ≥ 1.3 × line spacing.
        assert below["top"] - above["bottom"] + below["lh"] >= 1.3 * below["lh"]


def test_typing_indicator_shows_while_waiting(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    typing = page.locator("#typing")
    assert typing.is_hidden()
    _say(page, "慢慢说")
    typing.wait_for(state="visible")
    assert "正在输入" in typing.inner_text()
    site.release()
    _wait_bot_count(page, 2)
    typing.wait_for(state="hidden")


def test_server_error_keeps_the_message_with_a_retry_and_a_plain_apology(open_page: OpenPage) -> None:
    page = open_page()
    _say(page, "出错了吗")
    apology = page.locator(".msg-error")
    apology.wait_for()
    assert "12345" in apology.inner_text() and "重试" in apology.inner_text()
    assert apology.locator(".who").inner_text() == "助手"
    unsent = page.locator(".msg-user.msg-unsent")
    assert unsent.locator(".bubble").inner_text() == "出错了吗"
    assert "没有发出去" in unsent.inner_text()
    assert unsent.locator(".btn-retry").is_visible()
    assert page.locator("[role=dialog], [role=alertdialog], dialog, [aria-modal=true]").count() == 0
    assert page.evaluate("window.__popups") == []
    assert page.locator("#typing").is_hidden()


def test_a_failed_send_keeps_the_text_through_a_reload_and_retry_delivers_it_once(
    open_page: OpenPage, site: Site
) -> None:
    page = open_page()
    page.route("**" + MESSAGE_PATH, lambda route: route.abort("connectionrefused"))
    _say(page, "我想问问助餐")
    page.locator(".msg-user.msg-unsent").wait_for()
    assert "12345" in page.locator(".msg-error").inner_text()
    assert site.received() == []
    page.screenshot(path=str(SHOTS / "webchat-unsent.png"))

    page.reload()  # the text is not lost: it waits, marked as not sent, with 重试
    unsent = page.locator(".msg-user.msg-unsent")
    unsent.wait_for()
    assert unsent.locator(".bubble").inner_text() == "我想问问助餐"

    page.unroute("**" + MESSAGE_PATH)
    unsent.locator(".btn-retry").click()
    _wait_bot_count(page, 2)
    page.wait_for_function("() => !document.querySelector('.msg-unsent')")
    assert site.messages == ["我想问问助餐"]
    assert page.locator(".msg-bot .bubble").last.inner_text().startswith(QUESTION)
    page.reload()  # delivered: nothing waits any more, and the history shows it once
    page.locator(".msg-user").first.wait_for()
    assert page.locator(".msg-user .bubble").all_inner_texts() == ["我想问问助餐"]
    assert page.locator(".msg-unsent").count() == 0


def test_an_answer_lost_on_the_way_back_is_not_asked_twice(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    lost: list[str] = []
    # The history is not polled meanwhile (it would find the message arrived): this is about 重试.
    page.route("**" + PAGE_PATH + "history*", lambda route: route.abort("connectionrefused"))

    def reach_the_server_then_drop(route: Route) -> None:
        route.fetch()  # the server gets and answers the message ...
        lost.append(route.request.url)
        route.abort("connectionreset")  # ... but the answer never reaches the page

    page.route("**" + MESSAGE_PATH, reach_the_server_then_drop)
    _say(page, "你好")
    page.locator(".msg-user.msg-unsent").wait_for()
    page.unroute("**" + MESSAGE_PATH)
    page.locator(".btn-retry").click()
    page.wait_for_function("() => !document.querySelector('.msg-unsent')")
    _wait_bot_count(page, 3)  # greeting, apology, the answer
    page.unroute("**" + PAGE_PATH + "history*")
    page.wait_for_timeout(4500)  # polls of the history find everything shown already
    assert lost and site.messages == ["你好"], "Rasa got the message once"
    assert page.locator(".msg-bot .bubble", has_text=QUESTION).count() == 1
    assert page.locator(".msg-user").count() == 1


def test_a_message_whose_answer_was_lost_is_found_in_the_history_without_retry(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    page.route("**" + MESSAGE_PATH, lambda route: (route.fetch(), route.abort("connectionreset")))
    _say(page, "你好")
    page.locator(".msg-user.msg-unsent").wait_for()
    page.unroute("**" + MESSAGE_PATH)
    # The next poll shows the message as arrived, with its answer, and 重试 goes away.
    page.wait_for_function("() => !document.querySelector('.msg-unsent')", timeout=10_000)
    page.locator(".msg-bot .bubble", has_text=QUESTION).wait_for()
    assert page.locator(".msg-user .bubble").all_inner_texts() == ["你好"]
    assert page.evaluate("localStorage.getItem('yinling.webchat.outbox')") is None
    assert site.messages == ["你好"]


def test_a_slow_down_answer_is_shown_and_the_message_can_be_sent_again(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    slow = "您发得有点快，我跟不上啦。请等一小会儿再发，我一定回复您。"
    page.route(
        "**" + MESSAGE_PATH,
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "3"},
            content_type="application/json",
            body=json.dumps({"error": "too many requests", "text": slow}, ensure_ascii=False),
        ),
    )
    _say(page, "你好")
    page.locator(".msg-bot", has_text=slow).wait_for()
    assert page.locator(".msg-error").count() == 0, "a slow-down is the bot's words, not an error"
    page.unroute("**" + MESSAGE_PATH)
    page.locator(".btn-retry").click()
    _wait_bot_count(page, 3)
    assert site.messages == ["你好"]


def test_the_conversation_survives_a_reload_with_its_history(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    _say(page, "你好")
    _wait_bot_count(page, 2)
    _say(page, "说长一点")
    _wait_bot_count(page, 3)
    page.reload()
    page.locator(".msg-user").nth(1).wait_for()
    # The visible history, not only the greeting: the bot's last words are in view.
    assert page.locator(".msg-user .bubble").all_inner_texts() == ["你好", "说长一点"]
    assert page.locator(".msg-bot .bubble p").last.inner_text() == LONG_LINES[-1]
    assert GREETING_START not in page.locator("#messages").inner_text()
    last_box = page.locator(".msg-bot").last.bounding_box()
    assert last_box is not None and last_box["y"] < 900
    # The earlier choices were answered, so they cannot be pressed again.
    assert page.locator(".quick-reply:not(:disabled)").count() == 0
    _say(page, "再问一句")
    _wait_bot_count(page, 3)
    senders = {r["sender"] for r in site.received()}
    assert len(senders) == 1 and WEB_ID.fullmatch(senders.pop() or "")

    other = open_page()  # another browser (fresh context): another person, another conversation
    _say(other, "你好")
    _wait_bot_count(other, 2)
    assert len({r["sender"] for r in site.received()}) == 2
    assert other.locator(".msg-user").count() == 1


def test_an_expired_or_forged_conversation_is_replaced_and_said_so(open_page: OpenPage, site: Site) -> None:
    forged = {"conversation_id": "web-" + "0" * 32, "token": f"web-{'0' * 32}.9999999999.{'0' * 64}"}
    page = open_page(init=(f"localStorage.setItem('{SESSION_KEY}', {json.dumps(json.dumps(forged))});",))
    notice = page.locator(".msg-notice")
    notice.wait_for()
    assert "过期" in notice.inner_text() and "重新开始" in notice.inner_text()
    _say(page, "你好")
    _wait_bot_count(page, 3)
    assert site.received()[0]["sender"] != forged["conversation_id"]
    assert WEB_ID.fullmatch(site.received()[0]["sender"])


def test_a_page_opened_offline_gets_its_conversation_when_it_first_sends(open_page: OpenPage, site: Site) -> None:
    offline = "**" + PAGE_PATH + "session"
    page = open_page(prepare=lambda context: context.route(offline, lambda route: route.abort("internetdisconnected")))
    assert page.evaluate(f"localStorage.getItem('{SESSION_KEY}')") is None, "the greeting, no conversation yet"
    page.context.unroute(offline)
    _say(page, "你好")
    _wait_bot_count(page, 2)
    assert page.locator(".msg-bot .bubble").last.inner_text() == QUESTION
    assert site.received()[0]["sender"] == _conversation_id(page)


def test_an_earlier_quick_reply_is_disabled_once_answered_or_overtaken(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    _say(page, "你好")
    _wait_bot_count(page, 2)
    _say(page, "还是你好")  # typed instead of pressing: a newer question comes
    _wait_bot_count(page, 3)
    earlier = page.locator(".msg-bot").nth(1).locator(".quick-reply")
    latest = page.locator(".msg-bot").nth(2).locator(".quick-reply")
    assert all(earlier.nth(i).is_disabled() for i in range(3))
    assert all(latest.nth(i).is_enabled() for i in range(3))
    earlier.first.click(force=True)  # pressing it anyway does nothing
    page.wait_for_timeout(300)
    assert site.messages == ["你好", "还是你好"]
    looks = earlier.first.evaluate("b => [getComputedStyle(b).borderTopStyle, getComputedStyle(b).cursor]")
    assert looks == ["dashed", "default"], "visibly done, not only greyed"

    latest.nth(2).click()
    _wait_bot_count(page, 4)
    assert all(latest.nth(i).is_disabled() for i in range(3))
    assert latest.nth(2).inner_text().startswith("✓"), "the chosen one is marked, not by colour alone"
    assert site.messages == ["你好", "还是你好", "/ask_insurance"]


def _long_conversation(page: Page) -> None:
    for i in range(4):
        _say(page, f"说长一点{i}")
        _wait_bot_count(page, 2 + i)


def test_text_size_and_restart_stay_reachable_after_scrolling(open_page: OpenPage) -> None:
    page = open_page(width=360, height=740)
    _long_conversation(page)
    scroller = page.locator("#scroller")
    scroller.evaluate("el => el.scrollTo(0, el.scrollHeight)")
    assert scroller.evaluate("el => el.scrollTop") > 500, "the conversation is long enough to scroll"
    for control in ("#bigger", "#smaller", "#restart"):
        box = page.locator(control).bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 740, control
        # Really on top (nothing covers it), so a tap lands on it.
        hit = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button')?.id",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit == control[1:]
    before = _font_px(page, ".msg-bot .bubble p")
    page.locator("#bigger").click()
    assert _font_px(page, ".msg-bot .bubble p") > before
    page.screenshot(path=str(SHOTS / "webchat-scrolled.png"))


def _settled_scroll(page: Page) -> float:
    """The conversation's scroll position once a (possibly smooth) keyboard scroll has stopped."""
    last = None
    for _ in range(50):
        page.wait_for_timeout(60)
        now = float(page.locator("#scroller").evaluate("el => el.scrollTop"))
        if now == last:
            return now
        last = now
    raise AssertionError("the conversation kept scrolling")


def test_the_message_list_scrolls_by_keyboard(open_page: OpenPage) -> None:
    page = open_page(width=360, height=740)
    _long_conversation(page)
    scroller = page.locator("#scroller")
    scroller.evaluate("el => el.scrollTo(0, el.scrollHeight)")
    page.evaluate("document.activeElement.blur()")
    for _ in range(10):  # reached with Tab like any control
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "scroller":
            break
    assert page.evaluate("document.activeElement.id") == "scroller"
    outline = scroller.evaluate(
        "el => [getComputedStyle(el).outlineStyle, parseFloat(getComputedStyle(el).outlineWidth)]"
    )
    assert outline[0] != "none" and outline[1] >= 3, "the focus is visible"
    bottom = _settled_scroll(page)
    page.keyboard.press("PageUp")
    after_page_up = _settled_scroll(page)
    assert bottom - after_page_up > 200, "PageUp: about a screen up"
    page.keyboard.press("ArrowUp")
    after_up = _settled_scroll(page)
    assert 0 < after_page_up - after_up < 200, "ArrowUp: a little up"
    page.keyboard.press("ArrowDown")
    assert _settled_scroll(page) > after_up
    page.keyboard.press("Home")
    assert _settled_scroll(page) == 0
    page.keyboard.press("PageDown")
    assert _settled_scroll(page) > 200


def test_restart_is_asked_in_the_page_and_then_starts_a_new_conversation(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    _say(page, "你好")
    _wait_bot_count(page, 2)
    old = _conversation_id(page)

    page.locator("#restart").click()
    confirm = page.locator("#restart-confirm")
    assert confirm.is_visible() and "确定重新开始吗" in confirm.inner_text()
    assert page.locator("[role=dialog], [role=alertdialog], dialog, [aria-modal=true]").count() == 0
    choices = confirm.locator("button")
    assert choices.all_inner_texts() == ["1. 确定，重新开始", "2. 不了，接着聊"]
    for i in range(2):
        box = choices.nth(i).bounding_box()
        assert box is not None and box["width"] >= MIN_TARGET_PX and box["height"] >= MIN_TARGET_PX
    page.screenshot(path=str(SHOTS / "webchat-restart.png"))

    choices.nth(1).click()  # 2: no — nothing changes
    assert confirm.is_hidden() and page.locator(".msg-user").count() == 1
    assert _conversation_id(page) == old

    page.locator("#restart").click()
    choices.nth(0).click()  # 1: yes
    page.wait_for_function("() => document.querySelectorAll('.msg').length === 1")
    assert "您好" in page.locator(".msg-bot").inner_text()
    new = _conversation_id(page)
    assert WEB_ID.fullmatch(new) and new != old
    assert site.events(old)[-1] == "restart", "the old conversation was ended in Rasa's tracker"
    _say(page, "你好")
    _wait_bot_count(page, 2)
    assert site.received()[-1]["sender"] == new
    page.reload()
    page.locator(".msg-user").wait_for()
    assert page.locator(".msg-user").count() == 1, "the old conversation does not come back"


def test_a_message_appended_to_the_tracker_appears_on_the_open_page_once(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    _say(page, "我要找真人")
    _wait_bot_count(page, 2)
    reply = "您好，我是社区的王老师。请问有什么可以帮您？"
    site.push(_conversation_id(page), reply)
    page.locator(".msg-bot", has_text=reply).wait_for(timeout=10_000)  # polled every 2 s
    page.wait_for_timeout(4500)  # two more polls: still once
    assert page.locator(".msg-bot", has_text=reply).count() == 1
    _say(page, "好的")
    _wait_bot_count(page, 4)
    page.wait_for_timeout(2500)
    assert page.locator(".msg-bot", has_text=reply).count() == 1
    assert page.locator(".msg-bot .bubble", has_text=QUESTION).count() == 2


# ---- tests: older eyes and hands ---------------------------------------------------------------


@pytest.mark.parametrize("width", [360, 1280])
def test_text_contrast_and_targets_meet_the_elderly_spec(open_page: OpenPage, site: Site, width: int) -> None:
    page = open_page(width=width, height=800)
    _converse(page, site)
    assert _font_px(page, ".msg-bot .bubble p") >= MIN_TEXT_PX
    assert _font_px(page, "#input") >= MIN_TEXT_PX
    page.locator("#restart").click()  # the in-page question and its two answers are measured too
    measured = _measure(page)  # asserts every element; returns the extremes
    page.locator("#restart-no").click()
    site.release()
    _wait_bot_count(page, 5)
    page.locator(".quick-reply").first.wait_for()
    page.locator("#bigger").click()
    page.locator("#bigger").click()
    page.locator("#bigger").click()
    biggest = _measure(page)  # with answered (disabled) quick replies and an unsent message
    assert page.locator(".quick-reply:disabled").count() >= 3
    print(f"\n[{width}px] standard size: {measured}\n[{width}px] largest size: {biggest}")

    # Between messages, as between paragraphs: ≥ 1.3 × line spacing from line to line.
    gaps = page.locator(".msg").evaluate_all(
        "ms => ms.slice(1).map((m, i) => m.getBoundingClientRect().top - ms[i].getBoundingClientRect().bottom)"
    )
    line = float(page.locator(".bubble p").first.evaluate("p => parseFloat(getComputedStyle(p).lineHeight)"))
    assert min(gaps) + line >= 1.3 * line


def test_focus_outline_is_visible_on_every_control(open_page: OpenPage) -> None:
    page = open_page()
    _say(page, "你好")  # quick replies on the page too
    _wait_bot_count(page, 2)
    page.mouse.click(2, 2)  # the header's edge: start from the top, then walk the page with the keyboard
    seen = []
    for _ in range(25):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const el = document.activeElement; const s = getComputedStyle(el);"
            " return { what: el === document.body ? null : el.id || el.className,"
            " style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; }"
        )
        if focused["what"] is None:  # went round the whole page
            break
        seen.append(focused["what"])
        assert focused["style"] != "none" and focused["width"] >= 3, f"no visible focus outline: {focused}"
    assert {"smaller", "bigger", "restart", "scroller", "input", "send"} <= set(seen)
    assert any("quick-reply" in what for what in seen)
    assert seen.index("restart") < seen.index("scroller") < seen.index("input"), "top to bottom"


def test_text_size_buttons_change_the_size_and_it_is_remembered(open_page: OpenPage) -> None:
    page = open_page()
    text = ".msg-bot .bubble p"
    assert _font_px(page, text) == SIZE_STEPS_PX[0]
    assert page.locator("#smaller").get_attribute("aria-disabled") == "true"
    page.locator("#bigger").click()
    assert _font_px(page, text) == SIZE_STEPS_PX[1]
    assert _font_px(page, "#input") == SIZE_STEPS_PX[1]
    page.reload()
    page.locator(text).first.wait_for()
    assert _font_px(page, text) == SIZE_STEPS_PX[1], "the chosen size is kept after a reload"
    for _ in range(5):  # stops at the largest step (force: aria-disabled still takes a press)
        page.locator("#bigger").click(force=True)
    assert _font_px(page, text) == SIZE_STEPS_PX[-1]
    assert page.locator("#bigger").get_attribute("aria-disabled") == "true"
    page.locator("#smaller").click()
    assert _font_px(page, text) == SIZE_STEPS_PX[-2]
    assert page.locator("#size-name").inner_text() != ""


def test_phone_width_never_scrolls_sideways(open_page: OpenPage, site: Site) -> None:
    page = open_page(width=360, height=740)
    for _ in SIZE_STEPS_PX[1:]:  # the largest text
        page.locator("#bigger").click()
    _converse(page, site)
    site.release()
    _wait_bot_count(page, 5)
    page.locator("#restart").click()
    overflow = page.evaluate(
        """() => ({
          page: document.scrollingElement.scrollWidth,
          conversation: document.querySelector('.scroller').scrollWidth
            - document.querySelector('.scroller').clientWidth,
          outside: [...document.querySelectorAll('body *')].filter(el => {
            const r = el.getBoundingClientRect();
            return r.width > 0 && (r.right > 360.5 || r.left < -0.5) && !el.closest('.visually-hidden');
          }).map(el => el.tagName + '.' + el.className),
        })"""
    )
    assert overflow["page"] <= 360, overflow
    assert overflow["conversation"] <= 0, overflow
    assert overflow["outside"] == [], overflow
    # The controls keep one row at the largest text, so the messages keep the screen.
    rows = {round((page.locator(c).bounding_box() or {"y": -1})["y"]) for c in ("#smaller", "#bigger", "#restart")}
    assert len(rows) == 1, rows


def test_no_dialogs_popups_or_moving_parts(open_page: OpenPage, site: Site) -> None:
    page = open_page()
    _converse(page, site)
    page.locator("#restart").click()
    site.release()
    assert page.locator("[role=dialog], [role=alertdialog], dialog, [aria-modal=true]").count() == 0
    animated = page.evaluate("document.getAnimations().length")
    assert animated == 0, "nothing on the page moves by itself"


# ---- tests: voice ---------------------------------------------------------------------------------


def test_voice_and_read_aloud_buttons_follow_what_the_browser_offers(open_page: OpenPage) -> None:
    page = open_page()
    can_listen = page.evaluate("Boolean(window.SpeechRecognition || window.webkitSpeechRecognition)")
    assert page.locator("#voice").is_visible() == can_listen
    # Read-aloud buttons show exactly when a Chinese voice exists (voices may load late).
    page.wait_for_function(
        """() => {
          const zh = 'speechSynthesis' in window
            && speechSynthesis.getVoices().some(v => /^zh([-_]|$)/i.test(v.lang));
          const shown = [...document.querySelectorAll('.speak')].some(b => b.getClientRects().length > 0);
          return zh === shown;
        }""",
        timeout=5000,
    )


FAKE_RECOGNITION = """
window.__recognitions = [];
window.SpeechRecognition = class {
  constructor() { window.__recognitions.push(this); }
  start() { this.started = true; }
  stop() { if (this.onend) this.onend(); }
};
"""

FAKE_SYNTHESIS = """
window.__spoken = [];
window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
Object.defineProperty(window, "speechSynthesis", { configurable: true, value: {
  getVoices: () => [{ lang: "zh-CN", name: "测试" }],
  speak: (u) => window.__spoken.push({ text: u.text, lang: u.lang, rate: u.rate }),
  cancel: () => { window.__cancelled = (window.__cancelled || 0) + 1; },
  addEventListener: () => {},
}});
"""


def test_voice_input_fills_the_box_in_chinese(open_page: OpenPage, site: Site) -> None:
    page = open_page(init=(FAKE_RECOGNITION,))
    voice = page.locator("#voice")
    assert voice.is_visible()
    voice.click()
    state = page.evaluate("(() => { const r = window.__recognitions[0]; return [r.lang, Boolean(r.started)]; })()")
    assert state == ["zh-CN", True]
    page.evaluate(
        "(() => { const r = window.__recognitions[0];"
        " r.onresult({ results: [[{ transcript: '我想问问养老服务' }]] }); r.onend(); })()"
    )
    assert page.locator("#input").input_value() == "我想问问养老服务"
    assert site.received() == [], "heard text waits for 发送, so the speaker can check it"
    assert "发送" in page.locator("#hint").inner_text()


def test_voice_button_hides_when_the_service_turns_out_missing(open_page: OpenPage) -> None:
    page = open_page(init=(FAKE_RECOGNITION,))
    page.locator("#voice").click()
    page.evaluate("(() => { const r = window.__recognitions[0]; r.onerror({ error: 'network' }); r.onend(); })()")
    assert page.locator("#voice").is_hidden()
    assert "打字" in page.locator("#hint").inner_text()


def test_read_aloud_reads_bot_messages_in_chinese(open_page: OpenPage) -> None:
    page = open_page(init=(FAKE_SYNTHESIS,))
    speak = page.locator(".msg-bot").first.locator(".speak")
    assert speak.is_visible()
    assert page.locator(".msg-user .speak").count() == 0
    speak.click()
    spoken = page.evaluate("window.__spoken")
    assert len(spoken) == 1
    assert spoken[0]["lang"] == "zh-CN"
    assert "银龄助手" in spoken[0]["text"]
    assert speak.inner_text().endswith("停止")
    speak.click()  # a second press stops
    assert page.evaluate("window.__cancelled") >= 2
    assert len(page.evaluate("window.__spoken")) == 1
    assert speak.inner_text().endswith("朗读")
    box = speak.bounding_box()
    assert box is not None and box["width"] >= MIN_TARGET_PX and box["height"] >= MIN_TARGET_PX


# ---- the pictures -----------------------------------------------------------------------------------


def test_screenshot(open_page: OpenPage, site: Site) -> None:
    """Pictures to look at (the phone one from the top, header included); they must not be blank."""
    phone = open_page(width=360, height=800)
    _say(phone, "你好")
    _wait_bot_count(phone, 2)
    phone.locator("#scroller").evaluate("el => el.scrollTo(0, 0)")
    phone.screenshot(path=str(SCREENSHOT))

    desktop = open_page(width=1280, height=900)
    _say(desktop, "说长一点")
    _wait_bot_count(desktop, 2)
    _say(desktop, "你好")
    _wait_bot_count(desktop, 3)
    desktop.locator(".quick-reply").last.scroll_into_view_if_needed()
    desktop.screenshot(path=str(SCREENSHOT_DESKTOP))
    for path in (SCREENSHOT, SCREENSHOT_DESKTOP):
        assert path.stat().st_size > 10_000


# ---- the page's files, as the channel serves them ----------------------------------------------------


def test_channel_serves_the_page_with_types_and_no_way_out(site: Site) -> None:
    status, _, body, headers = _get(site.base + PAGE_PATH)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "银龄助手" in body.decode()
    assert headers["content-security-policy"] == CSP
    assert "connect-src 'self';" in CSP, "the page talks to its own server only"
    assert headers["x-content-type-options"] == "nosniff"

    for name, kind in (("chat.css", "text/css"), ("chat.js", "text/javascript")):
        status, _, body, headers = _get(f"{site.base}{PAGE_PATH}static/{name}")
        assert status == 200 and headers["content-type"].startswith(kind)
        assert body == (PAGE_DIR / name).read_bytes()

    status, final_url, _, _ = _get(site.base + PAGE_PATH.rstrip("/"))
    assert status == 200 and final_url == site.base + PAGE_PATH, "no trailing slash: redirected to the folder"

    for sneaky in ("..%2Fwebchat.py", "%2e%2e%2f%2e%2e%2frest.py", "..%2F..%2Fchannels%2Frest.py", "", "nope.js"):
        status, _, body, _ = _get(f"{site.base}{PAGE_PATH}static/{sneaky}")
        assert status == 404, sneaky
        assert b"import" not in body


# ---- the real servers: a booking form, 重新开始, a person's reply -----------------------------------------


@pytest.fixture
def stack_page(browser: Browser, stack: Stack) -> Iterator[OpenPage]:
    with _pages(browser, f"http://{stack.host}:{stack.rasa_port}") as open_:
        yield open_


def _bot_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(".msg-bot .bubble").all_inner_texts()]


def _wait_for_reply(page: Page, bot_count: int) -> str:
    _wait_bot_count(page, bot_count)
    return _bot_texts(page)[-1]


def _tracker_events(stack: Stack, conversation_id: str) -> list[str]:
    """Event types of a conversation, straight from the SQLite tracker store the Rasa server writes."""
    with sqlite3.connect(stack.extra_env["YINLING_TRACKER_DB"]) as db:
        rows = db.execute("SELECT type_name FROM events WHERE sender_id = ? ORDER BY id", (conversation_id,))
        return [row[0] for row in rows]


BOOKING_START = "明天上午帮我约个助浴"


@pytest.mark.e2e
def test_a_reload_in_the_middle_of_a_booking_form_shows_the_last_question(stack_page: OpenPage) -> None:
    page = stack_page(width=360, height=800)
    _say(page, BOOKING_START)
    question = _wait_for_reply(page, 2)
    assert "？" in question or "?" in question, f"the form asks something: {question}"
    page.reload()
    page.locator(".msg-user").first.wait_for()
    assert page.locator(".msg-user .bubble").all_inner_texts() == [BOOKING_START]
    assert _bot_texts(page) == [question], "the form's question, not only the greeting"
    box = page.locator(".msg-bot").last.bounding_box()
    assert box is not None and box["y"] < 800, "the question is in view"
    page.screenshot(path=str(SHOTS / "webchat-reload-mid-form.png"))


@pytest.mark.e2e
def test_restart_really_ends_the_booking_form(stack_page: OpenPage, stack: Stack) -> None:
    page = stack_page()
    _say(page, BOOKING_START)
    _wait_for_reply(page, 2)
    old = _conversation_id(page)
    assert "active_loop" in _tracker_events(stack, old), "a form is running"

    page.locator("#restart").click()
    page.locator("#restart-yes").click()
    page.wait_for_function("() => document.querySelectorAll('.msg').length === 1")
    new = _conversation_id(page)
    assert new != old
    assert _tracker_events(stack, old)[-1] == "restart", "the old form is gone on the server"
    # The new conversation knows nothing of it: a correction is not taken as one to that form.
    _say(page, "不对，是下午")
    reply = _wait_for_reply(page, 2)
    assert "助浴" not in reply and "确认" not in reply, reply
    assert "active_loop" not in _tracker_events(stack, new)[: _tracker_events(stack, new).index("user") + 1]


@pytest.mark.e2e
def test_after_deleting_my_data_a_reload_shows_nothing_of_the_old_conversation(
    stack_page: OpenPage, stack: Stack
) -> None:
    """删除我的信息 on the web page: the Rasa server's tracker store deletes the conversation (bot/tracker_store.py),
    so the open page gets nothing back from its polls, and a reload shows the greeting alone, not the history."""
    page = stack_page(width=360, height=800)
    _say(page, "我想问问长护险哪能申请")
    _wait_bot_count(page, 2)
    _say(page, "删除我的信息")
    assert _wait_for_reply(page, 3).startswith("要删除您在这里的所有信息吗")
    _say(page, "确定删除")
    assert _wait_for_reply(page, 4) == "已经删除了您的信息。以后需要，随时再来找我。"
    conversation = _conversation_id(page)
    assert _tracker_events(stack, conversation) == [], "nothing of it is kept on the server"
    shown = page.locator(".msg").count()
    page.wait_for_timeout(4500)  # two polls of the history: nothing comes back, nothing is shown twice
    assert page.locator(".msg").count() == shown

    page.reload()
    page.wait_for_function("() => document.querySelectorAll('.msg').length >= 1")
    page.wait_for_timeout(500)  # the history has been asked for and shown by now
    assert page.locator(".msg-user").count() == 0, "no message of the deleted conversation is shown again"
    assert len(_bot_texts(page)) == 1 and GREETING_START in _bot_texts(page)[0], "the greeting alone"
    assert "长护险" not in page.locator("#messages").inner_text()
    assert _conversation_id(page) == conversation, "the page's signed conversation goes on, empty"
    page.screenshot(path=str(SHOTS / "webchat-deleted.png"))

    # The next message starts a new, empty conversation on the server.
    _say(page, "你好")
    _wait_bot_count(page, 2)
    assert page.locator(".msg-user .bubble").all_inner_texts() == ["你好"]
    assert _tracker_events(stack, conversation).count("user") == 1


APPEND_BOT_EVENT = """
import asyncio, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered

async def main(db, conversation_id, text):
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    tracker = await store.retrieve(conversation_id)
    tracker.update(BotUttered(text, metadata={"agent": "e2e"}))
    await store.save(tracker)

asyncio.run(main(*sys.argv[1:4]))
"""


@pytest.mark.e2e
def test_a_persons_reply_appended_to_rasas_tracker_store_appears_on_the_page(
    stack_page: OpenPage, stack: Stack
) -> None:
    page = stack_page()
    _say(page, "我想问问长护险哪能申请")
    _wait_bot_count(page, 2)
    count = page.locator(".msg-bot").count()
    reply = "您好，我是社区的王老师，我来帮您看看长护险。"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run(
        [
            str(RASA_PYTHON),
            "-c",
            APPEND_BOT_EVENT,
            stack.extra_env["YINLING_TRACKER_DB"],
            _conversation_id(page),
            reply,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    page.locator(".msg-bot", has_text=reply).wait_for(timeout=10_000)
    page.wait_for_timeout(4500)
    assert page.locator(".msg-bot", has_text=reply).count() == 1
    assert page.locator(".msg-bot").count() == count + 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
