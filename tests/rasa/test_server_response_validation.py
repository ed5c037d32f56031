"""bot.server checks action-server answers with a validator built once, exactly as Rasa's own check does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from bot.server import install_cached_response_validation

GOOD: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {
        "events": [{"event": "slot", "name": "kb_topic", "value": "ins-ltc", "timestamp": None}],
        "responses": [{"text": "长护险…", "custom": {"kb_entry": "ins-ltc"}}],
    },
    {"events": [{"event": "followup", "name": "action_handoff"}]},
]
BAD: list[dict[str, Any]] = [
    {"events": "not a list"},
    {"events": [{"no_event_key": 1}]},
    {"responses": ["a string, not an object"]},
]


@pytest.fixture
def patched() -> Iterator[Any]:
    original = RemoteAction._validate_action_result
    install_cached_response_validation(RemoteAction)
    yield RemoteAction
    RemoteAction._validate_action_result = original  # type: ignore[method-assign]


def _action() -> RemoteAction:
    return RemoteAction("action_kb_answer", None)


@pytest.mark.parametrize("answer", GOOD)
def test_valid_answers_pass_as_before(patched: Any, answer: dict[str, Any]) -> None:
    assert _action()._validate_action_result(answer) is True


@pytest.mark.parametrize("answer", BAD)
def test_invalid_answers_raise_rasas_error_as_before(patched: Any, answer: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError) as cached:
        _action()._validate_action_result(answer)
    assert "Failed to validate Action server response" in cached.value.message
    with pytest.raises(jsonschema.ValidationError) as plain:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    assert cached.value.message.startswith(plain.value.message)


def test_the_schema_itself_is_checked_once_not_per_answer(patched: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = validator_for(RemoteAction.action_response_format_spec())
    calls: list[object] = []
    original = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **kw: calls.append(s) or original(s, **kw)))
    for answer in GOOD * 3:
        _action()._validate_action_result(answer)
    assert calls == []
