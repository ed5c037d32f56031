"""Handoff end to end on the real servers: Rasa (API on, JWT), the action server and the staff app.

The senior writes through the REST channel, a signed WeChat webhook or a Telegram update (the
platforms' APIs are the loopback fake); agents use the staff app's HTTP API as the console does.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from staff.accounts import Accounts
from staff.config import Settings
from staff.db import StaffDB, audit, handoffs
from staff.queue import Queue
from tests.app.conftest import PLATFORM, FakePlatform, Stack, kb_entry, new_sender, texts
from tests.app.staff_support import PASSWORD, EventStream, login

pytestmark = pytest.mark.e2e


class Desk:
    """The staff side of the shared servers: accounts, the queue, logged-in agents."""

    def __init__(self, stack: Stack, url: str) -> None:
        self.url = url
        self.settings = Settings.from_env(stack.env())
        self.db = StaffDB(self.settings.database_url)
        self.queue = Queue(self.db)
        self.accounts = Accounts(self.db, self.settings)

    def agent(self, role: str = "agent") -> tuple[httpx.Client, str, int]:
        name = f"e2e-{role}-{uuid.uuid4().hex[:6]}"
        user = self.accounts.create_user(name, PASSWORD, role, display_name=f"小{name[-3:]}")
        self.queue.heartbeat(user.id)  # on duty: the bot hands over instead of asking for a number
        client, csrf = login(self.url, name)
        client.headers["X-CSRF-Token"] = csrf
        return client, csrf, user.id

    def waiting_for(self, conversation_id: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            handoff = self.queue.open_for(conversation_id)
            if handoff is not None:
                return handoff.id
            time.sleep(0.1)
        raise AssertionError(f"no handoff for the conversation within {timeout} s")

    def audit_actions(self, conversation_id: str) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(audit.c.action).where(audit.c.conversation_id == conversation_id).order_by(audit.c.id)
            ).all()
        return [r.action for r in rows]


@pytest.fixture(scope="module")
def desk(stack: Stack, staff_url: str) -> Iterator[Desk]:
    running = Desk(stack, staff_url)
    yield running
    running.db.dispose()


def _case(client: httpx.Client, handoff_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/handoffs/{handoff_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_rest_conversation_goes_to_an_agent_and_back(stack: Stack, desk: Desk) -> None:
    agent, _, _ = desk.agent()
    stream = EventStream(agent)
    stream.wait_for("hello")
    sender = new_sender()
    asked = "\n".join(texts(stack.say(sender, "我要找真人")))
    assert "马上为您转工作人员" in asked and "分钟" in asked, asked
    handoff_id = desk.waiting_for(sender)
    stream.wait_for("handoff", f'"handoff_id": {handoff_id}')
    assert handoff_id in [h["id"] for h in agent.get("/api/queue").json()["waiting"]]

    waiting = texts(stack.say(sender, "好的，我等一歇"))
    assert waiting == ["工作人员马上回复您，请稍等。"], "a short notice, not the busy apology"
    stream.wait_for("message", f'"handoff_id": {handoff_id}')
    assert texts(stack.say(sender, "还在吗")) == [], "the notice comes only now and then"

    assert agent.post(f"/api/handoffs/{handoff_id}/claim").status_code == 200
    case = _case(agent, handoff_id)
    seniors = [i for i in case["transcript"] if i["kind"] == "senior"]
    assert [i["text"] for i in seniors] == ["我要找真人", "好的，我等一歇", "还在吗"]
    assert seniors[0]["intent"] == "request_human" and case["paused"] is True and case["mine"] is True
    assert len(case["summary"]) == 3 and "要求找人工" in case["summary"][2], case["summary"]

    assert agent.post(f"/api/handoffs/{handoff_id}/reply", json={"text": "您好，我是工作人员小王。"}).status_code == 200
    case = _case(agent, handoff_id)
    assert case["transcript"][-1]["kind"] == "agent" and case["transcript"][-1]["text"] == "您好，我是工作人员小王。"

    assert agent.post(f"/api/handoffs/{handoff_id}/hand-back").status_code == 200
    case = _case(desk.agent("admin")[0], handoff_id)
    assert case["paused"] is False and case["transcript"][-1]["text"].startswith("工作人员先聊到这里")
    replies = stack.say(sender, "我想问问长护险哪能申请")
    assert kb_entry(replies), f"the bot answers again after hand-back: {replies}"
    assert desk.audit_actions(sender) == ["claim", "reply", "hand_back"]
    stream.close()


def _wechat(stack: Stack, openid: str, text: str) -> str:
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
        return response.read().decode()


def _telegram(stack: Stack, chat_id: int, text: str) -> None:
    update = {
        "update_id": time.time_ns() % 10**9,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "阿姨"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "阿姨"},
            "text": text,
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


def test_an_agents_reply_reaches_wechat_and_telegram_through_their_apis(
    stack: Stack, desk: Desk, fake_platform: FakePlatform
) -> None:
    agent, _, _ = desk.agent()
    openid = f"o{uuid.uuid4().hex[:20]}"
    _wechat(stack, openid, "转人工")
    wechat_id = desk.waiting_for(f"wechat:{openid}")
    chat_id = int(time.time() * 1000) % 10**9
    _telegram(stack, chat_id, "我要跟真人讲")
    telegram_id = desk.waiting_for(f"telegram:{chat_id}")
    for handoff_id, channel in ((wechat_id, "wechat"), (telegram_id, "telegram")):
        assert agent.post(f"/api/handoffs/{handoff_id}/claim").json()["channel"] == channel
        reply = f"阿姨您好，我是小王（{channel}）。"
        assert agent.post(f"/api/handoffs/{handoff_id}/reply", json={"text": reply}).status_code == 200
    sent = fake_platform.wait_for("wechat", lambda m: m["touser"] == openid and "（wechat）" in m["text"]["content"])
    assert sent["msgtype"] == "text" and sent["text"]["content"] == "阿姨您好，我是小王（wechat）。"
    tg = fake_platform.wait_for("telegram", lambda m: str(m.get("chat_id")) == str(chat_id) and "telegram" in m["text"])
    assert tg["text"] == "阿姨您好，我是小王（telegram）。"
    # Hand back: the resume line goes out on the same channel.
    assert agent.post(f"/api/handoffs/{wechat_id}/hand-back").status_code == 200
    fake_platform.wait_for("wechat", lambda m: m["touser"] == openid and "银龄助手继续" in m["text"]["content"])


def test_who_may_read_a_conversation(stack: Stack, desk: Desk) -> None:
    zhang, _, _ = desk.agent()
    li, _, li_id = desk.agent()
    boss, _, _ = desk.agent("admin")
    sender = new_sender()
    stack.say(sender, "叫个人来")
    handoff_id = desk.waiting_for(sender)
    assert li.get(f"/api/handoffs/{handoff_id}").status_code == 200, "waiting: every agent sees the queue"
    zhang.post(f"/api/handoffs/{handoff_id}/claim")
    assert li.get(f"/api/handoffs/{handoff_id}").status_code == 404, "claimed by a colleague: not by guessing its id"
    assert li.post(f"/api/handoffs/{handoff_id}/reply", json={"text": "插话"}).status_code == 404
    assert li.post(f"/api/handoffs/{handoff_id}/claim").status_code == 404
    assert boss.get(f"/api/handoffs/{handoff_id}").status_code == 200, "admins see all"
    assert boss.post(f"/api/handoffs/{handoff_id}/reply", json={"text": "x"}).status_code == 409, (
        "but act after claiming"
    )
    # Transferred to li: now li may read and act, zhang may not.
    assert zhang.post(f"/api/handoffs/{handoff_id}/transfer", json={"to_user_id": li_id}).status_code == 200
    assert li.get(f"/api/handoffs/{handoff_id}").json()["mine"] is True
    assert zhang.get(f"/api/handoffs/{handoff_id}").status_code == 404
    li.post(f"/api/handoffs/{handoff_id}/hand-back")
    assert li.get(f"/api/handoffs/{handoff_id}").status_code == 404, "closed: only admins"
    assert boss.get(f"/api/handoffs/{handoff_id}").status_code == 200
    assert zhang.get("/api/handoffs/99999999").status_code == 404
    assert desk.audit_actions(sender) == ["claim", "transfer", "hand_back"]


def test_an_emergency_while_waiting_is_answered_at_once_and_moves_to_the_front(stack: Stack, desk: Desk) -> None:
    desk.agent()
    sender = new_sender()
    stack.say(sender, "转人工")
    handoff_id = desk.waiting_for(sender)
    replies = texts(stack.say(sender, "我跌倒了起不来"))
    assert replies and replies[0].startswith("【紧急】") and "120" in replies[0], replies
    deadline = time.monotonic() + 10
    while desk.queue.get(handoff_id).priority != 0:
        assert time.monotonic() < deadline, "the staff app was not told"
        time.sleep(0.1)
    assert desk.queue.get(handoff_id).reason == "emergency"


def test_a_conversation_nobody_claims_gets_an_apology_and_a_ticket(stack: Stack, desk: Desk) -> None:
    boss, _, _ = desk.agent("admin")
    sender = new_sender()
    stack.say(sender, "我要人工")
    handoff_id = desk.waiting_for(sender)
    with desk.db.write() as conn:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == handoff_id)
            .values(created_at=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=11))
        )
    deadline = time.monotonic() + 40  # the staff app checks every 10 s
    while desk.queue.get(handoff_id).status != "closed":
        assert time.monotonic() < deadline, "the unclaimed conversation was not closed"
        time.sleep(0.2)
    ticket = next(t for t in desk.queue.open_tickets() if t.conversation_id == sender)
    assert ticket.handoff_id == handoff_id and ticket.phone is None
    while "没能及时回复您" not in boss.get(f"/api/tickets/{ticket.id}").json()["transcript"][-1]["text"]:
        assert time.monotonic() < deadline, "the senior was not told"  # the apology follows the DB change
        time.sleep(0.2)
    assert boss.get(f"/api/tickets/{ticket.id}").json()["paused"] is False
    while desk.queue.get(handoff_id).close_reason != "unclaimed":  # the resume is recorded after Rasa took it
        assert time.monotonic() < deadline, "the resume was not recorded"
        time.sleep(0.2)
    assert kb_entry(stack.say(sender, "我想问问长护险哪能申请")), "the bot answers again"


def test_assist_while_on_the_phone_send_an_entry_mark_answers_book(
    stack: Stack, desk: Desk, fake_platform: FakePlatform
) -> None:
    agent, _, _ = desk.agent()
    boss, _, _ = desk.agent("admin")
    chat_id = int(time.time() * 1000) % 10**9 + 7
    _telegram(stack, chat_id, "我想问问长护险哪能申请")
    fake_platform.wait_for("telegram", lambda m: str(m.get("chat_id")) == str(chat_id))
    _telegram(stack, chat_id, "转人工")
    handoff_id = desk.waiting_for(f"telegram:{chat_id}")
    agent.post(f"/api/handoffs/{handoff_id}/claim")
    case = _case(agent, handoff_id)
    answer = next(i for i in case["transcript"] if i["kind"] == "bot" and i["kb_entry"])
    assert (
        agent.post(f"/api/handoffs/{handoff_id}/feedback", json={"event_ts": answer["ts"], "verdict": "wrong"}).json()[
            "verdict"
        ]
        == "wrong"
    )
    assert (
        agent.post(f"/api/handoffs/{handoff_id}/feedback", json={"event_ts": 1.0, "verdict": "wrong"}).status_code
        == 404
    )
    review = boss.get("/api/admin/feedback", params={"verdict": "wrong"}).json()
    mine = [r for r in review if r["conversation_id"] == f"telegram:{chat_id}"]
    assert [(r["question"], r["kb_entry"]) for r in mine] == [("我想问问长护险哪能申请", answer["kb_entry"])]

    hits = agent.get("/api/assist/search", params={"q": "阿拉老头子想立个遗嘱要带点啥"}).json()["hits"]
    assert hits[0]["id"].startswith("law-will")
    assert agent.post(f"/api/handoffs/{handoff_id}/send-entry", json={"entry_id": hits[0]["id"]}).status_code == 200
    sent = fake_platform.wait_for(
        "telegram", lambda m: str(m.get("chat_id")) == str(chat_id) and m["text"].startswith("【工作人员发给您】")
    )
    assert hits[0]["answer"] in sent["text"] and hits[0]["id"] not in sent["text"]

    service = agent.get("/api/bookings/services").json()[0]["code"]
    day = (datetime.datetime.now() + datetime.timedelta(days=3)).date().isoformat()
    slot = agent.get("/api/bookings/slots", params={"service": service, "day": day}).json()[0]
    booking = {
        "slot_id": slot["id"],
        "contact_name": "李阿姨",
        "phone": "13912345678",
        "caller_agreed": True,
        "request_id": f"e2e-{uuid.uuid4().hex}",
    }
    made = agent.post(f"/api/handoffs/{handoff_id}/bookings", json=booking)
    assert made.status_code == 200, made.text
    told = fake_platform.wait_for(
        "telegram", lambda m: str(m.get("chat_id")) == str(chat_id) and "工作人员帮您约好了" in m["text"]
    )
    assert made.json()["code"] in told["text"]
    assert [b["code"] for b in _case(agent, handoff_id)["bookings"]] == [made.json()["code"]]
    assert desk.audit_actions(f"telegram:{chat_id}") == ["claim", "mark_answer", "send_entry", "booking"]


def test_a_restart_of_the_staff_app_loses_no_waiting_conversation(stack: Stack, desk: Desk) -> None:
    agent, _, _ = desk.agent()
    sender = new_sender()
    stack.say(sender, "我要跟真人讲")
    handoff_id = desk.waiting_for(sender)
    stack.stop_process("staff")
    stack.start_staff()
    # The queue, and the agent's session, live in the database: the same browser carries on.
    assert handoff_id in [h["id"] for h in agent.get("/api/queue").json()["waiting"]]
    stream = EventStream(agent)
    stream.wait_for("hello")
    texts(stack.say(sender, "还有人在吗"))
    stream.wait_for("message", f'"handoff_id": {handoff_id}')
    assert agent.post(f"/api/handoffs/{handoff_id}/claim").status_code == 200
    assert [i["text"] for i in _case(agent, handoff_id)["transcript"] if i["kind"] == "senior"] == [
        "我要跟真人讲",
        "还有人在吗",
    ]
    stream.close()
