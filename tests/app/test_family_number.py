"""What the fallback reads before the knowledge base: a family member's number (not kept; how family are linked) and a
fall some time ago that still hurts (see a doctor today, the 120 signs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import (
    FALL_STILL_HURTS,
    FAMILY_NUMBER_NOT_KEPT,
    ActionFallbackKnowledge,
    fall_still_hurts,
    family_number,
)


@pytest.mark.parametrize(
    "text",
    [
        "我女儿的电话13611112222",
        "阿拉儿子手机 139 0000 1111",
        "老伴号码是１３８００００２２２２",
        "家里人电话02156781234",
    ],
)
def test_a_family_members_number_is_recognised(text: str) -> None:
    assert family_number(text)


@pytest.mark.parametrize("text", ["我电话13611112222", "女儿下礼拜回来", "预约号 874721", "我儿子上班去了"])
def test_own_numbers_and_family_talk_without_a_number_are_not(text: str) -> None:
    assert not family_number(text)


def test_the_number_is_not_kept_and_the_way_to_link_is_told() -> None:
    text = "我女儿的电话13611112222"
    message = {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": []}
    events: list[dict[str, Any]] = [{"event": "user", "text": text, "parse_data": message}]
    tracker = Tracker("family-number", {}, message, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ActionFallbackKnowledge().run(dispatcher, tracker, {}))
    assert [m.get("response") for m in dispatcher.messages] == [FAMILY_NUMBER_NOT_KEPT]
    assert result == []  # no slot, no event carries the number


# ---- a fall some time ago that still hurts (reached the fallback: "没听明白" before) ------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我前两天摔了一跤 现在腰还痛 要紧伐",
        "上礼拜摔跤了 手腕还痛",
        "昨天在菜场滑了一跤 膝盖到现在还肿",
        "跌了一跤以后腿一直不舒服",
    ],
)
def test_a_past_fall_that_still_hurts_is_recognised(text: str) -> None:
    assert fall_still_hurts(text)


@pytest.mark.parametrize(
    "text", ["老人摔跤了怎么办", "我腰痛", "防跌倒有啥办法", "摔了一跤", "上礼拜跌了 现在好多了", "摔了一跤 现在不痛了"]
)
def test_other_talk_of_falls_or_pain_is_not(text: str) -> None:
    assert not fall_still_hurts(text)


def test_the_fallback_says_see_a_doctor_today_with_the_120_signs() -> None:
    text = "我前两天摔了一跤 现在腰还痛 要紧伐"
    message = {"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.4}, "entities": []}
    events: list[dict[str, Any]] = [{"event": "user", "text": text, "parse_data": message}]
    tracker = Tracker("fall", {}, message, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionFallbackKnowledge().run(dispatcher, tracker, {}))
    assert [m.get("response") for m in dispatcher.messages] == [FALL_STILL_HURTS]


def test_a_past_fall_asked_about_a_topic_is_left_to_the_knowledge_base() -> None:
    text = "摔了一跤以后腿一直痛 意外险能赔伐"
    message = {"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.4}, "entities": []}
    events: list[dict[str, Any]] = [{"event": "user", "text": text, "parse_data": message}]
    tracker = Tracker("fall-topic", {}, message, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionFallbackKnowledge().run(dispatcher, tracker, {}))
    assert FALL_STILL_HURTS not in [m.get("response") for m in dispatcher.messages]
