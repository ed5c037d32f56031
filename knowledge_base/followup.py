"""Follow-up questions: what a message asks about (its aspect) and whether it names its own topic.

Older people ask the way people talk: after "长护险哪能申请?" comes "那要带啥材料?", "去哪里办?",
"要钱伐?". Such a message names an *aspect* (documents, place, fees, hours, phone, how-to,
eligibility, coverage) but no *topic*; it is about the entry the conversation is already on.
"那沪惠保呢?" is the opposite: a new topic, asking the aspect asked last time.

Aspects are a registry (:data:`ASPECTS`): each has the entry fields that answer it and the
words that ask for it. A message is a *bare follow-up* when, once its aspect words, filler
words (那, 呢, 伐, 要, 去 …) and punctuation are taken away, nothing that could name a topic
is left. The decision is made on the normalized text (Shanghainese → Mandarin, 繁 → 简).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from textnorm import normalize


@dataclass(frozen=True)
class Aspect:
    name: str
    fields: tuple[str, ...]  # entry fields that answer it, best first
    label: str  # how a reply names it: "要带的材料"
    pattern: regex.Pattern[str]
    question: str  # the aspect asked in plain words, to search for another topic's entry ("那沪惠保呢?")


_QUESTIONS = {
    "documents": "要带什么材料",
    "fees": "要多少钱",
    "duration": "要多久能办好",
    "hours": "几点开门",
    "phone": "电话是多少",
    "place": "在哪里办",
    "eligibility": "什么条件可以办",
    "coverage": "保什么",
    "exclusions": "什么不保",
    "how_to": "怎么办理",
}


def _aspect(name: str, fields: tuple[str, ...], label: str, words: str) -> Aspect:
    return Aspect(name, fields, label, regex.compile(words), _QUESTIONS[name])


# Order matters: the first aspect whose words occur wins ("带啥材料去哪里办" asks for documents).
ASPECTS: tuple[Aspect, ...] = (
    _aspect(
        "documents",
        ("documents",),
        "要带的材料",
        r"材料|资料|证件|证明|带(啥|什么|点啥|些啥|哪些|哪样|点什么|好)|要带|带上|拿(啥|什么)(东西|证)|(啥|什么)证|"
        r"(准备|预备)(啥|什么|点啥|些啥|哪些|点什么|些什么|好)|(要|需要|得|该)(啥|什么|哪些|点啥)东西",
    ),
    _aspect(
        "fees",
        ("fees",),
        "费用",
        r"多少钱|几钿|要钱|收钱|花钱|费用|收费|免费|价格|价钿|贵不贵|钞票|自费|付钱|掏钱|(交|缴|付)(钱|费)|(交|缴|付|花)多少|几块钱",
    ),
    _aspect(
        "duration",
        ("duration",),
        "要多久",
        r"多久|多长时间|几天|(什么|啥)时候(能|可以|才)?(好|办好|拿到|批|下来|出结果|到账)|批下来|办好|出结果|到账",
    ),
    _aspect(
        "hours",
        ("hours",),
        "时间",
        r"几点|几时|开门|关门|上班|下班|营业|开放时间|时间|星期几|礼拜几|哪天(开|办|有)|什么时候(开|办|去)|开不开|开吗|休息吗|休息不|放假|"
        r"开饭|(周末|礼拜[六天日]|星期[六天日]|节假日|过年|晚上|中午)[^，。?？]{0,3}(开|办|去|上班|有人|营业)",
    ),
    _aspect("phone", ("phone",), "电话", r"电话|号码|热线|打(啥|什么|哪个)|联系方式|怎么联系"),
    _aspect(
        "place",
        ("place",),
        "地点",
        r"(去|到|在)(哪|啥地方|什么地方)|哪里|哪儿|地址|地点|啥地方|什么地方|哪个窗口|怎么走|在哪|找谁|哪个部门|哪个单位|"
        r"离[^，。?？]{0,2}近|附近|最近的|近的",
    ),
    _aspect(
        "eligibility", ("eligibility",), "谁可以办", r"条件|资格|够不够|符合|谁可以|谁能|啥人|什么人|能不能办|能办吗"
    ),
    _aspect(
        "coverage",
        ("coverage",),
        "保什么",
        r"保(啥|什么|哪些)|管(啥|什么)|赔(啥|什么|多少)|能报|报销|(啥|什么|哪些)(病|情况|费用)?(能|可以|会)?(赔|报|保)",
    ),
    _aspect("exclusions", ("exclusions",), "不保什么", r"不保|不赔|不管(啥|什么)"),
    _aspect(
        "how_to",
        ("how_to",),
        "怎么办",
        r"怎么(办|弄|申请|搞|做|报名|预约|操作|走流程|买|参加|加入|投保|用|使用|登记|约)|咋(办|弄|买|约)|如何|流程|步骤|手续|办法|怎么个",
    ),
)
_BY_NAME = {a.name: a for a in ASPECTS}

# Words that carry no topic: particles, pronouns, "want/go/do", politeness. After removing these
# and the aspect words, a bare follow-up has at most one Han character left.
_FILLER = regex.compile(
    r"那么|那个|这个|那|这|他们|她们|它们|人家|大家|它|他|她|我们|我|你们|你|您|咱|请问|问一下|问问|想问|一下|还有|还要|还|再|"
    r"需要|要|得|去|到|办|弄|搞|做|申请|理|可以|能|会|是|有|的|地|了|过|呢|吗|嘛|么|吧|啊|呀|哦|噢|喔|哈|"
    r"咧|哇|伐|呐|个|些|点|都|也|就|又|先|跟|和|给|让|帮|麻烦|谢谢|好|一般|大概|具体|东西|事情|事|"
    r"啥|什么|哪|多少|几|怎么|咋|样|子|时候|里|边|面|钟|"
    # who it is for and when: "那我老伴呢", "周末开门伐" still ask about the same entry
    r"老伴|老头子|老头|老太婆|老太太|老太|爸爸|妈妈|爷爷|奶奶|外婆|外公|儿子|女儿|子女|孩子|家里人|家人|老人家|老人|自己|本人|"
    r"周末|星期[一二三四五六日天]|礼拜[一二三四五六日天]|今天|明天|后天|上午|下午|中午|晚上|早上|平时|节假日|过年|"
    # how often, how much of it, roughly: "办一次多少钱", "一年交多少", "大概多久"
    r"一次|每次|一年|每年|一个月|每个月|每月|一天|每天|一趟|一回|总共|一共|大约|差不多|左右"
)
_PUNCT = regex.compile(r"[\p{P}\p{S}\s\d]+")
# "那沪惠保呢?", "还有遗嘱公证呢", "那么意定监护呢": another topic, same question as before.
_THAT_ONE = regex.compile(
    r"^(?:那么?|还有|那要是|要是|换成)?\s*(?P<topic>.{1,16}?)\s*(?:呢|咧|哪|伐|吗)\s*[?？。.!！]*$"
)


def aspect_of(text: str) -> Aspect | None:
    """The aspect a message asks about, or None."""
    normalized = normalize(text)
    return next((a for a in ASPECTS if a.pattern.search(normalized)), None)


def aspect_named(name: str | None) -> Aspect | None:
    return _BY_NAME.get(name or "")


def topic_words(text: str) -> str:
    """What is left of a message once aspect words, fillers and punctuation are removed."""
    rest = normalize(text)
    for aspect in ASPECTS:
        rest = aspect.pattern.sub(" ", rest)
    rest = _FILLER.sub(" ", rest)
    return str(_PUNCT.sub("", rest))


def _subject_pairs(title: str) -> frozenset[str]:
    """Character pairs of what names an entry's subject: 「长护险评估要不要钱」→ 长护, 护险, 险评, 评估 …"""
    rest = topic_words(title)
    return frozenset(rest[i : i + 2] for i in range(len(rest) - 1))


def same_subject(topic_title: str, other_title: str) -> bool:
    """Two entries are about the same subject when at least half of the shorter subject is shared.

    The subject is what is left of a title once aspect words and fillers are taken out, compared in
    character pairs (jieba cuts 办公证 into 办公/证). 「长护险怎么申请（照护评估）」and「长护险评估要不要钱」
    share 长护险 and 评估; 「遗嘱公证要带啥材料」and「办公证大概要多少钱」share 公证; 「老年意外险」and
    「沪惠保啥人能买」share nothing, nor do「居家养老服务补贴」and「长护险居家照护是什么」beyond 居家 (one pair
    of six).
    """
    mine, theirs = _subject_pairs(topic_title), _subject_pairs(other_title)
    if not mine or not theirs:
        return False
    return len(mine & theirs) * 2 >= min(len(mine), len(theirs))


@dataclass(frozen=True)
class Reading:
    """How a message relates to the conversation's topic."""

    aspect: Aspect | None
    bare: bool  # asks an aspect and names no topic: answer from the current entry
    other_topic: str | None  # "那X呢": X, to be asked the previous aspect


def read(text: str) -> Reading:
    aspect = aspect_of(text)
    rest = topic_words(text)
    if aspect is not None and len(rest) <= 1:
        return Reading(aspect, True, None)
    match = _THAT_ONE.match(normalize(text).strip())
    if aspect is None and match:
        if len(rest) >= 2:
            return Reading(None, False, match["topic"].strip())
        return Reading(None, True, None)  # "那我老伴呢": the same entry, the same question again
    return Reading(aspect, False, None)
