"""Call assist: the agent types what the caller says and gets the top knowledge-base entries.

The same live index as the bot (``knowledge_base.retrieval.LiveIndex`` over the KB store, hybrid
dense + BM25, following the KB version), so colloquial, Shanghainese and voice-input phrasing is
handled as well as the bot handles it. Each hit carries: the short answer first, the checklist,
a plain spoken version to read out over the phone, and the source entry.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from common.contacts import HOTLINE
from knowledge_base.answers import FIELD_LABELS, SAMPLE_NOTE, UNSURE_NOTE, format_entry
from knowledge_base.retrieval import LiveIndex
from knowledge_base.schema import Entry
from knowledge_base.store import KBStore

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500
STAFF_PREFIX = "【工作人员发给您】"


def spoken(entry: Entry) -> str:
    """What to read out: whole sentences, no numbering or symbols."""
    parts = [entry.answer.rstrip("。") + "。"]
    documents = entry.fields.get("documents")
    if documents:
        parts.append(f"要带的东西有：{'、'.join(str(d) for d in documents)}。")
    for key in ("how_to", "place", "hours", "fees", "phone"):
        value = entry.fields.get(key)
        if value:
            text = "、".join(str(v) for v in value) if isinstance(value, list) else str(value)
            parts.append(f"{FIELD_LABELS.get(key, key)}：{text.rstrip('。')}。")
    if entry.sample:
        parts.append(f"地址电话是示例，请先打 {HOTLINE} 核实。")
    elif entry.unsure:
        parts.append(f"以官方最新规定为准，可以打 {HOTLINE} 问。")
    return "".join(parts)


def checklist(entry: Entry) -> list[str]:
    documents = entry.fields.get("documents") or []
    return [str(d) for d in documents] if isinstance(documents, list) else [str(documents)]


def message_for_senior(entry: Entry) -> str:
    """The entry as a message to the senior: the bot's own layout, marked as from a person."""
    text, _ = format_entry(entry)  # the same rules as the bot: no sample contacts, no internal ids
    return f"{STAFF_PREFIX}\n{text}"


def describe(entry: Entry, score: float) -> dict[str, Any]:
    note = SAMPLE_NOTE if entry.sample else UNSURE_NOTE if entry.unsure else None
    return {
        "id": entry.id,
        "title": entry.title,
        "collection": entry.collection,
        "score": round(score, 4),
        "answer": entry.answer,
        "checklist": checklist(entry),
        "spoken": spoken(entry),
        "note": note,
        "source": entry.source,
        "sample": entry.sample,
        "unsure": entry.unsure,
    }


class Assist:
    """The KB index, built once per process in the background (the embedding model loads once)."""

    def __init__(self, store: KBStore) -> None:
        self.store = store
        self._index: LiveIndex | None = None
        self._lock = threading.Lock()

    def index(self) -> LiveIndex:
        with self._lock:
            if self._index is None:
                index = LiveIndex(self.store)
                index.refresh(force=True)
                logger.info("Assist index ready: %d entries, version %d.", len(index.entries), index.version)
                self._index = index
            return self._index

    def search(self, query: str, top_k: int = 3) -> list[dict[str, Any]]:
        index = self.index()
        hits = index.search(query[:MAX_QUERY_CHARS], top_k=top_k)
        return [describe(index.entries[h.id], h.score) for h in hits if h.id in index.entries][:top_k]

    def entry(self, entry_id: str) -> Entry:
        return self.store.get(entry_id)
