"""Telegram channel on python-telegram-bot 22: webhook at ``/webhooks/telegram/webhook``.

Each webhook call goes (python-telegram-bot's own webhook handler is the model):

1. source address not blocked for failed secret checks (403, :mod:`channels.limits`)
2. the ``X-Telegram-Bot-Api-Secret-Token`` header, constant time (403; counts against the address)
3. body cap (413), then JSON nested at most :data:`MAX_JSON_DEPTH` deep (400, never a 500)
4. an update the channel can act on: a message needs a chat, a sender and string text; anything
   else is answered 200 and dropped (Telegram re-sends every non-2xx answer), with only the
   reason and the ``update_id`` logged
5. too much in progress: 503, Telegram re-sends later
6. a repeated ``update_id``: 200, nothing happens (:mod:`channels.dedupe`)
7. 200 at once; Rasa and the replies run in a background task. There the sender's rate limit
   applies: over it, one polite slow-down message per window and nothing else.

What reaches Rasa: text as typed (a ``/command`` loses its slash and bot name), so users cannot
speak in intents. Only payloads the channel itself verified are marked
``metadata["trusted_payload"] = True``: ``/start`` (the greeting) and the payload of a keyboard
button this chat was offered (tapping sends the button's *title*; the last offered buttons are
kept per chat, in memory, bounded). ``/help`` answers with a short help text; photos, stickers,
voice… get a gentle "text only for now"; edited messages and other update kinds are ignored;
only private chats are answered (personal questions do not belong in a family group).

Credentials (``credentials.yml`` key ``channels.telegram.TelegramInput``; each may instead
come from the environment; any other key is an error): ``token`` (TELEGRAM_TOKEN),
``secret_token`` (TELEGRAM_SECRET_TOKEN), ``webhook_url`` (TELEGRAM_WEBHOOK_URL; optional: when
set, the webhook is registered at startup), ``base_url`` (TELEGRAM_API_BASE_URL, default
``https://api.telegram.org/bot``). Rate limits: ``YINLING_RATE_TELEGRAM_SENDER`` /
``YINLING_RATE_SENDER`` and ``YINLING_RATE_TELEGRAM_IP`` / ``YINLING_RATE_IP``. Without a public
URL, see :mod:`channels.telegram_polling`.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import logging
import os
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from channels.config import channel_limit, check_keys
from channels.dedupe import Deduplicator, make_deduplicator
from channels.errors import BadPayload, ChannelConfigError, ChannelError, PeerUnavailable, RequestRefused
from channels.guard import answer_or_apologize
from channels.limits import (
    DEFAULT_ADDRESS_LIMIT,
    DEFAULT_SENDER_LIMIT,
    AddressGuard,
    Clock,
    SenderThrottle,
    Verdict,
    client_address,
)
from channels.plumbing import (
    BackgroundTasks,
    OnNewMessage,
    add_health_route,
    describe_unexpected,
    guard_content_length,
    loads_json,
    read_body,
    status_json,
)
from common.contacts import HOTLINE
from common.ratelimit import SLOW_DOWN, Limit
from common.render import render

logger = logging.getLogger(__name__)

ReplyMarkup = ReplyKeyboardMarkup | ReplyKeyboardRemove

CHANNEL: Final = "telegram"
SECTION: Final = "channels.telegram.TelegramInput"
SENDER_PREFIX: Final = "telegram:"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
DEFAULT_BASE_URL: Final = "https://api.telegram.org/bot"
TEXT_LIMIT: Final = 4096  # Bot API limit for sendMessage text
# An update carries at most a 4096-character message (plus a quoted one); 256 KiB is far above
# any real update and far below what would hurt the server.
MAX_BODY_BYTES: Final = 256 * 1024
# Real updates nest about ten levels (a reply to a message with a keyboard); anything deeper is not Telegram.
MAX_JSON_DEPTH: Final = 32
# Updates being processed at once; beyond this we answer 503 and Telegram re-sends later.
MAX_PENDING: Final = 1000
STOP_DRAIN_SECONDS: Final = 10.0
# Only messages are acted on; asking for nothing else saves Telegram and us the traffic.
ALLOWED_UPDATES: Final = ("message",)
# Telegram retries a flood-limited call after this many seconds at most once; longer waits are errors.
MAX_RETRY_AFTER_SECONDS: Final = 30.0

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
# "/cmd@botname rest": the name is whatever follows the slash up to a space or "@".
_COMMAND = re.compile(r"/(?P<name>[^\s@]*)(?:@\S*)?(?P<rest>.*)", re.DOTALL)

GREET_PAYLOAD: Final = "/greet"
CHOOSE_PROMPT: Final = "请选择："
KEYBOARD_PLACEHOLDER: Final = "点下面的按钮，或直接打字"
HELP_TEXT: Final = (
    "我是银龄助手。直接打字问我就行，比如：\n"
    "1. 养老服务：助餐、助浴、上门护理\n"
    "2. 法律公证：遗嘱、意定监护要带什么材料\n"
    "3. 保险：长护险、沪惠保\n"
    "4. 预约服务，查看或取消预约\n"
    "5. 想找真人帮忙，就发“找人工”\n"
    "有按钮时，点按钮也可以。发 /start 从头开始。\n"
    f"着急请拨打 {HOTLINE} 市民服务热线；有危险请马上拨打 120。"
)
TEXT_ONLY_TEXT: Final = (
    "抱歉，我现在只看得懂文字，还看不懂图片、语音和表情。"
    "请直接打字告诉我您想问什么；也可以按手机输入法上的话筒，把说的话变成文字再发给我。"
)


class TelegramChannelError(ChannelError):
    """Anything that goes wrong in the Telegram channel."""


class TelegramConfigError(TelegramChannelError, ChannelConfigError):
    """The Telegram credentials are missing or malformed; the message says what to change."""


class TelegramApiError(TelegramChannelError, PeerUnavailable):
    """A Bot API call failed (the cause is the python-telegram-bot error)."""


def _quiet_httpx() -> None:
    # httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level < logging.WARNING:
        httpx_logger.setLevel(logging.WARNING)


def _setting(credentials: Mapping[str, Any], key: str, env: str, environ: Mapping[str, str]) -> str | None:
    value = credentials.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        value = environ.get(env)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TelegramConfigError(f"Telegram '{key}' must be a string (credentials.yml or {env}).")
    return value.strip() or None


KEYS: Final = frozenset({"token", "secret_token", "webhook_url", "base_url"})


@dataclass(frozen=True)
class TelegramSettings:
    """Validated Telegram configuration. Secrets are kept out of ``repr``."""

    token: str = field(repr=False)
    secret_token: str | None = field(default=None, repr=False)
    webhook_url: str | None = None
    base_url: str = DEFAULT_BASE_URL
    sender_limit: Limit = DEFAULT_SENDER_LIMIT
    address_limit: Limit = DEFAULT_ADDRESS_LIMIT

    @classmethod
    def load(
        cls,
        credentials: Mapping[str, Any] | None,
        environ: Mapping[str, str] | None = None,
        *,
        require_secret: bool = True,
        source: str | None = None,
    ) -> TelegramSettings:
        """Read credentials, falling back to TELEGRAM_* environment variables; raise on bad values.

        ``source`` names the credentials file in errors (default: the one ``rasa run`` was given).
        """
        creds = credentials or {}
        check_keys(creds, KEYS, SECTION, source, TelegramConfigError)
        env = os.environ if environ is None else environ
        token = _setting(creds, "token", "TELEGRAM_TOKEN", env)
        if not token:
            raise TelegramConfigError(
                "Telegram needs a bot token: set 'token' under channels.telegram.TelegramInput in "
                "credentials.yml or the TELEGRAM_TOKEN environment variable (BotFather gives it to you)."
            )
        if not _TOKEN.fullmatch(token):
            raise TelegramConfigError(
                "The Telegram bot token does not look like '<digits>:<letters, digits, _ or ->'; "
                "copy it again from BotFather into 'token' or TELEGRAM_TOKEN."
            )
        secret = _setting(creds, "secret_token", "TELEGRAM_SECRET_TOKEN", env)
        if secret is None and require_secret:
            raise TelegramConfigError(
                "Telegram webhooks need 'secret_token' (or TELEGRAM_SECRET_TOKEN): 1-256 characters of "
                'A-Z a-z 0-9 _ -, e.g. the output of: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        if secret is not None and not _SECRET.fullmatch(secret):
            raise TelegramConfigError(
                "Telegram 'secret_token' (TELEGRAM_SECRET_TOKEN) must be 1-256 characters of A-Z a-z 0-9 _ - only "
                "(Telegram's rule for X-Telegram-Bot-Api-Secret-Token)."
            )
        webhook_url = _setting(creds, "webhook_url", "TELEGRAM_WEBHOOK_URL", env)
        if webhook_url is not None and not webhook_url.startswith("https://"):
            raise TelegramConfigError(
                "Telegram 'webhook_url' (TELEGRAM_WEBHOOK_URL) must be a public https:// URL ending in "
                "/webhooks/telegram/webhook; leave it empty to skip registering the webhook."
            )
        base_url = _setting(creds, "base_url", "TELEGRAM_API_BASE_URL", env) or DEFAULT_BASE_URL
        if not base_url.startswith(("https://", "http://")):
            raise TelegramConfigError(
                "Telegram 'base_url' (TELEGRAM_API_BASE_URL) must be an http(s) URL such as "
                f"{DEFAULT_BASE_URL} (the token is appended to it)."
            )
        return cls(
            token=token,
            secret_token=secret,
            webhook_url=webhook_url,
            base_url=base_url,
            sender_limit=channel_limit("telegram", "sender", DEFAULT_SENDER_LIMIT, env, TelegramConfigError),
            address_limit=channel_limit("telegram", "ip", DEFAULT_ADDRESS_LIMIT, env, TelegramConfigError),
        )

    @property
    def bot_id(self) -> str:
        """The bot's public user id (the token's first part): scopes update ids, which are per bot."""
        return self.token.split(":", 1)[0]

    def make_bot(self) -> Bot:
        _quiet_httpx()
        return Bot(self.token, base_url=self.base_url)


def sender_id(chat_id: int) -> str:
    return f"{SENDER_PREFIX}{chat_id}"


def chat_id_from_sender(recipient_id: str) -> int:
    """``telegram:<chat id>`` (or a bare chat id) → the chat id."""
    raw = recipient_id.removeprefix(SENDER_PREFIX)
    try:
        return int(raw)
    except ValueError as err:
        raise TelegramChannelError("A Telegram recipient id must look like telegram:<chat id>.") from err


def describe_error(err: BaseException) -> str:
    """Say what failed without personal data: our own messages and Telegram's descriptions carry none."""
    kind = type(err).__name__
    if isinstance(err, TelegramChannelError | TelegramError):
        text = str(err)
        return text if text.startswith(kind) else f"{kind}: {text}"
    return kind


def retry_seconds(err: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB warns that retry_after becomes a timedelta; both forms are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def update_kind(update: Update) -> str:
    """Which part of the update is filled (``message``, ``edited_message``…), for logs."""
    for kind in Update.ALL_TYPES:
        if getattr(update, kind, None) is not None:
            return kind
    return "unknown"


class OfferedButtons:
    """The reply keyboard last shown in each chat: title → payload, least recently used dropped first."""

    __slots__ = ("_by_chat", "_max_chats")

    def __init__(self, max_chats: int = 10_000) -> None:
        self._by_chat: OrderedDict[int, dict[str, str]] = OrderedDict()
        self._max_chats = max_chats

    def offer(self, chat_id: int, titles_to_payloads: dict[str, str]) -> None:
        self._by_chat[chat_id] = titles_to_payloads
        self._by_chat.move_to_end(chat_id)
        while len(self._by_chat) > self._max_chats:
            self._by_chat.popitem(last=False)

    def payload_for(self, chat_id: int, text: str) -> str | None:
        return self._by_chat.get(chat_id, {}).get(text.strip())

    def shown(self, chat_id: int) -> bool:
        return chat_id in self._by_chat

    def forget(self, chat_id: int) -> None:
        self._by_chat.pop(chat_id, None)


def _titles_to_payloads(buttons: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for button in buttons:
        title = str(button.get("title") or button.get("payload") or "").strip()
        if title and title not in mapping:
            mapping[title] = str(button.get("payload") or title)
    return mapping


class TelegramOutput(OutputChannel):
    """Sends one turn's replies to a chat. Make one per incoming update (it remembers the turn)."""

    def __init__(self, bot: Bot, keyboards: OfferedButtons, update_id: int | None = None) -> None:
        self.bot = bot
        self.keyboards = keyboards
        self.update_id = update_id  # names the turn in logs (chat ids and text must not appear there)
        # Once this turn offered buttons, later messages of the same turn must not remove them.
        self._offered_this_turn = False

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text, [])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, buttons)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        # Telegram previews a bare link; the base class would prefix an English "Image:".
        await self._send(recipient_id, image, [])

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        # Custom payloads (e.g. the KB entry id) are for programs; the base class would send raw JSON to a person.
        logger.debug("Not sending a custom payload to Telegram.")

    async def send_notice(self, recipient_id: str, text: str) -> None:
        """A canned reply (help, text only) that leaves any shown keyboard usable."""
        chat_id = chat_id_from_sender(recipient_id)
        for piece in render([{"text": text}], buttons_supported=True, limit=TEXT_LIMIT):
            await self._call(chat_id, piece.text, None)

    async def _send(self, recipient_id: str, text: str | None, buttons: list[dict[str, Any]]) -> None:
        chat_id = chat_id_from_sender(recipient_id)
        for piece in render([{"text": text or "", "buttons": buttons}], buttons_supported=True, limit=TEXT_LIMIT):
            offered = _titles_to_payloads(piece.buttons)
            markup: ReplyMarkup | None = None
            if offered:
                markup = ReplyKeyboardMarkup(
                    [[KeyboardButton(title)] for title in offered],
                    resize_keyboard=True,
                    one_time_keyboard=True,
                    input_field_placeholder=KEYBOARD_PLACEHOLDER,
                )
            elif not self._offered_this_turn and self.keyboards.shown(chat_id):
                markup = ReplyKeyboardRemove()
            await self._call(chat_id, piece.text or CHOOSE_PROMPT, markup)
            # Remember only what the user really got.
            if offered:
                self.keyboards.offer(chat_id, offered)
                self._offered_this_turn = True
            elif markup is not None:
                self.keyboards.forget(chat_id)

    async def _call(self, chat_id: int, text: str, markup: ReplyMarkup | None) -> None:
        try:
            try:
                await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
            except RetryAfter as err:
                # Flood control: Telegram did not take the message, so one retry cannot duplicate it.
                wait = retry_seconds(err)
                if wait > MAX_RETRY_AFTER_SECONDS:
                    raise
                await asyncio.sleep(wait)
                await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
        except TelegramError as err:
            # Logged here because callers up the stack (Rasa, the guard) may not re-raise it.
            logger.error("sendMessage for Telegram update %s failed: %s", self.update_id, describe_error(err))
            raise TelegramApiError(f"sendMessage failed: {describe_error(err)}") from err


@dataclass(frozen=True)
class _Command:
    name: str
    rest: str


def _parse_command(text: str) -> _Command | None:
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    return _Command(match["name"].lower(), match["rest"])


class UpdateHandler:
    """What the bot does with one Telegram update, after the webhook accepted it."""

    def __init__(
        self,
        bot: Bot,
        bot_id: str,
        deduplicator: Deduplicator,
        keyboards: OfferedButtons,
        throttle: SenderThrottle | None = None,
    ) -> None:
        self.bot = bot
        self.bot_id = bot_id
        self.deduplicator = deduplicator
        self.keyboards = keyboards
        self.throttle = throttle or SenderThrottle(DEFAULT_SENDER_LIMIT)

    async def is_new(self, update: Update) -> bool:
        """True the first time an update id is seen (update ids are per bot, hence the bot id)."""
        return await self.deduplicator.first_time(f"{self.bot_id}:{update.update_id}")

    def output(self, update_id: int | None = None) -> TelegramOutput:
        return TelegramOutput(self.bot, self.keyboards, update_id)

    async def process(self, update: Update, on_new_message: OnNewMessage) -> None:
        message = update.message
        if message is None:
            # Edited messages must not act twice; other kinds (callbacks, polls…) are not ours.
            logger.info("Ignoring Telegram update %s of kind %s.", update.update_id, update_kind(update))
            return
        if message.chat.type != "private":
            logger.info("Ignoring Telegram update %s from a %s chat.", update.update_id, message.chat.type)
            return
        chat_id = message.chat.id
        recipient = sender_id(chat_id)
        output = self.output(update.update_id)
        verdict = self.throttle.check(CHANNEL, str(chat_id))
        if verdict is not Verdict.ALLOW:
            logger.info("Telegram update %s: the chat is over the rate limit (%s).", update.update_id, verdict.value)
            if verdict is Verdict.SLOW_DOWN:
                await output.send_notice(recipient, SLOW_DOWN)
            return
        if message.text is None:
            attachment = message.effective_attachment
            logger.info(
                "Telegram update %s is not text (%s); asking for text.",
                update.update_id,
                type(attachment).__name__ if attachment is not None else "other",
            )
            await output.send_notice(recipient, TEXT_ONLY_TEXT)
            return
        to_rasa = self._text_for_rasa(chat_id, message.text)
        if to_rasa is None:
            logger.info("Telegram update %s asked for help.", update.update_id)
            await output.send_notice(recipient, HELP_TEXT)
            return
        text, trusted = to_rasa
        # Built here, never from the update: nothing a client sends can mark a payload as trusted.
        metadata: dict[str, Any] = {"channel": CHANNEL}
        if trusted:
            metadata["trusted_payload"] = True
        await answer_or_apologize(
            on_new_message,
            UserMessage(
                text,
                output,
                recipient,
                input_channel=CHANNEL,
                message_id=str(update.update_id),
                metadata=metadata,
            ),
        )

    def _text_for_rasa(self, chat_id: int, text: str) -> tuple[str, bool] | None:
        """What to send Rasa for this text and whether the channel vouches for it; None: the help text."""
        payload = self.keyboards.payload_for(chat_id, text)
        if payload is not None:
            return payload, True  # a button this chat was offered
        command = _parse_command(text)
        if command is None:
            return text, False
        if command.name == "start":
            return GREET_PAYLOAD, True
        without_slash = f"{command.name}{command.rest}".strip()
        if command.name == "help" or not without_slash:
            return None
        return without_slash, False


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def unusable_reason(data: Mapping[str, Any]) -> str | None:
    """Why a well-formed update cannot be acted on (None: it can). Only ``message`` is acted on."""
    message = data.get("message")
    if not isinstance(message, Mapping):
        return None  # another kind of update: ignored later (an unparseable one was refused before)
    chat = message.get("chat")
    if not isinstance(chat, Mapping) or not _is_id(chat.get("id")) or not isinstance(chat.get("type"), str):
        return "message without a chat"
    sender = message.get("from")
    if not isinstance(sender, Mapping) or not _is_id(sender.get("id")):
        return "message without a sender"
    if "text" in message and not isinstance(message["text"], str):
        return "message text is not a string"
    return None


def parse_update(body: bytes, bot: Bot) -> tuple[Update, str | None]:
    """The update and why it cannot be acted on (None: it can); :class:`BadPayload` when it is no update."""
    data = loads_json(body, MAX_JSON_DEPTH)
    if not isinstance(data, dict):
        raise BadPayload("expected a JSON object (a Telegram Update)")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise BadPayload("'update_id' must be a non-negative integer")
    reason = unusable_reason(data)
    try:
        update = Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - PTB raises whatever the malformed field provokes
        if reason is not None:  # PTB choked on what the check already found: still a well-formed update
            return Update(update_id), reason
        raise BadPayload("not a valid Telegram Update") from None
    return update, reason


class TelegramInput(InputChannel):
    """Telegram webhook for Rasa: ``POST /webhooks/telegram/webhook``; ``GET /webhooks/telegram/`` is a health check."""

    def __init__(
        self,
        settings: TelegramSettings,
        deduplicator: Deduplicator | None = None,
        keyboards: OfferedButtons | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if not settings.secret_token:
            raise TelegramConfigError("The Telegram webhook needs a secret_token (TELEGRAM_SECRET_TOKEN).")
        self.settings = settings
        self.bot = settings.make_bot()
        self.handler = UpdateHandler(
            self.bot,
            settings.bot_id,
            deduplicator or make_deduplicator(CHANNEL),
            keyboards or OfferedButtons(),
            SenderThrottle(settings.sender_limit, clock=clock),
        )
        self.address_guard = AddressGuard(settings.address_limit, CHANNEL, clock=clock)
        self._secret = settings.secret_token.encode("ascii")
        self.tasks = BackgroundTasks(CHANNEL)

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(TelegramSettings.load(credentials))

    def get_output_channel(self) -> OutputChannel | None:
        # Lets Rasa send proactive messages (e.g. a reminder) to "telegram:<chat id>".
        return self.handler.output()

    def secret_matches(self, header: str | None) -> bool:
        if header is None:
            return False
        return hmac.compare_digest(header.encode("utf-8", "replace"), self._secret)

    @property
    def pending(self) -> int:
        return self.tasks.pending

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the updates being processed (on shutdown, and in tests)."""
        return await self.tasks.drain(timeout)

    async def start(self) -> None:
        """Check the token (getMe) and, if a webhook URL is configured, register it with the secret."""
        try:
            await self.bot.initialize()
        except InvalidToken as err:
            raise TelegramConfigError(
                "Telegram refused the bot token; check 'token' / TELEGRAM_TOKEN against BotFather."
            ) from err
        except TelegramError as err:
            # Telegram being unreachable must not keep the other channels from starting.
            logger.error("Could not reach the Telegram Bot API at startup: %s", describe_error(err))
            return
        if self.settings.webhook_url:
            await self.register_webhook()

    async def register_webhook(self) -> None:
        url = self.settings.webhook_url
        if not url:
            raise TelegramConfigError("No Telegram webhook_url (TELEGRAM_WEBHOOK_URL) to register.")
        try:
            await self.bot.set_webhook(
                url=url, secret_token=self.settings.secret_token, allowed_updates=list(ALLOWED_UPDATES)
            )
        except InvalidToken as err:
            raise TelegramConfigError("Telegram refused the bot token while setting the webhook.") from err
        except TelegramError as err:
            # The webhook may well be set from an earlier start; say so loudly but keep serving.
            logger.error("setWebhook failed, Telegram may not deliver updates here: %s", describe_error(err))
            return
        logger.info("Telegram webhook registered.")

    async def stop(self) -> None:
        await self.drain(timeout=STOP_DRAIN_SECONDS)
        try:
            await self.bot.shutdown()
        except TelegramError as err:
            logger.warning("Closing the Telegram bot failed: %s", describe_error(err))

    async def _process_logged(self, update: Update, on_new_message: OnNewMessage) -> None:
        try:
            await self.handler.process(update, on_new_message)
        except TelegramApiError:
            logger.debug("Telegram update %s: the send error was logged where it happened.", update.update_id)
        except Exception as err:  # noqa: BLE001 - a background task has no caller; log instead of losing it
            logger.error("Telegram update %s could not be answered: %s", update.update_id, describe_unexpected(err))

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        # The secret is checked first, for everyone: a caller with it always gets through, even
        # from an address that others' failed checks have used up (behind a shared proxy, say).
        if not self.secret_matches(request.headers.get(SECRET_HEADER)):
            address = client_address(request)
            self.address_guard.failed(address)
            if not self.address_guard.refuses(address):  # past the limit: said once per window
                logger.warning("Refused a Telegram webhook call with a missing or wrong secret token.")
            return status_json(403, "forbidden")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            update, unusable = parse_update(body, self.bot)
        except RequestRefused as err:
            logger.warning("Refused a Telegram webhook body (%d): %s", err.status, err)
            return status_json(err.status, str(err))
        if unusable is not None:
            # 200, or Telegram would send it again and again; it never reaches Rasa.
            logger.warning("Ignoring Telegram update %s: %s.", update.update_id, unusable)
            return status_json(200, "ignored")
        if self.pending >= MAX_PENDING:
            # Checked before deduplication, so the re-sent update is still new to us.
            logger.warning("Telegram update %s deferred: %s updates in progress.", update.update_id, self.pending)
            return status_json(503, "busy, retry later")
        if not await self.handler.is_new(update):
            logger.info("Telegram update %s was already received; ignoring the repeat.", update.update_id)
            return status_json(200, "duplicate")
        self.tasks.spawn(self._process_logged(update, on_new_message))
        return status_json(200, "accepted")

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)
        guard_content_length(hook)
        add_health_route(hook)

        @hook.listener("before_server_start")
        async def start(_app: Any, _loop: Any) -> None:
            await self.start()

        @hook.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.stop()

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except Exception as err:  # noqa: BLE001 - a 500 that logs where, never the update
                logger.error("A Telegram webhook call failed unexpectedly: %s", describe_unexpected(err))
                return status_json(500, "internal error")

        return hook
