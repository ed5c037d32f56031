"""What a knowledge-base entry is, and how one is checked.

Validation errors name the file, the row (entry number, 1-based) and the field, so an
administrator can find the mistake in the YAML, CSV or Excel file they edited.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from common.errors import Refusal, YinlingError
from yinling.places import STREETS

COLLECTIONS = ("services", "legal", "insurance", "directory")
# The industrial park is not a street or town, but it has its own directory entry.
PLACES = (*STREETS, "宝山城市工业园区")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
MIN_QUESTIONS = 3
# Limits on one entry, so one edit can never make the index slow or an answer unreadable
# (an edit adding 800 question variants once made answers take 20 s). The largest entry of
# the 202 shipped has 5 question variants (max 31 characters), a 23-character title, 330
# characters of details, field values of at most 80 characters, 8 documents of at most 22
# characters, and takes 2.1 KB: each limit leaves several times that room.
MAX_QUESTIONS = 30
MAX_QUESTION_CHARS = 200
MAX_TITLE_CHARS = 60
MAX_ANSWER_CHARS = 120
MAX_DETAILS_CHARS = 3000
MAX_FIELD_CHARS = 500
MAX_DOCUMENTS = 30
MAX_DOCUMENT_CHARS = 100
MAX_SOURCE_CHARS = 200
MAX_ENTRY_BYTES = 16 * 1024
MAX_IMPORT_ENTRIES = 10_000  # in one import (a file or one call)
FIELD_NAMES = (
    "eligibility",
    "documents",
    "fees",
    "hours",
    "place",
    "phone",
    "how_to",
    "coverage",
    "exclusions",
)
ENTRY_KEYS = (
    "id",
    "collection",
    "title",
    "questions",
    "answer",
    "details",
    "fields",
    "street",
    "sample",
    "unsure",
    "source",
    "reviewed",
    "valid_from",
    "valid_until",
)


class KnowledgeBaseError(YinlingError):
    """Root of the knowledge base's errors."""


class EntryValidationError(KnowledgeBaseError, Refusal, ValueError):
    """One or more entries are invalid; ``problems`` lists each as file, row, field, message."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    source: str
    row: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.row is None else f"{self.source}, row {self.row}"
        if self.field == "*":  # the whole file or the whole entry
            return f"{where}: {self.message}"
        return f"{where}, field '{self.field}': {self.message}"


@dataclass
class Entry:
    id: str
    collection: str
    title: str
    questions: list[str]
    answer: str
    details: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    street: str | None = None
    sample: bool = False
    unsure: bool = False
    source: str = ""
    reviewed: str = ""
    # Effective dates (ISO, both optional, inclusive): a policy that changes on 1 January is two
    # entries, the old one valid until 12-31 and the new one from 01-01; the bot answers the one
    # valid today (Asia/Shanghai), see knowledge_base.retrieval.LiveIndex.
    valid_from: str = ""
    valid_until: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for optional in ("street", "valid_from", "valid_until"):
            if not data[optional]:
                data.pop(optional)
        return data

    def valid_on(self, day: dt.date) -> bool:
        """Whether the entry is in force on ``day`` (no dates: always)."""
        iso = day.isoformat()
        return (not self.valid_from or self.valid_from <= iso) and (not self.valid_until or iso <= self.valid_until)

    def search_texts(self) -> list[str]:
        """Texts a query is matched against: the title, each question, the short answer."""
        return [self.title, *self.questions, self.answer]

    def document(self) -> str:
        """All searchable words of the entry, for BM25."""
        parts = [self.title, self.title, *self.questions, self.answer, self.details]
        for value in self.fields.values():
            parts.extend(value if isinstance(value, list) else [str(value)])
        if self.street:
            parts.append(self.street)
        return "\n".join(p for p in parts if p)


_SCALARS = (str, int, float, dt.date)
# Never part of an entry's text: C0/C1 controls (newline and tab only where a field may hold
# several lines), lone surrogates (not encodable, a database refuses them), bidirectional
# overrides (they make text read differently from how it is stored), the Unicode line
# separators and U+FFFE/U+FFFF (not allowed in XML, so an .xlsx export could not be read back).
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def _is_text(value: Any) -> bool:
    # bool is an int in Python, but ``True`` is never meant as a question or a title.
    return isinstance(value, _SCALARS) and not isinstance(value, bool)


def _clean(value: Any) -> str:
    """The value as stripped text, with Windows and old Mac line ends made newlines."""
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


class _Checker:
    """Collects the problems of one entry; ``strict`` adds the limits new content must meet."""

    def __init__(self, source: str, row: int | None, strict: bool) -> None:
        self.source, self.row, self.strict = source, row, strict
        self.problems: list[Problem] = []

    def add(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.row, name, message))

    def limit(self, name: str, text: str, max_chars: int, multiline: bool = False) -> None:
        """Length and characters of one text (only for new content: stored entries are trusted)."""
        if not self.strict:
            return
        if len(text) > max_chars:
            self.add(name, f"has {len(text)} characters; at most {max_chars}")
        if not multiline and ("\n" in text or "\t" in text):
            self.add(name, "must be one line (no line breaks or tabs)")
        bad = _FORBIDDEN.search(text)
        if bad is not None:
            self.add(
                name,
                f"contains the control character U+{ord(bad.group()):04X} at position {bad.start() + 1}; remove it",
            )

    def text(
        self, raw: dict[str, Any], name: str, max_chars: int, required: bool = True, multiline: bool = False
    ) -> str:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(name, "is required")
            return ""
        if not _is_text(value):
            self.add(name, f"must be text, got {type(value).__name__}")
            return ""
        text = _clean(value)
        self.limit(name, text, max_chars, multiline)
        return text

    def flag(self, raw: dict[str, Any], name: str) -> bool:
        value = raw.get(name, False)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "是"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "否", ""):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        self.add(name, f"must be true or false, got {_short(value)}")
        return False

    def items(self, name: str, value: Any, separators: str, max_items: int, max_chars: int) -> list[str]:
        """A list field given as a list, or as one text split at ``separators``."""
        if isinstance(value, str):
            value = re.split(separators, value)
        elif value is None:
            value = []
        elif not isinstance(value, list):
            self.add(name, f"must be a list, got {type(value).__name__}")
            return []
        out: list[str] = []
        for number, item in enumerate(value, start=1):
            if item is None:
                continue
            if not _is_text(item):
                self.add(f"{name}[{number}]", f"must be text, got {type(item).__name__}")
                continue
            text = _clean(item)
            if text:
                self.limit(f"{name}[{number}]", text, max_chars)
                out.append(text)
        if self.strict and len(out) > max_items:
            self.add(name, f"has {len(out)} items; at most {max_items}")
        return out


def _short(value: Any) -> str:
    """A value for an error message: its repr, cut short (an error must never echo a whole payload)."""
    text = repr(value) if _is_text(value) or isinstance(value, bool) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _key_name(key: Any) -> str:
    """A key for an error message: non-printable characters escaped (they could drive the
    administrator's terminal), cut short."""
    text = repr(str(key))[1:-1]
    return text if len(text) <= 40 else text[:37] + "..."


def parse_entry(
    raw: Any, source: str, row: int | None, default_collection: str | None = None, *, strict: bool = True
) -> tuple[Entry | None, list[Problem]]:
    """Check one raw mapping; return the entry (or None) and every problem found.

    ``strict`` (the default, for anything an administrator or an API sends) also applies
    the limits on sizes, counts, unknown keys and control characters. Reading back what
    the database already holds passes ``strict=False``: tightening a limit must never make
    stored entries unreadable (their next edit has to meet it).
    """
    if not isinstance(raw, dict):
        return None, [Problem(source, row, "*", "an entry must be a mapping of fields")]
    check = _Checker(source, row, strict)
    if strict:
        for key in raw:
            if key not in ENTRY_KEYS:
                check.add(_key_name(key), f"is not a field of an entry; use {', '.join(ENTRY_KEYS)}")
    entry_id = check.text(raw, "id", 64)
    if entry_id and not ID_PATTERN.match(entry_id):
        check.add("id", f"{_short(entry_id)} must be 2–64 of a-z, 0-9 and '-'")
    collection_raw = raw.get("collection") or default_collection or ""
    collection = collection_raw if isinstance(collection_raw, str) else ""
    if collection not in COLLECTIONS:
        check.add("collection", f"{_short(collection_raw)} is not one of {', '.join(COLLECTIONS)}")
    title = check.text(raw, "title", MAX_TITLE_CHARS)
    answer = check.text(raw, "answer", MAX_ANSWER_CHARS)
    if not strict and len(answer) > MAX_ANSWER_CHARS:
        check.add("answer", f"has {len(answer)} characters; at most {MAX_ANSWER_CHARS}")
    questions = check.items("questions", raw.get("questions"), r"[\n|；;]+", MAX_QUESTIONS, MAX_QUESTION_CHARS)
    if len(questions) < MIN_QUESTIONS:
        check.add("questions", f"needs at least {MIN_QUESTIONS} question variants")
    details = check.text(raw, "details", MAX_DETAILS_CHARS, required=False, multiline=True)
    fields_raw = raw.get("fields") or {}
    fields: dict[str, Any] = {}
    if not isinstance(fields_raw, dict):
        check.add("fields", "must be a mapping")
    else:
        for key, value in fields_raw.items():
            if key not in FIELD_NAMES:
                check.add(f"fields.{_key_name(key)}", f"unknown; use one of {', '.join(FIELD_NAMES)}")
            elif key == "documents":
                docs = check.items("fields.documents", value, r"[\n、；;]+", MAX_DOCUMENTS, MAX_DOCUMENT_CHARS)
                if docs:
                    fields[key] = docs
            elif value is None or value == "":
                continue
            elif not _is_text(value):
                check.add(f"fields.{key}", f"must be text, got {type(value).__name__}")
            else:
                text = _clean(value)
                check.limit(f"fields.{key}", text, MAX_FIELD_CHARS, multiline=True)
                if text:
                    fields[key] = text
    street = raw.get("street") or None
    if street is not None and (not isinstance(street, str) or street not in PLACES):
        check.add("street", f"{_short(street)} is not a Baoshan street or town")
    reviewed = check.text(raw, "reviewed", 32)
    if reviewed:
        try:
            reviewed = dt.date.fromisoformat(reviewed[:10]).isoformat()
        except ValueError:
            check.add("reviewed", f"{_short(reviewed)} is not a date like 2026-11-28")
    valid: dict[str, str] = {}
    for name in ("valid_from", "valid_until"):
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            valid[name] = ""
            continue
        if isinstance(value, dt.datetime):
            value = value.date()
        try:
            valid[name] = (
                value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip()[:10])
            ).isoformat()
        except ValueError:
            check.add(name, f"{_short(value)} is not a date like 2027-01-01")
            valid[name] = ""
    if valid["valid_from"] and valid["valid_until"] and valid["valid_until"] < valid["valid_from"]:
        check.add("valid_until", f"{valid['valid_until']} is before valid_from {valid['valid_from']}")
    entry = Entry(
        id=entry_id,
        collection=collection,
        title=title,
        questions=questions,
        answer=answer,
        details=details,
        fields=fields,
        street=street if isinstance(street, str) else None,
        sample=check.flag(raw, "sample"),
        unsure=check.flag(raw, "unsure"),
        source=check.text(raw, "source", MAX_SOURCE_CHARS),
        reviewed=reviewed,
        valid_from=valid["valid_from"],
        valid_until=valid["valid_until"],
    )
    if strict and not check.problems:
        size = entry_size(entry)
        if size > MAX_ENTRY_BYTES:
            check.add(
                "*", f"the entry takes {size} bytes; at most {MAX_ENTRY_BYTES} (shorten the details or the questions)"
            )
    return (None if check.problems else entry), check.problems


def entry_size(entry: Entry) -> int:
    """Bytes the entry takes as stored (UTF-8 JSON)."""
    return len(json.dumps(entry.to_dict(), ensure_ascii=False).encode("utf-8"))


def validated(entry: Entry, source: str, row: int | None) -> Entry:
    """The entry checked as new content (limits included), normalized; raises EntryValidationError.

    The store calls this on every write, so no caller (CLI, admin API, a future staff app)
    can put an entry past the limits by building an ``Entry`` itself.
    """
    checked, problems = parse_entry(entry.to_dict(), source, row)
    if checked is None:
        raise EntryValidationError(problems)
    return checked


def check_unique(entries: list[tuple[Entry, str, int | None]]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for entry, source, row in entries:
        if entry.id in seen:
            problems.append(Problem(source, row, "id", f"{entry.id!r} is also used in {seen[entry.id]}"))
        else:
            seen[entry.id] = f"{source}, row {row}"
    return problems
