"""Topic names are questions, and questions typed while booking are answered and the prompt asked again (issue 10).

End to end through both real servers. Every case failed before (a probe of 250 turns typed the way seniors type
found them): a bare topic or service name started a booking, a cancellation, a move or a greeting; a question at a
booking prompt got the knowledge base's unrelated guesses and no prompt; a thumbs-up at the read-back was a "no".
None of the phrasings is a training example (tests/rasa/test_project_data.py keeps the list).
"""

from __future__ import annotations

import pytest

from tests.app.conftest import Stack, kb_entry, new_sender, saved_contacts, say, texts, to_readback

pytestmark = pytest.mark.e2e

# What a booking, a cancellation, a move or a greeting says first: a topic name must get none of these.
NOT_AN_ANSWER = (
    "想约哪天",
    "您想约什么服务",
    "没有可以取消",
    "没有可以改",
    "您现在没有预约",
    "您好！",
    "绑定码",
    "没听明白",
    "您是不是想问",
)
READBACK_AGAIN = "没问题请回复“对”"


@pytest.mark.parametrize(
    "text",
    [
        "张庙日间照料中心",
        "日间照顾中心",
        "老邮所乐旅游专线",
        "老邮所了旅游",
        "上门换药护理",
        "上门换药",
        "居家适老化改造",
        "适老化改造",
        "老年食堂",
        "助餐补贴",
        "助餐点",
        "月浦日间照料中心",
        "提存公证",
        "老伙伴联名卡",
        "家庭共济",
        "防走失",
        "吃饭的地方",
        "送饭",
        "上门照护",
        "夜饭有伐",
        "记忆力测试是啥",
        "一日游有伐",
        "试托哪能弄",
    ],
)
def test_a_topic_name_is_a_question_about_it(stack: Stack, text: str) -> None:
    replies = stack.say(new_sender(), text)
    reply = "\n".join(texts(replies))
    assert not [p for p in NOT_AN_ANSWER if p in reply], reply
    assert kb_entry(replies) is not None, reply


@pytest.mark.parametrize("question", ["日间照顾中心哪能办", "老年食堂在哪"])
def test_a_bookable_service_asked_about_is_offered_as_a_numbered_choice(stack: Stack, question: str) -> None:
    sender = new_sender()
    reply = say(stack, sender, question)
    assert "1. 帮我约" in reply and "想约哪天" not in reply, reply
    assert "想约哪天" in say(stack, sender, "1")


@pytest.mark.parametrize(
    ("question", "yes"), [("助浴是咋回事", "好的"), ("老年食堂在哪", "要的"), ("日间照顾中心哪能办", "行")]
)
def test_a_yes_after_the_one_booking_offer_takes_it(stack: Stack, question: str, yes: str) -> None:
    sender = new_sender()
    reply = say(stack, sender, question)
    assert "1. 帮我约" in reply, reply
    assert "想约哪天" in say(stack, sender, yes)


def test_a_yes_after_a_plain_answer_is_only_acknowledged(stack: Stack) -> None:
    sender = new_sender()
    say(stack, sender, "长护险哪能申请")
    reply = say(stack, sender, "好的")
    assert "想约哪天" not in reply and reply.startswith("好的"), reply


@pytest.mark.parametrize(
    ("start", "question", "prompt"),
    [
        ("帮我约个助浴", "是政府办的伐", "想约哪天"),
        ("帮我约个助浴", "礼拜天开门伐", "想约哪天"),
        ("下礼拜三上午帮我约助餐", "顾村有吗", "哪个街道"),
        ("下礼拜三上午帮我约助餐", "为啥要问地方", "哪个街道"),
        ("下礼拜二上午帮我约助浴，住在顾村", "为啥要名字", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "名字谁看得到", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "会泄露伐", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "一定要真名伐", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "你们是啥单位", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "为啥要填这个", "联系人叫什么"),
    ],
)
def test_a_question_at_a_prompt_is_answered_and_the_prompt_repeated(
    stack: Stack, start: str, question: str, prompt: str
) -> None:
    sender = new_sender()
    say(stack, sender, start)
    reply = say(stack, sender, question)
    assert "您是不是想问" not in reply and "记下了" not in reply, reply
    assert prompt in reply.splitlines()[-1], reply


@pytest.mark.parametrize("question", ["谁会打电话给我", "座机可以伐", "不想给电话可以伐", "会打推销电话伐"])
def test_a_question_at_the_phone_prompt_saves_nothing(stack: Stack, bookings_url: str, question: str) -> None:
    sender = new_sender()
    say(stack, sender, "下礼拜五上午帮我约助浴，住在顾村")
    say(stack, sender, "陆桂英")
    reply = say(stack, sender, question)
    assert "您是不是想问" not in reply and "联系人的电话" in reply.splitlines()[-1], reply
    reply = say(stack, sender, "13912340001")
    if "请回复数字" in reply:
        reply = say(stack, sender, "1")
    assert "陆桂英" in reply and "139 1234 0001" in reply, reply


@pytest.mark.parametrize(
    "question",
    ["侬到底是啥人", "要填身份证伐", "哪天人少", "算好了伐", "能取消伐", "谁会来", "这样就好了伐", "约好了伐"],
)
def test_a_question_at_the_readback_is_answered_and_the_readback_waits(
    stack: Stack, bookings_url: str, question: str
) -> None:
    sender = new_sender()
    to_readback(stack, sender, "下礼拜四上午帮我约助浴，住在大场", "蒋阿大", "13912340002")
    reply = say(stack, sender, question)
    assert READBACK_AGAIN in reply and "约好了！" not in reply and "这次先不约了" not in reply, reply
    assert saved_contacts(bookings_url, sender) == []
    assert "约好了" in say(stack, sender, "对")
    assert saved_contacts(bookings_url, sender) == [("蒋阿大", "13912340002")]


@pytest.mark.parametrize("yes", ["👍", "👌", "👍👍", "👍🏻"])
def test_a_thumbs_up_at_the_readback_is_yes(stack: Stack, bookings_url: str, yes: str) -> None:
    sender = new_sender()
    to_readback(stack, sender, "下礼拜三下午帮我约助浴，住在月浦", "俞秀凤", "13912340003")
    assert "约好了" in say(stack, sender, yes)
    assert saved_contacts(bookings_url, sender) == [("俞秀凤", "13912340003")]


def test_a_notarization_follow_up_about_witnesses_is_answered_not_handed_over(stack: Stack) -> None:
    sender = new_sender()
    say(stack, sender, "立遗嘱哪能弄")
    replies = stack.say(sender, "要见证人伐")
    assert kb_entry(replies) == "law-will-witness", texts(replies)


def test_a_situation_then_a_question_reaches_the_entry_the_question_names(stack: Stack) -> None:
    replies = stack.say(new_sender(), "我老头子瘫在床上 长护险怎么弄")
    entry = kb_entry(replies) or ""
    assert entry.startswith("ins-ltci") or "changhuxian" in entry, texts(replies)


@pytest.mark.parametrize(("question", "number"), [("助浴是咋回事", "2"), ("老年食堂在哪", "二")])
def test_every_number_a_booking_offer_shows_is_taken(stack: Stack, question: str, number: str) -> None:
    sender = new_sender()
    reply = say(stack, sender, question)
    assert "1. 帮我约" in reply and "2. 不用了" in reply, reply
    reply = say(stack, sender, number)
    assert reply.startswith("好的，先不约") and "之间的数字" not in reply and "想约哪天" not in reply, reply


def test_a_person_picked_from_a_numbered_menu_gets_no_fallback_after(stack: Stack) -> None:
    sender = new_sender()
    say(stack, sender, "你好")
    reply = say(stack, sender, "4")
    assert "没听明白" not in reply and ("手机号" in reply or "工作人员" in reply), reply


@pytest.mark.parametrize(
    ("start", "question", "answer", "prompt"),
    [
        ("下礼拜二上午帮我约助浴，住在顾村", "你要我名字干嘛", "名字只给这次的服务点用", "联系人叫什么"),
        ("下礼拜二上午帮我约助浴，住在顾村", "名字不想讲", "王阿姨", "联系人叫什么"),
        ("下礼拜三上午帮我约助餐", "地址一定要吗", "不用说门牌号", "哪个街道"),
        ("下礼拜三上午帮我约助餐", "不讲地址可以伐", "离您家近", "哪个街道"),
    ],
)
def test_a_question_about_the_field_asked_for_is_answered_and_the_prompt_repeated(
    stack: Stack, start: str, question: str, answer: str, prompt: str
) -> None:
    sender = new_sender()
    say(stack, sender, start)
    reply = say(stack, sender, question)
    assert answer in reply and "说不准" not in reply and "来源" not in reply, reply
    assert prompt in reply.splitlines()[-1], reply


@pytest.mark.parametrize("refusal", ["我电话不方便给", "电话不留行伐", "号码能不能不写"])
def test_a_phone_refused_gets_another_way_and_nothing_is_saved(stack: Stack, bookings_url: str, refusal: str) -> None:
    sender = new_sender()
    say(stack, sender, "下礼拜五上午帮我约助浴，住在顾村")
    say(stack, sender, "陆桂英")
    reply = say(stack, sender, refusal)
    assert "座机" in reply and "算了" in reply and "联系人的电话" in reply.splitlines()[-1], reply
    reply = say(stack, sender, "56781234")
    if "请回复数字" in reply:
        reply = say(stack, sender, "1")
    assert "陆桂英" in reply and "021 5678 1234" in reply, reply
