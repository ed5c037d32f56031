"""Scoring the subject check (issue 10) on tests/app/relevance_questions.yml and the KB's held-out questions.

    PYTHONPATH=. .venv/bin/python -m tests.app.relevance_support          # every set, figures only
    PYTHONPATH=. .venv/bin/python -m tests.app.relevance_support -v       # and each wrong or lost question

A question is resolved the way ``actions.knowledge.answer`` resolves it with no conversation before it
(``resolve_question``). Per set:
confident wrong (a confident answer from an entry not listed, or any confident answer to an uncovered
question) and right (a confident answer from a listed entry; for uncovered questions, the unsure reply).
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from actions.knowledge import Context, resolve_question
from knowledge_base.answers import Reply
from knowledge_base.evaluate import HELDOUT
from knowledge_base.retrieval import LiveIndex

QUESTIONS = Path(__file__).resolve().parent / "relevance_questions.yml"
SETS = ("seen_uncovered", "seen_covered", "fresh_uncovered", "fresh_covered")


def load_sets(path: Path = QUESTIONS) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Each set's questions with the entries that may answer them (none for the uncovered sets)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    sets: dict[str, list[tuple[str, frozenset[str]]]] = {}
    for name in SETS:
        rows = data[name]
        sets[name] = [(q, frozenset()) if isinstance(q, str) else (str(q[0]), frozenset(q[1])) for q in rows]
    return sets


def heldout() -> list[tuple[str, frozenset[str]]]:
    with HELDOUT.open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["query"], frozenset({row["gold_id"]})) for row in rows]


def reply_to(index: LiveIndex, question: str) -> Reply:
    return resolve_question(index, question, Context()).reply


@dataclass
class Score:
    n: int = 0
    right: int = 0
    confident_wrong: int = 0
    wrong: list[str] = field(default_factory=list)  # confident wrong: question → entry
    lost: list[str] = field(default_factory=list)  # covered, but unsure

    def __str__(self) -> str:
        return f"right {self.right}/{self.n}, confident wrong {self.confident_wrong}/{self.n}"


def score(index: LiveIndex, questions: list[tuple[str, frozenset[str]]]) -> Score:
    result = Score()
    for question, gold in questions:
        reply = reply_to(index, question)
        result.n += 1
        if reply.confident and reply.entry_id not in gold:
            result.confident_wrong += 1
            result.wrong.append(f"{question} → {reply.entry_id} ({reply.score:.3f})")
        elif reply.confident or not gold:
            result.right += 1
        else:
            result.lost.append(f"{question} → unsure {list(reply.choices)}")
    return result


def main(argv: list[str]) -> int:
    from actions.knowledge import knowledge_index

    index = knowledge_index()
    sets = {**load_sets(), "heldout": heldout()}
    only = [a for a in argv if not a.startswith("-")]
    for name, questions in sets.items():
        if only and name not in only:
            continue
        result = score(index, questions)
        print(f"{name:<16} {result}")
        if "-v" in argv:
            for line in result.wrong:
                print(f"    wrong: {line}")
            for line in result.lost:
                print(f"    lost:  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
