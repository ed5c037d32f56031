"""Issue 10, safety without gaps: the listed emergency and not-emergency phrasings through the trained NLU.

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
