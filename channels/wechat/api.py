"""WeChat customer-service message API (客服消息), used when a reply cannot go back passively.

A passive reply must reach WeChat within 5 s and carries one message; everything that is slower,
or comes after the first piece, is sent with ``POST /cgi-bin/message/custom/send``. That needs an
``access_token`` (valid ``expires_in`` seconds, usually 7200), which is cached here and fetched
again shortly before it expires, or at once when WeChat says it is invalid or expired.

The token and the AppSecret travel in URLs, so neither the URLs nor aiohttp's errors (which
print them) are ever logged; errors are re-raised as :class:`WeChatAPIError` without them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from channels.errors import PeerUnavailable
from channels.wechat.errors import WeChatError

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
# 40001: invalid credential, 40014: invalid access_token, 42001: access_token expired.
# Each means "fetch a new token"; a token can die early when another process fetched a new one.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
REFRESH_MARGIN_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 10.0


class WeChatAPIError(WeChatError, PeerUnavailable):
    """WeChat's API refused a call (``errcode`` ≠ 0) or could not be reached (``errcode`` is None)."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class CustomerServiceClient:
    """Sends text to a user through the customer-service API, with the access token cached."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base: str = DEFAULT_API_BASE,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self._app_id, self._app_secret = app_id, app_secret
        self._api_base = api_base.rstrip("/")
        self._margin = refresh_margin_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock: asyncio.Lock | None = None
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the server's event loop (aiohttp binds a session to its loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._get_session().request(method, f"{self._api_base}{path}", **kwargs) as resp:
                if resp.status != 200:
                    raise WeChatAPIError(f"{path} answered HTTP {resp.status}")
                payload = await resp.json(content_type=None)  # WeChat labels JSON as text/plain at times
        except aiohttp.ClientError as err:
            # Not "from err": aiohttp's message would carry the URL with the token or secret in it.
            raise WeChatAPIError(f"{path} could not be reached ({type(err).__name__})") from None
        except (asyncio.TimeoutError, json.JSONDecodeError) as err:
            raise WeChatAPIError(f"{path} timed out or sent no JSON ({type(err).__name__})") from None
        if not isinstance(payload, dict):
            raise WeChatAPIError(f"{path} answered with a non-object JSON")
        return payload

    async def access_token(self, refused: str | None = None) -> str:
        """The cached token, or a fresh one; concurrent callers share one fetch.

        ``refused`` is a token WeChat just rejected: it is replaced unless another caller already did.
        """
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._token_expires_at
            if self._token is not None and fresh and self._token != refused:
                return self._token
            payload = await self._call(
                "GET",
                "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret},
            )
            token, expires_in = payload.get("access_token"), payload.get("expires_in", 7200)
            if not isinstance(token, str) or not token:
                errcode = payload.get("errcode")
                raise WeChatAPIError(
                    f"no access_token (errcode {errcode}: {payload.get('errmsg')}); check app_id, app_secret "
                    "and the IP whitelist in the WeChat admin page",
                    errcode if isinstance(errcode, int) else None,
                )
            lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 7200.0
            self._token = token
            # Refresh a margin early so a token never expires between the check and WeChat reading it.
            self._token_expires_at = time.monotonic() + max(lifetime - self._margin, lifetime / 2)
            logger.info("Fetched a WeChat access token valid for %.0f s.", lifetime)
            return token

    async def _send_once(self, token: str, body: bytes) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/cgi-bin/message/custom/send",
            params={"access_token": token},
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    async def send_text(self, openid: str, content: str) -> None:
        """Send ``content`` to ``openid``; on a stale token, refresh and retry exactly once."""
        # ensure_ascii=False: WeChat counts and shows the characters, not \\u escapes.
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False
        ).encode("utf-8")
        token = await self.access_token()
        result = await self._send_once(token, body)
        if result.get("errcode") in TOKEN_ERRCODES:
            logger.info("WeChat refused the access token (errcode %s); fetching a new one.", result.get("errcode"))
            token = await self.access_token(refused=token)
            result = await self._send_once(token, body)
        errcode = result.get("errcode", 0)
        if errcode != 0:
            # 45015: the user has not written for 48 h; 45047: too many messages in a row.
            raise WeChatAPIError(
                f"custom/send failed: errcode {errcode}: {result.get('errmsg')}",
                errcode if isinstance(errcode, int) else None,
            )
