"""Complaints about the answer just given ("不对", "答非所问", "你说的不是我问的"), for both runtimes.

One table, ``training_data/complaints.yml``, is read by the Rasa pipeline (``IntentRules`` reads such a
whole message as ``deny``: ``{complaint}`` in ``training_data/intent_rules.yml``) and by the action
server (``actions/knowledge.py`` keeps the question before a complaint as unanswered, reason
``unhelpful``). The file's header says how a message is read; in short, the whole normalized message
must be one or more complaints, each with optional lead words and trailing particles, punctuation and
spaces allowed between any two. :func:`is_decline` tells the plain "no thanks" (不用了, 没有了) that is never a
complaint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex
import yaml

from common.errors import ConfigError
from textnorm import normalize

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "training_data" / "complaints.yml"
_KEYS = {"version", "lead", "core", "tail", "declines"}
# Punctuation, symbols and spaces, allowed anywhere between the words of a complaint.
SEP = r"[\p{P}\p{S}\s]*"
# A complaint is short; a longer message is never read as one (and never makes the regex work hard).
MAX_CHARS = 40


class ComplaintTableError(ConfigError):
    """``complaints.yml`` cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Complaints:
    """The compiled table: :attr:`pattern` is the whole-message complaint regex (its source is what
    ``{complaint}`` stands for in the intent rules)."""

    pattern: regex.Pattern[str]
    declines: regex.Pattern[str]

    def is_complaint(self, text: str) -> bool:
        return bool(self.pattern.fullmatch(normalize(text).strip()))

    def is_decline(self, text: str) -> bool:
        return bool(self.declines.fullmatch(normalize(text).strip()))


def _alternatives(data: dict[str, Any], key: str, path: Path) -> str:
    value = data.get(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise ComplaintTableError(f"{path}: '{key}' must be a regular expression or a non-empty list of them")
    for item in items:
        try:
            regex.compile(item)
        except regex.error as err:
            raise ComplaintTableError(f"{path}: {key}: {item!r}: {err}") from err
    return "|".join(f"(?:{i})" for i in items)


def load(path: Path | str = DEFAULT_TABLE) -> Complaints:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ComplaintTableError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict) or set(data) != _KEYS:
        raise ComplaintTableError(f"{path}: must have exactly the keys {sorted(_KEYS)}")
    lead, core, tail, declines = (_alternatives(data, key, path) for key in ("lead", "core", "tail", "declines"))
    unit = f"(?:(?:{lead}){SEP}){{0,6}}(?:{core})(?:{tail})*{SEP}"
    short = f"(?=[\\s\\S]{{1,{MAX_CHARS}}}\\Z)"  # no flags: the source is also used inside the intent rules
    return Complaints(
        pattern=regex.compile(f"{short}{SEP}(?:{unit})+"),
        declines=regex.compile(f"{short}{SEP}(?:(?:{declines}){SEP})+"),
    )


@functools.lru_cache(maxsize=1)
def default() -> Complaints:
    return load()


def is_complaint(text: str) -> bool:
    """The whole message complains about the answer just given (not whether one was given)."""
    return default().is_complaint(text)


def is_decline(text: str) -> bool:
    """The whole message is a plain "no thanks" (不用了, 没有了, 暂时不要), never a complaint."""
    return default().is_decline(text)


def pattern_source(path: Path | str = DEFAULT_TABLE) -> str:
    """The complaint regex's source, for ``{complaint}`` in the intent rules."""
    return load(path).pattern.pattern
