from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.files import builtin_entries, read_entries, write_entries
from knowledge_base.schema import COLLECTIONS, MAX_ANSWER_CHARS, EntryValidationError


def test_builtin_knowledge_base_is_complete_and_valid() -> None:
    entries = builtin_entries()
    assert len(entries) >= 150
    by_collection = {c: [e for e in entries if e.collection == c] for c in COLLECTIONS}
    assert all(by_collection.values()), {c: len(v) for c, v in by_collection.items()}
    for entry in entries:
        assert len(entry.questions) >= 3 and len(entry.answer) <= MAX_ANSWER_CHARS
        assert entry.source and entry.reviewed
    directory = by_collection["directory"]
    assert all(e.sample and e.street for e in directory), "directory entries are sample data tied to a street"
    assert {e.street for e in directory} >= {"顾村镇", "友谊路街道", "大场镇", "淞南镇"}


def _write_yaml(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"collection": "services", "entries": entries}, allow_unicode=True), "utf-8")
    return path


GOOD = {
    "id": "svc-test-one",
    "title": "测试条目",
    "questions": ["问一", "问二", "问三"],
    "answer": "短答。",
    "source": "测试",
    "reviewed": "2026-11-28",
}


def test_yaml_errors_name_file_row_and_field(tmp_path: Path) -> None:
    bad = [
        GOOD,
        {**GOOD, "id": "Bad ID"},
        {**GOOD, "id": "svc-test-three", "answer": "长" * 121},
        {**GOOD, "id": "svc-test-one"},
        {**GOOD, "id": "svc-test-five", "questions": ["只有一个"]},
    ]
    with pytest.raises(EntryValidationError) as caught:
        read_entries([_write_yaml(tmp_path / "bad.yml", bad)])
    text = str(caught.value)
    assert "bad.yml, row 2, field 'id'" in text
    assert "bad.yml, row 3, field 'answer'" in text
    assert "bad.yml, row 4, field 'id'" in text and "also used" in text
    assert "bad.yml, row 5, field 'questions'" in text


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "yml"])
def test_round_trip_and_spreadsheet_row_numbers(tmp_path: Path, suffix: str) -> None:
    entries = builtin_entries()[:5]
    target = tmp_path / f"export.{suffix}"
    write_entries(entries, target)
    assert read_entries([target]) == entries
    if suffix == "csv":
        lines = target.read_text(encoding="utf-8-sig").splitlines(keepends=True)
        target.write_text("".join(lines).replace(entries[1].id, "BAD ID", 1), encoding="utf-8-sig")
        with pytest.raises(EntryValidationError) as caught:
            read_entries([target])
        assert "export.csv, row 3, field 'id'" in str(caught.value)
    if suffix == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(target)
        sheet = book.active
        sheet["B4"] = "not-a-collection"  # row 4 = third entry
        book.save(target)
        with pytest.raises(EntryValidationError) as caught:
            read_entries([target])
        assert "export.xlsx, row 4, field 'collection'" in str(caught.value)
