from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.normalizer import RAW_TEXT, TextNormalizer
from textnorm import default_normalizer, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("長護險哪能申請", "长护险怎么申请"),
        ("侬好，阿拉姆妈想约下礼拜二上半天的助浴", "你好,我们妈妈想约下星期二上午的助浴"),
        ("１３８１２３４５６７８", "13812345678"),
        ("好的👍👍👍", "好的"),
        ("谢谢！！！！", "谢谢!"),
        ("要覅帮侬叫人？？", "要不要帮你叫人?"),
        ("伊住在顾村", "他住在顾村"),
        ("好伐？", "好吗?"),
        ("伐木", "伐木"),
        ("长乎险怎么申情", "长护险怎么申情"),
        ("我想立个一周 房子留给小儿子", "我想立个遗嘱 房子留给小儿子"),
        ("沪会保哪能买", "沪惠保怎么买"),
        ("帮我约个助欲", "帮我约个助浴"),
        ("下个礼拜一周年", "下个星期一周年"),
        ("ASDFGH", "asdfgh"),
        ("a\x00b\u200bc\x07", "abc"),
        ("  多个   空格\n\n换行  ", "多个 空格 换行"),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.property
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normalize_is_idempotent_and_maps_every_char(text: str) -> None:
    result = default_normalizer().normalize(text)
    assert normalize(result.text) == result.text
    assert len(result.source_index) == len(result.text)
    assert list(result.source_index) == sorted(result.source_index)
    assert all(0 <= i < len(text) for i in result.source_index)


def test_long_messages_are_capped() -> None:
    assert len(normalize("长护险" * 2000)) == 1000


def _component() -> TextNormalizer:
    return TextNormalizer(TextNormalizer.get_default_config())


def test_training_entities_follow_the_normalized_text() -> None:
    raw = "帮阿拉姆妈约下礼拜二上半天的助浴，电话１３８１２３４５６７８"
    entities = [
        {"entity": "datetime", "start": raw.index("下礼拜二"), "end": raw.index("的助浴"), "value": "下礼拜二上半天"},
        {"entity": "service", "start": raw.index("助浴"), "end": raw.index("助浴") + 2, "value": "助浴"},
        {"entity": "phone", "start": raw.index("１"), "end": len(raw), "value": raw[raw.index("１") :]},
    ]
    message = Message(data={TEXT: raw, ENTITIES: entities})
    _component().process_training_data(TrainingData([message]))
    text = message.get(TEXT)
    assert text == "帮我们妈妈约下星期二上午的助浴,电话13812345678"
    spans = {e["entity"]: text[e["start"] : e["end"]] for e in message.get(ENTITIES)}
    assert spans == {"datetime": "下星期二上午", "service": "助浴", "phone": "13812345678"}
    values = {e["entity"]: e["value"] for e in message.get(ENTITIES)}
    assert values["phone"] == "13812345678"  # no synonym annotated: the value follows the text
    assert values["datetime"] == "下星期二上午"


def test_raw_text_is_kept_and_emoji_only_messages_survive() -> None:
    message, emoji_only = Message(data={TEXT: "長護險"}), Message(data={TEXT: "👍👍"})
    _component().process([message, emoji_only])
    assert message.get(TEXT) == "长护险" and message.get(RAW_TEXT) == "長護險"
    assert emoji_only.get(TEXT) == "👍👍"


@pytest.mark.parametrize(
    "typed", ["/emergency", '/book_service{"booking_service": "bath"}', "／ｅｍｅｒｇｅｎｃｙ", "  //greet"]
)
def test_typed_slash_commands_are_just_words(typed: str) -> None:
    message = Message(data={"text": typed, "metadata": {"trusted_payload": "yes"}})
    TextNormalizer(TextNormalizer.get_default_config()).process([message])
    assert not message.get("text").startswith("/"), "Rasa would parse it as an intent command"


def test_a_verified_button_payload_stays_a_command() -> None:
    message = Message(data={"text": "/ask_care_service", "metadata": {"trusted_payload": True}})
    TextNormalizer(TextNormalizer.get_default_config()).process([message])
    assert message.get("text") == "/ask_care_service"


def test_a_long_message_keeps_its_start_and_its_question_at_the_end() -> None:
    story = "我跟侬讲，阿拉老头子身体一直不大好，" * 200 + "请问长护险哪能申请？"
    kept = normalize(story)
    assert len(kept) == 1000 and kept.startswith("我跟你讲") and kept.endswith("长护险怎么申请?") and "…" in kept


def test_combining_marks_are_dropped() -> None:
    assert normalize("长" + "\u0301" * 2000 + "护险") == "长护险"
