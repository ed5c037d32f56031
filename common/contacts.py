"""The official contacts a senior is pointed to, in one place for both runtimes.

The domain's responses say ``{hotline}`` (the ``hotline`` slot, whose initial value must equal
:data:`HOTLINE`; ``tests/app/test_wording.py`` checks it); Python-side sentences (knowledge answers,
channel apologies, the agents' assist) format it from here.
"""

from __future__ import annotations

from typing import Final

HOTLINE: Final = "12345"
"""Shanghai's citizen service hotline (市民服务热线)."""

SERVICE_CENTRE: Final = "街道社区事务受理服务中心"
"""The street's community affairs acceptance centre, the official place to ask in person."""


def phone_in_groups(number: str) -> str:
    """An 11-digit number the way seniors read and say it, 3-4-4: "139 1234 5678"; any other length unchanged."""
    return f"{number[:3]} {number[3:7]} {number[7:]}" if len(number) == 11 else number
