from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.emergency_guard import EmergencyGuard
from bot.normalizer import TextNormalizer

EMERGENCIES = [
    "我跌倒了起不来",
    "阿拉老头子摔了一跤爬不起来了",
    "胸口痛得厉害",
    "心口闷，喘不上气",
    "我透不过气来了",
    "救命啊",
    "快叫救护车",
    "我姆妈晕倒了叫不醒",
    "伊嘴歪了说不出话",
    "厨房着火了",
    "煤气泄漏了怎么办",
    "跌倒了起不來",  # traditional
]
ORDINARY = [
    "我想问问长护险哪能申请",
    "明天上午帮我约个助浴",
    "阿拉老头子想立个遗嘱要带点啥",
    "助餐点在哪里",
    "谢谢侬",
    "asdfgh",
]


@pytest.fixture(scope="module")
def pipeline() -> tuple[TextNormalizer, EmergencyGuard]:
    return TextNormalizer(TextNormalizer.get_default_config()), EmergencyGuard(EmergencyGuard.get_default_config())


def _classify(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> Message:
    normalizer, guard = pipeline
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": "ask_care_service", "confidence": 0.8}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        [{"name": "ask_care_service", "confidence": 0.8}, {"name": "emergency", "confidence": 0.1}],
        add_to_output=True,
    )
    normalizer.process([message])
    guard.process([message])
    return message


@pytest.mark.parametrize("text", EMERGENCIES)
def test_danger_phrases_become_emergencies(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT) == {"name": "emergency", "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0]["name"] == "emergency" and [r["name"] for r in ranking].count("emergency") == 1


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_messages_are_left_alone(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == "ask_care_service"
