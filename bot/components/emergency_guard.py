"""EmergencyGuard: a message that describes danger now is an emergency, whatever the classifier says.

Placed last in the pipeline, after FallbackClassifier (it keeps the classifier's other intents in
the ranking, and a confident second intent next to its 1.0 would make the fallback's ambiguity rule
turn an emergency into ``nlu_fallback``). The table
``training_data/safety.yml`` lists danger phrases by kind (fire, gas, stroke, chest pain, a fall …),
in priority order. When the normalized text (or the raw text) matches one, the message's intent
becomes ``emergency`` with confidence 1.0 and an entity ``emergency_kind`` names the kind, so the
first reply fits the case (fire → 119 and get out; stroke → note the time, no food or water).

Danger *mentioned* is not danger now: a clause that talks about learning first aid, what an idiom
means, fearing or preventing a fall, the past, the news, insurance, a service or a product does not
count, unless it also says it is happening now. Idioms (救命稻草) are removed before matching. When the
classifier alone said ``emergency`` for a message that only mentions danger (a danger word — the
table's ``topics`` — in such a clause), or for a question (the table's ``questions``) that says nothing
of danger now, the guard hands the message to the next intent in the ranking instead.

The table also says how to read what seniors type: ``spellings`` rewrites Shanghainese and voice-input
slips (爬勿起来, 兄口痛, 幺二零) before matching; a danger's bare ``names`` in a question (中风有哪些先兆),
``hearsay`` (报纸上讲…), a ``hypothetical`` clause without a ``present`` word (万一心脏病发作), and a
message about one of the ``services`` (家庭病床哪能办, 慢性病长处方) are mentions, not alarms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.components.normalizer import RAW_TEXT

logger = logging.getLogger(__name__)

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "training_data" / "safety.yml"
KIND_ENTITY = "emergency_kind"
GENERAL = "general"
_TABLE_KEYS = {
    "version",
    "spellings",
    "kinds",
    "idioms",
    "names",
    "mentions",
    "hearsay",
    "hypothetical",
    "present",
    "services",
    "now",
    "topics",
    "questions",
}
_CLAUSE_BREAK = regex.compile(r"[，,。.!！?？;；、\s]+")


@dataclass(frozen=True)
class SafetyTable:
    kinds: tuple[tuple[str, tuple[regex.Pattern[str], ...]], ...]  # in priority order
    idioms: regex.Pattern[str] | None
    mentions: regex.Pattern[str] | None
    now: regex.Pattern[str] | None
    topics: regex.Pattern[str] | None  # words naming a danger, for telling a mention apart
    questions: regex.Pattern[str] | None  # a message that asks about something
    spellings: tuple[tuple[regex.Pattern[str], str], ...] = ()  # Shanghainese and voice-input spellings → Mandarin
    names: regex.Pattern[str] | None = None  # a danger's bare name (中风, 心梗): in a question, a topic
    hearsay: regex.Pattern[str] | None = None  # told by the news, a story, someone else: not here, not now
    services: regex.Pattern[str] | None = None  # a service, benefit, product or document (家庭病床, 长处方)
    hypothetical: regex.Pattern[str] | None = None  # 万一, 如果: what follows is supposed, not happening
    present: regex.Pattern[str] | None = None  # 现在, 刚刚: happening now even in a supposing clause


@dataclass(frozen=True)
class Assessment:
    kind: str | None  # the kind of danger now, by priority; None if none
    mentioned: bool  # danger was only mentioned somewhere (an idiom, a learning/fear/past clause)
    # no danger phrase, and the message asks about something (no `now` word anywhere), names a service, or
    # calmly holds a mention: a classifier's alarm for it is handed on
    asking: bool = False


def _union(patterns: Any, where: str) -> regex.Pattern[str] | None:
    if patterns is None:
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise InvalidConfigException(f"EmergencyGuard: '{where}' must be a list of regular expressions")
    return regex.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _spellings(pairs: Any, where: str) -> tuple[tuple[regex.Pattern[str], str], ...]:
    if pairs is None:
        return ()
    if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()):
        raise InvalidConfigException(f"EmergencyGuard: '{where}' must map a regular expression to its Mandarin")
    return tuple((regex.compile(k), v) for k, v in pairs.items())


def load_table(path: Path | str) -> SafetyTable:
    """Compile the safety table; a bad file is a configuration error that says what to fix."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise InvalidConfigException(f"EmergencyGuard: {path} must be a mapping with 'kinds'")
        unknown = set(data) - _TABLE_KEYS
        if unknown:
            raise InvalidConfigException(
                f"EmergencyGuard: {path}: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_TABLE_KEYS))}"
            )
        raw_kinds = data.get("kinds")
        if not isinstance(raw_kinds, dict) or not raw_kinds:
            raise InvalidConfigException(f"EmergencyGuard: {path}: 'kinds' must map each kind to its phrases")
        kinds = []
        for kind, patterns in raw_kinds.items():
            if not isinstance(patterns, list) or not patterns:
                raise InvalidConfigException(f"EmergencyGuard: {path}: kinds.{kind} must list regular expressions")
            kinds.append((str(kind), tuple(regex.compile(p) for p in patterns)))
        return SafetyTable(
            kinds=tuple(kinds),
            idioms=_union(data.get("idioms"), "idioms"),
            mentions=_union(data.get("mentions"), "mentions"),
            now=_union(data.get("now"), "now"),
            topics=_union(data.get("topics"), "topics"),
            questions=_union(data.get("questions"), "questions"),
            spellings=_spellings(data.get("spellings"), "spellings"),
            names=_union(data.get("names"), "names"),
            hearsay=_union(data.get("hearsay"), "hearsay"),
            services=_union(data.get("services"), "services"),
            hypothetical=_union(data.get("hypothetical"), "hypothetical"),
            present=_union(data.get("present"), "present"),
        )
    except (OSError, yaml.YAMLError, TypeError, regex.error) as err:
        raise InvalidConfigException(f"EmergencyGuard: cannot load the safety table {path}: {err}") from err


def _clauses(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for brk in [*_CLAUSE_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        if end > start:
            spans.append((start, end))
        start = brk.end() if brk else len(text)
    return spans


# How far before (and after) a danger phrase a word such as 现在/刚刚 may stand and still mean "this, now".
NOW_BEFORE, NOW_AFTER = 4, 2


def _counts(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """A danger phrase at ``[start, end)`` counts unless its clause only mentions danger."""
    clause = next(((s, e) for s, e in _clauses(text) if s <= start < e), (0, len(text)))
    if not (table.mentions and table.mentions.search(text, clause[0], clause[1])):
        return True
    # In a supposing clause (万一心脏病发作), 发作 and 怎么办 are part of what is supposed: only `present` counts.
    supposed = bool(table.hypothetical and table.hypothetical.search(text, clause[0], clause[1]))
    now = table.present if supposed else table.now
    if now is None:
        return False
    near = text[max(clause[0], start - NOW_BEFORE) : min(clause[1], end + NOW_AFTER)]
    return bool(now.search(near))


def _calm(table: SafetyTable, text: str) -> bool:
    """``text`` says nothing anywhere of danger happening now (or only supposes it: 万一…怎么办)."""
    if not (table.now and table.now.search(text)):
        return True
    supposed = bool(table.hypothetical and table.hypothetical.search(text))
    return supposed and not (table.present and table.present.search(text))


def _asking(table: SafetyTable, text: str) -> bool:
    """``text`` asks about something and says nothing anywhere of danger happening now."""
    return bool(table.questions and table.questions.search(text)) and _calm(table, text)


def _topic_in_a_mention(table: SafetyTable, text: str) -> bool:
    """A clause that only mentions danger names one (我怕跌跤, 120是急救电话吗 …)."""
    if table.mentions is None or table.topics is None:
        return False
    return any(table.mentions.search(text, s, e) and table.topics.search(text, s, e) for s, e in _clauses(text))


def _respell(table: SafetyTable, text: str) -> str:
    for pattern, mandarin in table.spellings:
        text = pattern.sub(mandarin, text)
    return text


def _only_a_name(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """The danger phrase at ``[start, end)`` is a bare name (中风, 心梗), not said to be happening (中风了)."""
    if table.names is None or not table.names.fullmatch(text, start, end):
        return False
    return not text.startswith("了", end) and not _SPECULATION.search(text, max(0, start - 6), start)


# "是不是中风了" / "好像中风" is a worry about now, and "我爸中风 哪家医院近" says whose illness it is: not a
# question about the illness.
_SPECULATION = regex.compile(
    r"(?:是不是|好像|像是|可能是|怕是|估计是|会不会是|难道是|看样子"
    r"|我|他|她|伊|爸|妈|伴|老头子?|老太婆?|老公|老婆|爱人|爷|奶|外公|外婆|父亲|母亲|姐|哥|弟|妹|儿子|女儿)\s?$"
)


# Beside a service's name, 怎么办 asks how to get it and 现在 is today's situation; any other word of `now`
# (刚刚, 快来, 起不来 …) still counts.
_HOW_TO = regex.compile(r"怎么办|咋办|如何办|现在")


def assess(table: SafetyTable, text: str) -> Assessment:
    """What kind of danger now ``text`` describes, if any.

    A danger phrase counts unless its clause only mentions danger; and a message that says nothing of
    "now" anywhere and either asks about something else while holding a mention ("老头子中风后遗症 说话不清楚
    能办长护险吗"), or asks about a danger by its bare name ("中风有哪些先兆"), or retells the news or
    someone else's story ("报纸上讲冬天脑梗的人多"), only mentions the danger it describes.
    """
    text = _respell(table, text)
    mentioned = False
    if table.idioms is not None:
        cleaned = table.idioms.sub(lambda m: " " * len(m[0]), text)
        mentioned = cleaned != text
        text = cleaned
    asking = _asking(table, text)
    calm = _calm(table, text)
    about_something_else = (asking and bool(table.mentions and table.mentions.search(text))) or (
        calm and bool(table.hearsay and table.hearsay.search(text))
    )
    for kind, patterns in table.kinds:
        for pattern in patterns:
            for match in pattern.finditer(text):
                if (
                    not about_something_else
                    and not (asking and _only_a_name(table, text, match.start(), match.end()))
                    and _counts(table, text, match.start(), match.end())
                ):
                    return Assessment(kind, mentioned)
                mentioned = True
    # No danger phrase: a classifier's alarm is handed on for a question, for a message about a service
    # (家庭病床哪能办: "how do I get it", not "what do I do"), or for a calm message holding a mention
    # (a scam story, a worry).
    about_a_service = bool(table.services and table.services.search(text)) and _calm(table, _HOW_TO.sub(" ", text))
    calm_mention = calm and any(p and p.search(text) for p in (table.mentions, table.hearsay))
    return Assessment(None, mentioned or _topic_in_a_mention(table, text), asking or about_a_service or calm_mention)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EmergencyGuard(GraphComponent):
    """Overrides the intent with ``emergency`` when danger now is described, and names its kind."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"table": str(DEFAULT_TABLE), "intent": "emergency"}

    def __init__(self, config: dict[str, Any]) -> None:
        self._table = load_table(config["table"])
        self._intent = str(config["intent"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmergencyGuard:
        return cls(config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        load_table(config.get("table", DEFAULT_TABLE))

    def assess(self, message: Message) -> Assessment:
        texts = [t for t in (message.get(TEXT), message.get(RAW_TEXT)) if isinstance(t, str) and t]
        results = [assess(self._table, t) for t in texts]
        kinds = {r.kind for r in results if r.kind}
        kind = next((k for k, _ in self._table.kinds if k in kinds), None)
        return Assessment(kind, any(r.mentioned for r in results), bool(results) and all(r.asking for r in results))

    def is_emergency(self, text: str) -> bool:
        return assess(self._table, text).kind is not None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            found = self.assess(message)
            current = message.get(INTENT) or {}
            said_emergency = current.get(INTENT_NAME_KEY) == self._intent
            if found.kind is not None:
                if not (said_emergency and current.get(PREDICTED_CONFIDENCE_KEY, 0) >= 1.0):
                    logger.info(
                        "EmergencyGuard routed a message to '%s' (kind %s; classifier said %s).",
                        self._intent,
                        found.kind,
                        current.get(INTENT_NAME_KEY),
                    )
                self._set_emergency(message, found.kind)
            elif said_emergency and (found.mentioned or found.asking):
                self._hand_on(message)
            elif said_emergency:
                self._set_emergency(message, GENERAL)
        return messages

    def _set_emergency(self, message: Message, kind: str) -> None:
        top = {INTENT_NAME_KEY: self._intent, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        text = message.get(TEXT) or ""
        entities = [e for e in message.get(ENTITIES) or [] if e.get(ENTITY_ATTRIBUTE_TYPE) != KIND_ENTITY]
        entities.append(
            {
                ENTITY_ATTRIBUTE_TYPE: KIND_ENTITY,
                ENTITY_ATTRIBUTE_VALUE: kind,
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text),
                EXTRACTOR: self.__class__.__name__,
            }
        )
        message.set(ENTITIES, entities, add_to_output=True)

    def _hand_on(self, message: Message) -> None:
        """The classifier said emergency, but danger was only mentioned: take its next guess."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
        top = ranking[0] if ranking else {INTENT_NAME_KEY: "out_of_scope", PREDICTED_CONFIDENCE_KEY: 1.0}
        logger.info("EmergencyGuard: danger only mentioned; intent '%s' instead.", top.get(INTENT_NAME_KEY))
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking or [top], add_to_output=True)
