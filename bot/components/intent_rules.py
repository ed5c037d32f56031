"""IntentRules: short messages that can mean only one thing get that intent, whatever the classifier says.

"算了" must always stop a booking, and "约公证" must always start one; a statistical classifier
trained on a few thousand examples gets such two-word messages wrong now and then. The table
``training_data/intent_rules.yml`` lists, per intent, regular expressions that must match the
*whole* normalized message (trailing punctuation ignored). ``{services}`` in a rule stands for
every name and alias in ``bookings/services.yml`` (read as a data file: this runtime does not import
the app side); ``{complaint}``, a rule of its own, for a complaint about the answer just given
(``training_data/complaints.yml`` through :mod:`common.complaints`, which the action server reads
too). Runs after the classifier and before EmergencyGuard, which has the last word.

A message that only makes sense as a follow-up (:func:`common.followups.is_followup`: "要铜钿伐",
"啥人可以", "那养老顾问呢") is ``ask_followup`` when the classifier took it for small talk, a greeting, a
request for a person or a question about one's bookings; never when it read a number, a date, a street,
a yes or no, a stop or an emergency, which a form may be waiting for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import regex
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from common import complaints, followups
from common.errors import ConfigError
from textnorm import normalize

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TABLE = ROOT / "training_data" / "intent_rules.yml"
DEFAULT_SERVICES = ROOT / "bookings" / "services.yml"
DEFAULT_COMPLAINTS = complaints.DEFAULT_TABLE
_TRAILING = regex.compile(r"[\p{P}\s~～]+$")
FOLLOWUP_INTENT = "ask_followup"
# What the classifier may say of a short follow-up by mistake; a follow-up read as one of these is ask_followup.
MISREAD_FOLLOWUP = frozenset(
    {"greet", "goodbye", "thanks", "chitchat", "request_human", "out_of_scope", "nlu_fallback"}
)
# … and these, unless the message speaks of a booking ("改个时间" is a reschedule, "要钱伐" is not).
MISREAD_UNLESS_BOOKING = frozenset({"check_bookings", "reschedule_booking", "cancel_booking"})
_BOOKING_WORDS = regex.compile(r"约|改|取消|退|换|挪|推迟|提前")
# Small talk about the assistant or the day ("你住在哪里", "今朝是礼拜几") is not a follow-up.
_TO_THE_BOT = regex.compile(r"你|您|侬|机器人|助手|今天是|现在是?几点|几号")


class IntentRulesError(ConfigError, InvalidConfigException):
    """The rules table or the services file cannot be used; the message says what to fix."""


def service_words(path: Path | str) -> list[str]:
    """Every name and alias of a bookable service, longest first (normalized like user text)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        words = {
            normalize(str(w))
            for service in data["services"].values()
            for w in [service["name"], *(service.get("aliases") or [])]
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise IntentRulesError(f"IntentRules: cannot read service names from {path}: {err}") from err
    return sorted((w for w in words if w), key=len, reverse=True)


def load_rules(
    table: Path | str, services: Path | str, complaint_table: Path | str = DEFAULT_COMPLAINTS
) -> list[tuple[str, regex.Pattern[str]]]:
    try:
        data = yaml.safe_load(Path(table).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise IntentRulesError(f"IntentRules: cannot read {table}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict) or set(data) - {"version", "intents"}:
        raise IntentRulesError(f"IntentRules: {table} must have exactly 'version' and 'intents' (intent → patterns)")
    names = "|".join(regex.escape(w) for w in service_words(services))
    try:
        complaint = complaints.pattern_source(complaint_table)
    except complaints.ComplaintTableError as err:
        raise IntentRulesError(f"IntentRules: {err}") from err
    rules = []
    for intent, patterns in data["intents"].items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise IntentRulesError(f"IntentRules: {table}: intents.{intent} must be a list of regular expressions")
        for pattern in patterns:
            try:
                source = pattern.replace("{services}", names).replace("{complaint}", complaint)
                rules.append((str(intent), regex.compile(source)))
            except regex.error as err:
                raise IntentRulesError(f"IntentRules: {table}: intents.{intent}: {pattern!r}: {err}") from err
    return rules


def misread_followup(text: str, classified: str) -> bool:
    """A follow-up ("要铜钿伐") that the classifier read as ``classified`` (small talk, a greeting …) by mistake."""
    if classified in MISREAD_UNLESS_BOOKING:
        if _BOOKING_WORDS.search(normalize(text)):
            return False
    elif classified not in MISREAD_FOLLOWUP:
        return False
    if classified in ("chitchat", "greet") and _TO_THE_BOT.search(normalize(text)):
        return False
    return followups.is_followup(text)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentRules(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"table": str(DEFAULT_TABLE), "services": str(DEFAULT_SERVICES), "complaints": str(DEFAULT_COMPLAINTS)}

    def __init__(self, config: dict[str, Any]) -> None:
        self._rules = load_rules(config["table"], config["services"], config.get("complaints", DEFAULT_COMPLAINTS))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentRules:
        return cls(config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        load_rules(
            config.get("table", DEFAULT_TABLE),
            config.get("services", DEFAULT_SERVICES),
            config.get("complaints", DEFAULT_COMPLAINTS),
        )

    def intent_for(self, text: str, classified: str | None = None) -> str | None:
        whole = _TRAILING.sub("", normalize(text).strip())
        ruled = next((intent for intent, pattern in self._rules if pattern.fullmatch(whole)), None)
        if ruled is None and classified is not None and misread_followup(text, classified):
            return FOLLOWUP_INTENT
        return ruled

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text or text.startswith("/"):
                continue
            current = message.get(INTENT) or {}
            intent = self.intent_for(text, current.get(INTENT_NAME_KEY))
            if intent is None:
                continue
            if current.get(INTENT_NAME_KEY) != intent:
                logger.info("IntentRules: '%s' (classifier said %s).", intent, current.get(INTENT_NAME_KEY))
            top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
