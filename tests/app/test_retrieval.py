"""Retrieval quality and behaviour, with the real embedding model (no mocks)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.embedding import shared_embedder
from knowledge_base.evaluate import HELDOUT, builtin_set, evaluate
from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import Doc, Settings, make_retriever
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
    from knowledge_base.retrieval import LiveIndex
    from knowledge_base.store import KBStore

    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    entries = builtin_entries()[:20]
    KBStore(url).import_entries(entries, "seed", "test")
    first, second = LiveIndex(KBStore(url), poll_seconds=0.0), LiveIndex(KBStore(url), poll_seconds=0.0)
    first.refresh(force=True)
    second.refresh(force=True)
    target = entries[3]
    question = "社区里新开的银龄茶话会在哪里报名"
    assert first.search(question, 1)[0].id != target.id
    editor = KBStore(url)
    editor.edit(dataclasses.replace(target, questions=[question, *target.questions]), "admin", "new question")
    for index in (first, second):
        hit = index.search(question, 1)[0]
        assert hit.id == target.id and index.version == editor.version()
