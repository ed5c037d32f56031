"""The 每日平安 reply reader reads danger as the chat does: the same code and table (textnorm/safety.py,
training_data/safety.yml) as the Rasa pipeline's EmergencyGuard, so the same spellings and the same mentions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from care import classify

PHRASINGS = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "fixtures" / "emergency_phrasings.yml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "text",
    [
        "叠了一跤 爬勿起来",  # voice input: 叠 for 跌; Shanghainese 勿
        "兄口痛得厉害",  # 兄口 for 胸口
        "我终风了 手脚麻",  # 终风 for 中风
        "就命啊",  # 就命 for 救命
        "老头子婚过去了",  # 婚过去 for 昏过去
        "半爿身体麻了",  # 半爿 = 半边
        "灶披间一股煤汽味",  # 灶披间 = 厨房, 煤汽 for 煤气
        "腰二零 快点",  # 腰二零 for 120
        "旧护车 快",  # 旧护车 for 救护车
        "我跌倒了 起不来",
        "低血糖了 手抖",
    ],
)
def test_a_reply_with_the_guards_spellings_is_an_emergency(text: str) -> None:
    assert classify.classify(text) == classify.EMERGENCY


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("没事 上礼拜摔过一跤 已经好了", classify.FINE),  # the past
        ("蛮好 我怕跌倒 今天不出门", classify.FINE),  # a fear
        ("好的 我在学急救", classify.FINE),  # learning
        ("有点头晕 去年中风过", classify.UNWELL),  # unwell now, the stroke was last year
        ("电视里讲有人煤气中毒 吓死人", classify.OTHER),  # the news
    ],
)
def test_a_reply_that_only_mentions_danger_is_not_an_emergency(text: str, kind: str) -> None:
    assert classify.classify(text) == kind


def test_every_listed_emergency_is_an_emergency_and_no_listed_mention_is() -> None:
    """The chat's whole phrasing list (tests/fixtures/emergency_phrasings.yml), read as check-in replies."""
    emergencies = [text for texts in PHRASINGS["emergencies"].values() for text in texts]
    mentions = [text for texts in PHRASINGS["not_emergencies"].values() for text in texts]
    mentions += [text for kinds in PHRASINGS["worries"].values() for texts in kinds.values() for text in texts]
    missed = [text for text in emergencies if classify.classify(text) != classify.EMERGENCY]
    alarms = [text for text in mentions if classify.classify(text) == classify.EMERGENCY]
    assert len(emergencies) > 400 and len(mentions) > 500
    assert not missed, f"{len(missed)} of {len(emergencies)} emergencies missed: {missed}"
    assert not alarms, f"{len(alarms)} of {len(mentions)} mentions read as emergencies: {alarms}"


def test_a_listed_worry_below_an_emergency_is_no_emergency_and_a_health_worry_is_unwell() -> None:
    """The chat's troubles below an emergency, read as check-in replies: never an alarm; a health complaint
    (头晕 血压170) or 心慌 with loneliness is "unwell" (the family is told), as the chat reads them."""
    concerns = PHRASINGS["concerns"]
    alarms = [t for texts in concerns.values() for t in texts if classify.classify(t) == classify.EMERGENCY]
    assert not alarms, alarms
    not_unwell = [t for k in ("health", "palpitations") for t in concerns[k] if classify.classify(t) != classify.UNWELL]
    assert not not_unwell, not_unwell


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("血糖有点高", classify.UNWELL),  # no 血糖高 in the reader's own words
        ("血压一百七 头有点胀", classify.UNWELL),
        ("一个人在家 心里发慌 睡不着", classify.UNWELL),
        ("血压一百二 正常的", classify.FINE),  # a normal reading
        ("没什么不舒服", classify.FINE),
    ],
)
def test_health_worries_are_read_as_the_chat_reads_them(text: str, kind: str) -> None:
    assert classify.classify(text) == kind


def test_every_list_of_the_safety_table_is_a_field_of_the_table_and_an_allowed_key() -> None:
    import dataclasses

    from textnorm import safety

    fields = {f.name for f in dataclasses.fields(safety.SafetyTable)}
    assert set(safety._PATTERN_KEYS) <= fields
    assert set(safety._PATTERN_KEYS) <= safety._TABLE_KEYS
    table = safety.default_table()
    assert all(getattr(table, key) is not None for key in ("mentions", "now", "fears", "first_aid"))
