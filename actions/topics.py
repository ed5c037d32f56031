"""The topics table (actions/topics.yml): intent → knowledge-base collection → menu → responses.

One place says which topics exist; the menu choices (actions/menus.py), the button answers
(actions/knowledge.py) and the checks of the domain (tests/app/test_topics.py) all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from common.errors import ConfigError

TABLE = Path(__file__).with_name("topics.yml")
_TOPIC_KEYS = {"intent", "collection", "menu", "button", "ask", "first", "typed"}
_HANDOFF_KEYS = {"intent", "action", "menu", "button"}
_KIND_KEYS = {"name", "words", "collection", "titles"}


@dataclass(frozen=True)
class Topic:
    intent: str
    collection: str
    menu: int | None = None
    button: str | None = None
    ask: str | None = None  # asks what exactly the senior wants, after a bare menu choice
    first: str | None = None  # said before every knowledge-base answer on this topic
    typed: tuple[str, ...] = ()  # typed alone ("保险", "法律方面"), they mean the menu button, not a question

    @property
    def responses(self) -> tuple[str, ...]:
        return tuple(r for r in (self.ask, self.first) if r)


@dataclass(frozen=True)
class Handoff:
    intent: str
    action: str
    menu: int
    button: str


@dataclass(frozen=True)
class Kind:
    """A kind of help a broad question asks about ("老年人有啥保险", "有啥补贴"): the words that name it, and
    where its entries are: a knowledge-base collection, or the words their titles carry."""

    name: str
    words: tuple[str, ...]
    collection: str | None = None
    titles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topics:
    topics: tuple[Topic, ...]
    handoff: Handoff
    menus: tuple[str, ...]
    kinds: tuple[Kind, ...] = ()

    def by_intent(self, intent: str) -> Topic | None:
        return next((t for t in self.topics if t.intent == intent), None)

    def menu_buttons(self) -> list[tuple[int, str, str]]:
        """(number, title, intent) of every main-menu button, in order."""
        items = [(t.menu, t.button or "", t.intent) for t in self.topics if t.menu is not None]
        items.append((self.handoff.menu, self.handoff.button, self.handoff.intent))
        return sorted(items)


def _checked(raw: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{TABLE}: {where} must be a mapping")
    unknown = set(raw) - keys
    if unknown:
        raise ConfigError(f"{TABLE}: {where} has unknown key(s) {', '.join(sorted(unknown))}; known: {sorted(keys)}")
    return raw


@cache
def load(path: Path = TABLE) -> Topics:
    """The table, checked: unknown keys and a repeated intent or menu number are errors that name them."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    topics = tuple(
        Topic(**{**(c := _checked(raw, _TOPIC_KEYS, f"topic {i + 1}")), "typed": tuple(c.get("typed") or ())})
        for i, raw in enumerate(data.get("topics") or [])
    )
    handoff = Handoff(**_checked(data.get("handoff"), _HANDOFF_KEYS, "handoff"))
    intents = [t.intent for t in topics]
    if len(set(intents)) != len(intents):
        raise ConfigError(f"{path}: an intent is listed twice in topics: {intents}")
    numbers = [n for n, _, _ in Topics(topics, handoff, ()).menu_buttons()]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(f"{path}: menu numbers must run 1, 2, 3 … without gaps; they are {numbers}")
    return Topics(topics, handoff, tuple(data.get("menus") or ()), _kinds(data.get("kinds") or [], path))


def _kinds(raw: Any, path: Path) -> tuple[Kind, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: kinds must be a list")
    kinds = []
    for i, item in enumerate(raw):
        checked = _checked(item, _KIND_KEYS, f"kind {i + 1}")
        words = tuple(str(w) for w in checked.get("words") or ())
        titles = tuple(str(w) for w in checked.get("titles") or ())
        if not checked.get("name") or not words:
            raise ConfigError(f"{path}: kind {i + 1} needs a name and at least one word")
        if bool(checked.get("collection")) == bool(titles):
            raise ConfigError(f"{path}: kind {i + 1} ({checked['name']}) needs either a collection or titles, not both")
        kinds.append(Kind(str(checked["name"]), words, checked.get("collection"), titles))
    return tuple(kinds)
