"""One contract every registered retriever passes (knowledge_base/retrieval.py, ``Retriever``).

Each check runs against every name in ``RETRIEVERS`` with the real embedding model, and against a
deliberately broken retriever that each check must reject: a check that cannot fail proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from knowledge_base.embedding import E5Embedder, Embedder
from knowledge_base.retrieval import (
    RETRIEVERS,
    BM25Retriever,
    DenseRetriever,
    Doc,
    Hit,
    HybridRetriever,
    RetrievalConfigError,
    Retriever,
    Settings,
    make_retriever,
    register,
)
from textnorm import normalize

Make = Callable[[], Retriever]


def _doc(id_: str, title: str, answer: str, collection: str, street: str | None = None) -> Doc:
    return Doc(id_, (normalize(title),), (normalize(answer),), f"{title} {answer}", collection, street)


DOCS = (
    _doc("meal", "老年助餐点在哪里吃饭", "社区长者食堂提供午餐，六十岁以上老人可以去吃饭。", "care", "顾村镇"),
    _doc("will", "遗嘱公证要带什么材料", "办遗嘱公证要带身份证、户口本和房产证，到公证处办理。", "legal"),
    _doc("ltci", "长护险怎么申请", "长期护理保险向街道社区事务受理服务中心申请，先做评估。", "insurance"),
    _doc("bath", "助浴服务怎么预约", "社区助浴点每周一到周六开放，由助浴员协助洗澡。", "care", "大场镇"),
    _doc("scam", "接到骗子电话怎么办", "不要转账，挂掉电话，打110报警或者问问子女。", "legal"),
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder(threads=1, cache_path=None)


# -- the contract ---------------------------------------------------------------------------------


def _well_formed(hits: Sequence[Hit], docs: Sequence[Doc], top_k: int) -> None:
    ids = [h.id for h in hits]
    assert len(hits) <= top_k, f"{len(hits)} hits for top_k={top_k}"
    assert len(set(ids)) == len(ids), f"an id twice: {ids}"
    assert set(ids) <= {d.id for d in docs}, f"ids that were never built: {set(ids) - {d.id for d in docs}}"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True), f"scores not best first: {scores}"


def check_ranks(make: Make) -> None:
    """A question asked in an entry's own words finds that entry first."""
    retriever = make()
    retriever.build(DOCS)
    for doc, query in (("will", "遗嘱公证要带什么材料"), ("ltci", "长护险怎么申请"), ("bath", "助浴服务怎么预约")):
        hits = retriever.search(query, top_k=3)
        _well_formed(hits, DOCS, 3)
        assert hits and hits[0].id == doc, f"{query!r} → {[h.id for h in hits]}, expected {doc!r} first"


def check_k_respected(make: Make) -> None:
    retriever = make()
    retriever.build(DOCS)
    for top_k in (0, 1, 2, len(DOCS), len(DOCS) + 3):
        _well_formed(retriever.search("老人怎么申请服务", top_k=top_k), DOCS, top_k)
    assert retriever.search("老人怎么申请服务", top_k=0) == []


def check_empty_query(make: Make) -> None:
    """An empty or blank query is no error: at most ``top_k`` well-formed hits."""
    retriever = make()
    retriever.build(DOCS)
    for query in ("", "   ", "？？"):
        _well_formed(retriever.search(query, top_k=3), DOCS, 3)


def check_filters_and_unknown_ids(make: Make) -> None:
    """Filters keep only matching documents; a collection or street nobody has gives no hits."""
    retriever = make()
    retriever.build(DOCS)
    by_id = {d.id: d for d in DOCS}
    legal = retriever.search("材料 电话 怎么办", top_k=5, collection="legal")
    _well_formed(legal, DOCS, 5)
    assert legal and all(by_id[h.id].collection == "legal" for h in legal)
    street = retriever.search("吃饭 洗澡", top_k=5, street="顾村镇")
    assert [h.id for h in street] == ["meal"]
    assert retriever.search("遗嘱公证", top_k=5, collection="no-such-collection") == []
    assert retriever.search("遗嘱公证", top_k=5, street="不存在镇") == []


def check_search_before_build_and_empty_build(make: Make) -> None:
    retriever = make()
    assert retriever.search("遗嘱公证", top_k=5) == []
    retriever.build([])
    assert retriever.search("遗嘱公证", top_k=5) == []


def check_rebuild_after_an_edit(make: Make) -> None:
    """A rebuild replaces the index: an edited entry is found by its new words, a removed one never."""
    retriever = make()
    retriever.build(DOCS)
    edited = _doc("will", "房屋继承怎么过户", "继承房屋要到不动产登记中心办理过户手续。", "legal")
    docs = [edited, *(d for d in DOCS if d.id not in ("will", "scam"))]
    retriever.build(docs)
    hits = retriever.search("房屋继承怎么过户", top_k=5)
    _well_formed(hits, docs, 5)
    assert hits and hits[0].id == "will"
    for query in ("接到骗子电话怎么办", "遗嘱公证要带什么材料"):
        assert "scam" not in {h.id for h in retriever.search(query, top_k=5)}


CHECKS = (
    check_ranks,
    check_k_respected,
    check_empty_query,
    check_filters_and_unknown_ids,
    check_search_before_build_and_empty_build,
    check_rebuild_after_an_edit,
)


# -- every registered retriever passes it --------------------------------------------------------


def test_the_shipped_retrievers_are_registered() -> None:
    assert {"dense", "bm25", "hybrid"} <= set(RETRIEVERS)
    assert Settings.load().retriever in RETRIEVERS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(RETRIEVERS))
def test_every_registered_retriever_keeps_the_contract(
    name: str, check: Callable[[Make], None], embedder: Embedder
) -> None:
    check(lambda: make_retriever(Settings(), name, embedder=embedder))


def test_a_hybrid_from_parts_keeps_the_contract_and_refuses_mismatched_parts(embedder: Embedder) -> None:
    """The bench's public way to pair one BM25 index with several dense ones."""
    settings = Settings()

    def make() -> Retriever:
        return _Parts(settings, embedder)

    for check in CHECKS:
        check(make)
    dense, sparse = DenseRetriever(settings, embedder), BM25Retriever(settings)
    dense.build(DOCS)
    sparse.build(DOCS[:2])
    with pytest.raises(ValueError, match="different documents"):
        HybridRetriever.from_parts(settings, dense, sparse)


class _Parts:
    """Builds a dense and a BM25 retriever separately and searches through ``HybridRetriever.from_parts``."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings, self.embedder = settings, embedder
        self.hybrid = HybridRetriever.from_parts(settings, DenseRetriever(settings, embedder), BM25Retriever(settings))

    def use_token_memo(self, memo: dict[str, list[str]]) -> None:
        pass

    def build(self, docs: Sequence[Doc]) -> None:
        dense, sparse = DenseRetriever(self.settings, self.embedder), BM25Retriever(self.settings)
        dense.build(docs)
        sparse.build(docs)
        self.hybrid = HybridRetriever.from_parts(self.settings, dense, sparse)

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        return self.hybrid.search(query, top_k, collection, street)


# -- and a broken one does not -------------------------------------------------------------------


class ForgetfulRetriever:
    """Looks like a retriever, breaks the contract every way it can: keeps old documents across
    builds, ignores top_k and filters, returns hits worst first and repeats ids."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.inner = BM25Retriever(settings)
        self.docs: list[Doc] = []

    def use_token_memo(self, memo: dict[str, list[str]]) -> None:
        pass

    def build(self, docs: Sequence[Doc]) -> None:
        self.docs = [*self.docs, *docs]  # never forgets
        self.inner.build(self.docs)

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        if not self.docs:
            return [Hit("ghost", 1.0)]  # an id it was never given
        hits = self.inner.search(query, top_k=len(self.docs) + 5)
        if not hits:
            return [Hit(self.docs[0].id, 0.0)] * (top_k + 1)
        return list(reversed(hits)) + hits[:1]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_contract_rejects_a_broken_retriever(
    check: Callable[[Make], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("knowledge_base.retrieval.RETRIEVERS", dict(RETRIEVERS))
    register("forgetful")(ForgetfulRetriever)
    with pytest.raises(AssertionError):
        check(lambda: make_retriever(Settings(), "forgetful"))


def test_registration_and_choice_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("knowledge_base.retrieval.RETRIEVERS", dict(RETRIEVERS))
    assert register("forgetful")(ForgetfulRetriever) is ForgetfulRetriever
    assert isinstance(make_retriever(Settings(), "forgetful"), ForgetfulRetriever)
    with pytest.raises(RetrievalConfigError, match="two retrievers are registered as 'bm25'"):
        register("bm25")(ForgetfulRetriever)
    with pytest.raises(RetrievalConfigError, match="retriever 'bm52' is unknown; use one of bm25, dense, forgetful"):
        make_retriever(Settings(), "bm52")
