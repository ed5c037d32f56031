"""Danger now, read from a message: the safety table (``training_data/safety.yml``) and the rules that apply it.

Shared by both runtimes, so the two readers of a senior's words cannot drift apart: the Rasa pipeline's
``EmergencyGuard`` (bot/components/emergency_guard.py) reads every chat message with it, and the 每日平安
reply reader (care/classify.py) reads each check-in answer with it — the same spellings, the same danger
phrases, the same idea of a mention. Pure Python plus ``regex`` and ``PyYAML``.

What :func:`assess` decides, in order:

1. Spellings first: Shanghainese and voice-input slips (爬勿起来, 兄口痛, 幺二零) become Mandarin; idioms
   whose danger word is no danger (救命稻草, 火锅) are filled out.
2. Danger phrases, group by group in the table's ``precedence`` (fire and gas; one who does not respond;
   despair; choking; a condition named outright; then signs): the first group with a phrase that counts
   names the kind of the first reply, so 我低血糖了 手抖出冷汗 说话也说不清 is low blood sugar, not a stroke.
   A phrase does not count when a clause it spans only *mentions* danger (learning first aid, fearing a
   fall, the past, the news, insurance …) unless it also says "now"; nor when it is said not to be so
   (不是低血糖); nor when the message asks about something else while holding a mention; nor a danger's
   bare name in a question (中风有哪些先兆).
3. A clause that asks what would happen or what a danger is (``knowledge``: 降压药吃多了会怎么样, 安眠药吃多少
   会中毒, 中风有啥前兆, 煤气泄漏了应该怎么办) asks about its danger phrases instead of reporting them — unless
   the message reports it happening to someone (``reported``: 我妈把降压药吃多了, 他吃了一把安眠药叫不醒,
   胸口好痛, 闻到一股煤气味, 刚刚). A senior in danger often asks (煤气味好重怎么办, 我胸口好痛怎么办): 怎么办 is
   never such a question, and a question in a clause of its own after a danger phrase follows a report.
4. No danger now, but a danger feared or asked about (fears and how-to, issue 10): a clause that fears a danger
   (我怕半夜心脏病发作, 担心摔倒了起不来) supposes it, like 万一: only a ``present`` word near it, or a 了 right after
   it (我怕他心脏病发作了), says it is happening. A message that fears, supposes or would prevent a danger
   (``fears``, ``hypothetical``, ``prevention``) is the concern ``fear`` (what to prepare); one that asks how to help
   (``first_aid``: 怎么急救, 怎么止血; or ``how_to``: 怎么办, 要注意啥, when nothing supposes) is ``first_aid`` (short
   steps, "if it is happening now, call 120" first). Either names the danger (``danger``): the kind of the first
   danger phrase in the message, else of its ``danger_topics`` (心脏病 → chest). Not when it names a service, retells
   the news, learns a skill or tells a scam (``not_worries``).
5. No danger now: a trouble below an emergency (the table's ``concerns``) — 心慌 said with loneliness, worry or
   sleeplessness (``palpitations``), a burst pipe, a blocked drain, a power cut, a broken lift or lock, a health
   complaint such as 头晕 血压170 — names the ``concern``, unless the message names a service, retells the news,
   supposes, says it is over or not so; a health complaint said with a ``severe`` word (痛得厉害, 突然, 高烧)
   or with 心慌 and no feelings is none. Feelings alone are the concern ``feelings``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex
import yaml

from common.errors import ConfigError
from textnorm.normalize import normalize

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "training_data" / "safety.yml"
GENERAL = "general"
# Concerns the code treats apart (the table's ``concerns`` name the others): 心慌 counts only with feelings,
# a health complaint not with 心慌 alone; feelings alone are a concern of their own.
PALPITATIONS, HEALTH, FEELINGS = "palpitations", "health", "feelings"
# A danger feared or supposed (what to prepare), and a question of how to help (first-aid steps): concerns the code
# reads from the danger phrases and ``danger_topics``, with the kind in ``Assessment.danger``.
FEAR, FIRST_AID = "fear", "first_aid"
_DESPAIR = "suicide"

# The table's lists of phrases, each read into one pattern of SafetyTable (its field of the same name).
_PATTERN_KEYS = (
    "idioms",
    "mentions",
    "now",
    "topics",
    "questions",
    "names",
    "hearsay",
    "services",
    "hypothetical",
    "present",
    "knowledge",
    "reported",
    "frames",
    "negations",
    "feelings",
    "severe",
    "signs",
    "harm",
    "requests",
    "settled",
    "fears",
    "prevention",
    "first_aid",
    "how_to",
    "not_worries",
)
# Every key the table may have: the lists above and the ones read on their own.
_TABLE_KEYS = {"version", "spellings", "kinds", "precedence", "concerns", "danger_topics", *_PATTERN_KEYS}
_CLAUSE_BREAK = regex.compile(r"[，,。.!！?？;；、\s]+")


class SafetyTableError(ConfigError):
    """The safety table is malformed; the message names the key to fix."""


@dataclass(frozen=True)
class Group:
    """Phrases of one kind that share a rank: ``stroke/named`` (中风, 脑梗) ranks above ``stroke/sudden``."""

    kind: str
    name: str  # "kind" for a kind given as one list, "kind/group" otherwise
    patterns: tuple[regex.Pattern[str], ...]


@dataclass(frozen=True)
class SafetyTable:
    groups: tuple[Group, ...]  # in precedence order: the first that counts names the kind
    kinds: tuple[str, ...]  # every kind, in the table's order
    idioms: regex.Pattern[str] | None = None
    mentions: regex.Pattern[str] | None = None
    now: regex.Pattern[str] | None = None
    topics: regex.Pattern[str] | None = None  # words naming a danger, for telling a mention apart
    questions: regex.Pattern[str] | None = None  # a message that asks about something
    spellings: tuple[tuple[regex.Pattern[str], str], ...] = ()  # Shanghainese and voice-input spellings → Mandarin
    names: regex.Pattern[str] | None = None  # a danger's bare name (中风, 心梗): in a question, a topic
    hearsay: regex.Pattern[str] | None = None  # told by the news, a story, someone else: not here, not now
    services: regex.Pattern[str] | None = None  # a service, benefit, product or document (家庭病床, 长处方)
    hypothetical: regex.Pattern[str] | None = None  # 万一, 如果: what follows is supposed, not happening
    present: regex.Pattern[str] | None = None  # 现在, 刚刚: happening now even in a supposing clause
    knowledge: regex.Pattern[str] | None = None  # 会怎么样, 吃多少会, 前兆: a question about danger in general
    reported: regex.Pattern[str] | None = None  # 我妈, 胸口好痛, 吃了两粒: it is happening to someone
    frames: regex.Pattern[str] | None = None  # 我想问, 我有高血压: the asker, not the one in danger
    negations: regex.Pattern[str] | None = None  # 不是, 没有 right before a danger phrase: it is not so
    concerns: tuple[Group, ...] = ()  # below an emergency, in the table's order: the first that counts names it
    feelings: regex.Pattern[str] | None = None  # 一个人, 睡不着, 想儿子: with 心慌, `palpitations`
    severe: regex.Pattern[str] | None = None  # 痛得厉害, 突然, 高烧: a health complaint that may be more
    signs: regex.Pattern[str] | None = None  # 站不稳, 冷汗, 喘: beside 心慌 or a complaint, more than a worry
    requests: regex.Pattern[str] | None = None  # 去不了, 天天问问我, 转人工: a concern beside one is its reason
    harm: regex.Pattern[str] | None = None  # 滑倒, 受伤, 制氧机: someone hurt, or a life on a machine: no concern
    settled: regex.Pattern[str] | None = None  # 去年, 已经好了, 修好了: a concern that is over
    fears: regex.Pattern[str] | None = None  # 怕, 担心 (not 怕是): the danger after it in its clause is feared
    prevention: regex.Pattern[str] | None = None  # 预防, 要注意啥: a danger to prepare for
    first_aid: regex.Pattern[str] | None = None  # 怎么急救, 怎么止血: how to help, asked outright
    how_to: regex.Pattern[str] | None = None  # 怎么办, 应该怎么做: how to help, unless the message supposes
    danger_topics: tuple[Group, ...] = ()  # 心脏病 → chest: the kind of a danger feared or asked about by name
    not_worries: regex.Pattern[str] | None = None  # 学, 培训, 打钱: a course or a scam story, not a worry


@dataclass(frozen=True)
class Assessment:
    kind: str | None  # the kind of danger now; None if none
    mentioned: bool  # danger was only mentioned somewhere (an idiom, a learning/fear/past clause, a question about it)
    # no danger phrase, and the message asks about something (no `now` word anywhere), names a service, or
    # calmly holds a mention: a classifier's alarm for it is handed on
    asking: bool = False
    rank: int | None = None  # position in the precedence of the group that named the kind
    concern: str | None = None  # no danger now, but a trouble below an emergency (the table's `concerns`, or feelings)
    # a health complaint said with a severe word or a sign of the body (血压二百多 头痛得厉害): more than a worry, so a
    # classifier's alarm for it stands even beside a mention
    urgent: bool = False
    # with the concern ``fear`` or ``first_aid``: the kind of danger feared or asked about (a kind of `kinds`)
    danger: str | None = None


def _union(patterns: Any, where: str) -> regex.Pattern[str] | None:
    if patterns is None:
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise SafetyTableError(f"'{where}' must be a list of regular expressions")
    return regex.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _spellings(pairs: Any) -> tuple[tuple[regex.Pattern[str], str], ...]:
    if pairs is None:
        return ()
    if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()):
        raise SafetyTableError("'spellings' must map a regular expression to its Mandarin")
    return tuple((regex.compile(k), v) for k, v in pairs.items())


def _phrases(patterns: Any, where: str) -> tuple[regex.Pattern[str], ...]:
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise SafetyTableError(f"{where} must list regular expressions")
    return tuple(regex.compile(p) for p in patterns)


def _groups(raw_kinds: Any, precedence: Any) -> tuple[tuple[Group, ...], tuple[str, ...]]:
    """Each kind is one list of phrases, or a mapping of named groups; ``precedence`` orders the groups."""
    if not isinstance(raw_kinds, dict) or not raw_kinds:
        raise SafetyTableError("'kinds' must map each kind to its phrases")
    found: dict[str, Group] = {}
    for kind, body in raw_kinds.items():
        if isinstance(body, dict):
            if not body:
                raise SafetyTableError(f"kinds.{kind} has no groups")
            for group, patterns in body.items():
                name = f"{kind}/{group}"
                found[name] = Group(str(kind), name, _phrases(patterns, f"kinds.{name}"))
        else:
            found[str(kind)] = Group(str(kind), str(kind), _phrases(body, f"kinds.{kind}"))
    kinds = tuple(str(k) for k in raw_kinds)
    if precedence is None:
        return tuple(found.values()), kinds
    if not isinstance(precedence, list) or not all(isinstance(n, str) for n in precedence):
        raise SafetyTableError("'precedence' must list the groups of 'kinds' (kind or kind/group), first wins")
    unknown = [n for n in precedence if n not in found]
    missing = [n for n in found if n not in precedence]
    twice = sorted({n for n in precedence if precedence.count(n) > 1})
    if unknown or missing or twice:
        problems = [
            f"{label}: {', '.join(names)}"
            for label, names in (("unknown", unknown), ("missing", missing), ("listed twice", twice))
            if names
        ]
        raise SafetyTableError(f"'precedence' must list every group of 'kinds' once ({'; '.join(problems)})")
    return tuple(found[n] for n in precedence), kinds


def _concerns(raw: Any, key: str = "concerns") -> tuple[Group, ...]:
    """``concerns`` (or ``danger_topics``): each kind with its phrases, first listed first."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SafetyTableError(f"'{key}' must map each kind to its phrases")
    return tuple(Group(str(kind), str(kind), _phrases(body, f"{key}.{kind}")) for kind, body in raw.items())


def load_table(path: Path | str) -> SafetyTable:
    """Compile the safety table; a bad file is a configuration error that says what to fix."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise SafetyTableError("the table must be a mapping with 'kinds'")
        unknown = set(data) - _TABLE_KEYS
        if unknown:
            raise SafetyTableError(
                f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_TABLE_KEYS))}"
            )
        groups, kinds = _groups(data.get("kinds"), data.get("precedence"))
        topics = _concerns(data.get("danger_topics"), "danger_topics")
        unknown_kinds = [g.kind for g in topics if g.kind not in kinds]
        if unknown_kinds:
            raise SafetyTableError(f"'danger_topics' names kinds that 'kinds' has not: {', '.join(unknown_kinds)}")
        lists = {key: _union(data.get(key), key) for key in _PATTERN_KEYS}
        return SafetyTable(
            groups=groups,
            kinds=kinds,
            spellings=_spellings(data.get("spellings")),
            concerns=_concerns(data.get("concerns")),
            danger_topics=topics,
            **lists,
        )
    except SafetyTableError as err:
        raise SafetyTableError(f"safety table {path}: {err}") from None
    except (OSError, yaml.YAMLError, TypeError, regex.error) as err:
        raise SafetyTableError(f"cannot load the safety table {path}: {err}") from err


@functools.lru_cache(maxsize=1)
def default_table() -> SafetyTable:
    """The process-wide table (``YINLING_SAFETY_TABLE`` or the project's own)."""
    return load_table(os.environ.get("YINLING_SAFETY_TABLE", DEFAULT_TABLE))


@functools.lru_cache(maxsize=256)  # asked once per danger phrase found: a long message is cut up once
def _clauses(text: str) -> tuple[tuple[int, int], ...]:
    spans, start = [], 0
    for brk in [*_CLAUSE_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        if end > start:
            spans.append((start, end))
        start = brk.end() if brk else len(text)
    return tuple(spans)


def _clause_of(text: str, position: int) -> tuple[int, int]:
    return next(((s, e) for s, e in _clauses(text) if s <= position < e), (0, len(text)))


# How far before (and after) a danger phrase a word such as 现在/刚刚 may stand and still mean "this, now".
NOW_BEFORE, NOW_AFTER = 4, 2


def _counts(table: SafetyTable, text: str, start: int, end: int, plain: str | None = None) -> bool:
    """A danger phrase at ``[start, end)`` counts unless a clause it spans only mentions danger.

    ``plain`` is ``text`` with its questions about danger in general filled out: in a clause that reports
    danger happening (我胸口痛是不是心梗的前兆), such a question mentions nothing.
    """
    spans = [(s, e) for s, e in _clauses(text) if s < end and start < e] or [(0, len(text))]
    return all(_clause_counts(table, text, s, e, start, end, plain) for s, e in spans)


def _clause_counts(
    table: SafetyTable, text: str, clause_start: int, clause_end: int, start: int, end: int, plain: str | None
) -> bool:
    if plain is not None and _reported_in(table, text, clause_start, clause_end):
        text = plain
    if not (table.mentions and table.mentions.search(text, clause_start, clause_end)):
        return True
    # In a supposing clause (万一心脏病发作), 发作 and 怎么办 are part of what is supposed: only `present` counts.
    supposed = bool(table.hypothetical and table.hypothetical.search(text, clause_start, clause_end))
    # So in a clause that fears it (我怕半夜心脏病发作), unless 了 right after it says it has happened (我怕他心脏病发作了).
    feared = not supposed and bool(table.fears and table.fears.search(text, clause_start, start))
    if feared and _HAPPENED.fullmatch(text, end, clause_end):
        return True
    now = table.present if supposed or feared else table.now
    if now is None:
        return False
    near = text[max(clause_start, start - NOW_BEFORE) : min(clause_end, end + NOW_AFTER)]
    return bool(now.search(near))


# Right after a feared danger phrase, to the end of its clause: it has happened (我怕老伴叫不醒了).
_HAPPENED = regex.compile(r"了[啊呀吧哦啦]*")


def _reported_in(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """``text[start:end]`` says danger happens to someone (我, 老娘, 痛了一个钟头), the asker aside (我想问)."""
    return table.reported is not None and bool(table.reported.search(_blank(table.frames, text), start, end))


@functools.lru_cache(maxsize=256)
def _blank(pattern: regex.Pattern[str] | None, text: str, fill: str = " ") -> str:
    """``text`` with what ``pattern`` matches replaced by ``fill`` (positions kept)."""
    return pattern.sub(lambda m: fill * len(m[0]), text) if pattern is not None else text


def _calm(table: SafetyTable, text: str) -> bool:
    """``text`` says nothing anywhere of danger happening now (or only supposes it: 万一…怎么办)."""
    if not (table.now and table.now.search(text)):
        return True
    supposed = bool(table.hypothetical and table.hypothetical.search(text))
    return supposed and not (table.present and table.present.search(text))


def _asking(table: SafetyTable, text: str, plain: str | None = None) -> bool:
    """``text`` asks about something and says nothing anywhere (``plain``: ``text`` without its questions about
    danger in general, whose 怎么办 is no cry for help) of danger happening now."""
    return bool(table.questions and table.questions.search(text)) and _calm(table, text if plain is None else plain)


def _topic_in_a_mention(table: SafetyTable, text: str) -> bool:
    """A clause that only mentions danger names one (我怕跌跤, 120是急救电话吗 …)."""
    if table.mentions is None or table.topics is None:
        return False
    return any(table.mentions.search(text, s, e) and table.topics.search(text, s, e) for s, e in _clauses(text))


def respell(table: SafetyTable, text: str) -> str:
    """Shanghainese and voice-input spellings of a danger's words, in Mandarin (the table's ``spellings``)."""
    for pattern, mandarin in table.spellings:
        text = pattern.sub(mandarin, text)
    return text


def _only_a_name(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """The danger phrase at ``[start, end)`` is a bare name (中风, 心梗), not said to be happening (中风了, 老娘把
    农药当酱油吃了)."""
    if table.names is None or not table.names.fullmatch(text, start, end):
        return False
    if _reported_in(table, text, *_clause_of(text, start)):
        return False
    return not text.startswith("了", end) and not _SPECULATION.search(text, max(0, start - 6), start)


def _negated(table: SafetyTable, text: str, start: int) -> bool:
    """Right before ``start`` the message says it is not so (不是低血糖, 没有着火)."""
    return table.negations is not None and bool(table.negations.search(text, max(0, start - 6), start))


# "是不是中风了" / "好像中风" is a worry about now, and "我爸中风 哪家医院近" says whose illness it is: not a
# question about the illness.
_SPECULATION = regex.compile(
    r"(?:是不是|好像|像是|可能是|怕是|估计是|会不会是|难道是|看样子"
    r"|我|他|她|伊|爸|妈|伴|老头子?|老太婆?|老公|老婆|爱人|爷|奶|外公|外婆|父亲|母亲|姐|哥|弟|妹|儿子|女儿)\s?$"
)


# Beside a service's name, 怎么办 asks how to get it and 现在 is today's situation; any other word of `now`
# (刚刚, 快来, 起不来 …) still counts.
_HOW_TO = regex.compile(r"怎么办|咋办|如何办|现在")


def _general_question(table: SafetyTable, text: str) -> bool:
    """The message asks what would happen or what a danger is, and reports it happening to nobody.

    "降压药吃多了会怎么样" and "中风有啥前兆" ask; "我妈把降压药吃多了 会怎么样", "胸口好痛 会不会有危险" and
    "刚刚吃了两粒 会不会有事" report (someone it happens to, how it feels, how much was taken, now). The
    asker (我想问, 我有高血压) is not the one it happens to.
    """
    if table.knowledge is None or not table.knowledge.search(text):
        return False
    if table.present is not None and table.present.search(text):
        return False
    told = _blank(table.frames, text)
    # whoever a supposing clause names (家里煤气泄漏的话, 万一我跌倒了) is supposed, not reported
    if table.hypothetical is not None:
        for start, end in _clauses(told):
            if table.hypothetical.search(told, start, end):
                told = told[:start] + " " * (end - start) + told[end:]
    return not (table.reported is not None and table.reported.search(told))


def _asked_in_its_clause(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """The danger phrase at ``[start, end)`` is what its own clause asks about (降压药吃多了会怎么样). A question
    in a clause of its own (进门闻到一股煤气味道 应该哪能弄) follows a report: seniors pause with spaces."""
    if table.knowledge is None:
        return False
    return any(table.knowledge.search(text, s, e) for s, e in _clauses(text) if s < end and start < e)


def _concern_counts(table: SafetyTable, text: str, start: int, end: int) -> bool:
    """A concern phrase at ``[start, end)`` counts unless it is said not to be so (没有头痛), or its clause supposes
    it (万一停电了) or says it is over (去年水管爆过, 已经修好了)."""
    if _negated(table, text, start):
        return False
    clause_start, clause_end = _clause_of(text, start)
    for pattern in (table.hypothetical, table.settled):
        if pattern is not None and pattern.search(text, clause_start, clause_end):
            return False
    return True


def _found(pattern: regex.Pattern[str] | None, table: SafetyTable, text: str) -> bool:
    return pattern is not None and any(_concern_counts(table, text, m.start(), m.end()) for m in pattern.finditer(text))


def concern_of(table: SafetyTable, text: str) -> str | None:
    """The trouble below an emergency ``text`` describes (``text`` after the table's spellings), if any."""
    return _concern(table, text)[0]


def _concern(table: SafetyTable, text: str) -> tuple[str | None, bool]:
    """The trouble below an emergency ``text`` describes, and whether it is a health complaint that is more.

    None when the message names a service or benefit (家庭医生能上门伐: the classifier's job), calmly retells
    the news, says someone is hurt or on a machine (滑倒, 制氧机: the danger phrases or the classifier), or asks
    for something to be done (腿疼 去不了了: the booking one cannot go to).
    心慌 counts with feelings (一个人, 睡不着, 想儿子) and no sign of the body (站不稳, 冷汗, 喘); said without
    them it leaves a health complaint beside it to the classifier, and so does a sign or a ``severe`` word
    (痛得厉害, 突然, 高烧).
    """
    if table.services is not None and table.services.search(text):
        return None, False
    if table.hearsay is not None and table.hearsay.search(text) and _calm(table, text):
        return None, False
    for stop in (table.harm, table.requests):
        if stop is not None and stop.search(text):
            return None, False
    feelings = _found(table.feelings, table, text)
    body = table.signs is not None and bool(table.signs.search(text))
    heart_alone = False
    for group in table.concerns:
        if not any(_found(pattern, table, text) for pattern in group.patterns):
            continue
        if group.kind == PALPITATIONS and (body or not feelings):
            heart_alone = True
            continue
        if group.kind == HEALTH and (heart_alone or body or (table.severe is not None and table.severe.search(text))):
            return None, True
        return group.kind, False
    return (FEELINGS if feelings and not heart_alone else None), False


def assess(table: SafetyTable, text: str) -> Assessment:
    """What kind of danger now ``text`` describes, if any.

    A danger phrase counts unless its clause only mentions danger; and a message that says nothing of
    "now" anywhere and either asks about something else while holding a mention ("老头子中风后遗症 说话不清楚
    能办长护险吗"), or asks about a danger by its bare name ("中风有哪些先兆"), or retells the news or
    someone else's story ("报纸上讲冬天脑梗的人多"), only mentions the danger it describes; so does a clause
    that asks what would happen, in a message that says it happens to nobody ("降压药吃多了会怎么样").
    """
    text = respell(table, text)
    spelled = text  # concerns are read before the idioms go: 血压 and 漏水 are idioms of danger, not of concerns
    general = _general_question(table, text)  # before idioms go: 我有高血压 holds the idiom 血压
    mentioned = False
    if table.idioms is not None:
        cleaned = _blank(table.idioms, text, "_")  # an idiom is a word of its clause: "_" keeps it one
        mentioned = cleaned != text
        text = cleaned
    # A question about danger in general (会不会, 前兆, 应该怎么办) is a question, not "something else" the
    # message asks about beside a danger now, and its 怎么办 is not a cry for help.
    plain = _blank(table.knowledge, text, "_")  # "_" keeps the clauses where they were
    asking = _asking(table, text, plain) or general
    calm = _calm(table, plain)
    about_something_else = (asking and bool(table.mentions and table.mentions.search(plain))) or (
        calm and bool(table.hearsay and table.hearsay.search(text))
    )
    for rank, group in enumerate(table.groups):
        for pattern in group.patterns:
            for match in pattern.finditer(text):
                if _negated(table, text, match.start()):
                    continue
                if (
                    not about_something_else
                    and not (general and _asked_in_its_clause(table, text, match.start(), match.end()))
                    and not (asking and _only_a_name(table, text, match.start(), match.end()))
                    and _counts(table, text, match.start(), match.end(), None if general else plain)
                ):
                    return Assessment(group.kind, mentioned, rank=rank)
                mentioned = True
    # No danger phrase: a classifier's alarm is handed on for a question, for a message about a service
    # (家庭病床哪能办: "how do I get it", not "what do I do"), or for a calm message holding a mention
    # (a scam story, a worry).
    about_a_service = bool(table.services and table.services.search(text)) and _calm(table, _HOW_TO.sub(" ", text))
    calm_mention = calm and any(p and p.search(text) for p in (table.mentions, table.hearsay))
    concern, urgent = _concern(table, spelled)
    danger = None
    if concern in (None, FEELINGS, HEALTH) and not urgent:
        # a fear said with feelings (我好怕煤气没关好) or a complaint (血压高 担心会中风) is a fear of that danger
        worry, danger = _worry(table, text)
        concern = worry or concern
    return Assessment(
        None,
        mentioned or _topic_in_a_mention(table, text),
        asking or about_a_service or calm_mention,
        concern=concern,
        urgent=urgent,
        danger=danger,
    )


def _danger_named(table: SafetyTable, text: str) -> str | None:
    """The kind of the danger ``text`` names first (低血糖晕过去 is low blood sugar), by a danger phrase, counting or
    not, or by a ``danger_topics`` word; one said not to be so aside: what a fear or a how-to question is about."""
    found: list[tuple[int, int, str]] = []
    for order, group in enumerate((*table.groups, *table.danger_topics)):
        if group.kind == GENERAL:
            continue  # 救命, 120: no kind of its own
        for pattern in group.patterns:
            start = next((m.start() for m in pattern.finditer(text) if not _negated(table, text, m.start())), None)
            if start is not None:
                found.append((start, order, group.kind))
    return min(found)[2] if found else None


def _worry(table: SafetyTable, text: str) -> tuple[str | None, str | None]:
    """No danger now in ``text``: a danger feared or supposed (``fear``) or asked how to help with (``first_aid``),
    and its kind; (None, None) for anything else (a service, the news, a course, a scam story)."""
    for stop in (table.services, table.hearsay, table.not_worries):
        if stop is not None and stop.search(text):
            return None, None
    danger = _danger_named(table, text)
    if danger is None or danger == _DESPAIR:
        return None, None  # a fear of one's own despair is no danger to prepare for: the classifier's (and comfort)
    if table.first_aid is not None and table.first_aid.search(text):
        return FIRST_AID, danger
    if any(p is not None and p.search(text) for p in (table.fears, table.hypothetical, table.prevention)):
        return FEAR, danger
    if table.how_to is not None and table.how_to.search(text):
        return FIRST_AID, danger
    return None, None


def combine(results: Iterable[Assessment], table: SafetyTable | None = None) -> Assessment:
    """One verdict for several readings of one message (normalized and as typed): the highest-ranked danger;
    without one, the concern listed first in ``table`` (feelings last)."""
    found = list(results)
    ranked = [r for r in found if r.kind is not None and r.rank is not None]
    best = min(ranked, key=lambda r: r.rank or 0) if ranked else None
    order = [g.kind for g in table.concerns] if table is not None else []
    concerns = sorted(
        {r.concern for r in found if r.concern is not None},
        key=lambda c: order.index(c) if c in order else len(order),
    )
    concern = concerns[0] if concerns and best is None else None
    return Assessment(
        best.kind if best else None,
        any(r.mentioned for r in found),
        bool(found) and all(r.asking for r in found),
        best.rank if best else None,
        concern,
        best is None and any(r.urgent for r in found),
        next((r.danger for r in found if r.concern == concern and r.danger), None) if concern else None,
    )


def assess_text(text: str, table: SafetyTable | None = None) -> Assessment:
    """``text`` as typed, read both normalized (simplified, Shanghainese → Mandarin) and as it came."""
    table = table or default_table()
    readings = dict.fromkeys(t for t in (normalize(text) if text else "", text) if t)
    return combine((assess(table, t) for t in readings), table)
