"""Follow-ups in the knowledge base: which street a message names, and which entries share a subject.

What a message asks (its aspect) and whether it names its own topic is read by :mod:`common.followups`,
shared with the NLU's IntentRules; this module re-exports it for the action server.
"""

from __future__ import annotations

import regex

from common.followups import (
    ASPECTS,
    PUNCT,
    Aspect,
    Reading,
    asks_more,
    aspect_named,
    aspect_of,
    clean,
    is_followup,
    read,
    topic_words,
)
from yinling.places import SHORT_FORMS, SOUND_ALIKE, find_street

__all__ = [
    "ASPECTS",
    "Aspect",
    "Reading",
    "asks_more",
    "aspect_named",
    "aspect_of",
    "clean",
    "is_followup",
    "read",
    "same_subject",
    "street_only",
    "topic_words",
]

# Around a street named alone: "顾村", "我住在古村", "阿拉住罗店镇那边", "是大场的".
_AROUND_STREET = regex.compile(r"我们|我|住|在|是|那边|这边|那里|这里|附近|的|呢|啊|呀|吧|哦|了|家")


def street_only(text: str) -> str | None:
    """The street or town a message names when it says nothing else ("顾村", "我住在罗店"), else None."""
    rest = clean(text)
    street = find_street(rest)
    if street is None:
        return None
    forms = {street, *(f for f, name in {**SHORT_FORMS, **SOUND_ALIKE}.items() if name == street)}
    for form in sorted(forms, key=len, reverse=True):
        rest = rest.replace(form, " ")
    rest = _AROUND_STREET.sub(" ", rest)
    rest = str(PUNCT.sub("", rest)).removeprefix("镇").removeprefix("街道")
    return street if len(rest) <= 1 else None


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
