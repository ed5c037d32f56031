"""Entry limits: one set of rules in schema.parse_entry, shared by the CLI, imports and any API."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge_base.files import builtin_entries
from knowledge_base.schema import (
    MAX_DETAILS_CHARS,
    MAX_DOCUMENT_CHARS,
    MAX_DOCUMENTS,
    MAX_ENTRY_BYTES,
    MAX_FIELD_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    EntryValidationError,
    Problem,
    entry_size,
    parse_entry,
    validated,
)

GOOD: dict[str, Any] = {
    "id": "svc-limits",
    "collection": "services",
    "title": "测试条目",
    "questions": ["问一", "问二", "问三"],
    "answer": "短答。",
    "details": "第一行\n第二行",
    "fields": {"fees": "免费", "documents": ["身份证", "户口簿"]},
    "source": "测试",
    "reviewed": "2026-11-28",
}


def _problems(**changes: Any) -> list[Problem]:
    entry, problems = parse_entry({**GOOD, **changes}, "t.yml", 7)
    assert (entry is None) == bool(problems)
    return problems


def _fields(problems: list[Problem]) -> set[str]:
    return {p.field for p in problems}


def test_the_shipped_entries_are_well_inside_the_limits() -> None:
    entries = builtin_entries()
    assert len(entries) == 203
    assert max(len(e.questions) for e in entries) * 3 <= MAX_QUESTIONS
    assert max(entry_size(e) for e in entries) * 4 <= MAX_ENTRY_BYTES


def test_a_good_entry_passes() -> None:
    assert _problems() == []


# Each case: the change, the field named, and the same kind of value just at the limit (accepted).
LIMITS = [
    ({"questions": [f"问题{i}" for i in range(MAX_QUESTIONS + 1)]}, "questions", {"questions": [f"问题{i}" for i in range(MAX_QUESTIONS)]}),
    ({"questions": ["问", "问二", "长" * (MAX_QUESTION_CHARS + 1)]}, "questions[3]", {"questions": ["问", "问二", "长" * MAX_QUESTION_CHARS]}),
    ({"title": "题" * (MAX_TITLE_CHARS + 1)}, "title", {"title": "题" * MAX_TITLE_CHARS}),
    ({"details": "细" * (MAX_DETAILS_CHARS + 1)}, "details", {"details": "细" * MAX_DETAILS_CHARS}),
    ({"fields": {"fees": "钱" * (MAX_FIELD_CHARS + 1)}}, "fields.fees", {"fields": {"fees": "钱" * MAX_FIELD_CHARS}}),
    ({"fields": {"documents": [f"证{i}" for i in range(MAX_DOCUMENTS + 1)]}}, "fields.documents", {"fields": {"documents": [f"证{i}" for i in range(MAX_DOCUMENTS)]}}),
    ({"fields": {"documents": ["证" * (MAX_DOCUMENT_CHARS + 1)]}}, "fields.documents[1]", {"fields": {"documents": ["证" * MAX_DOCUMENT_CHARS]}}),
    ({"source": "源" * (MAX_SOURCE_CHARS + 1)}, "source", {"source": "源" * MAX_SOURCE_CHARS}),
]  # fmt: skip


@pytest.mark.parametrize(("over", "field", "at_limit"), LIMITS, ids=[case[1] for case in LIMITS])
def test_each_limit_is_a_problem_naming_the_field(over: dict[str, Any], field: str, at_limit: dict[str, Any]) -> None:
    problems = _problems(**over)
    assert _fields(problems) == {field}, problems
    assert str(problems[0]).startswith(f"t.yml, row 7, field '{field}': ")
    assert "at most" in problems[0].message
    assert _problems(**at_limit) == []


def test_the_whole_entry_is_limited_too() -> None:
    # Every field within its own limit, together more than 16 KB (a Chinese character is 3 bytes).
    big = {"details": "细" * MAX_DETAILS_CHARS, "questions": [f"{i}" + "问" * 150 for i in range(MAX_QUESTIONS)]}
    problems = _problems(**big)
    assert [p.field for p in problems] == ["*"]
    assert f"at most {MAX_ENTRY_BYTES}" in str(problems[0]) and str(problems[0]).startswith("t.yml, row 7: ")


def test_an_800_variant_edit_is_refused() -> None:
    problems = _problems(questions=[f"长护险怎么申请第{i}种问法" for i in range(800)])
    assert [str(p) for p in problems] == [f"t.yml, row 7, field 'questions': has 800 items; at most {MAX_QUESTIONS}"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "题\x07目"}, "title"),
        ({"answer": "短答\x00。"}, "answer"),
        ({"questions": ["问一", "问\x1b二", "问三"]}, "questions[2]"),
        ({"details": "第一行\x0c第二行"}, "details"),
        ({"fields": {"how_to": "先打电话\x85再去"}}, "fields.how_to"),
        ({"source": "来源\u202e倒过来"}, "source"),  # a bidirectional override
        ({"title": "题\ud800目"}, "title"),  # a lone surrogate (JSON can carry one)
        ({"details": "行\u2028行"}, "details"),
        ({"details": "非字符\uffff"}, "details"),  # not allowed in XML: an .xlsx export could not be read back
    ],
)
def test_control_characters_are_refused(changes: dict[str, Any], field: str) -> None:
    problems = _problems(**changes)
    assert _fields(problems) == {field}, problems
    assert "control character U+" in problems[0].message


def test_newlines_and_tabs_only_where_text_may_have_several_lines() -> None:
    entry, problems = parse_entry(
        {**GOOD, "details": "1. 带身份证\r\n2.\t带户口簿\r3. 带照片", "fields": {"how_to": "第一步\n第二步"}},
        "t.yml",
        1,
    )
    assert problems == [] and entry is not None
    assert entry.details == "1. 带身份证\n2.\t带户口簿\n3. 带照片", "Windows and old Mac line ends become newlines"
    for changes, field in (
        ({"title": "两\n行"}, "title"),
        ({"answer": "有\t制表符"}, "answer"),
        ({"source": "来\r\n源"}, "source"),
    ):
        problems = _problems(**changes)
        assert _fields(problems) == {field} and "one line" in problems[0].message, problems


def test_unknown_keys_and_wrong_types_are_named() -> None:
    problems = _problems(titel="错字", fields={"feez": "1"})
    assert _fields(problems) == {"titel", "fields.feez"}
    questions = ["问一", {"nested": "x"}, ["list"], True, "问二", "问三"]
    problems = _problems(questions=questions, details=["a"], fields={"fees": {"a": 1}})
    assert _fields(problems) == {"questions[2]", "questions[3]", "questions[4]", "details", "fields.fees"}
    assert all("must be text" in p.message for p in problems)
    assert _fields(_problems(street=["宝山"])) == {"street"}
    assert _fields(_problems(collection={"x": 1})) == {"collection"}


def test_error_messages_never_echo_a_long_value() -> None:
    problems = _problems(id="x" * 5000, street="街" * 5000)
    assert problems and all(len(str(p)) < 200 for p in problems)


def test_stored_entries_stay_readable_under_tighter_limits() -> None:
    """The database is read with strict=False: an entry stored before a limit existed is not lost."""
    old = {**GOOD, "questions": [f"问{i}" for i in range(MAX_QUESTIONS + 10)], "title": "题\x07"}
    entry, problems = parse_entry(old, "database", None, strict=False)
    assert problems == [] and entry is not None and len(entry.questions) == MAX_QUESTIONS + 10
    with pytest.raises(EntryValidationError) as caught:
        validated(entry, "entry", None)
    assert _fields(caught.value.problems) == {"questions", "title"}


def test_validated_is_idempotent_on_the_shipped_entries() -> None:
    for entry in builtin_entries():
        assert validated(entry, "entry", None) == entry
