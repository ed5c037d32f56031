"""Import and export of entries as YAML, CSV and XLSX (administrators live in Excel).

In CSV and XLSX an entry is one row; list fields (``questions``, ``fields.documents``) are
written one item per line inside the cell, and the structured fields are columns named
``fields.<name>``.

Formulas never travel with an export. A cell whose text begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return would be run as a formula when the file is opened in a
spreadsheet (``=HYPERLINK(...)`` and friends), so:

- XLSX: every cell is written as a text cell, never a formula; a cell beginning with one
  of those characters also gets Excel's quote prefix (Excel shows the text as it is and
  keeps it text when edited, as if typed with a leading ``'``). Import takes text cells as
  they are and refuses formula cells, naming row and column.
- CSV: such a cell is written with a leading apostrophe (``'=SUM(A1)``). Import removes one
  leading apostrophe when what follows, past any further apostrophes, begins with one of
  those characters; so any text, even one that itself begins with ``'=``, comes back
  exactly as it was exported.
- YAML needs nothing: no spreadsheet evaluates it, and ``yaml.safe_dump`` quotes whatever
  YAML itself would misread.

Imports are read whole and checked before anything is written: a file that is too large,
broken, truncated, password-protected or malicious (an XML external entity, entity
expansion, a zip bomb, nested YAML aliases) is one clear problem, never a partial import.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.schema import (
    FIELD_NAMES,
    MAX_IMPORT_ENTRIES,
    Entry,
    EntryValidationError,
    KnowledgeBaseError,
    Problem,
    check_unique,
    parse_entry,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
COLUMNS = (
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
    "valid_from",
    "valid_until",
    *(f"fields.{name}" for name in FIELD_NAMES),
)
LIST_COLUMNS = ("questions", "fields.documents")  # one item per line inside the cell
FORMATS = {".yml": "yaml", ".yaml": "yaml", ".csv": "csv", ".xlsx": "xlsx"}
YAML_FILE_KEYS = ("collection", "entries")
MAX_YAML_NODES = 2_000_000  # 10,000 entries take about 400,000

# Limits of one import file. A whole-KB export of 10,000 entries is about 5 MB as .xlsx
# (its sheet unpacks to 20 MB, 4.5 times its packed size), so these leave room for any
# real file and stop a zip bomb (300 MB from 311 KB) before anything is unpacked.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = MAX_IMPORT_ENTRIES  # entries per file
MAX_COLUMNS = 64
MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_XLSX_PARTS = 500
MAX_XLSX_RATIO = 100  # unpacked / packed, checked for parts larger than 1 MB
MAX_XLSX_CELLS = 2_000_000  # cells looked at, empty ones included (a sheet 16,384 columns wide)

# Formula triggers in Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet is a zip of XML parts that never need a document type declaration; one in
# any part means an external entity (XXE) or an entity-expansion bomb.
_DTD = re.compile(rb"<!(?i:doctype|entity)")
# The start of an XML part in UTF-16 or UTF-32, where the pattern above would not match.
_WIDE_XML_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00", b"\x00\x00\xfe\xff")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # password-protected .xlsx, or an old .xls

# openpyxl warns (on stderr) about Excel features it drops, such as data validation; the
# data it returns is complete, and an administrator must see one clear line, not those.
warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")


class ExportError(KnowledgeBaseError):
    """An export could not be written."""


def _problem(path: Path | str, message: str, row: int | None = None, field: str = "*") -> EntryValidationError:
    return EntryValidationError([Problem(str(path), row, field, message)])


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        kind = f"file type {path.suffix!r}" if path.suffix else "file without a type"
        raise _problem(path, f"unknown {kind}; use a .yml, .yaml, .csv or .xlsx file")
    return fmt


# -- escaping of spreadsheet cells -----------------------------------------------------------
def _formula_like(text: str) -> bool:
    return text.lstrip("'").startswith(FORMULA_STARTS)


def escape_cell(text: str) -> str:
    """CSV: a leading apostrophe keeps a spreadsheet from reading the cell as a formula."""
    return "'" + text if _formula_like(text) else text


def unescape_cell(text: str) -> str:
    """The inverse of ``escape_cell``, for every text."""
    return text[1:] if text.startswith("'") and _formula_like(text) else text


# -- reading ---------------------------------------------------------------------------------
def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def _read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise _problem(path, "is a folder, not a file")
        if path.exists() and not path.is_file():
            raise _problem(path, "is not a regular file (a device or a pipe?)")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims to be
        if len(data) > MAX_FILE_BYTES:
            raise _problem(path, f"is larger than {_mb(MAX_FILE_BYTES)}; at most that per file")
        return data
    except FileNotFoundError as err:
        raise _problem(path, "no such file") from err
    except PermissionError as err:
        raise _problem(path, "cannot be read (permission denied)") from err
    except OSError as err:
        raise _problem(path, f"cannot be read: {err.strerror or err}") from err


def _decode(path: Path | str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _problem(
            path, f"is not UTF-8 text (byte {err.start + 1}); save it as UTF-8 (in Excel: 'CSV UTF-8')"
        ) from err


def _expands_within(data: Any, limit: int) -> bool:
    """Whether walking ``data`` visits at most ``limit`` nodes, shared ones counted each time.

    YAML aliases let a small file stand for a huge (or endless) tree: nested aliases make a
    "billion laughs" document, a recursive one never ends. Everything that reads an entry
    walks the tree, so the walk is bounded here, stopping as soon as the limit is passed.
    """
    stack = [data]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _load_yaml(path: Path) -> Any:
    text = _decode(path, _read_bytes(path))
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _problem(path, f"YAML syntax error{where}: {err.problem or err.context}") from err
    except yaml.YAMLError as err:
        raise _problem(path, f"YAML error: {err}") from err
    except RecursionError as err:
        raise _problem(path, "is nested too deeply to be a knowledge-base file") from err
    if not _expands_within(data, MAX_YAML_NODES):
        raise _problem(path, "expands to more than a knowledge-base file can hold (YAML aliases nested or recursive)")
    return data


def _read_yaml(path: Path) -> list[tuple[Any, int]]:
    data = _load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise _problem(path, "expected 'collection' and a list 'entries'", field="entries")
    unknown = [str(k) for k in data if k not in YAML_FILE_KEYS]
    if unknown:
        raise _problem(path, f"is not a key of an entries file; use {', '.join(YAML_FILE_KEYS)}", field=unknown[0])
    if len(data["entries"]) > MAX_ROWS:
        raise _problem(path, f"has {len(data['entries'])} entries; at most {MAX_ROWS} per file")
    default = data.get("collection")
    return [
        ({**e, "collection": e.get("collection", default)} if isinstance(e, dict) else e, i)
        for i, e in enumerate(data["entries"], start=1)
    ]


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _shown(name: str) -> str:
    """A header for an error message: non-printable characters escaped, cut short."""
    text = repr(name)[1:-1]
    return text if len(text) <= 40 else text[:37] + "..."


def _table_to_raw(
    path: Path, rows: Iterable[tuple[int, list[Any]]], problems: list[Problem] | None = None
) -> list[tuple[dict[str, Any], int]]:
    """Rows of a table (CSV or a sheet) as raw entries. The first row with anything in it is
    the header; header problems and cells without a header are reported (once) together
    with ``problems`` already found in the file."""
    problems = list(problems or [])
    header: list[str] | None = None
    usable: list[bool] = []
    out: list[tuple[dict[str, Any], int]] = []
    for number, cells in rows:
        if not any(_cell_text(v) for v in cells):
            continue
        if header is None:
            header = [_cell_text(h) for h in cells]
            seen: set[str] = set()
            for name in header:
                if not name:
                    pass  # an empty header cell matters only if a row has a value below it
                elif name not in COLUMNS:
                    problems.append(
                        Problem(
                            path.name,
                            number,
                            _shown(name),
                            f"is not a column of the entries table; use {', '.join(COLUMNS)}",
                        )
                    )
                elif name in seen:
                    problems.append(Problem(path.name, number, name, "appears twice in the header"))
                usable.append(name in COLUMNS and name not in seen)
                seen.add(name)
            continue
        raw: dict[str, Any] = {"fields": {}}
        for position, value in enumerate(cells):
            if position >= len(header) or not header[position]:
                if _cell_text(value):
                    problems.append(
                        Problem(path.name, number, f"column {position + 1}", "has a value but no header above it")
                    )
                continue
            if not usable[position]:
                continue  # under a header already reported
            name = header[position]
            if isinstance(value, str):
                value = value.replace("\r\n", "\n").replace("\r", "\n")
                if name in LIST_COLUMNS:
                    value = value.split("\n")
            elif name in LIST_COLUMNS and value is not None:
                value = [value]  # one item typed as a number or a date
            if name.startswith("fields."):
                raw["fields"][name[len("fields.") :]] = value
            else:
                raw[name] = value
        out.append((raw, number))
    if problems:
        raise EntryValidationError(problems)
    return out


def _read_csv(path: Path) -> list[tuple[dict[str, Any], int]]:
    text = _decode(path, _read_bytes(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table: list[list[str]] = []
        for record in reader:
            if len(table) > MAX_ROWS:
                raise _problem(path, f"has more than {MAX_ROWS} rows of entries; at most {MAX_ROWS} per file")
            table.append(record)
    except csv.Error as err:
        raise _problem(path, f"cannot be read as CSV (line {reader.line_num}): {err}") from err
    # Excel row numbers: a record spanning several lines is still one row.
    rows = ((number, [unescape_cell(c) for c in cells]) for number, cells in enumerate(table, start=1))
    return _table_to_raw(path, rows)


def _check_xlsx_archive(path: Path, data: bytes) -> None:
    """Refuse what must not reach openpyxl: not a zip, encrypted, a zip bomb, DTDs in any part.

    Python's zipfile never returns more than a part's declared size (more fails its CRC
    check), so the declared sizes checked here bound what openpyxl can unpack.
    """
    if data.startswith(_OLE_MAGIC):
        raise _problem(
            path, "is password-protected (or an old .xls file); in Excel save it as .xlsx without a password"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise _problem(path, "is not a readable .xlsx file (damaged, truncated or not a spreadsheet)") from err
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_XLSX_PARTS:
            raise _problem(path, f"has {len(parts)} parts; a spreadsheet has at most {MAX_XLSX_PARTS}")
        if any(p.flag_bits & 0x1 for p in parts):
            raise _problem(path, "has encrypted parts; in Excel save it as .xlsx without a password")
        unpacked = sum(p.file_size for p in parts)
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise _problem(
                path,
                f"would unpack to {_mb(unpacked)}; at most {_mb(MAX_XLSX_UNPACKED_BYTES)} "
                "(a zip bomb, or far larger than any knowledge base)",
            )
        for part in parts:
            if part.file_size > 1024 * 1024 and part.file_size > MAX_XLSX_RATIO * max(part.compress_size, 1):
                raise _problem(
                    path,
                    f"part {part.filename[:60]!r} would unpack to {part.file_size // max(part.compress_size, 1)} "
                    f"times its packed size; at most {MAX_XLSX_RATIO} (a zip bomb)",
                )
        try:
            for part in parts:
                _scan_part(path, archive, part)
        except EntryValidationError:
            raise
        except (
            zipfile.BadZipFile,
            zlib.error,
            NotImplementedError,
            EOFError,
            OSError,
            ValueError,
            RuntimeError,
        ) as err:
            # A bad CRC, corrupt deflate data, an unsupported compression method, a cut-off part.
            raise _problem(path, "is not a readable .xlsx file (damaged or truncated)") from err


def _scan_part(path: Path, archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> None:
    tail = b""
    with archive.open(part) as stream:
        first = True
        while chunk := stream.read(1 << 16):
            if first and chunk.startswith(_WIDE_XML_STARTS):
                raise _problem(path, f"part {part.filename[:60]!r} is not UTF-8 XML; save the file again in Excel")
            first = False
            if _DTD.search(tail + chunk):
                raise _problem(
                    path,
                    f"part {part.filename[:60]!r} declares a DTD or entities, which a spreadsheet never needs "
                    "(an XML external-entity or entity-expansion attack); refused",
                )
            tail = chunk[-16:]


def _column_letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(position + 1))


def _xlsx_rows(path: Path, sheet: Any, problems: list[Problem]) -> Iterator[tuple[int, list[Any]]]:
    """Every row of the sheet, whatever its ``<dimension>`` claims (openpyxl's read-only mode
    trusts it, and a sheet written by another program may understate it)."""
    sheet.reset_dimensions()
    cells_seen = 0
    for number, row in enumerate(sheet.iter_rows(), start=1):
        if number > MAX_ROWS + 1:
            raise _problem(path, f"goes on past row {MAX_ROWS + 1}; at most {MAX_ROWS} entries per file")
        cells_seen += len(row)
        if cells_seen > MAX_XLSX_CELLS:
            raise _problem(path, f"has more than {MAX_XLSX_CELLS} cells; at most {MAX_COLUMNS} columns are read")
        values: list[Any] = []
        for position, cell in enumerate(row):
            value = cell.value
            if value is None or value == "":
                values.append(None)
                continue
            if position >= MAX_COLUMNS:
                raise _problem(
                    path, f"has a value in column {_column_letter(position)}; at most {MAX_COLUMNS} columns", number
                )
            kind = getattr(cell, "data_type", "s")
            if kind == "f":
                problems.append(
                    Problem(
                        path.name,
                        number,
                        f"column {_column_letter(position)}",
                        "is a formula; type the text itself (in Excel, begin it with ' to keep a leading =)",
                    )
                )
                value = None
            elif kind == "e":
                problems.append(Problem(path.name, number, f"column {_column_letter(position)}", "is an error value"))
                value = None
            values.append(value)
        yield number, values


def _read_xlsx(path: Path) -> list[tuple[dict[str, Any], int]]:
    data = _read_bytes(path)
    _check_xlsx_archive(path, data)
    from openpyxl import load_workbook

    problems: list[Problem] = []
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            sheet = book.active
            if sheet is None or not hasattr(sheet, "reset_dimensions"):
                raise _problem(path, "has no worksheet to read (the first sheet must hold the entries table)")
            table = list(_xlsx_rows(path, sheet, problems))
        finally:
            book.close()
    except EntryValidationError:
        raise
    except Exception as err:  # openpyxl raises almost anything on a damaged or hostile file
        first_line = (str(err).splitlines() or [""])[0][:120]  # openpyxl's messages run over several lines
        raise _problem(path, f"cannot be read as an Excel workbook ({type(err).__name__}: {first_line})") from err
    return _table_to_raw(path, table, problems)


_READERS = {"yaml": _read_yaml, "csv": _read_csv, "xlsx": _read_xlsx}


def read_raw(path: Path) -> list[tuple[Any, int]]:
    """Raw mappings with their row numbers (YAML: entry number; CSV/XLSX: spreadsheet row)."""
    return _READERS[format_of(path)](path)


def read_entries(paths: Iterable[Path]) -> list[Entry]:
    """Read and validate entries from files; every problem in every file is reported at once."""
    problems: list[Problem] = []
    located: list[tuple[Entry, str, int | None]] = []
    for path in paths:
        try:
            raws = read_raw(path)
        except EntryValidationError as err:
            problems.extend(err.problems)
            continue
        for raw, row in raws:
            entry, found = parse_entry(raw, path.name, row)
            problems.extend(found)
            if entry is not None:
                located.append((entry, path.name, row))
    problems.extend(check_unique(located))
    if problems:
        raise EntryValidationError(problems)
    return [entry for entry, _, _ in located]


def read_entry_file(path: Path) -> Entry:
    """One entry from a YAML file holding just that entry's mapping (``add`` and ``edit``)."""
    if format_of(path) != "yaml":
        raise _problem(path, "an entry to add or edit is a .yml file holding one entry")
    entry, problems = parse_entry(_load_yaml(path), path.name, None)
    if entry is None:
        raise EntryValidationError(problems)
    return entry


def builtin_entries() -> list[Entry]:
    """The entries shipped in knowledge_base/data/*.yml (the seed of a new database)."""
    return read_entries(sorted(DATA_DIR.glob("*.yml")))


# -- writing ---------------------------------------------------------------------------------
def _row(entry: Entry) -> dict[str, str]:
    row: dict[str, str] = {
        "id": entry.id,
        "collection": entry.collection,
        "title": entry.title,
        "questions": "\n".join(entry.questions),
        "answer": entry.answer,
        "details": entry.details,
        "street": entry.street or "",
        "sample": "true" if entry.sample else "false",
        "unsure": "true" if entry.unsure else "false",
        "source": entry.source,
        "reviewed": entry.reviewed,
        "valid_from": entry.valid_from,
        "valid_until": entry.valid_until,
    }
    for name in FIELD_NAMES:
        value = entry.fields.get(name, "")
        row[f"fields.{name}"] = "\n".join(value) if isinstance(value, list) else str(value)
    return row


def _write_yaml(entries: list[Entry], target: Path) -> None:
    text = yaml.safe_dump({"entries": [e.to_dict() for e in entries]}, allow_unicode=True, sort_keys=False)
    target.write_text(text, encoding="utf-8")


def _write_csv(entries: list[Entry], target: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in entries:
        row = _row(entry)
        writer.writerow([escape_cell(row[c]) for c in COLUMNS])
    target.write_text(buffer.getvalue(), encoding="utf-8-sig")  # the BOM tells Excel it is UTF-8


def _write_xlsx(entries: list[Entry], target: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("entries")
    sheet.append(list(COLUMNS))
    for entry in entries:
        row = _row(entry)
        cells = []
        for name in COLUMNS:
            cell = WriteOnlyCell(sheet, row[name])
            cell.data_type = "s"  # text, even when it begins with '=' (openpyxl would make that a formula)
            if row[name].startswith(FORMULA_STARTS):
                cell.quotePrefix = True
            cells.append(cell)
        sheet.append(cells)
    book.save(target)


_WRITERS = {"yaml": _write_yaml, "csv": _write_csv, "xlsx": _write_xlsx}


def write_entries(entries: list[Entry], path: Path) -> None:
    """Write entries to ``path`` (format from its suffix); the file appears whole or not at all."""
    fmt = format_of(path)
    partial = path.with_name(f".{path.name}.part")
    try:
        _WRITERS[fmt](entries, partial)
        os.replace(partial, path)
    except (OSError, ValueError) as err:
        partial.unlink(missing_ok=True)
        detail = err.strerror if isinstance(err, OSError) and err.strerror else str(err)[:120]
        raise ExportError(f"{path}: cannot be written: {detail}") from err
