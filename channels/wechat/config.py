"""The WeChat channel's settings: ``credentials.yml``'s ``channels.wechat.WeChatInput`` section plus the environment.

Keys (an unknown key is an error naming it, the file and the allowed keys):

==================  ===========================  ==============================================
key                 environment fallback         meaning
==================  ===========================  ==============================================
token               WECHAT_TOKEN                 the Token of the admin page's server settings
app_id              WECHAT_APP_ID                AppID
app_secret          WECHAT_APP_SECRET            AppSecret (customer-service API)
encoding_aes_key    WECHAT_ENCODING_AES_KEY      EncodingAESKey: set it for safe mode (安全模式)
compatibility_mode  WECHAT_COMPATIBILITY_MODE    with a key set, also accept plaintext (兼容模式);
                                                 default off: only encrypted messages are taken
api_base            WECHAT_API_BASE              default https://api.weixin.qq.com
reply_timeout                                    seconds to wait for a passive reply (< 5)
timestamp_window                                 seconds a signed request stays valid (300)
max_body_bytes                                   request body cap (64 KiB)
menu                                             menu EventKey → text or /intent payload
==================  ===========================  ==============================================

Rate limits come from ``YINLING_RATE_WECHAT_SENDER`` / ``YINLING_RATE_SENDER`` and
``YINLING_RATE_WECHAT_IP`` / ``YINLING_RATE_IP`` (``<per_minute>/<burst>``, see :mod:`channels.limits`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.config import channel_limit, check_keys, flag
from channels.limits import DEFAULT_ADDRESS_LIMIT, DEFAULT_SENDER_LIMIT
from channels.wechat.api import DEFAULT_API_BASE
from channels.wechat.crypto import DEFAULT_TIMESTAMP_WINDOW_SECONDS, decode_aes_key
from channels.wechat.errors import WeChatConfigError
from common.ratelimit import Limit

SECTION = "channels.wechat.WeChatInput"
DEFAULT_REPLY_TIMEOUT = 4.5
DEFAULT_MAX_BODY_BYTES = 64 * 1024

ENV_VARS = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "compatibility_mode": "WECHAT_COMPATIBILITY_MODE",
    "api_base": "WECHAT_API_BASE",
}
KEYS = frozenset({*ENV_VARS, "reply_timeout", "timestamp_window", "max_body_bytes", "menu"})


@dataclass(frozen=True)
class WeChatConfig:
    """Validated settings. Secrets are kept out of ``repr``."""

    token: str = field(repr=False)
    app_id: str
    app_secret: str = field(repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)
    compatibility_mode: bool = False
    api_base: str = DEFAULT_API_BASE
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT
    timestamp_window: float = DEFAULT_TIMESTAMP_WINDOW_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    menu: Mapping[str, str] = field(default_factory=dict)
    sender_limit: Limit = DEFAULT_SENDER_LIMIT
    address_limit: Limit = DEFAULT_ADDRESS_LIMIT

    @property
    def safe_mode(self) -> bool:
        return self.encoding_aes_key is not None

    @property
    def plaintext_allowed(self) -> bool:
        """Plaintext messages are taken without a key (明文模式), or with one in compatibility mode only."""
        return not self.safe_mode or self.compatibility_mode

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any] | None,
        environ: Mapping[str, str] | None = None,
        source: str | None = None,
    ) -> WeChatConfig:
        """Read the section; the secrets may come from the environment. ``source`` names the file in errors."""
        given = dict(credentials or {})
        check_keys(given, KEYS, SECTION, source, WeChatConfigError)
        env = os.environ if environ is None else environ

        def setting(key: str) -> str:
            value = given.get(key)
            if value in (None, "") and key in ENV_VARS:
                value = env.get(ENV_VARS[key], "")
            return str(value if value is not None else "").strip()

        missing = [k for k in ("token", "app_id", "app_secret") if not setting(k)]
        if missing:
            hints = ", ".join(f"{k} (or the environment variable {ENV_VARS[k]})" for k in missing)
            raise WeChatConfigError(
                f"The WeChat channel needs {hints}: set {'it' if len(missing) == 1 else 'them'} under "
                f"{SECTION} in credentials.yml with the values from the WeChat admin page (设置与开发 → 基本配置)."
            )
        aes_key = setting("encoding_aes_key") or None
        if aes_key is not None:
            decode_aes_key(aes_key)  # refuse a mistyped key at start, not at the first message
        compatibility = flag(
            given.get("compatibility_mode", env.get(ENV_VARS["compatibility_mode"])),
            "WeChat compatibility_mode (WECHAT_COMPATIBILITY_MODE)",
            WeChatConfigError,
        )
        api_base = setting("api_base") or DEFAULT_API_BASE
        if not api_base.startswith(("https://", "http://")):
            raise WeChatConfigError(
                f"WeChat api_base (WECHAT_API_BASE) must be an http(s) URL such as {DEFAULT_API_BASE}"
            )
        return cls(
            token=setting("token"),
            app_id=setting("app_id"),
            app_secret=setting("app_secret"),
            encoding_aes_key=aes_key,
            compatibility_mode=compatibility,
            api_base=api_base,
            # Under WeChat's 5 s, or WeChat has given up before the passive reply is sent.
            reply_timeout=_number(given, "reply_timeout", DEFAULT_REPLY_TIMEOUT, low=0.0, high=5.0),
            timestamp_window=_number(given, "timestamp_window", DEFAULT_TIMESTAMP_WINDOW_SECONDS, low=1.0),
            max_body_bytes=int(_number(given, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, low=1024)),
            menu=_menu(given.get("menu")),
            sender_limit=channel_limit("wechat", "sender", DEFAULT_SENDER_LIMIT, env, WeChatConfigError),
            address_limit=channel_limit("wechat", "ip", DEFAULT_ADDRESS_LIMIT, env, WeChatConfigError),
        )


def _number(given: Mapping[str, Any], key: str, default: float, low: float, high: float | None = None) -> float:
    raw = given.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as err:
        raise WeChatConfigError(f"WeChat channel: {key} must be a number, got {raw!r}") from err
    if value <= low or (high is not None and value >= high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"above {low:g}"
        raise WeChatConfigError(f"WeChat channel: {key} must be {bounds}, got {value:g}")
    return value


def _menu(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        raise WeChatConfigError(
            "WeChat channel: menu must map each menu EventKey to a text or an /intent payload, "
            "e.g. menu: {BOOK: /book_service, HOTLINE: 人工服务}"
        )
    return {str(k): v.strip() for k, v in raw.items()}
