"""Retrieval quality and behaviour, with the real embedding model (no mocks)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from knowledge_base.embedding import shared_embedder
from knowledge_base.evaluate import HELDOUT, builtin_set, evaluate
from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import (
    CONFIG_PATH,
    Doc,
    Hit,
    LiveIndex,
    RetrievalConfigError,
    Settings,
    make_retriever,
)
from knowledge_base.schema import Entry
from knowledge_base.store import KBStore
from knowledge_base.text import tokens, tokens_many
from textnorm import normalize

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report() -> dict:
    docs, queries = builtin_set()
    return evaluate(docs, queries)


def test_heldout_set_is_large_and_separate_from_the_entries() -> None:
    _, queries = builtin_set()
    assert len(queries) >= 200
    indexed = {normalize(q) for e in builtin_entries() for q in (e.title, *e.questions)}
    assert not {normalize(q.text) for q in queries} & indexed, "held-out queries must never be indexed"
    assert len({q.gold for q in queries}) >= 100, "the held-out set covers most of the KB"


def test_retrieval_quality_floor_on_the_heldout_set(report: dict) -> None:
    configured = report["retrievers"]["configured"]
    assert configured["top1"] >= 0.70, report
    assert configured["top5"] >= 0.90, report
    # The fusion is there for a reason: it must not lose to either part alone.
    for alone in ("bm25", "dense"):
        assert configured["mrr10"] >= report["retrievers"][alone]["mrr10"] - 0.01, report


def test_filters_restrict_results() -> None:
    entries = builtin_entries()
    retriever = make_retriever(Settings.load())
    retriever.build([Doc.from_entry(e) for e in entries])
    by_id = {e.id: e for e in entries}
    hits = retriever.search("有没有老人吃饭的地方", top_k=5, street="顾村镇")
    assert hits and all(by_id[h.id].street == "顾村镇" for h in hits)
    hits = retriever.search("遗嘱", top_k=5, collection="legal")
    assert hits and all(by_id[h.id].collection == "legal" for h in hits)


class CountingEmbedder:
    """The real embedding model, counting the texts it is asked to embed as queries."""

    def __init__(self) -> None:
        self.inner = shared_embedder()
        self.dim, self.name = self.inner.dim, self.inner.name
        self.queries: list[str] = []

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        if kind == "query" and len(texts) == 1:
            self.queries.append(texts[0])
        return self.inner.encode(texts, kind)


def test_the_same_question_asked_twice_is_embedded_once() -> None:
    embedder = CountingEmbedder()
    retriever = make_retriever(Settings.load(), "hybrid", embedder)
    retriever.build([Doc.from_entry(e) for e in builtin_entries()])
    embedder.queries.clear()
    everywhere = retriever.search("有没有老人吃饭的地方", top_k=5)
    local = retriever.search("有没有老人吃饭的地方", top_k=3, street="顾村镇")
    assert len(embedder.queries) == 1, "the KB action's second, street-filtered search reuses the vector"
    assert everywhere and local
    other = retriever.search("长护险怎么申请", top_k=5)
    assert len(embedder.queries) == 2 and other[0].id != local[0].id, "a new question is embedded anew"


def test_a_large_batch_is_tokenized_in_worker_processes_with_the_same_result() -> None:
    texts = [f"{e.document()} 第{i}条" for i, e in enumerate(builtin_entries()[:40])]
    serial = tokens_many(texts, processes=1)
    assert tokens_many(texts, processes=2, min_parallel=10) == serial
    assert serial[0] == tokens(texts[0]) and "长护险" in {w for words in serial for w in words}


def test_a_rebuild_tokenizes_only_changed_documents_and_ranks_as_a_fresh_build() -> None:
    settings = Settings.load()
    docs = [Doc.from_entry(e) for e in builtin_entries()]
    memo: dict[str, list[str]] = {}
    first = make_retriever(settings, "bm25", token_memo=memo)
    first.build(docs)
    assert len(memo) == len({d.words for d in docs})
    edited = [*docs[1:], dataclasses.replace(docs[0], words=docs[0].words + " 新增说明：周末也能办")]
    marker = memo[docs[1].words]
    second = make_retriever(settings, "bm25", token_memo=memo)
    second.build(edited)
    assert memo[docs[1].words] is marker, "unchanged documents keep their words"
    assert docs[0].words not in memo and edited[-1].words in memo, "the memo holds only the current texts"
    fresh = make_retriever(settings, "bm25")
    fresh.build(edited)
    for query in ("周末能办吗", "遗嘱公证要带什么"):
        assert [(h.id, h.score) for h in second.search(query)] == [(h.id, h.score) for h in fresh.search(query)]


def _run_eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "knowledge_base", "eval", *args], cwd=ROOT, text=True, capture_output=True, timeout=600
    )


def test_eval_cli_on_any_tsv_pair(tmp_path: Path) -> None:
    entries = tmp_path / "entries.tsv"
    queries = tmp_path / "queries.tsv"
    entries.write_text(
        "id\ttext\ttitle\n"
        "a\t长期护理保险由医保基金支付大部分护理费用\t长护险\n"
        "b\t遗嘱公证需要本人带身份证和房产证到公证处\t遗嘱公证\n"
        "c\t助浴服务由护理员上门帮老人洗澡\t助浴\n",
        encoding="utf-8",
    )
    queries.write_text("query\tgold_id\n长护险谁出钱\ta\n立遗嘱要带什么\tb\n老人洗澡有人上门吗\tc\n", encoding="utf-8")
    result = _run_eval("--entries", str(entries), "--queries", str(queries), "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["n_entries"] == 3 and report["n_queries"] == 3
    assert set(report["retrievers"]) == {"configured", "bm25", "dense"}
    for metrics in report["retrievers"].values():
        assert set(metrics) == {"top1", "top5", "mrr10", "p50_ms", "p95_ms"}
        assert metrics["top5"] == 1.0
    assert report["retrievers"]["configured"]["top1"] == 1.0
    assert "top-1" in result.stdout and "configured (hybrid)" in result.stdout


def test_eval_cli_reports_bad_input(tmp_path: Path) -> None:
    entries = tmp_path / "entries.tsv"
    queries = tmp_path / "queries.tsv"
    entries.write_text("id\ttext\na\t文本\n", encoding="utf-8")
    queries.write_text("query\tgold_id\n问题\tzzz\n", encoding="utf-8")
    result = _run_eval("--entries", str(entries), "--queries", str(queries))
    assert result.returncode == 2 and "line 2" in result.stderr and "zzz" in result.stderr


def test_heldout_file_has_the_documented_header() -> None:
    assert HELDOUT.read_text(encoding="utf-8").splitlines()[0] == "query\tgold_id"


def test_the_confidence_threshold_separates_answerable_from_unanswerable() -> None:
    settings = Settings.load()
    docs, queries = builtin_set()
    retriever = make_retriever(settings)
    retriever.build(docs)
    correct = [h[0].score for q in queries if (h := retriever.search(q.text, 1)) and h[0].id == q.gold]
    kept = sum(s >= settings.threshold for s in correct) / len(correct)
    unanswerable = (
        (Path(__file__).resolve().parents[2] / "knowledge_base" / "eval" / "unanswerable.tsv")
        .read_text(encoding="utf-8")
        .splitlines()[1:]
    )
    rejected = sum(retriever.search(q, 1)[0].score < settings.threshold for q in unanswerable) / len(unanswerable)
    assert kept >= 0.95, kept
    assert rejected >= 0.90, rejected


def test_every_process_follows_the_kb_version(tmp_path: Path) -> None:
    """Two action-server processes each hold a LiveIndex over their own connection to one database."""
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    entries = builtin_entries()[:20]
    KBStore(url).import_entries(entries, "seed", "test")
    first, second = LiveIndex(KBStore(url), poll_seconds=0.0), LiveIndex(KBStore(url), poll_seconds=0.0)
    first.refresh(force=True)
    second.refresh(force=True)
    target = entries[3]
    question = "社区里新开的银龄茶话会在哪里报名"
    assert first.search(question, 1)[0].id != target.id and second.search(question, 1)[0].id != target.id
    editor = KBStore(url)
    editor.edit(dataclasses.replace(target, questions=[question, *target.questions]), "admin", "new question")
    try:
        for index in (first, second):
            # Each process's background refresher picks the edit up by itself.
            assert index.refreshing_in_background and index.wait_for_version(editor.version(), timeout=120)
            hit = index.search(question, 1)[0]
            assert hit.id == target.id and index.version == editor.version()
    finally:
        first.close()
        second.close()


# -- index rebuilds off the request path ---------------------------------------------------------
class GatedEmbedder:
    """The real embedding model; while armed, a rebuild's batch waits until the test opens the gate."""

    def __init__(self) -> None:
        self.inner = shared_embedder()
        self.dim, self.name = self.inner.dim, self.inner.name
        self.armed = False
        self.building = threading.Event()
        self.gate = threading.Event()

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        if self.armed and len(texts) > 1:  # a search embeds one query; a rebuild embeds batches
            self.building.set()
            assert self.gate.wait(300)
        return self.inner.encode(texts, kind)


QUESTION = "社区里新开的银龄茶话会在哪里报名"


def _seeded(tmp_path: Path) -> tuple[str, list[Entry]]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    entries = builtin_entries()[:20]
    KBStore(url).import_entries(entries, "seed", "test")
    return url, entries


def _with_question(entry: Entry) -> Entry:
    return dataclasses.replace(entry, questions=[QUESTION, *entry.questions])


def test_a_search_during_a_rebuild_answers_from_the_old_index_without_waiting(tmp_path: Path) -> None:
    url, entries = _seeded(tmp_path)
    embedder = GatedEmbedder()
    index = LiveIndex(KBStore(url), poll_seconds=0.01, embedder=embedder)
    threads_before = sum(t.name == "kb-index-refresh" for t in threading.enumerate())
    try:
        index.refresh(force=True)
        before = index.search(QUESTION, 1)[0]
        target = entries[3]
        assert before.id != target.id and index.refreshing_in_background
        embedder.armed = True
        editor = KBStore(url)
        editor.edit(_with_question(target), "admin", "new question")
        assert embedder.building.wait(120), "the background refresher started rebuilding"

        answered: list[Hit] = []
        search = threading.Thread(target=lambda: answered.extend(index.search(QUESTION, 1)))
        search.start()
        search.join(120)  # only a deadlock guard: with the gate closed a waiting search never returns
        assert not search.is_alive(), "the search waited for the rebuild"
        assert [h.id for h in answered] == [before.id] and index.version == editor.version() - 1
        for _ in range(5):
            index.search("长护险怎么申请", 3)  # more searches: still one refresher thread
        assert sum(t.name == "kb-index-refresh" for t in threading.enumerate()) == threads_before + 1

        embedder.gate.set()
        assert index.wait_for_version(editor.version(), timeout=120)
        assert index.search(QUESTION, 1)[0].id == target.id
        snapshot = index.snapshot()
        assert snapshot.entries[target.id].questions[0] == QUESTION and snapshot.version == editor.version()
    finally:
        embedder.gate.set()
        index.close()
    assert not index.refreshing_in_background


def test_the_refresher_embeds_with_an_engine_of_its_own_giving_the_same_vectors(tmp_path: Path) -> None:
    """So a search's query never queues on the shared embedder's lock behind a rebuild's texts."""
    url, entries = _seeded(tmp_path)
    index = LiveIndex(KBStore(url), poll_seconds=0.01)
    try:
        index.refresh(force=True)
        index.search(QUESTION, 1)
        editor = KBStore(url)
        editor.edit(_with_question(entries[5]), "admin", "new question")
        assert index.wait_for_version(editor.version(), timeout=120)
        own = index._embedder._own
        assert own is not None and own is not shared_embedder(), "the rebuild did not use the searches' embedder"
        texts = [QUESTION, "长护险怎么申请"]
        assert np.array_equal(own.encode(texts, "query"), shared_embedder().encode(texts, "query"))
        assert index.search(QUESTION, 1)[0].id == entries[5].id
    finally:
        index.close()


class FlakyStore:
    """A KB store whose database can be made unreachable (the edge of the world: an outage)."""

    def __init__(self, url: str) -> None:
        self.inner = KBStore(url)
        self.down = threading.Event()
        self.failed = threading.Semaphore(0)

    def _check(self) -> None:
        if self.down.is_set():
            self.failed.release()
            raise sa.exc.OperationalError("SELECT version", {}, ConnectionError("database unreachable"))

    def version(self) -> int:
        self._check()
        return self.inner.version()

    def snapshot(self) -> tuple[int, list[Entry]]:
        self._check()
        return self.inner.snapshot()


def test_the_refresher_outlives_a_database_outage_and_searches_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, entries = _seeded(tmp_path)
    store = FlakyStore(url)
    index = LiveIndex(store, poll_seconds=0.01)
    try:
        index.refresh(force=True)
        before = index.search(QUESTION, 1)[0]
        store.down.set()
        for _ in range(3):
            assert store.failed.acquire(timeout=120), "the refresher keeps polling"
        assert index.search(QUESTION, 1)[0].id == before.id, "answered from the index it has, no database needed"
        assert index.refreshing_in_background
        assert [r.message for r in caplog.records if "refresh failed" in r.message] == [
            f"KB index refresh failed (OperationalError); answering from version {index.version} until it works"
        ], "logged once, not at every poll"
        KBStore(url).edit(_with_question(entries[5]), "admin", "during the outage")
        store.down.clear()
        assert index.wait_for_version(index.version + 1, timeout=120)
        assert index.search(QUESTION, 1)[0].id == entries[5].id
    finally:
        index.close()


def test_a_closed_index_keeps_answering_but_stops_following(tmp_path: Path) -> None:
    url, entries = _seeded(tmp_path)
    index = LiveIndex(KBStore(url), poll_seconds=0.01)
    index.refresh(force=True)
    index.search(QUESTION, 1)
    index.close()
    assert not index.refreshing_in_background
    KBStore(url).edit(_with_question(entries[5]), "admin", "after close")
    assert not index.wait_for_version(index.version + 1, timeout=0.5)
    assert index.search(QUESTION, 1) and not index.refreshing_in_background, "a search does not restart it"


# -- retrieval.yml ---------------------------------------------------------------------------------
def _config(tmp_path: Path, **changes: object) -> Path:
    data = {**yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8")), **changes}
    path = tmp_path / "retrieval.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_retrieval_config_loads() -> None:
    settings = Settings.load()
    assert (settings.retriever, settings.index, settings.hnsw.m, settings.hnsw.ef_search) == ("hybrid", "flat", 32, 128)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"treshold": 0.9}, "unknown key 'treshold'; the keys allowed at the top level are retriever, index, "),
        (
            {"hnsw": {"m": 16, "eff_search": 64}},
            "unknown key 'hnsw.eff_search'; the keys allowed at hnsw are m, ef_search",
        ),
        ({"threshold": "high"}, "threshold must be float, not 'high'"),
        ({"threads": True}, "threads must be int, not True"),
        ({"hnsw": 5}, "hnsw must be a mapping of settings, not int"),
        ({"sparse_weight": -0.1}, "sparse_weight must be at least 0"),
        ({"retriever": "magic"}, "retriever 'magic' is unknown; use one of bm25, dense, hybrid"),
    ],
)
def test_config_typos_are_errors_naming_key_and_file(tmp_path: Path, changes: dict[str, object], expected: str) -> None:
    path = _config(tmp_path, **changes)
    with pytest.raises(RetrievalConfigError) as caught:
        Settings.load(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value), str(caught.value)


def test_hnsw_settings_reach_the_faiss_index(tmp_path: Path) -> None:
    settings = Settings.load(_config(tmp_path, index="hnsw", hnsw={"m": 8, "ef_search": 17}))
    retriever = make_retriever(settings, "dense")
    retriever.build([Doc.from_entry(e) for e in builtin_entries()[:5]])
    assert retriever._index.hnsw.efSearch == 17 and retriever._index.hnsw.nb_neighbors(1) == 8
