"""The booking form's validation (actions/booking_form.py) on trackers as Rasa sends them, with a set clock.

These are conversation tests one level below the end-to-end suite: the same action the running server
calls, given the tracker Rasa would give it, for every (today, phrase) pair of a week.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_form, clock
from actions.booking_common import describe_day
from actions.booking_form import ValidateBookingForm
from actions.understand import form_question
from bookings.catalog import SHANGHAI
from bookings.timeparse import parse_when
from tests.app.domain_support import DOMAIN, all_said

SLOTS = ("booking_service", "booking_when", "booking_street", "booking_contact", "booking_phone")
WEEKDAY_WORDS = {0: "一", 1: "二", 2: "三", 3: "四", 4: "五", 5: "六", 6: "天"}
MONDAY = dt.date(2026, 11, 30)  # a Monday; the week table runs from here to Sunday 12-06


def tracker(text: str, requested: str | None, before: dict[str, Any], extracted: dict[str, Any]) -> Tracker:
    """The tracker Rasa hands the validation action: earlier slots, the user message, then the extracted values."""
    events: list[dict[str, Any]] = [{"event": "slot", "name": k, "value": v} for k, v in before.items()]
    events.append({"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}, "entities": []}})
    # As Rasa's form builds it: the requested slot, the form's own action event, then the extracted values.
    events.append({"event": "slot", "name": "requested_slot", "value": requested})
    events.append({"event": "action", "name": "booking_form"})
    events += [{"event": "slot", "name": k, "value": v} for k, v in extracted.items()]
    slots = {name: None for name in DOMAIN["slots"]}
    slots.update(before)
    slots.update(extracted)
    slots["requested_slot"] = requested
    return Tracker(
        "form-test",
        slots,
        {"text": text, "intent": {"name": "inform"}, "entities": []},
        events,
        False,
        None,
        {"name": "booking_form"},
        "booking_form",
    )


def validate(text: str, requested: str | None, before: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateBookingForm().run(dispatcher, tracker(text, requested, before, extracted), DOMAIN))
    result = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    result["_said"] = all_said(dispatcher.messages)
    return result


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def set_today(day: dt.date, hour: int = 10) -> None:
        moment = dt.datetime.combine(day, dt.time(hour), SHANGHAI)
        monkeypatch.setattr(clock, "now", lambda: moment)

    return set_today


def expected(today: dt.date, prefix: str, weekday: int) -> dt.date:
    """The documented convention: weeks run Monday–Sunday; 这 = this week, 下 = next, 下下 = the one after."""
    monday = today - dt.timedelta(days=today.weekday())
    weeks = {"这个": 0, "下": 1, "下个": 1, "下下个": 2}[prefix]
    return monday + dt.timedelta(weeks=weeks, days=weekday)


@pytest.mark.parametrize("today", [MONDAY + dt.timedelta(days=i) for i in range(7)], ids=lambda d: f"today-{d:%a}")
@pytest.mark.parametrize("prefix", ["这个", "下", "下个", "下下个"])
@pytest.mark.parametrize("weekday", range(7), ids=lambda w: f"wd{w}")
@pytest.mark.parametrize("unit", ["礼拜", "星期"])
def test_a_week_of_weekday_phrases_when_asked_for_the_day(
    at, today: dt.date, prefix: str, weekday: int, unit: str
) -> None:  # type: ignore[no-untyped-def]
    at(today)
    phrase = f"{prefix}{unit}{WEEKDAY_WORDS[weekday]}上午"
    want = expected(today, prefix, weekday)
    # The classifier may have extracted only a piece ("礼拜五"): the form reads the whole message.
    result = validate(phrase, "booking_when", {"booking_service": "bath"}, {"booking_when": phrase[len(prefix) :]})
    if want < today:
        assert result["booking_when"] is None and "已经过去" in " ".join(result["_said"]), (phrase, result)
    else:
        assert result["booking_date"] == want.isoformat(), (phrase, today, result)


def test_a_house_number_given_for_the_street_keeps_the_date(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    before = {"booking_service": "bath", "booking_when": "礼拜三", "booking_date": "2026-12-02", "booking_time": None}
    result = validate(
        "盘古路100弄5号", "booking_street", before, {"booking_when": "5号", "booking_street": "盘古路100弄5号"}
    )
    assert result["booking_when"] == "礼拜三"
    assert result.get("booking_date", "2026-12-02") == "2026-12-02"
    assert result["booking_street"] is None


@pytest.mark.parametrize("text", ["要带啥材料啊", "算了", "那就算了吧", "你好", "不知道"])
def test_nothing_but_a_name_is_saved_as_the_name(at, text: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_contact", {"booking_service": "bath"}, {"booking_contact": text})
    assert result.get("booking_contact") is None, result


@pytest.mark.parametrize("text", ["算了", "算了不约了", "以后再说吧"])
def test_stopping_ends_the_form(at, text: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_phone", {"booking_service": "bath", "booking_contact": "张秀英"}, {})
    assert result["requested_slot"] is None and result["booking_stage"] == booking_form.STOPPED


def test_a_person_named_while_answering_something_else_is_not_the_contact(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(
        "周老师叫我来约的，住在顾村",
        "booking_street",
        {"booking_service": "bath"},
        {"booking_street": "顾村镇", "booking_contact": "周老师"},
    )
    assert result["booking_street"] == "顾村镇" and result["booking_contact"] is None


def test_a_contact_stated_outright_is_taken_at_any_prompt(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(
        "住在顾村，联系人王桂芳",
        "booking_street",
        {"booking_service": "bath"},
        {"booking_street": "顾村镇", "booking_contact": "王桂芳"},
    )
    assert result["booking_contact"] == "王桂芳"


def test_tomorrow_said_late_at_night_is_asked_then_a_number_picks_the_day(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY + dt.timedelta(days=1), hour=1)  # Tuesday, 1 a.m.: is "明天" Tuesday or Wednesday?
    asked = validate("明天上午", "booking_when", {"booking_service": "bath"}, {"booking_when": "明天上午"})
    assert asked["booking_when"] is None and asked["booking_date"] is None
    assert asked["booking_when_options"] == ["2026-12-01", "2026-12-02"]
    assert "1." in asked["booking_when_question"] and "12月1日（星期二）" in asked["booking_when_question"]
    before = {
        "booking_service": "bath",
        "booking_time": asked["booking_time"],
        "booking_when_options": asked["booking_when_options"],
        "booking_when_question": asked["booking_when_question"],
    }
    picked = validate("第二个", "booking_when", before, {"booking_when": "第二个"})
    assert picked["booking_date"] == "2026-12-02" and picked["booking_time"] == "08:00-12:00"
    assert picked["booking_when_options"] is None and picked["booking_when_question"] is None


def test_next_week_without_a_day_asks_and_the_weekday_lands_in_that_week(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY + dt.timedelta(days=6))  # a Sunday
    asked = validate("下礼拜吧", "booking_when", {"booking_service": "bath"}, {"booking_when": "下礼拜"})
    assert asked["booking_date"] is None and asked["booking_week_of"] == "2026-12-07"
    assert "哪一天" in asked["booking_when_question"]
    before = {
        "booking_service": "bath",
        "booking_week_of": "2026-12-07",
        "booking_when_question": asked["booking_when_question"],
    }
    answered = validate("礼拜三", "booking_when", before, {"booking_when": "礼拜三"})
    assert answered["booking_date"] == "2026-12-09"


def test_a_lunar_day_is_resolved_and_a_past_day_is_named(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    lunar = validate("腊月二十上午", "booking_when", {"booking_service": "bath"}, {"booking_when": "腊月二十上午"})
    assert lunar["booking_date"] is not None and lunar["booking_date"] > "2026-12-31"
    past = validate("上礼拜三", "booking_when", {"booking_service": "bath"}, {"booking_when": "上礼拜三"})
    assert past["booking_date"] is None and "11月25日（星期三）已经过去了" in past["_said"][0]


def test_a_question_is_answered_once_not_again_when_the_form_resumes(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    text = "洗澡要自己带啥东西伐"
    fresh = validate(text, "booking_contact", {"booking_service": "bath"}, {"booking_contact": text})
    assert fresh["booking_contact"] is None and fresh["_said"] and fresh["_said"][0]
    # The same message, after action_kb_answer already answered it (the form resumes): nothing said.
    resumed = tracker(text, "booking_contact", {"booking_service": "bath"}, {})
    resumed.events.insert(-2, {"event": "action", "name": "action_kb_answer"})
    dispatcher = CollectingDispatcher()
    asyncio.run(ValidateBookingForm().run(dispatcher, resumed, DOMAIN))
    assert dispatcher.messages == []


def test_a_contact_in_the_first_message_is_cut_from_its_clause(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    text = "腊月二十上午帮我约个助浴，住在顾村，联系人冯秀兰，手机13812345678"
    result = validate(text, None, {}, {"booking_contact": "冯秀兰", "booking_phone": "13812345678"})
    assert result["booking_contact"] == "冯秀兰" and result["booking_phone"] == "13812345678"


def test_values_the_entity_tagger_missed_are_read_from_the_typed_text(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    text = "帮我约个助浴，住在顾村，联系人冯秀兰，手机１３８１２３４５６７８"
    # The tagger took 冯秀兰 for a phone number and found no street: the form still gets them right.
    result = validate(text, None, {}, {"booking_phone": "冯秀兰"})
    assert result["booking_contact"] == "冯秀兰"
    assert result["booking_phone"] == "13812345678"
    assert result["booking_street"] == "顾村镇" and result["booking_service"] == "bath"


# -- many phrasings at each prompt, as seniors type them (issue 10; none of them a training example) ----------
BEFORE_NAME = {
    "booking_service": "bath",
    "booking_when": "礼拜三",
    "booking_date": "2026-12-02",
    "booking_street": "顾村镇",
}
BEFORE_PHONE = {**BEFORE_NAME, "booking_contact": "张秀英"}
BEFORE_DAYS = {
    "booking_service": "bath",
    "booking_when_options": ["2026-12-03", "2026-12-04"],
    "booking_when_question": "您说的“过两天”是哪一天？\n1. 12月3日（星期四）\n2. 12月4日（星期五）\n请回复数字。",
}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("阿拉老头子叫王根宝", "王根宝"),
        ("张桂英😊", "张桂英"),
        ("侬帮我写王凤英", "王凤英"),
        ("麻烦写孙建国", "孙建国"),
        ("我老头子王根宝", "王根宝"),
        ("王根宝👍", "王根宝"),
        ("好的 王根宝", "王根宝"),
        ("王根宝 老头子", "王根宝"),
        ("阿拉姆妈叫顾美英", "顾美英"),
        ("嗯 写钱阿姨好了", "钱阿姨"),
        ("我爷爷叫陆福生", "陆福生"),
    ],
)
def test_a_name_said_with_whose_it_is_fillers_or_emoji_is_the_name(at, text: str, name: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_contact", BEFORE_NAME, {"booking_contact": text})
    assert result["booking_contact"] == name, result


@pytest.mark.parametrize("text", ["哈哈", "我女儿的手机", "呵呵呵", "写我老伴的电话"])
def test_laughter_and_field_words_are_no_name(at, text: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_contact", BEFORE_NAME, {"booking_contact": text})
    assert result.get("booking_contact") is None, result


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("明天再说吧", "booking_contact"),
        ("用不着了", "booking_contact"),
        ("暂时不需要", "booking_phone"),
        ("我不要这个服务了", "booking_contact"),
        ("我不约这个了", "booking_street"),
        ("哎呀算了", "booking_when"),
        ("放弃", "booking_phone"),
        ("啥也不要了", "booking_contact"),
    ],
)
def test_more_ways_to_stop_end_the_form_at_any_prompt(at, text: str, prompt: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, prompt, BEFORE_PHONE, {prompt: text})
    assert result["requested_slot"] is None and result["booking_stage"] == booking_form.STOPPED, result


@pytest.mark.parametrize("text", ["月浦镇 沪太路 12号", "住在大场，门牌18号", "友谊路 5号", "住月浦 9号", "5号"])
def test_a_house_number_at_the_street_prompt_never_replaces_the_day(at, text: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    before = {"booking_service": "bath", "booking_when": "礼拜三", "booking_date": "2026-12-02"}
    result = validate(text, "booking_street", before, {"booking_when": text})
    assert result.get("booking_date", "2026-12-02") == "2026-12-02", result
    assert result["booking_when"] == "礼拜三", result


@pytest.mark.parametrize(
    ("text", "prompt", "contact"),
    [
        ("住大场 王根宝 13912345678", "booking_street", "王根宝"),
        ("13912345678 王秀英", "booking_phone", "王秀英"),
        ("不对名字写错了 是王秀英 电话13912345678", "booking_phone", "王秀英"),
        ("礼拜三，王根宝，13912345678", "booking_when", "王根宝"),
    ],
)
def test_a_name_listed_beside_other_values_or_corrected_is_the_contact(
    at, text: str, prompt: str, contact: str
) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    before = BEFORE_PHONE if prompt == "booking_phone" else {"booking_service": "bath"}
    result = validate(text, prompt, before, {})
    assert result["booking_contact"] == contact, result
    assert result["booking_phone"] == "13912345678", result


@pytest.mark.parametrize(
    ("text", "noted"),
    [
        ("王根宝 13912345678", "联系人王根宝、电话139 1234 5678"),
        ("联系人王根宝", "联系人王根宝"),
        ("阿拉老头子叫王根宝", "联系人王根宝"),
        ("电话13912345678", "电话139 1234 5678"),
    ],
)
def test_values_typed_at_the_numbered_days_are_said_back_and_the_days_asked_again(at, text: str, noted: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_when", BEFORE_DAYS, {"booking_when": text})
    said = " ".join(result["_said"])
    assert noted in said and "没听明白" not in said, result
    assert result["booking_when"] is None and result.get("booking_when_options", BEFORE_DAYS["booking_when_options"])


@pytest.mark.parametrize(
    ("text", "day"),
    [("②", "2026-12-04"), ("第一个 王根宝", "2026-12-03"), ("2 王根宝 幺三九幺二三四五六七八", "2026-12-04")],
)
def test_a_numbered_day_is_picked_beside_other_values(at, text: str, day: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_when", BEFORE_DAYS, {"booking_when": text})
    assert result["booking_date"] == day, result


def test_a_question_at_the_numbered_days_keeps_them(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate("哪天人少", "booking_when", BEFORE_DAYS, {"booking_when": "哪天人少"})
    assert (
        result.get("booking_when_question", BEFORE_DAYS["booking_when_question"])
        == BEFORE_DAYS["booking_when_question"]
    )


def test_a_day_in_the_first_message_is_read_even_when_no_time_was_tagged(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate("过两天帮我约助浴，住在顾村", None, {}, {"booking_service": "bath"})
    assert result["booking_when_options"] == ["2026-12-02", "2026-12-03"], result


@pytest.mark.parametrize(("text", "code"), [("订个饭", "meal")])
def test_a_service_with_a_measure_word_inside(at, text: str, code: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(text, "booking_service", {}, {"booking_service": text})
    assert result["booking_service"] == code, result


def test_a_phone_in_financial_digits(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    result = validate(
        "幺叁玖幺贰叁肆伍陆柒捌", "booking_phone", BEFORE_PHONE, {"booking_phone": "幺叁玖幺贰叁肆伍陆柒捌"}
    )
    assert result["booking_phone"] == "13912345678", result


# -- questions about the form itself (issue 10): their own short reply, never a value ---------------------------


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("为啥要名字", "utter_form_why_name"),
        ("要电话做啥", "utter_form_why_phone"),
        ("为什么要问我住哪里", "utter_form_why_street"),
        ("我的号码别人看得到伐", "utter_form_privacy"),
        ("会卖给推销的伐", "utter_form_privacy"),
        ("要填身份证号码伐", "utter_form_id_card"),
        ("小名好写伐 一定要真名", "utter_form_real_name"),
        ("家里电话可以伐", "utter_form_landline"),
        ("我不想留手机", "utter_form_no_phone"),
        ("写阿拉儿子的可以伐", "utter_form_other_contact"),
        ("礼拜几人少点", None),  # no day word the form knows: the knowledge base or "说不准" answers
        ("哪天人少", "utter_form_busy_days"),
        ("侬是真人伐", "utter_form_who"),
        ("预约要钞票伐", "utter_form_free"),
        ("好了伐", "utter_form_not_yet"),
        ("弄好了没有", "utter_form_not_yet"),
        ("约了以后好取消伐", "utter_form_cancel_later"),
    ],
)
def test_a_question_about_the_form_gets_its_own_reply(text: str, response: str | None) -> None:
    assert form_question(text) == response


@pytest.mark.parametrize(
    "text", ["张秀英", "13812345678", "对", "好的", "好伐", "可以伐", "顾村", "要带啥材料", "这个要钱伐", "明天上午"]
)
def test_values_yes_and_questions_about_the_service_are_not_form_questions(text: str) -> None:
    assert form_question(text) is None


def test_a_question_at_a_prompt_keeps_no_value_it_holds() -> None:
    # "顾村有吗" at the street prompt asks whether the service is there: answered, the street not taken.
    assert booking_form._asks("顾村有吗", asked_filled=True)
    assert booking_form._asks("礼拜天开门伐", asked_filled=True)
    assert not booking_form._asks("顾村", asked_filled=True)
    assert not booking_form._asks("明天上午可以吗", asked_filled=True)
    assert booking_form._asks("要带啥材料", asked_filled=False)


# -- a reply at the numbered days that names no one of them (issue 10): never saved, never a wrong choice -------

WEEK = [MONDAY + dt.timedelta(days=i) for i in range(7)]


def days_asked(today: dt.date) -> dict[str, Any]:
    """The slots after "过两天" was asked about on ``today``: the numbered days and their question."""
    when = parse_when("过两天", dt.datetime.combine(today, dt.time(10), SHANGHAI))
    assert when is not None and when.options
    return {
        "booking_service": "bath",
        "booking_when_options": [d.isoformat() for d in when.options],
        "booking_when_question": when.question,
    }


@pytest.mark.parametrize("today", WEEK, ids=lambda d: f"today-{d:%a}")
@pytest.mark.parametrize(
    "text", ["随便", "哪天都行", "都可以", "你定吧", "侬看着办", "阿拉都可以", "随便哪天", "无所谓", "听你的"]
)
def test_any_of_the_numbered_days_takes_the_first_and_says_which(at, today: dt.date, text: str) -> None:  # type: ignore[no-untyped-def]
    at(today)
    before = days_asked(today)
    result = validate(text, "booking_when", before, {"booking_when": text})
    first = dt.date.fromisoformat(before["booking_when_options"][0])
    assert result["booking_date"] == first.isoformat(), result
    assert f"好的，那就约{describe_day(first)}" in " ".join(result["_said"]), result


@pytest.mark.parametrize("today", WEEK, ids=lambda d: f"today-{d:%a}")
@pytest.mark.parametrize("text", ["改天", "回头吧", "过几天", "这几天吧", "过些天", "哪天", "改日吧"])
def test_a_reply_naming_no_day_asks_the_same_days_again(at, today: dt.date, text: str) -> None:  # type: ignore[no-untyped-def]
    at(today)
    before = days_asked(today)
    result = validate(text, "booking_when", before, {"booking_when": text})
    assert result["booking_when"] is None and result.get("booking_date") is None, result
    assert result.get("booking_when_options", before["booking_when_options"]) == before["booking_when_options"]
    assert result.get("booking_when_question", before["booking_when_question"]) == before["booking_when_question"]
    assert "要定一个具体的日子" in " ".join(result["_said"]), result


@pytest.mark.parametrize("today", WEEK, ids=lambda d: f"today-{d:%a}")
@pytest.mark.parametrize("text", ["月底", "月底吧", "下个月底", "年底"])
def test_a_month_end_at_the_numbered_days_asks_its_own_days(at, today: dt.date, text: str) -> None:  # type: ignore[no-untyped-def]
    at(today)
    result = validate(text, "booking_when", days_asked(today), {"booking_when": text})
    assert result["booking_when"] is None and result.get("booking_date") is None, result
    options = [dt.date.fromisoformat(d) for d in result["booking_when_options"]]
    assert options and all(d.day >= 26 for d in options), result
    assert text.removesuffix("吧") in result["booking_when_question"]


@pytest.mark.parametrize("today", WEEK, ids=lambda d: f"today-{d:%a}")
@pytest.mark.parametrize("text", ["下礼拜都行", "下礼拜随便哪天", "过完年", "开春以后", "等我儿子回来", "明年开春"])
def test_a_new_vague_wish_at_the_numbered_days_is_asked_not_saved(at, today: dt.date, text: str) -> None:  # type: ignore[no-untyped-def]
    at(today)
    before = days_asked(today)
    result = validate(text, "booking_when", before, {"booking_when": text})
    assert result["booking_when"] is None and result.get("booking_date") is None, result
    assert result["booking_when_question"] != before["booking_when_question"], result


def form_tracker(text: str, slots: dict[str, Any], intent: str = "ask_care_service") -> Tracker:
    """The tracker action_kb_answer gets when the classifier took a reply at a form prompt for a question."""
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "entities": []}}]
    return Tracker(
        "form-test", {**slots}, {"text": text, "intent": {"name": intent}}, events, False, None,
        {"name": "booking_form"}, "action_listen",
    )  # fmt: skip


@pytest.mark.parametrize("text", ["看着办吧", "哪个都行", "什么时候都行", "随你"])
def test_any_reply_the_classifier_took_for_a_question_still_picks_the_first_day(at, text: str) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    before = {**days_asked(MONDAY), "requested_slot": "booking_when"}
    dispatcher = CollectingDispatcher()
    events = booking_form.reply_at_numbered_days(dispatcher, form_tracker(text, before), text)
    assert events is not None
    slots = {e["name"]: e["value"] for e in events}
    assert slots["booking_date"] == before["booking_when_options"][0] and slots["booking_when_options"] is None
    assert "好的，那就约" in " ".join(all_said(dispatcher.messages))


def test_a_reply_at_the_numbered_days_that_is_no_question_asks_them_again(at) -> None:  # type: ignore[no-untyped-def]
    at(MONDAY)
    before = {**days_asked(MONDAY), "requested_slot": "booking_when"}
    dispatcher = CollectingDispatcher()
    assert booking_form.reply_at_numbered_days(dispatcher, form_tracker("改天吧", before), "改天吧") == []
    assert "要定一个具体的日子" in " ".join(all_said(dispatcher.messages))
    # a real question is answered as one; with no numbered days pending nothing is read here
    assert booking_form.reply_at_numbered_days(CollectingDispatcher(), form_tracker("要带啥", before), "要带啥") is None
    asked_name = {"booking_service": "bath", "requested_slot": "booking_contact"}
    assert booking_form.reply_at_numbered_days(CollectingDispatcher(), form_tracker("随便", asked_name), "随便") is None


# -- a question about the field asked for (issue 10): why it is needed, how it is kept, or what else will do --------


@pytest.mark.parametrize(
    ("text", "asked", "response"),
    [
        ("你要我名字干嘛", "booking_contact", "utter_form_why_name"),
        ("名字一定要写伐", "booking_contact", "utter_form_why_name"),
        ("为啥要晓得我叫啥", "booking_contact", "utter_form_why_name"),
        ("不写名字行不行", "booking_contact", "utter_form_no_name"),
        ("名字覅写了好伐", "booking_contact", "utter_form_no_name"),
        ("匿名行不行", "booking_contact", "utter_form_no_name"),
        ("我不想说名字", "booking_contact", "utter_form_no_name"),
        ("为啥要电话", "booking_phone", "utter_form_why_phone"),
        ("电话号码一定要留吗", "booking_phone", "utter_form_why_phone"),
        ("我电话不方便给", "booking_phone", "utter_form_no_phone"),
        ("不想给电话", "booking_phone", "utter_form_no_phone"),
        ("号码能不能不写", "booking_phone", "utter_form_no_phone"),
        ("我没手机", "booking_phone", "utter_form_no_phone"),
        ("我只有座机", "booking_phone", "utter_form_landline"),
        ("地址一定要吗", "booking_street", "utter_form_why_street"),
        ("住哪里也要问啊", "booking_street", "utter_form_why_street"),
        ("地址不想讲", "booking_street", "utter_form_no_street"),
        ("这个会不会泄露", "booking_phone", "utter_form_privacy"),
        ("会不会外传", None, "utter_form_privacy"),
        ("你们不会乱打电话吧", "booking_contact", "utter_form_privacy"),
        ("电话给了会不会被骗", "booking_phone", "utter_form_privacy"),
        ("信息会不会被卖", "booking_contact", "utter_form_privacy"),
        # no field named: the field asked for
        ("一定要吗", "booking_phone", "utter_form_why_phone"),
        ("一定要吗", "booking_street", "utter_form_why_street"),
        ("不填行不行", "booking_contact", "utter_form_no_name"),
        ("不给可以伐", "booking_phone", "utter_form_no_phone"),
        ("为啥要这个", "booking_contact", "utter_form_why_name"),
        ("一定要吗", "booking_when", "utter_form_why_asked"),
        # a value, a correction or a question about the service is not a question about a field
        ("电话不对 是13912345678", "booking_phone", None),
        ("座机不方便 打我手机13912345678", "booking_phone", None),
        ("一定要带身份证吗", "booking_contact", None),
        ("名字改成王芳", None, None),
        ("不要紧", "booking_contact", None),
        ("要带啥材料", "booking_phone", None),
    ],
)
def test_a_question_about_the_field_asked_for_is_answered(text: str, asked: str | None, response: str | None) -> None:
    assert form_question(text, asked) == response


def test_a_question_about_the_field_asked_for_saves_nothing() -> None:
    assert booking_form._asks("我电话不方便给", asked_filled=False, requested="booking_phone")
    assert booking_form._asks("一定要吗", asked_filled=False, requested="booking_street")
    assert not booking_form._asks("13912345678", asked_filled=True, requested="booking_phone")


def test_what_else_at_the_service_prompt_lists_the_services_even_with_the_text_in_the_slot(at) -> None:  # type: ignore[no-untyped-def]
    # Rasa's from_text mapping may already have put the typed words in the service slot.
    result = validate("都有哪几样好约的", "booking_service", {}, {"booking_service": "都有哪几样好约的"})
    assert result["booking_service"] is None and any("我这里能帮您约的" in m for m in result["_said"])
