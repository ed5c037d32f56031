"""Follow-ups keep the topic: aspects, topic words, and answers resolved against the conversation's entry.

Uses the real knowledge base and the real retrieval (no mocks). Phrasings here are kept out of the
training data and the entries' question variants.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.knowledge import Context, resolve
from knowledge_base.files import builtin_entries
from knowledge_base.followup import aspect_named, read
from knowledge_base.retrieval import LiveIndex
from knowledge_base.store import KBStore


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIndex]:
    path: Path = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    store = KBStore(f"sqlite:///{path}")
    store.seed_if_empty(builtin_entries())
    live = LiveIndex(store, poll_seconds=3600)
    live.refresh(force=True)
    yield live


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("那要带啥材料?", "documents"),
        ("证件要带哪几样", "documents"),
        ("去哪里办?", "place"),
        ("在啥地方弄", "place"),
        ("要钱伐?", "fees"),
        ("交多少钞票", "fees"),
        ("几点开门", "hours"),
        ("礼拜天开伐", "hours"),
        ("打啥电话", "phone"),
        ("哪能弄", "how_to"),
        ("要啥条件", "eligibility"),
        ("我姆妈能办伐", "eligibility"),
    ],
)
def test_bare_follow_ups_ask_an_aspect_and_name_no_topic(text: str, aspect: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == aspect


@pytest.mark.parametrize("text", ["长护险要带啥材料", "遗嘱公证要多少钱", "助浴点几点开门", "沪惠保哪能买"])
def test_a_question_that_names_its_topic_is_not_bare(text: str) -> None:
    assert not read(text).bare


@pytest.mark.parametrize(
    ("text", "topic"), [("那沪惠保呢?", "沪惠保"), ("还有意定监护呢", "意定监护"), ("那助餐呢", "助餐")]
)
def test_that_one_asks_about_another_topic(text: str, topic: str) -> None:
    assert read(text).other_topic == topic


def test_that_one_about_another_person_stays_on_the_entry() -> None:
    assert read("那我老伴呢").bare


def _about_ltci(index: LiveIndex, entry_id: str | None) -> bool:
    return entry_id is not None and "长护" in index.entries[entry_id].title + index.entries[entry_id].answer


def _context(index: LiveIndex, entry_id: str, aspect: str | None = None) -> Context:
    return Context(topic=index.entries[entry_id], aspect=aspect_named(aspect))


def test_documents_come_from_the_topic_not_from_the_whole_kb(index: LiveIndex) -> None:
    # The issue: after 长护险, "那要带啥材料?" got the documents of an inheritance notarization.
    first = resolve(index, "我想问问长护险哪能申请", Context())
    assert first.reply.confident and _about_ltci(index, first.reply.entry_id)
    assert first.reply.entry_id is not None
    for follow_up in ("那要带啥材料?", "要准备点啥证件", "材料有哪些"):
        then = resolve(index, follow_up, _context(index, first.reply.entry_id))
        assert _about_ltci(index, then.reply.entry_id), (follow_up, then)
        assert "要带的材料" in then.reply.text or "没有写" in then.reply.text
        assert "继承" not in then.reply.text


@pytest.mark.parametrize("follow_up", ["去哪里办?", "到啥地方去弄", "要钱伐?", "要自己掏钱吗", "打啥电话问"])
def test_place_fees_and_phone_follow_ups_are_answered_from_the_entry(index: LiveIndex, follow_up: str) -> None:
    entry_id = "ins-ltci-eligibility"
    then = resolve(index, follow_up, _context(index, entry_id))
    assert then.how in ("followup", "related", "missing"), then
    assert then.reply.confident and _about_ltci(index, then.reply.entry_id), then
    assert "帮不上忙" not in then.reply.text


def test_a_missing_field_says_so_and_points_to_a_person(index: LiveIndex) -> None:
    entry = next(e for e in index.entries.values() if not e.fields.get("hours") and e.collection == "legal")
    then = resolve(index, "几点钟开门", _context(index, entry.id))
    if then.how == "missing":
        assert "没有写" in then.reply.text and "12345" in then.reply.text
    else:
        assert then.how == "related" and then.reply.entry_id != entry.id


def test_that_one_asks_the_previous_aspect_of_a_new_topic(index: LiveIndex) -> None:
    start = resolve(index, "阿拉老头子想立个遗嘱要带点啥", Context())
    assert start.reply.entry_id and start.reply.entry_id.startswith("law-")
    then = resolve(index, "那意定监护呢", _context(index, start.reply.entry_id, "documents"))
    assert (
        then.how == "other_topic" and then.reply.entry_id and "guardian" in then.reply.entry_id
    ) or "监护" in then.reply.text


def test_a_new_topic_replaces_the_old_one(index: LiveIndex) -> None:
    then = resolve(index, "遗嘱公证要带啥材料", _context(index, "ins-ltci-eligibility"))
    assert then.how == "search" and then.reply.entry_id and then.reply.entry_id.startswith("law-")


def test_without_a_topic_a_bare_question_searches_the_whole_kb(index: LiveIndex) -> None:
    assert resolve(index, "要带啥材料", Context()).how in ("search", "unsure")
