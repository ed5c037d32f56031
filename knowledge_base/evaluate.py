"""Retrieval evaluation: the configured retriever, BM25 alone and dense alone, side by side.

    python -m knowledge_base eval --entries ENTRIES.tsv --queries QUERIES.tsv [--json]
    python -m knowledge_base eval            # the built-in KB and its held-out queries

ENTRIES.tsv has a header ``id<TAB>text`` (optional third column ``title``); QUERIES.tsv
has ``query<TAB>gold_id``. A temporary index is built; the product KB is never touched.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import Refusal
from knowledge_base.files import builtin_entries
from knowledge_base.retrieval import Doc, Settings, make_retriever
from knowledge_base.schema import KnowledgeBaseError
from textnorm import normalize

HELDOUT = Path(__file__).resolve().parent / "eval" / "heldout.tsv"
COMPARED = ("configured", "bm25", "dense")


class EvalInputError(KnowledgeBaseError, Refusal, ValueError):
    pass


@dataclass(frozen=True)
class Query:
    text: str
    gold: str


def _read_tsv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise EvalInputError(f"{path}: header must have {', '.join(required)}; missing {', '.join(missing)}")
            rows = []
            for number, row in enumerate(reader, start=2):
                clean = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
                empty = [c for c in required if not clean.get(c)]
                if empty:
                    raise EvalInputError(f"{path}, line {number}: empty {', '.join(empty)}")
                rows.append(clean)
            return rows
    except FileNotFoundError as err:
        raise EvalInputError(f"{path}: no such file") from err
    except OSError as err:
        raise EvalInputError(f"cannot read {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise EvalInputError(f"{path}: not UTF-8 text (save it as UTF-8)") from err


def docs_from_tsv(path: Path) -> list[Doc]:
    docs, seen = [], set()
    for row in _read_tsv(path, ("id", "text")):
        if row["id"] in seen:
            raise EvalInputError(f"{path}: id {row['id']!r} appears twice")
        seen.add(row["id"])
        title = row.get("title", "")
        docs.append(
            Doc(
                id=row["id"],
                questions=(normalize(title),) if title else (),
                passages=(normalize(row["text"]),),
                words=f"{title}\n{title}\n{row['text']}" if title else row["text"],
            )
        )
    return docs


def queries_from_tsv(path: Path, known: set[str]) -> list[Query]:
    queries = []
    for number, row in enumerate(_read_tsv(path, ("query", "gold_id")), start=2):
        if row["gold_id"] not in known:
            raise EvalInputError(f"{path}, line {number}: gold_id {row['gold_id']!r} is not an entry id")
        queries.append(Query(row["query"], row["gold_id"]))
    return queries


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def score(retriever: Any, queries: list[Query]) -> dict[str, float]:
    top1 = top5 = 0
    reciprocal = 0.0
    latencies = []
    for query in queries:
        start = time.perf_counter()
        hits = retriever.search(query.text, top_k=10)
        latencies.append((time.perf_counter() - start) * 1000)
        ids = [h.id for h in hits]
        if ids[:1] == [query.gold]:
            top1 += 1
        if query.gold in ids[:5]:
            top5 += 1
        if query.gold in ids:
            reciprocal += 1 / (ids.index(query.gold) + 1)
    n = len(queries)
    return {
        "top1": round(top1 / n, 4),
        "top5": round(top5 / n, 4),
        "mrr10": round(reciprocal / n, 4),
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p95_ms": round(_percentile(latencies, 95), 2),
    }


def evaluate(docs: list[Doc], queries: list[Query], settings: Settings | None = None) -> dict[str, Any]:
    if not docs or not queries:
        raise EvalInputError("need at least one entry and one query")
    settings = settings or Settings.load()
    results: dict[str, Any] = {}
    for label in COMPARED:
        retriever = make_retriever(settings, None if label == "configured" else label)
        retriever.build(docs)
        retriever.search(queries[0].text, top_k=10)  # warm-up, not timed
        results[label] = score(retriever, queries)
    return {"n_entries": len(docs), "n_queries": len(queries), "retrievers": results}


def builtin_set() -> tuple[list[Doc], list[Query]]:
    entries = builtin_entries()
    docs = [Doc.from_entry(e) for e in entries]
    return docs, queries_from_tsv(HELDOUT, {d.id for d in docs})


def render(report: dict[str, Any], configured: str) -> str:
    lines = [
        f"entries: {report['n_entries']}   queries: {report['n_queries']}",
        f"{'retriever':<22}{'top-1':>8}{'top-5':>8}{'MRR@10':>8}{'p50 ms':>9}{'p95 ms':>9}",
    ]
    for label, m in report["retrievers"].items():
        name = f"configured ({configured})" if label == "configured" else label
        lines.append(
            f"{name:<22}{m['top1']:>8.3f}{m['top5']:>8.3f}{m['mrr10']:>8.3f}{m['p50_ms']:>9.1f}{m['p95_ms']:>9.1f}"
        )
    return "\n".join(lines)


def main(entries: str | None, queries: str | None, as_json: bool) -> int:
    try:
        if (entries is None) != (queries is None):
            raise EvalInputError("give both --entries and --queries, or neither (the built-in set)")
        if entries is not None and queries is not None:
            docs = docs_from_tsv(Path(entries))
            query_list = queries_from_tsv(Path(queries), {d.id for d in docs})
        else:
            docs, query_list = builtin_set()
        settings = Settings.load()
        report = evaluate(docs, query_list, settings)
    except KnowledgeBaseError as err:
        print(f"knowledge_base: eval: {err}", file=sys.stderr)
        return 2
    print(render(report, settings.retriever))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    return 0
