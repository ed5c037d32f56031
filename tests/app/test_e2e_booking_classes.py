"""Classes of failure in booking conversations found by probing the running assistant (issue 10), end to end.

Each failed before:
1. a service that cannot be booked here, asked as a booking ("帮我约个理发"), started the booking form; at the form's
   service prompt "那算了 有啥别的上门服务" was taken for an answer or got "没听明白";
2. after a knowledge answer about a service, "要预约伐" was read as a check of one's bookings, "礼拜天有伐" and
   "要家属陪伐" got the fee answer again;
3. a booking with a question in the same message ("订个助餐 多少钱一顿") dropped the question;
4. "张秀英 电话不想给" at the name prompt lost the name;
5. "算了" after asking for a family link code (or at any other flow) said "这次先不约了".

The phrasings are not training examples (tests/rasa/test_project_data.py keeps the list). ``SEEN_*`` were written
before the fix and measured before and after it; ``FRESH_*`` were written after the fix and scored once.
"""

from __future__ import annotations

import re

import pytest

from tests.app.conftest import Stack, new_sender, say

pytestmark = pytest.mark.e2e

BOOKABLE = ("助浴", "助餐", "上门护理", "日间照料试托")
ASK_SERVICE = "您想约什么服务"
ASK_DAY = "想约哪天"
ASK_STREET = "哪个街道或者镇"
ASK_NAME = "联系人叫什么名字"
ASK_PHONE = "联系人的电话是多少"
MY_BOOKINGS = ("您现在没有预约", "您约了", "您的预约")


def numbered_services(reply: str) -> bool:
    """The bookable services as a numbered list ("1. 助浴")."""
    listed = re.findall(r"^\s*\d+[.、]\s*(\S+)", reply, flags=re.M)
    return sum(any(name in item for name in BOOKABLE) for item in listed) >= 3


# ---- 1. a service that cannot be booked here -----------------------------------------------------------------

SEEN_UNBOOKABLE = [
    "帮我约个理发",
    "帮阿拉约个剃头师傅上门",
    "我想预约上门修脚",
    "约个配眼镜",
    "帮我订个家政阿姨打扫卫生",
    "想约个上门理发 明天下午",
    "帮我约一下牙医",
    "订个钟点工",
    "帮我预约上门修水管",
    "帮我约个按摩推拿",
    "帮我约个上门剪头发",
    "约一个保姆",
    "帮我约打流感疫苗",
    "想预约上门开锁",
    "帮我约个心理咨询",
    "阿拉想约个人上门擦窗",
]
FRESH_UNBOOKABLE = [
    "帮我约个推拿师傅",
    "想约个上门修电视机",
    "帮阿拉老太婆约个洗头",
    "预约一个搬家",
    "约个上门做饭的阿姨",
    "帮我约装假牙",
    "我要预约针灸",
]
SEEN_OTHERS_AT_PROMPT = [
    "那算了 有啥别的上门服务",
    "理发约不了啊 那还有啥能约的",
    "有哪些可以约",
    "上门的有啥",
    "侬这里能约点啥",
    "还有别的服务伐",
]
FRESH_OTHERS_AT_PROMPT = ["都有些啥服务", "能上门的有哪几样", "那有啥可以约"]


def check_unbookable(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "约不了" in reply.splitlines()[0], reply
    assert numbered_services(reply), reply
    assert "12345" in reply or "社区事务受理服务中心" in reply, reply
    assert ASK_DAY not in reply and ASK_STREET not in reply and ASK_SERVICE not in reply, reply


def check_others_at_prompt(stack: Stack, text: str) -> None:
    sender = new_sender()
    assert ASK_SERVICE in say(stack, sender, "帮我约个服务")
    reply = say(stack, sender, text)
    assert numbered_services(reply) and "没听明白" not in reply and "约不了" not in reply, reply
    # The form is still usable: a service named now is taken and the day is asked.
    assert ASK_DAY in say(stack, sender, "助浴")


@pytest.mark.parametrize("text", SEEN_UNBOOKABLE)
def test_seen_unbookable_service(stack: Stack, text: str) -> None:
    check_unbookable(stack, text)


@pytest.mark.parametrize("text", FRESH_UNBOOKABLE)
def test_fresh_unbookable_service(stack: Stack, text: str) -> None:
    check_unbookable(stack, text)


@pytest.mark.parametrize("text", SEEN_OTHERS_AT_PROMPT)
def test_seen_what_else_at_the_service_prompt(stack: Stack, text: str) -> None:
    check_others_at_prompt(stack, text)


@pytest.mark.parametrize("text", FRESH_OTHERS_AT_PROMPT)
def test_fresh_what_else_at_the_service_prompt(stack: Stack, text: str) -> None:
    check_others_at_prompt(stack, text)


# ---- 2. follow-ups about booking itself after a knowledge answer --------------------------------------------

# (topic question, follow-up, words one of which the answer must have)
SEEN_FOLLOWUPS = [
    ("社区助浴点是做啥的", "要预约伐", ("预约",)),
    ("社区助浴点是做啥的", "要先约好伐", ("预约",)),
    ("社区助浴点是做啥的", "需要提前预约吗", ("预约",)),
    ("社区助浴点是做啥的", "去之前要约伐", ("预约",)),
    ("社区助浴点是做啥的", "直接去好伐 要约伐", ("预约",)),
    ("社区助浴点是做啥的", "礼拜天有伐", ("没有写", "礼拜", "周", "时间")),
    ("社区助浴点是做啥的", "星期六开伐", ("没有写", "周", "时间", "礼拜")),
    ("社区助浴点是做啥的", "要几个人一起去", ("陪", "没有写")),
    ("社区助浴点是做啥的", "要家属陪伐", ("陪", "没有写")),
    ("社区助浴点是做啥的", "要子女陪着去伐", ("陪", "没有写")),
    ("长者食堂是啥地方", "要预约伐", ("预约", "登记", "报名")),
    ("长者食堂是啥地方", "礼拜天有伐", ("没有写", "中午", "时间", "公示")),
    ("长者食堂是啥地方", "周末有人伐", ("没有写", "中午", "时间", "公示")),
    ("长者食堂是啥地方", "要人陪伐", ("陪", "没有写")),
    ("长者食堂是啥地方", "一个人去行伐", ("陪", "没有写")),
    ("日间照料中心是做啥的", "要预约伐", ("预约", "登记", "报名", "没有写")),
    ("日间照料中心是做啥的", "礼拜天有伐", ("没有写", "周", "时间", "白天")),
    ("日间照料中心是做啥的", "要家里人陪着伐", ("陪", "家属", "没有写")),
    ("日间照料中心是做啥的", "家属要跟去伐", ("陪", "家属", "没有写")),
    ("日间照料中心是做啥的", "要不要先约", ("预约", "登记", "报名", "没有写")),
]
FRESH_FOLLOWUPS = [
    ("社区助浴点是做啥的", "得先预约伐", ("预约",)),
    ("社区助浴点是做啥的", "礼拜日开伐", ("没有写", "周", "时间", "礼拜")),
    ("社区助浴点是做啥的", "要人陪着去伐", ("陪", "没有写")),
    ("长者食堂是啥地方", "要先约好伐", ("预约", "登记", "报名")),
    ("长者食堂是啥地方", "星期天开伐", ("没有写", "中午", "时间", "公示")),
    ("长者食堂是啥地方", "要子女一道去伐", ("陪", "没有写")),
    ("日间照料中心是做啥的", "需要提前约吗", ("预约", "登记", "报名", "没有写")),
    ("日间照料中心是做啥的", "礼拜六有人伐", ("没有写", "周", "时间", "白天")),
    ("日间照料中心是做啥的", "要几个人陪同", ("陪", "家属", "没有写")),
    ("长者食堂是啥地方", "我一个人好去伐", ("陪", "没有写")),
]


def check_followup(stack: Stack, topic: str, followup: str, words: tuple[str, ...]) -> None:
    sender = new_sender()
    say(stack, sender, topic)
    fees = say(stack, sender, "要多少钱")
    reply = say(stack, sender, followup)
    assert not any(m in reply for m in MY_BOOKINGS), reply
    assert reply != fees and "没听明白" not in reply, reply
    assert any(w in reply for w in words), reply
    if "没有写" in reply:
        assert "12345" in reply, reply


@pytest.mark.parametrize(("topic", "followup", "words"), SEEN_FOLLOWUPS)
def test_seen_followup_about_booking(stack: Stack, topic: str, followup: str, words: tuple[str, ...]) -> None:
    check_followup(stack, topic, followup, words)


@pytest.mark.parametrize(("topic", "followup", "words"), FRESH_FOLLOWUPS)
def test_fresh_followup_about_booking(stack: Stack, topic: str, followup: str, words: tuple[str, ...]) -> None:
    check_followup(stack, topic, followup, words)


# ---- 3. a booking and a question in one message -------------------------------------------------------------

SEEN_BOOK_AND_ASK = [
    "帮我约明天上午助浴 要带啥东西伐",
    "订个助餐 多少钱一顿",
    "帮我约后天的助浴 要钱伐",
    "想约日间照料试托 要带啥材料",
    "约个助餐 几点开饭",
    "帮我约下礼拜二助浴 洗一次多少钱",
    "我要约公证 要带啥证件",
    "帮阿拉约个上门护理 一次几钿",
    "帮我约日间照料 要收钱伐",
    "约个认知障碍筛查 要带身份证伐",
    "帮我约礼拜五助浴 要不要带换洗衣服",
    "帮我订两顿助餐 多少钱",
    "约个上门护理 要啥手续",
    "帮我约个公证 大概要多少钞票",
    "帮我约日间照料试托 几点钟开门",
    "想订助餐 要提前几天订",
    "帮我约助浴，要带点啥",
    "约个日间照料 啥人可以去",
    "帮我订助餐 助餐在哪里吃",
    "帮我约个助浴 费用多少",
]
FRESH_BOOK_AND_ASK = [
    "帮我约个助浴 要准备点啥",
    "订一顿助餐 要几钿",
    "约日间照料试托 收费伐",
    "帮我约认知筛查 要多少钱",
    "想约公证 要带户口本伐",
    "帮阿拉约上门护理 要钞票伐",
    "帮我约明朝助餐 几点开始吃",
    "约下礼拜的助浴 带啥东西",
    "帮我订个助餐 在啥地方",
    "约个日间照料试托 啥条件可以去",
]
PROMPTS = (ASK_SERVICE, ASK_DAY, ASK_STREET, ASK_NAME, ASK_PHONE, "哪一天")


def check_book_and_ask(stack: Stack, text: str) -> None:
    replies = stack.say(new_sender(), text)
    reply = "\n".join(str(r.get("text") or "") for r in replies)
    answered = any(isinstance(r.get("custom"), dict) and r["custom"].get("kb_entry") for r in replies)
    assert answered or ("没有写" in reply and "12345" in reply), reply
    assert any(p in reply for p in PROMPTS) and "约不了" not in reply, reply


@pytest.mark.parametrize("text", SEEN_BOOK_AND_ASK)
def test_seen_booking_with_a_question(stack: Stack, text: str) -> None:
    check_book_and_ask(stack, text)


@pytest.mark.parametrize("text", FRESH_BOOK_AND_ASK)
def test_fresh_booking_with_a_question(stack: Stack, text: str) -> None:
    check_book_and_ask(stack, text)


# ---- 4. a name and a refusal at the name prompt -------------------------------------------------------------

SEEN_NAME_AND_REFUSAL = [
    ("张秀英 电话不想给", "张秀英"),
    ("王根宝 电话么不留了", "王根宝"),
    ("我叫李桂芳 手机号不方便给", "李桂芳"),
    ("陈阿宝 电话就不写了吧", "陈阿宝"),
    ("周玉珍 没有手机", "周玉珍"),
    ("联系人刘建国 电话不想留", "刘建国"),
    ("徐美华 号码不想讲", "徐美华"),
    ("赵金娣电话不给行伐", "赵金娣"),
    ("张秀英 电话号码能不能不留", "张秀英"),
    ("孙志明 我不想留电话", "孙志明"),
    ("黄阿宝 电话勿想给", "黄阿宝"),
    ("杨凤英 手机没有的", "杨凤英"),
    ("吴国强 电话不告诉你", "吴国强"),
    ("马秀兰 电话可以不填伐", "马秀兰"),
    ("胡桂英 不想给号码", "胡桂英"),
    ("郭玉兰，电话不方便", "郭玉兰"),
    ("林阿婆 没电话", "林阿婆"),
    ("何建华 电话为啥要给", "何建华"),
    ("高秀珍 电话一定要填伐", "高秀珍"),
    ("沈桂芬 手机号码不想留", "沈桂芬"),
]
FRESH_NAME_AND_REFUSAL = [
    ("钱美娟 电话不愿意给", "钱美娟"),
    ("蒋阿毛 手机不想告诉你", "蒋阿毛"),
    ("冯秀兰，号码就不留了", "冯秀兰"),
    ("许国华 电话一定要伐", "许国华"),
    ("韩桂珍 没有电话的", "韩桂珍"),
    ("姓曹 曹建明 电话不方便留", "曹建明"),
    ("叶小妹 手机号不给", "叶小妹"),
    ("邓阿姨 电话要给伐", "邓阿姨"),
    ("潘金宝 电话不留行不行", "潘金宝"),
    ("陆美英 电话号码为啥要", "陆美英"),
]


def check_name_and_refusal(stack: Stack, text: str, name: str) -> None:
    sender = new_sender()
    say(stack, sender, "帮我约后天上午助浴")
    assert ASK_NAME in say(stack, sender, "顾村")
    reply = say(stack, sender, text)
    assert name in reply and "电话" in reply and ASK_NAME not in reply, reply
    assert ASK_PHONE in reply, reply
    after = say(stack, sender, "13912345678")
    if "请回复数字" in after:
        after = say(stack, sender, "1")
    assert name in after, after


@pytest.mark.parametrize(("text", "name"), SEEN_NAME_AND_REFUSAL)
def test_seen_name_with_a_refusal(stack: Stack, text: str, name: str) -> None:
    check_name_and_refusal(stack, text, name)


@pytest.mark.parametrize(("text", "name"), FRESH_NAME_AND_REFUSAL)
def test_fresh_name_with_a_refusal(stack: Stack, text: str, name: str) -> None:
    check_name_and_refusal(stack, text, name)


# ---- 5. "算了" stops the flow it is said in, in that flow's words --------------------------------------------

# (how the flow starts, the stop, words one of which the reply must have, words it must not have)
NOT_A_BOOKING = ("不约了", "不预约了")
SEEN_STOPS = [
    (["绑定"], "算了", ("绑定",), NOT_A_BOOKING),
    (["我要绑定我女儿"], "算了", ("绑定",), NOT_A_BOOKING),
    (["我要绑定我儿子"], "勿弄了", ("绑定",), NOT_A_BOOKING),
    (["绑定家里人"], "那算了吧", ("绑定",), NOT_A_BOOKING),
    (["我想绑定我囡囡"], "不绑了", ("绑定",), NOT_A_BOOKING),
    (["帮我删除我的个人信息"], "算了", ("不删", "还在"), NOT_A_BOOKING),
    (["把我的资料全删掉"], "算了算了", ("不删", "还在"), NOT_A_BOOKING),
    (["每天问问我平安"], "算了", ("每日平安", "不弄", "先不"), NOT_A_BOOKING),
    (["每天早上问我一声好伐"], "不要了", ("每日平安", "不弄", "先不"), NOT_A_BOOKING),
    (
        ["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "帮我把预约取消掉"],
        "算了",
        ("不取消", "留着"),
        NOT_A_BOOKING,
    ),
    (
        ["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "帮我把预约取消掉"],
        "那算了",
        ("不取消", "留着"),
        NOT_A_BOOKING,
    ),
    (["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "预约改个时间"], "算了", ("不改", "原来"), NOT_A_BOOKING),
    (["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "我要改时间"], "不改了", ("不改", "原来"), NOT_A_BOOKING),
    (["帮我约助浴"], "算了", ("不约",), ()),
    (["帮我约后天上午助浴"], "不约了", ("不约",), ()),
    (["长护险怎么申请"], "算了", ("好的",), NOT_A_BOOKING),
    (["你好"], "算了", ("好的",), NOT_A_BOOKING),
    (["我要绑定阿拉姆妈"], "算了 不弄了", ("绑定",), NOT_A_BOOKING),
    (["我的资料都删掉吧"], "不删了", ("不删", "还在"), NOT_A_BOOKING),
    (["每天八点钟问我一声好伐"], "算了", ("每日平安", "不弄", "先不", "关"), NOT_A_BOOKING),
]
FRESH_STOPS = [
    (["绑定我老伴"], "那就算了吧", ("绑定",), NOT_A_BOOKING),
    (["我要绑定我爸爸"], "不要了", ("绑定",), NOT_A_BOOKING),
    (["把我信息删了"], "那还是算了吧", ("不删", "还在"), NOT_A_BOOKING),
    (["每天问我一声好不好"], "还是不用了", ("每日平安", "不弄", "先不"), NOT_A_BOOKING),
    (
        ["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "我要取消预约"],
        "算了吧 不取消了",
        ("不取消", "留着"),
        NOT_A_BOOKING,
    ),
    (["帮我约后天上午助浴 顾村 王根宝 13912345678", "对", "改个日子"], "那就算了吧", ("不改", "原来"), NOT_A_BOOKING),
    (["绑定"], "那不弄了", ("绑定",), NOT_A_BOOKING),
    (["沪惠保是啥"], "算了", ("好的",), NOT_A_BOOKING),
    (["帮我约个助餐"], "那就算了吧", ("不约",), ()),
    (["我要绑定我女儿"], "算了 不绑了", ("绑定",), NOT_A_BOOKING),
]


def check_stop(stack: Stack, before: list[str], stop: str, must: tuple[str, ...], never: tuple[str, ...]) -> None:
    sender = new_sender()
    for text in before:
        reply = say(stack, sender, text)
        if "请回复数字" in reply and "1." in reply and "取消" not in text and "改" not in text:
            say(stack, sender, "1")
    reply = say(stack, sender, stop)
    assert any(w in reply for w in must), reply
    assert not any(w in reply for w in never), reply


@pytest.mark.parametrize(("before", "stop", "must", "never"), SEEN_STOPS)
def test_seen_stop_fits_the_flow(
    stack: Stack, before: list[str], stop: str, must: tuple[str, ...], never: tuple[str, ...]
) -> None:
    check_stop(stack, before, stop, must, never)


@pytest.mark.parametrize(("before", "stop", "must", "never"), FRESH_STOPS)
def test_fresh_stop_fits_the_flow(
    stack: Stack, before: list[str], stop: str, must: tuple[str, ...], never: tuple[str, ...]
) -> None:
    check_stop(stack, before, stop, must, never)
