from __future__ import annotations

import csv
import dataclasses
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from knowledge_base.files import (
    FORMULA_STARTS,
    MAX_FILE_BYTES,
    ExportError,
    builtin_entries,
    escape_cell,
    read_entries,
    unescape_cell,
    write_entries,
)
from knowledge_base.schema import (
    COLLECTIONS,
    MAX_ANSWER_CHARS,
    Entry,
    EntryValidationError,
    KnowledgeBaseError,
    parse_entry,
)


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


# -- formulas never travel with an export ------------------------------------------------------
FORMULA_PREFIXES = ["=", "+", "-", "@", "'=", "''+", "'", ""]
_SAFE_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc"),
    blacklist_characters="\u2028\u2029\ufffe\uffff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
)


def _texts(min_size: int = 1) -> st.SearchStrategy[str]:
    body = st.text(_SAFE_CHARS, min_size=min_size, max_size=12)
    return st.builds(lambda prefix, text: prefix + text, st.sampled_from(FORMULA_PREFIXES), body)


@st.composite
def _entries(draw: st.DrawFn) -> Entry:
    raw = {
        "id": "svc-prop",
        "collection": "services",
        "title": draw(_texts()),
        "questions": draw(st.lists(_texts(), min_size=3, max_size=4)),
        "answer": draw(_texts()),
        "details": draw(st.builds(lambda a, b: f"{a}\n{b}", _texts(0), _texts(0))),
        "fields": {
            "fees": draw(_texts()),
            "how_to": draw(st.builds(lambda a, b: f"{a}\n\t{b}", _texts(), _texts())),
            "documents": draw(st.lists(_texts(), min_size=1, max_size=3)),
        },
        "source": draw(_texts()),
        "reviewed": "2026-11-28",
    }
    entry, _ = parse_entry(raw, "generated", 1)
    assume(entry is not None)
    assert entry is not None
    return entry


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=_entries())
@example(
    entry=parse_entry(
        {**GOOD, "title": '=HYPERLINK("http://x","点我")', "answer": "'=1+1", "collection": "services"}, "e", 1
    )[0]
)
def test_export_then_import_gives_back_exactly_the_entries(tmp_path: Path, entry: Entry) -> None:
    second = dataclasses.replace(
        entry, id="svc-prop-two", title="@" + entry.title[:50], answer="-" + entry.answer[:100]
    )
    for suffix in ("csv", "xlsx", "yml"):
        target = tmp_path / f"round.{suffix}"
        write_entries([entry, second], target)
        assert read_entries([target]) == [entry, second], suffix


@pytest.mark.property
@given(text=st.text())
@example(text="'=")
@example(text="''")
def test_csv_escaping_is_undone_exactly(text: str) -> None:
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(FORMULA_STARTS), "an escaped cell never starts a formula"


def test_exported_cells_are_text_never_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    entry = dataclasses.replace(
        builtin_entries()[0],
        title='=HYPERLINK("http://example.invalid","点我")',
        answer="+1-1",
        source="@SUM(A1:A2)",
        details="-2\n=3",
    )
    write_entries([entry], tmp_path / "e.csv")
    row = next(csv.DictReader((tmp_path / "e.csv").open(encoding="utf-8-sig", newline="")))
    assert row["title"] == "'" + entry.title and row["answer"] == "'+1-1" and row["source"] == "'@SUM(A1:A2)"
    assert row["details"] == "'-2\n=3" and row["id"] == entry.id, "only cells that start a formula change"

    write_entries([entry], tmp_path / "e.xlsx")
    with zipfile.ZipFile(tmp_path / "e.xlsx") as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml, "no formula element in the sheet"
    cells = {c.value: c for c in load_workbook(tmp_path / "e.xlsx").active[2]}
    title = cells[entry.title]
    assert title.data_type == "s" and title.quotePrefix, "a text cell, marked as typed with a leading '"
    assert cells["+1-1"].data_type == "s" and not cells[entry.id].quotePrefix

    write_entries([entry], tmp_path / "e.yml")
    assert yaml.safe_load((tmp_path / "e.yml").read_text("utf-8"))["entries"][0]["title"] == entry.title


def test_documents_with_enumeration_commas_survive_a_csv_round_trip(tmp_path: Path) -> None:
    entry = dataclasses.replace(builtin_entries()[0], fields={"documents": ["身份证、户口簿原件", "照片"]})
    write_entries([entry], tmp_path / "d.csv")
    assert read_entries([tmp_path / "d.csv"]) == [entry]


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "kb.xlsx"
    with pytest.raises(ExportError) as caught:
        write_entries(builtin_entries()[:2], target)
    assert str(target) in str(caught.value) and isinstance(caught.value, KnowledgeBaseError)
    assert not target.parent.exists()


# -- reading: every problem, clearly, nothing half-read -----------------------------------------
def _csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CSV_ROW = ["svc-csv", "services", "标题", "问一\n问二\n问三", "短答。", "", "", "false", "false", "测试", "2026-11-28"]


def test_csv_header_typos_and_cells_without_a_header_are_named(tmp_path: Path) -> None:
    header = [
        "id",
        "collection",
        "titel",
        "questions",
        "answer",
        "details",
        "street",
        "sample",
        "unsure",
        "source",
        "reviewed",
    ]
    with pytest.raises(EntryValidationError) as caught:
        read_entries([_csv(tmp_path / "h.csv", header, [*CSV_ROW, "多出来的"])])
    text = str(caught.value)
    assert "h.csv, row 1, field 'titel': is not a column" in text and text.count("titel") == 1, "reported once"
    assert "h.csv, row 2, field 'column 12': has a value but no header" in text
    good = ["id", "collection", "title", *header[3:]]
    assert read_entries([_csv(tmp_path / "ok.csv", good, CSV_ROW)])[0].questions == ["问一", "问二", "问三"]
    with pytest.raises(EntryValidationError) as caught:
        read_entries([_csv(tmp_path / "dup.csv", [*good, "title"], [*CSV_ROW, "又一个"])])
    assert "dup.csv, row 1, field 'title': appears twice" in str(caught.value)


def test_unreadable_csv_is_one_problem(tmp_path: Path) -> None:
    (tmp_path / "gbk.csv").write_bytes("id,title\nsvc-a,标题\n".encode("gbk"))  # Excel's default "CSV" in China
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "gbk.csv"])
    assert (
        len(caught.value.problems) == 1
        and "is not UTF-8 text" in str(caught.value)
        and "CSV UTF-8" in str(caught.value)
    )
    header = [
        "id",
        "collection",
        "title",
        "questions",
        "answer",
        "details",
        "street",
        "sample",
        "unsure",
        "source",
        "reviewed",
    ]
    with pytest.raises(EntryValidationError) as caught:
        read_entries([_csv(tmp_path / "nul.csv", header, [*CSV_ROW[:2], "标\x00题", *CSV_ROW[3:]])])
    assert [str(p) for p in caught.value.problems] == [
        "nul.csv, row 2, field 'title': contains the control character U+0000 at position 2; remove it"
    ]


BILLION_LAUGHS_YAML = "\n".join(
    [
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)),
        "collection: services",
        "entries:",
        "  - id: svc-laughs",
        "    title: *i",
        "    questions: *i",
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BILLION_LAUGHS_YAML, "expands to more than"),
        ("collection: services\nentries: &e\n  - *e\n", "expands to more than"),
        ("collection: services\nentries:\n  - id: x\n   title: y\n", "YAML syntax error at line 4, column 4"),
        ("collection: services\nentry: []\n", "expected 'collection' and a list 'entries'"),
        ("collection: services\nentries: []\nextra: 1\n", "is not a key of an entries file"),
        ("collection: services\nentries:\n  - !!python/object:os.system {}\n", "YAML syntax error"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
    ids=["billion-laughs", "recursive-alias", "syntax", "no-entries", "unknown-key", "python-tag", "deep"],
)
def test_hostile_or_broken_yaml_is_one_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bad.yml").write_text(text, encoding="utf-8")
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "bad.yml"])
    assert len(caught.value.problems) == 1 and expected in str(caught.value), str(caught.value)


def test_yaml_aliases_that_expand_modestly_are_fine(tmp_path: Path) -> None:
    shared = ["问一", "问二", "问三"]
    entries = [{**GOOD, "id": f"svc-alias-{i}", "questions": shared} for i in range(3)]
    assert "*id" in yaml.safe_dump({"entries": entries}, allow_unicode=True), "the dump uses an alias"
    assert [e.questions for e in read_entries([_write_yaml(tmp_path / "a.yml", entries)])] == [shared] * 3


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("entries: [\n", encoding="utf-8")
    bad = _write_yaml(tmp_path / "bad.yml", [{**GOOD, "title": "题" * 61}])
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "broken.yml", bad, tmp_path / "missing.csv"])
    text = str(caught.value)
    assert "broken.yml: YAML syntax error" in text and "bad.yml, row 1, field 'title'" in text
    assert "missing.csv: no such file" in text and len(caught.value.problems) == 3


def test_a_device_or_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    (tmp_path / "endless.csv").symlink_to("/dev/zero")
    with open(tmp_path / "huge.xlsx", "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "endless.csv", tmp_path / "huge.xlsx"])
    assert [p.message for p in caught.value.problems] == [
        "is not a regular file (a device or a pipe?)",
        "is larger than 50 MB; at most that per file",
    ]
