"""WeChat Official Account (公众号) channel for Rasa, at ``/webhooks/wechat/webhook``.

One job per module:

- :mod:`~channels.wechat.channel`: the input channel (``WeChatInput``), the order of checks per request
- :mod:`~channels.wechat.config`: the ``credentials.yml`` section and environment variables
- :mod:`~channels.wechat.messages`: XML in (safely, UTF-8 only) and passive replies out
- :mod:`~channels.wechat.handlers`: the ``@on_message`` / ``@on_event`` registry of what to do per type
- :mod:`~channels.wechat.crypto`: signatures and safe-mode AES
- :mod:`~channels.wechat.output`, :mod:`~channels.wechat.api`: replies through the customer-service API
- :mod:`~channels.wechat.errors`: the exception tree

``credentials.yml`` and ``scripts/stack.py`` name the channel ``channels.wechat.WeChatInput``.
"""

from __future__ import annotations

from channels.wechat.channel import SUCCESS, WeChatInput
from channels.wechat.config import WeChatConfig
from channels.wechat.errors import WeChatConfigError, WeChatError
from channels.wechat.handlers import (
    EMPTY_TEXT,
    GREET_PAYLOAD,
    UNSUPPORTED_TYPE,
    VOICE_NOT_UNDERSTOOD,
    on_event,
    on_message,
)
from channels.wechat.output import WeChatOutputChannel

__all__ = [
    "EMPTY_TEXT",
    "GREET_PAYLOAD",
    "SUCCESS",
    "UNSUPPORTED_TYPE",
    "VOICE_NOT_UNDERSTOOD",
    "WeChatConfig",
    "WeChatConfigError",
    "WeChatError",
    "WeChatInput",
    "WeChatOutputChannel",
    "on_event",
    "on_message",
]
