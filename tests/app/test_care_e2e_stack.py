"""Proactive care through the real servers (REST channel → Rasa NLU, rules → action server → care)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from care.config import CareSettings
from care.db import CareDB, outbox
from care.outbox import Worker, enqueue
from care.scheduler import Scheduler
from care.senders import RasaTracker, Senders
from care.service import Care
from care.wording import say
from scripts.stack import Stack
from tests.app.care_fakes import FakeClock
from tests.app.conftest import new_sender, texts

pytestmark = pytest.mark.e2e


def test_opt_in_by_chat_with_consent_then_the_reply_to_the_question_is_read(stack: Stack, bookings_url: str) -> None:
    senior = new_sender()
    asked = texts(stack.say(senior, "每天八点问我一声"))
    assert asked == [say("utter_care_consent_checkin")]
    care = Care(CareDB(bookings_url), CareSettings())
    assert not care.checkin_active(senior), "nothing stored before consent"
    assert texts(stack.say(senior, "1")) == [say("utter_care_checkin_on", time="早上8点")]
    assert care.checkin_active(senior)

    # The care worker asks the day's question and marks the conversation as awaiting the reply.
    clock = FakeClock(dt.datetime.now(SHANGHAI).replace(hour=8, minute=0) + dt.timedelta(days=1))
    Scheduler(CareDB(bookings_url, clock=clock)).run_once()
    env = stack.env()
    RasaTracker(f"http://{stack.host}:{stack.rasa_port}", env["YINLING_RASA_JWT_SECRET"]).expect_checkin_reply(senior)
    assert texts(stack.say(senior, "挺好的，放心")) == [say("utter_care_answer_fine")]
    assert care.open_question(senior) is None
    assert texts(stack.say(senior, "不用每天问了")) == [say("utter_care_checkin_off")]
    assert not care.checkin_active(senior)


@pytest.mark.parametrize("yes", ["要的", "好的呀", "行"])
def test_a_yes_at_the_time_prompt_asks_for_the_time_again(stack: Stack, bookings_url: str, yes: str) -> None:
    senior = new_sender()
    assert texts(stack.say(senior, "我要参加每日平安")) == [say("utter_care_consent_checkin")]
    assert texts(stack.say(senior, "1")) == [say("utter_care_ask_time")]
    assert texts(stack.say(senior, yes)) == [say("utter_care_ask_time")], "a yes is not a time: asked again"
    assert texts(stack.say(senior, "早上八点")) == [say("utter_care_checkin_on", time="早上8点")]


def test_cant_go_and_delete_my_data_through_the_servers(stack: Stack) -> None:
    senior = new_sender()
    assert texts(stack.say(senior, "去不了了")) == [say("utter_care_cant_go_none")]
    assert texts(stack.say(senior, "删除我的信息")) == [say("utter_care_delete_ask")]
    assert texts(stack.say(senior, "2")) == [say("utter_care_delete_kept")]
    assert texts(stack.say(senior, "删除我的信息")) == [say("utter_care_delete_ask")]
    other = new_sender()
    stack.say(other, "你好")
    assert "删除我的信息" in _said(stack, senior)
    assert texts(stack.say(senior, "确定删除")) == [say("utter_care_deleted")]
    # The conversation itself is gone from Rasa's tracker store (bot/tracker_store.py); nobody else's is.
    assert _said(stack, senior) == []
    assert _said(stack, other) == ["你好"]
    stack.say(senior, "你好")
    assert _said(stack, senior) == ["你好"], "the next message starts a new conversation"


def test_a_linked_son_books_for_his_mother_through_the_servers(stack: Stack, bookings_url: str) -> None:
    mum, son, stranger = new_sender(), new_sender(), new_sender()
    given = "\n".join(texts(stack.say(son, "我要绑定我妈")))
    code = re.search(r"绑定码是 (\d{3} \d{3})", given)
    assert code, given
    stack.say(mum, f"绑定 {code.group(1)}")
    assert texts(stack.say(mum, "1")) == [say("utter_care_family_linked")]

    reply = "\n".join(texts(stack.say(son, "帮我妈约个助浴，她住顾村")))
    assert reply.startswith("好的，这次替您母亲约，预约记在您母亲名下。"), reply
    # "约满了" (the shared servers' other tests may have taken that morning): the first free slot offered.
    answers = {"名字": "王秀英", "手机": "13912345678", "哪个街道": "顾村", "哪天": "下礼拜二上半天", "约满了": "1"}
    while "请您核对" not in reply:
        question = next((k for k in answers if k in reply), None)
        assert question is not None, reply
        reply = "\n".join(texts(stack.say(son, answers.pop(question))))
    assert reply.startswith("这次是替您母亲约的"), reply
    done = "\n".join(texts(stack.say(son, "对")))
    assert done.startswith("替您母亲约好了！"), done
    # Hers: in her list; the son sees it as hers; she is told through the care outbox.
    assert "助浴" in "\n".join(texts(stack.say(mum, "我约了啥")))
    assert "\n".join(texts(stack.say(son, "我妈约了哪些"))).startswith("您母亲有 1 个预约")
    db = CareDB(bookings_url)
    with db.read() as conn:
        told = (
            conn.execute(sa.select(outbox.c.text).where(outbox.c.recipient == mum, outbox.c.purpose == "booking"))
            .scalars()
            .all()
        )
    db.dispose()
    assert len(told) == 1 and told[0].startswith("【银龄助手】您的家人替您约了助浴"), told

    # Someone not linked is told how to link, and the booking is their own.
    reply = "\n".join(texts(stack.say(stranger, "给我爸订个助浴")))
    assert reply.startswith("您还没有和您父亲绑定"), reply


def test_a_linked_son_cancels_and_moves_his_mothers_bookings_through_the_servers(
    stack: Stack, bookings_url: str
) -> None:
    mum, son, stranger = new_sender(), new_sender(), new_sender()
    given = "\n".join(texts(stack.say(son, "我要绑定我妈")))
    code = re.search(r"绑定码是 (\d{3} \d{3})", given)
    assert code, given
    stack.say(mum, f"绑定 {code.group(1)}")
    assert texts(stack.say(mum, "1")) == [say("utter_care_family_linked")]
    # Two bookings of hers, made in her own chat as far as the store is concerned: a meal tomorrow, a bath later on.
    store = BookingStore(bookings_url)
    today = dt.datetime.now(SHANGHAI).date()
    store.ensure_schedule(today)
    next_wednesday = today + dt.timedelta(days=7 - today.weekday() + 2)
    noon = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(11), SHANGHAI)
    meal = store.book(
        store.find_slots("meal", noon, noon + dt.timedelta(hours=1), street="顾村镇", only_free=True)[0].id,
        mum,
        "王秀英",
        "13912345678",
    )
    later = dt.datetime.combine(today + dt.timedelta(days=2), dt.time(9), SHANGHAI)
    bath_slot = next(
        s
        for s in store.find_slots("bath", later, later + dt.timedelta(days=7), street="顾村镇", only_free=True)
        if s.start.astimezone(SHANGHAI).date() != next_wednesday
    )
    bath = store.book(bath_slot.id, mum, "王秀英", "13912345678")
    store.dispose()

    # Cancel: the service names the booking; the read-back says whose it is; "对" cancels it and she is told.
    asked = "\n".join(texts(stack.say(son, "帮我妈把助餐取消掉")))
    assert asked.startswith("要取消您母亲的这个预约吗？") and meal.display_code in asked, asked
    done = "\n".join(texts(stack.say(son, "对")))
    assert done.startswith("已经替您母亲取消了：助餐") and "已经告诉您母亲了" in done, done
    # Move: the only booking left, to next Wednesday; "对" moves it and she is told the old and the new time.
    asked = "\n".join(texts(stack.say(son, "我妈的预约改到下礼拜三")))
    assert asked.startswith(f"把您母亲的预约 {bath.display_code}（助浴）"), asked
    assert f"{next_wednesday.month}月{next_wednesday.day}日（星期三）" in asked, asked
    done = "\n".join(texts(stack.say(son, "对")))
    assert done.startswith("替您母亲改好了：助浴") and "已经告诉您母亲了" in done, done

    store = BookingStore(bookings_url)
    assert [b.code for b in store.list_for_user(mum)] == [bath.code]
    [moved] = store.list_for_user(mum)
    assert moved.slot.start.astimezone(SHANGHAI).date() == next_wednesday
    assert store.list_for_user(son) == []
    store.dispose()
    db = CareDB(bookings_url)
    with db.read() as conn:
        told = (
            conn.execute(
                sa.select(outbox.c.text)
                .where(outbox.c.recipient == mum, outbox.c.purpose == "booking")
                .order_by(outbox.c.id)
            )
            .scalars()
            .all()
        )
    db.dispose()
    assert len(told) == 2, told
    assert told[0].startswith("【银龄助手】您的家人替您取消了助餐"), told
    assert told[1].startswith("【银龄助手】您的家人把您的助浴改了时间"), told

    # Someone not linked gets a plain answer, and nothing of hers.
    reply = "\n".join(texts(stack.say(stranger, "取消我妈的预约")))
    assert reply.startswith("您还没有和您母亲绑定") and bath.display_code not in reply, reply


def _said(stack: Stack, sender: str) -> list[str]:
    """What the sender said, as stored in the servers' SQLite tracker store (every session)."""
    with contextlib.closing(sqlite3.connect(stack.env()["YINLING_TRACKER_DB"])) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,)
        ).fetchall()
    return [str(json.loads(data)["text"]) for (data,) in rows]


def test_a_care_message_to_the_web_chat_appears_in_the_pages_history(stack: Stack, bookings_url: str) -> None:
    session = _request(stack.webchat_url + "session", b"")
    web, token = str(session["conversation_id"]), str(session["token"])
    _request(stack.webchat_url + "message", {"message": "你好"}, token)
    clock = FakeClock(dt.datetime.now(SHANGHAI))
    db = CareDB(bookings_url, clock=clock)
    with db.write() as conn:
        enqueue(
            conn, recipient=web, purpose="reminder", text="提醒您：明天有助浴。", dedupe_key=f"web|{web}", now=clock()
        )
    env = stack.env()
    senders = Senders.from_env(
        {
            "STAFF_RASA_URL": f"http://{stack.host}:{stack.rasa_port}",
            "YINLING_RASA_JWT_SECRET": env["YINLING_RASA_JWT_SECRET"],
        }
    )
    worker = Worker(db, senders)
    worker.run_once()  # also anything else due in the shared test database; this one must be among them
    history = _request(stack.webchat_url + "history", None, token)
    assert [m["text"] for m in history["messages"] if m["from"] == "bot"][-1] == "提醒您：明天有助浴。"


def _request(url: str, body: dict[str, Any] | bytes | None, token: str | None = None) -> dict[str, Any]:
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read().decode()))
