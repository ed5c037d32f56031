"""The benchmark harness's own pieces: load generator, percentiles, report, KB padding, NLU plumbing.

Fast (no Rasa, no embedding model): the load generator runs against a tiny HTTP server on
127.0.0.1, the NLU part against stand-in tools that print what ``bot.tools.evaluate`` prints.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bench.errors import BenchError
from bench.load import LoadConfigError, run_load
from bench.nlu import (
    Job,
    NluTools,
    covered,
    merge_nlu_files,
    merge_results,
    project_training_files,
    run_jobs,
    run_nlu,
    usable_cpus,
    validate,
)
from bench.report import render_markdown, write_plots
from bench.retrieval_scale import PaddedEmbedder, pad_kb, sigma_for_cosine
from bench.run import main as bench_main
from bench.stats import NoSamplesError, percentile, summarize
from knowledge_base.files import builtin_entries

# -- a tiny server that counts requests ----------------------------------------------------


class Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float = 0.0, fail_every: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay, self.fail_every = delay, fail_every
        self.count = 0
        self.lock = threading.Lock()
        self.bodies: list[Any] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhook"


class Handler(BaseHTTPRequestHandler):
    server: Counting
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.count += 1
            number = self.server.count
            self.server.bodies.append(body)
        time.sleep(self.server.delay)
        failing = self.server.fail_every and number % self.server.fail_every == 0
        payload = json.dumps([{"text": f"echo {body['message']}"}]).encode()
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Counting]:
    running = Counting(**getattr(request, "param", {}))
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def payload(user: int, seq: int) -> dict[str, str]:
    return {"sender": f"u{user}-{seq}", "message": f"m{seq}"}


def test_load_stops_at_the_request_bound_and_does_not_measure_warmup(server: Counting) -> None:
    stats = run_load(server.url, payload, concurrency=4, max_requests=30, max_seconds=20, warmup=5)
    assert server.count == 35
    assert (stats.sent, stats.ok, stats.errors, stats.stopped_by) == (30, 30, 0, "count")
    assert stats.latency_ms is not None and stats.latency_ms["n"] == 30
    assert stats.throughput_rps is not None and stats.throughput_rps > 0
    # Every measured request had its own (user, sequence) payload.
    senders = [b["sender"] for b in server.bodies[5:]]
    assert len(set(senders)) == 30


@pytest.mark.parametrize("server", [{"delay": 0.05}], indirect=True)
def test_load_stops_at_the_time_bound(server: Counting) -> None:
    stats = run_load(server.url, payload, concurrency=2, max_requests=100_000, max_seconds=0.6)
    assert stats.stopped_by == "time"
    # Two users, 50 ms a request, 0.6 s: about 24 requests, never the 100,000 asked for.
    assert 4 <= stats.sent <= 30 and server.count == stats.sent
    assert stats.latency_ms is not None and stats.latency_ms["p50"] >= 45


@pytest.mark.parametrize("server", [{"fail_every": 4}], indirect=True)
def test_failed_requests_are_counted_not_timed(server: Counting) -> None:
    stats = run_load(server.url, payload, concurrency=1, max_requests=20, max_seconds=20)
    assert (stats.ok, stats.errors) == (15, 5)
    assert stats.error_kinds == {"HTTP 500": 5}
    assert stats.latency_ms is not None and stats.latency_ms["n"] == 15


def test_answers_failing_the_check_are_errors_and_tags_are_counted(server: Counting) -> None:
    stats = run_load(
        server.url,
        payload,
        concurrency=2,
        max_requests=10,
        max_seconds=20,
        check=lambda body: None if body[0]["text"].endswith(("0", "2", "4", "6", "8")) else "odd",
        tag=lambda body: "echo" if body[0]["text"].startswith("echo") else "other",
    )
    assert (stats.ok, stats.errors, stats.error_kinds) == (5, 5, {"odd": 5})
    assert stats.tags == {"echo": 5}


def test_a_dead_port_gives_errors_not_figures() -> None:
    from scripts.stack import free_port

    stats = run_load(f"http://127.0.0.1:{free_port()}/x", payload, concurrency=2, max_requests=4, max_seconds=5)
    assert stats.ok == 0 and stats.errors == 4
    assert stats.latency_ms is None and stats.throughput_rps is None


@pytest.mark.parametrize("url", ["http://10.0.0.1:5005/webhook", "http://example.org/webhook"])
def test_the_load_generator_refuses_other_hosts(url: str) -> None:
    with pytest.raises(LoadConfigError, match="loopback"):
        run_load(url, payload, concurrency=1, max_requests=1, max_seconds=1)


def test_the_load_generator_refuses_unbounded_runs(server: Counting) -> None:
    with pytest.raises(LoadConfigError):
        run_load(server.url, payload, concurrency=1, max_requests=0, max_seconds=1)
    with pytest.raises(LoadConfigError):
        run_load(server.url, payload, concurrency=1, max_requests=10, max_seconds=0)


# -- percentiles --------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7.0], 99) == 7.0
    assert percentile([10, 20], 95) == pytest.approx(19.5)
    values = np.random.default_rng(1).exponential(100, 1001).tolist()
    for q in (50, 95, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_no_samples_is_an_error_not_a_zero() -> None:
    with pytest.raises(NoSamplesError):
        percentile([], 50)
    with pytest.raises(NoSamplesError):
        summarize([])
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    summary = summarize([3.0, 1.0, 2.0])
    assert (summary["n"], summary["min"], summary["p50"], summary["max"]) == (3, 1.0, 2.0, 3.0)


# -- the padded knowledge base ------------------------------------------------------------


def test_kb_padding_is_deterministic_and_keeps_the_builtin_entries_first() -> None:
    entries = builtin_entries()
    one, two = pad_kb(entries, 600, seed=7), pad_kb(entries, 600, seed=7)
    other = pad_kb(entries, 600, seed=8)
    assert one.docs == two.docs and one.sources == two.sources
    assert one.docs != other.docs
    assert len(one.docs) == 600 and one.n_builtin == len(entries)
    assert [d.id for d in one.docs[: len(entries)]] == [e.id for e in entries]
    assert len({d.id for d in one.docs}) == 600
    # Every generated text knows the built-in text it was made from.
    builtin_texts = {t for d in one.docs[: len(entries)] for t in (*d.questions, *d.passages)}
    for doc in one.docs[len(entries) :]:
        for text in doc.questions:
            assert one.sources[("query", text)] in builtin_texts
        assert one.sources[("passage", doc.passages[0])] in builtin_texts
        assert doc.street and doc.street in doc.questions[0]
    # A smaller KB is a prefix of a larger one with the same seed.
    assert pad_kb(entries, 300, seed=7).docs == one.docs[:300]
    with pytest.raises(BenchError):
        pad_kb(entries, 10)


class FakeEngine:
    """Stands in for E5 for texts that have no table vector: a fixed unit vector."""

    dim = 8
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        self.calls.append(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1
        return out


def test_padded_vectors_sit_at_the_measured_distance_from_their_source() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 64)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    engine = FakeEngine()
    engine.dim = 64
    table = {"query": ({"a": 0, "b": 1}, base), "passage": ({}, base[:0])}
    sources = {("query", f"gen{i}"): "ab"[i % 2] for i in range(2000)}
    embedder = PaddedEmbedder(engine, table, sources, {"query": sigma_for_cosine(0.95, 64)}, seed=3)
    texts = [f"gen{i}" for i in range(2000)]
    vectors = embedder.encode(texts, "query")
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    cosines = np.sum(vectors * base[[i % 2 for i in range(2000)]], axis=1)
    assert cosines.mean() == pytest.approx(0.95, abs=0.01)
    assert np.array_equal(vectors, embedder.encode(texts, "query")), "the same batch gets the same vectors"
    assert np.array_equal(embedder.encode(["a"], "query")[0], base[0]), "built-in texts keep their real vector"
    assert engine.calls == []
    embedder.encode(["a query nobody indexed"], "query")
    assert engine.calls == [["a query nobody indexed"]], "queries are embedded for real"


# -- NLU plumbing -------------------------------------------------------------------------

FAKE_EVALUATE = """
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--train"); p.add_argument("--test"); p.add_argument("--json", action="store_true")
p.add_argument("--pipelines", default="project,rasa_default")
a = p.parse_args()
if "BROKEN" in open(a.train, encoding="utf-8").read():
    print("Traceback: something went wrong", file=sys.stderr); sys.exit(1)
n = sum(1 for line in open(a.train, encoding="utf-8") if line.strip().startswith("- "))
scores = {"accuracy": 0.9, "macro_f1": 0.85, "entity_f1": None, "train_s": 12.5, "parse_p50_ms": 20.1,
          "parse_p95_ms": 30.2, "peak_rss_mb": 512.0}
names = a.pipelines.split(",")
cpus = sorted(os.sched_getaffinity(0))
if os.environ.get("TF_INTRA_OP_PARALLELISM_THREADS") == "1":
    scores["train_s"] = 100 + cpus[0]  # tells the test which core this process was pinned to
print("a table for humans")
print(json.dumps({"n_train": n, "n_test": 3, "pipelines": {name: scores for name in names}}))
"""
FAKE_CONVERT = """
import sys
fmt, source, target = sys.argv[1:]
body = "version: '3.1'\\nnlu:\\n- intent: a\\n  examples: |\\n    - x\\n"
open(target, "w", encoding="utf-8").write(body + ("# BROKEN\\n" if fmt == "xsid" else ""))
"""


def test_nlu_part_runs_the_tools_and_reports_each_dataset(tmp_path: Path) -> None:
    tools_dir = tmp_path / "tools" / "fakebot"
    tools_dir.mkdir(parents=True)
    (tools_dir / "__init__.py").write_text("")
    (tools_dir / "evaluate.py").write_text(FAKE_EVALUATE)
    (tools_dir / "convert.py").write_text(FAKE_CONVERT)
    eval_dir = tmp_path / "eval"
    (eval_dir / "smp2017").mkdir(parents=True)
    for split in ("train", "test"):
        (eval_dir / "smp2017" / f"smp2017_task1_{split}.tsv").write_text("text\tlabel\n打开qq\tapp\n")
    (eval_dir / "xsid_zh").mkdir()
    (eval_dir / "xsid_zh" / "zh.valid.conll").write_text("# text = 你好\n")
    (eval_dir / "xsid_zh" / "zh.test.conll").write_text("# text = 你好\n")
    tools = NluTools(
        python=Path(sys.executable),
        evaluate_module="fakebot.evaluate",
        convert_module="fakebot.convert",
        cwd=tmp_path / "tools",
    )
    rows = run_nlu(eval_dir, tmp_path / "work", tools, timeout=60, cpus=[0])
    assert rows["smp2017"]["status"] == "ok"
    assert set(rows["smp2017"]["result"]["pipelines"]) == {"project", "rasa_default", "char_linear", "ensemble"}, (
        "one job per pipeline, merged"
    )
    assert rows["smp2017"]["result"]["pipelines"]["project"]["entity_f1"] is None
    # xSID's stand-in converter writes a file the stand-in evaluation fails on: reported, not zeroed.
    assert rows["xsid_zh"]["status"] == "failed" and "exited with code 1" in rows["xsid_zh"]["error"]
    project = rows["project"]
    if (Path(__file__).resolve().parents[2] / "bench" / "nlu_test.yml").is_file():
        assert project["status"] == "ok" and project["result"]["n_train"] > 100
    else:
        assert project["status"] == "failed" and "nlu_test.yml is missing" in project["error"]


def _stand_in_tools(tmp_path: Path) -> NluTools:
    tools_dir = tmp_path / "tools" / "fakebot"
    tools_dir.mkdir(parents=True)
    (tools_dir / "__init__.py").write_text("")
    (tools_dir / "evaluate.py").write_text(FAKE_EVALUATE)
    return NluTools(python=Path(sys.executable), evaluate_module="fakebot.evaluate", cwd=tmp_path / "tools")


def _split(tmp_path: Path, name: str, examples: int) -> tuple[Path, Path]:
    train, test = tmp_path / f"{name}_train.yml", tmp_path / f"{name}_test.yml"
    lines = "".join(f"    - x{i}\n" for i in range(examples))
    train.write_text(f"version: '3.1'\nnlu:\n- intent: a\n  examples: |\n{lines}")
    test.write_text(train.read_text())
    return train, test


@pytest.mark.skipif(len(usable_cpus()) < 2 or shutil.which("taskset") is None, reason="needs 2 cores and taskset")
def test_a_datasets_pipelines_run_side_by_side_each_pinned_to_its_own_core(tmp_path: Path) -> None:
    tools = _stand_in_tools(tmp_path)
    cpus = usable_cpus()[:2]
    jobs = [
        Job(name, pipeline, *_split(tmp_path, name, size))
        for name, size in (("small", 2), ("big", 40))
        for pipeline in ("project", "rasa_default")
    ]
    outcomes = run_jobs(jobs, tools, timeout=60, cpus=cpus)
    assert list(outcomes) == [
        ("big", "rasa_default"),
        ("small", "rasa_default"),
        ("big", "project"),
        ("small", "project"),
    ], "DIET trainings of the stock pipeline first, then the largest training file first"
    assert outcomes[("big", "rasa_default")]["cpu"] != outcomes[("small", "rasa_default")]["cpu"], "side by side"
    for outcome in outcomes.values():
        assert 0 <= outcome["shared_s"] <= outcome["seconds"] + 0.1
        assert outcome["start"] <= outcome["end"]
    for (_, pipeline), outcome in outcomes.items():
        assert outcome["cpu"] in cpus
        # The stand-in reports the core it saw itself pinned to as its training time.
        assert outcome["result"]["pipelines"][pipeline]["train_s"] == 100 + outcome["cpu"]
        assert set(outcome["result"]["pipelines"]) == {pipeline}


def test_one_core_runs_the_jobs_in_turn_unpinned(tmp_path: Path) -> None:
    tools = _stand_in_tools(tmp_path)
    jobs = [Job("d", p, *_split(tmp_path, "d", 3)) for p in ("project", "rasa_default")]
    outcomes = run_jobs(jobs, tools, timeout=60, cpus=[0])
    assert all(o["cpu"] is None and o["result"]["pipelines"] for o in outcomes.values())
    merged = merge_results("d", [*outcomes.values(), *_other_baselines(outcomes)])
    assert merged["n_train"] == 4, "the stand-in counts every '- ' line: 3 examples and the intent"
    assert set(merged["pipelines"]) == {"project", "rasa_default", "char_linear", "ensemble"}


def _other_baselines(outcomes: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The baselines' outcomes, copied from the project's (the test ran two pipelines only)."""
    project = next(o for (_, p), o in outcomes.items() if p == "project")["result"]
    return [
        {"result": {**project, "pipelines": {name: project["pipelines"]["project"]}}}
        for name in ("char_linear", "ensemble")
    ]


def test_time_beside_other_jobs_counts_overlaps_once() -> None:
    assert covered(0, 10, []) == 0
    assert covered(0, 10, [(2, 4), (3, 6), (8, 20)]) == 6  # 2..6 and 8..10
    assert covered(5, 10, [(0, 1), (11, 12)]) == 0
    assert covered(5, 10, [(0, 100)]) == 5


SCORES = {
    "accuracy": 0.9,
    "macro_f1": 0.8,
    "entity_f1": None,
    "train_s": 1.0,
    "parse_p50_ms": 2.0,
    "parse_p95_ms": 3.0,
    "peak_rss_mb": 400.0,
}


def test_merging_refuses_failed_or_inconsistent_pipeline_runs() -> None:
    scores = SCORES
    one = {"result": {"n_train": 5, "n_test": 2, "pipelines": {"project": scores}}}
    other = {"result": {"n_train": 6, "n_test": 2, "pipelines": {"rasa_default": scores}}}
    with pytest.raises(BenchError, match="different data sizes"):
        merge_results("d", [one, other])
    with pytest.raises(BenchError, match="boom"):
        merge_results("d", [one, {"error": "boom", "cpu": 1, "seconds": 1.0}])
    with pytest.raises(BenchError, match=r"pipelines\.rasa_default"):
        merge_results("d", [one])  # a pipeline that never ran is not a zero


def test_the_merged_training_file_holds_every_example_synonym_lookup_and_regex(tmp_path: Path) -> None:
    files = project_training_files()
    target = tmp_path / "train.yml"
    count = merge_nlu_files(files, target)
    merged = yaml.safe_load(target.read_text(encoding="utf-8"))
    kinds = {next(iter(item)) for item in merged["nlu"]}
    assert {"intent", "synonym", "lookup", "regex"} <= kinds
    assert count == len(merged["nlu"]) == sum(len(yaml.safe_load(f.read_text())["nlu"]) for f in files)
    assert "examples: |" in target.read_text(encoding="utf-8"), "example lists stay literal blocks"


def test_an_evaluation_without_a_figure_is_refused() -> None:
    scores = SCORES
    names = ("project", "rasa_default", "char_linear", "ensemble")
    good = {"n_train": 10, "n_test": 5, "pipelines": dict.fromkeys(names, scores)}
    assert validate(good, "x") is good
    with pytest.raises(BenchError, match="rasa_default"):
        validate({**good, "pipelines": {n: scores for n in names if n != "rasa_default"}}, "x")
    with pytest.raises(BenchError, match="accuracy"):
        validate({**good, "pipelines": {**good["pipelines"], "project": {**scores, "accuracy": None}}}, "x")
    with pytest.raises(BenchError, match="peak_rss_mb"):
        validate({**good, "pipelines": {**good["pipelines"], "ensemble": {**scores, "peak_rss_mb": None}}}, "x")


# -- the report ---------------------------------------------------------------------------


def fake_results(e2e_failed: bool = False) -> dict[str, Any]:
    lat = {"n": 50, "min": 10.0, "p50": 20.0, "p95": 40.0, "p99": 55.0, "max": 60.0, "mean": 22.0}
    scores = {
        "accuracy": 0.912,
        "macro_f1": 0.88,
        "entity_f1": None,
        "train_s": 300.0,
        "parse_p50_ms": 30.0,
        "parse_p95_ms": 45.0,
        "peak_rss_mb": 600.0,
    }
    default = {**scores, "accuracy": 0.85, "train_s": 150.0, "peak_rss_mb": 1200.0}
    cell = {
        "concurrency": 1,
        "ok": 50,
        "errors": 0,
        "sent": 50,
        "throughput_rps": 6.25,
        "latency_ms": lat,
        "elapsed_s": 8.0,
        "stopped_by": "count",
        "tags": {"Rasa only": 50},
    }
    e2e: dict[str, Any] = {
        "status": "ok",
        "seconds": 100.0,
        "data": {
            "model": "yinling-abc.tar.gz",
            "cold_start_s": {"runs": [40.1, 38.2], "median": 39.15, "max": 40.1},
            "edit_to_answer": {"entry": "ins-ltc", "runs_s": [0.4, 0.5], "median_s": 0.45, "max_s": 0.5},
            "load": {
                "smalltalk": {
                    "description": "small talk",
                    "cells": {"1": cell, "8": {**cell, "throughput_rps": 12.5, "concurrency": 8}},
                }
            },
            "memory": {"rasa": {"peak_mb": 1234.5, "processes": [{"pid": 1, "name": "python", "peak_mb": 1234.5}]}},
        },
    }
    if e2e_failed:
        e2e = {"status": "failed", "seconds": 3.0, "error": "the rasa server exited with code 1"}
    scale_row = {
        "size": 1000,
        "vectors": 5500,
        "build_runs": 3,
        "bm25_build_s": 2.5,
        "bm25_query_ms": lat,
        "real_embedding_estimate_s": 150.0,
        "index": {
            "flat": {"build_s": 0.01, "query_ms": lat},
            "hnsw": {"build_s": 0.8, "query_ms": {**lat, "p50": 18.0}, "top5_overlap_with_flat": 0.99},
        },
    }
    return {
        "status": "failed" if e2e_failed else "ok",
        "total_s": 321.0,
        "meta": {
            "date": "2026-11-28T18:00:00+08:00",
            "commit": "abc1234",
            "dirty": True,
            "cores": 2,
            "budget_s": 600,
        },
        "parts": {
            "nlu": {
                "status": "ok",
                "seconds": 600.0,
                "data": {
                    "datasets": {
                        "smp2017": {
                            "status": "ok",
                            "description": "SMP2017",
                            "jobs": {
                                "project": {"seconds": 250.0, "cpu": 0, "start": 0.0, "end": 250.0, "shared_s": 250.0},
                                "rasa_default": {
                                    "seconds": 330.0,
                                    "cpu": 1,
                                    "start": 0.0,
                                    "end": 330,
                                    "shared_s": 250.0,
                                },
                            },
                            "result": {
                                "n_train": 2299,
                                "n_test": 667,
                                "pipelines": {
                                    "project": {
                                        **scores,
                                        "confusion": {
                                            "labels": ["app", "chat", "nlu_fallback"],
                                            "matrix": [[5, 2, 1], [3, 7, 0]],
                                        },
                                        "linear_intent": {
                                            "heads": [
                                                {
                                                    "folds": 5,
                                                    "grid": [
                                                        {
                                                            "C": 0.3,
                                                            "dense_scale": {"use": 1.0, "e5": 3.0},
                                                            "macro_f1": 0.91,
                                                        }
                                                    ],
                                                    "C": 0.3,
                                                    "dense_scale": {"use": 1.0, "e5": 3.0},
                                                    "temperature": 0.21,
                                                    "oof": {
                                                        "accuracy": 0.92,
                                                        "macro_f1": 0.91,
                                                        "ece_before": 0.3,
                                                        "ece_after": 0.02,
                                                    },
                                                }
                                            ],
                                            "fallback_suggestion": {
                                                "threshold": 0.45,
                                                "ambiguity_threshold": 0.0,
                                                "answered": 0.95,
                                                "right_when_answered": 0.96,
                                                "wrong_caught": 0.5,
                                            },
                                        },
                                    },
                                    "rasa_default": default,
                                    "char_linear": {**scores, "accuracy": 0.8, "peak_rss_mb": 300.0},
                                },
                            },
                        },
                        "xsid_zh": {"status": "failed", "description": "xSID", "error": "exited with code 1"},
                    },
                    "schedule": {"cpus": [0, 1], "pinned": True, "at_once": 2},
                },
            },
            "retrieval_quality": {
                "status": "ok",
                "seconds": 30.0,
                "data": {
                    "n_entries": 202,
                    "n_queries": 354,
                    "retrievers": {
                        "configured": {"top1": 0.8, "top5": 0.95, "mrr10": 0.86, "p50_ms": 30.0, "p95_ms": 45.0}
                    },
                },
            },
            "retrieval_scale": {
                "status": "ok",
                "seconds": 60.0,
                "data": {
                    "queries": 60,
                    "query_rounds": 1,
                    "builtin_entries": 202,
                    "seed": 1,
                    "calibration": {"sample_texts": 250, "texts_per_s": 40.0, "cosine_to_source": {"query": 0.96}},
                    "query_embedding_ms": lat,
                    "sizes": [scale_row, {**scale_row, "size": 10000, "vectors": 55000}],
                },
            },
            "e2e": e2e,
        },
    }


def test_the_report_shows_every_figure_with_its_provenance() -> None:
    text = render_markdown(fake_results())
    assert "**Result: OK**" in text
    assert "abc1234 (uncommitted changes)" in text and "2026-11-28T18:00:00+08:00" in text
    assert "total time 321.0 s (budget 600 s: within)" in text
    assert "| project | rasa_default |" in text.replace("metric | project", "| project")
    assert "0.912" in text and "+0.062" in text and "2.00×" in text  # accuracy, difference, train-time ratio
    assert "| intent accuracy | 0.912 | 0.850 | 0.800 | — | +0.062 |" in text, "four pipelines, a missing one as —"
    assert "| peak RSS serving, MB | 600 | 1,200 | 300 | — | 0.50× |" in text
    assert "| entity F1 | n/a | n/a | n/a | — | — |" in text
    assert "failed: exited with code 1" in text
    assert "C=0.30, use ×1.0 e5 ×3.0" in text and "0.300 → 0.020" in text, "how the classifier was tuned"
    assert "threshold 0.45, ambiguity 0.00: answers 95.0%" in text
    assert "| smp2017 | project | app → chat: 2; chat → app: 3; app → nlu_fallback: 1 |" not in text
    assert "| smp2017 | project | chat → app: 3; app → chat: 2; app → nlu_fallback: 1 |" in text
    assert "![confusion smp2017](nlu_confusion_smp2017.png)" in text
    assert "2 jobs, 2 at a time, longest first, each pinned to its own core" in text
    assert "| smp2017 | rasa_default | 1 | 0 | 330 | 250 |" in text
    assert "Sum of job times 580 s; wall-clock of this part 600 s" in text
    assert "**What is approximate:**" in text
    assert "| 1,000 | 5,500 | 20.0 | 40.0 | 18.0 | 40.0 | 0.90× | 0.990 |" in text
    assert "median **39.1 s**" in text or "median **39.2 s**" in text
    assert "median **0.45 s**" in text
    assert "| 6.25 | 1.00× |" in text and "| 12.50 | 2.00× |" in text
    assert "1,234.5" in text


def test_a_failed_part_is_shown_as_failed_not_as_zeros() -> None:
    text = render_markdown(fake_results(e2e_failed=True))
    assert "**Result: FAILED**" in text
    over = render_markdown({**fake_results(), "total_s": 700.0})
    assert "(budget 600 s: **EXCEEDED**)" in over
    assert "**Failed parts:** End to end" in text
    assert "the rasa server exited with code 1" in text
    end_to_end = text.split("## End to end")[1].split("## Time per part")[0]
    assert "msg/s" not in end_to_end and " 0.0 " not in end_to_end


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    written = write_plots(fake_results(), tmp_path)
    assert {p.name for p in written} == {
        "e2e_latency.png",
        "retrieval_latency.png",
        "nlu_macro_f1.png",
        "nlu_confusion_smp2017.png",
    }
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_evaluation_data_is_refused_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "smp2017").mkdir()
    (tmp_path / "smp2017" / "smp2017_task1_train.tsv").write_text("text\tlabel\n")
    out = tmp_path / "results"
    assert bench_main(["--eval-data", str(tmp_path), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "smp2017_task1_test.tsv" in message and "zh.valid.conll" in message and "EVAL_DATA=" in message
    assert "smp2017_task1_train.tsv" not in message, "only what is missing is named"
    assert not out.exists(), "nothing ran, nothing was written"
