"""Replies a senior can use: no internal ids, no sample contact details shown as real, one disclaimer."""

from __future__ import annotations

import re

import pytest

from knowledge_base.answers import (
    SAMPLE_CONTACTS_HIDDEN,
    UNSURE_MARK,
    UNSURE_NOTE,
    format_aspect,
    format_entry,
    not_sure,
    source_name,
)
from knowledge_base.files import builtin_entries
from knowledge_base.followup import aspect_named
from knowledge_base.retrieval import Hit

ENTRIES = {e.id: e for e in builtin_entries()}
PHONE_LIKE = re.compile(r"\d{3,4}-\d{4}-\d{4}|0\d{2,3}-?\d{7,8}")


@pytest.mark.parametrize("entry_id", sorted(ENTRIES))
def test_no_reply_shows_an_internal_id(entry_id: str) -> None:
    text, _ = format_entry(ENTRIES[entry_id])
    assert entry_id not in text and "条目" not in text
    assert text.splitlines()[-1] == f"来源：{source_name(ENTRIES[entry_id])}"


@pytest.mark.parametrize("entry_id", sorted(i for i, e in ENTRIES.items() if e.sample))
def test_sample_contact_details_are_never_shown_to_seniors(entry_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YINLING_SHOW_SAMPLE_CONTACTS", raising=False)
    entry = ENTRIES[entry_id]
    text, _ = format_entry(entry)
    for key in ("place", "phone", "hours"):
        if entry.fields.get(key):
            assert entry.fields[key] not in text
    assert not PHONE_LIKE.search(text), text
    if any(entry.fields.get(k) for k in ("place", "phone", "hours")):
        assert SAMPLE_CONTACTS_HIDDEN in text
    for aspect in ("place", "phone", "hours"):
        focused = format_aspect(entry, aspect_named(aspect))  # type: ignore[arg-type]
        if focused is not None:
            value = entry.fields.get(aspect)
            assert (not value or value not in focused[0]) and "12345" in focused[0]
            assert not PHONE_LIKE.search(focused[0]), focused[0]


def test_a_demo_setting_shows_sample_contacts_marked_as_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YINLING_SHOW_SAMPLE_CONTACTS", "1")
    entry = next(e for e in ENTRIES.values() if e.sample and e.fields.get("phone"))
    text, _ = format_entry(entry)
    assert entry.fields["phone"] in text and "示例" in text


def test_the_full_disclaimer_once_per_conversation_and_never_twice_in_a_reply() -> None:
    hedges = re.compile(r"以官方为准|以官方最新|12345")
    entry = next(
        e for e in ENTRIES.values() if e.unsure and not e.sample and not hedges.search(e.answer + str(e.fields))
    )
    first, disclaimed = format_entry(entry)
    assert disclaimed and first.count(UNSURE_NOTE) == 1
    later, again = format_entry(entry, disclaimer_shown=True)
    assert not again and UNSURE_NOTE not in later and UNSURE_MARK in later
    hedged = next(e for e in ENTRIES.values() if e.unsure and not e.sample and "以官方为准" in e.answer)
    text, _ = format_entry(hedged)
    assert UNSURE_NOTE not in text, "the answer already points to the official channel"


def test_an_unsure_reply_offers_numbered_entries_that_travel_with_it() -> None:
    ids = sorted(ENTRIES)[:3]
    reply = not_sure([Hit(i, 0.5) for i in ids], ENTRIES)
    assert reply.choices == tuple(ids) and not reply.confident
    assert all(f"{n}. {ENTRIES[i].title}" in reply.text for n, i in enumerate(ids, start=1))
    assert "12345" in reply.text
