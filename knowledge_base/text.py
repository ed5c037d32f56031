"""Query and document text for retrieval: the NLU's normalization, then jieba words.

jieba loads the project's domain dictionary (``training_data/jieba/``), the same files the
Rasa pipeline's JiebaTokenizer reads, so 长护险 or 顾村镇 stay one word on both sides.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import jieba

from textnorm import normalize

JIEBA_DICT_DIR = Path(__file__).resolve().parent.parent / "training_data" / "jieba"

# Words too common to tell entries apart; punctuation and spaces are dropped anyway.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 我 你 他 她 我们 你们 他们 要 想 有 在 和 跟 就 都 也 还 又 个 这 那 些 "
    "一下 什么 怎么 怎么样 哪里 哪儿 请问 问问 问 一 能 会 可以 不 没 没有 给 帮 帮我 请 到 去 做 过 着 得 地 老 人".split()
)

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    with _lock:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for path in sorted(JIEBA_DICT_DIR.glob("*")):
            if path.is_file():
                with path.open("rb") as words:  # jieba leaves a file it opens itself unclosed
                    tokenizer.load_userdict(words)
        return tokenizer


def tokens(text: str) -> list[str]:
    """Normalized jieba words without stopwords and punctuation."""
    words = _tokenizer().lcut(normalize(text))
    return [w for w in (w.strip() for w in words) if w and w not in STOPWORDS and any(c.isalnum() for c in w)]


# Below this many texts one process is faster than starting workers (each loads jieba, ~1.5 s).
PARALLEL_MIN_TEXTS = 5_000


def _tokens_chunk(texts: Sequence[str]) -> list[list[str]]:
    return [tokens(text) for text in texts]


def tokens_many(
    texts: Sequence[str], processes: int | None = None, min_parallel: int = PARALLEL_MIN_TEXTS
) -> list[list[str]]:
    """``tokens`` of every text, in order; a large batch is split over one process per usable core.

    Workers are spawned, not forked: the action server has threads, and a fork copies locks
    held by other threads.
    """
    workers = min(processes or len(os.sched_getaffinity(0)), max(len(texts) // max(min_parallel // 2, 1), 1))
    if workers < 2 or len(texts) < min_parallel:
        return _tokens_chunk(texts)
    size = -(-len(texts) // workers)
    chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [words for chunk in pool.map(_tokens_chunk, chunks) for words in chunk]
