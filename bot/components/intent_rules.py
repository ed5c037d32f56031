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
a yes or no, a stop or an emergency, which a form may be waiting for — except a "yes" that asks who, what or
where ("啥人可以" is "who can?", not "OK"), which answers no form.

A topic named without the verb its intent needs is a question (the table's ``questions`` section):
"张庙日间照料中心" read as a booking, "居家适老化改造" as a cancellation, "老年食堂" as a greeting are questions
about them, answered from the knowledge base; "算好了伐" read as a stop and "要见证人伐" read as a request for a
person are follow-ups. Only a booking verb (约, 订, 报名, 帮我安排 …) books, only a cancel or move verb cancels or
moves. A message that is nothing but a thumbs-up or OK sign (👍, 👌, which the normalizer strips) is a yes.

Some intents need a word of their own (the table's ``hand_on`` section): a scam warning is for a story of someone
asking for money or a secret (转到安全账户, 验证码, 中奖先交手续费, 冒充公检法), never for money talked about
(我孙子结婚送多少红包, 退休金涨了, 买菜花了两百块). Said without one of its words, the message goes to the classifier's
next guess, judged by the intent model's fallback thresholds (:mod:`bot.components.calibrated_fallback`), as the
EmergencyGuard does with an alarm for a mention.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.calibrated_fallback import fallback_intent, falls_back, suggested_thresholds
from common import complaints, followups
from common.comfort import says_a_death
from common.errors import ConfigError
from textnorm import normalize

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TABLE = ROOT / "training_data" / "intent_rules.yml"
DEFAULT_SERVICES = ROOT / "bookings" / "services.yml"
DEFAULT_COMPLAINTS = complaints.DEFAULT_TABLE
_TRAILING = regex.compile(r"[\p{P}\s~～]+$")
FOLLOWUP_INTENT = "ask_followup"
FALLBACK_INTENT = DEFAULT_NLU_FALLBACK_INTENT_NAME  # the knowledge base's best effort, or "没听明白"
# What the classifier may say of a short follow-up by mistake; a follow-up read as one of these is ask_followup.
MISREAD_FOLLOWUP = frozenset(
    {"greet", "goodbye", "thanks", "chitchat", "request_human", "out_of_scope", "nlu_fallback"}
)
# … and these, unless the message speaks of a booking ("改个时间" is a reschedule, "要钱伐" is not).
MISREAD_UNLESS_BOOKING = frozenset({"check_bookings", "reschedule_booking", "cancel_booking"})
_BOOKING_WORDS = regex.compile(r"约|改|取消|退|换|挪|推迟|提前")
# A yes never asks: "啥人可以" (谁可以 once normalized) read as 可以 is a follow-up; a plain 可以 stays a yes.
# A yes that asks who, what, where or how much ("啥人可以" → 谁可以) is a follow-up, not a yes.
_ASKS_WHAT = regex.compile(r"谁|啥|什么|哪|多少|几")
# Small talk about the assistant or the day ("你住在哪里", "今朝是礼拜几") is not a follow-up.
_TO_THE_BOT = regex.compile(r"你|您|侬|机器人|助手|今天是|现在是?几点|几号")
# The intents a topic question goes to (all answered by action_kb_answer); the first when none is ranked.
QUESTION_INTENTS = ("ask_care_service", "ask_legal", "ask_insurance")
# A message of nothing but these signs (and spaces or punctuation) is a yes: 👍, 👌, 🆗, ✅, 🙆, 👏.
# 🙏 alone (with skin tones, repeated): thanks.
_THANKS_SIGNS = regex.compile(r"(?:\U0001F64F[\U0001F3FB-\U0001F3FF\uFE0F\u200D\u2642\u2640]*[\s\p{P}]*)+")
_YES_SIGNS = regex.compile(
    r"(?:[\U0001F44D\U0001F44C\U0001F197\u2705\u2714\U0001F646\U0001F44F]"
    r"[\U0001F3FB-\U0001F3FF\uFE0F\u200D\u2642\u2640]*[\s\p{P}]*)+"
)
AFFIRM_INTENT = "affirm"
BOOK_INTENT = "book_service"


class IntentRulesError(ConfigError, InvalidConfigException):
    """The rules table or the services file cannot be used; the message says what to fix."""


def service_codes(path: Path | str) -> dict[str, str]:
    """Every name and alias of a bookable service (normalized) → the service's code."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return {
            normalize(str(w)): str(code)
            for code, service in data["services"].items()
            for w in [service["name"], *(service.get("aliases") or [])]
            if normalize(str(w))
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise IntentRulesError(f"IntentRules: cannot read service names from {path}: {err}") from err


# "助浴怎么约", "日间照料哪能报名": how to book.
_HOW_TO_BOOK = regex.compile(r"(?:怎么|哪能|如何|咋|怎样)(?:样)?(?:才能|可以|能)?(?:预约|约|订|报名|登记)")
# A booking verb, and words that make a message a question.
_BOOK_VERB = regex.compile(r"约|订|报名|登记")
_ASKS = regex.compile(r"[?？]|吗|呢|啥|哪|几|多少|什么|怎么|要不要|能不能")
# What a booking with its own question is never read as instead (an emergency, a stop, a change of a booking …):
# read as anything else (a question, a check of one's bookings, unsure), "订个助餐 多少钱一顿" books.
_NOT_A_BOOKING_WITH_A_QUESTION = frozenset(
    {
        None,
        "emergency",
        "scam_worry",
        "stop",
        "cancel_booking",
        "reschedule_booking",
        "request_human",
        "family_link",
        "complain_service",
    }
)
# A request that starts by asking to book ("约个…", "帮我预约一个…").
_ASKED_TO_BOOK = regex.compile(
    r"(?:请|麻烦)?(?:帮我|给我|替我|帮阿拉|我要|我想|想)?(?:约|预约|订)(?:个|一个|一位|一下)"
)
# A booking already made ("昨天约的助浴没人来", "上次约好的"): told about, not asked for.
_BOOKED_BEFORE = regex.compile(
    r"约(?:的|好的|了的|过的?)|(?:昨天|前天|上次|上趟|上礼拜|上星期|上个月|那天)[^，,。]{0,4}约"
)
# The clauses of a message: "订个助餐 多少钱一顿" is a booking, then a question.
_CLAUSES = regex.compile(r"[\s，,。；;！!？?]+|顺便|另外|还想问|再问|还有")


def services_to_book(text: str, codes: dict[str, str]) -> set[str]:
    """The distinct services a booking request names ("助餐和助浴都想约" → meal, bath; "约个公证 立遗嘱" → notary)."""
    found: set[str] = set()
    rest = text
    for word in sorted(codes, key=len, reverse=True):
        if word in rest:
            found.add(codes[word])
            rest = rest.replace(word, " ")
    return found


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
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("intents"), dict)
        or set(data) - {"version", "intents", "questions", "hand_on"}
    ):
        raise IntentRulesError(
            f"IntentRules: {table} must have 'version' and 'intents' (intent → patterns), and may have 'questions'"
            " and 'hand_on'"
        )
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


def load_hand_on(table: Path | str) -> dict[str, regex.Pattern[str]]:
    """The table's ``hand_on`` section: intent → the words it needs (the classifier's next guess without them)."""
    try:
        data = yaml.safe_load(Path(table).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise IntentRulesError(f"IntentRules: cannot read {table}: {err}") from err
    section = data.get("hand_on") if isinstance(data, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict) or not all(isinstance(p, str) for p in section.values()):
        raise IntentRulesError(f"IntentRules: {table}: hand_on must map an intent to a regular expression")
    try:
        return {str(intent): regex.compile(pattern, regex.IGNORECASE) for intent, pattern in section.items()}
    except regex.error as err:
        raise IntentRulesError(f"IntentRules: {table}: hand_on: {err}") from err


@dataclass(frozen=True)
class TopicQuestions:
    """The ``questions`` section: which words an intent needs, what names a topic, what asks."""

    question: regex.Pattern[str]
    topics: regex.Pattern[str]
    needs: dict[str, regex.Pattern[str]]
    unless_question: dict[str, regex.Pattern[str]]
    topic_only: frozenset[str] = frozenset()
    # Intents whose action changes something at once (a binding code, a link removed, data deleted): without one
    # of these words the classifier's guess is not acted on ("我想找个保姆 住家的" is no request for a binding code).
    consequential: dict[str, regex.Pattern[str]] = field(default_factory=dict)

    def reroute(self, text: str, classified: str | None, ranking: list[dict[str, Any]]) -> str | None:
        """The question intent for a message read as ``classified`` without the words that intent needs."""
        guard = self.consequential.get(classified or "")
        if guard is not None and not guard.search(text):
            if self.topics.search(text):
                ranked = [r.get(INTENT_NAME_KEY) for r in ranking]
                return next((i for i in ranked if i in QUESTION_INTENTS), QUESTION_INTENTS[0])
            return FALLBACK_INTENT
        needs = self.needs.get(classified or "")
        if needs is None or needs.search(text):
            return None
        asks = bool(self.question.search(text))
        weak = self.unless_question.get(classified or "")
        if weak is not None and not asks and weak.search(text):
            return None
        if self.topics.search(text):
            ranked = [r.get(INTENT_NAME_KEY) for r in ranking]
            return next((i for i in ranked if i in QUESTION_INTENTS), QUESTION_INTENTS[0])
        if asks and classified not in self.topic_only:
            return FOLLOWUP_INTENT
        return None


_UNLESS_QUESTION = "_unless_question"


def load_questions(table: Path | str, services: Path | str) -> TopicQuestions | None:
    """The table's ``questions`` section, or None when it has none."""
    try:
        data = yaml.safe_load(Path(table).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise IntentRulesError(f"IntentRules: cannot read {table}: {err}") from err
    section = data.get("questions") if isinstance(data, dict) else None
    if section is None:
        return None
    names = "|".join(regex.escape(w) for w in service_words(services))
    try:
        needs_table = section["needs"]
        if not isinstance(needs_table, dict):
            raise TypeError("needs must map an intent to a pattern")
        needs: dict[str, regex.Pattern[str]] = {}
        weak: dict[str, regex.Pattern[str]] = {}
        for key, pattern in needs_table.items():
            if str(key).endswith(_UNLESS_QUESTION):
                weak[str(key).removesuffix(_UNLESS_QUESTION)] = regex.compile(str(pattern), regex.IGNORECASE)
            else:
                needs[str(key)] = regex.compile(str(pattern), regex.IGNORECASE)
        return TopicQuestions(
            question=regex.compile(str(section["question"])),
            topics=regex.compile(f"{section['topics']}|{names}"),
            needs=needs,
            unless_question=weak,
            topic_only=frozenset(str(i) for i in section.get("topic_only") or ()),
            consequential={
                str(k): regex.compile(str(v), regex.IGNORECASE) for k, v in (section.get("consequential") or {}).items()
            },
        )
    except (KeyError, TypeError, regex.error) as err:
        raise IntentRulesError(f"IntentRules: {table}: questions: {err}") from err


# A value given or corrected ("电话也错了，是139…", "地点改成大场镇") answers a form; it asks nothing.
_VALUE_GIVEN = regex.compile(r"\d{7,}|错了|改成|改为|换成|应该是")


def misread_followup(text: str, classified: str) -> bool:
    """A follow-up ("要铜钿伐") that the classifier read as ``classified`` (small talk, a greeting …) by mistake."""
    if _VALUE_GIVEN.search(normalize(text)):
        return False
    if classified == AFFIRM_INTENT:
        if not _ASKS_WHAT.search(normalize(text)):
            return False
    elif classified in MISREAD_UNLESS_BOOKING:
        # "我九十岁了能约伐" asks whether the senior qualifies, "要预约伐" whether the service must be booked: neither
        # is about their bookings, nor a booking.
        if (
            _BOOKING_WORDS.search(normalize(text))
            and followups.situation_asked(text) is None
            and not _asks_whether_to_book(text)
        ):
            return False
    elif classified not in MISREAD_FOLLOWUP:
        return False
    if classified in ("chitchat", "greet") and _TO_THE_BOT.search(normalize(text)):
        return False
    return followups.is_followup(text)


def _asks_whether_to_book(text: str) -> bool:
    """A bare follow-up asking whether one must book ("要预约伐", "要先约好伐", "去之前要约伐")."""
    plain = normalize(text)
    if not (_ASKS_WHETHER.search(plain) and _MUST.search(plain)):
        return False  # "我要预约" books; "有我的预约吗" asks about one's bookings
    reading = followups.read(text)
    return reading.bare and reading.aspect is not None and reading.aspect.name == "booking"


# A yes/no question: "要预约吗" (伐 once normalized), "要不要先约", "需不需要预约".
_ASKS_WHETHER = regex.compile(r"[吗呢嘛?？]|要不要|需不需要|用不用|得不得|是不是")
# … whether one must, first: "要", "得", "先", "提前", "之前", "直接去".
_MUST = regex.compile(r"要|得|先|提前|事先|之前|以前|直接")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentRules(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"table": str(DEFAULT_TABLE), "services": str(DEFAULT_SERVICES), "complaints": str(DEFAULT_COMPLAINTS)}

    def __init__(self, config: dict[str, Any]) -> None:
        self._rules = load_rules(config["table"], config["services"], config.get("complaints", DEFAULT_COMPLAINTS))
        self._questions = load_questions(config["table"], config["services"])
        self._hand_on = load_hand_on(config["table"])
        self._services = service_codes(config["services"])

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
        load_questions(config.get("table", DEFAULT_TABLE), config.get("services", DEFAULT_SERVICES))
        load_hand_on(config.get("table", DEFAULT_TABLE))

    def intent_for(
        self, text: str, classified: str | None = None, ranking: list[dict[str, Any]] | None = None
    ) -> str | None:
        if _YES_SIGNS.fullmatch(text.strip()):
            return AFFIRM_INTENT
        if _THANKS_SIGNS.fullmatch(text.strip()):
            return "thanks"
        whole = _TRAILING.sub("", normalize(text).strip())
        ruled = next((intent for intent, pattern in self._rules if pattern.fullmatch(whole)), None)
        if (ruled or classified) == BOOK_INTENT and self.two_services(whole):
            # "助餐和助浴都想约": the form books one service; the knowledge answer offers both as numbered bookings.
            return QUESTION_INTENTS[0]
        if classified == "check_bookings" and ruled is None and _HOW_TO_BOOK.search(whole):
            # "助浴怎么约" asks how to book (the knowledge answer, with the booking offered), not about my bookings.
            ranked = [r.get(INTENT_NAME_KEY) for r in ranking or []]
            return next((i for i in ranked if i in QUESTION_INTENTS), QUESTION_INTENTS[0])
        if ruled in (None, "stop", BOOK_INTENT) and classified is not None and _asks_whether_to_book(text):
            # "要不要先约" (read as a stop for its 不要, or as a booking): whether one must book, a follow-up.
            return FOLLOWUP_INTENT
        if ruled is None and classified not in _NOT_A_BOOKING_WITH_A_QUESTION and self.books_and_asks(whole):
            # "订个助餐 多少钱一顿": a booking with a question about it; the form answers the question and goes on.
            return BOOK_INTENT
        if ruled is not None or classified is None:
            return ruled
        if classified == DEFAULT_NLU_FALLBACK_INTENT_NAME and _ASKED_TO_BOOK.match(whole) and not _ASKS.search(whole):
            # "约个上门做饭的阿姨": asked to book something, the classifier unsure of what; the form says what can be
            # booked (and that this cannot), never the knowledge base's guess.
            return BOOK_INTENT
        if classified == "goodbye" and says_a_death(whole):
            # "我妈昨天夜里走了 接下来要做点啥": a death, not a goodbye; small talk's action comforts first.
            return "chitchat"
        if misread_followup(text, classified):
            return FOLLOWUP_INTENT
        if self._questions is not None:
            return self._questions.reroute(whole, classified, ranking or [])
        return None

    def books_and_asks(self, whole: str) -> bool:
        """A clause that books one service ("订个助餐"), and another that asks a question naming no other service
        ("多少钱一顿", "助餐在哪里吃"); not "想约助浴 顺便问下助餐在哪", a question about something else."""
        clauses = [c for c in _CLAUSES.split(whole) if c]
        booking = [
            c
            for c in clauses
            if _BOOK_VERB.search(c)
            and not _ASKS.search(c)
            and not _BOOKED_BEFORE.search(c)
            and len(services_to_book(c, self._services)) == 1
        ]
        if len(booking) != 1:
            return False
        booked = services_to_book(booking[0], self._services)
        questions = [c for c in clauses if c is not booking[0]]
        return bool(questions) and all(
            (_ASKS.search(c) or followups.aspect_of(c) is not None)
            and services_to_book(c, self._services) <= booked
            and not _HOW_TO_BOOK.search(c)
            for c in questions
        )

    def two_services(self, whole: str) -> bool:
        """Two distinct services asked to be booked at once, with no question beside them."""
        if not _BOOK_VERB.search(whole) or _ASKS.search(whole):
            return False
        return len(services_to_book(whole, self._services)) >= 2

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text or text.startswith("/"):
                continue
            current = message.get(INTENT) or {}
            needed = self._hand_on.get(str(current.get(INTENT_NAME_KEY)))
            if needed is not None and not needed.search(normalize(text)):
                self._hand_on_message(message, str(current.get(INTENT_NAME_KEY)))
                current = message.get(INTENT) or {}
            # A message of emoji only reaches here as typed (the normalizer keeps it when nothing would be left).
            intent = self.intent_for(text, current.get(INTENT_NAME_KEY), message.get(INTENT_RANKING_KEY) or [])
            if intent is None:
                continue
            if current.get(INTENT_NAME_KEY) != intent:
                logger.info("IntentRules: '%s' (classifier said %s).", intent, current.get(INTENT_NAME_KEY))
            top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages

    @staticmethod
    def _hand_on_message(message: Message, said: str) -> None:
        """``said`` lacks its words: the classifier's next guess, or ``nlu_fallback`` below the model's thresholds."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != said]
        threshold, ambiguity = suggested_thresholds(message, (0.3, 0.1))
        if falls_back(ranking, threshold, ambiguity):
            top = fallback_intent(threshold)
            ranking = [top, *ranking]
        else:
            top = ranking[0]
        logger.info("IntentRules: '%s' without its words; intent '%s' instead.", said, top.get(INTENT_NAME_KEY))
        message.set(INTENT, dict(top), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
