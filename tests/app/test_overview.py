"""Questions wider than one entry (actions/overview.py): a kind of help listed from the knowledge base, two topics
answered side by side, two services to book or a booking beside a question in the same message.

The real knowledge base and retrieval; phrasings kept out of the training data and the entries' questions.
"""

from __future__ import annotations

import pytest

from actions.knowledge import Context, resolve
from actions.overview import booking_asked, kind_asked, services_named, subject_of, two_bookings, two_topics
from actions.topics import load
from knowledge_base.retrieval import LiveIndex


@pytest.mark.parametrize(
    ("text", "kind", "collection"),
    [
        ("上了岁数能买点啥保险", "保险", "insurance"),
        ("我们这样的老人能领哪些补贴", "补贴和津贴", None),
        ("老人家有什么服务可以用", "养老服务", "services"),
        ("打官司方面有啥能帮我的", "法律公证", "legal"),
        ("上了岁数能领到点啥补贴", "补贴和津贴", None),
    ],
)
def test_a_broad_question_lists_its_kinds_main_topics_from_the_knowledge_base(
    index: LiveIndex, text: str, kind: str, collection: str | None
) -> None:
    then = resolve(index, text, Context())
    assert then.how == "kind" and then.reply.confident, then
    assert then.reply.text.startswith(f"{kind}方面") and "12345" in then.reply.text
    chosen = [index.entries[c] for c in then.reply.choices]
    assert 3 <= len(chosen) <= 5
    for i, entry in enumerate(chosen, start=1):
        assert f"{i}. {entry.title}" in then.reply.text and not entry.street
        assert collection is None or entry.collection == collection
    kinds = {k.name: k for k in load().kinds}
    subjects = [subject_of(e, kinds[kind]) for e in chosen]
    assert len(set(subjects)) == len(subjects), "one choice per subject"


def test_a_bare_kind_question_puts_the_subjects_the_knowledge_base_says_most_about_first(index: LiveIndex) -> None:
    then = resolve(index, "保险都有哪几种", Context())
    assert "长护险" in index.entries[then.reply.choices[0]].title


@pytest.mark.parametrize("text", ["长护险有哪些服务", "沪惠保有啥好处", "遗嘱公证要带啥材料", "公证要多少钱"])
def test_a_question_about_one_topic_or_one_fact_is_no_kind_question(index: LiveIndex, text: str) -> None:
    assert kind_asked(index, text) is None


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("长护险跟沪惠保差在哪里", "ltci", "huhuibao"),
        ("意定监护和遗嘱公证哪个要紧", "guardianship", "will"),
        ("助浴还是上门护理划算", "zhuyu", "shangmen-huli"),
    ],
)
def test_two_topics_are_answered_both_numbered(index: LiveIndex, text: str, first: str, second: str) -> None:
    then = resolve(index, text, Context())
    assert then.how == "pair", then
    a, b = then.reply.choices
    assert first in a and second in b, then.reply.choices
    lines = then.reply.text.splitlines()
    assert lines[1].startswith("1. ") and lines[2].startswith("2. ") and "12345" in then.reply.text


def test_one_entry_about_both_answers_as_it_is(index: LiveIndex) -> None:
    assert two_topics(index, "长护险和商业护理保险有啥不一样", index.settings.threshold) is None
    then = resolve(index, "长护险和商业护理保险有啥不一样", Context())
    assert then.reply.entry_id == "ins-ltci-vs-shangye"


@pytest.mark.parametrize("text", ["我跟老伴都想去日间照料", "帮我和老伴约助浴", "长护险怎么申请"])
def test_one_question_is_no_pair(index: LiveIndex, text: str) -> None:
    assert two_topics(index, text, index.settings.threshold) is None


def test_services_named_in_order_and_a_booking_clause() -> None:
    assert services_named("助浴跟助餐都要约") == ["bath", "meal"]
    assert services_named("帮我约个上门助浴") == ["bath"]
    assert booking_asked("想订助餐 另外问下助浴啥价钿") == "meal"


def test_two_services_to_book_are_both_offered_and_a_question_beside_them_is_no_pair_of_bookings() -> None:
    assert two_bookings("助浴跟助餐都要约") == ("bath", "meal")
    assert two_bookings("想订助餐 另外问下助浴啥价钿") is None
    assert two_bookings("约个公证 立遗嘱") is None, "two words for one service"


def test_a_question_beside_a_booking_is_answered_and_the_booking_offered() -> None:
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.knowledge import ActionKnowledgeAnswer

    text = "想订个助餐 另外问问上门助浴啥价钿"
    message = {"text": text, "intent": {"name": "ask_care_service", "confidence": 0.9}, "entities": []}
    tracker = Tracker(
        "mixed", {}, message, [{"event": "user", "text": text, "parse_data": message}], False, None, {}, ""
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionKnowledgeAnswer().run(dispatcher, tracker, {}))
    said = dispatcher.messages
    assert str(said[0]["custom"]["kb_entry"]).startswith("svc-zhuyu"), said
    assert said[-1]["response"] == "utter_offer_booking" and said[-1]["service"] == "助餐"
