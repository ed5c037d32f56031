"""Does the chosen entry speak of what the question asks about? (issue 10)

A close cosine is not enough: "助听器有补贴伐" lands on 高龄助餐补贴 and "流感疫苗老人打免费伐" on 老年人免费体检,
because the questions share their way of asking and half their words (补贴, 免费, 老年人). What the senior
asks about (助听器, 疫苗) is a thing the knowledge base never speaks of; a confident answer about something
else would mislead. :meth:`Relevance.check` says why an entry may not answer a question, or ``None``:

1. ``unknown``: the question names a thing (a noun-like word, ``naming`` tags of jieba) that no entry of
   the KB speaks of, directly, by a word of its synonym group, or in its parts (公证预约: 公证 … 预约);
2. ``term``: the question names one of ``terms`` (things seniors name that jieba would cut: 敬老卡,
   住家保姆) and the entry does not speak of it;
3. a facet (``facets``): the question asks for something only an entry that says it can answer
   (什么时候发: a payday; 丢了怎么补: how to replace what was lost), and the entry does not say it.

Only the question itself counts: of a message told as a situation and then a question ("我老头子瘫在床上
长护险怎么弄") the last clause, when it names anything; details of the situation (床上, 右手, 胃管) are not
what is asked. A hit scoring ``sure_score`` or more matched one of the entry's own question variants
nearly word for word and is not checked. The lists and numbers are in ``relevance.yml``.

An earlier version weighed every word by its rarity and asked for a share of the weight; it turned the
situation's words into the subject (床上 outweighed 长护险) and moved answers between close entries. This
one moves nothing: it only withholds confidence, and the unsure reply offers the close entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba.posseg
import yaml

from common.errors import ConfigError
from knowledge_base.schema import Entry, KnowledgeBaseError
from knowledge_base.text import _tokenizer, tokens
from textnorm import normalize

# The entries the retriever finds for one word alone, with their scores.
Near = Callable[[str], dict[str, float]]

RELEVANCE_PATH = Path(__file__).resolve().parent / "relevance.yml"
_KEYS = ("sure_score", "word_score", "naming", "naming_alone", "generic", "terms", "synonyms", "facets")
_FACET_KEYS = frozenset({"name", "asks", "says"})

# Clauses of a message: a situation, then the question.
_CLAUSES = re.compile(r"[\s，,。.!！?？;；、]+")
# Never a thing named: a verb cut together with a measure word (评个, 领点, 签个) or with its result or direction
# (查出来, 收掉, 接回来: an action), a judgement (太小, 太贵).
_SPLIT_OFF = re.compile(r"[个点下些掉]$|(出|起|下|过|回|进|上)[来去]$|^太")


@lru_cache(maxsize=1)
def _pos() -> jieba.posseg.POSTokenizer:
    return jieba.posseg.POSTokenizer(_tokenizer())


class RelevanceConfigError(KnowledgeBaseError, ConfigError):
    pass


@dataclass(frozen=True)
class Facet:
    """A way of asking that only an entry saying a certain thing can answer."""

    name: str
    asks: re.Pattern[str]  # in the question (normalized)
    says: re.Pattern[str]  # in the entry's text (normalized)


@dataclass(frozen=True)
class RelevanceRules:
    sure_score: float
    word_score: float
    naming: frozenset[str]
    naming_alone: frozenset[str]
    generic: frozenset[str]
    terms: tuple[str, ...]  # longest first
    groups: dict[str, frozenset[str]]  # word -> every word of its synonym group
    facets: tuple[Facet, ...]

    @classmethod
    def load(cls, path: Path = RELEVANCE_PATH) -> RelevanceRules:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise RelevanceConfigError(f"cannot read {path}: {err}") from err
        if not isinstance(data, dict):
            raise RelevanceConfigError(f"{path}: must be a mapping with the keys {', '.join(_KEYS)}")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise RelevanceConfigError(f"{path}: unknown key {unknown[0]!r}; the keys allowed are {', '.join(_KEYS)}")
        try:
            sure_score, word_score = float(data["sure_score"]), float(data["word_score"])
            naming = frozenset(str(tag) for tag in data["naming"])
            naming_alone = frozenset(str(tag) for tag in data["naming_alone"])
            generic = frozenset(normalize(str(w)) for w in data["generic"])
            groups: dict[str, frozenset[str]] = {}
            for group in data["synonyms"]:
                words = frozenset(normalize(str(w)) for w in group)
                for word in words:
                    groups[word] = groups.get(word, frozenset()) | words
            named = {normalize(str(w)) for w in data["terms"]} | set(groups)
            terms = tuple(sorted(named, key=lambda t: (-len(t), t)))
            facets = []
            for facet in data["facets"]:
                extra = sorted(set(facet) - _FACET_KEYS)
                if extra:
                    raise RelevanceConfigError(
                        f"{path}: facet {facet.get('name')!r}: unknown key {extra[0]!r}; the keys allowed are "
                        "name, asks, says"
                    )
                facets.append(Facet(str(facet["name"]), re.compile(str(facet["asks"])), re.compile(str(facet["says"]))))
        except (KeyError, TypeError, ValueError, AttributeError, re.error) as err:
            raise RelevanceConfigError(
                f"{path}: needs sure_score and word_score (numbers), naming, naming_alone, generic and terms (lists of words), synonyms (a list "
                f"of word lists) and facets (a list of name/asks/says, asks and says patterns): {err}"
            ) from err
        return cls(sure_score, word_score, naming, naming_alone, generic, terms, groups, tuple(facets))


@dataclass(frozen=True)
class Verdict:
    """Why an entry may not answer a question: which check, and the word or facet it is about."""

    check: str  # unknown | term | facet
    about: str


class Relevance:
    """The subject check over the entries of one KB snapshot (built once per snapshot)."""

    def __init__(self, entries: Sequence[Entry], rules: RelevanceRules | None = None) -> None:
        self.rules = rules or RelevanceRules.load()
        self._texts = {e.id: normalize(e.document()) for e in entries}
        self._words = {e.id: frozenset(tokens(self._texts[e.id])) for e in entries}
        self._known: dict[str, bool] = {}

    def _in(self, word: str, entry_id: str) -> bool:
        # A word of two or more characters is looked for in the text (jieba may cut it otherwise
        # there); a single character only as a word of its own ("补" is not in "补贴").
        if len(word) == 1:
            return word in self._words[entry_id]
        return word in self._texts[entry_id]

    def covers(self, entry_id: str, word: str) -> bool:
        """The entry speaks of ``word``: the word, a word of its synonym group, or all its parts."""
        if entry_id not in self._texts:
            return False
        if any(self._in(w, entry_id) for w in self.rules.groups.get(word, frozenset({word}))):
            return True
        parts = [p for p in _tokenizer().lcut_for_search(word) if len(p) >= 2 and p != word]
        return bool(parts) and all(self._in(p, entry_id) for p in parts)

    def known(self, word: str) -> bool:
        """Some entry of the KB speaks of ``word``."""
        found = self._known.get(word)
        if found is None:
            found = any(self.covers(entry_id, word) for entry_id in self._texts)
            self._known[word] = found
        return found

    def _one_clause(self, question: str) -> bool:
        return len([c for c in _CLAUSES.split(normalize(question)) if c]) < 2

    def asked(self, question: str) -> str | None:
        """The part of the message that asks: all of a one-clause message; of a longer one its last clause, when
        that names anything. None when it names nothing ("我爸插着胃管，要定期换管子，谁能上门来弄"): the things
        named are then the senior's situation, not what is asked, and only the facets are checked."""
        text = normalize(question)
        clauses = [c for c in _CLAUSES.split(text) if c]
        if len(clauses) < 2:
            return text
        terms, names = self._subject(clauses[-1])
        return clauses[-1] if terms or names else None

    def _subject(self, text: str, alone: bool = False) -> tuple[list[str], list[str]]:
        terms = [t for t in self.rules.terms if t in text]
        for term in terms:
            text = text.replace(term, " ")
        tags = self.rules.naming | self.rules.naming_alone if alone else self.rules.naming
        names = [
            w
            for w, flag in _pos().lcut(text)
            if flag in tags and len(w) >= 2 and w not in self.rules.generic and not _SPLIT_OFF.search(w)
        ]
        return terms, list(dict.fromkeys(names))

    def subject(self, question: str) -> tuple[list[str], list[str]]:
        """The terms and the other naming words of what the question asks."""
        asked = self.asked(question)
        return self._subject(asked) if asked is not None else ([], [])

    def check(self, question: str, entry_id: str, score: float = 0.0, near: Near | None = None) -> Verdict | None:
        """Why the entry may not answer the question with confidence, or None if it may.

        ``near(word)``: the entries the retriever finds for the word alone, with their scores; a word no entry
        says but that, alone, nearly reaches this entry (送饭 → 送餐上门, at ``word_score``) is not unknown."""
        if score >= self.rules.sure_score or entry_id not in self._texts:
            return None
        asked = self.asked(question)
        if asked is None:
            return self._facet(normalize(question), entry_id)
        terms, names = self._subject(asked, alone=self._one_clause(question))
        for word in names:
            if not self.known(word) and (near is None or near(word).get(entry_id, 0.0) < self.rules.word_score):
                return Verdict("unknown", word)
        for term in terms:
            if not self.covers(entry_id, term):
                return Verdict("term", term)
        return self._facet(asked, entry_id)

    def _facet(self, asked: str, entry_id: str) -> Verdict | None:
        for facet in self.rules.facets:
            if facet.asks.search(asked) and not facet.says.search(self._texts[entry_id]):
                return Verdict("facet", facet.name)
        return None

    def speaks_of(self, question: str, entry_id: str, score: float = 0.0, near: Near | None = None) -> bool:
        return self.check(question, entry_id, score, near) is None

    def order(self, question: str, ids: Sequence[str], near: Near | None = None) -> list[str]:
        """Entries to offer as choices: those that pass the check first, otherwise in the order given."""
        passing = [i for i in ids if self.speaks_of(question, i, near=near)]
        return passing + [i for i in ids if i not in passing]
