"""What seniors read is worded in the domain (domain/*.yml responses), not in Python strings.

The actions name responses and pass values; these tests read the actions' source (with ast) and
the domain, so a response name with a typo, a sentence typed into an action, a placeholder an
action does not fill, or the hotline typed out as a number fails here rather than in a conversation.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.contacts import HOTLINE
from tests.app.domain_support import DOMAIN, INITIAL_SLOTS, ROOT, said

ACTIONS = sorted((ROOT / "actions").glob("*.py"))
RESPONSE_NAME = re.compile(r"^utter_[a-z0-9_]+$")
PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")
CJK = re.compile(r"[\u4e00-\u9fff]")
SENTENCE_END = re.compile(r"[。！？]")
# Calls whose string arguments are patterns, not wording.
PATTERN_CALLS = {"compile", "search", "sub", "findall", "finditer", "match", "fullmatch", "split"}
NOT_RESPONSES = {"utter_action"}  # Rasa's metadata key naming the response a bot message came from


def trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in ACTIONS:
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def pattern_arguments(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PATTERN_CALLS:
            for arg in node.args[:1]:
                found |= {id(n) for n in ast.walk(arg)}
    return found


def strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, value) of every string in the module that is neither a docstring nor a regex pattern."""
    skip = docstrings(tree) | pattern_arguments(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def utter_calls(tree: ast.Module) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "utter_message":
            yield node


def test_every_response_name_in_the_actions_exists_in_the_domain() -> None:
    used = {
        (path.name, value)
        for path, tree in trees()
        for _, value in strings(tree)
        if RESPONSE_NAME.match(value) and value not in NOT_RESPONSES
    }
    assert len(used) > 40, "the scan finds the actions' responses"
    missing = sorted((name, value) for name, value in used if value not in DOMAIN["responses"])
    assert not missing, missing


def test_no_action_types_a_sentence_for_seniors() -> None:
    typed = [
        f"{path.name}:{line} {value!r}"
        for path, tree in trees()
        for line, value in strings(tree)
        if CJK.search(value) and SENTENCE_END.search(value)
    ]
    assert not typed, "\n".join(typed)
    literal_text = [
        f"{path.name}:{call.lineno}"
        for path, tree in trees()
        for call in utter_calls(tree)
        for kw in call.keywords
        if kw.arg == "text" and isinstance(kw.value, ast.Constant | ast.JoinedStr)
    ]
    assert not literal_text, literal_text


def test_every_placeholder_is_filled_by_the_action_or_a_slot() -> None:
    checked = 0
    for path, tree in trees():
        for call in utter_calls(tree):
            given = {kw.arg for kw in call.keywords}
            response = next((kw.value for kw in call.keywords if kw.arg == "response"), None)
            if None in given or not isinstance(response, ast.Constant) or not isinstance(response.value, str):
                continue  # **values or a name held in a variable: the behaviour tests render those
            for variation in DOMAIN["responses"][response.value]:
                needed = set(PLACEHOLDER.findall(str(variation.get("text") or "")))
                missing = needed - given - set(DOMAIN["slots"])
                assert not missing, f"{path.name}:{call.lineno} {response.value} needs {missing}"
            checked += 1
    assert checked > 30


def test_the_hotline_is_one_setting() -> None:
    assert INITIAL_SLOTS["hotline"] == HOTLINE
    for path, tree in trees():
        typed = [line for line, value in strings(tree) if HOTLINE in value and not re.search(r"\d" + HOTLINE, value)]
        assert not typed, f"{path.name} types the hotline at lines {typed}; use the hotline slot"
    naming = []
    for name, variations in DOMAIN["responses"].items():
        for variation in variations:
            text = str(variation.get("text") or "")
            assert HOTLINE not in text, f"{name} types the hotline; write {{hotline}}"
            if "{hotline}" in text:
                naming.append(name)
    assert {"utter_busy", "utter_handoff_unavailable", "utter_booking_full_none"} <= set(naming)


PACKAGES = ("actions", "bookings", "bot", "care", "channels", "common", "knowledge_base", "staff", "textnorm")


def test_no_python_sentence_types_the_hotline() -> None:
    """Sentences written in Python (knowledge answers, channel apologies, the agents' assist) format the
    hotline from ``common.contacts``; only that module holds the number."""
    root = Path(__file__).resolve().parents[2]
    typed = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "common" / "contacts.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            typed += [
                f"{path.relative_to(root)}:{line}"
                for line, value in strings(tree)
                if HOTLINE in value and CJK.search(value) and not re.search(r"\d" + HOTLINE, value)
            ]
    assert not typed, f"the hotline typed out (use common.contacts.HOTLINE): {typed}"


@pytest.mark.parametrize("name", ["utter_busy", "utter_handoff_callback_declined", "utter_out_of_scope"])
def test_the_hotline_is_filled_in(name: str) -> None:
    text = said({"response": name})
    assert HOTLINE in text and "{" not in text, text


def test_busy_and_not_found_are_worded_apart() -> None:
    busy = said({"response": "utter_busy"})
    assert busy.startswith("抱歉，系统忙，请稍后再试") and HOTLINE in busy and "没找到" not in busy
    gone = said({"response": "utter_booking_gone"})
    assert "没找到" in gone and "系统忙" not in gone
