"""Questions wider than one entry: a kind of help ("老年人有啥保险可以买") and two topics at once ("长护险和沪惠保有啥区别").

- **A kind** (:func:`kind_asked`, :func:`kind_reply`): the question asks what there is ("有啥", "有哪些", "能领什么") of a
  kind named in ``actions/topics.yml`` (``kinds``: 保险, 补贴, 法律公证, 养老服务 …) and names no single topic. The
  reply lists the knowledge base's own entries of that kind as numbered choices: the closest to the question first,
  one per subject (the twelve 长护险 entries are one choice), never one street's directory entry.
- **Two topics** (:func:`two_topics`, :func:`pair_reply`): the question joins two topics (和, 跟, 还是, 还有 …) and
  compares them or asks of both ("有啥区别", "哪个好", "都想了解", "分别怎么办"), or asks one thing after each
  ("长护险 还有沪惠保怎么买"). Unless one entry speaks of both (「长护险和商业护理保险有啥不一样」), each topic's
  short answer comes numbered, and "1" or "2" gives the whole entry.
- **A booking and something else** (:func:`services_named`, :func:`booking_asked`, :func:`two_bookings`): two
  services to book ("助餐和助浴都想约", read as a question by IntentRules) are both offered as numbered bookings; a
  booking asked beside a question ("想约助浴 顺便问下助餐在哪") is offered after the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from actions.topics import Kind, load
from bookings.catalog import default_catalog
from common.followups import ASPECTS, aspect_of, read, topic_words
from common.topic_names import topic_names
from knowledge_base.answers import Reply, kind_list, pair_answers
from knowledge_base.followup import same_subject
from knowledge_base.retrieval import LiveIndex
from knowledge_base.schema import Entry
from textnorm import normalize

KINDS = load().kinds
MAX_CHOICES = 5
# "有啥", "有哪些", "都有啥", "能领什么", "哪几种": asking what there is (not "是啥", "办啥手续": about one thing).
_WHAT_THERE_IS = re.compile(
    r"有(?:没有)?(?:些)?(?:啥|什么|哪些|哪几|哪样|点啥)|哪些|哪几[种样个类]|几种|多少种|"
    r"(?:能|可以|好)(?:领|拿|买|享受|办|用|问|申请)(?:到|得到)?(?:点|些)?(?:啥|什么|哪些)"
)
# Words around a kind that name no topic: "老年人有啥保险可以买", "阿拉这种老人有啥补贴", "法律上有啥能帮忙的".
_AROUND_KIND = re.compile(
    r"有没有|有|都|还|能|可以|好|可|给|上|里|方面|这块|相关|这种|那种|种|类|样|些|的|人|政府|社区|街道|国家|上海|宝山|"
    r"买|领|拿|享受|办|用|参加|申请|帮|出门|岁"
)
# Two topics joined ("长护险和沪惠保", "助浴跟上门护理", "沪惠保还是老年意外险").
_JOIN = re.compile(r"和|跟|与|同|还是|或者|以及|还有|或")
# … and compared, or asked of both.
_BOTH = re.compile(
    r"区别|不一样|不同|差别|差在|哪个|哪样|选哪|比较|比一比|都想|都要|都问|分别|两个|两样|一起|同时|"
    r"还是.{1,12}(?:好|划算|合算|便宜|合适)(?:吗|呢|啊)?$"
)
_ASKS = re.compile(r"[?？]|吗|呢|啥|什么|怎么|哪|多少|几|要不要|能不能|可不可以")


def _runs(text: str, n: int) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def _names_a_topic(index: LiveIndex, words: str) -> bool:
    """Some entry's title carries a three-character run of ``words`` ("长护险" of 长护险有哪些服务; not "年纪" of
    上了年纪能拿到啥补助, which many titles say)."""
    runs = _runs(words, 3)
    return bool(runs) and any(any(r in normalize(e.title) for r in runs) for e in index.entries.values())


# A fact about one thing ("遗嘱公证要带啥材料", "公证要多少钱"): no question about a whole kind.
_ONE_FACT = frozenset({"documents", "fees", "duration", "hours", "phone", "place", "coverage", "exclusions", "online"})


@dataclass(frozen=True)
class KindQuestion:
    kind: Kind
    rest: str  # what else the question says ("出门" of 老人出门有啥优惠); empty for a bare "有啥保险"


def kind_asked(index: LiveIndex, text: str) -> KindQuestion | None:
    """The kind of help a broad question asks about, when it names no single topic; else None."""
    plain = normalize(text)
    if not _WHAT_THERE_IS.search(plain):
        return None
    kind = next((k for k in KINDS if any(w in plain for w in k.words)), None)
    if kind is None:
        return None
    rest = plain
    for word in sorted({w for k in KINDS for w in k.words}, key=len, reverse=True):
        rest = rest.replace(word, " ")  # "有什么法律服务": 服务 names a kind too, no topic
    asked = aspect_of(rest)  # on the rest: "有哪些保险" is no question of what insurance covers
    if asked is not None and asked.name in _ONE_FACT:
        return None
    rest = _AROUND_KIND.sub("", topic_words(_AROUND_KIND.sub(" ", rest)))  # spaced: "沪惠保有啥" is no "保啥"
    if _names_a_topic(index, rest) or len(rest) > 4:
        return None
    return KindQuestion(kind, rest if len(rest) > 1 else "")


def _of_kind(entry: Entry, kind: Kind) -> bool:
    if entry.street:
        return False
    if kind.collection:
        return entry.collection == kind.collection
    return any(word in entry.title for word in kind.titles)


def kind_entries(index: LiveIndex, asked: KindQuestion, text: str) -> list[Entry]:
    """One entry per subject of the kind, at most :data:`MAX_CHOICES`: for a bare "有啥保险" the subjects the knowledge
    base says most about (长护险's many entries before one on 医保卡), for "老人出门有啥优惠" the closest to the
    question; each subject shown by its entry closest to the question."""
    kind, entries = asked.kind, index.entries
    ranked = [entries[h.id] for h in index.search(text, top_k=80, collection=kind.collection) if h.id in entries]
    seen = {e.id for e in ranked}
    ranked += sorted((e for e in entries.values() if e.id not in seen), key=lambda e: e.id)
    subjects: dict[str, list[Entry]] = {}
    for entry in ranked:
        if not _of_kind(entry, kind):
            continue
        key = subject_of(entry, kind)
        same = next((k for k, s in subjects.items() if k == key or same_subject(s[0].title, entry.title)), key)
        subjects.setdefault(same, []).append(entry)
    groups = list(subjects.values())
    if not asked.rest:
        groups.sort(key=len, reverse=True)  # stable: equal sizes keep the order of closeness
    return [g[0] for g in groups[:MAX_CHOICES]]


def subject_of(entry: Entry, kind: Kind) -> str:
    """What an entry is about: the first topic word of its title (长护险, 助浴, 遗嘱 …) that is not the kind's own word
    (养老服务 is the kind, not a subject), else the entry itself."""
    names = [n for n in topic_names(normalize(entry.title)) if len(n) >= 2 and not any(n in w for w in kind.words)]
    return names[0] if names else entry.id


def kind_reply(index: LiveIndex, asked: KindQuestion, text: str) -> Reply | None:
    chosen = kind_entries(index, asked, text)
    if len(chosen) < 2:
        return None
    return Reply(kind_list(asked.kind.name, chosen), None, True, 1.0, tuple(e.id for e in chosen))


@dataclass(frozen=True)
class Part:
    said: str  # the senior's words for the topic ("长护险")
    entry: Entry
    score: float


# Words of a part that name no topic: "我想问长护险", "沪惠保我都想了解", "上门护理哪个便宜", "助浴都想约".
_NOT_TOPIC = re.compile(
    r"我想问问?|想问问?|请问|问一下|问问|我想|我们|我|你们|有啥|有什么|有没有|什么|啥|哪个|哪样|都想|了解|知道|打听|介绍|一下|"
    r"分别|一起|同时|能不能|可不可以|可以|能|好不好|好|便宜|划算|合算|贵|合适|适合|吗|呢|啊|呀|的|了|预约|约|订|是|也|都|还|更|比|用"
)


def _words(part: str) -> str:
    """The topic a part of the question names ("上门护理" of "上门护理哪个便宜"), its asking words taken out."""
    rest = _BOTH.sub(" ", normalize(part))
    for aspect in ASPECTS:
        rest = aspect.pattern.sub(" ", rest)
    return re.sub(r"[\W\d_]+", "", _NOT_TOPIC.sub(" ", rest))


def _part(index: LiveIndex, words: str, threshold: float, asked: str = "是什么") -> Part | None:
    """The entry a part names, searched with what is asked of it (是什么 when nothing is: the entry saying what it is)."""
    if len(words) < 2:
        return None
    hits = [h for h in index.search(f"{words}{asked}", top_k=5) if h.id in index.entries]
    hits = [h for h in hits if not index.entries[h.id].street and h.score >= threshold]
    runs = _runs(words, 2)
    # The entry must be about these words, its title first ("医保" → a 医保 entry, not 家庭病床 that mentions it).
    for about in (_title, _questions):
        hit = next((h for h in hits if runs & _runs(about(index.entries[h.id]), 2)), None)
        if hit is not None:
            return Part(words, index.entries[hit.id], hit.score)
    return None


def _title(entry: Entry) -> str:
    return normalize(entry.title)


def _questions(entry: Entry) -> str:
    return "".join(normalize(q) for q in entry.questions)


@dataclass(frozen=True)
class _WhatIs:
    question: str = "是什么"


_WHAT_IS = _WhatIs()


def two_topics(index: LiveIndex, text: str, threshold: float) -> tuple[Part, Part] | None:
    """The two topics a question joins, when it compares them or asks of both; None when it is one question."""
    plain = normalize(text)
    for join in _JOIN.finditer(plain):
        before, after = plain[: join.start()], plain[join.end() :]
        if not (_BOTH.search(plain) or (_ASKS.search(after) and re.search(r"\s|，|,", plain))):
            continue
        # What is asked of both ("长护险和沪惠保分别怎么办"), else of each part ("长护险 还有沪惠保怎么买"), else
        # what each is.
        asked_after = aspect_of(after)
        shared = asked_after if join.group() in ("和", "跟", "与", "同") else None
        first = _part(index, _words(before), threshold, (aspect_of(before) or shared or _WHAT_IS).question)
        second = _part(index, _words(after), threshold, (asked_after or _WHAT_IS).question)
        if first is None or second is None or first.entry.id == second.entry.id:
            continue
        # One entry about both ("长护险和商业护理保险有啥不一样") answers as it is: its title carries what is
        # only the first's and what is only the second's (自书遗嘱 / 公证遗嘱 share 遗嘱, which decides nothing).
        n_first, n_second = min(3, len(first.said)), min(3, len(second.said))
        only_first = _runs(first.said, n_first) - _runs(second.said, n_first)
        only_second = _runs(second.said, n_second) - _runs(first.said, n_second)
        whole = [h for h in index.search(plain, top_k=3) if h.id in index.entries]
        if whole and whole[0].score >= threshold:
            title = normalize(index.entries[whole[0].id].title)
            if any(r in title for r in only_first) and any(r in title for r in only_second):
                return None
        return first, second
    return None


def pair_reply(first: Part, second: Part, text: str) -> Reply:
    compared = bool(re.search(r"区别|不一样|不同|差别|哪个|哪样|选哪|比较", normalize(text)))
    body = pair_answers(
        [(first.said, first.entry), (second.said, second.entry)],
        compared=compared,
    )
    return Reply(body, first.entry.id, True, min(first.score, second.score), (first.entry.id, second.entry.id))


# ---- a booking and something else in one message ------------------------------------------------------------

_BOOKING_VERB = re.compile(r"约|订|报名|登记|安排")
_CLAUSES = re.compile(r"[\s，,。；;！!？?]+|顺便|另外|还想问|再问|还有")


def services_named(text: str) -> list[str]:
    """The bookable services a message names, in the order said (助餐和助浴都想约 → meals, bath)."""
    plain = normalize(text)
    catalog = default_catalog()
    found: list[tuple[int, int, str]] = []
    for code, service in catalog.services.items():
        for word in (service.name, *service.aliases):
            start = plain.find(normalize(word))
            if word and start >= 0:
                found.append((start, -len(word), code))
    taken: list[tuple[int, int]] = []
    codes: list[str] = []
    for start, negative, code in sorted(found):
        end = start - negative
        if any(s < end and start < e for s, e in taken) or code in codes:
            continue  # inside a longer name already found ("上门助浴" holds "助浴")
        taken.append((start, end))
        codes.append(code)
    return codes


def booking_asked(text: str) -> str | None:
    """A service the message asks to book in a clause of its own ("想约助浴 顺便问下助餐在哪" → 助浴), if any."""
    for clause in _CLAUSES.split(normalize(text)):
        if clause and _BOOKING_VERB.search(clause):
            codes = services_named(clause)
            if len(codes) == 1:
                return codes[0]
    return None


def question_clause(text: str) -> str | None:
    """A clause of a booking request that is a question of its own ("顺便问下助餐在哪"), if any."""
    for clause in _CLAUSES.split(normalize(text)):
        asks = _ASKS.search(clause) or aspect_of(clause)
        # A bare follow-up ("要带啥") is about the booking itself: the form answers it at its prompt.
        if len(clause) >= 3 and not _BOOKING_VERB.search(clause) and asks and not read(clause).bare:
            return clause
    return None


def two_bookings(text: str) -> tuple[str, str] | None:
    """Two services asked to be booked in one message, with no question beside them: their codes, in order."""
    codes = services_named(text)
    if len(codes) < 2 or not _BOOKING_VERB.search(normalize(text)) or question_clause(text) is not None:
        return None
    return codes[0], codes[1]
