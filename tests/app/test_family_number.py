"""A family member's number typed with nothing to put it in is not kept; the reply says how family are linked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import FAMILY_NUMBER_NOT_KEPT, ActionFallbackKnowledge, family_number


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
