"""The web chat page (channels/webchat/) in real headless Chromium, measured against MIIT 适老化.

The page is served by a small HTTP server on loopback that also plays the REST channel
with canned replies (buttons, a long text with line breaks, a 500 error, a slow answer),
so every behaviour is checked without Rasa. One more test serves the page with the real
channel code (channels/webchat.py and channels/rest.py) in the Rasa runtime, with a fake
agent behind it.

Chromium is Debian's (/usr/bin/chromium, see scripts/install_chromium.sh): Playwright's own
browser download cannot be reached from here.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "channels" / "webchat"
CHANNEL_MODULE = ROOT / "channels" / "webchat.py"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = Path("/tmp/webchat.png")
SCREENSHOT_DESKTOP = Path("/tmp/webchat-desktop.png")

PAGE_PATH = "/webhooks/webchat/"
REST_PATH = "/webhooks/rest/webhook"

MIN_TEXT_PX = 24.0  # 18 pt
MIN_LINE_HEIGHT = 1.3
MIN_CONTRAST = 4.5
MIN_TARGET_PX = 60.0
SIZE_STEPS_PX = [24.0, 28.0, 32.0, 36.0]


def _unavailable(reason: str, *, module_level: bool = False) -> None:
    """CI must run these tests; a developer without Chromium is told how to get it."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


try:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, Request, Route, sync_playwright
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


# ---- the fake REST channel ---------------------------------------------------------------

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


@dataclass
class FakeSite:
    base: str
    received: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)  # holds "慢" answers

    @property
    def messages(self) -> list[str]:
        return [r["message"] for r in self.received]


def _replies(site: FakeSite, sender: str, message: str) -> tuple[int, Any]:
    if "出错" in message:
        return 500, {"error": "boom"}
    if "长" in message:
        return 200, [{"recipient_id": sender, "text": LONG_TEXT}]
    if message.startswith("/"):
        return 200, [{"recipient_id": sender, "text": f"好的，您选了 {message}。"}]
    if "慢" in message:
        site.gate.wait(timeout=30)
    return 200, [
        {"recipient_id": sender, "text": "请问您想了解哪一方面？", "buttons": BUTTONS},
        {"recipient_id": sender, "custom": {"handoff": False}},  # not for the page: ignored
    ]


def _handler(site: FakeSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)  # the channel's own policy
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path, name = urllib.parse.urlsplit(self.path).path, None
            if path == PAGE_PATH:
                name = "index.html"
            elif path.startswith(PAGE_PATH + "static/"):
                name = path.removeprefix(PAGE_PATH + "static/")
            file = PAGE_DIR / name if name and "/" not in name else None
            if file is None or not file.is_file() or file.suffix not in CONTENT_TYPES:
                self._send(404, b"not found", "text/plain")
                return
            self._send(200, file.read_bytes(), CONTENT_TYPES[file.suffix])

        def do_POST(self) -> None:
            if self.path != REST_PATH:
                self._send(404, b"not found", "text/plain")
                return
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            site.received.append(payload)
            status, body = _replies(site, payload["sender"], payload["message"])
            self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json")

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[FakeSite]:
    site = FakeSite(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.gate.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_site(request: pytest.FixtureRequest) -> None:
    if "site" in request.fixturenames:
        site: FakeSite = request.getfixturevalue("site")
        site.received.clear()
        site.gate.clear()


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


@pytest.fixture
def open_page(browser: Browser, site: FakeSite) -> Iterator[OpenPage]:
    opened: list[tuple[Page, Watch]] = []

    def open_(width: int = 1280, height: int = 900, init: tuple[str, ...] = (), url: str | None = None) -> Page:
        origin = site.base
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(10_000)
        watch = Watch()

        def only_local(route: Route, request: Request) -> None:
            if request.url.startswith(origin + "/"):
                route.continue_()
            else:
                watch.foreign.append(request.url)
                route.abort()

        def on_console(message: ConsoleMessage) -> None:
            # A 500 answer is logged by Chromium itself; anything else is the page's fault.
            if message.type == "error" and "Failed to load resource" not in message.text:
                watch.errors.append(message.text)

        def on_dialog(dialog: Dialog) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        context.route("**/*", only_local)
        for script in (NO_POPUPS, *init):
            context.add_init_script(script)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.on("dialog", on_dialog)
        page.goto(url or origin + PAGE_PATH)
        page.locator(".msg-bot").first.wait_for()  # the greeting: the script ran
        opened.append((page, watch))
        return page

    yield open_
    for page, watch in opened:
        popups = page.evaluate("window.__popups") if not page.is_closed() else []
        page.context.close()
        assert popups == [], f"the page called alert/confirm/prompt: {popups}"
        assert watch.dialogs == [], f"the page opened dialogs: {watch.dialogs}"
        assert watch.errors == [], f"script or policy errors in the page: {watch.errors}"
        assert watch.foreign == [], f"the page asked for something from elsewhere: {watch.foreign}"


def _say(page: Page, text: str) -> None:
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")


def _wait_bot_count(page: Page, count: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('.msg-bot').length >= n", arg=count)


def _converse(page: Page, site: FakeSite) -> None:
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
  const targets = [...document.querySelectorAll("button, textarea, input, select, a[href], [role=button], [tabindex]")]
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


def test_enter_sends_and_shift_enter_makes_a_new_line(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    box = page.locator("#input")
    box.fill("第一行")
    box.press("Shift+Enter")
    box.type("第二行")
    assert site.received == []
    assert box.input_value() == "第一行\n第二行"
    box.press("Enter")
    _wait_bot_count(page, 2)
    assert site.messages == ["第一行\n第二行"]
    assert box.input_value() == ""
    mine = page.locator(".msg-user").last
    assert mine.locator(".who").inner_text() == "我"
    assert mine.locator(".bubble p").all_inner_texts() == ["第一行", "第二行"]


def test_send_button_sends_and_empty_input_sends_nothing(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    page.locator("#send").click()
    page.locator("#input").fill("   ")
    page.locator("#send").click()
    page.locator("#input").fill("问一下")
    page.locator("#send").click()
    _wait_bot_count(page, 2)
    assert site.messages == ["问一下"]


def test_quick_replies_send_their_payload_and_show_their_title(open_page: OpenPage, site: FakeSite) -> None:
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
    assert site.messages == ["你好", "/ask_notary"]
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


def test_typing_indicator_shows_while_waiting(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    typing = page.locator("#typing")
    assert typing.is_hidden()
    _say(page, "慢慢说")
    typing.wait_for(state="visible")
    assert "正在输入" in typing.inner_text()
    site.gate.set()
    _wait_bot_count(page, 2)
    typing.wait_for(state="hidden")


def test_server_error_gives_a_plain_apology_with_the_hotline(open_page: OpenPage) -> None:
    page = open_page()
    _say(page, "出错了吗")
    apology = page.locator(".msg-error")
    apology.wait_for()
    assert apology.is_visible()
    assert "12345" in apology.inner_text()
    assert apology.locator(".who").inner_text() == "助手"
    assert page.locator("[role=dialog], [role=alertdialog], dialog, [aria-modal=true]").count() == 0
    assert page.evaluate("window.__popups") == []
    assert page.locator("#typing").is_hidden()


def test_network_failure_gives_the_same_apology(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    page.route("**" + REST_PATH, lambda route: route.abort("connectionrefused"))
    _say(page, "你好")
    page.locator(".msg-error").wait_for()
    assert "12345" in page.locator(".msg-error").inner_text()


def test_sender_id_is_random_and_survives_a_reload(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    _say(page, "你好")
    _wait_bot_count(page, 2)
    page.reload()
    page.locator(".msg-bot").first.wait_for()
    _say(page, "说长一点")
    _wait_bot_count(page, 2)
    senders = {r["sender"] for r in site.received}
    assert len(senders) == 1
    assert re.fullmatch(r"web-[0-9a-f]{32}", senders.pop())

    other = open_page()  # another browser (fresh context): another person
    _say(other, "你好")
    _wait_bot_count(other, 2)
    assert len({r["sender"] for r in site.received}) == 2


def test_rest_url_override_is_refused_for_other_hosts(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page(url=f"{site.base}{PAGE_PATH}?rest=https://example.com/steal")
    _say(page, "你好")
    _wait_bot_count(page, 2)
    assert site.messages == ["你好"]  # went to this server; teardown asserts nothing went elsewhere


def test_rest_url_override_is_honoured_for_loopback(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page(url=f"{site.base}{PAGE_PATH}?rest={site.base}{REST_PATH}")
    _say(page, "你好")
    _wait_bot_count(page, 2)
    assert site.messages == ["你好"]


# ---- tests: older eyes and hands ---------------------------------------------------------------


@pytest.mark.parametrize("width", [360, 1280])
def test_text_contrast_and_targets_meet_the_elderly_spec(open_page: OpenPage, site: FakeSite, width: int) -> None:
    page = open_page(width=width, height=800)
    _converse(page, site)
    assert _font_px(page, ".msg-bot .bubble p") >= MIN_TEXT_PX
    assert _font_px(page, "#input") >= MIN_TEXT_PX
    measured = _measure(page)  # asserts every element; returns the extremes
    site.gate.set()
    _wait_bot_count(page, 5)
    page.locator("#bigger").click()
    page.locator("#bigger").click()
    page.locator("#bigger").click()
    biggest = _measure(page)
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
    page.locator("h1").click()  # start from the top, then walk the page with the keyboard
    seen = []
    for _ in range(20):
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
    assert {"smaller", "bigger", "input", "send"} <= set(seen)
    assert any("quick-reply" in what for what in seen)


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


def test_phone_width_never_scrolls_sideways(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page(width=360, height=740)
    for _ in SIZE_STEPS_PX[1:]:  # the largest text
        page.locator("#bigger").click()
    _converse(page, site)
    site.gate.set()
    _wait_bot_count(page, 5)
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


def test_no_dialogs_popups_or_moving_parts(open_page: OpenPage, site: FakeSite) -> None:
    page = open_page()
    _converse(page, site)
    site.gate.set()
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


def test_voice_input_fills_the_box_in_chinese(open_page: OpenPage, site: FakeSite) -> None:
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
    assert site.received == [], "heard text waits for 发送, so the speaker can check it"
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


# ---- the picture -----------------------------------------------------------------------------------


def test_screenshot(open_page: OpenPage, site: FakeSite) -> None:
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


# ---- the real channel code, in the Rasa runtime --------------------------------------------------

# channels/webchat.py and channels/rest.py registered the way `rasa run` does it, with a fake
# agent at the edge that answers every message with one text and one button.
RASA_SIDE_SERVER = """
import sys
from sanic import Sanic
from rasa.core.channels.channel import register
from channels.rest import RestInput
from channels.webchat import WebChatInput

class FakeAgent:
    async def handle_message(self, message):
        await message.output_channel.send_response(
            message.sender_id,
            {"text": "收到：" + message.text + "\\n请选择：", "buttons": [{"title": "好的", "payload": "/affirm"}]},
        )

app = Sanic("webchat_test")
app.ctx.agent = FakeAgent()
register([WebChatInput(), RestInput()], app, route="/webhooks/")
app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False, workers=1)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def rasa_site() -> Iterator[str]:
    if not RASA_PYTHON.exists():
        _unavailable(f"{RASA_PYTHON} is missing: run scripts/setup.sh (the Rasa runtime serves the page)")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    server = subprocess.Popen(
        [str(RASA_PYTHON), "-c", RASA_SIDE_SERVER, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + PAGE_PATH, timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode() if server.stderr and server.poll() is not None else ""
                    pytest.fail(f"the Rasa-side page server did not start: {err[-2000:]}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _get(url: str) -> tuple[int, str, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.url, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, url, err.read(), {k.lower(): v for k, v in err.headers.items()}


def test_channel_serves_the_page_with_types_and_no_way_out(rasa_site: str) -> None:
    status, _, body, headers = _get(rasa_site + PAGE_PATH)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "银龄助手" in body.decode()
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    for name, kind in (("chat.css", "text/css"), ("chat.js", "text/javascript")):
        status, _, body, headers = _get(f"{rasa_site}{PAGE_PATH}static/{name}")
        assert status == 200 and headers["content-type"].startswith(kind)
        assert body == (PAGE_DIR / name).read_bytes()

    status, final_url, _, _ = _get(rasa_site + PAGE_PATH.rstrip("/"))
    assert status == 200 and final_url == rasa_site + PAGE_PATH, "no trailing slash: redirected to the folder"

    for sneaky in ("..%2Fwebchat.py", "%2e%2e%2f%2e%2e%2frest.py", "..%2F..%2Fchannels%2Frest.py", "", "nope.js"):
        status, _, body, _ = _get(f"{rasa_site}{PAGE_PATH}static/{sneaky}")
        assert status == 404, sneaky
        assert b"import" not in body


def test_page_talks_to_the_real_rest_channel(browser: Browser, rasa_site: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(rasa_site + PAGE_PATH)
        _say(page, "你好")
        _wait_bot_count(page, 2)
        reply = page.locator(".msg-bot").last
        assert reply.locator(".bubble p").all_inner_texts() == ["收到：你好", "请选择："]
        reply.locator(".quick-reply").click()
        _wait_bot_count(page, 3)
        assert page.locator(".msg-user .bubble").last.inner_text() == "好的"
        assert page.locator(".msg-bot .bubble p").nth(-2).inner_text() == "收到：/affirm"
        assert errors == []
    finally:
        context.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
