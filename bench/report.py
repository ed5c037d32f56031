"""The benchmark's Markdown report and PNG plots, rendered from the results dict alone.

A figure that was not measured is shown as "—" with the reason nearby, never as 0;
"n/a" marks a figure that does not apply (entity F1 on a test set without entities).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PART_TITLES = {
    "nlu": "NLU",
    "retrieval_quality": "Retrieval quality",
    "retrieval_scale": "Retrieval at scale",
    "e2e": "End to end",
    "conversation": "Conversations (senior test set)",
    "staff": "Agents' console",
    "admin": "Administrators' console",
    "fuzz": "Fuzzing (webhooks and admin routes)",
}
NLU_ROWS = (
    ("accuracy", "intent accuracy", 3),
    ("macro_f1", "intent macro-F1", 3),
    ("entity_f1", "entity F1", 3),
    ("train_s", "training time, s", 1),
    ("parse_p50_ms", "parse p50, ms", 1),
    ("parse_p95_ms", "parse p95, ms", 1),
    ("peak_rss_mb", "peak RSS serving, MB", 0),
)
NLU_PIPELINES = ("project", "rasa_default", "char_linear", "ensemble")
# How many of the most frequent confusions the report lists per dataset.
TOP_CONFUSIONS = 8


def fmt(value: Any, digits: int = 1, missing: str = "—") -> str:
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def ratio(a: Any, b: Any, digits: int = 2) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return "—"
    return f"{a / b:.{digits}f}×"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]


def _get(data: Any, *keys: Any) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _part_header(name: str, part: dict[str, Any] | None) -> list[str]:
    lines = [f"## {PART_TITLES[name]}", ""]
    if part is None:
        return [*lines, "Not run.", ""]
    status = part.get("status")
    if status == "skipped":
        return [*lines, f"Skipped: {part.get('reason', '')}", ""]
    if status == "failed":
        lines.append(f"**FAILED** after {fmt(part.get('seconds'))} s.")
        if part.get("error"):
            lines += ["", "```", str(part["error"]).strip(), "```"]
        for problem in part.get("problems") or []:
            lines.append(f"- {problem}")
        lines.append("")
    return lines


# -- sections -----------------------------------------------------------------------------


def _meta(results: dict[str, Any]) -> list[str]:
    meta = results.get("meta", {})
    commit = meta.get("commit", "unknown")
    if meta.get("dirty"):
        commit += " (uncommitted changes)"
    status = results.get("status", "unknown")
    lines = [
        "# 银龄助手 benchmark",
        "",
        f"- **Result: {'OK' if status == 'ok' else 'FAILED'}**",
        f"- date: {meta.get('date', '?')}",
        f"- commit: {commit}",
        f"- machine: {fmt(meta.get('cores'))} cores ({fmt(meta.get('usable_cores'))} usable), "
        f"{meta.get('cpu', '?')}, {fmt(meta.get('memory_gb'))} GB RAM",
        f"- load average at start / end: {meta.get('load_start', '?')} / {meta.get('load_end', '?')} "
        "(the machine is shared; figures are medians and percentiles over many samples)",
        f"- mode: {meta.get('mode', '?')}; total time {fmt(results.get('total_s'))} s{_budget(results)}",
        f"- command: `{meta.get('command', '?')}`",
        "",
    ]
    failed = [name for name, part in results.get("parts", {}).items() if part.get("status") == "failed"]
    if failed:
        lines += ["**Failed parts:** " + ", ".join(PART_TITLES.get(n, n) for n in failed), ""]
    return lines


def _budget(results: dict[str, Any]) -> str:
    budget, total = _get(results, "meta", "budget_s"), results.get("total_s")
    if not isinstance(budget, (int, float)) or not isinstance(total, (int, float)):
        return ""
    return f" (budget {fmt(budget, 0)} s: {'within' if total <= budget else '**EXCEEDED**'})"


def _nlu(part: dict[str, Any]) -> list[str]:
    lines = [
        "Every pipeline trained and scored by `bot.tools.evaluate` at its full settings: project = `config.yml`, "
        "rasa_default = Rasa's stock Chinese pipeline, and two plain baselines of the project's linear classifier "
        "(`bot/pipelines/`): char_linear = character n-grams alone, ensemble = an e5 model and a character model "
        "with their probabilities averaged. Only the project pipeline has the FallbackClassifier and the emergency "
        "guard, and both count against it here (`nlu_fallback` is an error). Difference = project − rasa_default; "
        "for times and memory, the ratio project / rasa_default. Parse latency and peak RSS are measured in a fresh "
        "process that loads the trained model and parses the test set one message at a time, as a server does.",
        "",
    ]
    datasets = _get(part, "data", "datasets") or {}
    schedule = _get(part, "data", "schedule") or {}
    jobs = [
        (name, pipeline, job) for name, row in datasets.items() for pipeline, job in (row.get("jobs") or {}).items()
    ]
    if schedule.get("pinned"):
        how = (
            f"{schedule.get('at_once')} at a time, longest first, each pinned to its own core "
            f"(cores {schedule.get('cpus')}) with one TensorFlow thread: training and parse times are "
            "one-core figures taken while another job runs on the other core, except where the table "
            "below shows a job running alone"
        )
    else:
        how = "one after the other, unpinned"
    if jobs:
        lines += [
            f"Each (dataset, pipeline) is one `bot.tools.evaluate` process: {len(jobs)} jobs, {how}. "
            f"Sum of job times {fmt(sum(j.get('seconds', 0) for _, _, j in jobs), 0)} s; "
            f"wall-clock of this part {fmt(part.get('seconds'), 0)} s.",
            "",
        ]
        job_rows = [
            [
                name,
                pipeline,
                fmt(job.get("cpu"), missing="any"),
                fmt(job.get("start"), 0),
                fmt(job.get("seconds"), 0),
                fmt(job.get("shared_s"), 0),
            ]
            for name, pipeline, job in sorted(jobs, key=lambda item: item[2].get("start") or 0)
        ]
        lines += table(
            ["dataset", "pipeline", "core", "started at, s", "took, s", "of which beside another job, s"], job_rows
        )
    rows = []
    for name, row in datasets.items():
        label = f"{name}: {row.get('description', '')}"
        result = row.get("result")
        if row.get("status") != "ok" or not isinstance(result, dict):
            failed = f"failed: {str(row.get('error', '')).splitlines()[0][:120]}"
            rows.append([label, "—", *["—"] * len(NLU_PIPELINES), failed])
            continue
        label += f" ({fmt(result.get('n_train'))} train / {fmt(result.get('n_test'))} test)"
        for key, title, digits in NLU_ROWS:
            values = [_get(result, "pipelines", pipeline, key) for pipeline in NLU_PIPELINES]
            ours, theirs = values[0], values[1]
            if key.endswith(("_s", "_ms", "_mb")):
                diff = ratio(ours, theirs)
            elif isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
                diff = f"{ours - theirs:+.3f}"
            else:
                diff = "—"
            none = "n/a" if key == "entity_f1" else "—"
            cells = [
                fmt(v, digits, none) if isinstance(_get(result, "pipelines", pipeline), dict) else "—"
                for v, pipeline in zip(values, NLU_PIPELINES)
            ]
            rows.append([label, title, *cells, diff])
            label = ""
    lines += table(["dataset", "metric", *NLU_PIPELINES, "difference"], rows)
    lines += [
        "Entity F1 “n/a”: the test set has no entities (SMP2017), or the pipeline has no entity extractor "
        "(the baselines classify intents only).",
        "",
    ]
    lines += _nlu_tuning(datasets)
    lines += _nlu_confusions(datasets)
    return lines


def _nlu_tuning(datasets: dict[str, Any]) -> list[str]:
    """How the project's LinearIntentClassifier chose its settings, per dataset (training data only)."""
    rows = []
    for name, row in datasets.items():
        report = _get(row, "result", "pipelines", "project", "linear_intent")
        if not isinstance(report, dict):
            continue
        for head in report.get("heads") or []:
            grid = head.get("grid") or []
            tried = ", ".join(
                f"C={fmt(g.get('C'), 2)}/{_scales(g.get('dense_scale'))}: {fmt(g.get('macro_f1'), 3)}" for g in grid
            )
            oof = head.get("oof") or {}
            rows.append(
                [
                    name,
                    fmt(head.get("folds")),
                    tried or "—",
                    f"C={fmt(head.get('C'), 2)}, {_scales(head.get('dense_scale'))}",
                    f"{fmt(oof.get('accuracy'), 3)} / {fmt(oof.get('macro_f1'), 3)}",
                    fmt(head.get("temperature"), 3),
                    f"{fmt(oof.get('ece_before'), 3)} → {fmt(oof.get('ece_after'), 3)}",
                    _fallback(report.get("fallback_suggestion")),
                ]
            )
    if not rows:
        return []
    lines = [
        "### How the project's intent classifier chose its settings",
        "",
        "`bot.components.linear_intent.LinearIntentClassifier`, on each dataset's training data only: every (C, vector scales) "
        "point of its grid scored by stratified k-fold cross-validation (macro-F1 shown), the best refitted on all "
        "the training data; the softmax temperature fitted on the out-of-fold scores of that pair (ECE = expected "
        "calibration error, 10 bins, before → after). The fallback suggestion is the FallbackClassifier setting "
        "that maximizes right answers minus wrong answers on the out-of-fold probabilities (with the early exit, "
        "of the mix of the character head and the full model); the pipeline's CalibratedFallbackClassifier "
        "applies each trained model's own suggestion.",
        "",
    ]
    lines += table(
        [
            "dataset",
            "folds",
            "grid (macro-F1)",
            "chosen",
            "out-of-fold accuracy / macro-F1",
            "temperature",
            "ECE",
            "fallback suggestion",
        ],
        rows,
    )
    return lines


def _scales(value: Any) -> str:
    """A head's vector scales: one number (all sentence vectors as one block) or one per featurizer."""
    if isinstance(value, dict):
        return " ".join(f"{name} ×{fmt(scale, 1)}" for name, scale in value.items())
    return f"×{fmt(value, 1)}"


def _fallback(suggestion: Any) -> str:
    if not isinstance(suggestion, dict):
        return "—"
    return (
        f"threshold {fmt(suggestion.get('threshold'), 2)}, ambiguity {fmt(suggestion.get('ambiguity_threshold'), 2)}: "
        f"answers {_pct(suggestion.get('answered'))}, right when answering {_pct(suggestion.get('right_when_answered'))}, "
        f"catches {_pct(suggestion.get('wrong_caught'))} of the errors"
    )


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "—"


def top_confusions(confusion: Any, limit: int = TOP_CONFUSIONS) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) pairs with gold ≠ predicted, most frequent first."""
    if not isinstance(confusion, dict):
        return []
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    pairs = [
        (labels[i], labels[j], count)
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
        if i != j and count > 0
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))[:limit]


def _nlu_confusions(datasets: dict[str, Any]) -> list[str]:
    lines = [
        "### Confusions",
        "",
        f"The {TOP_CONFUSIONS} most frequent errors per dataset and pipeline (gold → predicted: count); "
        "the full matrices of the project pipeline are the `nlu_confusion_<dataset>.png` plots.",
        "",
    ]
    rows = []
    for name, row in datasets.items():
        for pipeline in ("project", "rasa_default"):
            pairs = top_confusions(_get(row, "result", "pipelines", pipeline, "confusion"))
            if pairs:
                text = "; ".join(f"{g or '(none)'} → {p or '(none)'}: {c}" for g, p, c in pairs)
                rows.append([name, pipeline, text])
    if not rows:
        return []
    lines += table(["dataset", "pipeline", "most frequent confusions"], rows)
    lines += [f"![confusion {n}](nlu_confusion_{n}.png)" for n in datasets if _confusion_of(datasets, n)]
    return [*lines, ""]


def _confusion_of(datasets: dict[str, Any], name: str) -> dict[str, Any] | None:
    confusion = _get(datasets, name, "result", "pipelines", "project", "confusion")
    return confusion if isinstance(confusion, dict) and confusion.get("matrix") else None


def _quality(part: dict[str, Any]) -> list[str]:
    data = part.get("data") or {}
    lines = [
        f"`python -m knowledge_base eval --json`: {fmt(data.get('n_entries'))} built-in entries, "
        f"{fmt(data.get('n_queries'))} held-out queries (never indexed).",
        "",
    ]
    rows = []
    for name, m in (data.get("retrievers") or {}).items():
        rows.append(
            [
                name,
                fmt(m.get("top1"), 3),
                fmt(m.get("top5"), 3),
                fmt(m.get("mrr10"), 3),
                fmt(m.get("p50_ms")),
                fmt(m.get("p95_ms")),
            ]
        )
    return lines + table(["retriever", "top-1", "top-5", "MRR@10", "p50 ms", "p95 ms"], rows)


def _scale(part: dict[str, Any]) -> list[str]:
    data = part.get("data") or {}
    cal = data.get("calibration") or {}
    lines = [
        f"Query path timed for real through `HybridRetriever.search` (query embedding with E5 + faiss + BM25 + "
        f"fusion), {fmt(data.get('queries'))} held-out queries × {fmt(data.get('query_rounds'))} round(s) per cell. "
        f"The KB is the {fmt(data.get('builtin_entries'))} built-in entries padded with generated ones "
        f"(seed {data.get('seed')}).",
        "",
        "**What is approximate:** the vectors of the generated entries were *not* computed by the embedding model. "
        f"The model was run on a sample of {fmt(cal.get('sample_texts'))} generated texts "
        f"({fmt(cal.get('sample_docs'))} entries): {fmt(cal.get('texts_per_s'))} texts/s "
        f"({fmt(cal.get('ms_per_text'))} ms per text). Every other generated text got the real vector of the built-in "
        "text it was made from plus Gaussian noise, renormalized, with the noise set so that the cosine to the source "
        f"matches the sample (real: {_cosines(cal.get('cosine_to_source'))}; "
        f"synthetic: {_cosines(cal.get('synthetic_cosine_to_source'))}). "
        "Index build times below are therefore faiss and BM25 only; the time a real re-embedding would take is an "
        "estimate from the measured throughput.",
        "",
        f"Query embedding alone: p50 {fmt(_get(data, 'query_embedding_ms', 'p50'))} ms, "
        f"p95 {fmt(_get(data, 'query_embedding_ms', 'p95'))} ms.",
        "",
        "Query latency (ms), full hybrid query path:",
        "",
    ]
    latency, builds = [], []
    for row in data.get("sizes") or []:
        flat, hnsw = _get(row, "index", "flat") or {}, _get(row, "index", "hnsw") or {}
        latency.append(
            [
                fmt(row.get("size")),
                fmt(row.get("vectors")),
                fmt(_get(flat, "query_ms", "p50")),
                fmt(_get(flat, "query_ms", "p95")),
                fmt(_get(hnsw, "query_ms", "p50")),
                fmt(_get(hnsw, "query_ms", "p95")),
                ratio(_get(hnsw, "query_ms", "p50"), _get(flat, "query_ms", "p50")),
                fmt(hnsw.get("top5_overlap_with_flat"), 3),
                fmt(_get(row, "bm25_query_ms", "p50"), 2),
            ]
        )
        builds.append(
            [
                fmt(row.get("size")),
                fmt(row.get("vectors")),
                fmt(row.get("build_runs")),
                fmt(row.get("bm25_build_s"), 2),
                fmt(flat.get("build_s"), 3),
                fmt(hnsw.get("build_s"), 2),
                ratio(hnsw.get("build_s"), flat.get("build_s"), 0),
                _duration(row.get("real_embedding_estimate_s")),
            ]
        )
    lines += table(
        [
            "entries",
            "vectors",
            "flat p50",
            "flat p95",
            "HNSW p50",
            "HNSW p95",
            "HNSW / flat p50",
            "HNSW top-5 overlap with flat",
            "BM25 alone p50",
        ],
        latency,
    )
    lines += ["Index build time (s; median of the runs shown):", ""]
    lines += table(
        [
            "entries",
            "vectors",
            "runs",
            "BM25 build",
            "faiss flat build",
            "faiss HNSW build",
            "HNSW / flat",
            "real E5 embedding (estimate)",
        ],
        builds,
    )
    lines += ["![retrieval latency](retrieval_latency.png)", ""]
    return lines


def _cosines(values: Any) -> str:
    if not isinstance(values, dict) or not values:
        return "—"
    return ", ".join(f"{k} {fmt(v, 3)}" for k, v in values.items())


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    if seconds >= 3600:
        return f"≈ {seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"≈ {seconds / 60:.0f} min"
    return f"≈ {seconds:.0f} s"


def _e2e(part: dict[str, Any]) -> list[str]:
    data = part.get("data") or {}
    lines = [f"Model `{data.get('model', '?')}`; REST channel on loopback; every request is a new conversation.", ""]
    cold = data.get("cold_start_s")
    lines += ["### Cold start to first answer", ""]
    if cold:
        lines += [
            f"From spawning both servers to the first reply naming a KB entry (trained model present, KB seeded): "
            f"median **{fmt(cold['median'])} s**, max {fmt(cold['max'])} s over {len(cold['runs'])} starts "
            f"({', '.join(fmt(r) for r in cold['runs'])} s).",
            "",
        ]
    else:
        lines += ["—", ""]
    edit = data.get("edit_to_answer")
    lines += ["### Admin edit to changed answer", ""]
    if edit:
        lines += [
            f"PUT through the admin API until the bot's reply carries the new text (entry `{edit['entry']}`): "
            f"median **{fmt(edit['median_s'], 2)} s**, max {fmt(edit['max_s'], 2)} s over {len(edit['runs_s'])} edits "
            f"({', '.join(fmt(r, 2) for r in edit['runs_s'])} s; each poll is one full bot turn).",
            "",
        ]
    else:
        lines += ["— (see the failures above)", ""]
    lines += ["### Throughput and latency", ""]
    rows = []
    for name, scenario in (data.get("load") or {}).items():
        cells = scenario.get("cells") or {}
        base = _get(cells, "1", "throughput_rps")
        label = f"{name}: {scenario.get('description', '')}"
        for users, cell in cells.items():
            lat = cell.get("latency_ms") or {}
            tags = ", ".join(f"{k} {v}" for k, v in sorted((cell.get("tags") or {}).items()))
            rows.append(
                [
                    label,
                    users,
                    fmt(cell.get("ok")),
                    fmt(cell.get("errors")),
                    fmt(cell.get("throughput_rps"), 2),
                    ratio(cell.get("throughput_rps"), base),
                    fmt(lat.get("p50"), 0),
                    fmt(lat.get("p95"), 0),
                    fmt(lat.get("p99"), 0),
                    f"{fmt(cell.get('elapsed_s'))} s, {cell.get('stopped_by', '?')}",
                    tags,
                ]
            )
            label = ""
    lines += table(
        [
            "scenario",
            "users",
            "answered",
            "errors",
            "msg/s",
            "vs 1 user",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "measured for, stopped by",
            "answers",
        ],
        rows,
    )
    lines += ["![end-to-end latency](e2e_latency.png)", ""]
    lines += ["### Peak memory", ""]
    mem_rows = []
    for name, mem in (data.get("memory") or {}).items():
        procs = ", ".join(f"{p['name']} {p['pid']}: {fmt(p['peak_mb'])}" for p in mem.get("processes", []))
        mem_rows.append([name, fmt(mem.get("peak_mb")), procs])
    lines += table(["server (process group)", "peak RSS MB (sum of VmHWM)", "processes (peak MB)"], mem_rows)
    return lines


def _conversation(part: dict[str, Any]) -> list[str]:
    data = part["data"]
    lines = [
        f"The project's own conversation test set (`{data.get('cases')}`), played through the REST channel "
        f"against the real servers on {data.get('today')}; phrasings are not in the training data.",
        "",
    ]
    emergencies = data.get("emergencies") or {}
    rows = [
        ["follow-ups answered from the right entry", data.get("followups")],
        ["bookings saved exactly as meant", data.get("bookings")],
        ["dates read as meant (or asked when unclear)", data.get("dates")],
        ["emergency recall (first reply is the emergency reply)", emergencies.get("recall")],
        ["emergency first reply fits the case", emergencies.get("fit")],
        ["false alarms on mentions of danger", emergencies.get("false_alarms")],
    ]
    lines += table(
        ["class", "passed", "of", "rate"],
        [[name, fmt(s.get("passed")), fmt(s.get("total")), fmt(s.get("rate"))] for name, s in rows if s],
    )
    misses = [(name, f) for name, s in rows if s for f in s.get("failures") or []]
    if misses:
        lines += ["", "Failures (up to 12 per class):", ""]
        lines += [f"- {name}: {what}" for name, what in misses]
    return [*lines, ""]


def _staff(part: dict[str, Any]) -> list[str]:
    data = part["data"]
    rows = [
        ("senior's message → agent's console (server-sent event)", "senior_to_agent_event_s"),
        ("senior's message → agent's screen (event + transcript fetched)", "senior_to_agent_screen_s"),
        ("agent's reply → web chat /history (the page polls every ~2 s)", "reply_to_webchat_history_s"),
        ("agent's reply → WeChat customer-service API (fake, loopback)", "reply_to_wechat_api_s"),
        ("console first load in Chromium (queue shown, live connection up)", "console_first_load_s"),
    ]
    lines = [f"Goal: a senior's message on the agent's screen within {fmt(data.get('goal_s'))} s (p50).", ""]
    lines += table(
        ["what", "n", "p50, s", "p95, s", "max, s"],
        [
            [
                label,
                _get(data, key, "n"),
                fmt(_get(data, key, "p50"), 3),
                fmt(_get(data, key, "p95"), 3),
                fmt(_get(data, key, "max"), 3),
            ]
            for label, key in rows
        ],
    )
    return [*lines, ""]


def _admin(part: dict[str, Any]) -> list[str]:
    data = part["data"]
    grouping, hit = data.get("grouping") or {}, data.get("hit_testing") or {}
    lines = [
        f"Grouping {fmt(grouping.get('messages'))} unanswered questions (10 topics, threshold "
        f"{fmt(grouping.get('threshold'), 3)}): {fmt(grouping.get('groups'))} groups, purity "
        f"{fmt(grouping.get('purity'), 3)}, inverse purity {fmt(grouping.get('inverse_purity'), 3)}.",
        "",
    ]
    lines += table(
        ["what", "n", "p50, s", "p95, s", "max, s"],
        [
            [
                label,
                _get(src, key, "n"),
                fmt(_get(src, key, "p50"), 3),
                fmt(_get(src, key, "p95"), 3),
                fmt(_get(src, key, "max"), 3),
            ]
            for label, src, key in (
                ("group all unanswered questions (read, cluster, assemble)", grouping, "group_s"),
                ("keep one unsure question (mask, embed, insert)", grouping, "keep_one_s"),
                ("hit testing: POST /api/admin/hit-test (Rasa parse + retrieval)", hit, "hit_test_s"),
            )
        ],
    )
    return [*lines, ""]


def _fuzz(part: dict[str, Any]) -> list[str]:
    data = part["data"]
    rows = [
        [route, f"{r['inputs']:,}", r["server_errors"], r["exceptions"], r["error_logs"]]
        for route, r in data.get("routes", {}).items()
    ]
    lines = [f"Full report: `{data.get('report')}`.", ""]
    lines += table(["route", "inputs", "5xx", "exceptions", "error logs"], rows)
    if data.get("short_of_goal"):
        lines += ["", "Short of the input goal (time budget): " + ", ".join(data["short_of_goal"])]
    return [*lines, ""]


SECTIONS = {
    "nlu": _nlu,
    "retrieval_quality": _quality,
    "retrieval_scale": _scale,
    "e2e": _e2e,
    "conversation": _conversation,
    "staff": _staff,
    "admin": _admin,
    "fuzz": _fuzz,
}


def render_markdown(results: dict[str, Any]) -> str:
    lines = _meta(results)
    parts = results.get("parts", {})
    for name, render in SECTIONS.items():
        part = parts.get(name)
        lines += _part_header(name, part)
        if part is not None and part.get("data"):
            lines += render(part)
    lines += ["## Time per part", ""]
    lines += table(
        ["part", "status", "seconds"],
        [[PART_TITLES.get(n, n), p.get("status", "?"), fmt(p.get("seconds"))] for n, p in parts.items()],
    )
    return "\n".join(lines).rstrip() + "\n"


# -- plots --------------------------------------------------------------------------------


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """PNG plots of what was measured; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    parts = results.get("parts", {})
    load = _get(parts, "e2e", "data", "load")
    if load:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, scenario in load.items():
            cells = [(int(u), c) for u, c in scenario["cells"].items() if c.get("latency_ms")]
            if not cells:
                continue
            users = [u for u, _ in cells]
            (line,) = left.plot(users, [c["latency_ms"]["p50"] for _, c in cells], marker="o", label=f"{name} p50")
            left.plot(
                users,
                [c["latency_ms"]["p95"] for _, c in cells],
                marker="x",
                linestyle="--",
                color=line.get_color(),
                label=f"{name} p95",
            )
            right.plot(users, [c["throughput_rps"] for _, c in cells], marker="o", label=name)
        ticks = sorted({int(u) for scenario in load.values() for u in scenario["cells"]})
        for ax, ylabel in ((left, "latency, ms"), (right, "answers per second")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_xlabel("concurrent users")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        left.set_yscale("log")
        fig.suptitle(f"End to end through the REST channel ({_stamp(results)})", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out / "e2e_latency.png"))
        plt.close(fig)
    sizes = _get(parts, "retrieval_scale", "data", "sizes")
    if sizes:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        x = [row["size"] for row in sizes]
        for kind in ("flat", "hnsw"):
            (line,) = left.plot(
                x, [row["index"][kind]["query_ms"]["p50"] for row in sizes], marker="o", label=f"{kind} p50"
            )
            left.plot(
                x,
                [row["index"][kind]["query_ms"]["p95"] for row in sizes],
                marker="x",
                linestyle="--",
                color=line.get_color(),
                label=f"{kind} p95",
            )
            right.plot(x, [row["index"][kind]["build_s"] for row in sizes], marker="o", label=f"faiss {kind}")
        right.plot(x, [row["bm25_build_s"] for row in sizes], marker="s", label="BM25")
        for ax, ylabel in ((left, "hybrid query latency, ms"), (right, "index build, s")):
            ax.set_xscale("log")
            ax.set_xticks(x, [f"{n:,}" for n in x])
            ax.set_xlabel("KB entries (padded)")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        right.set_yscale("log")
        fig.suptitle(f"Retrieval at scale ({_stamp(results)})", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out / "retrieval_latency.png"))
        plt.close(fig)
    nlu = _get(parts, "nlu", "data", "datasets")
    ok = {n: r["result"] for n, r in (nlu or {}).items() if r.get("status") == "ok"}
    if ok:
        fig, ax = plt.subplots(figsize=(8, 4))
        names = list(ok)
        shown = [p for p in NLU_PIPELINES if any(p in ok[n]["pipelines"] for n in names)]
        width = 0.8 / len(shown)
        for k, pipeline in enumerate(shown):
            ax.bar(
                [i - 0.4 + width * (k + 0.5) for i in range(len(names))],
                [_get(ok[n], "pipelines", pipeline, "macro_f1") or 0 for n in names],
                width=width,
                label=pipeline,
            )
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("intent macro-F1")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"NLU ({_stamp(results)})", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out / "nlu_macro_f1.png"))
        plt.close(fig)
    for name in ok:
        confusion = _confusion_of(nlu or {}, name)
        if confusion is not None:
            written.append(
                _confusion_plot(
                    plt, confusion, f"{name}: project pipeline ({_stamp(results)})", out / f"nlu_confusion_{name}.png"
                )
            )
    return written


def _confusion_plot(plt: Any, confusion: dict[str, Any], title: str, path: Path) -> Path:
    """Rows = gold intents, columns = predictions, each row as shares of its gold intent."""
    import numpy as np

    labels = [label or "(none)" for label in confusion["labels"]]
    counts = np.array(confusion["matrix"], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size * counts.shape[0] / len(labels) + 1.5))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(counts.shape[0]), labels[: counts.shape[0]], fontsize=7)
    for i, j in zip(*np.nonzero(counts)):
        ax.text(
            j,
            i,
            str(int(counts[i, j])),
            ha="center",
            va="center",
            fontsize=6,
            color="white" if shares[i, j] > 0.5 else "black",
        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    fig.colorbar(image, ax=ax, fraction=0.03, label="share of the gold intent")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _stamp(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    return f"{str(meta.get('date', '?'))[:16]}, {meta.get('commit', '?')}{'+' if meta.get('dirty') else ''}"


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
