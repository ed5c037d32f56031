"""Normalize colloquial Chinese from older people before NLU and retrieval.

Every step keeps, for each output character, the index of the input character it
came from, so entity offsets annotated on the raw training text can be moved onto
the normalized text (see :meth:`Normalized.map_span`).

Steps, in order: control characters and combining marks dropped (a wall of 2,000 accents is
no message, and Chinese needs none); full-width → half-width; traditional → simplified
(OpenCC ``t2s``); emoji dropped; Shanghainese/colloquial words replaced (table in
``training_data/normalization.yml``); runs of the same punctuation mark collapsed; whitespace
collapsed; ASCII lower-cased; length capped, keeping the start and the end (older people often
tell the story first and ask at the end), joined by "…".
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import opencc
import regex
import yaml

from common.errors import ConfigError

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "training_data" / "normalization.yml"
DEFAULT_MAX_CHARS = 1000

_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0E\uFE0F\u200D\u20E3]")
_KEEP_CONTROL = {"\n", "\t"}
# Control, format, surrogate, private-use and unassigned characters, and combining marks.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})

# A list of (character, index of the source character in the original text).
_Chars = list[tuple[str, int]]


class NormalizationTableError(ConfigError):
    """The normalization table is malformed; the message says which entry to fix."""


@dataclass(frozen=True)
class Normalized:
    """A normalized text and, per character, its position in the original text."""

    text: str
    source_index: tuple[int, ...]

    def map_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Map an original ``[start, end)`` span onto the normalized text.

        Returns ``None`` when nothing of the span survived normalization
        (for example an annotated emoji).
        """
        positions = [i for i, src in enumerate(self.source_index) if start <= src < end]
        if not positions:
            return None
        return positions[0], positions[-1] + 1


def _full_to_half(ch: str) -> str:
    code = ord(ch)
    if code == 0x3000:
        return " "
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    return ch


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P") or ch in "~～"


class Normalizer:
    """Applies the normalization steps; cheap to call, load once per process."""

    __slots__ = ("_converter", "_max_chars", "_rules")

    def __init__(self, table_path: Path | str = DEFAULT_TABLE, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_chars < 1:
            raise NormalizationTableError(f"max_chars must be at least 1, got {max_chars}")
        self._max_chars = max_chars
        self._converter = opencc.OpenCC("t2s")
        self._rules = self._load_rules(Path(table_path))

    @staticmethod
    def _load_rules(path: Path) -> list[tuple[regex.Pattern[str], str]]:
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise NormalizationTableError(f"cannot read normalization table {path}: {err}") from err
        if not isinstance(data, dict):
            raise NormalizationTableError(f"{path}: expected a mapping with 'replacements' and 'patterns'")
        replacements = data.get("replacements") or {}
        if not isinstance(replacements, dict):
            raise NormalizationTableError(f"{path}: 'replacements' must map words to words")
        rules: list[tuple[regex.Pattern[str], str]] = []
        # Longest source first, so 下礼拜 wins over 礼拜.
        for source in sorted(replacements, key=len, reverse=True):
            target = replacements[source]
            if not isinstance(source, str) or not isinstance(target, str) or not source:
                raise NormalizationTableError(f"{path}: replacement {source!r} → {target!r} must be two strings")
            rules.append((regex.compile(regex.escape(source)), target))
        for i, item in enumerate(data.get("patterns") or []):
            if not isinstance(item, dict) or not {"pattern", "replace"} <= item.keys():
                raise NormalizationTableError(f"{path}: patterns[{i}] needs 'pattern' and 'replace'")
            try:
                rules.append((regex.compile(item["pattern"]), str(item["replace"])))
            except regex.error as err:
                raise NormalizationTableError(f"{path}: patterns[{i}] is not a valid regex: {err}") from err
        return rules

    def normalize(self, text: str) -> Normalized:
        chars: _Chars = [
            (_full_to_half(ch), i)
            for i, ch in enumerate(text)
            if ch in _KEEP_CONTROL or unicodedata.category(ch) not in _DROPPED_CATEGORIES
        ]
        chars = self._to_simplified(chars)
        chars = [(ch, src) for ch, src in chars if not _EMOJI.match(ch)]
        for pattern, target in self._rules:
            chars = _substitute(chars, pattern, target)
        chars = _collapse(chars)
        chars = _cap(chars, self._max_chars)
        return Normalized("".join(ch for ch, _ in chars), tuple(src for _, src in chars))

    def _to_simplified(self, chars: _Chars) -> _Chars:
        joined = "".join(ch for ch, _ in chars)
        converted = self._converter.convert(joined)
        if len(converted) == len(joined):
            return [(new, src) for new, (_, src) in zip(converted, chars)]
        # A phrase conversion changed the length: fall back to character by character,
        # which keeps offsets exact at the cost of phrase context.
        return [(self._converter.convert(ch)[:1] or ch, src) for ch, src in chars]


def _substitute(chars: _Chars, pattern: regex.Pattern[str], target: str) -> _Chars:
    joined = "".join(ch for ch, _ in chars)
    out: _Chars = []
    last = 0
    for match in pattern.finditer(joined):
        start, end = match.span()
        if start == end:
            continue
        out.extend(chars[last:start])
        span = end - start
        for k, ch in enumerate(target):
            out.append((ch, chars[start + min(k * span // max(len(target), 1), span - 1)][1]))
        last = end
    out.extend(chars[last:])
    return out


def _cap(chars: _Chars, limit: int) -> _Chars:
    """At most ``limit`` characters: the first third and the last two thirds, joined by "…"."""
    if len(chars) <= limit:
        return chars
    if limit < 8:
        return chars[:limit]
    head = limit // 3
    tail = limit - head - 1
    return [*chars[:head], ("…", chars[head][1]), *chars[len(chars) - tail :]]


def _collapse(chars: _Chars) -> _Chars:
    out: _Chars = []
    for ch, src in chars:
        if ch.isspace():
            if not out or out[-1][0] == " ":
                continue
            ch = " "
        elif out and ch == out[-1][0] and _is_punct(ch):
            continue
        elif "A" <= ch <= "Z":
            ch = ch.lower()
        out.append((ch, src))
    while out and out[-1][0] == " ":
        out.pop()
    return out


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    """The process-wide normalizer for the project's own table."""
    return Normalizer(os.environ.get("YINLING_NORMALIZATION_TABLE", DEFAULT_TABLE))


def normalize(text: str) -> str:
    """Normalize ``text`` with the project's table."""
    return default_normalizer().normalize(text).text
