"""Which reply a numbered menu choice (or a button with no question in it) leads to (actions/topics.yml)."""

from __future__ import annotations

import re

from actions.topics import load
from textnorm import normalize

_TOPICS = load()
# Button payload intent → the response that asks what exactly the user wants (domain/).
MENU_RESPONSES = {t.intent: t.ask for t in _TOPICS.topics if t.ask}
# A button or number that asks for a person runs the handoff (actions/handoff.py), not a reply.
HANDOFF_INTENT = _TOPICS.handoff.intent
HANDOFF_ACTION = _TOPICS.handoff.action
# What a button press with no question and no topic of its own asks: the first topic's question.
DEFAULT_MENU_RESPONSE = next(iter(MENU_RESPONSES.values()))

# Around a menu word typed alone: "我想问问保险", "法律方面的", "养老的事情呢".
_AROUND = re.compile(
    r"^(?:请问|我想问问?|想问问?|问问|问一下|我要问|我想了解一下|了解一下|我想咨询|咨询一下?|关于|有关|我想|想|说说|讲讲)?"
    r"(?P<word>.+?)"
    r"(?:方面|这方面|那方面|这块|的事情?|的问题|的|一下)*(?:吧|呢|啊|呀|哦|吗|伐)*$"
)
_TYPED = {word: t.intent for t in _TOPICS.topics if t.ask for word in (t.typed or ((t.button,) if t.button else ()))}


def typed_menu_intent(text: str) -> str | None:
    """The topic a senior means by typing a menu word alone ("保险", "我想问问法律方面"), or None."""
    bare = re.sub(r"[\s\W_]+", "", normalize(text))
    match = _AROUND.match(bare)
    return _TYPED.get(match["word"]) if match else None
