"""Follow-up conversations end to end, through the real servers: tests/app/followup_conversations.yml.

Each conversation is typed the way people in their seventies type (no punctuation, voice-input slips,
Shanghainese, bare 那…呢, a topic switch, a follow-up after a booking, small talk or "没听明白"). Each
turn's reply must come from the entry the conversation is about (or ask which street, or ask back with
numbered choices), and no reply may show an internal entry id, a sample phone number or address, or the
official-channel hedge twice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.app.conftest import Stack, kb_entry, new_sender, texts
from yinling.places import STREETS

pytestmark = pytest.mark.e2e

CONVERSATIONS: list[list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).with_name("followup_conversations.yml")).read_text(encoding="utf-8")
)["conversations"]
ENTRY_ID = re.compile(r"\b(?:ins|law|svc|dir)-[a-z]")
SAMPLE_CONTACT = re.compile(r"021[-－]|××|示例：")
HEDGE = re.compile(r"以(?:街道/)?(?:官方|当年)[^，。（）]{0,4}为准")
NOT_ANSWERED = ("帮不上忙", "没听明白")


def _problems(turn: dict[str, Any], replies: list[dict[str, Any]]) -> list[str]:
    reply = "\n".join(texts(replies))
    problems = []
    if ENTRY_ID.search(reply):
        problems.append("shows an internal entry id")
    if SAMPLE_CONTACT.search(reply):
        problems.append("shows a sample contact detail")
    if len(HEDGE.findall(reply)) > 1:
        problems.append("says 以官方为准 more than once")
    expected = {k: v for k, v in turn.items() if k != "say"}
    if not expected:
        return problems
    if any(word in reply for word in NOT_ANSWERED):
        problems.append("not answered")
    entry = kb_entry(replies) or ""
    if "entry" in expected and not entry.startswith(tuple(expected["entry"])):
        problems.append(f"answered from {entry or 'no entry'}, not {expected['entry']}")
    if "says" in expected and not any(str(word) in reply for word in expected["says"]):
        problems.append(f"says none of {expected['says']}")
    if expected.get("street"):
        listed = all(f"{i}. {street}" in reply for i, street in enumerate(STREETS, start=1))
        if not listed or "街道" not in reply.split("\n1.")[0]:
            problems.append("does not ask for the street with a numbered list")
    if expected.get("choices") and not re.search(r"^1\.", reply, re.MULTILINE):
        problems.append("does not ask back with numbered choices")
    return problems


@pytest.mark.parametrize(
    "turns", CONVERSATIONS, ids=[f"{i:02d}-{c[0]['say'][:12]}" for i, c in enumerate(CONVERSATIONS, start=1)]
)
def test_a_follow_up_conversation(stack: Stack, turns: list[dict[str, Any]]) -> None:
    sender = new_sender()
    said = []
    for turn in turns:
        replies = stack.say(sender, str(turn["say"]))
        said.append(f"{turn['say']} → {' / '.join(texts(replies))}")
        problems = _problems(turn, replies)
        assert not problems, "\n".join([*said, f"problems: {problems}"])
