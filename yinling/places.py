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


def find_street(text: str) -> str | None:
    """The first street or town named in ``text``, by full name or short form."""
    for name in STREETS:
        if name in text:
            return name
    for short, name in SHORT_FORMS.items():
        if short in text:
            return name
    return None
