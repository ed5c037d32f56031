"""The domain, training data and config hang together, and the trainer skips unchanged inputs."""

from __future__ import annotations

import ast
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.importers.importer import TrainingDataImporter

from bot.tools import train

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
REQUIRED_INTENTS = {
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "ask_care_service",
    "ask_legal",
    "ask_insurance",
    "book_service",
    "check_bookings",
    "cancel_booking",
    "request_human",
    "emergency",
    "scam_worry",
    "chitchat",
    "out_of_scope",
}
# Sentences the stack's end-to-end suites send or check (tests/app/test_e2e_*.py, test_emergency_phrasings.py):
# every Chinese string literal of 4 characters or more, collected from the files themselves so that a new test
# is covered without copying its phrasings here. A few are steps of a flow test, not a check of understanding,
# and are training examples on purpose (FLOW_STEPS).
E2E_FILES = [
    *sorted((ROOT / "tests" / "app").glob("test_e2e_*.py")),
    ROOT / "tests" / "app" / "test_emergency_phrasings.py",
]
FLOW_STEPS = {"我约了啥", "算了不约了", "每天问问我", "取消刚才那个", "长护险要啥条件"}


def _e2e_sentences() -> set[str]:
    found: set[str] = set()
    for path in E2E_FILES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.strip()
                if len(text) >= 4 and CJK.search(text):
                    found.add(node.value)
    return found - FLOW_STEPS


# Sentences built at run time, short ones and others the collection above cannot see.
TEST_SENTENCES = _e2e_sentences() | {
    # tests/app/test_e2e_probe_classes.py, test_e2e_form_phrasings.py, test_e2e_routing.py
    "明天上午帮我约个助浴",
    "asdfgh",
    "不要了",
    "覅要了",
    "勿要了",
    "再说吧",
    "助餐点",
    "防走失",
    "送饭",
    "谁会来",
    "👍",
    "👌",
    "👍👍",
    "👍🏻",
    # tests/app/test_timeparse_e2e.py: vague days and ranges of hours at the booking form
    "过完年帮我约个助浴，我住顾村",
    "那就下礼拜四上半天",
    "帮我约个上门护理，住在顾村",
    "开春以后吧",
    "月中吧",
    "等我儿子回来",
    "下礼拜五下午",
    "下礼拜二下午两三点帮我约个助浴，顾村，联系人冯秀兰，手机13812345678",
    "月底帮我约个助浴，我住顾村",
    "明年开春",
    "过完年以后",
    "下半个月",
    "你说了算",
    "改天吧",
    "月底",
    # names typed alone at the name prompt (tests/app/test_e2e_routing.py)
    "陆桂英",
    "蒋阿大",
    "俞秀凤",
}


def _booking_class_messages() -> set[str]:
    """tests/app/test_e2e_booking_classes.py: the messages of its SEEN_* and FRESH_* lists (not the words checked),
    but for the two-character words that set a scene or are the stop itself (对, 你好, 绑定, 算了), which the
    IntentRules table reads and the training data holds on purpose."""
    tree = ast.parse((ROOT / "tests" / "app" / "test_e2e_booking_classes.py").read_text("utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        if not node.targets[0].id.startswith(("SEEN_", "FRESH_")) or not isinstance(node.value, ast.List):
            continue
        for item in node.value.elts:
            if not isinstance(item, ast.Tuple):
                messages = [item]
            elif isinstance(item.elts[0], ast.List):  # (messages before, the stop, …)
                messages = [*item.elts[0].elts, item.elts[1]]
            elif len(item.elts) == 3:  # (topic question, follow-up, words)
                messages = item.elts[:2]
            else:  # (message, name)
                messages = item.elts[:1]
            found.update(
                m.value
                for m in messages
                if isinstance(m, ast.Constant) and isinstance(m.value, str) and len(m.value) > 2
            )
    return found


TEST_SENTENCES |= _booking_class_messages()

# tests/app/test_e2e_followups.py: every message its conversations check (a bare number picks from a list).
FOLLOWUP_SENTENCES = {
    str(turn["say"])
    for conversation in yaml.safe_load((ROOT / "tests" / "app" / "followup_conversations.yml").read_text("utf-8"))[
        "conversations"
    ]
    for turn in conversation
    if len(turn) > 1 and not str(turn["say"]).isdigit()
}

# tests/app/relevance_questions.yml: the subject check's questions (issue 10).
RELEVANCE_SENTENCES = {
    str(row if isinstance(row, str) else row[0])
    for rows in yaml.safe_load((ROOT / "tests" / "app" / "relevance_questions.yml").read_text("utf-8")).values()
    for row in rows
}


@pytest.fixture(scope="module")
def importer() -> TrainingDataImporter:
    return TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain"), [str(ROOT / "training_data")]
    )


def test_every_intent_has_enough_varied_examples(importer: TrainingDataImporter) -> None:
    nlu = importer.get_nlu_data()
    counts = Counter(m.get("intent") for m in nlu.intent_examples)
    assert REQUIRED_INTENTS <= set(counts)
    assert {i: n for i, n in counts.items() if n < 25} == {}
    texts = [m.get("text") for m in nlu.intent_examples]
    assert len(texts) == len(set(texts)), "duplicate examples"
    plain = {m.get("text") for m in nlu.intent_examples}
    assert not TEST_SENTENCES & plain, "the acceptance sentences must stay out of the training data"
    assert not FOLLOWUP_SENTENCES & plain, "the follow-up conversations' messages must stay out of the training data"
    assert not RELEVANCE_SENTENCES & plain, "the subject check's questions must stay out of the training data"


def test_entities_are_annotated(importer: TrainingDataImporter) -> None:
    nlu = importer.get_nlu_data()
    seen = Counter(e["entity"] for m in nlu.entity_examples for e in m.get("entities"))
    assert {"service", "datetime", "street", "phone", "person"} <= set(seen)
    assert min(seen[k] for k in ("service", "datetime", "street", "phone", "person")) >= 5


def test_domain_covers_intents_and_rules_use_known_actions(importer: TrainingDataImporter) -> None:
    domain: Domain = importer.get_domain()
    assert REQUIRED_INTENTS <= set(domain.intents)
    stories = importer.get_stories()
    used = {
        step.action_name for story in stories.story_steps for step in story.events if getattr(step, "action_name", None)
    }
    assert used <= set(domain.action_names_or_texts)
    assert "utter_emergency" in used


def test_fingerprint_changes_only_with_inputs(tmp_path: Path) -> None:
    for name in train.INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    before = train.fingerprint(tmp_path)
    assert train.fingerprint(tmp_path) == before
    (tmp_path / "models").mkdir()
    assert train.fingerprint(tmp_path) == before, "outputs do not change the fingerprint"
    with (tmp_path / "training_data" / "nlu" / "greet.yml").open("a", encoding="utf-8") as handle:
        handle.write("    - 侬好呀老朋友\n")
    assert train.fingerprint(tmp_path) != before
    with (tmp_path / "training_data" / "safety.yml").open("a", encoding="utf-8") as handle:
        handle.write("# a danger phrase is read when the server loads the model, not trained\n")
    changed = train.fingerprint(tmp_path)
    with (tmp_path / "training_data" / "safety.yml").open("a", encoding="utf-8") as handle:
        handle.write("# another\n")
    assert train.fingerprint(tmp_path) == changed, "tables read at load time do not force a retraining"
    for table in ("intent_rules.yml", "complaints.yml"):
        with (tmp_path / "training_data" / table).open("a", encoding="utf-8") as handle:
            handle.write("# read by IntentRules when the server loads the model\n")
        assert train.fingerprint(tmp_path) == changed, table
