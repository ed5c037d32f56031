"""The topics table (actions/topics.yml) and the domain, NLU data and knowledge base agree.

Every intent in the table is in the domain and has training examples, every response it names
exists, the main menu's buttons are exactly the table's menu, and no topic response or topic
intent is left outside the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions import topics
from actions.booking_common import service_name
from actions.menus import HANDOFF_ACTION, HANDOFF_INTENT, MENU_RESPONSES, typed_menu_intent
from bookings.catalog import load_catalog
from common.errors import ConfigError
from knowledge_base.files import builtin_entries
from knowledge_base.schema import COLLECTIONS
from tests.app.domain_support import DOMAIN, ROOT

TABLE = topics.load()
# Intents the knowledge base answers that are not topics of their own, and why.
NOT_TOPICS = {"ask_followup": "asks about the topic the conversation is already on"}


def nlu_intents() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "training_data" / "nlu").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in item and str(item.get("examples") or "").strip():
                found.add(item["intent"])
    return found


def test_every_intent_in_the_table_is_in_the_domain_and_has_examples() -> None:
    intents = [t.intent for t in TABLE.topics] + [TABLE.handoff.intent]
    assert set(intents) <= set(DOMAIN["intents"]), set(intents) - set(DOMAIN["intents"])
    assert set(intents) <= nlu_intents(), set(intents) - nlu_intents()
    assert TABLE.handoff.action in DOMAIN["actions"]


def test_every_response_the_table_names_exists() -> None:
    named = {r for t in TABLE.topics for r in t.responses} | set(TABLE.menus)
    assert named, "the table names responses"
    assert named <= set(DOMAIN["responses"]), named - set(DOMAIN["responses"])


def test_every_collection_is_a_knowledge_base_collection_with_entries() -> None:
    in_use = {e.collection for e in builtin_entries()}
    for topic in TABLE.topics:
        assert topic.collection in COLLECTIONS, topic
        assert topic.collection in in_use, f"no entry answers {topic.intent} in {topic.collection}"


def test_the_main_menu_is_the_tables_menu() -> None:
    expected = [{"title": f"{n}. {title}", "payload": f"/{intent}"} for n, title, intent in TABLE.menu_buttons()]
    assert len(expected) >= 2
    for name in TABLE.menus:
        for variation in DOMAIN["responses"][name]:
            assert variation.get("buttons") == expected, name
            lines = str(variation["text"]).splitlines()
            for n, title, _ in TABLE.menu_buttons():
                assert any(line.startswith(f"{n}. {title}") for line in lines), (name, n, title)


def test_no_orphans() -> None:
    # Every topic-asking response belongs to a topic …
    asks = {t.ask for t in TABLE.topics if t.ask}
    orphans = {r for r in DOMAIN["responses"] if r.startswith("utter_topic_")} - asks
    assert not orphans, f"responses for topics that are not in actions/topics.yml: {orphans}"
    # … and every intent the rules answer from the knowledge base is a topic (or a known exception).
    rules = yaml.safe_load((ROOT / "training_data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    answered = set()
    firsts = {t.first for t in TABLE.topics if t.first}
    for rule in rules:
        steps = rule.get("steps") or []
        if len(steps) >= 2 and "intent" in steps[0] and steps[1].get("action") in {"action_kb_answer", *firsts}:
            answered.add(steps[0]["intent"])
    assert answered, "the rules answer some intents from the knowledge base"
    untabled = answered - {t.intent for t in TABLE.topics} - set(NOT_TOPICS)
    assert not untabled, f"intents answered from the knowledge base but missing in actions/topics.yml: {untabled}"
    # A topic with a response said first is said first by the rules too.
    for topic in TABLE.topics:
        if topic.first:
            assert any(
                len(r.get("steps") or []) >= 2
                and r["steps"][0].get("intent") == topic.intent
                and r["steps"][1].get("action") == topic.first
                for r in rules
            ), topic


def test_the_menus_module_reads_the_table() -> None:
    assert MENU_RESPONSES == {t.intent: t.ask for t in TABLE.topics if t.ask}
    assert (HANDOFF_INTENT, HANDOFF_ACTION) == (TABLE.handoff.intent, TABLE.handoff.action)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yml"
    path.write_text(text, encoding="utf-8")
    return path


HANDOFF = "handoff: {intent: request_human, action: action_handoff, menu: 2, button: 找人工}\n"


def test_an_unknown_key_is_an_error_that_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "topics:\n  - {intent: ask_legal, collection: legal, menu: 1, buton: 法律}\n" + HANDOFF)
    with pytest.raises(ConfigError, match="buton"):
        topics.load(path)


def test_a_repeated_intent_or_a_gap_in_the_menu_is_an_error(tmp_path: Path) -> None:
    twice = "topics:\n  - {intent: ask_legal, collection: legal, menu: 1}\n  - {intent: ask_legal, collection: legal}\n"
    with pytest.raises(ConfigError, match="twice"):
        topics.load(write(tmp_path, twice + HANDOFF))
    gap = "topics:\n  - {intent: ask_legal, collection: legal, menu: 1}\n"
    with pytest.raises(ConfigError, match="without gaps"):
        topics.load(write(tmp_path, gap + HANDOFF.replace("menu: 2", "menu: 3")))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("保险", "ask_insurance"),
        ("我想问问保险", "ask_insurance"),
        ("保险方面的", "ask_insurance"),
        ("法律方面", "ask_legal"),
        ("公证吧", "ask_legal"),
        ("养老的事情呢", "ask_care_service"),
        ("养老服务", "ask_care_service"),
        ("长护险", None),
        ("保险怎么买", None),
        ("公证要带啥", None),
        ("", None),
    ],
)
def test_a_menu_word_typed_alone_is_the_menu_button(text: str, intent: str | None) -> None:
    assert typed_menu_intent(text) == intent


def test_the_service_question_numbers_every_bookable_service_as_the_catalog_does() -> None:
    from actions.booking_form import numbered_services

    text = DOMAIN["responses"]["utter_ask_booking_service"][0]["text"].format(services=numbered_services())
    listed = [line.split(". ", 1)[1] for line in text.splitlines()[1:]]
    assert listed == [service_name(code) for code in load_catalog().services]
    assert text.splitlines()[1].startswith("1. ")
