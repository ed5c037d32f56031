from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.intent_rules import IntentRules, IntentRulesError, load_rules, misread_followup


@pytest.fixture(scope="module")
def rules() -> IntentRules:
    return IntentRules(IntentRules.get_default_config())


@pytest.mark.parametrize(
    "text", ["算了", "算了吧！", "那就算了", "算了算了", "不约了", "不约了谢谢", "先不弄了", "改天再讲吧"]
)
def test_stopping_words_always_stop(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "stop"


@pytest.mark.parametrize(
    "text",
    ["预约助浴", "帮我排个护工", "我要报名老邮所乐", "给我订个送餐", "替我约一下认知筛查", "帮我老伴约银护宝护工吧"],
)
def test_a_booking_verb_and_a_service_start_a_booking(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "book_service"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("同意绑定", "family_link"),
        ("好的，我同意绑定", "family_link"),
        ("同意新的绑定说明", "family_link"),
        ("嗯同意每日平安", "checkin_optin"),
        ("同意每日平安的说明了", "checkin_optin"),
    ],
)
def test_the_answers_a_changed_consent_text_asks_for_are_read_as_asked(
    rules: IntentRules, text: str, intent: str
) -> None:
    assert rules.intent_for(text) == intent


@pytest.mark.parametrize("text", ["我算了一下要多少钱", "约公证要带啥", "公证", "助浴点在哪里", "我约了啥", "取消预约"])
def test_anything_longer_or_different_is_left_to_the_classifier(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) is None


# Complaints about the answer just given, none of them a training example (training_data/complaints.yml).
COMPLAINTS = [
    "答非所问啊",
    "你说的不是我问的",
    "牛头不对马嘴",
    "这个没用啊",
    "讲的啥我听不懂",
    "你没听懂我的话",
    "乱讲！",
    "看不懂",
    "侬讲的啥物事",
    "哎呀你刚才讲的完全不对",
    "乱讲，看不懂",
    "你答的驴唇不对马嘴",
    "说了半天一点用都没有",
    "根本不是我想问的",
    "你在说什么呀",
    "这答案跟我问的不一样",
    "讲了也等于没讲",
    "瞎说八道",
    "什么乱七八糟的",
    "我想问的不是这个",
    "你没明白我的意思",
    "看得我一头雾水",
    "伊讲的勿对",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_a_complaint_about_the_answer_is_deny_whatever_the_classifier_said(rules: IntentRules, text: str) -> None:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": "stop", "confidence": 0.75})  # what the classifier said to "答非所问"
    message.set(INTENT_RANKING_KEY, [{"name": "stop", "confidence": 0.75}])
    rules.process([message])
    assert message.get(INTENT) == {"name": "deny", "confidence": 1.0}


@pytest.mark.parametrize(
    "text",
    [
        "不对，是下午",  # a correction: the classifier's (deny with an entity)
        "没关系",
        "不行",
        "不用了",
        "我搞错了",  # the senior's own slip
        "你说的对",
        "没错",
        "不错",
        "长护险没用完怎么办",
        "听不懂上海话的护工有吗",
        "看不懂药品说明书怎么办",
        "说话说不清楚了",
        "答非所问" * 11,  # longer than any complaint
    ],
)
def test_messages_that_are_not_complaints_are_left_to_the_classifier(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) is None


@pytest.mark.parametrize("text", ["算了", "不约了", "那就算了吧", "不想约了", "以后再说"])
def test_complaint_rules_do_not_take_stopping_words(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "stop"


def test_a_bad_complaint_table_is_a_configuration_error(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    bad = tmp_path / "complaints.yml"
    bad.write_text("version: 1\nlead: 你\ncore: '(不对'\ntail: 啊\ndeclines: 不用\n", encoding="utf-8")
    with pytest.raises(IntentRulesError, match="core"):
        load_rules(root / "training_data" / "intent_rules.yml", root / "bookings" / "services.yml", bad)
    bad.write_text("version: 1\nlead: 你\n", encoding="utf-8")
    with pytest.raises(IntentRulesError, match="keys"):
        load_rules(root / "training_data" / "intent_rules.yml", root / "bookings" / "services.yml", bad)


def test_the_rule_wins_with_full_confidence_and_keeps_the_ranking(rules: IntentRules) -> None:
    message = Message(data={TEXT: "算了"})
    message.set(INTENT, {"name": "inform", "confidence": 0.7})
    message.set(INTENT_RANKING_KEY, [{"name": "inform", "confidence": 0.7}, {"name": "stop", "confidence": 0.2}])
    rules.process([message])
    assert message.get(INTENT) == {"name": "stop", "confidence": 1.0}
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == ["stop", "inform"]


def test_a_bad_table_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yml"
    bad.write_text("version: 1\nrules: {}\n", encoding="utf-8")
    with pytest.raises(IntentRulesError, match="intents"):
        load_rules(bad, Path(__file__).resolve().parents[2] / "bookings" / "services.yml")


@pytest.mark.parametrize("text", ["叫个人来", "找个人来", "喊个人来吧", "请个人来", "帮我叫个人来", "找个人"])
def test_asking_for_a_person_is_never_a_booking(rules: IntentRules, text: str) -> None:
    # "叫个人来" is a handoff trigger (request_human, the classifier's); only a service said makes it a booking.
    assert rules.intent_for(text) != "book_service"


@pytest.mark.parametrize("text", ["叫个人来洗澡", "喊个人来帮我洗澡", "叫个护工来", "找个护理员上门"])
def test_someone_sent_for_a_service_is_a_booking(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "book_service"


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("要铜钿伐", "greet"),
        ("啥人可以", "request_human"),
        ("啥人可以", "affirm"),  # asks who: no yes
        ("哪些人可以办", "affirm"),
        ("那养老顾问呢", "greet"),
        ("要前伐", "reschedule_booking"),
    ],
)
def test_a_follow_up_the_classifier_misread_is_ask_followup(text: str, classified: str) -> None:
    assert misread_followup(text, classified)


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("改个时间", "reschedule_booking"),  # a booking word: the classifier was right
        ("有我的预约伐", "check_bookings"),
        ("你住在哪里", "chitchat"),  # about the assistant
        ("今朝是礼拜几", "chitchat"),
        ("下午几点都行", "inform"),  # a form may be waiting for it
        ("3", "choose"),
        ("侬好", "greet"),
        ("可以", "affirm"),  # a plain yes, which a form may be waiting for
        ("可以的伐", "affirm"),
    ],
)
def test_what_is_not_a_misread_follow_up_keeps_its_intent(text: str, classified: str) -> None:
    assert not misread_followup(text, classified)


def test_a_misread_follow_up_becomes_ask_followup_in_the_pipeline(rules: IntentRules) -> None:
    message = Message(data={TEXT: "要铜钿伐"})
    message.set(INTENT, {"name": "greet", "confidence": 0.68})
    message.set(INTENT_RANKING_KEY, [{"name": "greet", "confidence": 0.68}])
    rules.process([message])
    assert message.get(INTENT) == {"name": "ask_followup", "confidence": 1.0}


# -- a topic named without the verb its intent needs is a question (issue 10) ---------------------------------


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("大场日间照料中心", "book_service"),
        ("老年日托 是做啥的", "book_service"),
        ("家里适老化改造", "cancel_booking"),
        ("护士上门换药", "reschedule_booking"),
        ("社区食堂", "greet"),
        ("老伙伴卡", "family_link"),
        ("长护险", "chitchat"),
    ],
)
def test_a_topic_named_without_the_intents_verb_is_a_question(rules: IntentRules, text: str, classified: str) -> None:
    ranking = [{"name": classified, "confidence": 0.6}, {"name": "ask_legal", "confidence": 0.2}]
    assert rules.intent_for(text, classified, ranking) == "ask_legal"  # the likeliest question intent ranked
    assert rules.intent_for(text, classified) == "ask_care_service"  # none ranked


@pytest.mark.parametrize(
    ("text", "classified"), [("弄好了伐", "stop"), ("要几个见证人伐", "request_human"), ("啥人会来", "goodbye")]
)
def test_a_question_without_the_intents_words_is_a_follow_up(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) == "ask_followup"


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("我要助浴", "book_service"),  # a want, not a question: books
        ("帮我约日托", "book_service"),
        ("上门护理取消掉", "cancel_booking"),
        ("助浴改到后天", "reschedule_booking"),
        ("侬好 我问问长护险", "greet"),
        ("周老师", "greet"),  # a name at the contact prompt: no topic, left alone
        ("你几岁了", "chitchat"),  # small talk with no topic
        ("不要了", "stop"),
    ],
)
def test_a_message_with_its_intents_words_keeps_it(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) in (None, classified)


def test_no_training_example_is_rerouted(rules: IntentRules) -> None:
    import re

    import yaml

    root = Path(__file__).resolve().parents[2] / "training_data" / "nlu"
    moved = []
    for path in root.glob("*.yml"):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            intent = item.get("intent")
            for line in str(item.get("examples") or "").splitlines():
                example = re.sub(r"\[([^\]]*)\](?:\{[^}]*\}|\([^)]*\))", r"\1", line.strip()[2:].strip())
                got = rules.intent_for(example, intent) if example else None
                if got in ("ask_care_service", "ask_legal", "ask_insurance", "ask_followup") and got != intent:
                    moved.append((intent, example))
    assert not moved


@pytest.mark.parametrize("text", ["👍", "👌", "👍🏽", "👍 👍", "✅"])
def test_a_thumbs_up_alone_is_yes(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "deny") == "affirm"


@pytest.mark.parametrize("text", ["OK", "ok的", "好嘞", "好咧"])
def test_ok_and_haolei_are_yes(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) == "affirm"


def test_a_thumbs_up_inside_a_sentence_is_left_to_the_classifier(rules: IntentRules) -> None:
    assert rules.intent_for("👍 不对 是下午") is None


@pytest.mark.parametrize(
    "text",
    ["我妈昨天夜里走了 接下来要做点啥", "老头子上礼拜走了", "阿拉爷叔走掉了 后事哪能办", "她走了 存折里的钱哪能取"],
)
def test_a_death_said_with_zou_le_is_not_a_goodbye(rules: IntentRules, text: str) -> None:
    # The classifier may read 走了 as goodbye; a death is answered with comfort first (action_chitchat).
    assert rules.intent_for(text, "goodbye") == "chitchat"


@pytest.mark.parametrize("text", ["我走了", "好了我先走了", "那我走了 再会", "她走了我也睡了"])
def test_leaving_is_still_a_goodbye(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "goodbye") in (None, "goodbye")


@pytest.mark.parametrize(
    ("text", "classified"), [("一键通", "choose"), ("助行", "affirm"), ("一键通哪能申请", "choose")]
)
def test_a_service_name_is_not_a_choice_or_a_yes(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) in ("ask_care_service", "ask_insurance", "ask_legal", "ask_followup")


@pytest.mark.parametrize(
    ("text", "classified"), [("一", "choose"), ("就第二个", "choose"), ("行", "affirm"), ("行的", "affirm")]
)
def test_a_plain_choice_or_yes_stays(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) in (None, classified)


@pytest.mark.parametrize(
    "text", ["侬到底是真人还是电脑", "回我话的是机器人吧", "你是不是人呀", "这边是自动回的伐", "跟我讲话的是啥人"]
)
def test_who_is_answering_is_ask_identity(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "request_human") == "ask_identity"


@pytest.mark.parametrize("text", ["我要跟真人讲", "帮我转个真人", "你们有机器人上门服务吗", "转人工"])
def test_asking_for_a_person_or_a_service_is_no_identity_question(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "request_human") != "ask_identity"


@pytest.mark.parametrize(
    "text", ["字小看勿清", "眼睛老花了 字放大点", "侬讲慢一眼", "讲短点好伐", "东西太多看不过来", "可以用语音讲吗"]
)
def test_how_replies_look_is_ask_presentation(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "emergency") == "ask_presentation"


@pytest.mark.parametrize(
    "text", ["看不懂药品说明书怎么办", "养老院排队太长了", "我突然看不清了", "听不懂上海话的护工有吗"]
)
def test_presentation_words_about_something_else_are_left_alone(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "ask_care_service") != "ask_presentation"


def test_a_situation_asked_with_a_booking_word_is_no_bookings_check() -> None:
    # "我九十岁了能约伐" after a question about 助浴: whether the senior qualifies, not "您现在没有预约".
    assert misread_followup("我八十八了还能约伐", "check_bookings")
    assert not misread_followup("我约的助浴几点来", "check_bookings")


@pytest.mark.parametrize("text", ["助浴跟助餐都要约", "帮我约个上门助浴 再订个送餐"])
def test_two_services_to_book_are_a_question_the_knowledge_answer_offers_both_of(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "book_service") == "ask_care_service"


@pytest.mark.parametrize(
    ("text", "classified"),
    [("约个公证 立遗嘱", "book_service"), ("帮我约助浴 助餐在哪", "book_service"), ("助餐助浴都不约了", "stop")],
)
def test_one_service_a_question_or_a_stop_keep_their_intent(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) in (None, classified)


@pytest.mark.parametrize("text", ["电话也错了，是13912345678", "地点改成大场镇", "号码应该是13812345678"])
def test_a_value_given_at_a_form_is_no_follow_up_whatever_the_classifier_said(text: str) -> None:
    assert not misread_followup(text, "nlu_fallback")


@pytest.mark.parametrize("text", ["日间照料哪能报名", "上门助浴要怎么预约"])
def test_how_to_book_is_a_question_not_a_look_at_ones_bookings(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "check_bookings") in ("ask_care_service", "ask_legal", "ask_insurance")
    assert rules.intent_for("我约的助浴怎么取消", "check_bookings") is None


@pytest.mark.parametrize(
    "text", ["有没有人能陪我说说话", "谁来陪我聊聊天呀", "侬能陪我讲讲闲话伐", "我就想找个人说说话", "有人陪我说说话吗"]
)
def test_a_wish_for_company_is_small_talk_that_comforts_not_a_request_for_an_agent(
    rules: IntentRules, text: str
) -> None:
    assert rules.intent_for(text) == "chitchat"


@pytest.mark.parametrize("text", ["帮我转人工", "我要找工作人员", "找个人帮我办长护险"])
def test_asking_for_an_agent_is_left_alone(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text) is None


# ---- intents whose action changes something at once -------------------------------------------------------
CONSEQUENTIAL = ("family_link", "family_unlink", "delete_my_data")


def test_every_training_example_of_a_consequential_intent_carries_its_word(rules: IntentRules) -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "training_data" / "nlu" / "care.yml").read_text("utf-8"))
    examples = {
        block["intent"]: [line.removeprefix("- ").strip() for line in block["examples"].splitlines() if line.strip()]
        for block in data["nlu"]
        if block.get("intent") in CONSEQUENTIAL
    }
    assert set(examples) == set(CONSEQUENTIAL)
    for intent, texts in examples.items():
        for text in texts:
            assert rules.intent_for(text, intent) in (None, intent), (intent, text)


@pytest.mark.parametrize(
    "text",
    [
        "我想找个保姆 住家的",
        "我想找个保姆照顾我妈",
        "我女儿下个月回来看我",
        "家里老人腿脚不好 一个人在屋里",
        "阿拉囡囡在外地 想伊了",
        "我爸今年九十了身体还可以",
        "儿子子女都不在身边",
        "我想给我妈找个伴",
    ],
)
def test_a_guess_at_a_binding_without_a_binding_word_is_not_acted_on(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "family_link") == "nlu_fallback"


@pytest.mark.parametrize(
    ("text", "intent"),
    [("我不想看了", "family_unlink"), ("信息都对的", "delete_my_data"), ("我的资料你看看", "delete_my_data")],
)
def test_a_guess_at_unlinking_or_deleting_without_its_word_is_not_acted_on(
    rules: IntentRules, text: str, intent: str
) -> None:
    assert rules.intent_for(text, intent) == "nlu_fallback"


def test_a_topic_named_beside_a_guessed_binding_is_a_question(rules: IntentRules) -> None:
    ranking = [{"name": "family_link"}, {"name": "ask_insurance"}]
    assert rules.intent_for("我妈想问长护险", "family_link", ranking) == "ask_insurance"


@pytest.mark.parametrize("text", ["🙏", "🙏🙏🙏", "🙏🏻 ", "🙏！"])
def test_folded_hands_alone_are_thanks(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "nlu_fallback") == "thanks"


@pytest.mark.parametrize("text", ["再讲一遍", "侬再讲一趟好伐", "没听清楚", "重复一下", "我没听见", "再说一次"])
def test_asking_to_hear_it_again_is_a_presentation_request_not_goodbye(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "goodbye") == "ask_presentation"


# ---- issue 10, booking conversations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("要不要提前预约", "stop"),
        ("得先约好伐", "check_bookings"),
        ("去之前要先报名吗", "book_service"),
    ],
)
def test_whether_one_must_book_is_a_follow_up(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) == "ask_followup"


@pytest.mark.parametrize(("text", "classified"), [("我要预约", "book_service"), ("帮我预约一下", "book_service")])
def test_a_booking_is_no_question_of_whether_to_book(rules: IntentRules, text: str, classified: str) -> None:
    assert rules.intent_for(text, classified) != "ask_followup"


@pytest.mark.parametrize(
    ("text", "classified", "intent"),
    [
        ("帮我订助餐 一顿要几钿", "ask_care_service", "book_service"),
        ("约个日间照料试托，要带点啥", "ask_followup", "book_service"),
        ("想约助浴 另外问下助餐在哪", "ask_care_service", None),  # a question about another service
        ("助浴怎么约", "ask_care_service", None),
        ("助浴要约伐 多少钱", "ask_care_service", None),  # whether to book, and the price: two questions
    ],
)
def test_a_booking_with_its_own_question_books(rules: IntentRules, text: str, classified: str, intent: str) -> None:
    assert rules.intent_for(text, classified) == intent


# ---- issue 10, safety3: a scam warning needs a scam's words (the table's `hand_on`) ------------------------------


def _read(rules: IntentRules, text: str, ranking: list[tuple[str, float]]) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    rules.process([message])
    return message


@pytest.mark.parametrize(
    "text", ["我孙子结婚送多少红包", "今天买菜花了两百块", "老头子把工资卡交给我管了", "退休金涨了 开心"]
)
def test_money_talked_about_read_as_a_scam_goes_to_the_next_guess(rules: IntentRules, text: str) -> None:
    message = _read(rules, text, [("scam_worry", 0.48), ("chitchat", 0.4), ("out_of_scope", 0.05)])
    assert message.get(INTENT)["name"] == "chitchat"
    assert "scam_worry" not in [r["name"] for r in message.get(INTENT_RANKING_KEY)]


def test_a_next_guess_below_the_thresholds_is_the_fallback(rules: IntentRules) -> None:
    message = _read(rules, "今天买菜花了两百块", [("scam_worry", 0.65), ("chitchat", 0.15), ("out_of_scope", 0.03)])
    assert message.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    "text",
    [
        "有人叫我把钱转到安全账户",  # a story of someone asking for money or a secret
        "陌生人打电话要我的验证码",
        "短信讲我中奖了 要先交手续费",
        "自称公安局的说我涉嫌洗钱",
        "我已经转了五千了",  # money sent
        "他又打来了",
    ],
)
def test_a_scam_story_stays_a_scam(rules: IntentRules, text: str) -> None:
    assert _read(rules, text, [("scam_worry", 0.9), ("chitchat", 0.05)]).get(INTENT)["name"] == "scam_worry"


def test_a_hand_on_that_is_no_regular_expression_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yml"
    bad.write_text("version: 1\nintents: {}\nhand_on:\n  scam_worry: '(骗'\n", encoding="utf-8")
    with pytest.raises(IntentRulesError, match="hand_on"):
        IntentRules({**IntentRules.get_default_config(), "table": str(bad)})


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("临时请护工要注意啥", "ask_care_service"),  # a question naming a service's helpers is no complaint
        ("我要投诉 护工态度差", "complain_service"),
        ("送来的饭菜冰冰冷 哪能吃", "complain_service"),
        ("约好的阿姨到现在没来", "complain_service"),
    ],
)
def test_a_complaint_needs_what_was_wrong(rules: IntentRules, text: str, intent: str) -> None:
    message = _read(rules, text, [("complain_service", 0.5), ("ask_care_service", 0.45)])
    assert message.get(INTENT)["name"] == intent


@pytest.mark.parametrize("classified", ["complain_service", "ask_care_service"])
def test_a_booking_already_made_told_with_a_complaint_is_no_new_booking(rules: IntentRules, classified: str) -> None:
    assert rules.intent_for("昨天约的助浴没人来 也没人打电话", classified) is None  # the classifier's reading stays


@pytest.mark.parametrize("text", ["约个上门做饭的阿姨", "帮我预约一个修脚的", "想约个上门理发"])
def test_asked_to_book_something_the_classifier_is_unsure_of_is_a_booking(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "nlu_fallback") == "book_service"


@pytest.mark.parametrize("text", ["约个时间要多少钱", "约了以后可以改伐", "预约一下要带啥"])
def test_a_question_about_booking_is_not_turned_into_one(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "nlu_fallback") != "book_service"


@pytest.mark.parametrize("text", ["帮我约认知筛查 要多少钱", "约下礼拜的助浴 带啥东西"])
def test_a_booking_with_a_question_read_as_a_look_at_my_bookings_still_books(rules: IntentRules, text: str) -> None:
    assert rules.intent_for(text, "check_bookings") == "book_service"
