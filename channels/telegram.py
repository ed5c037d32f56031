"""Telegram channel on python-telegram-bot 22: webhook at ``/webhooks/telegram/webhook``.

Verify → parse → deduplicate → answer 200 at once → do the slow work (Rasa, sending) in a
background task, so Telegram never re-sends an update because we were slow.

- The sender is checked first: Telegram puts the secret given to ``setWebhook`` into the
  ``X-Telegram-Bot-Api-Secret-Token`` header; it is compared in constant time (403 otherwise).
- Bodies are capped (413) and must be a JSON update object (400 otherwise).
- A repeated ``update_id`` is answered 200 and does nothing (:mod:`channels.dedupe`).
- ``/start`` greets (``/greet`` to Rasa), ``/help`` answers with a short help text, any other
  command goes to Rasa as text without its slash (so users cannot inject Rasa intents);
  photos, stickers, voice… get a gentle "text only for now"; edited messages and other
  update kinds are ignored; only private chats are answered (personal questions do not
  belong in a family group).
- Buttons become a big one-per-row reply keyboard. Tapping a button sends its *title* as
  text, so the last offered buttons are kept per chat (in memory, bounded) and a tapped
  title goes to Rasa as the button's payload.

Credentials (``credentials.yml`` key ``channels.telegram.TelegramInput``; each may instead
come from the environment): ``token`` (TELEGRAM_TOKEN), ``secret_token``
(TELEGRAM_SECRET_TOKEN), ``webhook_url`` (TELEGRAM_WEBHOOK_URL; optional: when set, the
webhook is registered at startup), ``base_url`` (TELEGRAM_API_BASE_URL, default
``https://api.telegram.org/bot``). Without a public URL, see :mod:`channels.telegram_polling`.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import json
import logging
import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from channels.dedupe import Deduplicator, make_deduplicator
from channels.guard import answer_or_apologize
from channels.render import render

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
ReplyMarkup = ReplyKeyboardMarkup | ReplyKeyboardRemove

CHANNEL: Final = "telegram"
SENDER_PREFIX: Final = "telegram:"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
DEFAULT_BASE_URL: Final = "https://api.telegram.org/bot"
TEXT_LIMIT: Final = 4096  # Bot API limit for sendMessage text
# An update carries at most a 4096-character message (plus a quoted one); 256 KiB is far above
# any real update and far below what would hurt the server.
MAX_BODY_BYTES: Final = 256 * 1024
# Updates being processed at once; beyond this we answer 503 and Telegram re-sends later.
MAX_PENDING: Final = 1000
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
    "着急请拨打 12345 市民服务热线；有危险请马上拨打 120。"
)
TEXT_ONLY_TEXT: Final = (
    "抱歉，我现在只看得懂文字，还看不懂图片、语音和表情。"
    "请直接打字告诉我您想问什么；也可以按手机输入法上的话筒，把说的话变成文字再发给我。"
)


class TelegramChannelError(Exception):
    """Anything that goes wrong in the Telegram channel."""


class TelegramConfigError(TelegramChannelError, ValueError):
    """The Telegram credentials are missing or malformed; the message says what to change."""


class TelegramApiError(TelegramChannelError):
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


@dataclass(frozen=True)
class TelegramSettings:
    """Validated Telegram configuration. Secrets are kept out of ``repr``."""

    token: str = field(repr=False)
    secret_token: str | None = field(default=None, repr=False)
    webhook_url: str | None = None
    base_url: str = DEFAULT_BASE_URL

    @classmethod
    def load(
        cls,
        credentials: Mapping[str, Any] | None,
        environ: Mapping[str, str] | None = None,
        *,
        require_secret: bool = True,
    ) -> TelegramSettings:
        """Read credentials, falling back to TELEGRAM_* environment variables; raise on bad values."""
        creds = credentials or {}
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
        return cls(token=token, secret_token=secret, webhook_url=webhook_url, base_url=base_url)

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
    """What the bot does with one Telegram update; shared by the webhook and polling modes."""

    def __init__(self, bot: Bot, bot_id: str, deduplicator: Deduplicator, keyboards: OfferedButtons) -> None:
        self.bot = bot
        self.bot_id = bot_id
        self.deduplicator = deduplicator
        self.keyboards = keyboards

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
        if message.text is None:
            attachment = message.effective_attachment
            logger.info(
                "Telegram update %s is not text (%s); asking for text.",
                update.update_id,
                type(attachment).__name__ if attachment is not None else "other",
            )
            await output.send_notice(recipient, TEXT_ONLY_TEXT)
            return
        text = self._text_for_rasa(chat_id, message.text)
        if text is None:
            logger.info("Telegram update %s asked for help.", update.update_id)
            await output.send_notice(recipient, HELP_TEXT)
            return
        await answer_or_apologize(
            on_new_message,
            UserMessage(
                text,
                output,
                recipient,
                input_channel=CHANNEL,
                message_id=str(update.update_id),
                metadata={"channel": CHANNEL},
            ),
        )

    def _text_for_rasa(self, chat_id: int, text: str) -> str | None:
        """What to send Rasa for this text, or None when the help text is the answer."""
        payload = self.keyboards.payload_for(chat_id, text)
        if payload is not None:
            return payload
        command = _parse_command(text)
        if command is None:
            return text
        if command.name == "start":
            return GREET_PAYLOAD
        without_slash = f"{command.name}{command.rest}".strip()
        if command.name == "help" or not without_slash:
            return None
        return without_slash


def _parse_update(body: bytes, bot: Bot) -> Update | str:
    """The update, or why the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "body is not valid JSON"
    if not isinstance(data, dict):
        return "expected a JSON object (a Telegram Update)"
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        return "'update_id' must be a non-negative integer"
    try:
        return Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - PTB raises whatever the malformed field provokes
        return "not a valid Telegram Update"


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    stream = request.stream
    if stream is None:  # a non-streaming route: Sanic has read the body already
        return request.body if len(request.body) <= limit else None
    body = bytearray()
    while (chunk := await stream.read()) is not None:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _status(status: int, reason: str) -> HTTPResponse:
    return response.json({"status": reason}, status=status)


class TelegramInput(InputChannel):
    """Telegram webhook for Rasa: ``POST /webhooks/telegram/webhook``; ``GET /webhooks/telegram/`` is a health check."""

    def __init__(
        self,
        settings: TelegramSettings,
        deduplicator: Deduplicator | None = None,
        keyboards: OfferedButtons | None = None,
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
        )
        self._secret = settings.secret_token.encode("ascii")
        self._tasks: set[asyncio.Task[None]] = set()

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
        return len(self._tasks)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the updates being processed (on shutdown, and in tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

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
        await self.drain(timeout=10.0)
        try:
            await self.bot.shutdown()
        except TelegramError as err:
            logger.warning("Closing the Telegram bot failed: %s", describe_error(err))

    def _spawn(self, update: Update, on_new_message: OnNewMessage) -> None:
        task = asyncio.get_running_loop().create_task(self._process_logged(update, on_new_message))
        # Keep a reference, or the event loop may garbage-collect the task mid-flight.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process_logged(self, update: Update, on_new_message: OnNewMessage) -> None:
        try:
            await self.handler.process(update, on_new_message)
        except TelegramApiError:
            logger.debug("Telegram update %s: the send error was logged where it happened.", update.update_id)
        except Exception as err:  # noqa: BLE001 - a background task has no caller; log instead of losing it
            logger.error("Telegram update %s could not be answered: %s", update.update_id, describe_error(err))

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"yinling_{self.name()}_webhook", __name__)

        @hook.listener("before_server_start")
        async def start(_app: Any, _loop: Any) -> None:
            await self.start()

        @hook.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            await self.stop()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            if not self.secret_matches(request.headers.get(SECRET_HEADER)):
                logger.warning("Refused a Telegram webhook call with a missing or wrong secret token.")
                return _status(403, "forbidden")
            body = await _read_body(request, MAX_BODY_BYTES)
            if body is None:
                return _status(413, f"body larger than {MAX_BODY_BYTES} bytes")
            update = _parse_update(body, self.bot)
            if isinstance(update, str):
                logger.warning("Refused a Telegram webhook body: %s", update)
                return _status(400, update)
            if self.pending >= MAX_PENDING:
                # Checked before deduplication, so the re-sent update is still new to us.
                logger.warning("Telegram update %s deferred: %s updates in progress.", update.update_id, self.pending)
                return _status(503, "busy, retry later")
            if not await self.handler.is_new(update):
                logger.info("Telegram update %s was already received; ignoring the repeat.", update.update_id)
                return _status(200, "duplicate")
            self._spawn(update, on_new_message)
            return _status(200, "accepted")

        return hook
