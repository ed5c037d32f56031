from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from common.render import numbered_choices, render, split_text, utf8_bytes

BUTTONS = [{"title": "1. 养老服务", "payload": "/ask_care_service"}, {"title": "2. 法律公证", "payload": "/ask_legal"}]


def test_buttons_become_numbers_once() -> None:
    assert numbered_choices("请选：\n1. 养老服务\n2. 法律公证", BUTTONS).endswith("（请回复数字 1–2）")
    assert numbered_choices("请选：", BUTTONS) == "请选：\n1. 养老服务\n2. 法律公证\n（请回复数字 1–2）"


def test_render_keeps_buttons_where_supported_and_drops_custom_payloads() -> None:
    messages = [{"text": "请选：", "buttons": BUTTONS}, {"custom": {"kb_entry": "x"}}]
    assert render(messages, buttons_supported=True, limit=4096)[0].buttons == BUTTONS
    plain = render(messages, buttons_supported=False, limit=4096)
    assert len(plain) == 1 and plain[0].buttons == [] and "1. 养老服务" in plain[0].text


def test_long_answers_split_at_sentence_ends_within_the_byte_limit() -> None:
    text = "长护险是一种保险。" * 400  # 3,600 characters, 10,800 bytes
    pieces = split_text(text, 2048, utf8_bytes)
    assert all(utf8_bytes(p) <= 2048 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text
    assert all(p.endswith("。") for p in pieces)


def _visible(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


@pytest.mark.property
@given(st.text(min_size=1, max_size=3000), st.integers(min_value=4, max_value=600))
@example("\r\U00010000", 4)  # found on a fresh clone: a lone "\r" cannot be sent as a message of its own
@example("a\u3000\u3000\u3000\u3000b", 4)
def test_split_never_exceeds_the_limit_and_loses_nothing(text: str, limit: int) -> None:
    """Every piece fits; every visible character arrives, in order.

    A piece of nothing but whitespace is dropped: platforms refuse blank messages, and a
    reader loses nothing by it.
    """
    pieces = split_text(text, limit, utf8_bytes)
    assert all(utf8_bytes(p) <= limit for p in pieces)
    assert all(p.strip() for p in pieces), "no blank message is sent"
    assert _visible("".join(pieces)) == _visible(text)
