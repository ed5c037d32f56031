"""A conversation as the agent sees it: the transcript with the bot's understanding, and a summary.

Built from Rasa's tracker (``GET /conversations/<id>/tracker``). The summary is three lines made
from the transcript itself (intents, slots, knowledge-base entries; no external service).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import Any

INTENT_LABELS = {
    "greet": "打招呼",
    "goodbye": "道别",
    "thanks": "道谢",
    "affirm": "同意",
    "deny": "否定",
    "ask_care_service": "养老服务",
    "ask_legal": "法律公证",
    "ask_insurance": "保险",
    "book_service": "预约服务",
    "check_bookings": "查预约",
    "cancel_booking": "取消预约",
    "reschedule_booking": "改预约",
    "request_human": "找人工",
    "emergency": "紧急情况",
    "scam_worry": "担心被骗",
    "complain_service": "投诉服务",
    "chitchat": "闲聊",
    "out_of_scope": "别的事",
    "inform": "补充信息",
    "choose": "选编号",
    "stop": "不要了",
    "nlu_fallback": "没听明白",
}
REASON_LABELS = {
    "emergency": "紧急情况",
    "scam": "担心被骗",
    "asked": "老人要求找人工",
    "misunderstood": "机器人两次没听明白",
    "complaint": "投诉服务（请看对话，回访并道歉）",
    "care": "每日平安没有回音或紧急情况（主动关怀）",
}
ENTITY_LABELS = {"service": "服务", "datetime": "时间", "street": "街道", "phone": "电话", "person": "称呼"}
QUESTION_INTENTS = ("ask_care_service", "ask_legal", "ask_insurance", "book_service", "scam_worry", "emergency")
BOOKING_SLOTS = {"booking_service": "服务", "booking_when": "时间", "booking_street": "街道"}


def _when(ts: Any) -> str | None:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def transcript(tracker: Mapping[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for event in tracker.get("events") or []:
        kind, ts = event.get("event"), event.get("timestamp")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            metadata = event.get("metadata") or {}
            items.append(
                {
                    "kind": "senior",
                    "ts": ts,
                    "at": _when(ts),
                    "text": str(metadata.get("button_title") or event.get("text") or ""),
                    "intent": intent.get("name"),
                    "intent_label": INTENT_LABELS.get(str(intent.get("name")), intent.get("name")),
                    "confidence": round(float(intent.get("confidence") or 0.0), 3),
                    "entities": [
                        {"entity": e.get("entity"), "value": e.get("value")} for e in parse.get("entities") or []
                    ],
                    "channel": event.get("input_channel"),
                }
            )
        elif kind == "bot":
            data = event.get("data") or {}
            metadata = event.get("metadata") or {}
            raw_custom = data.get("custom")
            custom: dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
            agent = metadata.get("staff_agent")
            items.append(
                {
                    "kind": "agent" if agent else "bot",
                    "ts": ts,
                    "at": _when(ts),
                    "text": str(event.get("text") or ""),
                    "agent": agent,
                    "buttons": [b.get("title") for b in data.get("buttons") or [] if isinstance(b, dict)],
                    "kb_entry": custom.get("kb_entry") or custom.get("staff_entry"),
                    "score": custom.get("score"),
                    "confident": custom.get("confident"),
                    "response": metadata.get("utter_action"),
                }
            )
        elif kind == "pause":
            items.append({"kind": "system", "ts": ts, "at": _when(ts), "text": "已转人工，机器人暂停"})
        elif kind == "resume":
            items.append({"kind": "system", "ts": ts, "at": _when(ts), "text": "已交还机器人"})
    return items


def summary(tracker: Mapping[str, Any], reason: str | None = None) -> list[str]:
    """Three short lines: what the senior wanted, what the bot answered, why a person is needed."""
    items = transcript(tracker)
    seniors = [i for i in items if i["kind"] == "senior"]
    intents = Counter(i["intent"] for i in seniors if i["intent"] in QUESTION_INTENTS)
    wanted = "、".join(INTENT_LABELS[name] for name, _ in intents.most_common(3)) or (
        "、".join(dict.fromkeys(str(i["intent_label"]) for i in seniors[-3:])) or "还没说"
    )
    facts: dict[str, str] = {}
    for item in seniors:
        for entity in item["entities"]:
            label = ENTITY_LABELS.get(str(entity["entity"]))
            if label and label != "电话" and label != "称呼":
                facts[label] = str(entity["value"])
    slots = tracker.get("slots") or {}
    for slot, label in BOOKING_SLOTS.items():
        if slots.get(slot):
            facts[label] = str(slots[slot])
    line1 = f"想办：{wanted}" + (f"（{'，'.join(f'{k}：{v}' for k, v in facts.items())}）" if facts else "")
    entries = list(dict.fromkeys(i["kb_entry"] for i in items if i["kind"] == "bot" and i.get("kb_entry")))
    misunderstood = sum(1 for i in items if i["kind"] == "bot" and i.get("response") == "utter_default")
    answered = f"机器人答过：{'、'.join(entries[-3:])}" if entries else "机器人还没给出知识库答案"
    if misunderstood:
        answered += f"；没听明白 {misunderstood} 次"
    waiting = sum(1 for i in items if i["kind"] == "senior" and _after_pause(items, i))
    line3 = f"转人工：{REASON_LABELS.get(reason or '', reason or '—')}"
    if waiting:
        line3 += f"；转人工后老人又发了 {waiting} 条"
    return [line1, answered, line3]


def _after_pause(items: list[dict[str, Any]], item: dict[str, Any]) -> bool:
    paused = False
    for other in items:
        if other["kind"] == "system":
            paused = other["text"].startswith("已转人工")
        if other is item:
            return paused
    return False
