"""Booking conversations end to end, through the REST channel, against the real servers."""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from bookings.catalog import SHANGHAI, default_catalog
from bookings.store import BookingStore
from tests.app.conftest import Stack, kb_entry, new_sender, texts

pytestmark = pytest.mark.e2e
CODE = re.compile(r"预约号：(\d{3} \d{3})")


def say(stack: Stack, sender: str, text: str) -> str:
    reply = "\n".join(texts(stack.say(sender, text)))
    assert "没听明白" not in reply, f"the fallback answered {text!r}: {reply}"
    return reply


def next_weekday(weekday: int, weeks_ahead: int = 1) -> dt.date:
    """The given weekday (0 = Monday) in the week after this one, as 下礼拜X means."""
    today = dt.datetime.now(SHANGHAI).date()
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks_ahead)
    return monday + dt.timedelta(days=weekday)


def book_through_readback(stack: Stack, sender: str, first: str, name: str = "张秀英") -> str:
    """From the first message to the read-back, answering whatever is asked."""
    reply = say(stack, sender, first)
    answers = {"名字": name, "手机": "13812345678", "哪个街道": "顾村", "哪天": "下礼拜二上半天", "什么服务": "助浴"}
    for _ in range(6):
        if "请您核对" in reply:
            return reply
        question = next((k for k in answers if k in reply), None)
        assert question is not None, reply
        reply = say(stack, sender, answers.pop(question))
    raise AssertionError(f"no read-back: {reply}")


def test_book_list_and_cancel_as_in_the_issue(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "下礼拜二上半天帮我姆妈约个助浴，伊住在顾村")
    assert "名字" in reply  # service, time and town were understood; the contact is missing
    assert "手机" in say(stack, sender, "张秀英")
    readback = say(stack, sender, "13812345678")
    tuesday = next_weekday(1)
    for expected in (
        "助浴",
        f"{tuesday.month}月{tuesday.day}日",
        "星期二",
        "顾村镇",
        "张秀英",
        "138 1234 5678",
        "示例",
    ):
        assert expected in readback, readback
    assert re.search(r"(09|10|11):00–", readback), "上半天 is a morning slot"
    done = say(stack, sender, "对")
    code = CODE.search(done)
    assert code, done
    listed = say(stack, sender, "我约了啥")
    assert code.group(1) in listed and "助浴" in listed
    assert "要取消这个预约吗" in say(stack, sender, "取消刚才那个")
    assert "已经帮您取消" in say(stack, sender, "对")
    assert "没有预约" in say(stack, sender, "我约了啥")


def test_a_correction_at_the_readback_keeps_the_day(stack: Stack) -> None:
    sender = new_sender()
    before = book_through_readback(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村", name="李建国")
    after = say(stack, sender, "不对，是下午")
    assert "请您核对" in after, after
    day = re.search(r"\d+月\d+日", before)
    assert day and day.group(0) in after
    assert re.search(r"1[3-5]:00–", after), after
    assert CODE.search(say(stack, sender, "对"))


def test_a_full_slot_offers_numbered_alternatives(stack: Stack, bookings_url: str) -> None:
    store = BookingStore(bookings_url)
    wednesday = next_weekday(2)
    start = dt.datetime.combine(wednesday, dt.time(10, 0), SHANGHAI)
    slot = next(s for s in store.find_slots("bath", start, start + dt.timedelta(hours=1), street="顾村镇"))
    for n in range(slot.free):
        store.book(slot.id, f"filler-{n}", "占位", "13900000000")
    sender = new_sender()
    reply = book_through_readback_or_offer(stack, sender)
    assert "约满" in reply and "1. " in reply and "请回复数字" in reply, reply
    readback = say(stack, sender, "1")
    assert "请您核对" in readback and "10:00–" not in readback.split("2. 时间：")[1].split("\n")[0]
    assert CODE.search(say(stack, sender, "对"))
    store.dispose()


def test_at_the_free_slots_a_yes_asks_for_the_number_and_a_new_time_changes_the_booking(
    stack: Stack, bookings_url: str
) -> None:
    store = BookingStore(bookings_url)
    wednesday = next_weekday(2)
    start = dt.datetime.combine(wednesday, dt.time(10, 0), SHANGHAI)
    for slot in store.find_slots("bath", start, start + dt.timedelta(hours=1), street="顾村镇"):
        for n in range(slot.free):
            store.book(slot.id, f"filler-{slot.id}-{n}", "占位", "13900000000")
    store.dispose()
    sender = new_sender()
    offer = book_through_readback_or_offer(stack, sender)
    assert "约满" in offer and "请回复数字" in offer, offer
    again = say(stack, sender, "好的")  # chooses nothing: the booking is not dropped
    assert "数字" in again and "还想问点什么" not in again, again
    thursday = next_weekday(3)
    changed = say(stack, sender, "不对 时间改成下礼拜四上午")
    assert f"{thursday.month}月{thursday.day}日" in changed and "没有可以改的预约" not in changed, changed


def book_through_readback_or_offer(stack: Stack, sender: str) -> str:
    reply = say(stack, sender, "下礼拜三上午十点帮我约助浴，顾村，联系人王桂芳")
    if "手机" in reply:
        reply = say(stack, sender, "13812345678")
    return reply


def test_a_knowledge_question_in_the_middle_of_the_form(stack: Stack) -> None:
    sender = new_sender()
    assert "名字" in say(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村")
    replies = stack.say(sender, "长护险要啥条件")
    assert kb_entry(replies), replies
    assert "名字" in texts(replies)[-1], "the form asks its question again after the answer"
    assert "手机" in say(stack, sender, "陈老伯")


def test_stopping_the_form(stack: Stack) -> None:
    sender = new_sender()
    say(stack, sender, "帮我约个上门护理")
    assert "不约了" in say(stack, sender, "算了不约了")
    assert "没有预约" in say(stack, sender, "我约了啥")


def test_reschedule(stack: Stack) -> None:
    sender = new_sender()
    book_through_readback(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村", name="赵志明")
    code = CODE.search(say(stack, sender, "对"))
    assert code
    thursday = next_weekday(3)
    asked = say(stack, sender, "帮我把助浴改到下礼拜四下午")
    assert "改到" in asked and f"{thursday.month}月{thursday.day}日" in asked, asked
    assert "改好了" in say(stack, sender, "对")
    listed = say(stack, sender, "我约了啥")
    assert code.group(1) in listed and f"{thursday.month}月{thursday.day}日" in listed


def test_a_repeated_yes_books_once_and_racing_users_never_share_the_last_seat(stack: Stack, bookings_url: str) -> None:
    store = BookingStore(bookings_url)
    friday = next_weekday(4)
    start = dt.datetime.combine(friday, dt.time(14, 0), SHANGHAI)
    slot = next(s for s in store.find_slots("bath", start, start + dt.timedelta(hours=1), street="顾村镇"))
    for n in range(slot.free - 1):
        store.book(slot.id, f"filler-{n}", "占位", "13900000000")
    senders = [new_sender() for _ in range(6)]
    for sender in senders:
        readback = book_through_readback(stack, sender, "下礼拜五下午两点帮我约个助浴，住在顾村")
        assert "14:00–" in readback, readback
    with ThreadPoolExecutor(len(senders)) as pool:
        answers = list(pool.map(lambda s: say(stack, s, "对"), senders))
    assert sum(bool(CODE.search(a)) for a in answers) == 1, answers
    assert sum("被别人约走了" in a for a in answers) == len(senders) - 1, answers
    # The winner says "对" again (a redelivery): still one booking.
    winner = senders[next(i for i, a in enumerate(answers) if CODE.search(a))]
    say(stack, winner, "对")
    assert len(store.list_for_user(winner)) == 1
    assert store.slot(slot.id).free == 0
    store.dispose()


def test_bookings_survive_a_restart_of_the_action_server(stack: Stack) -> None:
    sender = new_sender()
    book_through_readback(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村", name="周老师")
    code = CODE.search(say(stack, sender, "对"))
    assert code
    stack.stop_process("actions")
    stack.start_actions()
    stack.wait_healthy(timeout=300)
    assert code.group(1) in say(stack, sender, "我约了啥")


def _unserved() -> list[tuple[str, str]]:
    """(service name, street) pairs of the catalog where the service has no place on that street at all."""
    catalog = default_catalog()
    services = [catalog.service(code) for code in ("bath", "meal")]
    streets = sorted({r.street for s in catalog.services.values() for r in s.resources})
    pairs = [(s.name, street) for s in services for street in streets if all(r.street != street for r in s.resources)]
    return pairs[:1] + pairs[-1:]


@pytest.mark.parametrize(("service", "street"), _unserved())
def test_a_street_without_the_service_is_said_so_not_full(stack: Stack, service: str, street: str) -> None:
    sender = new_sender()
    reply = say(stack, sender, f"下礼拜三上午十点帮我约{service}，住在{street}，联系人王桂芳")
    if "手机" in reply:
        reply = say(stack, sender, "13812345678")
    assert f"{street}没有{service}的服务点" in reply and "约满" not in reply, reply
    assert "1. " in reply and "请回复数字" in reply, reply
    wednesday = next_weekday(2)
    first = reply.split("1. ", 1)[1].split("\n", 1)[0]
    assert f"{wednesday.month}月{wednesday.day}日" in first, "a free seat elsewhere on the day asked for comes first"
    readback = say(stack, sender, "1")
    assert "请您核对" in readback, readback
