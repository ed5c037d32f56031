"""The subject check: an entry silent on what the question asks about is no confident answer.

Real knowledge base, real retrieval (no mocks). The phrasings are kept out of the entries' question
variants and the training data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.knowledge import Context, resolve
from knowledge_base.answers import NOT_SURE, OFFER_PERSON
from knowledge_base.files import builtin_entries
from knowledge_base.relevance import Relevance, RelevanceConfigError, RelevanceRules
from knowledge_base.retrieval import LiveIndex
from knowledge_base.store import KBStore


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIndex]:
    path: Path = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    store = KBStore(f"sqlite:///{path}")
    store.seed_if_empty(builtin_entries())
    live = LiveIndex(store, poll_seconds=3600, background=False)
    live.refresh(force=True)
    yield live


@pytest.fixture(scope="module")
def relevance() -> Relevance:
    return Relevance(builtin_entries())


@pytest.mark.parametrize("question", ["敬老卡怎么办", "阿拉屋里厢要请钟点工，一个钟头几钿"])
def test_a_subject_the_kb_has_no_entry_for_gets_the_unsure_reply(index: LiveIndex, question: str) -> None:
    reply = resolve(index, question, Context()).reply
    assert not reply.confident, reply
    assert reply.text.startswith(NOT_SURE) and OFFER_PERSON in reply.text
    assert reply.choices, "the closest topics, numbered"


def test_what_a_thing_is_comes_from_the_entry_that_says_what_it_is(index: LiveIndex) -> None:
    reply = resolve(index, "长护险是什么", Context()).reply
    assert reply.confident and reply.entry_id in {"ins-ltci-what", "svc-changhuxian-jujia"}, reply


def test_a_question_the_entry_speaks_of_stays_confident(index: LiveIndex) -> None:
    reply = resolve(index, "遗嘱公证要带点啥证件过去", Context()).reply
    assert reply.confident and reply.entry_id == "law-will-notary", reply


def test_coverage_weighs_the_subject_not_the_way_of_asking(relevance: Relevance) -> None:
    assert relevance.coverage("敬老卡怎么办", "svc-laohuoban-lianmingka") == 0.0
    assert relevance.coverage("老伙伴联名卡怎么办", "svc-laohuoban-lianmingka") == 1.0
    assert "怎么办" not in relevance.subject("老伙伴联名卡怎么办")


def test_a_synonym_covers_the_word(relevance: Relevance) -> None:
    # The entry says 认知障碍, the senior 老年痴呆.
    assert relevance.coverage("老年痴呆防走失", "svc-renzhi-fang-zoushi") == 1.0


def test_unknown_keys_in_the_rules_are_errors_that_name_them(tmp_path: Path) -> None:
    path = tmp_path / "relevance.yml"
    path.write_text("min_coverage: 0.3\nmargn: 0.02\n", encoding="utf-8")
    with pytest.raises(RelevanceConfigError, match="margn"):
        RelevanceRules.load(path)
    assert isinstance(RelevanceConfigError("x"), ValueError)
