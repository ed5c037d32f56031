"""action_handoff (actions/handoff.py) with real rasa-sdk trackers and a real staff database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff
from staff.accounts import Accounts
from staff.config import Settings
from staff.queue import Queue
from tests.app.staff_support import PASSWORD, SECRETS

OPEN = "daily 00:00-24:00"
# Every turn of the handoff ends with listening: no rule predicts what follows once it moved handoff_stage.
LISTEN = {"event": "followup", "timestamp": None, "name": "action_listen"}
CLOSED = "mon 00:00-00:01"  # the next shift: a Monday; is_open is forced False in _closed, whatever the clock


@pytest.fixture
def staff_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    monkeypatch.setenv("STAFF_DATABASE_URL", f"sqlite:///{tmp_path / 'staff.sqlite'}")
    monkeypatch.setenv("STAFF_WORKING_HOURS", OPEN)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handoff, "_queue", None)
    monkeypatch.setattr(handoff, "_settings", None)
    queue, _ = handoff.staff_queue()
    yield queue
    queue.db.dispose()


def _closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside working hours whatever the clock says (the test must not depend on when it runs)."""
    monkeypatch.setattr(handoff, "_queue", None)
    monkeypatch.setattr(handoff, "_settings", None)
    import staff.hours

    monkeypatch.setattr(staff.hours.WorkingHours, "is_open", lambda self, at: False)
    monkeypatch.setenv("STAFF_WORKING_HOURS", CLOSED)


def _online(queue: Queue) -> None:
    settings = Settings.from_env({"STAFF_DATABASE_URL": queue.db.url, **SECRETS})
    user = Accounts(queue.db, settings).create_user(f"agent{time.monotonic_ns() % 10**6}", PASSWORD, "agent")
    queue.heartbeat(user.id)


def _tracker(
    text: str,
    intent: str,
    sender: str = "wechat:oSenior1",
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    user_event = {"event": "user", "text": text, "parse_data": message, "input_channel": "wechat", "timestamp": 1.0}
    return Tracker(sender, slots or {}, message, [*(events or []), user_event], False, None, {}, "action_listen")


# The handoff ends the turn itself: reached from a numbered choice ("1. 找人工"), no rule would predict listening.
LISTEN = {"event": "followup", "name": "action_listen", "timestamp": None}


def _run(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    result = asyncio.run(handoff.ActionHandoff().run(dispatcher, tracker, {}))
    return result, dispatcher.messages


def test_on_duty_the_conversation_is_paused_and_queued(staff_env: Queue) -> None:
    _online(staff_env)
    staff_env.open_handoff("web-someone-else", "webchat", "asked")
    events, messages = _run(_tracker("我要跟真人讲", "request_human"))
    assert {"event": "pause", "timestamp": None} in events
    assert [m["response"] for m in messages] == ["utter_handoff_wait"]
    assert messages[0]["minutes"] == 6, "one conversation ahead, 3 minutes each"
    waiting = staff_env.waiting()
    assert [(h.conversation_id, h.channel, h.reason) for h in waiting][-1] == ("wechat:oSenior1", "wechat", "asked")


def test_an_emergency_goes_to_the_front_with_its_own_line(staff_env: Queue) -> None:
    _online(staff_env)
    staff_env.open_handoff("web-first", "webchat", "asked")
    events, messages = _run(_tracker("我跌倒了", "emergency", sender="telegram:42"))
    assert [m["response"] for m in messages] == ["utter_handoff_wait_emergency"]
    assert staff_env.waiting()[0].conversation_id == "telegram:42"
    assert any(e["event"] == "pause" for e in events)


def test_nobody_online_asks_for_a_callback_number(staff_env: Queue) -> None:
    events, messages = _run(_tracker("转人工", "request_human"))
    assert events[-1] == LISTEN
    assert [m["response"] for m in messages] == ["utter_handoff_callback_ask"]
    assert messages[0]["when"] == "会尽快" and "每天" in messages[0]["hours"]
    assert {"event": "slot", "name": "handoff_stage", "value": "callback_phone", "timestamp": None} in events
    assert not any(e["event"] == "pause" for e in events) and staff_env.waiting() == []


def test_outside_hours_a_number_given_with_the_request_becomes_a_ticket(
    staff_env: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    _closed(monkeypatch)
    _, messages = _run(_tracker("叫人打１３９ １８７６ ５４３２寻我", "request_human"))
    queue, _ = handoff.staff_queue()
    tickets = queue.open_tickets()
    assert [(t.phone, t.reason, t.channel) for t in tickets] == [("+8613918765432", "asked", "wechat")]
    assert messages[0]["response"] == "utter_handoff_callback_saved" and messages[0]["phone"] == "139 1876 5432"
    assert tickets[0].due_at > tickets[0].created_at


def test_the_callback_answer_is_validated_then_taken(staff_env: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    _closed(monkeypatch)
    asked = [
        {"event": "user", "text": "有人吗，被骗了", "parse_data": {"intent": {"name": "scam_worry"}}},
        {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_handoff_callback_ask"}},
    ]
    stage = {"handoff_stage": "callback_phone"}
    events, messages = _run(_tracker("12345", "inform", slots=stage, events=asked))
    assert [m["response"] for m in messages] == ["utter_handoff_callback_invalid"] and events == [LISTEN]
    retried = [*asked, {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_handoff_callback_invalid"}}]
    events, messages = _run(_tracker("021-66781234", "inform", slots=stage, events=retried))
    assert messages[0]["response"] == "utter_handoff_callback_saved"
    queue, _ = handoff.staff_queue()
    assert [(t.phone, t.reason) for t in queue.open_tickets()] == [("+862166781234", "scam")]
    assert {"event": "slot", "name": "handoff_stage", "value": None, "timestamp": None} in events


def test_two_wrong_numbers_or_a_no_end_the_question_politely(staff_env: Queue) -> None:
    stage = {"handoff_stage": "callback_phone"}
    asked = [{"event": "bot", "metadata": {"utter_action": "utter_handoff_callback_ask"}}]
    twice = [*asked, {"event": "bot", "metadata": {"utter_action": "utter_handoff_callback_invalid"}}]
    for text, intent, history in (("不用了", "deny", asked), ("算了", "stop", asked), ("我不晓得", "inform", twice)):
        events, messages = _run(_tracker(text, intent, slots=stage, events=history))
        assert [m["response"] for m in messages] == ["utter_handoff_callback_declined"], text
        assert events == [{"event": "slot", "name": "handoff_stage", "value": None, "timestamp": None}, LISTEN]
    assert staff_env.open_tickets() == []


def test_a_staff_database_outage_is_told_as_cannot_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    monkeypatch.setattr(handoff, "_queue", None)
    monkeypatch.setattr(handoff, "_settings", None)
    events, messages = _run(_tracker("转人工", "request_human"))
    assert [m["response"] for m in messages] == ["utter_handoff_unavailable"]
    assert not any(e["event"] == "pause" for e in events)


def _turn(intent: str, response: str | None = None, custom: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    bot: dict[str, Any] = {"event": "bot", "text": "…", "metadata": {"utter_action": response} if response else {}}
    if custom is not None:
        bot["data"] = {"custom": custom}
    return [{"event": "user", "parse_data": {"intent": {"name": intent}}}, bot]


def test_misunderstood_twice() -> None:
    def tracker(history: list[dict[str, Any]]) -> Tracker:
        return _tracker("zzz", "nlu_fallback", events=history)

    assert handoff.misunderstood_twice(tracker(_turn("nlu_fallback", "utter_default")))
    unsure_kb = {"kb_entry": None, "confident": False, "score": 0.2}
    assert handoff.misunderstood_twice(tracker(_turn("out_of_scope", custom=unsure_kb)))
    assert not handoff.misunderstood_twice(tracker(_turn("ask_legal", custom={"kb_entry": "law-x", "confident": True})))
    assert not handoff.misunderstood_twice(tracker([])), "a first misunderstanding is not two"
    restarted = [*_turn("nlu_fallback", "utter_default"), {"event": "restart"}]
    assert not handoff.misunderstood_twice(tracker(restarted))


@pytest.mark.property
@given(st.text(max_size=40))
@example("１３９１８７６５４３２")
@example("\u202e13918765432")
@example("139１８７６5432号")
def test_find_phone_never_crashes_and_returns_e164(text: str) -> None:
    found = handoff.find_phone(text)
    assert found is None or (found.startswith("+86") and found[1:].isdigit())


@pytest.mark.parametrize(
    ("text", "response"), [("我电话不方便给", "utter_form_no_phone"), ("一定要吗", "utter_form_why_phone")]
)
def test_a_question_about_the_form_read_as_asking_for_a_person_is_answered_in_the_form(
    text: str, response: str
) -> None:
    message = {"text": text, "intent": {"name": "request_human", "confidence": 0.6}, "entities": []}
    events = [{"event": "user", "text": text, "parse_data": message}]
    slots = {"requested_slot": "booking_phone", "booking_service": "bath"}
    tracker = Tracker("wechat:oSenior1", slots, message, events, False, None, {"name": "booking_form"}, "action_listen")
    result, messages = _run(tracker)
    assert [m["response"] for m in messages] == [response]
    assert result == [{"event": "followup", "name": "booking_form", "timestamp": None}]


# ---- any answer to the question for a number gets one clear reply (issue 10) ----------------------------------

ASKED = [
    {"event": "user", "text": "转人工", "parse_data": {"intent": {"name": "request_human"}}},
    {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_handoff_callback_ask"}},
]
STAGE = {"handoff_stage": "callback_phone"}


@pytest.mark.parametrize(
    ("text", "intent", "phone"),
    [
        ("一三九 一二三四 五六七八", "inform", "139 1234 5678"),
        ("幺五零幺二三四五六七八", "choose", "150 1234 5678"),
        ("13612349876 谢谢侬", "thanks", "136 1234 9876"),
        ("座机 56781234", "inform", "021 5678 1234"),
    ],
)
def test_a_number_in_any_form_is_taken_whatever_the_classifier_said(
    staff_env: Queue, text: str, intent: str, phone: str
) -> None:
    events, messages = _run(_tracker(text, intent, slots=STAGE, events=ASKED))
    assert [m["response"] for m in messages] == ["utter_handoff_callback_saved"] and messages[0]["phone"] == phone
    assert events[-1] == LISTEN and len(staff_env.open_tickets()) == 1


@pytest.mark.parametrize(
    ("text", "intent", "response"),
    [
        ("我没手机的", "chitchat", "utter_handoff_callback_landline"),
        ("打我家里的电话好了", "out_of_scope", "utter_handoff_callback_landline"),
        ("好的", "affirm", "utter_handoff_callback_ask_again"),
        ("覅了 谢谢", "thanks", "utter_handoff_callback_declined"),
    ],
)
def test_no_number_gets_one_reply_that_fits(staff_env: Queue, text: str, intent: str, response: str) -> None:
    events, messages = _run(_tracker(text, intent, slots=STAGE, events=ASKED))
    assert [m["response"] for m in messages] == [response]
    assert events[-1] == LISTEN and staff_env.open_tickets() == []


def test_a_question_instead_of_a_number_is_answered_and_the_question_dropped(staff_env: Queue) -> None:
    events, messages = _run(_tracker("助浴一次多少钱", "ask_care_service", slots=STAGE, events=ASKED))
    assert messages and messages[0].get("custom", {}).get("kb_entry"), messages
    assert {"event": "slot", "name": "handoff_stage", "value": None, "timestamp": None} in events


def test_money_lost_to_a_scam_while_a_number_is_awaited_gets_the_aftermath_first(staff_env: Queue) -> None:
    scam = [
        {"event": "user", "text": "有人冒充公安叫我转钱", "parse_data": {"intent": {"name": "scam_worry"}}},
        {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_handoff_callback_ask"}},
    ]
    _, messages = _run(_tracker("我交掉了三千", "inform", slots=STAGE, events=scam))
    assert [m["response"] for m in messages] == ["utter_scam_aftermath", "utter_handoff_callback_ask_again"]


def test_a_stage_left_over_from_an_earlier_question_is_no_answer(staff_env: Queue) -> None:
    # The senior asked something else after the question for a number; a later "2" picks from that answer's list.
    moved_on = [
        *ASKED,
        {"event": "user", "text": "助浴怎么约", "parse_data": {"intent": {"name": "ask_care_service"}}},
        {"event": "bot", "text": "…", "data": {"custom": {"kb_entry": "svc-zhuyu-shangmen", "confident": True}}},
    ]
    tracker = _tracker("2", "choose", slots=STAGE, events=moved_on)
    assert not handoff.awaiting_number(tracker)
    assert handoff.awaiting_number(_tracker("2", "choose", slots=STAGE, events=ASKED))
