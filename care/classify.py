"""What a reply to 每日平安 means: fine, unwell, emergency or something else.

A small rule reader, on purpose: the reply comes after one fixed question, the classes are four
and a mistake must fall on the safe side. Order matters: an emergency sign (the patterns of
training_data/safety.yml, the same the Rasa pipeline's EmergencyGuard uses) wins over everything; "unwell" wins over "fine"
(不太好, 还好就是头晕 are unwell); a negated complaint (不疼, 没什么不舒服) is fine.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from textnorm import normalize

SAFETY = Path(__file__).resolve().parent.parent / "training_data" / "safety.yml"

FINE, UNWELL, EMERGENCY, OTHER = "fine", "unwell", "emergency", "other"

_NEGATED_COMPLAINT = re.compile(r"(没|没有|不|勿|覅)(啥|什么|哪里)?(不舒服|不好|难受|疼|痛|事|问题|毛病)")
_UNWELL = re.compile(
    r"不舒服|不好|难受|疼|痛|晕|发烧|发热|咳|喘|没力气|没胃口|睡不着|拉肚子|吐|不太行|不行|病|血压高|血糖高|心慌|闷|乏力|摔了一跤"
)
_FINE = re.compile(r"好|没事|没问题|平安|挺好|蛮好|可以|不错|正常|行|嗯|在的|放心|OK|ok|👌|健康|精神")


@functools.cache
def _danger() -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    """Every kind's pattern from safety.yml as one regex, and its idioms (火锅, 救命稻草 …) to remove first."""
    data = yaml.safe_load(SAFETY.read_text(encoding="utf-8")) or {}
    kinds = [p for patterns in (data.get("kinds") or {}).values() for p in patterns]
    idioms = data.get("idioms") or []
    return re.compile("|".join(f"(?:{p})" for p in kinds)), (re.compile("|".join(idioms)) if idioms else None)


def classify(text: str) -> str:
    clean = normalize(text) if text else ""
    if not clean.strip():
        return OTHER
    danger, idioms = _danger()
    if danger.search(idioms.sub("", clean) if idioms else clean):
        return EMERGENCY
    without_negated = _NEGATED_COMPLAINT.sub("", clean)
    if _UNWELL.search(without_negated):
        return UNWELL
    if _FINE.search(clean) or _NEGATED_COMPLAINT.search(clean):
        return FINE
    return OTHER
