"""WeChat Official Account channel at ``/webhooks/wechat/webhook``.

WeChat POSTs one XML message per request and waits 5 s for the answer; then it retries (3 tries in
all). So each request goes: verify the signature (constant time, timestamp window) → check content
type and size → parse the XML safely → decrypt in safe mode → deduplicate → run the bot for at most
``reply_timeout`` seconds. In time, the first piece of the answer goes back passively (an XML text
reply) and the rest through the customer-service API; too slow, WeChat gets ``success`` at once
and every piece follows through the customer-service API (:mod:`channels.wechat_api`).

Message types are handled by small functions registered per ``MsgType`` (and per ``Event`` for
events); a type nobody registered gets a polite "text and voice only" answer, never an error.

OpenIDs and message text are personal data: logs carry only a short hash of the OpenID.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.dedupe import Deduplicator, make_deduplicator
from channels.guard import APOLOGY, answer_or_apologize
from channels.render import render, utf8_bytes
from channels.wechat_api import DEFAULT_API_BASE, CustomerServiceClient, WeChatAPIError
from channels.wechat_crypto import (
    DEFAULT_TIMESTAMP_WINDOW_SECONDS,
    DecryptError,
    SignatureError,
    WeChatConfigError,
    WeChatCrypto,
    WeChatError,
    verify_signature,
)

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SENDER_PREFIX = "wechat:"
SUCCESS = "success"  # WeChat's "received, do not retry, nothing to show"
TEXT_LIMIT_BYTES = 2048  # passive text reply: 2048 bytes of UTF-8
DEFAULT_REPLY_TIMEOUT = 4.5
DEFAULT_MAX_BODY_BYTES = 64 * 1024
XML_CONTENT_TYPES = frozenset({"text/xml", "application/xml"})
MAX_OPENID_CHARS = 128
# WeChat's retries come within ~15 s; remember replies a while longer.
REPLY_MEMORY_SECONDS = 60.0
REPLY_MEMORY_MAX = 10_000
# The passive reply travels back through WeChat; later pieces wait a moment so they arrive after it.
FOLLOWUP_DELAY_SECONDS = 0.5

UNSUPPORTED_TYPE = "我现在只能看懂文字和语音。请您直接打字，或者按住“按住 说话”，用语音告诉我您想问什么。"
VOICE_NOT_UNDERSTOOD = "抱歉，这段语音我没听清楚。请您再说一遍，或者直接打字告诉我。"
EMPTY_TEXT = "我没有收到文字。请您直接打字，或者用语音告诉我您想问什么。"
GREET_PAYLOAD = "/greet"

ENV_VARS = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "api_base": "WECHAT_API_BASE",
}


# ---------------------------------------------------------------- errors of a single request


class BadPayloadError(WeChatError):
    """The body is not a WeChat message: malformed XML, a DTD or entities, missing fields."""


class BodyTooLargeError(WeChatError):
    """The body is larger than ``max_body_bytes``."""


class ContentTypeError(WeChatError):
    """The body is not declared as XML."""


# Most specific first: the status each request error answers with.
_HTTP_STATUS: tuple[tuple[type[WeChatError], int], ...] = (
    (SignatureError, 403),
    (BodyTooLargeError, 413),
    (ContentTypeError, 415),
    (DecryptError, 400),
    (BadPayloadError, 400),
)


def _status_for(err: WeChatError) -> int:
    return next((status for kind, status in _HTTP_STATUS if isinstance(err, kind)), 400)


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class WeChatConfig:
    token: str
    app_id: str
    app_secret: str
    encoding_aes_key: str | None = None
    api_base: str = DEFAULT_API_BASE
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT
    timestamp_window: float = DEFAULT_TIMESTAMP_WINDOW_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    menu: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
    ) -> WeChatConfig:
        """Read ``credentials.yml``'s WeChat section; the five secrets may come from the environment."""
        given = dict(credentials or {})
        env = os.environ if environ is None else environ

        def setting(key: str) -> str:
            value = given.get(key)
            if value in (None, "") and key in ENV_VARS:
                value = env.get(ENV_VARS[key], "")
            return str(value or "").strip()

        missing = [k for k in ("token", "app_id", "app_secret") if not setting(k)]
        if missing:
            hints = ", ".join(f"{k} (or the environment variable {ENV_VARS[k]})" for k in missing)
            raise WeChatConfigError(
                f"The WeChat channel needs {hints}: set {'it' if len(missing) == 1 else 'them'} under "
                "channels.wechat.WeChatInput in credentials.yml "
                "with the values from the WeChat admin page (设置与开发 → 基本配置)."
            )
        return cls(
            token=setting("token"),
            app_id=setting("app_id"),
            app_secret=setting("app_secret"),
            encoding_aes_key=setting("encoding_aes_key") or None,
            api_base=setting("api_base") or DEFAULT_API_BASE,
            reply_timeout=_number(given, "reply_timeout", DEFAULT_REPLY_TIMEOUT, low=0.0, high=5.0),
            timestamp_window=_number(given, "timestamp_window", DEFAULT_TIMESTAMP_WINDOW_SECONDS, low=1.0),
            max_body_bytes=int(_number(given, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, low=1024)),
            menu=_menu(given.get("menu")),
        )


def _number(given: Mapping[str, Any], key: str, default: float, low: float, high: float | None = None) -> float:
    raw = given.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as err:
        raise WeChatConfigError(f"WeChat channel: {key} must be a number, got {raw!r}") from err
    # reply_timeout must stay under WeChat's 5 s, or WeChat has given up before we answer.
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


# ---------------------------------------------------------------- parsing


def parse_xml(body: bytes) -> dict[str, str]:
    """Top-level ``<xml>`` children as tag → text. DTDs and entities are refused (billion laughs, XXE)."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as err:
        raise BadPayloadError(f"body is not acceptable XML ({type(err).__name__})") from err
    if root.tag != "xml":
        raise BadPayloadError("root element is not <xml>")
    return {child.tag: child.text or "" for child in root}


@dataclass(frozen=True)
class Inbound:
    """One message or event from WeChat, already decrypted."""

    fields: Mapping[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Inbound:
        openid = fields.get("FromUserName", "").strip()
        if not openid or len(openid) > MAX_OPENID_CHARS or not openid.isprintable():
            raise BadPayloadError("FromUserName is missing or malformed")
        if not fields.get("MsgType", "").strip():
            raise BadPayloadError("MsgType is missing")
        return cls(fields)

    def get(self, tag: str) -> str:
        return self.fields.get(tag, "")

    @property
    def openid(self) -> str:
        return self.get("FromUserName").strip()

    @property
    def account(self) -> str:
        return self.get("ToUserName").strip()

    @property
    def msg_type(self) -> str:
        return self.get("MsgType").strip().lower()

    @property
    def event(self) -> str:
        return self.get("Event").strip().lower()

    @property
    def dedupe_key(self) -> str:
        msg_id = self.get("MsgId").strip()
        if msg_id:
            return f"msg:{msg_id}"
        # Events have no MsgId; WeChat's own advice is FromUserName + CreateTime. Hashed: keys may go to Redis.
        return f"evt:{_digest(self.openid + ':' + self.get('CreateTime').strip())}"

    @property
    def message_id(self) -> str:
        """What Rasa (and booking idempotency) sees as the message id: the MsgId, stable across retries."""
        msg_id = self.get("MsgId").strip()
        return msg_id or self.dedupe_key


def _digest(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def mask(openid: str) -> str:
    """A short, stable stand-in for an OpenID in logs."""
    return _digest(openid, 10)


# ---------------------------------------------------------------- what to do with each type


@dataclass(frozen=True)
class ToBot:
    """Hand this text (or /intent payload) to Rasa."""

    text: str


@dataclass(frozen=True)
class Say:
    """Answer directly, without Rasa."""

    text: str


@dataclass(frozen=True)
class Ignore:
    """Answer ``success`` and do nothing (unsubscribe, menu links, reports)."""


Plan = ToBot | Say | Ignore
Handler = Callable[[Inbound, Mapping[str, str]], Plan]

MESSAGE_HANDLERS: dict[str, Handler] = {}
EVENT_HANDLERS: dict[str, Handler] = {}


def on_message(*msg_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        MESSAGE_HANDLERS.update({t.lower(): handler for t in msg_types})
        return handler

    return register


def on_event(*events: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        EVENT_HANDLERS.update({e.lower(): handler for e in events})
        return handler

    return register


def plan_for(message: Inbound, menu: Mapping[str, str]) -> Plan:
    handler = MESSAGE_HANDLERS.get(message.msg_type, _unsupported)
    return handler(message, menu)


def _unsupported(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return Say(UNSUPPORTED_TYPE)


on_message("image", "location", "link", "video", "shortvideo", "file")(_unsupported)


@on_message("text")
def _text(message: Inbound, menu: Mapping[str, str]) -> Plan:
    text = message.get("Content").strip()
    return ToBot(text) if text else Say(EMPTY_TEXT)


@on_message("voice")
def _voice(message: Inbound, menu: Mapping[str, str]) -> Plan:
    # WeChat's own speech recognition; empty when it heard nothing it could write down.
    text = message.get("Recognition").strip()
    return ToBot(text) if text else Say(VOICE_NOT_UNDERSTOOD)


@on_message("event")
def _event(message: Inbound, menu: Mapping[str, str]) -> Plan:
    # Events nobody registered (VIEW, SCAN, LOCATION reports, template receipts) need no answer.
    handler = EVENT_HANDLERS.get(message.event)
    return handler(message, menu) if handler else Ignore()


@on_event("subscribe")
def _subscribe(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return ToBot(GREET_PAYLOAD)


@on_event("unsubscribe")
def _unsubscribe(message: Inbound, menu: Mapping[str, str]) -> Plan:
    return Ignore()


@on_event("click")
def _menu_click(message: Inbound, menu: Mapping[str, str]) -> Plan:
    key = message.get("EventKey").strip()
    if not key:
        return Ignore()
    return ToBot(menu.get(key, key))


# ---------------------------------------------------------------- replies


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cdata(text: str) -> str:
    # Characters XML 1.0 forbids would make WeChat drop the whole reply; "]]>" would end the section.
    return _XML_INVALID.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def passive_text_xml(to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    """WeChat's passive text reply (to the user who wrote, from the account they wrote to)."""
    stamp = int(time.time()) if now is None else now
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{_cdata(to_user)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{_cdata(from_user)}]]></FromUserName>"
        f"<CreateTime>{stamp}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{_cdata(content)}]]></Content>"
        "</xml>"
    )


def openid_of(recipient_id: str) -> str:
    return recipient_id[len(SENDER_PREFIX) :] if recipient_id.startswith(SENDER_PREFIX) else recipient_id


Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class WeChatOutputChannel(OutputChannel):
    """Collects the bot's replies while a passive answer is still possible, then sends through the API.

    Buffered until the request handler decides: it takes the buffer for a passive reply, or calls
    :meth:`go_live`, after which every piece (buffered and later) goes out through the
    customer-service API, one at a time and in order.
    """

    def __init__(self, client: CustomerServiceClient, spawn: Spawn, live: bool = False) -> None:
        self._client = client
        self._spawn = spawn
        self._live = live
        self._buffer: list[tuple[str, str]] = []
        self._outbox: deque[tuple[str, str]] = deque()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def _add(self, recipient_id: str, message: dict[str, Any]) -> None:
        openid = openid_of(recipient_id)
        pieces = [(openid, p.text) for p in render([message], False, TEXT_LIMIT_BYTES, utf8_bytes) if p.text]
        if self._live:
            self._outbox.extend(pieces)
            self._start_pump()
        else:
            self._buffer.extend(pieces)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Text and buttons together, so buttons become a numbered list under their text.
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if message.get("text") or buttons:
            self._add(recipient_id, {"text": message.get("text") or "", "buttons": buttons})
        rest = {k: v for k, v in message.items() if k not in ("text", "buttons", "quick_replies")}
        if rest:
            await super().send_response(recipient_id, rest)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self._add(recipient_id, {"text": text})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self._add(recipient_id, {"text": text, "buttons": buttons})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self._add(recipient_id, {"text": image})

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        # Rasa's default prefixes "Attachment:"; a link on its own reads better for our users.
        if isinstance(attachment, str):
            self._add(recipient_id, {"text": attachment})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Custom payloads (e.g. the KB entry id) are for programs, not people: nothing is sent."""

    def take_buffer(self) -> list[str]:
        pieces, self._buffer = [text for _, text in self._buffer], []
        return pieces

    def go_live(self, later: list[tuple[str, str]] | None = None, delay: float = 0.0) -> None:
        """From now on send through the API: first ``later`` (or the buffer), then whatever comes next."""
        self._live = True
        self._outbox.extend(later if later is not None else self._buffer)
        self._buffer = []
        self._start_pump(delay)

    def _start_pump(self, delay: float = 0.0) -> None:
        # One sender at a time keeps the pieces in order; it ends when the outbox is empty.
        if self._outbox and (self._pump is None or self._pump.done()):
            self._pump = self._spawn(self._drain(delay))

    async def _drain(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        while self._outbox:
            openid, text = self._outbox.popleft()
            try:
                await self._client.send_text(openid, text)
            except WeChatAPIError as err:
                lost = len(self._outbox) + 1
                self._outbox.clear()
                logger.error(
                    "Customer-service message to %s failed (errcode %s: %s); %d piece(s) not delivered.",
                    mask(openid),
                    err.errcode,
                    err,
                    lost,
                )
                return


class _ReplyMemory:
    """Replies to messages in flight or just answered, so WeChat's retries get the same answer.

    A future per dedupe key, resolved with the reply XML (or None for ``success``).
    """

    def __init__(self, ttl_seconds: float = REPLY_MEMORY_SECONDS, max_entries: int = REPLY_MEMORY_MAX) -> None:
        self._ttl, self._max = ttl_seconds, max_entries
        self._entries: OrderedDict[str, tuple[float, asyncio.Future[str | None]]] = OrderedDict()

    def get(self, key: str) -> asyncio.Future[str | None] | None:
        entry = self._entries.get(key)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def put(self, key: str, future: asyncio.Future[str | None]) -> None:
        now = time.monotonic()
        while self._entries and (len(self._entries) >= self._max or next(iter(self._entries.values()))[0] < now):
            self._entries.popitem(last=False)
        self._entries[key] = (now + self._ttl, future)


_OPENID_IN_QUERY = re.compile(r"(?<=[?&]openid=)[^&#\s]+")


class _MaskOpenIdInAccessLog(logging.Filter):
    """Sanic's access log prints each request's full URL, and WeChat puts the OpenID in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, str) and "openid=" in request:
            record.request = _OPENID_IN_QUERY.sub(lambda m: mask(m.group(0)), request)
        return True


def _mask_openids_in_access_log() -> None:
    access = logging.getLogger("sanic.access")
    if not any(isinstance(f, _MaskOpenIdInAccessLog) for f in access.filters):
        access.addFilter(_MaskOpenIdInAccessLog())


# ---------------------------------------------------------------- the channel


class WeChatInput(InputChannel):
    """WeChat Official Account (公众号) server configuration URL: ``/webhooks/wechat/webhook``."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(WeChatConfig.from_credentials(credentials))

    def __init__(
        self,
        config: WeChatConfig,
        deduplicator: Deduplicator | None = None,
        client: CustomerServiceClient | None = None,
    ) -> None:
        self.config = config
        self._crypto = (
            WeChatCrypto(config.token, config.encoding_aes_key, config.app_id) if config.encoding_aes_key else None
        )
        self._dedupe = deduplicator or make_deduplicator(CHANNEL)
        self.client = client or CustomerServiceClient(config.app_id, config.app_secret, config.api_base)
        self._replies = _ReplyMemory()
        self._background: set[asyncio.Task[None]] = set()
        self.followup_delay = FOLLOWUP_DELAY_SECONDS

    def get_output_channel(self) -> OutputChannel:
        """For messages Rasa starts by itself (reminders, an agent's answer): straight through the API."""
        return WeChatOutputChannel(self.client, self._spawn, live=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # Keep a reference: the loop only holds weak ones, and a collected task stops halfway.
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("A WeChat background task failed.", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every background task (bot runs, API sends) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -------------------------------------------------------- request checks

    def _verify_url(self, request: Request) -> None:
        args = request.args
        verify_signature(
            self.config.token,
            args.get("signature", ""),
            args.get("timestamp", ""),
            args.get("nonce", ""),
            window_seconds=self.config.timestamp_window,
        )

    @staticmethod
    def _check_content_type(request: Request) -> None:
        declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if declared not in XML_CONTENT_TYPES:
            raise ContentTypeError("content type is not text/xml or application/xml")

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLargeError("body too large")
        if request.stream is None:
            body = request.body
        else:
            # Read in chunks and stop at the limit: a chunked 10 MB body never sits in memory.
            chunks: list[bytes] = []
            size = 0
            while (chunk := await request.stream.read()) is not None:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLargeError("body too large")
                chunks.append(chunk)
            body = b"".join(chunks)
        if len(body) > limit:
            raise BodyTooLargeError("body too large")
        return body

    def _open(self, request: Request, body: bytes) -> tuple[Inbound, bool]:
        """The message inside the body, and whether it came encrypted (then so must the reply)."""
        outer = parse_xml(body)
        if request.args.get("encrypt_type", "raw").lower() != "aes":
            return Inbound.from_fields(outer), False
        if self._crypto is None:
            logger.error("WeChat sent an encrypted message but encoding_aes_key is not configured.")
            raise DecryptError("safe mode is not configured")
        encrypted = outer.get("Encrypt", "").strip()
        if not encrypted:
            raise BadPayloadError("encrypted message without Encrypt")
        self._crypto.verify(
            request.args.get("msg_signature", ""),
            request.args.get("timestamp", ""),
            request.args.get("nonce", ""),
            encrypted,
            window_seconds=self.config.timestamp_window,
        )
        inner = parse_xml(self._crypto.decrypt(encrypted).encode("utf-8"))
        return Inbound.from_fields(inner), True

    # -------------------------------------------------------- answering

    async def _reply_once(
        self,
        message: Inbound,
        plan: ToBot | Say,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        budget: float,
    ) -> str | None:
        """The reply XML for ``message`` (None: ``success``), computed once however often WeChat asks."""
        key = message.dedupe_key
        pending = self._replies.get(key)
        if pending is not None:
            logger.info(
                "WeChat redelivered a message from %s; answering like the first delivery.", mask(message.openid)
            )
            try:
                return await asyncio.wait_for(asyncio.shield(pending), timeout=budget)
            except asyncio.TimeoutError:
                return None
        # Registered before the first await, so a concurrent duplicate in this process finds it.
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._replies.put(key, future)
        result: str | None = None
        try:
            if await self._dedupe.first_time(key):
                result = await self._answer(message, plan, on_new_message, budget)
            else:
                # Handled before: by this process longer ago, or by another replica.
                logger.info("WeChat message from %s was already handled; answering success.", mask(message.openid))
        except Exception:
            logger.exception("Answering a WeChat message from %s failed; apologizing.", mask(message.openid))
            result = passive_text_xml(message.openid, message.account, APOLOGY)
        finally:
            if not future.done():
                future.set_result(result)
        return result

    async def _answer(
        self,
        message: Inbound,
        plan: ToBot | Say,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        budget: float,
    ) -> str | None:
        if isinstance(plan, Say):
            return passive_text_xml(message.openid, message.account, plan.text)
        output = WeChatOutputChannel(self.client, self._spawn)
        user_message = UserMessage(
            plan.text,
            output,
            SENDER_PREFIX + message.openid,
            input_channel=CHANNEL,
            message_id=message.message_id,
            metadata={"channel": CHANNEL, "msg_type": message.msg_type},
        )
        bot = self._spawn(self._run_bot(on_new_message, user_message))
        answered = False
        try:
            done, _ = await asyncio.wait({bot}, timeout=budget)
            if not done:
                logger.info(
                    "Bot took longer than %.1f s for %s; answering success, the reply follows by API.",
                    budget,
                    mask(message.openid),
                )
                return None
            pieces = output.take_buffer()
            if not pieces:
                return None
            if len(pieces) > 1:
                output.go_live([(message.openid, p) for p in pieces[1:]], delay=self.followup_delay)
            answered = True
            return passive_text_xml(message.openid, message.account, pieces[0])
        finally:
            if not answered:
                # Too slow, or our request was cancelled: whatever the bot says goes by API.
                output.go_live()

    @staticmethod
    async def _run_bot(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
        await answer_or_apologize(on_new_message, message)

    def _respond(self, reply: str | None, encrypted: bool, nonce: str) -> HTTPResponse:
        if reply is None:
            return response.text(SUCCESS)
        if encrypted and self._crypto is not None:
            reply = self._crypto.encrypt_reply(reply, nonce)
        return response.text(reply, content_type="application/xml; charset=utf-8")

    # -------------------------------------------------------- routes

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)
        _mask_openids_in_access_log()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            # WeChat checks the URL once, when the admin saves the server configuration.
            try:
                self._verify_url(request)
            except SignatureError as err:
                logger.warning("Refused a WeChat URL check: %s.", err)
                return response.text("forbidden", status=403)
            echostr = request.args.get("echostr", "")
            if not echostr:
                return response.text("echostr missing", status=400)
            return response.text(echostr)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            started = time.monotonic()
            try:
                self._verify_url(request)
                self._check_content_type(request)
                body = await self._read_body(request)
                message, encrypted = self._open(request, body)
            except WeChatError as err:
                status = _status_for(err)
                logger.warning("Refused a WeChat request (%d): %s.", status, err)
                return response.text(f"refused: {type(err).__name__}", status=status)
            plan = plan_for(message, self.config.menu)
            logger.debug("WeChat %s from %s: %s.", message.msg_type, mask(message.openid), type(plan).__name__)
            if isinstance(plan, Ignore):
                return response.text(SUCCESS)
            budget = max(0.0, self.config.reply_timeout - (time.monotonic() - started))
            reply = await self._reply_once(message, plan, on_new_message, budget)
            return self._respond(reply, encrypted, request.args.get("nonce", ""))

        return hook
