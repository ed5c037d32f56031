"""Issue 10, safety3: the classes a probe of the running assistant found, end to end through both real servers.

Each failed before: "我怕半夜心脏病发作" and "老年人噎住了怎么急救" got the full 120 alarm; "我要投诉 护工态度差" and
"助餐的饭菜太咸了" were not acknowledged (a knowledge answer, "没听明白", once even the alarm); "我孙子结婚送多少红包"
and "今天买菜花了两百块" got the scam warning. Now a fear gets what to prepare (the signs that mean 120, the phone by
the bed, 一键通), a how-to question "if it is happening now, call 120" and short steps, a complaint an apology,
12345 and a person (the agents see the reason "complaint"), and money talk no scam warning; danger now and real
scam stories are met as before. None of the phrasings is a training example (tests/rasa/test_project_data.py).
"""

from __future__ import annotations

import pytest

from tests.app.conftest import Stack, new_sender, say

pytestmark = pytest.mark.e2e

ALARM = "【紧急】"
SCAM_WARNING = "先别转账，也别把验证码"


# ---- 1. a fear: warm, what to prepare, the signs that mean 120 ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("我怕半夜心脏病发作", "胸口"),  # the probe's message
        ("阿拉老太婆有糖尿病 我老是担心伊夜里低血糖", "冷汗"),
        ("万一吃年糕噎牢了哪能办 屋里就我一个人", "咳不出"),
        ("我怕厕所里跌跤 爬不起来没人晓得", "起不来"),
        ("要是哪天我中风了身边没人咋弄", "嘴歪"),
    ],
)
def test_a_fear_gets_what_to_prepare_and_the_signs_that_mean_120(stack: Stack, text: str, sign: str) -> None:
    reply = say(stack, new_sender(), text)
    lines = reply.splitlines()
    assert ALARM not in reply and SCAM_WARNING not in reply and "没听明白" not in reply, reply
    assert "担心" in lines[0], reply  # warm first
    assert "120" in lines[1] and sign in lines[1], reply  # then the signs that mean 120 at once
    assert "1. " in reply and "一键通" in reply, reply  # what to prepare, the emergency-call service of the KB


def test_a_fear_of_fire_or_gas_names_119_and_getting_out(stack: Stack) -> None:
    reply = say(stack, new_sender(), "我老是怕煤气灶没关牢 夜里睡不踏实")
    assert ALARM not in reply and "119" in reply and "总阀" in reply, reply


# ---- 2. how to help: "if it is happening now, call 120" first, then short steps ---------------------------------


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("老年人噎住了怎么急救", "海姆立克"),  # the probe's message
        ("人中风了应该怎么处理", "别喂水"),
        ("老人跌跤了应该怎么扶起来", "别急着扶"),
        ("手上划了个口子出血 怎么止血", "按住"),
        ("低血糖犯了应该怎么处理", "糖"),
    ],
)
def test_a_how_to_question_gets_120_first_then_first_aid_steps(stack: Stack, text: str, step: str) -> None:
    reply = say(stack, new_sender(), text)
    first = reply.splitlines()[0]
    assert first.startswith("要是现在") and "120" in first, reply
    assert ALARM not in reply and step in reply and "1. " in reply, reply


def test_a_how_to_question_about_gas_says_no_switches_and_119(stack: Stack) -> None:
    reply = say(stack, new_sender(), "煤气漏了应该先做啥")
    assert reply.startswith("要是现在") and "开关" in reply and "119" in reply and ALARM not in reply, reply


# ---- 3. danger now, said with fear or how-to words, still raises the alarm --------------------------------------


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("我老伴噎住了 喘不上气", "噎住"),  # the look-alikes
        ("我心口痛得厉害", "胸口痛"),
        ("阿拉老头子噎牢了 怎么急救 快点", "噎住"),
        ("我好怕 老太婆叫不醒了", "叫不醒"),
        ("我怕他心脏病发作了 脸色发白", "胸口痛"),
    ],
)
def test_danger_now_with_fear_or_how_to_words_is_still_the_alarm(stack: Stack, text: str, word: str) -> None:
    reply = say(stack, new_sender(), text)
    first = reply.splitlines()[0]
    assert first.startswith(ALARM) and word in first and "120" in first, reply


# ---- 4. a complaint about a service: sorry, 12345, a person ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我要投诉 护工态度差",  # the probe's messages
        "上次来的阿姨迟到一个钟头",
        "助餐的饭菜太咸了",
        "送来的饭菜冰冰冷 哪能吃",
        "上门理发的师傅不耐烦 剪了一半就走了",
    ],
)
def test_a_complaint_is_acknowledged_with_an_apology_12345_and_a_person(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    lines = reply.splitlines()
    assert "对不起" in lines[0] and "12345" in lines[0] and "工作人员" in lines[0], reply
    assert ALARM not in reply and SCAM_WARNING not in reply and "没听明白" not in reply, reply
    assert "手机号" in reply or "工作人员" in lines[-1], reply  # the handoff: a callback number, or an agent soon


def test_a_complaint_reaches_the_agents_with_its_reason_and_no_text_in_a_log(stack: Stack) -> None:
    from staff.config import Settings
    from staff.db import StaffDB
    from staff.queue import Queue

    sender = new_sender()
    complaint = "护工天天迟到 还嫌我烦"
    reply = say(stack, sender, complaint)
    assert "对不起" in reply, reply
    queue = Queue(StaffDB(Settings.from_env(stack.env()).database_url))
    if "手机号" in reply:  # nobody online: a callback ticket with the number given
        saved = say(stack, sender, "13912345678")
        assert "记下了" in saved, saved
        tickets = [t for t in queue.open_tickets() if t.conversation_id == sender]
        assert [(t.reason, t.phone) for t in tickets] == [("complaint", "+8613912345678")]
    else:  # an agent online (a staff test logged in): the conversation waits in the queue
        handoff = queue.open_for(sender)
        assert handoff is not None and handoff.reason == "complaint", reply
    logs = "".join(p.read_text(errors="replace") for p in (stack.workdir / "logs").glob("*.log"))
    assert complaint not in logs and "迟到" not in logs


# ---- 5. money talked about is no scam; a scam story still gets the warning ---------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我孙子结婚送多少红包",  # the probe's message
        "今天买菜花了两百块",
        "儿子每个月给我一千块生活费",
        "孙子过生日我给了五百块",
        "今年退休金涨了一百多 开心",
        "给外孙零用钱 一个礼拜五十块够了伐",
    ],
)
def test_money_talked_about_gets_no_scam_warning(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert SCAM_WARNING not in reply and "追回来" not in reply and ALARM not in reply, reply  # no warning, no aftermath


@pytest.mark.parametrize(
    "text",
    [
        "电话里讲我外孙出车祸了 叫我马上打钱",
        "有人讲我银行卡涉嫌洗钱 要转到安全账户",
        "短信讲我中奖了 要先交手续费才能领",
        "有个自称检察院的人打电话给我 叫我配合调查",
        "陌生号码发短信 要我把验证码报给他",
    ],
)
def test_a_scam_story_still_gets_the_warning(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert SCAM_WARNING in reply, reply
