"""Effective dates: an entry valid from/until a day; the bot answers the version valid today."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.files import read_entries, write_entries
from knowledge_base.retrieval import LiveIndex
from knowledge_base.schema import Entry, parse_entry
from knowledge_base.store import KBStore

OLD = Entry(
    id="pension-2026",
    collection="services",
    title="2026年高龄津贴标准",
    questions=["高龄津贴一个月多少钱", "高龄补贴标准是多少", "八十岁津贴发多少"],
    answer="2026年：80–89岁每月75元。",
    source="测试",
    reviewed="2026-11-01",
    valid_until="2026-12-31",
)
NEW = Entry(
    **{
        **OLD.to_dict(),
        "id": "pension-2027",
        "title": "2027年高龄津贴标准",
        "answer": "2027年起：80–89岁每月100元。",
        "valid_from": "2027-01-01",
        "valid_until": "",
    }
)


class HashEmbedder:
    """Deterministic character-count vectors (the retrieval model is not under test here)."""

    dim = 64
    name = "hash"

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text:
                out[row, ord(ch) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def test_dates_are_checked_and_kept() -> None:
    entry, problems = parse_entry({**OLD.to_dict(), "valid_from": "2026-01-01"}, "t", 1)
    assert entry is not None and not problems
    assert (entry.valid_from, entry.valid_until) == ("2026-01-01", "2026-12-31")
    _, problems = parse_entry({**OLD.to_dict(), "valid_from": "明年"}, "t", 1)
    assert [p.field for p in problems] == ["valid_from"]
    _, problems = parse_entry({**OLD.to_dict(), "valid_from": "2027-02-01"}, "t", 1)
    assert [p.field for p in problems] == ["valid_until"] and "before" in problems[0].message
    assert "valid_from" not in OLD.to_dict()  # an entry without dates looks as it always did


@pytest.mark.parametrize(
    ("day", "old", "new"),
    [("2026-12-31", True, False), ("2027-01-01", False, True), ("2025-06-01", True, False)],
)
def test_valid_on(day: str, old: bool, new: bool) -> None:
    when = dt.date.fromisoformat(day)
    assert OLD.valid_on(when) is old and NEW.valid_on(when) is new


@pytest.mark.parametrize("suffix", [".yml", ".csv", ".xlsx"])
def test_dates_survive_export_and_import(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"kb{suffix}"
    write_entries([OLD, NEW], path)
    assert read_entries([path]) == [OLD, NEW]


def test_the_index_answers_the_version_valid_today_and_switches_at_midnight(tmp_path: Path) -> None:
    store = KBStore(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    store.import_entries([OLD, NEW], "test", "two versions of one policy")
    today = [dt.date(2026, 12, 31)]
    index = LiveIndex(store, embedder=HashEmbedder(), background=False, today=lambda: today[0])
    index.refresh(force=True)
    assert set(index.entries) == {"pension-2026"}
    assert index.search("高龄津贴一个月多少钱", top_k=1)[0].id == "pension-2026"
    assert index.refresh() is False  # same version, same day: nothing to do
    today[0] = dt.date(2027, 1, 1)
    assert index.refresh() is True  # a new day rebuilds, with no edit at all
    assert set(index.entries) == {"pension-2027"}
    assert index.search("高龄津贴一个月多少钱", top_k=1)[0].id == "pension-2027"
    store.dispose()
