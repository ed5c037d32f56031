from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from knowledge_base.files import builtin_entries
from knowledge_base.schema import EntryValidationError
from knowledge_base.store import ChangeRefused, EntryExists, EntryNotFound, KBStore


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


def test_an_import_with_duplicate_ids_is_refused_whole_naming_every_duplicate(store: KBStore) -> None:
    a, b, c = builtin_entries()[:3]
    with pytest.raises(EntryValidationError) as caught:
        store.import_entries([a, b, dataclasses.replace(a, title="另一个标题"), c, b], "admin", "monthly update")
    assert [str(p) for p in caught.value.problems] == [
        f"import, row 3, field 'id': {a.id!r} is also at row 1",
        f"import, row 5, field 'id': {b.id!r} is also at row 2",
    ]
    assert store.version() == 0 and store.entries() == [], "nothing was written"


def test_every_write_checks_the_limits_whoever_builds_the_entry(store: KBStore) -> None:
    entry = builtin_entries()[0]
    flood = dataclasses.replace(entry, questions=[f"长护险第{i}种问法" for i in range(800)])
    with pytest.raises(EntryValidationError) as caught:
        store.add(flood, "api", "r")
    assert [p.field for p in caught.value.problems] == ["questions"]
    store.add(entry, "a", "r")
    version = store.version()
    with pytest.raises(EntryValidationError):
        store.edit(dataclasses.replace(entry, title="坏\x00标题"), "api", "r")
    with pytest.raises(EntryValidationError) as caught:
        store.import_entries([builtin_entries()[1], flood], "api", "r")
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "questions")]
    assert store.version() == version and store.get(entry.id) == entry


@pytest.mark.parametrize("revision", [1.9, 1.0, "1", True, None])
def test_restore_needs_a_whole_number_revision(store: KBStore, revision: object) -> None:
    entry = builtin_entries()[0]
    store.add(entry, "a", "r")
    store.edit(dataclasses.replace(entry, answer="第二版。"), "a", "r")
    with pytest.raises(ChangeRefused) as caught:
        store.restore(entry.id, revision, "a", "r")  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError) and "whole number" in str(caught.value)
    assert store.version() == 2 and store.get(entry.id).answer == "第二版。"
    store.restore(entry.id, 1, "a", "r")
    assert store.get(entry.id) == entry


def test_a_change_needs_an_author_and_a_reason(store: KBStore) -> None:
    entry = builtin_entries()[0]
    for author, reason in (("", "r"), ("a", "  "), ("a" * 129, "r"), ("a", "r" * 501)):
        with pytest.raises(ChangeRefused):
            store.add(entry, author, reason)
    assert store.version() == 0


def test_an_entry_stored_under_older_limits_stays_readable_but_cannot_be_restored(store: KBStore) -> None:
    """What an older version of the project stored must not break reading or indexing."""
    entry = builtin_entries()[0]
    store.add(entry, "a", "r")
    old = dataclasses.replace(entry, questions=[f"问法{i}" for i in range(40)])
    with store._change() as conn:  # as an older version without the limits would have written it
        KBStore._write_revision(conn, entry.id, "edit", old, "old", "before the limits")
    store.edit(entry, "a", "back to a short list")
    assert store.get(entry.id) == entry and store.history(entry.id)[1].entry == old
    assert len(store.snapshot()[1]) == 1
    with pytest.raises(EntryValidationError) as caught:
        store.restore(entry.id, 2, "a", "r")
    assert "revision 2" in str(caught.value) and "at most 30" in str(caught.value)
