"""common/turns.py: the turn before the latest user message, as the handoff, menus, KB answers and forms read it."""

from __future__ import annotations

from typing import Any

from common.turns import (
    before_latest_user,
    previous_bot_messages,
    previous_kb_entry,
    previous_response,
    slot_before_latest_user,
)


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text}


def bot(text: str, *, utter: str | None = None, entry: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "bot", "text": text, "data": {}, "metadata": {}}
    if utter:
        event["metadata"]["utter_action"] = utter
    if entry:
        event["data"]["custom"] = {"kb_entry": entry}
    return event


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


CONVERSATION = [
    bot("您好", utter="utter_greet"),
    user("长护险怎么申请"),
    slot("topic", "svc-a"),
    bot("先打 12345 问", entry="svc-a"),
    bot("还有别的吗", utter="utter_anything_else"),
    user("要带啥材料"),
    slot("topic", "svc-b"),
]


def test_the_bot_messages_of_the_previous_turn_in_order() -> None:
    assert [e["text"] for e in previous_bot_messages(CONVERSATION)] == ["先打 12345 问", "还有别的吗"]


def test_the_last_of_them_decides_the_response_and_the_entry() -> None:
    assert previous_response(CONVERSATION) == "utter_anything_else"
    assert previous_kb_entry(CONVERSATION) is None  # the last message was no knowledge answer
    assert previous_kb_entry([*CONVERSATION[:4], user("要带啥材料")]) == "svc-a"


def test_a_turn_without_bot_messages_gives_nothing_and_does_not_look_further_back() -> None:
    events = [bot("先打 12345 问", entry="svc-a"), user("喂"), user("在吗")]
    assert previous_bot_messages(events) == []
    assert previous_kb_entry(events) is None and previous_response(events) is None


def test_no_user_message_means_no_previous_turn() -> None:
    events = [bot("您好", utter="utter_greet"), slot("topic", "x")]
    assert list(before_latest_user(events)) == []
    assert previous_bot_messages(events) == [] and slot_before_latest_user(events, "topic") is None


def test_a_slot_before_the_latest_message_ignores_what_this_message_set() -> None:
    assert slot_before_latest_user(CONVERSATION, "topic") == "svc-a"
    assert slot_before_latest_user(CONVERSATION, "date") is None


def test_odd_custom_payloads_are_no_entry() -> None:
    events = [{"event": "bot", "data": {"custom": ["not", "a", "dict"]}}, user("嗯")]
    assert previous_kb_entry(events) is None
    events = [{"event": "bot", "data": None}, user("嗯")]
    assert previous_kb_entry(events) is None
