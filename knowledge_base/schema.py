"""What a knowledge-base entry is, and how one is checked.

Validation errors name the file, the row (entry number, 1-based) and the field, so an
administrator can find the mistake in the YAML, CSV or Excel file they edited.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from yinling.places import STREETS

COLLECTIONS = ("services", "legal", "insurance", "directory")
# The industrial park is not a street or town, but it has its own directory entry.
PLACES = (*STREETS, "宝山城市工业园区")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
MAX_ANSWER_CHARS = 120
MIN_QUESTIONS = 3
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


class KnowledgeBaseError(Exception):
    """Root of the knowledge base's errors."""


class EntryValidationError(KnowledgeBaseError, ValueError):
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["street"]:
            data.pop("street")
        return data

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


def _text(raw: dict[str, Any], name: str, problems: list[Problem], source: str, row: int | None) -> str:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(source, row, name, "is required"))
        return ""
    if not isinstance(value, (str, int, float, dt.date)):
        problems.append(Problem(source, row, name, f"must be text, got {type(value).__name__}"))
        return ""
    return str(value).strip()


def _bool(raw: dict[str, Any], name: str, problems: list[Problem], source: str, row: int | None) -> bool:
    value = raw.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "是"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "否", ""):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    problems.append(Problem(source, row, name, f"must be true or false, got {value!r}"))
    return False


def parse_entry(
    raw: Any, source: str, row: int | None, default_collection: str | None = None
) -> tuple[Entry | None, list[Problem]]:
    """Check one raw mapping; return the entry (or None) and every problem found."""
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        return None, [Problem(source, row, "*", "an entry must be a mapping of fields")]
    entry_id = _text(raw, "id", problems, source, row)
    if entry_id and not ID_PATTERN.match(entry_id):
        problems.append(Problem(source, row, "id", f"{entry_id!r} must be 2–64 of a-z, 0-9 and '-'"))
    collection = str(raw.get("collection") or default_collection or "")
    if collection not in COLLECTIONS:
        problems.append(Problem(source, row, "collection", f"{collection!r} is not one of {', '.join(COLLECTIONS)}"))
    title = _text(raw, "title", problems, source, row)
    answer = _text(raw, "answer", problems, source, row)
    if len(answer) > MAX_ANSWER_CHARS:
        problems.append(Problem(source, row, "answer", f"has {len(answer)} characters; at most {MAX_ANSWER_CHARS}"))
    questions_raw = raw.get("questions")
    if isinstance(questions_raw, str):
        questions_raw = [q for q in re.split(r"[\n|；;]+", questions_raw)]
    questions = (
        [str(q).strip() for q in questions_raw or [] if str(q).strip()] if isinstance(questions_raw, list) else []
    )
    if len(questions) < MIN_QUESTIONS:
        problems.append(Problem(source, row, "questions", f"needs at least {MIN_QUESTIONS} question variants"))
    fields_raw = raw.get("fields") or {}
    fields: dict[str, Any] = {}
    if not isinstance(fields_raw, dict):
        problems.append(Problem(source, row, "fields", "must be a mapping"))
    else:
        for key, value in fields_raw.items():
            if key not in FIELD_NAMES:
                problems.append(Problem(source, row, f"fields.{key}", f"unknown; use one of {', '.join(FIELD_NAMES)}"))
            elif key == "documents":
                items = value if isinstance(value, list) else re.split(r"[\n、；;]+", str(value or ""))
                docs = [str(d).strip() for d in items if str(d).strip()]
                if docs:
                    fields[key] = docs
            elif value not in (None, ""):
                fields[key] = str(value).strip()
    street = raw.get("street") or None
    if street is not None and street not in PLACES:
        problems.append(Problem(source, row, "street", f"{street!r} is not a Baoshan street or town"))
    reviewed = _text(raw, "reviewed", problems, source, row)
    if reviewed:
        try:
            reviewed = dt.date.fromisoformat(reviewed[:10]).isoformat()
        except ValueError:
            problems.append(Problem(source, row, "reviewed", f"{reviewed!r} is not a date like 2026-11-28"))
    entry = Entry(
        id=entry_id,
        collection=collection,
        title=title,
        questions=questions,
        answer=answer,
        details=str(raw.get("details") or "").strip(),
        fields=fields,
        street=street,
        sample=_bool(raw, "sample", problems, source, row),
        unsure=_bool(raw, "unsure", problems, source, row),
        source=_text(raw, "source", problems, source, row),
        reviewed=reviewed,
    )
    return (None if problems else entry), problems


def check_unique(entries: list[tuple[Entry, str, int | None]]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for entry, source, row in entries:
        if entry.id in seen:
            problems.append(Problem(source, row, "id", f"{entry.id!r} is also used in {seen[entry.id]}"))
        else:
            seen[entry.id] = f"{source}, row {row}"
    return problems
