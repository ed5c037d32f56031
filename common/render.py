"""Shape bot replies for a channel: numbered choices where buttons are missing, size limits.

Rasa hands a channel messages with ``text`` and optional ``buttons``. A channel that can
show buttons (Telegram's reply keyboard) keeps them; one that cannot (WeChat's text reply)
gets them as a numbered list the user answers with a digit ("回复 1"). Long texts are split
at paragraph, line or sentence ends so every piece fits the platform's limit
(Telegram: 4096 characters; WeChat passive text: 2048 bytes of UTF-8).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Measure = Callable[[str], int]
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)


def _title(button: dict[str, Any]) -> str:
    return str(button.get("title") or button.get("payload") or "").strip()


def numbered_choices(text: str, buttons: list[dict[str, Any]]) -> str:
    """Add the buttons to the text as numbered lines, unless the text already lists them."""
    titles = [_title(b) for b in buttons]
    if not titles:
        return text
    bare = [re.sub(r"^\s*\d+[.、．]\s*", "", t) for t in titles]
    if all(b in text for b in bare):
        return f"{text}\n（请回复数字 1–{len(titles)}）" if len(titles) > 1 else text
    lines = [f"{i}. {t}" for i, t in enumerate(bare, start=1)]
    return "\n".join([text, *lines, f"（请回复数字 1–{len(titles)}）"]).strip()


def _hard_split(piece: str, limit: int, measure: Measure) -> list[str]:
    out, current = [], ""
    for ch in piece:
        if current and measure(current + ch) > limit:
            out.append(current)
            current = ""
        current += ch
    return [*out, current] if current else out


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` (by ``measure``), at natural breaks."""
    if limit < 4:
        raise ValueError("limit must be at least 4")
    if not text.strip():
        return []  # platforms refuse blank messages
    if measure(text) <= limit:
        return [text]
    units: list[str] = []
    for paragraph in text.split("\n"):
        if measure(paragraph) <= limit:
            units.append(paragraph)
            continue
        for sentence in (s for s in SENTENCE_END.split(paragraph) if s):
            units.extend([sentence] if measure(sentence) <= limit else _hard_split(sentence, limit, measure))
    pieces: list[str] = []
    current = ""
    for unit in units:
        joined = f"{current}\n{unit}" if current else unit
        if measure(joined) <= limit:
            current = joined
        else:
            if current:
                pieces.append(current)
            current = unit
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def render(
    messages: Iterable[dict[str, Any]], buttons_supported: bool, limit: int, measure: Measure = len
) -> list[Rendered]:
    """Turn Rasa's bot messages into what the channel can send, in order."""
    out: list[Rendered] = []
    for message in messages:
        text = str(message.get("text") or "")
        buttons = list(message.get("buttons") or [])
        if not text and not buttons:
            continue  # custom payloads (e.g. the KB entry id) are for programs, not people
        if not buttons_supported:
            text, buttons = numbered_choices(text, buttons), []
        pieces = split_text(text, limit, measure) or [""]
        out.extend(Rendered(p) for p in pieces[:-1])
        out.append(Rendered(pieces[-1], buttons))
    return out
