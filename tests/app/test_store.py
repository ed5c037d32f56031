from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from knowledge_base.files import builtin_entries
from knowledge_base.store import EntryExists, EntryNotFound, KBStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KBStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    kb = KBStore(url)
    yield kb
    kb.dispose()


def test_every_change_is_a_revision_and_any_revision_can_be_restored(store: KBStore) -> None:
    entry = builtin_entries()[0]
    assert store.version() == 0
    store.add(entry, "alice", "first")
    edited = dataclasses.replace(entry, answer="改过的短答。")
    store.edit(edited, "bob", "fix wording")
    store.delete(entry.id, "carol", "outdated")
    assert store.version() == 3
    with pytest.raises(EntryNotFound):
        store.get(entry.id)
    history = store.history(entry.id)
    assert [(r.revision, r.action, r.author, r.reason) for r in history] == [
        (1, "add", "alice", "first"),
        (2, "edit", "bob", "fix wording"),
        (3, "delete", "carol", "outdated"),
    ]
    assert history[1].entry == edited and history[2].entry is None
    store.restore(entry.id, 1, "dave", "bring back the original")
    assert store.get(entry.id) == entry
    assert store.history(entry.id)[-1].action == "restore"
    assert store.version() == 4


def test_add_twice_and_edit_missing_are_refused(store: KBStore) -> None:
    entry = builtin_entries()[0]
    store.add(entry, "a", "r")
    with pytest.raises(EntryExists):
        store.add(entry, "a", "r")
    with pytest.raises(EntryNotFound):
        store.edit(dataclasses.replace(entry, id="svc-nope"), "a", "r")


def test_import_is_one_version_and_skips_unchanged(store: KBStore) -> None:
    entries = builtin_entries()[:10]
    assert store.import_entries(entries, "a", "r") == {"added": 10, "updated": 0, "unchanged": 0}
    changed = [dataclasses.replace(entries[0], title="新标题"), *entries[1:]]
    assert store.import_entries(changed, "a", "r") == {"added": 0, "updated": 1, "unchanged": 9}
    assert store.version() == 2
    assert not store.seed_if_empty(entries)


def test_concurrent_edits_all_land_with_distinct_revisions(store: KBStore) -> None:
    entry = builtin_entries()[0]
    store.add(entry, "a", "r")
    errors: list[BaseException] = []

    def edit(n: int) -> None:
        try:
            store.edit(dataclasses.replace(entry, answer=f"第{n}版。"), f"u{n}", "race")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.revision for r in store.history(entry.id)] == list(range(1, 10))
    assert store.version() == 9


def test_audit_log_records_actions(store: KBStore) -> None:
    store.audit("cli:alice", "export", "kb.xlsx")
    assert store.audit_log(1)[0]["action"] == "export"
