"""The administrators' console: grouping unanswered questions at scale, and hit testing's response time.

- grouping: 10,000 unanswered questions in a staff database (the 600 hand-written synthetic
  paraphrases of ``staff/synthetic.py``, embedded by the real e5 engine, then each repeated with a
  small perturbation of its vector, as paraphrases of paraphrases); the time of
  ``Unanswered.groups()`` (read, cluster, assemble), its purity and inverse purity against the 10
  topics, and the time to keep one new question (mask + embed + insert, what the action server's
  hook costs per unsure moment);
- hit testing: ``POST /api/admin/hit-test`` on servers started by :class:`scripts.stack.Stack`
  (Rasa's ``/model/parse`` over HTTP with a JWT, plus the hybrid retrieval), n requests, p50/p95.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.errors import BenchError
from bench.stats import summarize
from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore
from scripts.stack import Stack, train_model

logger = logging.getLogger(__name__)

PASSWORD = secrets.token_urlsafe(18)
HIT_QUESTIONS = (
    "长护险怎么申请",
    "阿拉屋里老头子要请护工哪能弄",
    "遗嘱公证要带啥材料",
    "沪惠保今年还能买伐",
    "助餐点几点开饭",
    "我想约个助浴",
    "老年人摔跤了保险赔不赔",
    "楼下跳舞太吵了找谁",
)


@dataclass(frozen=True)
class AdminConfig:
    messages: int = 10_000
    group_rounds: int = 2
    hit_requests: int = 40
    start_timeout: float = 600.0
    model: Path | None = None


def run_grouping(cfg: AdminConfig, work: Path) -> dict[str, Any]:
    from staff import synthetic
    from staff.db import StaffDB, unanswered
    from staff.masking import mask
    from staff.unanswered import DISTANCE_THRESHOLD, Unanswered, default_embed, inverse_purity, purity

    pairs = synthetic.split("dev") + synthetic.split("test")
    texts = [mask(t) for t, _ in pairs]
    started = time.perf_counter()
    base = np.asarray(default_embed(texts), dtype=np.float32)
    embed_s = time.perf_counter() - started
    rng = np.random.default_rng(13)
    pick = rng.integers(0, len(pairs), size=cfg.messages)
    vectors = base[pick] + rng.normal(scale=0.004, size=(cfg.messages, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    db = StaffDB(f"sqlite:///{work / 'staff.sqlite'}")
    start_at = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    step = dt.timedelta(days=60) / cfg.messages
    with db.write() as conn:
        conn.execute(
            unanswered.insert(),
            [
                {
                    "at": start_at + step * i,
                    "channel": "synthetic",
                    "reason": "kb_below_threshold",
                    "text": texts[int(p)],
                    "vector": vectors[i].tobytes(),
                    "status": "open",
                }
                for i, p in enumerate(pick)
            ],
        )
    store = Unanswered(db)
    timings, groups = [], []
    for _ in range(cfg.group_rounds):
        t0 = time.perf_counter()
        groups = store.groups()
        timings.append(time.perf_counter() - t0)
    topic = {i + 1: pairs[int(p)][1] for i, p in enumerate(pick)}  # ids follow insertion order
    labels, truth = [], []
    for number, group in enumerate(groups):
        for message_id in group.ids:
            labels.append(number)
            truth.append(topic[message_id])
    one = []
    for text, _ in pairs[:20]:
        t0 = time.perf_counter()
        store.record(text + "？", "nlu_fallback", "bench")
        one.append(time.perf_counter() - t0)
    db.dispose()
    return {
        "messages": cfg.messages,
        "threshold": DISTANCE_THRESHOLD,
        "group_s": summarize(timings, 2),
        "groups": len(groups),
        "purity": round(purity(labels, truth), 3),
        "inverse_purity": round(inverse_purity(labels, truth), 3),
        "embed_600_s": round(embed_s, 1),
        "keep_one_s": summarize(one, 3),
    }


def _login(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, trust_env=False, timeout=60.0)
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    if csrf is None:
        raise BenchError("the staff login page has no CSRF field")
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf.group(1)})
    if answer.status_code != 303:
        raise BenchError(f"the bench admin could not log in ({answer.status_code})")
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/hit-test").text)
    if token is None:
        raise BenchError("the hit-testing page has no CSRF token")
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def run_hit_testing(cfg: AdminConfig, work: Path) -> dict[str, Any]:
    from staff.accounts import Accounts
    from staff.config import Settings
    from staff.db import StaffDB

    model = cfg.model or train_model()
    kb_url = f"sqlite:///{work / 'kb.sqlite'}"
    KBStore(kb_url).seed_if_empty(builtin_entries())
    stack = Stack.isolated(model, work / "stack", kb_url, f"sqlite:///{work / 'bookings.sqlite'}")
    result: dict[str, Any] = {"model": model.name}
    try:
        stack.start(timeout=cfg.start_timeout, staff=True)
        settings = Settings.from_env(stack.env())
        db = StaffDB(settings.database_url)
        name = f"bench-admin-{secrets.token_hex(3)}"
        Accounts(db, settings).create_user(name, PASSWORD, "admin")
        client = _login(stack.staff_url, name)
        client.post("/api/admin/hit-test", json={"q": "你好"})  # the first search builds the index
        latencies, rasa_failures = [], 0
        for i in range(cfg.hit_requests):
            t0 = time.perf_counter()
            answer = client.post("/api/admin/hit-test", json={"q": HIT_QUESTIONS[i % len(HIT_QUESTIONS)]})
            latencies.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise BenchError(f"hit testing answered {answer.status_code}")
            rasa_failures += "error" in answer.json()["nlu"]
        result["hit_test_s"] = summarize(latencies, 3)
        result["nlu_unanswered"] = rasa_failures
        db.dispose()
    finally:
        stack.stop()
    return result


def run_admin(cfg: AdminConfig, work: Path) -> dict[str, Any]:
    (work / "grouping").mkdir(parents=True, exist_ok=True)
    (work / "hit").mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"problems": []}
    result["grouping"] = run_grouping(cfg, work / "grouping")
    if result["grouping"]["purity"] < 0.9:
        result["problems"].append(f"grouping purity {result['grouping']['purity']} under 0.9")
    result["hit_testing"] = run_hit_testing(cfg, work / "hit")
    if result["hit_testing"]["nlu_unanswered"]:
        result["problems"].append("Rasa's /model/parse did not answer some hit tests")
    return result
