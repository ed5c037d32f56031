"""The agents' console: how fast a senior's words reach the agent, and the agent's reply the senior.

On servers started by :class:`scripts.stack.Stack` (Rasa with its API, the action server, the
staff app) with WeChat switched on against a fake customer-service API on loopback:

- senior → agent: from sending a web chat message into a conversation waiting for a person, to
  the console's server-sent event for it, and to the transcript that shows it (what the
  console fetches on that event); the goal is ≤ 1 s;
- agent → senior: from the agent's reply to the message in the web chat's ``/history`` (the page
  polls it every ~2 s, so a senior sees it up to that much later) and to the fake WeChat API
  receiving the customer-service message;
- the console's first load in headless Chromium: navigation to the queue shown and the live
  connection up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.errors import BenchError
from bench.stats import summarize
from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore
from scripts.stack import Stack, train_model

logger = logging.getLogger(__name__)

GOAL_S = 1.0
WECHAT = {"WECHAT_TOKEN": "benchwechattoken", "WECHAT_APP_ID": "wxbench0123456789", "WECHAT_APP_SECRET": "bench-secret"}
PASSWORD = secrets.token_urlsafe(18)  # a throwaway agent account per run


@dataclass(frozen=True)
class StaffConfig:
    samples: int = 15
    page_loads: int = 5
    timeout: float = 30.0
    start_timeout: float = 600.0
    model: Path | None = None


class FakeWeChatAPI(ThreadingHTTPServer):
    """WeChat's access-token and customer-service endpoints on loopback: records when each message arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WeChatHandler)
        self.received: list[tuple[float, str, str]] = []  # (perf_counter, openid, text)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, openid: str, text: str, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                found = [at for at, who, said in self.received if who == openid and said == text]
            if found:
                return found[0]
            time.sleep(0.005)
        raise BenchError(f"the fake WeChat API got no message within {timeout:.0f} s")


class _WeChatHandler(BaseHTTPRequestHandler):
    server: FakeWeChatAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _reply(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply({"access_token": "bench-access-token", "expires_in": 7200})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        at = time.perf_counter()
        if self.path.startswith("/cgi-bin/message/custom/send"):
            message = json.loads(raw or b"{}")
            with self.server.lock:
                self.server.received.append((at, str(message.get("touser")), str(message["text"]["content"])))
        self._reply({"errcode": 0, "errmsg": "ok"})


class EventReader:
    """The console's server-sent events, with the time each arrived."""

    def __init__(self, client: httpx.Client) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._thread = threading.Thread(target=self._read, args=(client,), daemon=True)
        self._thread.start()

    def _read(self, client: httpx.Client) -> None:
        name = ""
        try:
            with client.stream("GET", "/api/events", timeout=httpx.Timeout(10, read=None)) as response:
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        self.events.append((time.perf_counter(), name, json.loads(line[5:])))
        except httpx.HTTPError:
            pass  # the servers stopped

    def wait_for(self, kind: str, handoff_id: int, after: float, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, name, data in list(self.events):
                if at >= after and name == kind and data.get("handoff_id") == handoff_id:
                    return at
            time.sleep(0.002)
        raise BenchError(f"no {kind!r} event for handoff {handoff_id} within {timeout:.0f} s")


def _login(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, trust_env=False, timeout=30.0)
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    if csrf is None:
        raise BenchError("the staff login page has no CSRF field")
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf.group(1)})
    if answer.status_code != 303:
        raise BenchError(f"the bench agent could not log in ({answer.status_code})")
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console").text)
    if token is None:
        raise BenchError("the console page has no CSRF token")
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def _wait_handoff(queue: Any, conversation_id: str, timeout: float) -> int:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        handoff = queue.open_for(conversation_id)
        if handoff is not None:
            return int(handoff.id)
        time.sleep(0.05)
    raise BenchError("the senior's request for a person opened no handoff")


def _wechat_message(stack: Stack, openid: str, text: str) -> None:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    signature = hashlib.sha1("".join(sorted([WECHAT["WECHAT_TOKEN"], timestamp, nonce])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme
    body = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{time.time_ns() // 1000}</MsgId></xml>"
    )
    query = urllib.parse.urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": openid})
    httpx.post(
        f"http://{stack.host}:{stack.rasa_port}/webhooks/wechat/webhook?{query}",
        content=body.encode(),
        headers={"Content-Type": "text/xml"},
        timeout=30.0,
    ).raise_for_status()


def run_staff(cfg: StaffConfig, work: Path) -> dict[str, Any]:
    from staff.accounts import Accounts
    from staff.config import Settings
    from staff.db import StaffDB
    from staff.queue import Queue

    model = cfg.model or train_model()
    kb_url = f"sqlite:///{work / 'kb.sqlite'}"
    KBStore(kb_url).seed_if_empty(builtin_entries())
    fake = FakeWeChatAPI()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    stack = Stack.isolated(
        model,
        work / "stack",
        kb_url,
        f"sqlite:///{work / 'bookings.sqlite'}",
        **WECHAT,
        WECHAT_API_BASE=fake.url,
        STAFF_WORKING_HOURS="daily 00:00-24:00",
    )
    result: dict[str, Any] = {"model": model.name, "goal_s": GOAL_S, "problems": []}
    try:
        stack.start(timeout=cfg.start_timeout, staff=True)
        settings = Settings.from_env(stack.env())
        db = StaffDB(settings.database_url)
        queue = Queue(db)
        agent_name = f"bench-{secrets.token_hex(3)}"
        Accounts(db, settings).create_user(agent_name, PASSWORD, "agent")
        agent = _login(stack.staff_url, agent_name)
        events = EventReader(agent)
        deadline = time.perf_counter() + cfg.timeout
        while not any(name == "hello" for _, name, _ in events.events):
            if time.perf_counter() > deadline:
                raise BenchError("the console's live connection did not open")
            time.sleep(0.01)
        result.update(_web_chat(stack, agent, events, queue, cfg))
        result.update(_wechat(stack, agent, queue, fake, cfg))
        result["console_first_load_s"] = _console_loads(stack, agent_name, cfg)
        for key in ("senior_to_agent_event_s", "senior_to_agent_screen_s"):
            if result[key]["p50"] > GOAL_S:
                result["problems"].append(f"{key}: p50 {result[key]['p50']} s is over the {GOAL_S} s goal")
        db.dispose()
    finally:
        stack.stop()
        fake.shutdown()
        fake.server_close()
    return result


def _web_chat(stack: Stack, agent: httpx.Client, events: EventReader, queue: Any, cfg: StaffConfig) -> dict[str, Any]:
    web = f"http://{stack.host}:{stack.rasa_port}/webhooks/webchat"
    session = httpx.post(f"{web}/session", timeout=30.0).raise_for_status().json()
    senior = httpx.Client(trust_env=False, timeout=60.0, headers={"Authorization": f"Bearer {session['token']}"})
    senior.post(f"{web}/message", json={"message": "我要找真人"}).raise_for_status()
    handoff_id = _wait_handoff(queue, session["conversation_id"], cfg.timeout)
    agent.post(f"/api/handoffs/{handoff_id}/claim").raise_for_status()
    to_event: list[float] = []
    to_screen: list[float] = []
    for i in range(cfg.samples):
        text = f"老人说的第{i + 1}句话，等工作人员回复"
        start = time.perf_counter()
        senior.post(f"{web}/message", json={"message": text}).raise_for_status()
        to_event.append(events.wait_for("message", handoff_id, start, cfg.timeout) - start)
        # What the console does on that event: fetch the conversation and show it.
        while not any(item["text"] == text for item in agent.get(f"/api/handoffs/{handoff_id}").json()["transcript"]):
            if time.perf_counter() - start > cfg.timeout:
                raise BenchError("the senior's message never reached the transcript")
        to_screen.append(time.perf_counter() - start)
    cursor = senior.get(f"{web}/history").raise_for_status().json().get("cursor")
    to_senior: list[float] = []
    for i in range(cfg.samples):
        text = f"工作人员的第{i + 1}条回复"
        start = time.perf_counter()
        agent.post(f"/api/handoffs/{handoff_id}/reply", json={"text": text}).raise_for_status()
        while True:
            page = senior.get(f"{web}/history", params={"after": cursor} if cursor else None).json()
            if any(m.get("text") == text for m in page.get("messages", [])):
                to_senior.append(time.perf_counter() - start)
                cursor = page.get("cursor") or cursor
                break
            if time.perf_counter() - start > cfg.timeout:
                raise BenchError("the agent's reply never reached the web chat's history")
            time.sleep(0.005)
    agent.post(f"/api/handoffs/{handoff_id}/hand-back").raise_for_status()
    return {
        "senior_to_agent_event_s": summarize(to_event, 3),
        "senior_to_agent_screen_s": summarize(to_screen, 3),
        "reply_to_webchat_history_s": summarize(to_senior, 3),
    }


def _wechat(stack: Stack, agent: httpx.Client, queue: Any, fake: FakeWeChatAPI, cfg: StaffConfig) -> dict[str, Any]:
    openid = f"oBench{secrets.token_hex(8)}"
    _wechat_message(stack, openid, "转人工")
    handoff_id = _wait_handoff(queue, f"wechat:{openid}", cfg.timeout)
    agent.post(f"/api/handoffs/{handoff_id}/claim").raise_for_status()
    took: list[float] = []
    for i in range(cfg.samples):
        text = f"阿姨您好，这是第{i + 1}条回复"
        start = time.perf_counter()
        agent.post(f"/api/handoffs/{handoff_id}/reply", json={"text": text}).raise_for_status()
        took.append(fake.wait_for(openid, text, cfg.timeout) - start)
    agent.post(f"/api/handoffs/{handoff_id}/hand-back").raise_for_status()
    return {"reply_to_wechat_api_s": summarize(took, 3)}


def _console_loads(stack: Stack, agent_name: str, cfg: StaffConfig) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    loads: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{stack.staff_url}/login")
            page.fill("#username", agent_name)
            page.fill("#password", PASSWORD)
            page.click("#login")
            page.wait_for_url("**/console")
            for _ in range(cfg.page_loads):
                page.goto("about:blank")
                start = time.perf_counter()
                page.goto(f"{stack.staff_url}/console")
                page.get_by_text("在线").wait_for(timeout=cfg.timeout * 1000)
                loads.append(time.perf_counter() - start)
        finally:
            browser.close()
    return summarize(loads, 3)
