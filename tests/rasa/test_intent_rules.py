from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.intent_rules import IntentRules, IntentRulesError, load_rules


@pytest.fixture(scope="module")
def rules() -> IntentRules:
    return IntentRules(IntentRules.get_default_config())


@pytest.mark.parametrize(
    "text", ["算了", "算了吧！", "那就算了", "算了算了", "不约了", "不约了谢谢", "先不弄了", "改天再讲吧"]
)
def test_stopping_words_always_stop(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "stop"


@pytest.mark.parametrize(
    "text",
    ["预约助浴", "帮我排个护工", "我要报名老邮所乐", "给我订个送餐", "替我约一下认知筛查", "帮我老伴约银护宝护工吧"],
)
def test_a_booking_verb_and_a_service_start_a_booking(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "book_service"


@pytest.mark.parametrize("text", ["我算了一下要多少钱", "约公证要带啥", "公证", "助浴点在哪里", "我约了啥", "取消预约"])
def test_anything_longer_or_different_is_left_to_the_classifier(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) is None


def test_the_rule_wins_with_full_confidence_and_keeps_the_ranking(rules: IntentRules) -> None:
    message = Message(data={TEXT: "算了"})
    message.set(INTENT, {"name": "inform", "confidence": 0.7})
    message.set(INTENT_RANKING_KEY, [{"name": "inform", "confidence": 0.7}, {"name": "stop", "confidence": 0.2}])
    rules.process([message])
    assert message.get(INTENT) == {"name": "stop", "confidence": 1.0}
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == ["stop", "inform"]


def test_a_bad_table_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yml"
    bad.write_text("version: 1\nrules: {}\n", encoding="utf-8")
    with pytest.raises(IntentRulesError, match="intents"):
        load_rules(bad, Path(__file__).resolve().parents[2] / "bookings" / "services.yml")
