"""What a reply to 每日平安 means: fine, unwell, emergency or something else.

A small rule reader, on purpose: the reply comes after one fixed question, the classes are four
and a mistake must fall on the safe side. Order matters: danger now wins over everything, read by
:mod:`textnorm.safety` — the code and table (training_data/safety.yml) the Rasa pipeline's EmergencyGuard
uses, so a reply is read with the same Shanghainese and voice-input spellings (爬勿起来, 兄口痛, 就命), the same
danger phrases and the same idea of a mention (昨天跌了一跤 现在好了 is no emergency), and the same health
complaints below an emergency (血压一百七, 血糖有点高: unwell); "unwell" wins over
"fine" (不太好, 还好就是头晕 are unwell); a negated complaint (不疼, 没什么不舒服) is fine.
"""

from __future__ import annotations

import re

from textnorm import normalize
from textnorm.safety import HEALTH, PALPITATIONS, assess_text

FINE, UNWELL, EMERGENCY, OTHER = "fine", "unwell", "emergency", "other"

_NEGATED_COMPLAINT = re.compile(r"(没|没有|不|勿|覅)(啥|什么|哪里)?(不舒服|不好|难受|疼|痛|事|问题|毛病)")
_UNWELL = re.compile(
    r"不舒服|不好|难受|疼|痛|晕|头昏|发烧|发热|咳|喘|没力气|没胃口|睡不着|拉肚子|吐|不太行|不行|病|血压高|血糖高|心慌|闷|乏力|摔了一跤"
)
_FINE = re.compile(r"好|没事|没问题|平安|挺好|蛮好|可以|不错|正常|行|嗯|在的|放心|OK|ok|👌|健康|精神")


def classify(text: str) -> str:
    clean = normalize(text) if text else ""
    if not clean.strip():
        return OTHER
    if assess_text(text).kind is not None:
        return EMERGENCY
    without_negated = _NEGATED_COMPLAINT.sub("", clean)
    # a health complaint below an emergency, or 心慌 with loneliness or worry, as the chat reads them
    if _UNWELL.search(without_negated) or assess_text(without_negated).concern in (HEALTH, PALPITATIONS):
        return UNWELL
    if _FINE.search(clean) or _NEGATED_COMPLAINT.search(clean):
        return FINE
    return OTHER
