"""Import and export of entries as YAML, CSV and XLSX (administrators live in Excel).

In CSV and XLSX an entry is one row; list fields (``questions``, ``documents``) are
written one item per line inside the cell, and the structured fields are columns
named ``fields.<name>``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.schema import FIELD_NAMES, Entry, EntryValidationError, Problem, check_unique, parse_entry

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
    *(f"fields.{name}" for name in FIELD_NAMES),
)
FORMATS = ("yaml", "csv", "xlsx")


def format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"yml": "yaml", "yaml": "yaml", "csv": "csv", "xlsx": "xlsx"}.get(suffix)
    if fmt is None:
        raise EntryValidationError([Problem(str(path), None, "*", "use a .yml, .yaml, .csv or .xlsx file")])
    return fmt


def _rows_to_raw(rows: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    out = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header, as Excel counts
        if not any(str(v or "").strip() for v in row.values()):
            continue
        raw: dict[str, Any] = {"fields": {}}
        for key, value in row.items():
            if key is None:
                continue
            key = str(key).strip()
            if key.startswith("fields."):
                raw["fields"][key[len("fields.") :]] = value
            elif key == "questions":
                raw[key] = [q for q in str(value or "").splitlines()]
            else:
                raw[key] = value
        out.append((raw, number))
    return out


def read_raw(path: Path) -> list[tuple[dict[str, Any], int]]:
    """Raw mappings with their row numbers (YAML: entry number; CSV/XLSX: spreadsheet row)."""
    fmt = format_of(path)
    try:
        if fmt == "yaml":
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
                raise EntryValidationError(
                    [Problem(str(path), None, "entries", "expected 'collection' and a list 'entries'")]
                )
            default = data.get("collection")
            return [
                ({**e, "collection": e.get("collection", default)} if isinstance(e, dict) else e, i)
                for i, e in enumerate(data["entries"], start=1)
            ]
        if fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                return _rows_to_raw(csv.DictReader(handle))
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).active
        rows = list(sheet.iter_rows(values_only=True)) if sheet is not None else []
        if not rows:
            return []
        header = [str(h or "").strip() for h in rows[0]]
        return _rows_to_raw(dict(zip(header, r)) for r in rows[1:])
    except EntryValidationError:
        raise
    except (OSError, yaml.YAMLError, csv.Error, ValueError, KeyError) as err:
        raise EntryValidationError([Problem(str(path), None, "*", f"cannot read the file: {err}")]) from err


def read_entries(paths: Iterable[Path]) -> list[Entry]:
    """Read and validate entries from files; every problem in every file is reported at once."""
    problems: list[Problem] = []
    located: list[tuple[Entry, str, int | None]] = []
    for path in paths:
        for raw, row in read_raw(path):
            entry, found = parse_entry(raw, path.name, row)
            problems.extend(found)
            if entry is not None:
                located.append((entry, path.name, row))
    problems.extend(check_unique(located))
    if problems:
        raise EntryValidationError(problems)
    return [entry for entry, _, _ in located]


def builtin_entries() -> list[Entry]:
    """The entries shipped in knowledge_base/data/*.yml (the seed of a new database)."""
    return read_entries(sorted(DATA_DIR.glob("*.yml")))


def _row(entry: Entry) -> dict[str, Any]:
    row: dict[str, Any] = {
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
    }
    for name in FIELD_NAMES:
        value = entry.fields.get(name, "")
        row[f"fields.{name}"] = "\n".join(value) if isinstance(value, list) else value
    return row


def write_entries(entries: list[Entry], path: Path) -> None:
    fmt = format_of(path)
    if fmt == "yaml":
        path.write_text(
            yaml.safe_dump({"entries": [e.to_dict() for e in entries]}, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_row(e) for e in entries)
        path.write_text(buffer.getvalue(), encoding="utf-8-sig")
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None  # a new workbook always has one sheet
        sheet.title = "entries"
        sheet.append(list(COLUMNS))
        for entry in entries:
            row = _row(entry)
            sheet.append([row[c] for c in COLUMNS])
        book.save(path)
