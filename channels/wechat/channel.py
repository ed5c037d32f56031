"""The WeChat Official Account input channel at ``/webhooks/wechat/webhook``.

WeChat POSTs one XML message per request, waits 5 s for the answer, then retries (3 tries in all).
Each request goes:

1. source address not blocked for failed checks (403, see :mod:`channels.limits`)
2. URL signature, constant time, timestamp window (403; counts against the address)
3. XML content type (415), UTF-8 only (400), body cap (413)
4. the signed query string not already used with another body (403: a replay)
5. parse safely (400); safe mode: ``msg_signature`` (403) and decrypt (400); plaintext only when
   allowed (403)
6. deduplicate per (OpenID, MsgId); sender rate limit (one polite slow-down per window)
7. run the bot for at most ``reply_timeout`` seconds: in time, the first piece goes back as a
   passive reply and the rest through the customer-service API; too slow, WeChat gets
   ``success`` and every piece follows through the API.

OpenIDs, message text and signed query strings are personal or replayable: logs carry only
a short hash of the OpenID, and Sanic's own logs have the query hidden.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.dedupe import Bindings, Deduplicator, make_bindings, make_deduplicator
from channels.errors import RequestRefused
from channels.guard import APOLOGY, answer_or_apologize
from channels.limits import AddressGuard, Clock, SenderThrottle, Verdict, client_address
from channels.plumbing import (
    BackgroundTasks,
    OnNewMessage,
    add_health_route,
    describe_unexpected,
    guard_content_length,
    hide_query_in_sanic_logs,
    mask,
    read_body,
)
from channels.wechat.api import CustomerServiceClient
from channels.wechat.config import WeChatConfig
from channels.wechat.crypto import WeChatCrypto, verify_signature
from channels.wechat.errors import (
    BadPayloadError,
    ContentTypeError,
    DecryptError,
    PlaintextRefusedError,
    ReplayError,
    SignatureError,
)
from channels.wechat.handlers import Ignore, Say, ToBot, plan_for
from channels.wechat.messages import Inbound, digest, parse_xml, passive_text_xml
from channels.wechat.output import CHANNEL, SENDER_PREFIX, WeChatOutputChannel
from common.ratelimit import SLOW_DOWN

logger = logging.getLogger(__name__)


SUCCESS = "success"  # WeChat's "received, do not retry, nothing to show"
XML_CONTENT_TYPES = frozenset({"text/xml", "application/xml"})
# WeChat's retries come within ~15 s; remember replies a while longer.
REPLY_MEMORY_SECONDS = 60.0
REPLY_MEMORY_MAX = 10_000
# The passive reply travels back through WeChat; later pieces wait a moment so they arrive after it.
FOLLOWUP_DELAY_SECONDS = 0.5
STOP_DRAIN_SECONDS = 10.0


class _ReplyMemory:
    """Replies to messages in flight or just answered, so WeChat's retries get the same answer.

    A future per dedupe key (which names the sender too), resolved with the reply XML (None: ``success``).
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


def _refused(status: int, reason: str) -> HTTPResponse:
    # Names the kind of refusal only: nothing of the request is echoed.
    return response.text(f"refused: {reason}", status=status)


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
        bindings: Bindings | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config
        self._crypto = (
            WeChatCrypto(config.token, config.encoding_aes_key, config.app_id) if config.encoding_aes_key else None
        )
        self._dedupe = deduplicator or make_deduplicator(CHANNEL)
        self._bindings = bindings or make_bindings(CHANNEL)
        self.client = client or CustomerServiceClient(config.app_id, config.app_secret, config.api_base)
        self._replies = _ReplyMemory()
        self.tasks = BackgroundTasks(CHANNEL)
        self.throttle = SenderThrottle(config.sender_limit, clock=clock)
        self.address_guard = AddressGuard(config.address_limit, CHANNEL, clock=clock)
        self.followup_delay = FOLLOWUP_DELAY_SECONDS

    def get_output_channel(self) -> OutputChannel:
        """For messages Rasa starts by itself (reminders, an agent's answer): straight through the API."""
        return WeChatOutputChannel(self.client, self.tasks.spawn, live=True)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for every background task (bot runs, API sends) to finish."""
        return await self.tasks.drain(timeout)

    # -------------------------------------------------------- request checks

    def _verify_url(self, request: Request) -> tuple[str, str, str]:
        """The checked (signature, timestamp, nonce)."""
        args = request.args
        signed = (args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
        verify_signature(self.config.token, *signed, window_seconds=self.config.timestamp_window)
        return signed

    @staticmethod
    def _check_content_type(request: Request) -> None:
        kind, _, params = request.headers.get("content-type", "").partition(";")
        if kind.strip().lower() not in XML_CONTENT_TYPES:
            raise ContentTypeError("content type is not text/xml or application/xml")
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip("\"'").lower() not in ("utf-8", "utf8"):
                raise BadPayloadError("the content type declares a charset other than UTF-8")

    async def _check_replay(self, signed: tuple[str, str, str], body: bytes) -> None:
        """A signed query string is good for one body only, for as long as its timestamp is accepted.

        The signature covers token, timestamp and nonce but not the body, so whoever sees one
        request's URL could send other bodies with it. The same body again is a WeChat retry (or a
        harmless replay, deduplicated further on) and passes.
        """
        signature, timestamp, nonce = signed
        valid_for = int(timestamp) + self.config.timestamp_window - time.time()
        key = digest(f"{signature}:{timestamp}:{nonce}")
        if not await self._bindings.bind(key, hashlib.sha256(body).hexdigest(), max(1.0, valid_for + 1)):
            raise ReplayError("signed query string already used with another body")

    def _open(self, request: Request, body: bytes) -> tuple[Inbound, bool]:
        """The message inside the body, and whether it came encrypted (then so must the reply)."""
        outer = parse_xml(body)
        if request.args.get("encrypt_type", "raw").lower() != "aes":
            if not self.config.plaintext_allowed:
                raise PlaintextRefusedError(
                    "plaintext message but safe mode is configured: set 消息加解密方式 to 安全模式 in the WeChat "
                    "admin page, or compatibility_mode: true while switching"
                )
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

    def _refuse(self, err: RequestRefused, address: str) -> HTTPResponse:
        if isinstance(err, SignatureError):
            # Failed checks count against the address; past the limit the refusal is logged once per
            # window, not per request. A valid signature always gets through, from any address.
            self.address_guard.failed(address)
            if self.address_guard.refuses(address):
                return _refused(403, "too many failed checks")
        logger.warning("Refused a WeChat request (%d): %s.", err.status, err)
        return _refused(err.status, type(err).__name__)

    # -------------------------------------------------------- answering

    async def _reply_once(
        self, message: Inbound, plan: ToBot | Say, on_new_message: OnNewMessage, budget: float
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
                result = await self._answer_within_limits(message, plan, on_new_message, budget)
            else:
                # Handled before: by this process longer ago, or by another replica.
                logger.info("WeChat message from %s was already handled; answering success.", mask(message.openid))
        except Exception as err:  # noqa: BLE001 - the senior gets an apology, the log says where it failed
            logger.error(
                "Answering a WeChat message from %s failed (%s); apologizing.",
                mask(message.openid),
                describe_unexpected(err),
            )
            result = passive_text_xml(message.openid, message.account, APOLOGY)
        finally:
            if not future.done():
                future.set_result(result)
        return result

    async def _answer_within_limits(
        self, message: Inbound, plan: ToBot | Say, on_new_message: OnNewMessage, budget: float
    ) -> str | None:
        verdict = self.throttle.check(CHANNEL, message.openid)
        if verdict is Verdict.ALLOW:
            return await self._answer(message, plan, on_new_message, budget)
        if verdict is Verdict.SLOW_DOWN:
            logger.info("WeChat sender %s is over the rate limit; asked to slow down.", mask(message.openid))
            return passive_text_xml(message.openid, message.account, SLOW_DOWN)
        logger.debug("WeChat sender %s is still over the rate limit; message dropped.", mask(message.openid))
        return None

    async def _answer(
        self, message: Inbound, plan: ToBot | Say, on_new_message: OnNewMessage, budget: float
    ) -> str | None:
        if isinstance(plan, Say):
            return passive_text_xml(message.openid, message.account, plan.text)
        output = WeChatOutputChannel(self.client, self.tasks.spawn)
        # Built here, never from the request: nothing WeChat sends can mark a payload as trusted.
        metadata: dict[str, Any] = {"channel": CHANNEL, "msg_type": message.msg_type}
        if plan.trusted:
            metadata["trusted_payload"] = True
        user_message = UserMessage(
            plan.text,
            output,
            SENDER_PREFIX + message.openid,
            input_channel=CHANNEL,
            message_id=message.message_id,
            metadata=metadata,
        )
        bot = self.tasks.spawn(_run_bot(on_new_message, user_message))
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

    def _respond(self, reply: str | None, encrypted: bool, nonce: str) -> HTTPResponse:
        if reply is None:
            return response.text(SUCCESS)
        if encrypted and self._crypto is not None:
            reply = self._crypto.encrypt_reply(reply, nonce)
        return response.text(reply, content_type="application/xml; charset=utf-8")

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        started = time.monotonic()
        address = client_address(request)
        try:
            signed = self._verify_url(request)
            self._check_content_type(request)
            body = await read_body(request, self.config.max_body_bytes)
            await self._check_replay(signed, body)
            message, encrypted = self._open(request, body)
        except RequestRefused as err:
            return self._refuse(err, address)
        plan = plan_for(message, self.config.menu)
        logger.debug("WeChat %s from %s: %s.", message.msg_type, mask(message.openid), type(plan).__name__)
        if isinstance(plan, Ignore):
            return response.text(SUCCESS)
        budget = max(0.0, self.config.reply_timeout - (time.monotonic() - started))
        reply = await self._reply_once(message, plan, on_new_message, budget)
        return self._respond(reply, encrypted, request.args.get("nonce", ""))

    # -------------------------------------------------------- routes

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)
        guard_content_length(hook)
        add_health_route(hook)
        hide_query_in_sanic_logs(f"/{self.name()}/webhook")

        @hook.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.drain(STOP_DRAIN_SECONDS)
            await self.client.close()

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            # WeChat checks the URL once, when the admin saves the server configuration.
            address = client_address(request)
            try:
                self._verify_url(request)
            except SignatureError as err:
                return self._refuse(err, address)
            echostr = request.args.get("echostr", "")
            if not echostr:
                return _refused(400, "echostr missing")
            return response.text(echostr)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except Exception as err:  # noqa: BLE001 - Sanic's own handler would log the URL: signed query, OpenID
                logger.error("A WeChat request failed unexpectedly: %s", describe_unexpected(err))
                return _refused(500, "internal error")

        return hook


async def _run_bot(on_new_message: OnNewMessage, message: UserMessage) -> None:
    await answer_or_apologize(on_new_message, message)
