"""Retrievers: dense (E5 + faiss), sparse (BM25 over jieba words) and their fusion.

Retrievers register by name; ``knowledge_base/retrieval.yml`` chooses the one the bot and
the evaluation use. A document is anything with an id, texts to embed and words to count,
so the same code serves the product KB and the evaluation's TSV files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np
import yaml

from knowledge_base.embedding import Embedder, shared_embedder
from knowledge_base.schema import Entry, KnowledgeBaseError
from knowledge_base.text import tokens, tokens_many
from textnorm import normalize

CONFIG_PATH = Path(__file__).resolve().parent / "retrieval.yml"


class RetrievalConfigError(KnowledgeBaseError, ValueError):
    pass


@dataclass(frozen=True)
class Doc:
    """What a retriever indexes."""

    id: str
    questions: tuple[str, ...]  # short, query-like texts (title, question variants)
    passages: tuple[str, ...]  # longer texts (the answer)
    words: str  # everything BM25 counts
    collection: str | None = None
    street: str | None = None

    @classmethod
    def from_entry(cls, entry: Entry) -> Doc:
        return cls(
            id=entry.id,
            questions=tuple(normalize(t) for t in (entry.title, *entry.questions)),
            passages=(normalize(entry.answer),),
            words=entry.document(),
            collection=entry.collection,
            street=entry.street,
        )


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    dense: float = 0.0
    sparse: float = 0.0


@dataclass
class Settings:
    retriever: str = "hybrid"
    index: str = "flat"  # or "hnsw": approximate, for large KBs
    sparse_weight: float = 0.08
    sparse_saturation: float = 6.0
    threshold: float = 0.94
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = CONFIG_PATH) -> Settings:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise RetrievalConfigError(f"cannot read {path}: {err}") from err
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__ and k != "extra"}
        settings = cls(**known, extra=data)
        if settings.retriever not in RETRIEVERS:
            raise RetrievalConfigError(
                f"{path}: retriever {settings.retriever!r} is unknown; use one of {', '.join(sorted(RETRIEVERS))}"
            )
        if settings.index not in ("flat", "hnsw"):
            raise RetrievalConfigError(f"{path}: index must be 'flat' or 'hnsw', not {settings.index!r}")
        return settings


def _mask(docs: Sequence[Doc], collection: str | None, street: str | None) -> np.ndarray | None:
    if collection is None and street is None:
        return None
    return np.array(
        [(collection is None or d.collection == collection) and (street is None or d.street == street) for d in docs]
    )


class DenseRetriever:
    """Cosine of the query to the closest of an entry's texts (faiss inner product)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self._settings = settings
        self._embedder = embedder or shared_embedder(settings.threads)
        self._docs: list[Doc] = []
        self._owner = np.zeros(0, dtype=np.int64)
        self._index: Any = None
        # The last query and its vector: the KB action searches the same text twice (all
        # entries, then one street's), and embedding is most of a query's cost.
        self._last_query: tuple[str, np.ndarray] | None = None

    def use_token_memo(self, memo: dict[str, list[str]]) -> None:
        """Dense retrieval counts no words (embeddings have their own cache)."""

    def build(self, docs: Sequence[Doc]) -> None:
        owners: list[int] = []
        texts_q: list[str] = []
        texts_p: list[str] = []
        owners_p: list[int] = []
        for i, doc in enumerate(docs):
            texts_q.extend(doc.questions)
            owners.extend([i] * len(doc.questions))
            texts_p.extend(doc.passages)
            owners_p.extend([i] * len(doc.passages))
        vectors = np.vstack(
            [
                self._embedder.encode(texts_q, "query"),
                self._embedder.encode(texts_p, "passage"),
            ]
        ).astype(np.float32)
        index: Any
        if self._settings.index == "hnsw":
            index = faiss.IndexHNSWFlat(self._embedder.dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(self._embedder.dim)
        if len(vectors):
            index.add(vectors)
        self._docs, self._owner, self._index = list(docs), np.array(owners + owners_p, dtype=np.int64), index

    def _query_vector(self, text: str) -> np.ndarray:
        last = self._last_query  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == text:
            return last[1]
        vector = self._embedder.encode([text], "query")
        self._last_query = (text, vector)
        return vector

    def scores(self, query: str, mask: np.ndarray | None, depth: int) -> dict[int, float]:
        """Best cosine per document for the ``depth`` nearest texts (all texts if filtered)."""
        if self._index is None or self._index.ntotal == 0:
            return {}
        vector = self._query_vector(normalize(query))
        k = self._index.ntotal if mask is not None or self._index.ntotal <= 2000 else min(self._index.ntotal, depth)
        sims, rows = self._index.search(vector, k)
        best: dict[int, float] = {}
        for sim, row in zip(sims[0], rows[0]):
            if row < 0:
                continue
            owner = int(self._owner[row])
            if mask is not None and not mask[owner]:
                continue
            if sim > best.get(owner, -1.0):
                best[owner] = float(sim)
        return best

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        best = self.scores(query, _mask(self._docs, collection, street), depth=top_k * 20)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:top_k]
        return [Hit(self._docs[i].id, s, dense=s) for i, s in ranked]


class BM25Retriever:
    """BM25 (bm25s) over normalized jieba words with the domain dictionary."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self._settings = settings
        self._docs: list[Doc] = []
        self._bm25: bm25s.BM25 | None = None
        self._memo: dict[str, list[str]] | None = None

    def use_token_memo(self, memo: dict[str, list[str]]) -> None:
        """Reuse the words of unchanged documents across rebuilds (the live index's); kept to the last build's texts."""
        self._memo = memo

    def _corpus_words(self, texts: list[str]) -> list[list[str]]:
        if self._memo is None:
            return tokens_many(texts)
        memo = self._memo
        missing = list(dict.fromkeys(t for t in texts if t not in memo))
        fresh = dict(zip(missing, tokens_many(missing)))
        words = [memo[t] if t in memo else fresh[t] for t in texts]
        memo.clear()
        memo.update(zip(texts, words))
        return words

    def build(self, docs: Sequence[Doc]) -> None:
        corpus = [words or ["<empty>"] for words in self._corpus_words([d.words for d in docs])]
        bm25 = bm25s.BM25()
        if corpus:
            bm25.index(corpus, show_progress=False)
        self._docs, self._bm25 = list(docs), bm25 if corpus else None

    def scores(self, query: str, mask: np.ndarray | None) -> np.ndarray:
        if self._bm25 is None:
            return np.zeros(0)
        words = [w for w in tokens(query) if w in self._bm25.vocab_dict]
        if not words:
            return np.zeros(len(self._docs))
        scores = np.asarray(self._bm25.get_scores(words), dtype=np.float64)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        return scores

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        scores = self.scores(query, _mask(self._docs, collection, street))
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [Hit(self._docs[i].id, float(scores[i]), sparse=float(scores[i])) for i in order if scores[i] > 0]


class HybridRetriever:
    """Dense cosine plus a saturated BM25 bonus: ``dense + w · b / (b + s)``.

    The dense part carries the absolute confidence (a cosine); BM25 breaks ties towards
    entries that share the query's rare words (names of services, streets, brands).
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self._settings = settings
        self._dense = DenseRetriever(settings, embedder)
        self._sparse = BM25Retriever(settings)
        self._docs: list[Doc] = []

    def use_token_memo(self, memo: dict[str, list[str]]) -> None:
        self._sparse.use_token_memo(memo)

    def build(self, docs: Sequence[Doc]) -> None:
        self._dense.build(docs)
        self._sparse.build(docs)
        self._docs = list(docs)

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        mask = _mask(self._docs, collection, street)
        dense = self._dense.scores(query, mask, depth=max(top_k * 20, 100))
        sparse = self._sparse.scores(query, mask)
        candidates = set(dense) | {int(i) for i in np.argsort(-sparse)[: max(top_k * 4, 20)] if sparse[i] > 0}
        w, s = self._settings.sparse_weight, self._settings.sparse_saturation
        hits = []
        for i in candidates:
            b = float(sparse[i]) if len(sparse) else 0.0
            d = dense.get(i, 0.0)
            hits.append(Hit(self._docs[i].id, d + w * b / (b + s), dense=d, sparse=b))
        hits.sort(key=lambda h: -h.score)
        return hits[:top_k]


Retriever = DenseRetriever | BM25Retriever | HybridRetriever
RETRIEVERS: dict[str, Callable[[Settings, Embedder | None], Retriever]] = {
    "dense": DenseRetriever,
    "bm25": BM25Retriever,
    "hybrid": HybridRetriever,
}


def make_retriever(
    settings: Settings,
    name: str | None = None,
    embedder: Embedder | None = None,
    token_memo: dict[str, list[str]] | None = None,
) -> Retriever:
    retriever = RETRIEVERS[name or settings.retriever](settings, embedder)
    if token_memo is not None:
        retriever.use_token_memo(token_memo)
    return retriever


class LiveIndex:
    """The configured retriever over a KB store, rebuilt when the store's version moves.

    ``search`` first asks the store for its version (one small query, at most every
    ``poll_seconds``); a new version rebuilds the index from the store. Embeddings of
    unchanged texts come from the embedder's cache and their BM25 words from a memo, so a
    rebuild costs one embedding and one tokenization per changed text.
    """

    def __init__(self, store: Any, settings: Settings | None = None, poll_seconds: float = 0.2) -> None:
        import time

        self._clock = time.monotonic
        self._store = store
        self.settings = settings or Settings.load()
        self._poll = poll_seconds
        self._lock = threading.Lock()
        self._checked = -1.0
        self.version = -1
        self.entries: dict[str, Entry] = {}
        self._retriever: Retriever | None = None
        self._token_memo: dict[str, list[str]] = {}  # document text -> BM25 words, for rebuilds

    def refresh(self, force: bool = False) -> bool:
        """Rebuild if the store has a new version; True when a rebuild happened."""
        with self._lock:
            now = self._clock()
            if not force and now - self._checked < self._poll:
                return False
            self._checked = now
            if not force and self._store.version() == self.version:
                return False
            version, entries = self._store.snapshot()
            retriever = make_retriever(self.settings, token_memo=self._token_memo)
            retriever.build([Doc.from_entry(e) for e in entries])
            self._retriever, self.version = retriever, version
            self.entries = {e.id: e for e in entries}
            return True

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        self.refresh()
        assert self._retriever is not None
        return self._retriever.search(query, top_k, collection, street)
