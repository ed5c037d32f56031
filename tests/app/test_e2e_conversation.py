"""The senior's conversation end to end: follow-ups, forms, dates, safety and warmth, through the real servers.

Every phrasing here is kept out of the training data (tests/rasa/test_project_data.py checks a list of
them), so these conversations show what the assistant does with words it has not seen.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from tests.app.conftest import Stack, kb_entry, new_sender, say, texts

pytestmark = pytest.mark.e2e
CODE = re.compile(r"预约号：(\d{3} \d{3})")
WEEKDAYS = "一二三四五六日"


LTCI = ("ins-ltci", "svc-changhuxian")  # the entries about 长期护理保险 (长护险)


def about(stack: Stack, replies: list[dict[str, Any]], *words: str, ids: tuple[str, ...] = ()) -> bool:
    """The reply came from an entry with one of these id prefixes, or whose reply names one of ``words``."""
    entry = kb_entry(replies)
    reply = "\n".join(texts(replies))
    if entry is None:
        return False
    return bool(ids and entry.startswith(ids)) or any(w in reply for w in words)


def day_text(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（星期{WEEKDAYS[day.weekday()]}）"


# ---- follow-ups keep the topic -------------------------------------------------------------


def test_follow_ups_are_answered_from_the_entry_the_conversation_is_about(stack: Stack) -> None:
    sender = new_sender()
    first = stack.say(sender, "长护险到底哪能申请啊")
    assert about(stack, first, ids=LTCI), first
    for follow_up in ("那要带点啥过去", "到啥地方去办", "要自己出钞票伐"):
        replies = stack.say(sender, follow_up)
        reply = "\n".join(texts(replies))
        assert "帮不上忙" not in reply and "没听明白" not in reply, (follow_up, reply)
        assert "继承" not in reply and "遗嘱" not in reply, (follow_up, reply)
        assert about(stack, replies, ids=LTCI), (follow_up, reply)


def test_that_one_asks_the_same_question_about_a_new_topic(stack: Stack) -> None:
    sender = new_sender()
    assert kb_entry(stack.say(sender, "立遗嘱公证要带点啥东西"))
    replies = stack.say(sender, "那意定监护呢？")
    assert about(stack, replies, "意定监护", "监护"), replies


def test_a_number_picks_from_any_numbered_list(stack: Stack) -> None:
    sender = new_sender()
    assert "1." in say(stack, sender, "侬好呀")
    menu = say(stack, sender, "3")
    assert "保险" in menu and "1." in menu, menu
    replies = stack.say(sender, "1")
    assert kb_entry(replies) and "没听明白" not in "\n".join(texts(replies)), replies


# ---- replies a senior can use --------------------------------------------------------------


@pytest.mark.parametrize("question", ["顾村那边老人吃饭的食堂电话多少", "友谊路受理中心的地址在哪"])
def test_no_internal_id_and_no_sample_contact_shown(stack: Stack, question: str) -> None:
    replies = stack.say(new_sender(), question)
    reply = "\n".join(texts(replies))
    assert kb_entry(replies), replies
    assert "条目" not in reply and not re.search(r"dir-|svc-|ins-|law-", reply), reply
    assert not re.search(r"021-?\d{4}-?\d{4}", reply), "a sample phone number was shown as real"
    assert "12345" in reply


# ---- forms never save a wrong value --------------------------------------------------------


def _to_name_prompt(stack: Stack, sender: str) -> None:
    reply = say(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村")
    assert "名字" in reply, reply


def test_a_question_at_the_name_prompt_is_answered_and_the_prompt_repeated(stack: Stack) -> None:
    sender = new_sender()
    _to_name_prompt(stack, sender)
    replies = stack.say(sender, "洗澡要自己带啥东西伐")
    reply = "\n".join(texts(replies))
    assert "名字" in texts(replies)[-1], reply
    readback = say(stack, sender, "戴美华")
    assert "手机" in readback
    readback = say(stack, sender, "13812345678")
    assert "戴美华" in readback and "带啥" not in readback, readback


@pytest.mark.parametrize("stop", ["算了", "那就算了吧", "算了不弄了"])
def test_stopping_at_any_prompt_saves_nothing(stack: Stack, stop: str) -> None:
    sender = new_sender()
    _to_name_prompt(stack, sender)
    reply = say(stack, sender, stop)
    assert "不约了" in reply, reply
    assert "没有预约" in say(stack, sender, "我约了啥")


def test_a_house_number_is_not_a_date(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "帮我约个助浴，下礼拜三上午")
    assert "街道" in reply or "镇" in reply, reply
    reply = say(stack, sender, "盘古路100弄5号")  # an address, not the 5th
    reply = say(stack, sender, "淞南镇") if "街道" in reply or "镇" in reply else reply
    for _ in range(3):
        if "名字" in reply:
            reply = say(stack, sender, "孙国平")
        elif "手机" in reply:
            reply = say(stack, sender, "13812345678")
    wednesday = _next_week(2)
    assert "请您核对" in reply or "约满" in reply, reply
    assert day_text(wednesday) in reply, reply


def test_a_correction_of_any_field_at_the_readback(stack: Stack) -> None:
    sender = new_sender()
    say(stack, sender, "下礼拜二上半天帮我约个助浴，住在顾村")
    say(stack, sender, "张秀英")
    readback = say(stack, sender, "13812345678")
    assert "张秀英" in readback
    corrected = say(stack, sender, "不对，联系人是黄阿宝")
    assert "黄阿宝" in corrected and "请您核对" in corrected and "张秀英" not in corrected, corrected
    corrected = say(stack, sender, "电话也错了，是13912345678")
    assert "139 1234 5678" in corrected, corrected
    assert CODE.search(say(stack, sender, "对"))


@pytest.mark.parametrize("first", ["给阿拉约个公证", "我想订一份助餐", "帮我报个日间照料试托", "约银护宝护工上门"])
def test_every_bookable_service_starts_from_plain_words(stack: Stack, first: str) -> None:
    reply = say(stack, new_sender(), first)
    assert "没有预约" not in reply and "没听明白" not in reply, reply
    assert re.search(r"哪天|街道|镇|名字|手机|时间", reply), reply


def test_a_full_width_mobile_number_is_accepted(stack: Stack) -> None:
    sender = new_sender()
    _to_name_prompt(stack, sender)
    say(stack, sender, "邵雅琴")
    readback = say(stack, sender, "１３９１６２３４５６７")
    assert "139 1623 4567" in readback, readback


# ---- dates as seniors mean them ------------------------------------------------------------


def _next_week(weekday: int) -> dt.date:
    today = dt.datetime.now(SHANGHAI).date()
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=1, days=weekday)


@pytest.mark.parametrize(("phrase", "weekday"), [("下礼拜五", 4), ("下个礼拜天", 6), ("下星期一", 0)])
def test_next_week_days_land_in_next_week(stack: Stack, phrase: str, weekday: int) -> None:
    sender = new_sender()
    reply = say(stack, sender, f"{phrase}上午帮我约个上门护理，住在顾村，联系人冯秀兰，手机13812345678")
    assert day_text(_next_week(weekday)) in reply, reply


def test_a_full_slot_says_the_day_it_understood(stack: Stack, bookings_url: str) -> None:
    store = BookingStore(bookings_url)
    thursday = _next_week(3)
    start = dt.datetime.combine(thursday, dt.time(9, 0), SHANGHAI)
    slots = store.find_slots("bath", start, start + dt.timedelta(hours=7), street="大场镇")
    for slot in slots:
        for n in range(slot.free):
            store.book(slot.id, f"filler-{slot.id}-{n}", "占位", "13900000000")
    reply = say(stack, new_sender(), "下礼拜四帮我约个助浴，大场镇，联系人胡建华，手机13812345678")
    assert "约满" in reply and day_text(thursday) in reply, reply
    store.dispose()


# ---- safety without gaps, and warmth -------------------------------------------------------

EMERGENCIES = {
    "手脚一边发麻 说话也说不清楚了": ("120", "时间"),
    "阿拉老头子嘴巴歪了半边没力气": ("120", "时间"),
    "灶间里一股煤气味道": ("别开灯", "119"),
    "楼道里起火了好大的烟": ("119", "离开"),
    "老伴吃饭噎牢了讲不出话": ("120", "背后"),
    "我在卫生间滑倒了爬不起来": ("120", "别急着"),
    "手被开水烫了起泡了": ("凉", "冲"),
}
NOT_EMERGENCIES = ["我想学一点急救的知识", "救命稻草是啥意思啊", "怕老头子跌倒，家里要装点啥"]


@pytest.mark.parametrize(("text", "must"), EMERGENCIES.items())
def test_emergencies_described_by_their_signs_get_a_fitting_first_reply(
    stack: Stack, text: str, must: tuple[str, ...]
) -> None:
    first = texts(stack.say(new_sender(), text))[0]
    assert first.startswith("【紧急】"), first
    assert all(word in first for word in must), first


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_mentions_are_not_emergencies(stack: Stack, text: str) -> None:
    replies = texts(stack.say(new_sender(), text))
    assert replies and not replies[0].startswith("【紧急】"), replies


def test_grief_gets_a_condolence_first_then_the_help(stack: Stack) -> None:
    replies = stack.say(new_sender(), "阿拉老头子上礼拜走了，伊的存款哪能取出来")
    first = texts(replies)[0]
    assert "节哀" in first, replies
    assert "取消" not in first and kb_entry(replies), replies


@pytest.mark.parametrize(
    "text", ["老伴走了以后我一个人 好孤单", "我一个人在家 晚上好怕", "屋里就我一个人 冷冷清清的 好孤单", "好孤单"]
)
def test_loneliness_or_fear_gets_comfort_and_what_can_be_done(stack: Stack, text: str) -> None:
    said = texts(stack.say(new_sender(), text))
    assert len(said) == 2 and "没听明白" not in " ".join(said) and "电脑程序" not in said[0], said
    assert "找人工" in said[1] and "每天问问我" in said[1], said


def test_a_menu_word_typed_alone_shows_its_numbered_examples_and_a_number_picks_one(stack: Stack) -> None:
    sender = new_sender()
    menu = texts(stack.say(sender, "我想问问保险"))
    assert len(menu) == 1 and "1." in menu[0] and "保险" in menu[0], menu
    picked = stack.say(sender, "1")
    assert kb_entry(picked) and "没听明白" not in " ".join(texts(picked)), picked
