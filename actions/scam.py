"""Scam worries: the warning before the harm, what to do after it, and no second copy of either.

A senior who writes about a scam call first gets the warning (``utter_scam_first``: 先别转账 …) and the
knowledge base's entry on that kind of scam. Two things change that reply:

- **The harm is done** (:func:`lost_to_scam`): money already sent (已经转了五千, 钱打过去了, 交掉了两千), a
  code, password or card number already given (验证码告诉他了), or "被骗了". Then the warning is too late;
  ``utter_scam_aftermath`` says what to do now: 110 at once, the bank to freeze or stop the transfer, keep
  the call record and messages, tell the family. A message that only says money went somewhere (我已经付了
  八百块) counts when the conversation is about a scam; one that says who took it (骗子, 被骗, 对方联系不上)
  counts anywhere.
  The phone in the scammer's hands is a harm of its own (:func:`device_harm`: 链接点了, 下载了个软件, 屏幕共享了,
  扫了码): ``utter_scam_device`` says cut the network first, then the bank, 110 if money is gone, the family.
- **The warning was just given** (:func:`warned_recently`): a second message in the same scam conversation
  ("他又打来了") gets the short reminder ``utter_scam_again``, and the knowledge answer only when it is a
  different entry from the one already shown.

Whichever action the message reached (this one for ``scam_worry``, the knowledge answer for a question,
the handoff while it waits for a number) calls :func:`lost_to_scam` first, so the aftermath advice never
depends on the classifier's guess.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from textnorm import normalize

FIRST, AGAIN, AFTERMATH = "utter_scam_first", "utter_scam_again", "utter_scam_aftermath"
DEVICE = "utter_scam_device"
SCAM_INTENT = "scam_worry"
# How many user turns back a scam message still makes this a scam conversation.
RECENT_TURNS = 4

_VERB = r"(?:转|汇|打|付|交|给|报|说|讲|告诉|投)"
# Not done: "还没转", "没有把钱给他", "不要转", "要不要付".
_NOT_DONE = re.compile(
    rf"没(?:有)?(?:把[^，,。]{{0,6}})?{_VERB}|(?:不要|别|不能|不会|不可以|不敢|覅)(?:把[^，,。]{{0,6}})?{_VERB}|要不要{_VERB}"
)
# Only a worry about being cheated: "会不会被骗", "怕被骗", "怎么防止被骗".
_ONLY_WORRY = re.compile(r"会不会|怕|防止|避免|小心|当心|如何|怎么(?:防|避免|识别|知道)")
_MONEY = r"(?:钱|钞票|铜钿|块|元|万|千|百|账|款|现金|积蓄|存款|养老钱)"
_KEPT_PRIVATE = r"(?:验证码|密码|卡号|身份证号|银行卡|口令|二维码|码)"
# Money sent: "转了五千", "钱打过去了", "转给他两万", "交掉了两千", "投进去五万", "汇过去了", "花了一万多".
_SENT = re.compile(
    rf"(?:转|汇|打|付|交|给|投|花|掏|扫)(?:了|掉了?|脱了?|过去了?|出去了?|进去了?|给(?:他|她|对方|人家|伊)了?|好了)"
    rf"[^，,。？?！!]{{0,8}}?{_MONEY}|"
    rf"{_MONEY}[^，,。？?！!]{{0,6}}(?:已经|都|全|早)?(?:转|汇|打|付|交|给|投)(?:给(?:他|她|对方|人家|伊|骗子)|过去|出去|进去)?"
    r"(?:了|掉了?|走了?)|"
    rf"(?:已经|都|刚刚|刚才|早就?)[^，,。？?！!]{{0,4}}(?:转账|汇款|付款|打款|转过去|汇过去|打过去)(?:了)?"
)
# A secret given: "验证码我已经告诉他了", "把银行卡密码跟他讲了", "卡号和验证码都报给他了".
_GIVEN = re.compile(
    rf"{_KEPT_PRIVATE}[^，,。？?！!]{{0,10}}(?:告诉|讲给|说给|报给|发给|给了|念给|读给|跟他讲|跟他说|跟她讲|跟她说)|"
    rf"{_KEPT_PRIVATE}[^，,。？?！!]{{0,10}}(?:讲了|说了|报了|发了|告诉了|给他了|给她了|输进去了|填了)|"
    rf"(?:告诉|报给|发给|讲给|说给)(?:他|她|对方|人家|伊)[^，,。？?！!]{{0,4}}{_KEPT_PRIVATE}"
)
# The phone handed to a scammer: a link opened, an app installed, the screen shared, a code scanned ("我点了",
# "链接点进去了", "他叫我下了个软件 我装好了", "屏幕共享开了", "扫了他给的码").
_DEVICE = re.compile(
    r"(?:点|按|点开|点进)(?:了|过|好了|开了|进去了?|进去过|上去了)|"
    r"(?:链接|网址|网页|那个网|短信里的)[^，,。？?！!]{0,6}(?:点|打开|进)(?:了|过|开了|进去了?)|"
    r"(?:下载|下|装|安装)(?:了|好了|过)[^，,。？?！!]{0,8}?(?:软件|app|应用|程序|东西)|(?:下载|安装)(?:了|好了)|(?:装|下)(?:好了|上了)|"
    r"(?:软件|app|应用|程序)[^，,。？?！!]{0,6}(?:装|下载|安装)(?:了|好了)|"
    r"(?:共享|分享|开)(?:了)?屏幕|把屏幕(?:共享|分享|给)|屏幕(?:共享|分享)(?:了|过|开了|开着)|开了(?:视频)?会议|(?:视频)?会议开了|"
    r"扫(?:了|过)[^，,。？?！!]{0,6}?码|码[^，,。？?！!]{0,4}扫(?:了|过)",
    re.IGNORECASE,
)
# Not done: "没点", "不敢点", "还没装", "要不要下载", "能扫伐".
_DEVICE_NOT_DONE = re.compile(
    r"(?:没有?|不敢|不会|不要|不能|别|覅|勿|还没|要不要|能不能|可不可以|可以|该不该|好不好)"
    r"(?:点|按|打开|下载|下|装|安装|扫|共享|分享|开)"
)
# Cheated, said outright: "被骗了", "骗子骗走了我六千块", "上当了", "联系不上他了".
_CHEATED = re.compile(
    r"被(?:人|骗子)?骗(?:了|走|掉|去)|骗(?:走|掉|去)了?|上当了|受骗了|(?:骗|诈骗)(?:了)?(?:我|我们|我老伴|老头子|老太婆)[^，,。？?！!]{0,6}"
    + _MONEY
    + r"|(?:联系|找|打)不(?:上|到|通)(?:他|她|对方|人)?了?"
)
# Words that make a payment a scam wherever it is said.
_SCAM_WORDS = re.compile(r"骗|陌生|对方|安全账户|冒充|假的|联系不上|打不通|拉黑")
# Knowledge entries about scams (by their title): a payment after one of them is the scam's.
_SCAM_TITLE = re.compile(r"骗|诈|陷阱|上当|套路")
# A scam told as a story a moment ago ("有人说帮我办长护险要交钱", "电话里叫我转到安全账户"), whatever the
# classifier made of it: someone else asking for money or a secret.
_SCAM_STORY = re.compile(
    r"(?:有人|有个人|陌生人|一个人|那个人|对方|电话里|打电话|短信|加我微信|上门)[^。？?！!]{0,24}"
    r"(?:转账|转钱|汇款|打钱|交钱|付钱|要钱|手续费|保证金|验证码|密码|安全账户|中奖|投资|回报|理财|冻结|注销|洗钱)"
)


# Asked for, not done: "要我把验证码报给他", "叫我把钱转过去" (the scammer's request, told as it was said).
_ASKED = re.compile(r"(?:要|叫|让|喊|逼|催)(?:我|阿拉|我们|伊|他|她)?(?:把[^，,。？?！!]{0,8})?$")
_ASKED_INSIDE = re.compile(r"(?:要|叫|让|喊|逼|催)(?:我|阿拉|我们)把")


def _done(pattern: re.Pattern[str], plain: str) -> bool:
    """``pattern`` finds money sent or a secret given that is not only what someone asked for."""
    return any(
        not _ASKED.search(plain, 0, m.start()) and not _ASKED_INSIDE.search(m.group()) for m in pattern.finditer(plain)
    )


def money_harm(text: str) -> bool:
    """The message says money was sent, a secret given, or that the senior was cheated (no context needed for the
    last; see :func:`lost_to_scam`)."""
    plain = normalize(text)
    if _CHEATED.search(plain):
        return not _ONLY_WORRY.search(plain)
    return bool((_done(_SENT, plain) or _done(_GIVEN, plain)) and not _NOT_DONE.search(plain))


def device_harm(text: str) -> bool:
    """The message says the phone was handed to the scammer: a link opened, an app installed, the screen shared."""
    plain = normalize(text)
    return bool(_DEVICE.search(plain)) and not _DEVICE_NOT_DONE.search(plain) and not _ONLY_WORRY.search(plain)


def harm_done(text: str) -> bool:
    """Money sent, a secret given, cheated, or the phone handed over (see :func:`lost_to_scam` for the context)."""
    return money_harm(text) or device_harm(text)


def _scam_entry(tracker: Tracker) -> bool:
    """The conversation's topic is a knowledge entry about a scam."""
    # actions.knowledge imports the handoff, which imports this module: imported when first needed.
    from actions.knowledge import TOPIC, knowledge_index

    topic = tracker.get_slot(TOPIC)
    entry = knowledge_index().entries.get(str(topic)) if topic else None
    return entry is not None and bool(_SCAM_TITLE.search(entry.title))


def _recent_user_turns(tracker: Tracker) -> list[dict[str, Any]]:
    users = [e for e in tracker.events if e.get("event") == "user"]
    return users[-RECENT_TURNS - 1 : -1]  # before the latest message


def scam_conversation(tracker: Tracker) -> bool:
    """A scam was spoken of a moment ago: a ``scam_worry`` message, or the topic is a scam's entry."""
    for event in _recent_user_turns(tracker):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == SCAM_INTENT or _SCAM_STORY.search(normalize(str(event.get("text") or ""))):
            return True
    return _scam_entry(tracker)


def lost_to_scam(tracker: Tracker, text: str) -> bool:
    """The harm is done: money sent, a secret given, or cheated — in a scam conversation, or said as a scam."""
    if not text or text.startswith("/") or not harm_done(text):
        return False
    plain = normalize(text)
    if _CHEATED.search(plain) or _SCAM_WORDS.search(plain):
        return True
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return intent == SCAM_INTENT or scam_conversation(tracker)


def warned_recently(tracker: Tracker) -> bool:
    """The scam warning (or the aftermath advice) was said within the last few turns."""
    seen_users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            seen_users += 1
            if seen_users > RECENT_TURNS + 1:
                return False
        elif kind == "bot" and seen_users >= 1:
            if (event.get("metadata") or {}).get("utter_action") in (FIRST, AFTERMATH, AGAIN, DEVICE):
                return True
        elif kind in ("restart", "session_started"):
            return False
    return False


def utter_aftermath(dispatcher: CollectingDispatcher, text: str = "") -> None:
    """What to do now: after money or a secret, 110 and the bank; after the phone only, cut the network first."""
    dispatcher.utter_message(response=DEVICE if text and device_harm(text) and not money_harm(text) else AFTERMATH)


def shown_entries(tracker: Tracker) -> set[str]:
    """Knowledge entries answered in this conversation's recent turns."""
    shown: set[str] = set()
    for event in tracker.events[-40:]:
        custom = (event.get("data") or {}).get("custom") if event.get("event") == "bot" else None
        if isinstance(custom, dict) and custom.get("kb_entry"):
            shown.add(str(custom["kb_entry"]))
    return shown


def repeats_the_warning(tracker: Tracker, entry_id: str | None) -> bool:
    """Answering with ``entry_id`` would repeat what was just said: the warning was given a moment ago with it."""
    return entry_id is not None and warned_recently(tracker) and entry_id in shown_entries(tracker)


class ActionScamAdvice(Action):
    """``scam_worry``: the warning and the knowledge base's entry; after the harm, what to do now; once warned, a
    short reminder (rules.yml: then action_handoff offers a person)."""

    def name(self) -> str:
        return "action_scam_advice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        # actions.knowledge imports the handoff, which imports this module: imported when first needed.
        from actions.knowledge import answer, utter_resolved

        text = str((tracker.latest_message or {}).get("text") or "")
        if lost_to_scam(tracker, text):
            utter_aftermath(dispatcher, text)
            return []
        again = warned_recently(tracker)
        dispatcher.utter_message(response=AGAIN if again else FIRST)
        if not text or text.startswith("/"):
            return []
        resolved = answer(tracker, text)
        if not resolved.reply.confident:
            return []  # the warning is the answer; an unsure list of other scams would only distract
        if again and repeats_the_warning(tracker, resolved.reply.entry_id):
            return []  # the same entry a moment ago: no second copy
        utter_resolved(dispatcher, resolved)
        return resolved.events
