"""Through the real servers: a locked database is "busy" (with the hotline, filled from the slot by Rasa),
and a booking number that is not the senior's is said back as not found, never taken for another booking."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.app.conftest import Stack, new_sender
from tests.app.test_e2e_bookings import CODE, book_through_readback, say

pytestmark = pytest.mark.e2e


def booked(stack: Stack) -> tuple[str, str]:
    sender = new_sender()
    book_through_readback(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村", name="钱桂英")
    code = CODE.search(say(stack, sender, "对"))
    assert code, "booked"
    return sender, code.group(1)


def test_a_locked_database_is_busy_and_the_cancellation_waits(stack: Stack, bookings_url: str) -> None:
    sender, code = booked(stack)
    assert "要取消这个预约吗" in say(stack, sender, f"取消{code}")
    locker = sqlite3.connect(bookings_url.removeprefix("sqlite:///"), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # someone else holds the write lock past the store's busy timeout
    try:
        busy = say(stack, sender, "对")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert "系统忙" in busy and "12345" in busy and "{hotline}" not in busy, busy
    assert "没找到" not in busy and "已经帮您取消" not in busy, busy
    # The pending "对" was kept: said again, it cancels.
    assert "已经帮您取消" in say(stack, sender, "对")


def test_a_booking_number_that_is_not_theirs_is_not_found(stack: Stack) -> None:
    sender, code = booked(stack)
    digits = code.replace(" ", "")
    other = "987654" if digits != "987654" else "987655"
    reply = say(stack, sender, f"取消{other[:3]} {other[3:]}")
    assert "没找到预约号" in reply and f"{other[:3]} {other[3:]}" in reply, reply
    assert "要取消这个预约吗" not in reply, "the only booking is not taken instead"
    assert re.search(rf"1\. .*{code}", reply), "the senior's own booking is offered as a numbered choice"
    assert "好的，预约给您留着" in say(stack, sender, "不要")
    listed = say(stack, sender, "我约了啥")
    assert code in listed, "nothing was cancelled"
