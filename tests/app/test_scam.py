"""Scam worries (actions/scam.py): after the harm, what to do now; once warned, no second copy of the warning.

Phrasings here are kept out of the training data. The actions run with real rasa-sdk trackers and the real
knowledge base.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.scam import (
    AFTERMATH,
    AGAIN,
    DEVICE,
    FIRST,
    ActionScamAdvice,
    device_harm,
    harm_done,
    lost_to_scam,
    repeats_the_warning,
    warned_recently,
)


@pytest.mark.parametrize(
    "text",
    [
        "我已经转了五千了",
        "钱打过去了",
        "我刚刚已经转给他两万块钱",
        "验证码我已经告诉他了",
        "我把银行卡密码跟他讲了",
        "阿拉老头子被人骗了三万块",
        "骗子骗走了我六千块 哪能办",
        "刚才那个说是银行的 我把卡号和验证码都报给他了",
        "钞票汇过去了 现在人联系不上了",
        "我按伊讲的付了八百块",
        "上当了 养老钱投进去十万",
        "养老钱已经转给对方了",
    ],
)
def test_the_harm_done_is_recognised(text: str) -> None:
    assert harm_done(text)


@pytest.mark.parametrize(
    "text",
    [
        "有人叫我转账 要不要转",
        "我还没转钱",
        "会不会被骗",
        "怎么防止被骗",
        "千万别把验证码告诉别人",
        "长护险怎么交钱",
        "他又打来了 说再不转就要抓我",
        "那我现在该怎么办",
        # what the scammer asked for, told as it was said (safety3): not done
        "陌生号码发短信 要我把验证码报给他",
        "对方叫我把钱转到一个新账户",
    ],
)
def test_a_worry_or_a_question_is_no_harm_done(text: str) -> None:
    assert not harm_done(text)


def _tracker(history: list[tuple[str, str]], text: str, intent: str, bot: list[str] | None = None) -> Tracker:
    events: list[dict[str, Any]] = []
    for said, said_intent in history:
        events.append({"event": "user", "text": said, "parse_data": {"intent": {"name": said_intent}}})
        for response in bot or []:
            events.append({"event": "bot", "text": "…", "metadata": {"utter_action": response}})
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events.append({"event": "user", "text": text, "parse_data": message})
    return Tracker("scam-test", {}, message, events, False, None, {}, "action_listen")


def test_a_payment_counts_as_a_scams_only_in_a_scam_conversation() -> None:
    story = [("有人打电话说帮我办长护险要先交手续费", "ask_insurance")]
    assert lost_to_scam(_tracker(story, "我已经付了八百块", "inform"), "我已经付了八百块")
    plain = [("助浴怎么约", "ask_care_service")]
    assert not lost_to_scam(_tracker(plain, "我交了三百块钱押金", "inform"), "我交了三百块钱押金")
    # Said with who took it, it counts anywhere.
    assert lost_to_scam(_tracker(plain, "钱转给陌生人了 对方电话打不通", "inform"), "钱转给陌生人了 对方电话打不通")


def _run(tracker: Tracker) -> list[str]:
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionScamAdvice().run(dispatcher, tracker, {}))
    return [str(m.get("response") or m.get("text")) for m in dispatcher.messages]


def test_after_the_harm_the_aftermath_advice_comes_alone_and_first() -> None:
    said = _run(_tracker([("刚才有人讲我银行卡冻结了", "scam_worry")], "我已经转了五千了", "scam_worry", [FIRST]))
    assert said == [AFTERMATH]


def test_the_first_scam_message_gets_the_warning_then_the_entry() -> None:
    said = _run(_tracker([], "有人打电话说是公安局的叫我转钱到安全账户", "scam_worry"))
    assert said[0] == FIRST and len(said) == 2


def test_a_second_scam_message_gets_the_short_reminder_not_the_warning_again() -> None:
    tracker = _tracker([("有人打电话叫我转账", "scam_worry")], "那个人又打过来了 讲不转就抓我", "scam_worry", [FIRST])
    assert warned_recently(tracker)
    said = _run(tracker)
    assert said[0] == AGAIN and FIRST not in said


def test_the_same_entry_right_after_the_warning_is_a_repeat() -> None:
    warned = [
        {"event": "user", "text": "有人冒充警察叫我转钱", "parse_data": {"intent": {"name": "scam_worry"}}},
        {"event": "bot", "text": "…", "metadata": {"utter_action": FIRST}},
        {"event": "bot", "text": "…", "data": {"custom": {"kb_entry": "law-scam-fake-police", "confident": True}}},
    ]
    message = {"text": "那个人讲他真是警察", "intent": {"name": "ask_legal"}, "entities": []}
    tracker = Tracker(
        "scam-test", {}, message, [*warned, {"event": "user", "parse_data": message}], False, None, {}, "action_listen"
    )
    assert repeats_the_warning(tracker, "law-scam-fake-police")
    assert not repeats_the_warning(tracker, "law-will-notary")


# ---- the phone handed over: a link opened, an app installed, the screen shared, a code scanned ------------

PHONE_HANDED_OVER = [
    "我点了",
    "链接我已经点进去了",
    "他发的网址我打开了",
    "他叫我下了个软件 我装好了",
    "我下载了他说的那个app",
    "屏幕共享开了",
    "我照他讲的把屏幕分享给他了",
    "扫过他发来的二维码了",
    "视频会议开了 他叫我别挂",
    "点进去以后手机就卡了",
]
NOT_HANDED_OVER = [
    "链接我没敢点",
    "这个app能下载伐",
    "要不要装反诈app",
    "他叫我扫码 我没扫",
    "我怕点了链接被骗",
    "屏幕共享哪能关",
    "我打开了收音机",
    "手机怎么开会议",
    "陌生链接千万不要点",
    "我孙子帮我装了个微信",
]


@pytest.mark.parametrize("text", PHONE_HANDED_OVER)
def test_the_phone_handed_over_is_a_harm_of_its_own(text: str) -> None:
    assert device_harm(text) and harm_done(text)


@pytest.mark.parametrize("text", NOT_HANDED_OVER)
def test_a_question_a_refusal_or_a_worry_about_links_and_apps_is_no_harm(text: str) -> None:
    assert not device_harm(text)


def test_after_a_link_in_a_scam_conversation_the_first_advice_is_to_cut_the_network() -> None:
    story = [("我手机上收到短信讲我医保卡要冻结了 让我点链接", "scam_worry")]
    said = _run(_tracker(story, "我点了", "goodbye", [FIRST]))
    assert said == [DEVICE]


def test_a_link_outside_a_scam_conversation_is_nothing() -> None:
    plain = [("助餐点在哪里", "ask_care_service")]
    assert not lost_to_scam(_tracker(plain, "我点了", "goodbye"), "我点了")


def test_money_gone_as_well_gets_the_money_advice() -> None:
    story = [("有人讲我中奖了", "scam_worry")]
    said = _run(_tracker(story, "链接点了 还转了三千块", "scam_worry", [FIRST]))
    assert said == [AFTERMATH]
