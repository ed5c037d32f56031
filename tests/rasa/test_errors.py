"""Every exception class of the Rasa runtime's packages is in the project's one tree (tests/errors_contract.py)."""

from __future__ import annotations

import types

from rasa.shared.exceptions import InvalidConfigException, RasaException

from common.errors import ConfigError, Refusal, Unavailable, YinlingError
from tests.errors_contract import RASA_PACKAGES, exception_classes, import_all, tree_violations


def test_every_exception_of_the_rasa_runtime_derives_from_yinling_error() -> None:
    classes = exception_classes(import_all(RASA_PACKAGES))
    # The walk really found the trees (a walk that finds nothing would pass vacuously).
    names = {cls.__qualname__ for cls in classes}
    assert {"ChannelError", "WeChatAPIError", "InvalidToken", "LinearIntentConfigError", "IntentRulesError"} <= names
    assert tree_violations(classes) == []


def test_config_errors_stay_rasa_config_errors() -> None:
    """Rasa prints an InvalidConfigException's message instead of a traceback: the bases Rasa needs are kept."""
    from bot.components.intent_rules import IntentRulesError
    from bot.components.linear_intent import LinearIntentConfigError, LinearIntentError
    from channels.errors import ChannelConfigError
    from channels.rest import RestConfigError
    from channels.telegram import TelegramConfigError
    from channels.wechat.errors import WeChatConfigError

    for cls in (ChannelConfigError, RestConfigError, TelegramConfigError, WeChatConfigError, IntentRulesError):
        assert issubclass(cls, InvalidConfigException) and issubclass(cls, ConfigError) and issubclass(cls, ValueError)
    assert issubclass(LinearIntentConfigError, InvalidConfigException) and issubclass(
        LinearIntentConfigError, ConfigError
    )
    assert issubclass(LinearIntentError, RasaException) and issubclass(LinearIntentError, YinlingError)


def test_a_platform_that_does_not_answer_is_unavailable_and_a_refused_request_is_a_refusal() -> None:
    from channels.errors import RequestRefused
    from channels.telegram import TelegramApiError
    from channels.webchat_token import InvalidToken
    from channels.wechat.api import WeChatAPIError
    from channels.wechat.errors import SignatureError

    for cls in (TelegramApiError, WeChatAPIError):
        assert issubclass(cls, Unavailable) and not issubclass(cls, Refusal)
    for refusal in (RequestRefused, SignatureError, InvalidToken):
        assert issubclass(refusal, Refusal) and not issubclass(refusal, Unavailable)


def test_the_check_rejects_an_exception_outside_the_tree() -> None:
    module = types.ModuleType("fake_channel")
    exec(
        "from common.errors import Refusal, Unavailable\n"
        "class Stray(ValueError): pass\n"
        "class Both(Refusal, Unavailable): pass\n"
        "class Fine(Refusal): pass\n",
        module.__dict__,
    )
    problems = tree_violations(exception_classes([module]))
    assert problems == [
        "fake_channel.Both is both a Refusal and Unavailable: a caller cannot tell which to say",
        "fake_channel.Stray(ValueError) does not derive from common.errors.YinlingError",
    ]
