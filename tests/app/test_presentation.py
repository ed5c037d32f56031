"""How replies look and read (actions/presentation.py, domain/conversation.yml): bigger text per channel, the last
answer in short, a person offered; and who is answering (utter_identity). Phrasings are kept out of the training data.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import ActionDeny
from actions.presentation import IDENTITY, RESPONSES, SHORT_MORE, ActionIdentity, ActionPresentation, wanted

ROOT = Path(__file__).resolve().parents[2]
RESPONSES_DOMAIN = yaml.safe_load((ROOT / "domain" / "conversation.yml").read_text(encoding="utf-8"))["responses"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("字小得看不清爽", "size"),
        ("屏幕上字放大点", "size"),
        ("眼花了 看不见", "size"),
        ("字细得看勿清", "size"),
        ("侬讲慢点好伐", "slow"),
        ("太快了 跟不上", "slow"),
        ("讲得短一点呀", "simple"),
        ("内容太长看不过来", "simple"),
        ("我不会打字 能讲话伐", "voice"),
        ("念给我听听", "voice"),
        ("侬讲话太啰嗦 讲重点", "simple"),
        ("不打字 直接讲话好伐", "voice"),
    ],
)
def test_what_the_senior_wants_of_the_replies(text: str, kind: str) -> None:
    assert wanted(text) == kind


def test_bigger_text_and_voice_are_told_per_channel_with_a_default() -> None:
    for name in (RESPONSES["size"], RESPONSES["voice"]):
        variants = RESPONSES_DOMAIN[name]
        channels = {v.get("channel") for v in variants}
        assert {"webchat", "wechat", None} <= channels, name
        web = next(v["text"] for v in variants if v.get("channel") == "webchat")
        assert "A+" in web or "🎤" in web
    wechat = next(v["text"] for v in RESPONSES_DOMAIN[RESPONSES["size"]] if v.get("channel") == "wechat")
    assert "关怀模式" in wechat and "字体大小" in wechat


def test_every_reply_offers_a_person() -> None:
    for name in (*RESPONSES.values(), "utter_identity"):
        for variant in RESPONSES_DOMAIN[name]:
            assert "转人工" in variant["text"] or "找人工" in variant["text"], name


def test_identity_says_it_is_a_program_and_how_to_reach_a_person_numbered() -> None:
    text = RESPONSES_DOMAIN["utter_identity"][0]["text"]
    first = text.splitlines()[0]
    assert "银龄助手" in first and "不是真人" in first
    assert "1. " in text and "2. " in text and "{hotline}" in text


def _tracker(text: str, intent: str, events: list[dict[str, Any]] | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    history = [*(events or []), {"event": "user", "text": text, "parse_data": message}]
    return Tracker("presentation-test", {}, message, history, False, None, {}, "action_listen")


def _said(action: Any, tracker: Tracker) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages


def test_simpler_right_after_an_answer_says_that_answer_in_short() -> None:
    answered = [
        {"event": "user", "text": "长护险是啥", "parse_data": {"intent": {"name": "ask_insurance"}}},
        {"event": "bot", "text": "长护险就是…", "data": {"custom": {"kb_entry": "ins-ltci-what", "confident": True}}},
    ]
    said = _said(ActionPresentation(), _tracker("讲得再简单些", "ask_presentation", answered))
    assert said[0]["text"].startswith("简单说：") and len(said[0]["text"]) <= 70
    assert said[0]["custom"]["kb_entry"] == "ins-ltci-what"
    assert said[1]["response"] == SHORT_MORE


def test_without_an_answer_before_the_channels_help_is_given() -> None:
    said = _said(ActionPresentation(), _tracker("字好小 看不清爽", "ask_presentation"))
    assert [m["response"] for m in said] == [RESPONSES["size"]]


def test_not_understood_with_no_answer_before_is_helped_not_brushed_off() -> None:
    said = _said(ActionDeny(), _tracker("听不懂你讲的", "deny"))
    assert [m["response"] for m in said] == [RESPONSES["simple"]]
    plain_no = _said(ActionDeny(), _tracker("不对", "deny"))
    assert [m["response"] for m in plain_no] == ["utter_deny_ack"]


def test_a_misread_question_goes_to_the_knowledge_base() -> None:
    said = _said(ActionPresentation(), _tracker("遗嘱公证要本人去吗", "ask_presentation"))
    assert said and said[0].get("custom", {}).get("kb_entry"), said


def test_who_is_answering_at_the_readback_then_the_readback_again() -> None:
    tracker = _tracker("侬到底是人还是电脑", "ask_identity")
    tracker.slots["booking_stage"] = "confirm"
    said = _said(ActionIdentity(), tracker)
    assert [m["response"] for m in said] == [IDENTITY, "utter_booking_confirm_or_change"]
    assert [m["response"] for m in _said(ActionIdentity(), _tracker("侬到底是人还是电脑", "ask_identity"))] == [
        IDENTITY
    ]


# ---- "再讲一遍": the previous turn's messages again ---------------------------------------------------------


@pytest.mark.parametrize("text", ["再讲一遍", "侬再讲一趟好伐", "没听清楚", "重复一下", "刚才说了些什么", "没看清楚"])
def test_asking_to_hear_it_again_is_a_repeat(text: str) -> None:
    assert wanted(text) == "repeat"


def test_the_previous_turn_is_said_again_as_it_was_and_nothing_older() -> None:
    events = [
        {"event": "user", "text": "助浴怎么约", "parse_data": {"intent": {"name": "ask_care_service"}}},
        {"event": "bot", "text": "老的回答", "data": {}},
        {"event": "user", "text": "长护险是啥", "parse_data": {"intent": {"name": "ask_insurance"}}},
        {"event": "bot", "text": "长护险就是…", "data": {"custom": {"kb_entry": "ins-ltci-what", "confident": True}}},
        {"event": "bot", "text": "想约吗？", "data": {"buttons": [{"title": "1. 帮我约", "payload": "/affirm"}]}},
    ]
    said = _said(ActionPresentation(), _tracker("侬再讲一遍", "ask_presentation", events))
    assert said[0]["response"] == "utter_presentation_repeat_lead"
    assert [m["text"] for m in said[1:]] == ["长护险就是…", "想约吗？"]
    assert said[1]["custom"]["kb_entry"] == "ins-ltci-what"
    assert said[2]["buttons"] == [{"title": "1. 帮我约", "payload": "/affirm"}]


def test_a_second_repeat_says_the_same_without_a_second_lead() -> None:
    events = [
        {"event": "user", "text": "长护险是啥", "parse_data": {"intent": {"name": "ask_insurance"}}},
        {
            "event": "bot",
            "text": "好的，我再讲一遍：",
            "data": {},
            "metadata": {"utter_action": "utter_presentation_repeat_lead"},
        },
        {"event": "bot", "text": "长护险就是…", "data": {}},
    ]
    said = _said(ActionPresentation(), _tracker("再讲一遍", "ask_presentation", events))
    assert said[0]["response"] == "utter_presentation_repeat_lead"
    assert [m["text"] for m in said[1:]] == ["长护险就是…"]


def test_nothing_said_yet_is_said_so() -> None:
    said = _said(ActionPresentation(), _tracker("再讲一遍", "ask_presentation"))
    assert [m["response"] for m in said] == ["utter_presentation_repeat_nothing"]


@pytest.mark.parametrize("text", ["我眼睛开过刀 看不清楚 能帮我念出来伐", "字太小了 读给我听好伐", "能不能朗读"])
def test_read_aloud_asked_outright_wins_over_its_reason(text: str) -> None:
    assert wanted(text) == "voice"
