"""Issue 10, safety without gaps: the listed emergency and not-emergency phrasings through the trained NLU;
grief first: sad news with a question gets one line of condolence, then the help.

The list (tests/fixtures/emergency_phrasings.yml) holds phrasings that are not in the training data. Each is
sent to the running Rasa server's ``POST /model/parse`` (the whole pipeline: normalizer, classifier,
fallback, EmergencyGuard) with the staff app's kind of token; no conversation is touched. The guard alone is
tested in tests/rasa/test_emergency_guard.py; here the classifier and the guard together must raise every
listed emergency with a first reply of its kind and no alarm for any listed mention.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml

from scripts.stack import Stack, base_env, ensure_secrets

PHRASINGS = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "fixtures" / "emergency_phrasings.yml").read_text(encoding="utf-8")
)
EMERGENCIES = [(kind, text) for kind, texts in PHRASINGS["emergencies"].items() for text in texts]
NOT_EMERGENCIES = [text for texts in PHRASINGS["not_emergencies"].values() for text in texts]
# issue 10, safety3: a danger feared or asked how to help with, by (concern, the danger's kind)
WORRIES = [
    (concern, kind, text)
    for concern, kinds in PHRASINGS["worries"].items()
    for kind, texts in kinds.items()
    for text in texts
]


@pytest.fixture(scope="module")
def parse(stack: Stack) -> Any:
    secret = ensure_secrets(stack.workdir, {**base_env(), **stack.extra_env})["YINLING_RASA_JWT_SECRET"]
    now = int(time.time())
    token = jwt.encode(
        {"user": {"username": "test", "role": "admin"}, "iat": now, "exp": now + 3600}, secret, algorithm="HS256"
    )
    client = httpx.Client(
        base_url=f"http://{stack.host}:{stack.rasa_port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )

    def _parse(text: str) -> dict[str, Any]:
        response = client.post("/model/parse", json={"text": text})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    yield _parse
    client.close()


def _kind(parsed: dict[str, Any]) -> str | None:
    return next((e["value"] for e in parsed.get("entities") or [] if e["entity"] == "emergency_kind"), None)


def test_every_listed_emergency_is_raised_with_its_kind(parse: Any) -> None:
    wrong = []
    for kind, text in EMERGENCIES:
        parsed = parse(text)
        if parsed["intent"]["name"] != "emergency" or _kind(parsed) != kind:
            wrong.append((text, kind, parsed["intent"]["name"], _kind(parsed)))
    assert not wrong, f"{len(wrong)} of {len(EMERGENCIES)} listed emergencies were misread: {wrong}"


def test_no_listed_mention_raises_the_alarm(parse: Any) -> None:
    alarms = [
        (text, _kind(parsed)) for text in NOT_EMERGENCIES if (parsed := parse(text))["intent"]["name"] == "emergency"
    ]
    assert not alarms, f"{len(alarms)} of {len(NOT_EMERGENCIES)} mentions raised the alarm: {alarms}"


# ---- grief first: sad news with a question gets one line of condolence, then the help ------------------------

GRIEF_WITH_A_QUESTION = PHRASINGS["grief"]


@pytest.mark.parametrize("text", GRIEF_WITH_A_QUESTION)
def test_sad_news_is_met_with_a_condolence(text: str) -> None:
    from actions.care import CONDOLENCE, comfort_response

    assert comfort_response(text) == CONDOLENCE


@pytest.mark.parametrize("text", ["他走了 我去关门", "我的手机没了", "饿死了 助餐几点开门"])
def test_leaving_losing_a_thing_or_hyperbole_is_not_grief(text: str) -> None:
    from actions.care import CONDOLENCE, comfort_response

    assert comfort_response(text) != CONDOLENCE


@pytest.mark.parametrize("text", GRIEF_WITH_A_QUESTION)
def test_sad_news_with_a_question_gets_the_condolence_first_then_the_help(stack: Stack, text: str) -> None:
    from tests.app.conftest import new_sender, texts

    said = texts(stack.say(new_sender(), text))
    assert len(said) >= 2 and "节哀" in said[0], said
    assert not any(word in " ".join(said[1:]) for word in ("没听明白", "取消", "帮不上忙")), said


def test_a_death_said_as_zou_le_with_what_next_is_not_a_goodbye(stack: Stack) -> None:
    from tests.app.conftest import new_sender, texts

    said = texts(stack.say(new_sender(), "我妈昨天夜里走了 接下来要做点啥"))
    assert said and "节哀" in said[0], said


# ---- issue 10, safety2: troubles below an emergency (training_data/safety.yml `concerns`) -----------------------

CONCERNS = [(kind, text) for kind, texts in PHRASINGS["concerns"].items() for text in texts]


def _concern(parsed: dict[str, Any]) -> str | None:
    return next((e["value"] for e in parsed.get("entities") or [] if e["entity"] == "concern_kind"), None)


def test_every_listed_concern_gets_its_own_reply_and_no_alarm(parse: Any) -> None:
    wrong = []
    for kind, text in CONCERNS:
        parsed = parse(text)
        intent = parsed["intent"]["name"]
        if kind == "feelings":
            ok = intent != "emergency"
        else:
            ok = intent == ("palpitations" if kind == "palpitations" else "concern") and _concern(parsed) == kind
        if not ok:
            wrong.append((text, kind, intent, _concern(parsed), _kind(parsed)))
    assert not wrong, f"{len(wrong)} of {len(CONCERNS)} listed concerns were misread: {wrong}"


def test_heart_and_feelings_get_comfort_and_one_question_and_1_is_the_120_advice(stack: Stack) -> None:
    from tests.app.conftest import new_sender, texts

    sender = new_sender()
    first = texts(stack.say(sender, "我儿子在外地 我一个人在家 晚上睡不着 心里慌"))
    assert len(first) == 1 and "【紧急】" not in first[0], first
    assert first[0].startswith("您先别着急") and "1. 身体不舒服" in first[0] and "2. 心里难受" in first[0], first
    assert "120" in first[0], first  # the sign that means 120 is said with the question
    body = " ".join(texts(stack.say(sender, "1")))
    assert "【紧急】" in body and "120" in body and "没听明白" not in body, body


def test_2_after_the_question_is_someone_to_talk_to(stack: Stack) -> None:
    from tests.app.conftest import new_sender, texts

    sender = new_sender()
    stack.say(sender, "晚上一个人睡不着 心里发慌 想囡囡")
    said = texts(stack.say(sender, "2"))
    assert len(said) == 2 and "听着" in said[0] and "12356" in said[1] and "找人工" in said[1], said
    assert "120" not in " ".join(said), said


def test_asking_for_company_after_the_question_is_never_only_nobody_online(stack: Stack) -> None:
    from tests.app.conftest import new_sender, texts

    sender = new_sender()
    stack.say(sender, "夜里一个人 心慌慌的 老伴走了以后一直这样")
    said = texts(stack.say(sender, "有没有人能陪我说说话"))
    joined = " ".join(said)
    assert said and "没有工作人员在线" not in said[0], said
    assert "12356" in joined and "找人工" in joined and "没听明白" not in joined, said


@pytest.mark.parametrize(
    ("text", "must", "must_not"),
    [
        ("阿拉屋里厢水管爆了 水漫出来了 哪能办", ("总阀", "插座"), ("119", "【紧急】")),
        ("水管爆了", ("总阀",), ("120", "【紧急】")),
        ("电梯坏了 阿拉住九楼 哪能办", ("物业", "110"), ("【紧急】",)),
        ("我今天头有点晕 量了血压一百七 要紧伐", ("120", "社区卫生服务中心", "家庭医生"), ("【紧急】", "转账")),
        ("血糖有点高 早上测了七点九", ("血糖", "家庭医生"), ("【紧急】", "转账")),
        # a question about a deadly amount: care, 120 if taken, 12356 — never "再见" (it was read as goodbye)
        ("安眠药吃多了会不会死啊", ("担心", "120", "12356"), ("【紧急】", "再见")),
        ("老鼠药吃几粒会死伐", ("担心", "120", "12356"), ("【紧急】", "再见")),
    ],
)
def test_a_trouble_below_an_emergency_gets_practical_advice_not_the_alarm(
    stack: Stack, text: str, must: tuple[str, ...], must_not: tuple[str, ...]
) -> None:
    from tests.app.conftest import new_sender, texts

    said = texts(stack.say(new_sender(), text))
    joined = " ".join(said)
    assert len(said) == 1 and all(w in joined for w in must) and not any(w in joined for w in must_not), said


# ---- issue 10, safety3: fears and how-to questions (the fixture's `worries`) --------------------------------------


def test_every_listed_fear_or_first_aid_question_gets_its_reply_and_no_alarm(parse: Any) -> None:
    wrong = []
    for concern, kind, text in WORRIES:
        parsed = parse(text)
        danger = next((e["value"] for e in parsed.get("entities") or [] if e["entity"] == "danger_kind"), None)
        if (parsed["intent"]["name"], _concern(parsed), danger) != ("concern", concern, kind):
            wrong.append((text, concern, kind, parsed["intent"]["name"], _concern(parsed), danger))
    assert not wrong, f"{len(wrong)} of {len(WORRIES)} listed worries were misread: {wrong}"


def test_no_listed_money_talk_is_a_scam_and_every_listed_complaint_is_one(parse: Any) -> None:
    scams = [t for t in PHRASINGS["not_emergencies"]["money"] if parse(t)["intent"]["name"] == "scam_worry"]
    assert not scams, f"{len(scams)} money mentions read as scam worries: {scams}"
    missed = [
        (t, parsed["intent"]["name"])
        for t in PHRASINGS["not_emergencies"]["complaints"]
        if (parsed := parse(t))["intent"]["name"] != "complain_service"
    ]
    assert not missed, f"{len(missed)} complaints about a service misread: {missed}"
