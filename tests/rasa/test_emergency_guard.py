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


def _classify(pipeline: tuple[TextNormalizer, EmergencyGuard], text: str, said: str = "ask_care_service") -> Message:
    normalizer, guard = pipeline
    other = "emergency" if said != "emergency" else "ask_care_service"
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": said, "confidence": 0.8}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        [{"name": said, "confidence": 0.8}, {"name": other, "confidence": 0.1}],
        add_to_output=True,
    )
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


def test_no_listed_phrasing_is_a_training_example() -> None:
    examples = set()
    for path in (ROOT / "training_data").rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("- "):
                examples.add(re.sub(r"\[([^\]]*)\][({][^)}]*[)}]", r"\1", line.strip()[2:]))
    listed = [text for _, text in LISTED_EMERGENCIES] + LISTED_NOT_EMERGENCIES + PHRASINGS["grief"]
    assert len(listed) > 250 and not examples & set(listed)


@pytest.mark.parametrize(("kind", "text"), LISTED_EMERGENCIES)
def test_the_guard_alone_raises_every_listed_emergency_with_its_kind(
    pipeline: tuple[TextNormalizer, EmergencyGuard], kind: str, text: str
) -> None:
    message = _classify(pipeline, text, said="chitchat")
    assert message.get(INTENT)["name"] == "emergency"
    assert _kind(message) == kind


@pytest.mark.parametrize("text", LISTED_NOT_EMERGENCIES)
def test_the_guard_raises_no_alarm_for_a_listed_mention(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    assert _classify(pipeline, text).get(INTENT)["name"] == "ask_care_service"


@pytest.mark.parametrize("text", LISTED_MENTIONS)
def test_a_classifier_alarm_on_a_listed_mention_is_handed_on(
    pipeline: tuple[TextNormalizer, EmergencyGuard], text: str
) -> None:
    message = _classify(pipeline, text, said="emergency")
    assert message.get(INTENT)["name"] == "ask_care_service" and _kind(message) is None


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
