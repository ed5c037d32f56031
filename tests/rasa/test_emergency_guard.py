from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.emergency_guard import EmergencyGuard, load_table
from bot.components.normalizer import TextNormalizer
from textnorm.safety import assess_text

EMERGENCIES = [
    "我跌倒了起不来",
    "阿拉老头子摔了一跤爬不起来了",
    "胸口痛得厉害",
    "心口闷，喘不上气",
    "我透不过气来了",
    "救命啊",
    "快叫救护车",
    "我姆妈晕倒了叫不醒",
    "伊嘴歪了说不出话",
    "厨房着火了",
    "煤气泄漏了怎么办",
    "跌倒了起不來",  # traditional
]
ORDINARY = [
    "我想问问长护险哪能申请",
    "明天上午帮我约个助浴",
    "阿拉老头子想立个遗嘱要带点啥",
    "助餐点在哪里",
    "谢谢侬",
    "asdfgh",
]


@pytest.fixture(scope="module")
def pipeline() -> tuple[TextNormalizer, EmergencyGuard]:
    return TextNormalizer(TextNormalizer.get_default_config()), EmergencyGuard(EmergencyGuard.get_default_config())


def _classify(
    pipeline: tuple[TextNormalizer, EmergencyGuard],
    text: str,
    said: str = "ask_care_service",
    ranking: list[tuple[str, float]] | None = None,
) -> Message:
    """``text`` as the classifier read it (``said`` at 0.8; an alarm at 0.55 with a plausible second guess,
    ask_care_service at 0.4), then the normalizer and the guard."""
    normalizer, guard = pipeline
    if ranking is None:
        other = "emergency" if said != "emergency" else "ask_care_service"
        ranking = [(said, 0.55), (other, 0.4)] if said == "emergency" else [(said, 0.8), (other, 0.1)]
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    normalizer.process([message])
    guard.process([message])
    return message


@pytest.mark.parametrize("text", EMERGENCIES)
def test_danger_phrases_become_emergencies(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT) == {"name": "emergency", "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0]["name"] == "emergency" and [r["name"] for r in ranking].count("emergency") == 1


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_messages_are_left_alone(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == "ask_care_service"


def _kind(message: Message) -> str | None:
    return next((e["value"] for e in message.get(ENTITIES) or [] if e["entity"] == "emergency_kind"), None)


# Symptom descriptions, as people in their seventies and eighties type them, by the kind of first reply
# they need. None of these is in the training data.
BY_KIND = {
    "stroke": [
        "手脚一边发麻 说话说不清楚",
        "老头子左边手抬不起来，嘴角歪了",
        "阿拉姆妈突然讲闲话含糊不清",
        "伊脑梗又犯了",
    ],
    "chest": ["心口像石头压着一样痛", "老伴讲胸闷得不得了"],
    "fall": ["我在浴室滑了一跤爬不起来", "老太婆从床上摔下来了", "伊跌在地上动不了"],
    "choking": ["老头子吃汤团噎住了", "鱼刺卡在喉咙里下不去"],
    "bleeding": ["手割破了一直在流血", "老头子吐血了"],
    "hypoglycemia": ["伊低血糖又犯了", "手抖得厉害还出冷汗"],
    "burn": ["开水泼到脚上烫伤了", "被热油烫到了"],
    "gas": ["灶间里有股煤气味", "闻到燃气味道老重"],
    "fire": ["楼下起火了", "屋里冒烟了，好大的烟"],
    "unconscious": ["老伴昏过去了", "伊叫不醒了"],
    "breathing": ["老头子透不过气来", "喘不上气了"],
    "poisoning": ["我妈吃错药了", "伊喝了农药"],
}
NOT_EMERGENCIES = [
    "我想学点急救知识",
    "救命稻草是啥意思",
    "社区有急救培训课伐",
    "我怕跌倒，有啥防跌的办法",
    "老头子去年中风过，现在想申请长护险",
    "急救电话是多少",
    "电视里讲有人煤气中毒",
    "火车站怎么走",
    "我最近有点上火",
    "跌倒了意外险能赔吗",
]


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in BY_KIND.items() for t in texts])
def test_symptom_descriptions_are_emergencies_of_their_kind(
    pipeline: tuple[TextNormalizer, EmergencyGuard], kind: str, text: str
) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT)["name"] == "emergency"
    assert _kind(message) == kind


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_mentions_of_danger_are_not_emergencies(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == "ask_care_service"


@pytest.mark.parametrize("text", ["我想学点急救知识", "救命稻草是啥意思"])
def test_a_classifier_alarm_on_a_mention_goes_to_its_next_guess(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text, said="emergency")
    assert message.get(INTENT)["name"] == "ask_care_service"
    assert _kind(message) is None


def test_a_classifier_alarm_without_any_mention_stays_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard],
) -> None:
    message = _classify(pipeline, "头晕站不住", said="emergency")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == "general"


def test_danger_now_beside_a_mention_still_counts(pipeline: tuple[TextNormalizer, EmergencyGuard]) -> None:
    message = _classify(pipeline, "我在学急救，现在老伴胸口痛")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == "chest"


def test_fire_comes_before_an_injury(pipeline: tuple[TextNormalizer, EmergencyGuard]) -> None:
    assert _kind(_classify(pipeline, "着火了，老头子摔倒了起不来")) == "fire"


def test_a_table_with_an_unknown_key_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "safety.yml"
    bad.write_text("version: 2\nkinds:\n  fire: ['着火']\nkindz: {}\n", encoding="utf-8")
    with pytest.raises(InvalidConfigException, match="kindz"):
        load_table(bad)


# ---- the phrasing list of issue 10 (tests/fixtures/emergency_phrasings.yml), the guard alone ----------------

ROOT = Path(__file__).resolve().parents[2]
PHRASINGS = yaml.safe_load((ROOT / "tests" / "fixtures" / "emergency_phrasings.yml").read_text(encoding="utf-8"))
LISTED_EMERGENCIES = [(kind, text) for kind, texts in PHRASINGS["emergencies"].items() for text in texts]
LISTED_MENTIONS = PHRASINGS["not_emergencies"]["mentions"]
LISTED_NOT_EMERGENCIES = [text for texts in PHRASINGS["not_emergencies"].values() for text in texts]
# issue 10, safety3: a danger feared or asked how to help with, by (concern, the danger's kind)
LISTED_WORRIES = [
    (concern, kind, text)
    for concern, kinds in PHRASINGS["worries"].items()
    for kind, texts in kinds.items()
    for text in texts
]


def test_no_listed_phrasing_is_a_training_example() -> None:
    examples = set()
    for path in (ROOT / "training_data").rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("- "):
                examples.add(re.sub(r"\[([^\]]*)\][({][^)}]*[)}]", r"\1", line.strip()[2:]))
    listed = [text for _, text in LISTED_EMERGENCIES] + LISTED_NOT_EMERGENCIES + PHRASINGS["grief"]
    listed += [text for _, _, text in LISTED_WORRIES]
    assert len(listed) > 250 and not examples & set(listed)


@pytest.mark.parametrize(("kind", "text"), LISTED_EMERGENCIES)
def test_the_guard_alone_raises_every_listed_emergency_with_its_kind(
    pipeline: tuple[TextNormalizer, EmergencyGuard], kind: str, text: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency"
    assert _kind(message) == kind


def _expected_without_alarm(text: str, otherwise: str = "ask_care_service") -> str:
    """What the guard makes of a message with no danger now: a trouble below an emergency is answered as such
    (``concern``, ``palpitations``); anything else keeps the classifier's (next) guess."""
    concern = assess_text(text).concern
    if concern == "palpitations":
        return "palpitations"
    return "concern" if concern not in (None, "feelings") else otherwise


@pytest.mark.parametrize("text", LISTED_NOT_EMERGENCIES)
def test_the_guard_raises_no_alarm_for_a_listed_mention(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT)["name"] == _expected_without_alarm(text) and _kind(message) is None


@pytest.mark.parametrize("text", LISTED_MENTIONS)
def test_a_classifier_alarm_on_a_listed_mention_is_handed_on(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text, said="emergency")
    assert message.get(INTENT)["name"] == _expected_without_alarm(text) and _kind(message) is None


@pytest.mark.parametrize(
    "text",
    ["我老伴胸口痛 能叫个医生上门吗", "我想学急救，我老伴胸口痛", "心口绞痛 怎么办", "我胸口痛 吃什么药好"],
)
def test_a_question_beside_danger_now_is_still_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == "emergency"


# ---- issue 10, second round: the classes behind the misses and false alarms of 240 + 402 new phrasings -------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("伊跌在地浪 爬勿起来", "fall"),  # Shanghainese: 勿 = 不, 地浪 = 地上
        ("姆妈半爿身体动勿了", "stroke"),  # 半爿 = 半边
        ("快打幺二零", "general"),  # voice input: 幺二零 = 120
        ("我兄口痛得厉害", "chest"),  # pinyin slip: 兄口 = 胸口
        ("厨房起伙了", "fire"),  # 起伙 = 起火
    ],
)
def test_shanghainese_and_voice_input_spellings_are_read_as_mandarin(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize("said", ["ask_care_service", "emergency"])
@pytest.mark.parametrize(
    "text",
    [
        "家庭病床哪能办",  # a service: 哪能办 is "how do I apply", not "what do I do"
        "慢性病长处方",
        "心梗住院自己要付多少",  # a danger's bare name in a question
        "中风和面瘫怎么区分",
        "万一半夜心脏病发作 手边要备啥药",  # supposed: 发作 belongs to the supposition
        "报纸上讲冬天脑梗的人多",  # the news
        "我表姐脑溢血 现在在康复医院 那边好不好",  # being treated; 现在 is not "now, in danger"
        "有人说我孙子被车撞了 要我汇五万块",  # a scam story
    ],
)
def test_services_questions_about_an_illness_suppositions_and_the_news_raise_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, said: str
) -> None:
    message = _classify(pipeline, text, said=said)
    assert message.get(INTENT)["name"] == "ask_care_service" and _kind(message) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("老头子是不是中风了?", "stroke"),  # a bare name said to be happening
        ("我老伴好像中风 哪能办", "stroke"),
        ("万一他现在心脏病发作了 怎么办", "chest"),  # supposing, but 现在
        ("家里一股怪味道 像煤气 能找谁", "gas"),
        ("我跌倒了起不来 长护险的护工能来吗", "fall"),  # a service named beside danger now
    ],
)
def test_danger_now_still_counts_beside_a_question_a_name_or_a_supposition(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


def test_a_table_with_spellings_that_are_not_a_mapping_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "safety.yml"
    bad.write_text("version: 3\nspellings: ['勿']\nkinds:\n  fire: ['着火']\n", encoding="utf-8")
    with pytest.raises(InvalidConfigException, match="spellings"):
        load_table(bad)


# ---- issue 10, third round: several kinds at once, questions about danger in general ------------------------

# One phrase for each group of training_data/safety.yml's `precedence`, each alone of that group.
REPRESENTATIVE = {
    "fire": "厨房着火了",
    "gas": "一股煤气味",
    "unconscious/unresponsive": "叫不醒了",
    "suicide": "不想活了",
    "choking": "吃汤团噎住了",
    "stroke/named": "中风了",
    "chest/named": "心脏病发作了",
    "hypoglycemia/named": "低血糖了",
    "poisoning": "吃错药了",
    "stroke/face and limbs": "嘴巴歪了",
    "breathing": "喘不上气",
    "chest/pain": "胸口痛得厉害",
    "bleeding": "血止不住",
    "hypoglycemia/signs": "手抖出冷汗",
    "stroke/sudden": "说话说不清",
    "chest/signs": "心跳好快",
    "unconscious/drowsy": "人迷迷糊糊",
    "burn": "被开水烫伤了",
    "fall": "跌了一跤爬不起来",
    "trapped": "被关在电梯里出不来",
    "general": "快叫救护车",
}
PRECEDENCE = [group.name for group in load_table(ROOT / "training_data" / "safety.yml").groups]
PAIRS = [(PRECEDENCE[i], PRECEDENCE[j]) for i in range(len(PRECEDENCE)) for j in range(len(PRECEDENCE)) if i != j]


def test_every_group_of_the_precedence_has_a_representative_phrase() -> None:
    assert sorted(REPRESENTATIVE) == sorted(PRECEDENCE)


@pytest.mark.parametrize("group", PRECEDENCE)
def test_each_representative_phrase_alone_is_its_own_kind(
    pipeline: tuple[TextNormalizer, EmergencyGuard], group: str
) -> None:
    assert _kind(_classify(pipeline, REPRESENTATIVE[group], said="chitchat")) == group.split("/")[0]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_every_pair_of_kinds_gets_the_first_reply_of_the_one_listed_first(
    pipeline: tuple[TextNormalizer, EmergencyGuard], first: str, second: str
) -> None:
    """Whichever comes first in the message, the group earlier in `precedence` names the kind."""
    winner = min(first, second, key=PRECEDENCE.index).split("/")[0]
    message = _classify(pipeline, f"{REPRESENTATIVE[first]} {REPRESENTATIVE[second]}", said="chitchat")
    assert _kind(message) == winner


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # low blood sugar named, or its sweat and shaking, with slurred speech or confusion: not a stroke
        ("我低血糖了 手抖出冷汗 说话也说不清", "hypoglycemia"),
        ("老头子血糖低了 讲闲话讲勿清爽", "hypoglycemia"),
        ("糖尿病人 头昏出汗 手抖", "hypoglycemia"),
        ("出冷汗 手发抖 讲话也含含糊糊", "hypoglycemia"),
        ("血糖只有2.6 人迷迷糊糊", "hypoglycemia"),
        ("我低血糖 心跳好快", "hypoglycemia"),
        ("胰岛素打多了 浑身发抖", "hypoglycemia"),  # not poisoning: its danger is low blood sugar
        # but a face or one side gone is a stroke when nothing is named, and chest pain is the heart
        ("出冷汗 手抖 嘴巴歪了", "stroke"),
        ("胸口痛 出冷汗 手抖", "chest"),
        # one who does not respond: nothing by mouth, whatever the cause
        ("低血糖晕过去了 叫不醒", "unconscious"),
        ("中风了 叫也叫不醒", "unconscious"),
        # a fall with a stroke's signs is a stroke; a named illness with a fall is that illness
        ("跌了一跤 半边身体动不了", "stroke"),
        ("老伴低血糖 跌了一跤 爬不起来", "hypoglycemia"),
        ("心脏病发作了 喘不上气", "chest"),
        ("喝了农药 喘不上气", "poisoning"),
    ],
)
def test_a_named_condition_comes_before_another_kinds_signs(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize("said", ["ask_care_service", "emergency"])
@pytest.mark.parametrize(
    "text",
    [
        "降压药吃多了会怎么样",  # what would happen
        "安眠药吃多少会中毒",  # how much is too much
        "中风有啥前兆",  # what a danger is
        "心脏病发作一般有啥症状",
        "天然气漏了闻起来是啥味道",
        "煤气泄漏了应该怎么办啊",  # what one should do, asked of no one
        "人晕倒了是先打120还是先扶起来",
        "我有高血压 降压药吃多了会怎么样",  # the asker's own illness is no report
        "我想问一下 低血糖严重了会昏迷伐",
        "家里煤气泄漏的话先做啥",  # supposed
    ],
)
def test_a_question_about_danger_in_general_raises_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, said: str
) -> None:
    # how to help (煤气泄漏了应该怎么办啊) is answered with first-aid steps (safety3); the rest keep the classifier's
    message = _classify(pipeline, text, said=said)
    assert message.get(INTENT)["name"] == _expected_without_alarm(text) and _kind(message) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我妈把降压药吃多了 会怎么样", "poisoning"),  # someone it happens to
        ("他吃了一把安眠药 叫不醒", "unconscious"),
        ("降压药多吃了一顿 会不会有事", "poisoning"),  # how much was taken
        ("胸口好痛 会不会是心梗", "chest"),  # how it feels
        ("刚刚煤气漏了 应该怎么办", "gas"),  # now
        ("我家煤气泄漏了 应该打119还是110", "gas"),
        ("煤气味好重怎么办", "gas"),  # 怎么办 is never a question about danger in general
        ("我胸口好痛怎么办", "chest"),
    ],
)
def test_a_report_asked_as_a_question_is_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize(
    ("precedence", "complaint"),
    [
        ("[fire, gaz]", "unknown: gaz"),
        ("[fire]", "missing: gas"),
        ("[fire, gas, fire]", "listed twice: fire"),
    ],
)
def test_a_precedence_that_does_not_list_every_group_once_is_refused(
    tmp_path: Path, precedence: str, complaint: str
) -> None:
    bad = tmp_path / "safety.yml"
    bad.write_text(
        f"version: 4\nkinds:\n  fire: ['着火']\n  gas: ['煤气味']\nprecedence: {precedence}\n", encoding="utf-8"
    )
    with pytest.raises(InvalidConfigException, match=complaint):
        load_table(bad)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("伊讲话突然含糊了 右手提不起来 不是低血糖", "stroke"),  # a condition said not to be so
        ("家里没有着火 老头子跌倒了起不来", "fall"),
        ("老头子是不是中风了", "stroke"),  # 是不是 asks; it does not deny
        ("饿得心慌 头上直冒汗", "hypoglycemia"),  # other words for sweat and shaking
        ("老伴糖尿病 吃饭前打了针 现在人发飘 满头大汗", "hypoglycemia"),
        ("测了下血糖 2点8 眼前发花", "hypoglycemia"),  # a reading in the next clause
        ("老娘把农药当成酱油吃了 会不会死", "poisoning"),  # a name inside what happened is no bare name
        ("我胸口痛是不是心梗的前兆 痛了一个钟头了", "chest"),  # 前兆 asked in a report mentions nothing
        ("楼梯上滚下来 腿不能动 会不会骨折", "fall"),
    ],
)
def test_negation_other_words_for_signs_and_reports_holding_question_words(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize(
    "text",
    [
        "我一直想知道中风跟脑梗是不是一回事",  # the asker's own words
        "心绞痛发作的时候应该吃啥药",  # when it happens, to anyone
        "吃错药了一般要洗胃伐",
        "糖尿病人低血糖了吃啥最快",
        "我有糖尿病 平时出汗多",  # a habit
        "安眠药吃多了是不是会睡过去",
    ],
)
def test_general_questions_in_other_frames_raise_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == _expected_without_alarm(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("进门闻到一股煤气味道 应该哪能弄", "gas"),  # smelt now; the question in a clause of its own
        ("心口痛 出冷汗 气也喘不大上来 会不会是心梗", "chest"),  # 会不会是 worries about now
        ("老头子吃饭呛牢了 咳不出来", "choking"),  # 牢 = 住
        ("老伴刚刚把我的降压药当成维生素吃了", "poisoning"),  # someone's pills taken for something else
        ("老太婆空肚子打了胰岛素 现在冒冷汗 眼睛发直", "hypoglycemia"),  # staring eyes still respond
        ("降压药吃多了 会怎么样", "poisoning"),  # said, then asked: a report, on the safe side
    ],
)
def test_a_perception_a_worry_about_now_or_a_question_after_a_report_is_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize(
    "text",
    [
        "降压药吃多了血压会不会太低",  # 血压, an idiom of the table, does not cut the clause in two
        "胰岛素打多了会出现啥情况",
        "降压药吃重了会出啥事体",
        "噎住了海姆立克急救法是哪能做的",  # a first-aid method asked about
    ],
)
def test_questions_about_consequences_or_a_first_aid_method_raise_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == _expected_without_alarm(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("浑身是冷汗 手一直抖 饿得不得了", "hypoglycemia"),  # shaking with words between: 手一直抖
        ("我刚才把两顿的降压药一道吃了 会不会有事体", "poisoning"),  # two doses taken together
        ("老头子跌勿起来了", "fall"),
    ],
)
def test_shaking_in_other_words_two_doses_at_once_and_a_fall_in_shanghainese(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize("said", ["ask_care_service", "emergency"])
@pytest.mark.parametrize("text", ["烧伤面积多大要去医院", "血糖低于几算危险", "老人家夜里心慌出冷汗一般是啥毛病"])
def test_thresholds_and_habits_asked_about_raise_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, said: str
) -> None:
    message = _classify(pipeline, text, said=said)
    assert message.get(INTENT)["name"] == "ask_care_service" and _kind(message) is None


# ---- issue 10, safety2: troubles below an emergency, and the next guess judged by the model's thresholds --------

LISTED_CONCERNS = [(kind, text) for kind, texts in PHRASINGS["concerns"].items() for text in texts]


def _concern(message: Message) -> str | None:
    return next((e["value"] for e in message.get(ENTITIES) or [] if e["entity"] == "concern_kind"), None)


def test_the_listed_concerns_are_no_training_examples_and_cover_every_kind() -> None:
    examples = {
        re.sub(r"\[([^\]]*)\][({][^)}]*[)}]", r"\1", line.strip()[2:])
        for path in (ROOT / "training_data").rglob("*.yml")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("- ")
    }
    assert not examples & {text for _, text in LISTED_CONCERNS}
    table = load_table(ROOT / "training_data" / "safety.yml")
    assert {group.kind for group in table.concerns} <= set(PHRASINGS["concerns"])


@pytest.mark.parametrize("said", ["emergency", "scam_worry", "ask_care_service"])
@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, t in LISTED_CONCERNS if k != "feelings"])
def test_a_listed_concern_gets_its_own_reply_whatever_the_classifier_said(
    pipeline: tuple[TextNormalizer, EmergencyGuard], kind: str, text: str, said: str
) -> None:
    message = _classify(pipeline, text, said=said)
    intent = message.get(INTENT)["name"]
    assert intent == ("palpitations" if kind == "palpitations" else "concern")
    assert _concern(message) == kind and _kind(message) is None
    assert "emergency" not in [r["name"] for r in message.get(INTENT_RANKING_KEY)]


@pytest.mark.parametrize(
    ("text", "intent", "kind"),
    [
        # the messages of the issue
        ("我儿子在外地 我一个人在家 晚上睡不着 心里慌", "palpitations", "palpitations"),
        ("阿拉屋里厢水管爆了 水漫出来了 哪能办", "concern", "water"),  # 屋…爆了 is no fire
        ("水管爆了", "concern", "water"),
        ("我今天头有点晕 量了血压一百七 要紧伐", "concern", "health"),
    ],
)
def test_the_issues_false_alarms_get_the_reply_that_fits(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, intent: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="emergency", ranking=[("emergency", 0.98), ("scam_worry", 0.004)])
    assert message.get(INTENT)["name"] == intent and _concern(message) == kind and _kind(message) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("电瓶车充电爆了", "fire"),  # what burns or holds a battery still explodes into a fire
        ("插座爆了 有火花", "fire"),
        ("停电了 闻到一股焦味", "fire"),
        ("电梯卡住了 我被关在里面出不来", "trapped"),
        ("一个人在家 心慌得站不稳", "general"),  # 心慌 with a sign of the body
        ("心里慌 心跳得厉害 头晕", "chest"),
        ("水管爆了 我滑了一跤 爬不起来", "fall"),
    ],
)
def test_danger_beside_a_concerns_words_is_still_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind and _concern(message) is None


@pytest.mark.parametrize(
    "text",
    [
        "肚子痛得厉害 一直吐",  # severe: more than a worry
        "头痛越来越厉害",
        "发高烧 三十九度五 人没力气",
        "心慌 头有点晕",  # 心慌 with a complaint and no feelings
        "停电了 老伴的制氧机停了",  # a life on a machine
        "卫生间地上都是水 老头子滑倒了",  # someone hurt
    ],
)
def test_a_worry_that_may_be_more_keeps_the_classifiers_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text, said="emergency")
    assert message.get(INTENT)["name"] == "emergency" and _concern(message) is None


@pytest.mark.parametrize(
    "text",
    [
        "腰痛 能约个上门推拿伐",  # a service named: the classifier's
        "血压高 家庭医生能上门伐",
        "去年水管爆过 保险能赔伐",
        "电视里讲冬天水管容易冻裂",  # the news
        "万一停电了怎么办",  # supposed
        "下水道已经通了 谢谢侬",  # over
        "我没有头痛 就是想问问体检",
    ],
)
def test_a_concerns_words_in_a_question_about_something_else_are_left_to_the_classifier(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text)
    assert message.get(INTENT)["name"] == "ask_care_service" and _concern(message) is None


def test_feelings_alone_are_no_alarm_and_no_concern(pipeline: tuple[TextNormalizer, EmergencyGuard]) -> None:
    message = _classify(
        pipeline, "老伴走了 晚上一个人睡不着", said="emergency", ranking=[("emergency", 0.6), ("chitchat", 0.35)]
    )
    assert message.get(INTENT)["name"] == "chitchat" and _kind(message) is None and _concern(message) is None


def test_a_near_zero_next_guess_is_nlu_fallback(pipeline: tuple[TextNormalizer, EmergencyGuard]) -> None:
    """The classifier's alarm for a question that names no danger now: its next guess at 0.004 is no answer."""
    message = _classify(
        pipeline,
        "120打过去要钱伐",
        said="emergency",
        ranking=[("emergency", 0.98), ("scam_worry", 0.004), ("greet", 0.003)],
    )
    assert message.get(INTENT) == {"name": "nlu_fallback", "confidence": 0.3}
    names = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    assert names == ["nlu_fallback", "scam_worry", "greet"]


def test_the_next_guess_is_judged_with_the_thresholds_the_message_carries(
    pipeline: tuple[TextNormalizer, EmergencyGuard],
) -> None:
    from bot.components.linear_intent import FALLBACK_KEY

    normalizer, guard = pipeline
    for carried, expected in (
        ({"threshold": 0.3, "ambiguity_threshold": 0.05}, "ask_insurance"),
        ({"threshold": 0.5, "ambiguity_threshold": 0.05}, "nlu_fallback"),
    ):
        message = Message(data={TEXT: "急救车叫来要多少钱"})
        ranking = [{"name": "emergency", "confidence": 0.55}, {"name": "ask_insurance", "confidence": 0.4}]
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        message.set(FALLBACK_KEY, carried)
        normalizer.process([message])
        guard.process([message])
        assert message.get(INTENT)["name"] == expected, carried


def test_two_next_guesses_too_close_together_are_nlu_fallback(pipeline: tuple[TextNormalizer, EmergencyGuard]) -> None:
    message = _classify(
        pipeline,
        "急救车叫来要多少钱",
        said="emergency",
        ranking=[("emergency", 0.3), ("ask_insurance", 0.33), ("ask_care_service", 0.3)],
    )
    assert message.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("血压二百多 头痛得厉害", "general"),  # 200 and more with a headache: no idiom, an emergency
        ("头晕得很 量了血压两百一十", "general"),
        ("头痛得从来没这么厉害过 还吐了", "stroke"),  # the worst headache, said without 有
    ],
)
def test_the_fresh_batchs_missed_emergencies_are_raised_by_the_guard_alone(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind


@pytest.mark.parametrize("text", ["血压二百一 要紧伐", "头痛得厉害 血压高 要紧伐"])
def test_a_classifiers_alarm_for_a_health_complaint_that_is_more_than_a_worry_is_never_handed_on(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text, said="emergency", ranking=[("emergency", 0.99), ("reschedule_booking", 0.001)])
    assert message.get(INTENT)["name"] == "emergency" and _concern(message) is None


# ---- issue 10, safety3: fears and how-to questions are answered as such, danger now still alarms ---------------


def _danger(message: Message) -> str | None:
    return next((e["value"] for e in message.get(ENTITIES) or [] if e["entity"] == "danger_kind"), None)


@pytest.mark.parametrize("said", ["emergency", "chitchat", "ask_care_service"])
@pytest.mark.parametrize(("concern", "kind", "text"), LISTED_WORRIES)
def test_a_listed_fear_or_first_aid_question_gets_its_reply_and_no_alarm(
    pipeline: tuple[TextNormalizer, EmergencyGuard], concern: str, kind: str, text: str, said: str
) -> None:
    message = _classify(pipeline, text, said=said)
    assert message.get(INTENT)["name"] == "concern" and _kind(message) is None
    assert (_concern(message), _danger(message)) == (concern, kind)
    assert "emergency" not in [r["name"] for r in message.get(INTENT_RANKING_KEY)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我怕他心脏病发作了", "chest"),  # 了 right after a feared danger: it has happened
        ("我怕老伴叫不醒了", "unconscious"),
        ("我担心是心梗", "chest"),  # 担心是, 怕是 guess at now
        ("怕是煤气漏了", "gas"),
        ("万一他现在心脏病发作了 怎么办", "chest"),  # supposing, but 现在
        ("我老伴噎住了 怎么急救", "choking"),  # a how-to question about someone now
    ],
)
def test_a_fear_or_how_to_that_says_danger_now_is_still_an_emergency(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, kind: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency" and _kind(message) == kind and _danger(message) is None


@pytest.mark.parametrize(
    "text",
    [
        "我怕跌倒，有啥防跌的办法",  # a way asked for: the knowledge base's entry
        "万一摔倒了 意外险能赔吗",  # a service
        "我想学海姆立克急救法",  # a course
        "电话里讲我孙子噎住了住院 要我打钱",  # a scam story
        "我怕我会想不开",  # despair: never a danger to prepare for
    ],
)
def test_a_way_a_service_a_course_or_a_scam_is_no_worry(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text)
    assert _concern(message) not in ("fear", "first_aid") and _kind(message) is None
