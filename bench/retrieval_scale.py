"""Retrieval part: quality on the built-in KB, and latency and build time at 1k–100k entries.

Quality is ``python -m knowledge_base eval --json`` (configured retriever vs BM25 vs dense on
the held-out queries), run as a subprocess and kept as it prints it.

Scale uses the project's own retrievers in process (``Settings``, ``Doc``, ``DenseRetriever``,
``BM25Retriever``, ``HybridRetriever``) over the built-in entries padded with generated ones
(:func:`pad_kb`: built-in entries recombined with random street names, a borrowed question and
a running number; deterministic for a seed). What is real and what is approximate:

- **Real:** the vectors of the built-in entries (the E5 engine), every query's embedding, the
  faiss search, the BM25 index build and scoring, the fusion: a query is timed end to end
  through ``HybridRetriever.search``. The faiss build time (flat and HNSW) is real for the
  vectors it is given.
- **Approximate:** the vectors of the *generated* entries. Embedding 100k entries × ~5.5 texts
  at ~20–30 ms per text would take hours, so a sample of generated texts is embedded for real
  (which gives the embedding throughput and the time a real re-embedding would take, reported
  as an estimate), and every generated text gets the real vector of the built-in text it was
  made from plus small Gaussian noise, renormalized. The noise is set so the mean cosine
  between a synthetic vector and its source equals the mean cosine measured between real
  embeddings of the sampled generated texts and their sources.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import random
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.proc import run_json_tool
from bench.stats import median, summarize
from knowledge_base.embedding import E5Embedder, Embedder
from knowledge_base.evaluate import HELDOUT, queries_from_tsv
from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import BM25Retriever, DenseRetriever, Doc, HybridRetriever, Settings
from knowledge_base.schema import Entry
from scripts.stack import APP_VENV, base_env

logger = logging.getLogger(__name__)

INDEX_KINDS = ("flat", "hnsw")
QUALITY_RETRIEVERS = ("configured", "bm25", "dense")
QUALITY_METRICS = ("top1", "top5", "mrr10", "p50_ms", "p95_ms")

# Parts of road names around Baoshan, combined two at a time: mostly names no real road has.
STREET_PARTS = (
    "长江 淞滨 牡丹 友爱 和平 春申 泰和 永清 宝杨 呼玛 蕴川 水产 盘古 共康 场中 聚丰 沪太 菊联 美丰 联谊 "
    "通河 三门 殷高 纪念 爱辉 真华 丰翔 锦秋 环镇 陆翔 石太 富锦 月罗 潘泾 新二 市一 双城 同济 铁力 宝林"
).split()
STREET_SUFFIXES = ("路", "街", "支路", "东路", "西路", "新村", "苑")


# -- quality ------------------------------------------------------------------------------


def run_quality(timeout: float = 1800.0) -> dict[str, Any]:
    """``python -m knowledge_base eval --json`` on the built-in KB and held-out queries."""
    result = run_json_tool(
        [str(APP_VENV / "bin" / "python"), "-m", "knowledge_base", "eval", "--json"], timeout=timeout, env=base_env()
    )
    retrievers = result.get("retrievers")
    if not isinstance(retrievers, dict):
        raise BenchError("knowledge_base eval --json: no 'retrievers' object")
    problems = []
    for name in QUALITY_RETRIEVERS:
        scores = retrievers.get(name)
        for metric in QUALITY_METRICS:
            value = scores.get(metric) if isinstance(scores, dict) else None
            if not isinstance(value, (int, float)) or value < 0:
                problems.append(f"{name}.{metric}")
    if problems:
        raise BenchError(f"knowledge_base eval --json: missing figures: {', '.join(problems)}")
    return result


# -- the padded knowledge base ------------------------------------------------------------


@dataclass
class PaddedKB:
    """Built-in docs first, then generated ones; ``sources`` maps a generated text to its origin."""

    docs: list[Doc]
    n_builtin: int
    # (kind, generated text) -> the built-in text it was made from (same kind)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)


def _street(rng: random.Random) -> str:
    first, second = rng.sample(STREET_PARTS, 2)
    return f"{first}{second}{rng.choice(STREET_SUFFIXES)}"


def pad_kb(entries: Sequence[Entry], size: int, seed: int = 20250429) -> PaddedKB:
    """``size`` docs: every built-in entry, then generated entries (deterministic for ``seed``).

    A generated entry copies a built-in entry (collection, details, fields), puts a random
    street name in front of its title, questions and answer, adds one question borrowed from
    another entry, and carries a running number in its id and title.
    """
    if size < len(entries):
        raise BenchError(f"a padded KB of {size} entries is smaller than the {len(entries)} built-in ones")
    rng = random.Random(seed)  # noqa: S311 - reproducible padding, not secrets
    builtin = [Doc.from_entry(e) for e in entries]
    docs = list(builtin)
    sources: dict[tuple[str, str], str] = {}
    for number in range(size - len(entries)):
        pick = rng.randrange(len(entries))
        donor = rng.randrange(len(entries))
        source, src_doc, donor_doc = entries[pick], builtin[pick], builtin[donor]
        donor_q = rng.randrange(len(donor_doc.questions))  # 0 is the title, then the questions
        donor_text = [entries[donor].title, *entries[donor].questions][donor_q]
        street = _street(rng)
        entry = Entry(
            id=f"pad-{number:06d}",
            collection=source.collection,
            title=f"{street}{source.title}（{number + 1}号）",
            questions=[*(f"{street}{q}" for q in source.questions), f"{street}附近，{donor_text}"],
            answer=f"{street}：{source.answer}",
            details=source.details,
            fields=dict(source.fields),
            street=street,
            sample=True,
        )
        doc = Doc.from_entry(entry)
        # Doc.from_entry normalizes text by text, so positions line up with the sources'.
        origins = [*src_doc.questions, donor_doc.questions[donor_q]]
        for text, origin in zip(doc.questions, origins):
            sources[("query", text)] = origin
        for text, origin in zip(doc.passages, src_doc.passages):
            sources[("passage", text)] = origin
        docs.append(doc)
    return PaddedKB(docs, len(entries), sources)


# -- vectors for the padded KB ------------------------------------------------------------


class PaddedEmbedder:
    """An :class:`Embedder` for a padded KB (see the module docstring).

    Built-in texts get their real vectors (embedded once, up front); generated texts get
    their source's vector plus noise, the same for the same batch (so the flat and the HNSW
    index hold identical vectors); any other text, such as a query, is embedded for real.
    """

    def __init__(
        self,
        real: Embedder,
        table: dict[str, tuple[dict[str, int], np.ndarray]],
        sources: dict[tuple[str, str], str],
        sigma: dict[str, float],
        seed: int = 20250429,
    ) -> None:
        self.dim = real.dim
        self.name = f"{real.name}+padded"
        self._real, self._table, self._sources, self._sigma, self._seed = real, table, sources, sigma, seed
        self.synth_seconds = 0.0  # time spent making vectors up, subtracted from index build times
        self.synthesized = 0

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        start = time.perf_counter()
        rows, matrix = self._table[kind]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        known_at: list[int] = []
        known_rows: list[int] = []
        synth_at: list[int] = []
        synth_rows: list[int] = []
        unknown: list[int] = []
        for i, text in enumerate(texts):
            row = rows.get(text)
            if row is not None:
                known_at.append(i)
                known_rows.append(row)
                continue
            origin = self._sources.get((kind, text))
            if origin is not None and origin in rows:
                synth_at.append(i)
                synth_rows.append(rows[origin])
            else:
                unknown.append(i)
        if known_at:
            out[known_at] = matrix[known_rows]
        if synth_at:
            rng = np.random.default_rng([self._seed, zlib.crc32(f"{kind}\0{texts[0]}".encode()), len(texts)])
            chunk = 50_000
            for offset in range(0, len(synth_at), chunk):
                at = np.asarray(synth_at[offset : offset + chunk])
                vectors = matrix[synth_rows[offset : offset + chunk]]
                vectors += rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(self._sigma[kind])
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                out[at] = vectors
            self.synthesized += len(synth_at)
        self.synth_seconds += time.perf_counter() - start
        if unknown:
            out[unknown] = self._real.encode([texts[i] for i in unknown], kind)
        return out


def sigma_for_cosine(cosine: float, dim: int) -> float:
    """Per-dimension noise that brings a unit vector to ``cosine`` with itself after renormalizing."""
    cosine = min(max(cosine, 0.05), 0.9999)
    return math.sqrt((1 / cosine**2 - 1) / dim)


def _texts_by_kind(docs: Sequence[Doc]) -> dict[str, list[str]]:
    query = list(dict.fromkeys(t for d in docs for t in d.questions))
    passage = list(dict.fromkeys(t for d in docs for t in d.passages))
    return {"query": query, "passage": passage}


def calibrate(
    padded: PaddedKB, table: dict[str, tuple[dict[str, int], np.ndarray]], sample_docs: int, threads: int
) -> dict[str, Any]:
    """Embed the texts of ``sample_docs`` generated docs for real: throughput and noise level."""
    sample = padded.docs[padded.n_builtin : padded.n_builtin + sample_docs]
    if not sample:
        raise BenchError("no generated docs to sample (the largest size is not above the built-in KB)")
    engine = E5Embedder(threads=threads, cache_path=None)  # no cache: every text is really embedded
    engine.encode(["预热"], "query")  # load, not timed
    texts = _texts_by_kind(sample)
    seconds = 0.0
    cosines: dict[str, float] = {}
    for kind, items in texts.items():
        start = time.perf_counter()
        vectors = engine.encode(items, kind)
        seconds += time.perf_counter() - start
        rows, matrix = table[kind]
        origins = matrix[[rows[padded.sources[(kind, t)]] for t in items]]
        cosines[kind] = float(np.mean(np.sum(vectors * origins, axis=1)))
    n_texts = sum(len(v) for v in texts.values())
    return {
        "sample_docs": len(sample),
        "sample_texts": n_texts,
        "seconds": round(seconds, 2),
        "texts_per_s": round(n_texts / seconds, 2),
        "ms_per_text": round(seconds * 1000 / n_texts, 2),
        "cosine_to_source": {k: round(v, 4) for k, v in cosines.items()},
        "sigma": {k: sigma_for_cosine(v, engine.dim) for k, v in cosines.items()},
    }


def embed_table(real: Embedder, docs: Sequence[Doc]) -> dict[str, tuple[dict[str, int], np.ndarray]]:
    table = {}
    for kind, items in _texts_by_kind(docs).items():
        table[kind] = ({t: i for i, t in enumerate(items)}, np.asarray(real.encode(items, kind), dtype=np.float32))
    return table


# -- scale --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleConfig:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    queries: int = 100  # held-out queries timed per size and index kind
    query_rounds: int = 2
    sample_docs: int = 120  # generated docs embedded for real (throughput, calibration)
    build_repeats: int = 3  # builds per size and index kind (median), for sizes up to repeat_max
    repeat_max: int = 10_000
    seed: int = 20250429


def _time_queries(search: Any, queries: Sequence[str], rounds: int) -> list[float]:
    for text in queries[:3]:
        search(text)  # warm-up, not timed
    timings = []
    for _ in range(rounds):
        for text in queries:
            start = time.perf_counter()
            search(text)
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def measure_size(
    docs: Sequence[Doc], embedder: PaddedEmbedder, settings: Settings, queries: Sequence[str], cfg: ScaleConfig
) -> dict[str, Any]:
    repeats = cfg.build_repeats if len(docs) <= cfg.repeat_max else 1
    n_vectors = sum(len(d.questions) + len(d.passages) for d in docs)
    row: dict[str, Any] = {"size": len(docs), "vectors": n_vectors, "build_runs": repeats, "index": {}}
    bm25_runs = []
    sparse = BM25Retriever(settings)
    for _ in range(repeats):
        sparse = BM25Retriever(settings)
        start = time.perf_counter()
        sparse.build(docs)
        bm25_runs.append(time.perf_counter() - start)
    row["bm25_build_s"] = round(median(bm25_runs), 3)
    row["bm25_query_ms"] = summarize(_time_queries(lambda q: sparse.search(q, top_k=5), queries, cfg.query_rounds))
    hybrids: dict[str, HybridRetriever] = {}
    for kind in INDEX_KINDS:
        kind_settings = dataclasses.replace(settings, index=kind)
        build_runs = []
        dense = DenseRetriever(kind_settings, embedder)
        for _ in range(repeats):
            dense = DenseRetriever(kind_settings, embedder)
            gc.collect()
            synth_before = embedder.synth_seconds
            start = time.perf_counter()
            dense.build(docs)
            build_runs.append(time.perf_counter() - start - (embedder.synth_seconds - synth_before))
        # Parts already built: BM25 is built once per size, not once per index kind.
        hybrids[kind] = HybridRetriever.from_parts(kind_settings, dense, sparse)
        row["index"][kind] = {
            "build_s": round(median(build_runs), 3),
            "build_runs_s": [round(t, 3) for t in build_runs],
        }
    # Flat and HNSW queries alternate, so both see the same load on a shared machine.
    timings: dict[str, list[float]] = {kind: [] for kind in INDEX_KINDS}
    for kind in INDEX_KINDS:
        for text in queries[:3]:
            hybrids[kind].search(text, top_k=5)  # warm-up, not timed
    top5: dict[str, list[list[str]]] = {kind: [] for kind in INDEX_KINDS}
    for round_number in range(cfg.query_rounds):
        for number, text in enumerate(queries):
            for kind in INDEX_KINDS if number % 2 == 0 else INDEX_KINDS[::-1]:
                start = time.perf_counter()
                hits = hybrids[kind].search(text, top_k=5)
                timings[kind].append((time.perf_counter() - start) * 1000)
                if round_number == 0:
                    top5[kind].append([hit.id for hit in hits])
    for kind in INDEX_KINDS:
        row["index"][kind]["query_ms"] = summarize(timings[kind])
    del hybrids, dense
    gc.collect()
    overlap = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(top5["flat"], top5["hnsw"])]
    row["index"]["hnsw"]["top5_overlap_with_flat"] = round(float(np.mean(overlap)), 4)
    return row


def run_scale(cfg: ScaleConfig) -> dict[str, Any]:
    settings = Settings.load()
    entries = builtin_entries()
    logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba sets DEBUG on itself at import
    sizes = sorted(cfg.sizes)
    logger.info("retrieval scale: generating a padded KB of %d entries", sizes[-1])
    start = time.perf_counter()
    padded = pad_kb(entries, sizes[-1], cfg.seed)
    padding_s = time.perf_counter() - start
    real = E5Embedder(threads=settings.threads)  # the product's cached engine: built-in texts, queries
    table = embed_table(real, padded.docs[: padded.n_builtin])
    logger.info("retrieval scale: embedding a sample of generated entries for real")
    calibration = calibrate(padded, table, cfg.sample_docs, settings.threads)
    embedder = PaddedEmbedder(real, table, padded.sources, calibration["sigma"], cfg.seed)
    # Check the approximation on the sample: synthetic vectors must sit as close to their sources as real ones.
    sample = padded.docs[padded.n_builtin : padded.n_builtin + cfg.sample_docs]
    synthetic_cos = {}
    for kind, items in _texts_by_kind(sample).items():
        rows, matrix = table[kind]
        vectors = embedder.encode(items, kind)
        synthetic_cos[kind] = round(
            float(np.mean(np.sum(vectors * matrix[[rows[padded.sources[(kind, t)]] for t in items]], axis=1))), 4
        )
    calibration["synthetic_cosine_to_source"] = synthetic_cos

    heldout = [q.text for q in queries_from_tsv(HELDOUT, {d.id for d in padded.docs[: padded.n_builtin]})]
    rng = random.Random(cfg.seed)  # noqa: S311 - a reproducible choice, not secrets
    queries = rng.sample(heldout, min(cfg.queries, len(heldout)))
    embed_ms = _time_queries(lambda q: real.encode([q], "query"), queries, 1)

    measured = []
    for size in sizes:
        logger.info("retrieval scale: %d entries", size)
        row = measure_size(padded.docs[:size], embedder, settings, queries, cfg)
        row["real_embedding_estimate_s"] = round(row["vectors"] / calibration["texts_per_s"], 0)
        measured.append(row)
    return {
        "retriever": "hybrid (dense + BM25), as HybridRetriever.search, top_k=5",
        "configured": {"retriever": settings.retriever, "index": settings.index, "threads": settings.threads},
        "builtin_entries": padded.n_builtin,
        "seed": cfg.seed,
        "padding_s": round(padding_s, 1),
        "queries": len(queries),
        "query_rounds": cfg.query_rounds,
        "query_embedding_ms": summarize(embed_ms),
        "calibration": calibration,
        "sizes": measured,
        "approximation": (
            "Vectors of generated entries are the real vector of the built-in text each was made from plus "
            "Gaussian noise (renormalized) matching the cosine measured on a really embedded sample; built-in "
            "entries, queries, faiss, BM25 and fusion are real."
        ),
    }
