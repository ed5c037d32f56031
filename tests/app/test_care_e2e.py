"""End to end with the real actions, care service, worker and staff app: a son links to his mother by
code, she opts in to 每日平安 by chat, does not answer, the son gets the alert on the (fake, loopback)
Telegram API, her street's grid worker an SMS through the fake gateway, and an agent sees the case at the
top of the queue. Also the chat side of the other care
dialogues (consent before storing, 去不了了, 删除我的信息)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.booking_common as booking_common
import actions.proactive as proactive
from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from care.config import CareSettings
from care.db import CareDB
from care.outbox import Worker
from care.scheduler import Scheduler
from care.senders import Senders
from care.service import Care
from care.wording import say
from tests.app.care_fakes import FakeApis, FakeClock, fake_apis
from tests.app.staff_support import SECRETS, login, make_user, serve, settings_for

MUM, SON = "telegram:8001", "telegram:8002"


class Chat:
    """Conversations with the care actions, each sender's slots carried from turn to turn."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slots: dict[str, dict[str, Any]] = {}
        self.said: dict[str, list[dict[str, Any]]] = {}  # each sender's user events, as Rasa's tracker keeps them

    def say(self, sender: str, text: str, intent: str, action: type[proactive.CareAction]) -> list[dict[str, Any]]:
        message = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": []}
        user = {"event": "user", "text": text, "parse_data": message, "input_channel": "telegram", "timestamp": 1.0}
        slots = self.slots.setdefault(sender, {})
        said = self.said.setdefault(sender, [])
        said.append(user)
        tracker = Tracker(sender, dict(slots), message, list(said), False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action().run(dispatcher, tracker, {}))
        for event in events:
            if event.get("event") == "slot":
                slots[event["name"]] = event["value"]
        return dispatcher.messages


def _responses(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("response") or m.get("text")) for m in messages]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Chat, Care, FakeApis, Path]]:
    clock = FakeClock(dt.datetime(2026, 12, 7, 7, 30, tzinfo=SHANGHAI))
    bookings_url = f"sqlite:///{tmp_path / 'bookings.sqlite'}"
    monkeypatch.setenv("BOOKINGS_DATABASE_URL", bookings_url)
    monkeypatch.setenv("STAFF_DATABASE_URL", f"sqlite:///{tmp_path / 'staff.sqlite'}")
    monkeypatch.setattr(proactive.clock, "now", lambda: clock().astimezone(SHANGHAI))
    store = BookingStore(bookings_url, clock=clock)
    store.ensure_schedule(dt.date(2026, 12, 7), days=5)
    monkeypatch.setattr(booking_common, "_store", store)
    monkeypatch.setattr(booking_common, "_schedule_day", dt.date(2026, 12, 7))
    care = Care(CareDB(bookings_url, clock=clock), CareSettings())
    monkeypatch.setattr(proactive, "_care", care)
    with fake_apis() as apis:
        yield Chat(clock), care, apis, tmp_path
    care.db.dispose()
    store.dispose()


def test_opt_in_no_reply_the_son_on_telegram_is_alerted_and_an_agent_sees_the_case(
    world: tuple[Chat, Care, FakeApis, Path],
) -> None:
    chat, care, apis, tmp = world
    # The son asks for a code; his mother confirms it after being told what he will see.
    given = chat.say(SON, "我要绑定我妈", "family_link", proactive.ActionCareFamilyLink)
    assert _responses(given) == ["utter_care_family_code_given"]
    code = str(given[0]["code"])
    assert re.fullmatch(r"\d{3} \d{3}", code)
    asked = chat.say(MUM, f"绑定 {code}", "family_link", proactive.ActionCareFamilyLink)
    assert _responses(asked) == ["utter_care_consent_family"] and care.family(MUM) == []
    assert "看不到您和我的聊天内容" in say("utter_care_consent_family", family=asked[0]["family"])
    assert _responses(chat.say(MUM, "1", "choose", proactive.ActionCareAnswer)) == ["utter_care_family_linked"]
    assert care.family(MUM) == [SON]
    # She opts in by chat: consent first, then the time she named.
    asked = chat.say(MUM, "每天八点问我一声，我住顾村", "checkin_optin", proactive.ActionCareCheckinOptin)
    assert _responses(asked) == ["utter_care_consent_checkin"] and not care.checkin_active(MUM)
    on = chat.say(MUM, "同意", "affirm", proactive.ActionCareAnswer)
    assert _responses(on) == ["utter_care_checkin_on"] and on[0]["time"] == "早上8点" and care.checkin_active(MUM)

    # The care process as `make run` configures it, the fake Telegram API standing in for Telegram.
    # The grid worker of 顾村镇, which she named, is texted through the (fake) SMS gateway.
    grid = tmp / "grid.yml"
    grid.write_text("grid_workers:\n  - {street: 顾村镇, name: 网格员, phone: '139 0000 8003'}\n", encoding="utf-8")
    env = {
        "TELEGRAM_TOKEN": "1:TEST",
        "TELEGRAM_API_BASE_URL": apis.telegram_base,
        "STAFF_DATABASE_URL": f"sqlite:///{tmp / 'staff.sqlite'}",
        "SMS_GATEWAY_URL": f"{apis.url}/sms",
        "SMS_GATEWAY_TOKEN": "sms-test-token",
    }
    settings = CareSettings.from_env({"CARE_GRID_WORKERS_FILE": str(grid)})
    scheduler, worker = Scheduler(care.db, settings), Worker(care.db, Senders.from_env(env))
    for hour, minute in ((8, 0), (8, 30), (9, 0)):
        chat.clock.set_local(2026, 12, 7, hour, minute)
        scheduler.run_once()
        worker.run_once()
    assert len(apis.texts("telegram", to="8001")) == 2, "asked twice, no answer"
    alerts = [t for t in apis.texts("telegram", to="8002") if "没有回音" in t]
    assert alerts == [say("utter_care_msg_family_missed", day="12月7日")]
    assert apis.texts("sms", to="+8613900008003") == [
        say("utter_care_msg_grid_missed_unknown", street="顾村镇", day="12月7日")
    ]

    staff_settings = settings_for(tmp, STAFF_WORKING_HOURS="daily 00:00-24:00")
    make_user(staff_settings, "xiaoli", "agent")
    with serve(staff_settings) as served:
        client, _csrf = login(served.url, "xiaoli")
        queue = client.get("/api/queue").json()
    top = queue["waiting"][0]
    assert (top["reason"], top["priority"], top["channel"]) == ("care", 0, "telegram")


def test_a_reply_to_the_question_is_classified_in_chat(world: tuple[Chat, Care, FakeApis, Path]) -> None:
    chat, care, _apis, _tmp = world
    care.give_consent(MUM, "checkin")
    care.checkin_optin(MUM, 8 * 60)
    chat.clock.set_local(2026, 12, 7, 8, 0)
    Scheduler(care.db).run_once()
    chat.slots[MUM] = {"care_stage": "checkin_reply"}  # what the worker sets when it sends the question
    other = chat.say(MUM, "你是谁啊", "chitchat", proactive.ActionCareAnswer)
    assert _responses(other) == ["utter_care_answer_other"] and chat.slots[MUM]["care_stage"] == "checkin_reply"
    unwell = chat.say(MUM, "腰有点疼", "inform", proactive.ActionCareAnswer)
    assert _responses(unwell) == ["utter_care_answer_unwell"] and chat.slots[MUM]["care_stage"] is None
    assert care.open_question(MUM) is None


def test_a_night_time_is_refused_and_asked_again(world: tuple[Chat, Care, FakeApis, Path]) -> None:
    chat, care, _apis, _tmp = world
    care.give_consent(MUM, "checkin")
    quiet = chat.say(MUM, "每天晚上十点问我一声", "checkin_optin", proactive.ActionCareCheckinOptin)
    assert _responses(quiet) == ["utter_care_checkin_quiet"] and not care.checkin_active(MUM)
    on = chat.say(MUM, "早上七点半", "inform", proactive.ActionCareAnswer)
    assert on[0]["time"] == "早上7点半" and care.checkin_active(MUM)
    off = chat.say(MUM, "不用每天问了", "checkin_optout", proactive.ActionCareCheckinOptout)
    assert _responses(off) == ["utter_care_checkin_off"] and not care.checkin_active(MUM)


def test_cant_go_offers_cancel_or_reschedule(world: tuple[Chat, Care, FakeApis, Path]) -> None:
    chat, _care, _apis, _tmp = world
    store = booking_common.store()
    start = dt.datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)
    booking = store.book(store.find_slots("bath", start, start + dt.timedelta(hours=1))[0].id, MUM, "王阿姨", "139")
    offered = chat.say(MUM, "去不了了", "cant_go", proactive.ActionCareCantGo)
    assert _responses(offered) == ["utter_care_cant_go"] and booking.display_code in offered[0]["booking"]
    cancel = chat.say(MUM, "1", "choose", proactive.ActionCareAnswer)
    assert (
        _responses(cancel) == ["utter_booking_cancel_confirm"] and chat.slots[MUM]["booking_stage"] == "cancel_confirm"
    )
    chat.say(MUM, "去不了了", "cant_go", proactive.ActionCareCantGo)
    move = chat.say(MUM, "2", "choose", proactive.ActionCareAnswer)
    assert _responses(move) == ["utter_booking_reschedule_when"] and booking.display_code in move[0]["booking"]
    assert chat.slots[MUM]["booking_stage"] == "reschedule_when"
    assert chat.slots[MUM]["booking_target"] == booking.code


def test_delete_my_data_asks_first(world: tuple[Chat, Care, FakeApis, Path]) -> None:
    chat, care, _apis, _tmp = world
    care.give_consent(MUM, "checkin")
    care.checkin_optin(MUM, 8 * 60)
    assert _responses(chat.say(MUM, "删除我的信息", "delete_my_data", proactive.ActionCareDelete)) == [
        "utter_care_delete_ask"
    ]
    assert _responses(chat.say(MUM, "2", "choose", proactive.ActionCareAnswer)) == ["utter_care_delete_kept"]
    assert care.checkin_active(MUM)
    chat.say(MUM, "删除我的信息", "delete_my_data", proactive.ActionCareDelete)
    assert _responses(chat.say(MUM, "确定删除", "affirm", proactive.ActionCareAnswer)) == ["utter_care_deleted"]
    assert not care.checkin_active(MUM) and not care.has_consent(MUM, "checkin")


def test_confirming_with_the_words_of_the_request_deletes(world: tuple[Chat, Care, FakeApis, Path]) -> None:
    chat, care, _apis, _tmp = world
    care.give_consent(MUM, "checkin")
    chat.say(MUM, "删除我的信息", "delete_my_data", proactive.ActionCareDelete)
    # The classifier hears 删除 again in "确定删除": at the confirmation that is the yes.
    assert _responses(chat.say(MUM, "确定删除", "delete_my_data", proactive.ActionCareDelete)) == ["utter_care_deleted"]
    assert not care.has_consent(MUM, "checkin")


def test_an_emergency_handoff_tells_the_family_and_flags_a_top_case(
    world: tuple[Chat, Care, FakeApis, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import actions.handoff as handoff
    from staff.db import StaffDB
    from staff.queue import Queue

    _chat, care, apis, tmp = world
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handoff, "_queue", None)
    monkeypatch.setattr(handoff, "_settings", None)
    care.give_consent(MUM, "family")
    care.family_confirm(MUM, care.family_code(SON))
    message = {"text": "我跌倒了起不来", "intent": {"name": "emergency", "confidence": 1.0}, "entities": []}
    user = {"event": "user", "text": message["text"], "parse_data": message, "message_id": "m-1", "timestamp": 1.0}
    tracker = Tracker(MUM, {}, message, [user], False, None, {}, "action_listen")
    asyncio.run(handoff.ActionHandoff().run(CollectingDispatcher(), tracker, {}))
    env = {
        "TELEGRAM_TOKEN": "1:T",
        "TELEGRAM_API_BASE_URL": apis.telegram_base,
        "STAFF_DATABASE_URL": f"sqlite:///{tmp / 'staff.sqlite'}",
    }
    Worker(care.db, Senders.from_env(env)).run_once()
    assert [t for t in apis.texts("telegram", to="8002") if "紧急" in t] == [say("utter_care_msg_family_emergency")]
    top = Queue(StaffDB(env["STAFF_DATABASE_URL"])).waiting()[0]
    assert (top.conversation_id, top.priority) == (MUM, 0)
