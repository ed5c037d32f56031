"""Unanswered questions: what seniors asked when the assistant was not sure, masked, grouped by meaning.

Who reports (each a reason):

- ``nlu_fallback``: the classifier was unsure and no confident KB answer was found
  (``actions/knowledge.py``, ``action_fallback_kb``);
- ``kb_below_threshold``: a knowledge question whose best entry scored below the threshold;
- ``unhelpful``: right after a KB answer the senior said 不对 / 没用 / 听不懂 / 答非所问 / 你说的不是我问的 …
  (:func:`unhelpful`, the table ``training_data/complaints.yml``, which the NLU's IntentRules also reads
  to make such a message ``deny``); the question that got the answer is kept (``actions/knowledge.py``:
  ``action_deny``, which the "deny outside a question" rule runs, and the fallbacks and
  ``action_kb_answer`` for what the NLU read otherwise);
- ``marked_wrong``: an agent marked a bot answer 答错 in the console (the question is kept).

The text is masked (:func:`staff.masking.mask`) *before* it is written, and the e5 query
embedding of the masked text is stored with it, so grouping never embeds again.

Grouping: average-linkage agglomerative clustering over cosine distances with a distance
threshold (:data:`DISTANCE_THRESHOLD`, chosen on the synthetic development split in
``staff/synthetic.py`` by :func:`choose_threshold`; a test checks the choice). Above
:data:`DIRECT_MAX` messages, a leader pass first merges near-duplicates into micro-groups
(cosine distance under an eighth of the threshold) and the clustering runs on their centroids, so
10,000 messages group in seconds and in bounded memory.

What an administrator does with a group (add as variants, draft an entry, dismiss) is kept on
its messages (``status``, ``handled_at``); a group whose messages are handled is listed as
handled, and one that gets new open messages after it was handled is marked as come back.

Retention: :meth:`Unanswered.purge` deletes messages older than ``STAFF_UNANSWERED_DAYS``
(default 180); the staff app runs it once an hour, and ``python -m staff purge-unanswered``
runs it by hand (e.g. from cron).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from common import complaints
from common.turns import previous_kb_entry
from staff.db import StaffDB, now, unanswered
from staff.errors import InvalidInput
from staff.masking import mask

logger = logging.getLogger(__name__)

REASONS = ("nlu_fallback", "kb_below_threshold", "unhelpful", "marked_wrong")
STATUSES = ("open", "dismissed", "added", "drafted")
MAX_TEXT_CHARS = 500
# Cosine distance under which two groups merge (average linkage); see choose_threshold.
DISTANCE_THRESHOLD = 0.105
THRESHOLD_CANDIDATES = tuple(round(0.03 + 0.005 * i, 3) for i in range(35))  # 0.03 … 0.20
# Purity weighs more than completeness: a group mixing two topics misleads an administrator,
# a topic split in two only costs a second look. F-beta with beta 0.5.
BETA = 0.5
DIRECT_MAX = 2500
# The leader pass's radius as a share of the threshold: tight, so that the micro-groups' centroids
# cluster like the messages themselves (on 10,000 synthetic questions a half merged two topics,
# purity 0.89; an eighth gives 0.95, as clustering the 600 distinct texts directly does).
LEADER_SHARE = 1 / 8
MAX_GROUPED = 20_000
EXAMPLES = 5
Embed = Callable[[list[str]], np.ndarray]


def default_embed(texts: list[str]) -> np.ndarray:
    from knowledge_base.embedding import shared_embedder

    return shared_embedder().encode(texts, "query")


# -- clustering ---------------------------------------------------------------------------------


def _leader(vectors: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Micro-groups: each vector joins the first centroid within ``radius`` (cosine distance).

    Returns (assignment per vector, unit centroids)."""
    n = len(vectors)
    assignment = np.empty(n, dtype=np.int64)
    sums = np.zeros((min(n, 1024), vectors.shape[1]), dtype=np.float64)
    centroids = np.zeros_like(sums, dtype=np.float32)
    count = 0
    for i, vector in enumerate(vectors):
        if count:
            sims = centroids[:count] @ vector
            best = int(np.argmax(sims))
            if 1.0 - float(sims[best]) <= radius:
                assignment[i] = best
                sums[best] += vector
                norm = np.linalg.norm(sums[best])
                centroids[best] = sums[best] / (norm or 1.0)
                continue
        if count == len(sums):
            sums = np.vstack([sums, np.zeros_like(sums)])
            centroids = np.vstack([centroids, np.zeros_like(centroids)])
        sums[count] = vector
        centroids[count] = vector
        assignment[i] = count
        count += 1
    return assignment, centroids[:count]


def cluster(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> np.ndarray:
    """A group label per vector (unit vectors; cosine distance, average linkage, ``threshold``)."""
    from sklearn.cluster import AgglomerativeClustering

    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if n <= DIRECT_MAX:
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
        )
        return np.asarray(model.fit_predict(vectors), dtype=np.int64)
    assignment, centroids = _leader(vectors, threshold * LEADER_SHARE)
    if len(centroids) > DIRECT_MAX * 2:
        # Still too many: cluster the centroids in the same way, one level up.
        upper = cluster(centroids, threshold)
    elif len(centroids) == 1:
        upper = np.zeros(1, dtype=np.int64)
    else:
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
        )
        upper = np.asarray(model.fit_predict(centroids), dtype=np.int64)
    labels: np.ndarray = upper[assignment]
    return labels


def purity(labels: Sequence[int] | np.ndarray, truth: Sequence[Any]) -> float:
    """Share of messages whose group's most common true topic is their own."""
    groups: dict[int, Counter[Any]] = {}
    for label, topic in zip(labels, truth):
        groups.setdefault(int(label), Counter())[topic] += 1
    return sum(c.most_common(1)[0][1] for c in groups.values()) / max(len(truth), 1)


def inverse_purity(labels: Sequence[int] | np.ndarray, truth: Sequence[Any]) -> float:
    """Share of messages in the largest group of their true topic (1.0: each topic is one group).

    Purity alone rewards one group per message; the two together reward the right grouping."""
    topics: dict[Any, Counter[int]] = {}
    for label, topic in zip(labels, truth):
        topics.setdefault(topic, Counter())[int(label)] += 1
    return sum(c.most_common(1)[0][1] for c in topics.values()) / max(len(truth), 1)


def choose_threshold(
    vectors: np.ndarray, truth: Sequence[Any], candidates: Sequence[float] = THRESHOLD_CANDIDATES
) -> tuple[float, list[dict[str, float]]]:
    """The candidate with the best F-beta (:data:`BETA`) of purity and inverse purity on a labelled split
    (ties: the smaller threshold)."""
    report = []
    for threshold in candidates:
        labels = cluster(vectors, threshold)
        p, ip = purity(labels.tolist(), truth), inverse_purity(labels.tolist(), truth)
        b2 = BETA * BETA
        score = (1 + b2) * p * ip / (b2 * p + ip) if p + ip else 0.0
        report.append(
            {"threshold": threshold, "purity": p, "inverse_purity": ip, "f": score, "groups": len(set(labels))}
        )
    best = max(report, key=lambda r: (round(r["f"], 6), -r["threshold"]))
    return float(best["threshold"]), report


# -- the store -----------------------------------------------------------------------------------


@dataclass
class Group:
    ids: list[int]
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    examples: list[str]
    reasons: dict[str, int]
    status: str  # open | dismissed | added | drafted (what was done with it last)
    returned: bool  # handled before, and new messages came after
    open_ids: list[int] = field(default_factory=list)
    kb_entries: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "open_ids": self.open_ids,
            "count": self.count,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "examples": self.examples,
            "reasons": self.reasons,
            "status": self.status,
            "returned": self.returned,
            "kb_entries": self.kb_entries,
        }


class Unanswered:
    def __init__(self, db: StaffDB, embed: Embed | None = None) -> None:
        self.db = db
        self._embed = embed or default_embed

    def record(
        self,
        text: str,
        reason: str,
        channel: str = "unknown",
        *,
        intent: str | None = None,
        confidence: float | None = None,
        kb_entry: str | None = None,
        kb_score: float | None = None,
        at: dt.datetime | None = None,
    ) -> int | None:
        """Mask and keep one message; returns its id (None for an empty message)."""
        if reason not in REASONS:
            raise InvalidInput(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
        masked = mask(text.strip())[:MAX_TEXT_CHARS]
        if not masked:
            return None
        vector = np.asarray(self._embed([masked]), dtype=np.float32).reshape(-1)
        with self.db.write() as conn:
            result = conn.execute(
                unanswered.insert().values(
                    at=at or now(),
                    channel=channel[:32],
                    reason=reason,
                    text=masked,
                    intent=(intent or None) and intent[:64],
                    confidence=confidence,
                    kb_entry=kb_entry,
                    kb_score=kb_score,
                    vector=vector.tobytes(),
                    status="open",
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def record_many(self, items: Sequence[tuple[str, str, dt.datetime]], channel: str = "synthetic") -> int:
        """(text, reason, at) in bulk, one embedding call (tests, bench, imports)."""
        masked = [mask(t.strip())[:MAX_TEXT_CHARS] for t, _, _ in items]
        vectors = np.asarray(self._embed(masked), dtype=np.float32)
        with self.db.write() as conn:
            conn.execute(
                unanswered.insert(),
                [
                    {
                        "at": at,
                        "channel": channel,
                        "reason": reason,
                        "text": text,
                        "vector": vector.tobytes(),
                        "status": "open",
                    }
                    for text, (_, reason, at), vector in zip(masked, items, vectors)
                ],
            )
        return len(items)

    def _rows(self, since: dt.datetime | None) -> list[Any]:
        stmt = sa.select(
            unanswered.c.id,
            unanswered.c.at,
            unanswered.c.text,
            unanswered.c.reason,
            unanswered.c.kb_entry,
            unanswered.c.vector,
            unanswered.c.status,
            unanswered.c.handled_at,
        ).order_by(unanswered.c.id.desc())
        if since is not None:
            stmt = stmt.where(unanswered.c.at >= since)
        with self.db.read() as conn:
            return list(conn.execute(stmt.limit(MAX_GROUPED)).all())

    def groups(self, since: dt.datetime | None = None, threshold: float = DISTANCE_THRESHOLD) -> list[Group]:
        """Groups by meaning, largest first (come-back groups and open ones before handled ones)."""
        rows = [r for r in self._rows(since) if r.vector]
        if not rows:
            return []
        vectors = np.vstack([np.frombuffer(r.vector, dtype=np.float32) for r in rows])
        labels = cluster(vectors, threshold)
        members: dict[int, list[Any]] = {}
        for label, row in zip(labels, rows):
            members.setdefault(int(label), []).append(row)
        out = [self._group(sorted(rs, key=lambda r: r.at)) for rs in members.values()]
        out.sort(key=lambda g: (g.status != "open" and not g.returned, -g.count, -g.last_seen.timestamp()))
        return out

    @staticmethod
    def _group(rows: list[Any]) -> Group:
        handled = [r for r in rows if r.status != "open"]
        open_rows = [r for r in rows if r.status == "open"]
        last_handled = max((r.handled_at for r in handled if r.handled_at), default=None)
        returned = bool(handled) and any(last_handled is not None and r.at > last_handled for r in open_rows)
        if open_rows and not returned:
            status = "open"
        elif handled:
            status = max(handled, key=lambda r: r.handled_at or r.at).status
        else:
            status = "open"
        texts = Counter(r.text for r in rows)
        return Group(
            ids=[int(r.id) for r in rows],
            open_ids=[int(r.id) for r in open_rows],
            count=len(rows),
            first_seen=rows[0].at,
            last_seen=rows[-1].at,
            examples=[t for t, _ in texts.most_common(EXAMPLES)],
            reasons=dict(Counter(r.reason for r in rows)),
            status=status,
            returned=returned,
            kb_entries=dict(Counter(r.kb_entry for r in rows if r.kb_entry)),
        )

    def texts(self, ids: Sequence[int]) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(unanswered.c.text).where(unanswered.c.id.in_(list(ids)))).all()
        return [r.text for r in rows]

    def mark(self, ids: Sequence[int], status: str, by: str, note: str | None = None) -> int:
        """Set what was done with these (open) messages; returns how many changed."""
        if status not in STATUSES or status == "open":
            raise InvalidInput(f"status must be one of {', '.join(STATUSES[1:])}")
        if not ids:
            raise InvalidInput("no messages given")
        with self.db.write() as conn:
            result = conn.execute(
                unanswered.update()
                .where(unanswered.c.id.in_(list(ids)), unanswered.c.status == "open")
                .values(status=status, handled_at=now(), handled_by=by[:64], handled_note=(note or None) and note[:200])
            )
            return int(result.rowcount or 0)

    def purge(self, days: int, at: dt.datetime | None = None) -> int:
        """Delete messages older than ``days`` days; returns how many."""
        cutoff = (at or now()) - dt.timedelta(days=days)
        with self.db.write() as conn:
            result = conn.execute(unanswered.delete().where(unanswered.c.at < cutoff))
            return int(result.rowcount or 0)

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(unanswered)).scalar_one())


# -- the action server's hook ---------------------------------------------------------------------

_reporter: Unanswered | None = None
_reporter_lock = threading.Lock()
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unanswered")


def reporter() -> Unanswered:
    """The process's store for reports (the action server), on the staff database."""
    global _reporter
    with _reporter_lock:
        if _reporter is None:
            from staff.config import Settings

            _reporter = Unanswered(StaffDB(Settings.from_env().database_url))
        return _reporter


def report(
    text: str,
    reason: str,
    conversation_id: str,
    *,
    intent: str | None = None,
    confidence: float | None = None,
    kb_entry: str | None = None,
    kb_score: float | None = None,
) -> None:
    """Keep an unsure moment, after the reply (one background thread: masking, embedding and the
    insert never delay an answer); a failure never reaches the senior's conversation."""
    from staff.queue import channel_of

    def keep() -> None:
        try:
            reporter().record(
                text,
                reason,
                channel_of(conversation_id),
                intent=intent,
                confidence=confidence,
                kb_entry=kb_entry,
                kb_score=kb_score,
            )
        except Exception as err:  # noqa: BLE001 - the staff database down must not break an answer
            logger.warning("Could not keep an unanswered question (%s).", type(err).__name__)

    _background.submit(keep)


def unhelpful(text: str) -> bool:
    """The whole message complains about the answer just given (``common.complaints``)."""
    return complaints.is_complaint(text)


def declined(text: str) -> bool:
    """The whole message is a plain "no thanks" (不用了, 没有了), which is never a complaint."""
    return complaints.is_decline(text)


# -- a turn the bot could not answer at all (the action server was down) ---------------------------


@dataclass(frozen=True)
class Missed:
    """What to keep from a turn that got only the guard's apology (:func:`missed_in`)."""

    text: str
    reason: str
    intent: str | None
    confidence: float | None
    kb_entry: str | None
    event_ts: float


def missed_in(events: Sequence[dict[str, Any]]) -> Missed | None:
    """The unsure moment in a conversation whose latest turn got no answer from the bot.

    When the action server is down, Rasa still classifies the message and stores it, but the
    action that would have kept it (``action_fallback_kb``, ``action_deny``) never runs. Read from
    the tracker's events (Rasa's JSON): a message the NLU did not understand (``nlu_fallback``) is
    kept as itself; a complaint right after a knowledge answer (the whole message is one of
    ``training_data/complaints.yml``, or the NLU read ``deny`` and it is neither a plain "no
    thanks" nor a correction carrying a value) keeps the question that got the answer, as
    ``unhelpful`` — the same rule as the action server's (``actions/knowledge.py``). Button
    payloads ("/…") are never kept."""
    users = [e for e in events if e.get("event") == "user"]
    if not users:
        return None
    last = users[-1]
    after = events[max(i for i, e in enumerate(events) if e.get("event") == "user") + 1 :]
    if any(e.get("event") == "bot" for e in after):
        return None  # the latest message was answered (the failed one never reached the tracker)
    text = str(last.get("text") or "")
    parse = last.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name")
    at = float(last.get("timestamp") or 0)
    if not text.strip() or text.startswith("/"):
        return None
    complaint = unhelpful(text) or (name == "deny" and not parse.get("entities") and not declined(text))
    entry = previous_kb_entry(events) if complaint and len(users) >= 2 else None
    if entry is not None:
        asked = users[-2]
        question = str(asked.get("text") or "")
        if not question.strip() or question.startswith("/"):
            return None
        before = (asked.get("parse_data") or {}).get("intent") or {}
        return Missed(question, "unhelpful", before.get("name"), before.get("confidence"), entry, at)
    if name == "nlu_fallback":
        return Missed(text, "nlu_fallback", name, intent.get("confidence"), None, at)
    return None
