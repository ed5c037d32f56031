"""One sender per channel, chosen by the recipient's address; the worker calls them.

| address            | sender        | how                                                                 |
|--------------------|---------------|---------------------------------------------------------------------|
| ``telegram:<chat>``| ``telegram``  | Bot API ``sendMessage`` (``TELEGRAM_TOKEN``, ``TELEGRAM_API_BASE_URL``) |
| ``wechat:<openid>``| ``wechat``    | customer-service message API within 48 h of the user's last message; |
|                    |               | after that a template message (``CARE_WECHAT_TEMPLATE_ID``), else SMS |
| ``web-<hex>``      | ``webchat``   | a ``bot`` event appended to the conversation through Rasa's HTTP API: |
|                    |               | the open page polls its history every 2 s and shows it               |
| ``sms:<E.164>``    | ``sms``       | the SMS gateway (``SMS_GATEWAY_URL``, ``SMS_GATEWAY_TOKEN``)         |
| ``staff:<address>``| ``staff``     | a case at the top of the agents' queue (the staff database)          |

**WeChat's 48-hour rule.** An Official Account may send customer-service messages (客服消息) to a
user only within 48 hours of that user's last message, menu click or subscription; outside it
WeChat answers errcode 45015. Outside the window this sender uses a template message if a template
is configured (the account must have one approved; it is shown in the 服务通知 folder), otherwise
the message is sent by SMS when the person left a number, otherwise it fails with the reason
``wechat_window`` (kept in the outbox for the agents; the family alert and the agents' case do
not depend on it).

The SMS gateway adapter speaks a plain JSON protocol that most Chinese SMS aggregators offer
or a small relay can provide: ``POST SMS_GATEWAY_URL`` with ``{"to": "+86…", "text": "…"}`` and
``Authorization: Bearer SMS_GATEWAY_TOKEN``; 2xx is delivered, 429 and 5xx are retried, any other
4xx is permanent.

No sender logs a URL (tokens travel in Telegram's and WeChat's URLs), a body or an address.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import jwt

from care.errors import SendFailed
from staff.db import StaffDB
from staff.errors import StaffError
from staff.queue import Queue, channel_of

logger = logging.getLogger(__name__)

WECHAT_WINDOW = dt.timedelta(hours=48)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Outgoing:
    """One message to send; ``phone`` and ``last_inbound_at`` come from care_contacts."""

    id: int
    recipient: str
    text: str = field(repr=False)
    purpose: str = "message"
    phone: str | None = field(default=None, repr=False)
    last_inbound_at: dt.datetime | None = None
    now: dt.datetime | None = None


class Sender(Protocol):
    name: str

    def send(self, message: Outgoing) -> str:
        """Deliver or raise SendFailed; returns the name of the sender that delivered."""
        ...


def _check_http(response: httpx.Response, what: str) -> Any:
    if response.status_code == 429 or response.status_code >= 500:
        retry = response.headers.get("Retry-After")
        raise SendFailed(f"{what}_{response.status_code}", retry_after=float(retry) if retry else None)
    if response.status_code >= 400:
        raise SendFailed(f"{what}_{response.status_code}", permanent=True)
    try:
        return response.json()
    except ValueError:
        return None


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> Any:
    try:
        response = client.post(url, **kwargs)
    except httpx.HTTPError as err:
        raise SendFailed(f"{what}_{type(err).__name__}") from err
    return _check_http(response, what)


class TelegramSender:
    name = "telegram"

    def __init__(self, token: str, base_url: str = "https://api.telegram.org/bot", client: httpx.Client | None = None):
        self._token = token
        self._base = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT)

    def send(self, message: Outgoing) -> str:
        chat_id = message.recipient.removeprefix("telegram:")
        try:
            response = self._client.post(
                f"{self._base}{self._token}/sendMessage", json={"chat_id": chat_id, "text": message.text}
            )
        except httpx.HTTPError as err:
            raise SendFailed(f"telegram_{type(err).__name__}") from err
        if response.status_code == 429:
            retry_after = (response.json().get("parameters") or {}).get("retry_after")
            raise SendFailed("telegram_429", retry_after=float(retry_after) if retry_after else None)
        if response.status_code in (400, 403):
            # Blocked by the user, or a chat that does not exist: retrying cannot help.
            raise SendFailed(f"telegram_{response.status_code}", permanent=True)
        body = _check_http(response, "telegram")
        if not isinstance(body, dict) or not body.get("ok"):
            raise SendFailed("telegram_not_ok")
        return self.name


class SmsSender:
    name = "sms"

    def __init__(self, url: str, token: str, client: httpx.Client | None = None) -> None:
        self._url, self._token = url, token
        self._client = client or httpx.Client(timeout=TIMEOUT)

    def send(self, message: Outgoing) -> str:
        phone = message.recipient.removeprefix("sms:") if message.recipient.startswith("sms:") else message.phone
        if not phone:
            raise SendFailed("sms_no_number", permanent=True)
        _post(
            self._client,
            self._url,
            "sms",
            json={"to": phone, "text": message.text},
            headers={"Authorization": f"Bearer {self._token}"},
        )
        return self.name


class WeChatSender:
    """Customer-service messages inside the 48-hour window; template message or SMS outside it."""

    name = "wechat"

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base: str = "https://api.weixin.qq.com",
        template_id: str | None = None,
        sms: SmsSender | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._app_id, self._secret = app_id, app_secret
        self._base = api_base.rstrip("/")
        self._template = template_id
        self._sms = sms
        self._client = client or httpx.Client(timeout=TIMEOUT)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def _access_token(self, fresh: bool = False) -> str:
        with self._lock:
            if fresh or self._token is None or self._token[1] < time.monotonic():
                try:
                    response = self._client.get(
                        f"{self._base}/cgi-bin/token",
                        params={"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret},
                    )
                except httpx.HTTPError as err:
                    raise SendFailed(f"wechat_token_{type(err).__name__}") from err
                body = _check_http(response, "wechat_token") or {}
                if "access_token" not in body:
                    raise SendFailed(f"wechat_token_{body.get('errcode')}")
                lifetime = float(body.get("expires_in") or 7200)
                self._token = (str(body["access_token"]), time.monotonic() + lifetime - 300)
            return self._token[0]

    def _call(self, path: str, payload: dict[str, Any]) -> None:
        for fresh in (False, True):
            body = _post(
                self._client,
                f"{self._base}{path}",
                "wechat",
                params={"access_token": self._access_token(fresh)},
                content=_json_utf8(payload),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            errcode = (body or {}).get("errcode", 0)
            if errcode == 0:
                return
            if errcode in (40001, 40014, 42001) and not fresh:
                continue  # the token died early: fetch a new one once
            if errcode == 45015:
                raise SendFailed("wechat_window", permanent=True)
            raise SendFailed(f"wechat_{errcode}", permanent=errcode in (40003, 43004))
        raise SendFailed("wechat_token_rejected")

    def send(self, message: Outgoing) -> str:
        openid = message.recipient.removeprefix("wechat:")
        now = message.now or dt.datetime.now(dt.timezone.utc)
        inside = message.last_inbound_at is not None and now - message.last_inbound_at < WECHAT_WINDOW
        if inside:
            try:
                self._call(
                    "/cgi-bin/message/custom/send",
                    {"touser": openid, "msgtype": "text", "text": {"content": message.text}},
                )
                return self.name
            except SendFailed as err:
                if err.reason != "wechat_window":
                    raise
        if self._template:
            self._call(
                "/cgi-bin/message/template/send",
                {"touser": openid, "template_id": self._template, "data": {"content": {"value": message.text}}},
            )
            return "wechat_template"
        if self._sms is not None and message.phone:
            return self._sms.send(message)
        raise SendFailed("wechat_window", permanent=True)


class RasaTracker:
    """Rasa's HTTP API (``--enable-api``, JWT HS256, role admin): append events to a conversation."""

    def __init__(self, rasa_url: str, jwt_secret: str, client: httpx.Client | None = None) -> None:
        self._base = rasa_url.rstrip("/")
        self._secret = jwt_secret
        self._client = client or httpx.Client(timeout=TIMEOUT)

    def append(self, conversation: str, events: list[dict[str, Any]]) -> None:
        now = int(time.time())
        token = jwt.encode(
            {"user": {"username": "yinling-care", "role": "admin"}, "iat": now, "exp": now + 60},
            self._secret,
            algorithm="HS256",
        )
        _post(
            self._client,
            f"{self._base}/conversations/{conversation}/tracker/events",
            "rasa",
            json=events,
            headers={"Authorization": f"Bearer {token}"},
        )

    def expect_checkin_reply(self, conversation: str) -> None:
        """The senior's next message is the answer to 每日平安 (rules_care.yml routes it to action_care_answer)."""
        self.append(conversation, [{"event": "slot", "name": "care_stage", "value": "checkin_reply"}])


class WebchatSender:
    """A ``bot`` event appended to the web conversation: the open page polls its history every 2 s."""

    name = "webchat"

    def __init__(self, tracker: RasaTracker) -> None:
        self._tracker = tracker

    def send(self, message: Outgoing) -> str:
        event = {"event": "bot", "text": message.text, "timestamp": time.time(), "metadata": {"care": message.purpose}}
        self._tracker.append(message.recipient, [event])
        return self.name


class StaffCaseSender:
    """Opens (or raises to the top) a case in the agents' queue; ``text`` is the case's reason."""

    name = "staff"

    def __init__(self, database_url: str | None = None) -> None:
        self._url = database_url
        self._queue: Queue | None = None

    def send(self, message: Outgoing) -> str:
        senior = message.recipient.removeprefix("staff:")
        try:
            if self._queue is None:
                self._queue = Queue(StaffDB(self._url))
            handoff, created = self._queue.open_handoff(senior, channel_of(senior), "care")
        except StaffError as err:
            raise SendFailed(f"staff_{type(err).__name__}") from err
        logger.info("Care case: handoff %s (new=%s) at priority %s.", handoff.id, created, handoff.priority)
        return self.name


def _json_utf8(payload: dict[str, Any]) -> bytes:
    # WeChat shows \uXXXX escapes literally: send real UTF-8.
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


@dataclass
class Senders:
    """The senders configured in this process, by address prefix."""

    by_prefix: dict[str, Sender]
    tracker: RasaTracker | None = None

    def for_address(self, address: str) -> Sender | None:
        if address.startswith("web-"):
            return self.by_prefix.get("web-")
        prefix = address.split(":", 1)[0] + ":"
        return self.by_prefix.get(prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Senders:
        """Every sender whose settings are present; a channel without them is simply not served."""
        env = os.environ if env is None else env
        found: dict[str, Sender] = {"staff:": StaffCaseSender(env.get("STAFF_DATABASE_URL") or env.get("DATABASE_URL"))}
        sms: SmsSender | None = None
        if env.get("SMS_GATEWAY_URL"):
            sms = SmsSender(env["SMS_GATEWAY_URL"], env.get("SMS_GATEWAY_TOKEN", ""))
            found["sms:"] = sms
        if env.get("TELEGRAM_TOKEN"):
            base = env.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot"
            found["telegram:"] = TelegramSender(env["TELEGRAM_TOKEN"], base)
        if env.get("WECHAT_APP_ID") and env.get("WECHAT_APP_SECRET"):
            found["wechat:"] = WeChatSender(
                env["WECHAT_APP_ID"],
                env["WECHAT_APP_SECRET"],
                env.get("WECHAT_API_BASE") or "https://api.weixin.qq.com",
                template_id=env.get("CARE_WECHAT_TEMPLATE_ID") or None,
                sms=sms,
            )
        tracker: RasaTracker | None = None
        if env.get("STAFF_RASA_URL") and env.get("YINLING_RASA_JWT_SECRET"):
            tracker = RasaTracker(env["STAFF_RASA_URL"], env["YINLING_RASA_JWT_SECRET"])
            found["web-"] = WebchatSender(tracker)
        return cls(found, tracker)
