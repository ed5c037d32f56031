"""Baoshan's streets and towns, and the short forms people use for them."""

from __future__ import annotations

# The district's 3 streets (街道) and 9 towns (镇).
STREETS = (
    "友谊路街道",
    "吴淞街道",
    "张庙街道",
    "罗店镇",
    "大场镇",
    "杨行镇",
    "月浦镇",
    "罗泾镇",
    "顾村镇",
    "高境镇",
    "庙行镇",
    "淞南镇",
)
# 顾村 → 顾村镇, 友谊路 → 友谊路街道 …
SHORT_FORMS = {name.removesuffix("街道").removesuffix("镇"): name for name in STREETS}
# What voice input and pinyin typing make of them (same sound, other characters): 松南, 吴松, 古村 …
SOUND_ALIKE = {
    "松南": "淞南镇",
    "吴松": "吴淞街道",
    "古村": "顾村镇",
    "罗经": "罗泾镇",
    "罗京": "罗泾镇",
    "月埔": "月浦镇",
    "月铺": "月浦镇",
    "友谊街道": "友谊路街道",
}
_FORMS = {**{name: name for name in STREETS}, **SHORT_FORMS, **SOUND_ALIKE}


def find_street(text: str) -> str | None:
    """The first street or town named in ``text`` (by position), by full name, short form or a sound-alike."""
    found = [(at, -len(form), name) for form, name in _FORMS.items() if (at := text.find(form)) >= 0]
    return min(found)[2] if found else None
