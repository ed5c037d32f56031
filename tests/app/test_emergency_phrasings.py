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
