"""Does the chosen entry speak of what the question asks about?

A close cosine is not enough: "敬老卡怎么办" lands near 老伙伴联名卡 and "请个住家保姆多少钱" near
长护险 fees, because the questions share their way of asking and half their words. The subject
(敬老卡, 保姆) is the question's rare words; an entry that says nothing of them must not answer
with confidence.

``coverage(question, entry)`` is the share of the question's word weight that the entry's own
text (title, question variants, answer, details, fields) contains, directly or as a word of the
same synonym group. A word weighs its inverse document frequency over the KB, so a word the KB
never uses (敬老卡) weighs most and words of asking weigh nothing (``generic`` in
``relevance.yml``). The minimum share and the margin within which coverage reorders close hits
are set in ``relevance.yml`` on the KB's own evaluation files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba.posseg
import yaml

from common.errors import ConfigError
from knowledge_base.retrieval import Hit
from knowledge_base.schema import Entry, KnowledgeBaseError
from knowledge_base.text import _tokenizer, tokens
from textnorm import normalize

RELEVANCE_PATH = Path(__file__).resolve().parent / "relevance.yml"
_KEYS = ("min_coverage", "sure_score", "margin", "unknown_weight", "generic", "terms", "synonyms", "facets")


# Parts of speech that can name a thing asked about (jieba's tags: nouns, names, idioms such as 老年痴呆).
# Verbs are left out: on the held-out questions they are mostly the senior's situation (摔了, 瘫了), and
# counting them made the choice among close entries worse.
_NAMING = frozenset({"n", "nr", "nrt", "ns", "nt", "nz", "ng", "vn", "an", "i", "l", "j", "eng"})


@lru_cache(maxsize=1)
def _pos() -> jieba.posseg.POSTokenizer:
    return jieba.posseg.POSTokenizer(_tokenizer())


class RelevanceConfigError(KnowledgeBaseError, ConfigError):
    pass


@dataclass(frozen=True)
class RelevanceRules:
    min_coverage: float
    sure_score: float
    margin: float
    unknown_weight: float
    generic: frozenset[str]
    terms: tuple[str, ...]  # longest first
    facets: tuple[re.Pattern[str], ...]
    groups: dict[str, frozenset[str]]  # word -> every word of its synonym group

    @classmethod
    def load(cls, path: Path = RELEVANCE_PATH) -> RelevanceRules:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise RelevanceConfigError(f"cannot read {path}: {err}") from err
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise RelevanceConfigError(f"{path}: unknown key {unknown[0]!r}; the keys allowed are {', '.join(_KEYS)}")
        try:
            min_coverage, margin = float(data["min_coverage"]), float(data["margin"])
            unknown_weight = float(data["unknown_weight"])
            sure_score = float(data["sure_score"])
            generic = frozenset(normalize(str(w)) for w in data["generic"])
            named = {normalize(str(w)) for w in data["terms"]} | {
                normalize(str(w)) for g in data["synonyms"] for w in g
            }
            terms = tuple(sorted(named, key=lambda t: (-len(t), t)))
            facets = tuple(re.compile(str(pattern)) for pattern in data["facets"])
            groups: dict[str, frozenset[str]] = {}
            for group in data["synonyms"]:
                words = frozenset(normalize(str(w)) for w in group)
                for word in words:
                    groups[word] = groups.get(word, frozenset()) | words
        except (KeyError, TypeError, ValueError, re.error) as err:
            raise RelevanceConfigError(
                f"{path}: needs min_coverage, sure_score, margin and unknown_weight (numbers), generic and terms (lists of words), facets (a list of patterns) and synonyms "
                f"(a list of word lists): {err}"
            ) from err
        if not 0 <= min_coverage <= 1 or margin < 0 or unknown_weight < 0:
            raise RelevanceConfigError(
                f"{path}: min_coverage must be between 0 and 1, margin and unknown_weight at least 0"
            )
        return cls(min_coverage, sure_score, margin, unknown_weight, generic, terms, facets, groups)


def entry_text(entry: Entry) -> str:
    """Everything the entry says, normalized, to look the question's words up in."""
    return normalize(entry.document())


class Relevance:
    """Coverage of a question's subject by entries of one KB snapshot (built once per snapshot)."""

    def __init__(self, entries: Sequence[Entry], rules: RelevanceRules | None = None) -> None:
        self.rules = rules or RelevanceRules.load()
        self._texts = {e.id: entry_text(e) for e in entries}
        self._words = {e.id: frozenset(tokens(self._texts[e.id])) for e in entries}
        self._street = {e.id: e.street for e in entries}
        self._titles = {e.id: normalize(e.title) for e in entries}
        self._n = max(len(entries), 1)
        self._weights: dict[str, float] = {}

    def _in(self, word: str, entry_id: str) -> bool:
        # A word of two or more characters is looked for in the text (jieba may cut it otherwise
        # there); a single character only as a word of its own ("补" is not in "补贴").
        if len(word) == 1:
            return word in self._words[entry_id]
        return word in self._texts[entry_id]

    def _covered(self, word: str, entry_id: str) -> bool:
        if any(self._in(w, entry_id) for w in self.rules.groups.get(word, frozenset({word}))):
            return True
        # A compound the entry says in its parts ("公证预约": 公证 … 预约).
        parts = [p for p in _tokenizer().lcut_for_search(word) if len(p) >= 2 and p != word]
        return bool(parts) and all(self._in(p, entry_id) for p in parts)

    def _weight(self, word: str) -> float:
        weight = self._weights.get(word)
        if weight is None:
            found = sum(1 for entry_id in self._texts if self._covered(word, entry_id))
            # A word no entry uses is mostly a detail of the senior's situation (胃管, 右手); one that
            # other entries use names a thing the KB knows, which this entry had better speak of.
            weight = math.log((self._n + 1) / (found + 0.5)) if found else self.rules.unknown_weight
            self._weights[word] = weight
        return weight

    def subject(self, question: str) -> dict[str, float]:
        """The question's words that can name a subject, with their weights."""
        text = normalize(question)
        # Terms and synonyms first (jieba cuts 敬老卡 into 敬老 + 卡; 走丢 is a verb), then the nouns of the rest.
        terms = [t for t in self.rules.terms if t in text]
        for term in terms:
            text = text.replace(term, " ")
        words = dict.fromkeys(
            terms
            + [w for w, flag in _pos().lcut(text) if flag in _NAMING and len(w) >= 2 and w not in self.rules.generic]
        )
        return {w: self._weight(w) for w in words}

    def coverage(self, question: str, entry_id: str) -> float:
        """The share of the question's subject weight found in the entry (1.0 when nothing weighs)."""
        if entry_id not in self._texts:
            return 0.0
        weights = self.subject(question)
        total = sum(weights.values())
        if total <= 0:
            return 1.0
        return sum(v for w, v in weights.items() if self._covered(w, entry_id)) / total

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """Among hits within ``margin`` of the best: when the best does not speak of the question's subject,
        the close one that speaks of most of it; else one whose title asks the question's way, if it covers
        as much."""
        if len(hits) < 2:
            return hits
        # Only entries of the same reach: one street's entry never displaces the district-wide one.
        street = self._street.get(hits[0].id)
        close = [h for h in hits if h.score >= hits[0].score - self.rules.margin and self._street.get(h.id) == street]
        top = self.coverage(question, hits[0].id)
        if top < self.rules.min_coverage:
            best = max(close, key=lambda h: self.coverage(question, h.id))  # max keeps the first of equals
        elif self._same_facet(question, hits[0].id):
            return hits
        else:
            best = next(
                (h for h in close if self._same_facet(question, h.id) and self.coverage(question, h.id) >= top),
                hits[0],
            )
        return [best, *(h for h in hits if h.id != best.id)]

    def _same_facet(self, question: str, entry_id: str) -> bool:
        """The entry's title asks the question's way ("长护险是什么" and 「长护险是啥保险」)."""
        title = self._titles[entry_id]
        return any(f.search(question) and f.search(title) for f in self.rules.facets)

    def speaks_of(self, question: str, entry_id: str, score: float = 0.0) -> bool:
        """Whether the entry may answer: it covers enough of the subject, or matched so closely (``score`` at
        least ``sure_score``: one of its own question variants, nearly word for word) that it needs no check."""
        return score >= self.rules.sure_score or self.coverage(question, entry_id) >= self.rules.min_coverage
