"""The classes a probe of the running assistant found (issue 10), end to end through both real servers.

Each failed before: money already sent to a scammer got the "先别转账" warning again; "你是机器人还是真人" got vague
small talk; "字太小了" got "好的，没关系"; "长护险和沪惠保有啥区别" was answered about 沪惠保 only; "老年人有啥保险
可以买" got an unsure guess; "我有高血压能保伐" after 沪惠保 was answered with 长处方; a callback number typed after
"我要找个人工" was recorded and then followed by "不好意思，我没听明白". None of the phrasings is a training example
(tests/rasa/test_project_data.py keeps the list).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.app.conftest import Stack, kb_entry, new_sender, say, texts

pytestmark = pytest.mark.e2e

SCAM_WARNING = "先别转账，也别把验证码"


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(texts(replies))


def choices(replies: list[dict[str, Any]]) -> list[str]:
    return [c for r in replies if isinstance(r.get("custom"), dict) for c in r["custom"].get("kb_choices", [])]


# ---- 1. after a scam: what to do now, and no second copy of the warning -------------------------------------


@pytest.mark.parametrize(
    ("story", "harm"),
    [
        ("刚才有人打电话说我银行卡被冻结了要我转账到安全账户", "我已经转了五千了"),
        ("有个人说是公安局的让我把钱转到安全账户", "钱打过去了"),
        ("有人冒充客服说要退款", "验证码我已经告诉他了"),
        ("刚才一个人打电话讲我中奖了要先交手续费", "我交掉了两千"),
    ],
)
def test_after_the_harm_the_first_sentence_says_call_110_and_the_bank(stack: Stack, story: str, harm: str) -> None:
    sender = new_sender()
    assert SCAM_WARNING in say(stack, sender, story)
    reply = say(stack, sender, harm)
    first = reply.splitlines()[0]
    assert "110" in first, reply
    assert "银行" in reply and "冻结" in reply and "记录" in reply and "子女" in reply, reply
    assert SCAM_WARNING not in reply and "没听明白" not in reply, reply


def test_cheated_said_outright_gets_the_aftermath_advice_at_once(stack: Stack) -> None:
    reply = say(stack, new_sender(), "阿拉老头子被人骗了三万块")
    assert "110" in reply.splitlines()[0] and SCAM_WARNING not in reply, reply


def test_a_second_scam_message_gets_no_second_copy_of_the_warning(stack: Stack) -> None:
    sender = new_sender()
    assert SCAM_WARNING in say(stack, sender, "有人打电话叫我转账")
    reply = say(stack, sender, "他又打来了 说再不转就要抓我")
    assert SCAM_WARNING not in reply and "再会" not in reply and "110" in reply, reply


# ---- 2. who am I talking to -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["你是机器人还是真人", "侬是真人伐", "你是电脑吗", "是不是有人在后面打字"])
def test_the_assistant_says_it_is_a_program_and_how_to_reach_a_person(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "银龄助手" in reply.splitlines()[0] and "不是真人" in reply, reply
    assert "1. " in reply and "转人工" in reply and "留一个手机号" not in reply, reply


# ---- 3. bigger text, slower, simpler ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["我眼睛看不清楚字 你说慢点 字大一点", "字太小了", "听不懂你讲的", "讲得简单点"])
def test_a_request_about_the_replies_is_helped(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "没听明白" not in reply and "紧急" not in reply and "好的，没关系" not in reply, reply
    assert "人工" in reply, reply


def test_bigger_text_names_the_pages_button_and_wechats_settings(stack: Stack) -> None:
    reply = say(stack, new_sender(), "字太小了")
    assert "A+" in reply and "字体大小" in reply, reply


def test_on_the_web_page_bigger_text_is_the_pages_own_button(stack: Stack) -> None:
    def post(path: str, body: bytes, token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(stack.webchat_url + path, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read().decode()))

    session = post("session", b"")
    answer = post("message", json.dumps({"message": "字太小了"}).encode(), session["token"])
    reply = "\n".join(str(r.get("text") or "") for r in answer["replies"])
    assert "A+" in reply and "微信" not in reply, reply


def test_simpler_after_an_answer_says_that_answer_in_short(stack: Stack) -> None:
    sender = new_sender()
    first = stack.say(sender, "长护险到底是个啥")
    entry = kb_entry(first)
    assert entry, first
    short = stack.say(sender, "讲得简单点")
    assert text_of(short).startswith("简单说：") and kb_entry(short) == entry, short


# ---- 4. two topics in one message -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("长护险和沪惠保有啥区别", ("长护险", "沪惠保")),
        ("自书遗嘱跟公证遗嘱哪个好", ("自书遗嘱", "公证遗嘱")),
        ("助浴跟上门护理哪个便宜", ("助浴", "上门护理")),
    ],
)
def test_two_topics_are_both_answered_numbered(stack: Stack, text: str, names: tuple[str, str]) -> None:
    sender = new_sender()
    replies = stack.say(sender, text)
    reply = text_of(replies)
    assert f"1. {names[0]}" in reply and f"2. {names[1]}" in reply and "12345" in reply, reply
    second = choices(replies)[1]
    assert kb_entry(stack.say(sender, "2")) == second


def test_two_services_to_book_are_both_offered_and_a_number_starts_one(stack: Stack) -> None:
    sender = new_sender()
    reply = say(stack, sender, "助餐和助浴都想约")
    assert "1. 帮我约助餐" in reply and "2. 帮我约助浴" in reply, reply
    assert "想约哪天" in say(stack, sender, "2")


def test_a_question_beside_a_booking_is_not_dropped(stack: Stack) -> None:
    reply = say(stack, new_sender(), "想约助浴 顺便问下助餐在哪")
    assert "助餐" in reply and "助浴" in reply and "没听明白" not in reply, reply


# ---- 5. a kind of help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["老年人有啥保险可以买", "阿拉这种老人有啥补贴", "有啥服务好享受", "法律上有啥能帮忙的"]
)
def test_a_broad_question_lists_the_kinds_topics_as_choices(stack: Stack, text: str) -> None:
    sender = new_sender()
    replies = stack.say(sender, text)
    reply = text_of(replies)
    offered = choices(replies)
    assert len(offered) >= 3 and "不太有把握" not in reply and "1. " in reply, reply
    assert kb_entry(stack.say(sender, "1")) == offered[0]


# ---- 6. eligibility follow-ups keep the topic -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "follow_up", "subject"),
    [
        ("沪惠保啥人能买", "我有高血压能保伐", "huhuibao"),
        ("老年意外险怎么买", "八十五岁还能买伐", "yiwaixian"),
        ("助浴服务怎么约", "我九十岁了能约伐", "zhuyu"),
        ("居家养老服务补贴怎么申请", "我一个人住能申请伐", "jujia-yanglao-butie"),
    ],
)
def test_whether_the_senior_qualifies_is_answered_from_the_topic(
    stack: Stack, question: str, follow_up: str, subject: str
) -> None:
    sender = new_sender()
    assert subject in str(kb_entry(stack.say(sender, question)))
    replies = stack.say(sender, follow_up)
    assert subject in str(kb_entry(replies)), replies
    reply = text_of(replies)
    assert ("谁可以" in reply or "关于「" in reply) and "长处方" not in reply and "没有预约" not in reply, reply


# ---- 7. an answer to the handoff's question gets one reply ------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("我电话13512345678", "记下了"),
        ("一三八一二三四五六七八", "记下了"),
        ("18612345678 谢谢", "记下了"),
        ("不用了", "不留号码"),
        ("我没有手机", "座机"),
    ],
)
def test_an_answer_to_the_callback_question_gets_one_clear_reply(stack: Stack, answer: str, expected: str) -> None:
    sender = new_sender()
    assert "留一个手机号" in say(stack, sender, "我要找个人工")
    replies = [r for r in stack.say(sender, answer) if r.get("text")]
    assert len(replies) == 1 and expected in str(replies[0]["text"]), replies
    # The question is over: the next message is answered as itself.
    after = stack.say(sender, "沪惠保是做啥的")
    assert kb_entry(after) and "号码" not in text_of(after), after


# ---- a link opened after a scam message: cut the network first ----------------------------------------------


@pytest.mark.parametrize(
    ("story", "harm"),
    [
        ("我手机上收到短信讲我医保卡要冻结了 让我点链接", "我点了"),
        ("有个人打电话讲是银行的 叫我下载一个软件", "软件装好了 他在教我操作"),
    ],
)
def test_after_a_link_or_an_app_the_first_sentence_says_cut_the_network(stack: Stack, story: str, harm: str) -> None:
    sender = new_sender()
    say(stack, sender, story)
    reply = say(stack, sender, harm)
    assert "网络关掉" in reply.splitlines()[0] and "银行" in reply, reply


# ---- a guessed binding without a binding word gives no binding code -----------------------------------------


@pytest.mark.parametrize("text", ["我想找个保姆 住家的", "我想给我妈找个伴"])
def test_no_binding_code_without_a_binding_word(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "绑定码" not in reply, reply


# ---- the entry just answered is not given in full again -----------------------------------------------------


@pytest.mark.parametrize(
    ("first", "follow", "says"),
    [
        ("长护险怎么申请", "评估的人会上门伐", "评估员会上门"),
        ("老年人免费体检哪能约", "要空腹伐", "空腹"),
        ("助餐点在哪里", "饭菜能打包带回去伐", "12345"),
    ],
)
def test_a_follow_up_gets_the_point_or_an_honest_not_said(stack: Stack, first: str, follow: str, says: str) -> None:
    sender = new_sender()
    whole = say(stack, sender, first)
    reply = say(stack, sender, follow)
    assert says in reply, reply
    assert whole.splitlines()[0] not in reply, reply


# ---- the date from the clock; what cannot be looked up, said plainly ----------------------------------------


def test_the_weekday_asked_is_todays_in_shanghai(stack: Stack) -> None:
    import datetime as dt

    from bookings.catalog import SHANGHAI

    before = dt.datetime.now(SHANGHAI).date()
    reply = say(stack, new_sender(), "侬晓得今朝礼拜几伐")
    after = dt.datetime.now(SHANGHAI).date()
    assert any(f"{d.month}月{d.day}日" in reply for d in {before, after}), reply


@pytest.mark.parametrize("text", ["明朝会落雨伐", "今天外面冷不冷"])
def test_the_weather_is_said_plainly_to_be_out_of_reach(stack: Stack, text: str) -> None:
    reply = say(stack, new_sender(), text)
    assert "天气我查不到" in reply, reply


# ---- "再讲一遍" says the last answer again (it was read as goodbye); 🙏 is thanks; the name asked is who answers


def test_say_it_again_repeats_the_previous_answer(stack: Stack) -> None:
    sender = new_sender()
    first = say(stack, sender, "高龄津贴哪能领")
    again = say(stack, sender, "侬再讲一遍好伐")
    assert first.splitlines()[0] in again and "再会" not in again, again


def test_folded_hands_are_thanks_and_the_name_asked_is_answered(stack: Stack) -> None:
    assert "没听明白" not in say(stack, new_sender(), "🙏🙏")
    assert "银龄助手" in say(stack, new_sender(), "侬叫啥名字啊")


def test_a_family_members_number_is_not_kept_and_linking_is_explained(stack: Stack) -> None:
    reply = say(stack, new_sender(), "我囡囡的手机13611112222")
    assert "不记下来" in reply and "绑定" in reply, reply
