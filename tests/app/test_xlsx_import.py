"""XLSX imports: every row is read, and a broken or hostile file is one clear problem, never a partial import.

The hostile files are built here from a real export, a few KB each: a sheet whose
<dimension> understates it, a truncated and a password-protected file, an XML external
entity, an entity-expansion bomb, a zip bomb (by ratio, and by declared size).
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge_base.__main__ import main
from knowledge_base.files import MAX_COLUMNS, MAX_ROWS, builtin_entries, read_entries, write_entries
from knowledge_base.schema import EntryValidationError
from knowledge_base.store import KBStore

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    target = tmp_path / "export.xlsx"
    write_entries(builtin_entries()[:3], target)
    return target


def _rewrite(
    source: Path, target: Path, change: dict[str, Callable[[bytes], bytes]], add: dict[str, bytes] | None = None
) -> Path:
    """A copy of the workbook with some parts changed and some added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info.filename)
            new.writestr(info.filename, change.get(info.filename, lambda d: d)(data))
        for name, data in (add or {}).items():
            new.writestr(name, data)
    target.write_bytes(buffer.getvalue())
    return target


def _in_sheet(old: str, new: str) -> dict[str, Callable[[bytes], bytes]]:
    def change(data: bytes) -> bytes:
        text = data.decode()
        assert old in text
        return text.replace(old, new, 1).encode()

    return {SHEET: change}


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_every_row_is_read_whatever_the_dimension_says(export: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    lying = _rewrite(export, tmp_path / "lying.xlsx", _in_sheet("</sheetPr>", '</sheetPr><dimension ref="A1:T2"/>'))
    trusting = load_workbook(lying, read_only=True).active
    assert len(list(trusting.iter_rows())) == 2, "the crafted file is the trap: read-only openpyxl sees 1 entry"
    assert [e.id for e in read_entries([lying])] == [e.id for e in builtin_entries()[:3]]


def test_a_table_below_blank_rows_keeps_excel_row_numbers(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    source = tmp_path / "plain.xlsx"
    write_entries(builtin_entries()[:2], source)
    book = load_workbook(source)
    book.active.insert_rows(1, amount=2)  # an administrator left two blank rows above the table
    book.active["B5"] = "not-a-collection"
    book.save(tmp_path / "lower.xlsx")
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "lower.xlsx"])
    assert [(p.row, p.field) for p in caught.value.problems] == [(5, "collection")]


def test_a_formula_cell_is_refused_with_its_row_and_column(export: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    book = load_workbook(export)
    book.active["C3"] = '=HYPERLINK("http://example.invalid","点我")'
    book.active["E4"] = "'=text typed with a quote"  # text, as Excel stores it
    book.save(tmp_path / "formula.xlsx")
    with pytest.raises(EntryValidationError) as caught:
        read_entries([tmp_path / "formula.xlsx"])
    assert [str(p) for p in caught.value.problems] == [
        "formula.xlsx, row 3, field 'column C': is a formula; type the text itself "
        "(in Excel, begin it with ' to keep a leading =)"
    ]


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the sizes a zip declares for ``member`` (local header and central directory)."""
    out = bytearray(data)
    name = member.encode()
    local = out.find(b"PK\x03\x04" + b"\x14\x00")
    while local != -1:
        (name_len,) = struct.unpack_from("<H", out, local + 26)
        if out[local + 30 : local + 30 + name_len] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central != -1:
        (name_len,) = struct.unpack_from("<H", out, central + 28)
        if out[central + 46 : central + 46 + name_len] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


XXE = '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def _hostile(name: str, export: Path, tmp_path: Path) -> Path:
    target = tmp_path / f"{name}.xlsx"
    data = export.read_bytes()
    if name == "not-a-zip":
        target.write_bytes(b"id,title\nsvc-a,this is a CSV file named .xlsx\n")
    elif name == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif name == "encrypted":
        # Excel saves a password-protected workbook as an OLE compound file, not a zip.
        target.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    elif name == "xxe":
        _rewrite(export, target, _in_sheet("<worksheet", XXE + "<worksheet"))
        _rewrite(target, target, _in_sheet("<t>title</t>", "<t>&xxe;</t>"))
    elif name == "billion-laughs":
        _rewrite(export, target, _in_sheet("<worksheet", LAUGHS + "<worksheet"))
        _rewrite(target, target, _in_sheet("<t>title</t>", "<t>&lol9;</t>"))
    elif name == "zip-bomb-ratio":
        _rewrite(export, target, {}, add={"xl/media/image1.png": bytes(20 * 1024 * 1024)})
    elif name == "zip-bomb-declared":
        _rewrite(export, target, {}, add={"xl/media/image1.png": bytes(1024)})
        target.write_bytes(_declare_size(target.read_bytes(), "xl/media/image1.png", 300 * 1024 * 1024))
    elif name == "utf16":
        _rewrite(export, target, {SHEET: lambda d: d.decode().encode("utf-16")})
    elif name == "bad-crc":
        _rewrite(export, target, {}, add={"xl/media/image1.png": bytes(2048)})
        target.write_bytes(_declare_size(target.read_bytes(), "xl/media/image1.png", 1024))
    elif name == "too-many-rows":
        far = MAX_ROWS + 5
        _rewrite(export, target, _in_sheet("</sheetData>", f'<row r="{far}">{_cell(f"A{far}", "x")}</row></sheetData>'))
    elif name == "too-wide":
        _rewrite(export, target, _in_sheet("</row>", _cell("XFD1", "stray") + "</row>"))
    elif name == "encrypted-part":
        data = bytearray(data)  # zip-level encryption: flag bit 0 of a part in the central directory
        central = data.find(b"PK\x01\x02")
        data[central + 8] |= 0x1
        target.write_bytes(bytes(data))
    elif name == "broken-xml":
        _rewrite(export, target, {SHEET: lambda d: d[: len(d) // 2]})
    elif name == "zip-not-xlsx":
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("notes.txt", "just a zip")
    else:
        raise AssertionError(name)
    return target


HOSTILE = {
    "not-a-zip": "is not a readable .xlsx file",
    "truncated": "is not a readable .xlsx file",
    "encrypted": "is password-protected",
    "encrypted-part": "has encrypted parts",
    "xxe": "declares a DTD or entities",
    "billion-laughs": "declares a DTD or entities",
    "zip-bomb-ratio": "times its packed size; at most 100 (a zip bomb)",
    "zip-bomb-declared": "would unpack to 300 MB; at most 100 MB",
    "utf16": "is not UTF-8 XML",
    "bad-crc": "is not a readable .xlsx file (damaged or truncated)",
    "too-many-rows": f"goes on past row {MAX_ROWS + 1}",
    "too-wide": f"has a value in column XFD; at most {MAX_COLUMNS} columns",
    "broken-xml": "cannot be read as an Excel workbook (",
    "zip-not-xlsx": "cannot be read as an Excel workbook (",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_broken_or_hostile_file_is_one_clear_problem_and_imports_nothing(
    name: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _hostile(name, export, tmp_path)
    assert path.stat().st_size < 400_000, "the fixtures stay small"
    with pytest.raises(EntryValidationError) as caught:
        read_entries([path])
    assert len(caught.value.problems) == 1, caught.value.problems
    assert HOSTILE[name] in str(caught.value), str(caught.value)
    assert "root:" not in str(caught.value), "nothing of /etc/passwd"

    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    good = tmp_path / "good.xlsx"
    write_entries(builtin_entries()[3:5], good)
    assert main(["--database", url, "import", str(good), str(path), "--reason", "月度更新"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("knowledge_base: ") and "Traceback" not in err, err
    assert KBStore(url).version() == 0, "the good file beside it was not imported either"


def test_openpyxl_itself_refuses_entities_here(export: Path, tmp_path: Path) -> None:
    """The second line of defence: defusedxml is installed, so openpyxl parses through it."""
    import openpyxl
    from defusedxml import DefusedXmlException
    from openpyxl import load_workbook

    assert openpyxl.DEFUSEDXML
    with pytest.raises(ValueError) as caught:
        book = load_workbook(_hostile("xxe", export, tmp_path), read_only=True)
        list(book.active.iter_rows(values_only=True))
    assert isinstance(caught.value.__cause__, DefusedXmlException), repr(caught.value.__cause__)


def test_a_real_export_of_many_rows_passes_the_limits(tmp_path: Path) -> None:
    import dataclasses

    entries = [dataclasses.replace(e, id=f"{e.id[:55]}-{i}") for i in range(5) for e in builtin_entries()]
    write_entries(entries, tmp_path / "all.xlsx")
    assert read_entries([tmp_path / "all.xlsx"]) == entries
