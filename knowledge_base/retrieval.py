"""Retrievers: dense (E5 + faiss), sparse (BM25 over jieba words) and their fusion.

A retriever is anything that fits the :class:`Retriever` protocol (``build`` over documents,
``search`` for ranked hits). Each registers itself by name (``@register("bm25")``);
``knowledge_base/retrieval.yml`` chooses the one the bot and the evaluation use, so a new
retriever is a new class with the decorator, not an edit here. Every registered retriever
passes one contract suite (``tests/app/test_retriever_contract.py``). A document is anything
with an id, texts to embed and words to count, so the same code serves the product KB and
the evaluation's TSV files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, get_type_hints
from zoneinfo import ZoneInfo

import bm25s
import faiss
import numpy as np
import yaml

from common.errors import ConfigError
from knowledge_base.embedding import E5Embedder, Embedder, shared_embedder
from knowledge_base.schema import Entry, KnowledgeBaseError
from knowledge_base.text import tokens, tokens_many
from textnorm import normalize

logger = logging.getLogger(__name__)

CONFIG_PATH = Path(__file__).resolve().parent / "retrieval.yml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class RetrievalConfigError(KnowledgeBaseError, ConfigError):
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


@dataclass(frozen=True)
class HnswSettings:
    """faiss ``IndexHNSWFlat``: graph degree and search breadth (used when ``index: hnsw``)."""

    m: int = 32
    ef_search: int = 128


@dataclass
class Settings:
    retriever: str = "hybrid"
    index: str = "flat"  # or "hnsw": approximate, for large KBs
    sparse_weight: float = 0.08
    sparse_saturation: float = 6.0
    threshold: float = 0.94
    threads: int = 1
    hnsw: HnswSettings = field(default_factory=HnswSettings)

    @classmethod
    def load(cls, path: Path = CONFIG_PATH) -> Settings:
        """Read ``retrieval.yml``: an unknown key (at any level) or a value of the wrong type
        is an error naming the key and the file, never silently dropped."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise RetrievalConfigError(f"cannot read {path}: {err}") from err
        settings: Settings = _from_mapping(cls, {} if data is None else data, path, "")
        if settings.retriever not in RETRIEVERS:
            raise RetrievalConfigError(
                f"{path}: retriever {settings.retriever!r} is unknown; use one of {', '.join(sorted(RETRIEVERS))}"
            )
        if settings.index not in ("flat", "hnsw"):
            raise RetrievalConfigError(f"{path}: index must be 'flat' or 'hnsw', not {settings.index!r}")
        for name, ok, rule in (
            ("sparse_weight", settings.sparse_weight >= 0, "at least 0"),
            ("sparse_saturation", settings.sparse_saturation > 0, "more than 0"),
            ("threshold", -1 <= settings.threshold <= 2, "between -1 and 2"),
            ("threads", settings.threads >= 1, "at least 1"),
            ("hnsw.m", 2 <= settings.hnsw.m <= 512, "between 2 and 512"),
            ("hnsw.ef_search", settings.hnsw.ef_search >= 1, "at least 1"),
        ):
            if not ok:
                raise RetrievalConfigError(f"{path}: {name} must be {rule}")
        return settings


_SCALAR_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float)}


def _from_mapping(cls: Any, data: Any, path: Path, prefix: str) -> Any:
    """Build the dataclass ``cls`` from a mapping, checking every key and value type."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise RetrievalConfigError(f"{path}: {where} must be a mapping of settings, not {type(data).__name__}")
    hints = get_type_hints(cls)
    allowed = list(cls.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in allowed:
            raise RetrievalConfigError(
                f"{path}: unknown key {name!r}; the keys allowed at {where} are {', '.join(allowed)}"
            )
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = _from_mapping(kind, value, path, f"{name}.")
            continue
        expected = _SCALAR_KINDS[kind.__name__]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise RetrievalConfigError(f"{path}: {name} must be {kind.__name__}, not {value!r}")
        values[key] = value
    return cls(**values)


class Retriever(Protocol):
    """What the live index, the evaluation and the bench need of a retriever.

    - ``build(docs)`` replaces whatever was indexed before (a rebuild after an edit is a
      new ``build``); building nothing is allowed, and so is searching before any build
      (no hits).
    - ``search`` returns at most ``top_k`` hits, best first (scores never increase), each
      id at most once and only ids of the last build; ``collection``/``street`` keep only
      documents with that value. An empty or unmatched query gives fewer hits or none,
      never an error.
    - ``use_token_memo`` lets a retriever that counts words reuse them across rebuilds;
      others ignore it.
    """

    def build(self, docs: Sequence[Doc]) -> None: ...

    def search(
        self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None
    ) -> list[Hit]: ...

    def use_token_memo(self, memo: dict[str, list[str]]) -> None: ...


RetrieverFactory = Callable[[Settings, Embedder | None], Retriever]
RETRIEVERS: dict[str, RetrieverFactory] = {}
_Factory = TypeVar("_Factory", bound=RetrieverFactory)


def register(name: str) -> Callable[[_Factory], _Factory]:
    """Class decorator: make a retriever available under ``name`` in ``retrieval.yml``."""

    def add(factory: _Factory) -> _Factory:
        if name in RETRIEVERS and RETRIEVERS[name] is not factory:
            raise RetrievalConfigError(f"two retrievers are registered as {name!r}; give one another name")
        RETRIEVERS[name] = factory
        return factory

    return add


def _mask(docs: Sequence[Doc], collection: str | None, street: str | None) -> np.ndarray | None:
    if collection is None and street is None:
        return None
    return np.array(
        [(collection is None or d.collection == collection) and (street is None or d.street == street) for d in docs]
    )


@register("dense")
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
            index = faiss.IndexHNSWFlat(self._embedder.dim, self._settings.hnsw.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = self._settings.hnsw.ef_search
        else:
            index = faiss.IndexFlatIP(self._embedder.dim)
        if len(vectors):
            index.add(vectors)
        self._docs, self._owner, self._index = list(docs), np.array(owners + owners_p, dtype=np.int64), index

    @property
    def docs(self) -> tuple[Doc, ...]:
        """The documents of the last build, in the order they were given."""
        return tuple(self._docs)

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


@register("bm25")
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

    @property
    def docs(self) -> tuple[Doc, ...]:
        """The documents of the last build, in the order they were given."""
        return tuple(self._docs)

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


@register("hybrid")
class HybridRetriever:
    """Dense cosine plus a saturated BM25 bonus: ``dense + w · b / (b + s)``.

    The dense part carries the absolute confidence (a cosine); BM25 breaks ties towards
    entries that share the query's rare words (names of services, streets, brands).
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        *,
        parts: tuple[DenseRetriever, BM25Retriever] | None = None,
    ) -> None:
        self._settings = settings
        if parts is None:
            self._dense, self._sparse = DenseRetriever(settings, embedder), BM25Retriever(settings)
            self._docs: list[Doc] = []
        else:
            self._dense, self._sparse = parts
            self._docs = list(self._dense.docs)

    @classmethod
    def from_parts(cls, settings: Settings, dense: DenseRetriever, sparse: BM25Retriever) -> HybridRetriever:
        """A hybrid over a dense and a BM25 retriever already built over the same documents.

        The bench builds BM25 once per corpus size and pairs it with a flat and an HNSW dense index.
        """
        if [d.id for d in dense.docs] != [d.id for d in sparse.docs]:
            raise ValueError("the dense and BM25 parts were built over different documents")
        return cls(settings, parts=(dense, sparse))

    @property
    def docs(self) -> tuple[Doc, ...]:
        """The documents of the last build, in the order they were given."""
        return tuple(self._docs)

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


def make_retriever(
    settings: Settings,
    name: str | None = None,
    embedder: Embedder | None = None,
    token_memo: dict[str, list[str]] | None = None,
) -> Retriever:
    """The retriever registered as ``name`` (default: the one ``retrieval.yml`` chooses)."""
    chosen = name or settings.retriever
    if chosen not in RETRIEVERS:
        raise RetrievalConfigError(f"retriever {chosen!r} is unknown; use one of {', '.join(sorted(RETRIEVERS))}")
    retriever = RETRIEVERS[chosen](settings, embedder)
    if token_memo is not None:
        retriever.use_token_memo(token_memo)
    return retriever


@dataclass(frozen=True)
class IndexSnapshot:
    """One built index and the entries it was built from, at one KB version."""

    version: int
    entries: dict[str, Entry]  # never changed once built: a new version gets a new dict
    retriever: Retriever | None
    day: dt.date | None = None  # the entries are those valid on this day (effective dates)


class _RoutingEmbedder:
    """What a live index's retrievers embed with: the process's embedder for searches, and an
    engine of its own for the background refresher thread.

    The embedder holds its lock for a whole call, and a large edit brings hundreds of new
    texts (800 question variants took minutes on a busy machine): a search's one query must
    never queue behind them. The refresher's engine runs the same model with the same
    on-disk cache (the vectors are identical) and costs about 9 MB; it is loaded at the
    first background rebuild. An embedder given explicitly (tests, tools) serves both.
    """

    dim: int  # read through __getattr__, so that a BM25-only index never loads the model
    name: str

    def __init__(self, settings: Settings, given: Embedder | None) -> None:
        self._settings, self.given = settings, given
        self._own: Embedder | None = None
        self.refresher: threading.Thread | None = None

    def _for_this_thread(self) -> Embedder:
        if self.given is not None:
            return self.given
        if threading.current_thread() is self.refresher:
            if self._own is None:
                self._own = E5Embedder(threads=self._settings.threads)
            return self._own
        return shared_embedder(self._settings.threads)

    def __getattr__(self, attribute: str) -> Any:
        if attribute in ("dim", "name"):
            return getattr(self._for_this_thread(), attribute)
        raise AttributeError(attribute)

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        return self._for_this_thread().encode(texts, kind)


def _shanghai_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


class LiveIndex:
    """The configured retriever over a KB store, rebuilt off the request path when the store's version moves.

    A background thread (started by the first search, or by ``start``; the action server
    holds one LiveIndex, so one thread per process) asks the store for its version every
    ``poll_seconds`` (one tiny query) and, when it moved, builds a new index from a
    snapshot of the store. The new index and its entries replace the old ones in one
    assignment, so a search uses the old index or the new one, whole, and never waits for
    a rebuild or queries the database; the refresher embeds with an engine of its own, so
    a search's query never queues behind a rebuild's texts either. Embeddings of unchanged
    texts come from the embedder's cache and their BM25 words from a memo, so a rebuild
    costs one embedding and one tokenization per changed text.

    ``refresh`` rebuilds in the caller's thread (start-up, the CLI's ``reindex``).

    Effective dates: only entries valid today (Asia/Shanghai, ``Entry.valid_on``) are indexed, and
    the index is rebuilt when the day changes, so a policy entry valid from 1 January answers from
    that morning on and the one valid until 31 December stops, without anyone editing anything.
    """

    MIN_POLL_SECONDS = 0.01

    def __init__(
        self,
        store: Any,
        settings: Settings | None = None,
        poll_seconds: float = 0.2,
        embedder: Embedder | None = None,
        background: bool = True,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self._store = store
        self._today = today or _shanghai_today
        self.settings = settings or Settings.load()
        self._poll = max(poll_seconds, self.MIN_POLL_SECONDS)
        self._embedder = _RoutingEmbedder(self.settings, embedder)
        self._background = background
        self._snapshot = IndexSnapshot(-1, {}, None)
        self._token_memo: dict[str, list[str]] = {}  # document text -> BM25 words, for rebuilds
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        self._failing = False
        self._init_locks()

    def _init_locks(self) -> None:
        # Also after a fork: a lock held by a thread of the parent would never be released.
        self._pid = os.getpid()
        self._build_lock = threading.Lock()  # one rebuild at a time
        self._start_lock = threading.Lock()
        self._swapped = threading.Condition()

    # -- what a search reads --------------------------------------------------------------
    def snapshot(self) -> IndexSnapshot:
        """The current index with its entries and version, consistent with each other."""
        return self._snapshot

    @property
    def version(self) -> int:
        return self._snapshot.version

    @property
    def entries(self) -> dict[str, Entry]:
        return self._snapshot.entries

    def search(self, query: str, top_k: int = 5, collection: str | None = None, street: str | None = None) -> list[Hit]:
        snapshot = self._snapshot  # one read: a swap meanwhile does not mix two indexes
        if snapshot.retriever is None:
            self.refresh()  # nothing to answer from yet (no build at start-up): build once, here
            snapshot = self._snapshot
        self._ensure_watcher()
        assert snapshot.retriever is not None
        return snapshot.retriever.search(query, top_k, collection, street)

    # -- rebuilding -----------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Rebuild now, in this thread, if the store has a new version (always with ``force``);
        True when a new index was swapped in."""
        if self._pid != os.getpid():
            self._init_locks()
        with self._build_lock:
            today = self._today()
            if not force and self._store.version() == self._snapshot.version and today == self._snapshot.day:
                return False
            version, stored = self._store.snapshot()
            entries = [e for e in stored if e.valid_on(today)]
            retriever = make_retriever(self.settings, embedder=self._embedder, token_memo=self._token_memo)
            retriever.build([Doc.from_entry(e) for e in entries])
            fresh = IndexSnapshot(version, {e.id: e for e in entries}, retriever, today)
            with self._swapped:
                self._snapshot = fresh
                self._swapped.notify_all()
            return True

    def wait_for_version(self, version: int, timeout: float) -> bool:
        """Wait until the index is at ``version`` or later (tests and tools, never a request)."""
        with self._swapped:
            return self._swapped.wait_for(lambda: self._snapshot.version >= version, timeout)

    def start(self) -> None:
        """Start the background refresher (idempotent; a forked child starts its own)."""
        if self._pid != os.getpid():
            self._init_locks()
            self._watcher = None
            # The refresher's own engine (and its cache connection) belong to the parent.
            self._embedder = _RoutingEmbedder(self.settings, self._embedder.given)
        with self._start_lock:
            if self._closed.is_set() or (self._watcher is not None and self._watcher.is_alive()):
                return
            self._watcher = threading.Thread(target=self._watch, name="kb-index-refresh", daemon=True)
            self._embedder.refresher = self._watcher
            self._watcher.start()

    def close(self) -> None:
        """Stop the background refresher; searches go on with the last index."""
        self._closed.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join()

    @property
    def refreshing_in_background(self) -> bool:
        watcher = self._watcher
        return watcher is not None and watcher.is_alive() and self._pid == os.getpid()

    def _ensure_watcher(self) -> None:
        if self._background and not self.refreshing_in_background and not self._closed.is_set():
            self.start()

    def _watch(self) -> None:
        while not self._closed.wait(self._poll):
            try:
                self.refresh()
            except Exception as err:  # a database outage or a bad row must not end the refresher
                if not self._failing:
                    logger.warning(
                        "KB index refresh failed (%s); answering from version %d until it works",
                        type(err).__name__,
                        self.version,
                    )
                    logger.debug("KB index refresh failure", exc_info=True)
                self._failing = True
            else:
                if self._failing:
                    logger.info("KB index refresh works again (version %d)", self.version)
                self._failing = False
