"""The large-print web chat page and its conversation API, under ``/webhooks/webchat/``.

=======  ===================  ====================================================================
GET      ``/``                the page (``channels/webchat/``: index.html, chat.css, chat.js)
GET      ``/static/<name>``   its files
POST     ``/session``         a new conversation ``{"conversation_id", "token", "expires_at"}``;
                              with ``Authorization: Bearer <token>``: the same one, renewed
POST     ``/message``         (token) ``{"message": "..."}`` or ``{"payload": "/x", "title": "1. …"}``,
                              optional ``"message_id"`` (the page's, kept across retries) →
                              ``{"cursor", "replies": [{"text", "buttons", "cursor"}]}``
GET      ``/history``         (token) ``?after=<cursor>`` → ``{"messages": [...], "cursor"}``
POST     ``/restart``         (token) ends the conversation (Rasa's ``restart`` event) → a new session
=======  ===================  ====================================================================

**Who speaks.** The server chooses the conversation id and signs it (:mod:`channels.webchat_token`,
key ``YINLING_WEBCHAT_SECRET``; without it the channel refuses to start). The sender of a message
is the id in the verified token, never anything in the body, so a page can speak only in its own
conversation. A missing, forged or expired token gets 401 and the page starts a new conversation.

**Buttons.** A ``payload`` is passed to Rasa as an intent (metadata ``trusted_payload``) only if
the bot offered exactly that button since the user last spoke (read from the tracker); anything
else is treated as typed words (its title). Typed text never carries ``trusted_payload``, so the
NLU normalizer reads a typed "/emergency" as words.

**Replies and history.** Replies come back in the POST's answer, each with the cursor of its event
in the tracker (:mod:`channels.conversation`); the page also polls ``/history?after=`` and shows
what it has not shown yet, such as a human agent's reply appended to the tracker by the staff
app. A message resent with the same ``message_id`` (the page's 重试 after a lost answer) is not
run again: the answer recorded for it is returned.

The files are read once when the blueprint is built and served from memory by exact name,
so no request path ever reaches the file system (no directory traversal by construction).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.conversation import (
    BUTTON_TITLE,
    TRUSTED_PAYLOAD,
    BadCursor,
    Cursor,
    bot_buttons,
    history,
    match_replies,
    offered_button,
    restart,
    turn_of,
)
from channels.guard import answer_or_apologize
from channels.http_limits import (
    Throttle,
    bearer_token,
    body_too_large,
    error,
    message_too_long,
)
from channels.plumbing import guard_content_length
from channels.webchat_token import (
    DEFAULT_LIFETIME_SECONDS,
    ConversationSigner,
    InvalidToken,
    WebChatConfigError,
)
from common.contacts import HOTLINE
from common.ratelimit import Limit, RateLimiter, hashed, limit_from_env

logger = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("webchat")
INDEX = "index.html"
SECRET_VARIABLE = "YINLING_WEBCHAT_SECRET"  # noqa: S105 - the name of the variable
CREDENTIAL_KEYS = frozenset({"session_days"})

# Only these kinds of files are served; anything else in the folder stays private.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# The page loads nothing from elsewhere (no CDN, no web fonts) and talks only to this server:
# the policy makes a future slip fail loudly in the browser instead of leaking a visit to a
# third party or a conversation to another host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

# The page's own id for a message, kept across its retries.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Polling every 2 s is 30 reads a minute per open page; this leaves room for a few tabs.
DEFAULT_HISTORY_LIMIT = Limit(per_minute=120, burst=60)
UNAUTHORIZED = "the conversation token is missing, invalid or expired: start a new conversation with POST /webhooks/webchat/session"
NOT_READY = f"抱歉，助手正在启动，请过一会儿再发。着急的话请拨打 {HOTLINE} 市民服务热线。"


class _Asset:
    __slots__ = ("body", "content_type")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type


def load_assets(folder: Path = PAGE_DIR) -> dict[str, _Asset]:
    """Every servable file directly inside ``folder``, by file name."""
    assets: dict[str, _Asset] = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is not None and path.is_file():
            assets[path.name] = _Asset(path.read_bytes(), content_type)
    if INDEX not in assets:
        raise FileNotFoundError(f"the web chat page is missing: {folder / INDEX} (restore channels/webchat/)")
    return assets


def _serve(asset: _Asset) -> HTTPResponse:
    return response.raw(
        asset.body,
        content_type=asset.content_type,
        headers={
            # Small files, changed only by a deploy: revalidate so a new page is seen at once.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
        },
    )


def _api(body: Mapping[str, Any], status: int = 200) -> HTTPResponse:
    # Answers carry tokens and conversation text: never kept by a cache on the way.
    return response.json(dict(body), status=status, headers={"Cache-Control": "no-store"})


def _unauthorized(reason: str) -> HTTPResponse:
    logger.info("Web chat: refused a conversation token (%s).", reason)
    return response.json(
        {"error": UNAUTHORIZED, "reason": reason},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="webchat"', "Cache-Control": "no-store"},
    )


def _agent(request: Request) -> Any | None:
    """Rasa's agent, once it can read trackers (None while the server is still loading)."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or getattr(agent, "tracker_store", None) is None:
        return None
    return agent


class PageOutput(OutputChannel):
    """Keeps each bot message whole (text and buttons together), as the tracker records it.

    Rasa's CollectingOutputChannel splits texts at blank lines, which the page does not want
    (it makes paragraphs of lines itself) and which would stop replies matching their events.
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "webchat"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text, buttons = message.get("text"), bot_buttons(message)
        if (isinstance(text, str) and text.strip()) or buttons:
            self.messages.append({"text": text if isinstance(text, str) else "", "buttons": buttons})

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append({"text": text, "buttons": []})


class _Parsed:
    __slots__ = ("client_id", "payload", "text")

    def __init__(self, text: str, payload: str | None, client_id: str | None) -> None:
        self.text, self.payload, self.client_id = text, payload, client_id


def _parse_message(request: Request) -> _Parsed | HTTPResponse:
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - sanic raises its own type for bad JSON
        return error(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        return error(400, 'expected a JSON object: {"message": "..."} or {"payload": "/...", "title": "..."}')
    message, payload, title, client_id = (body.get(k) for k in ("message", "payload", "title", "message_id"))
    if client_id is not None and (not isinstance(client_id, str) or not _MESSAGE_ID.fullmatch(client_id)):
        return error(400, "'message_id' must be 8-64 characters of A-Z a-z 0-9 _ -")
    if payload is not None:
        if message is not None:
            return error(400, "send either 'message' or 'payload', not both")
        if not isinstance(payload, str) or not payload.strip():
            return error(400, "'payload' must be a non-empty string")
        if title is not None and not isinstance(title, str):
            return error(400, "'title' must be a string")
        # Unless it turns out to be a button the bot offered, the press counts as the words on it.
        shown = title if isinstance(title, str) and title.strip() else payload
        if (too_long := message_too_long(payload) or message_too_long(shown)) is not None:
            return too_long
        return _Parsed(shown, payload.strip(), client_id)
    if not isinstance(message, str) or not message.strip():
        return error(400, "'message' must be a non-empty string")
    if (too_long := message_too_long(message)) is not None:
        return too_long
    return _Parsed(message, None, client_id)


class WebChatInput(InputChannel):
    """The web page for seniors: serves its files and speaks only as a verified conversation."""

    def __init__(
        self,
        signer: ConversationSigner,
        *,
        throttle: Throttle | None = None,
        history_limit: Limit = DEFAULT_HISTORY_LIMIT,
        page_dir: Path = PAGE_DIR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.signer = signer
        self.throttle = throttle or Throttle()
        self.reads = RateLimiter(history_limit, clock=clock)
        self.page_dir = page_dir
        # Messages being answered now, by conversation and message id: a resend waits for the first one.
        self._in_flight: dict[tuple[str, str], asyncio.Event] = {}

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        settings = dict(credentials or {})
        unknown = sorted(set(settings) - CREDENTIAL_KEYS)
        if unknown:
            raise WebChatConfigError(
                f"unknown key(s) {unknown} under channels.webchat.WebChatInput in credentials.yml; "
                f"allowed: {sorted(CREDENTIAL_KEYS)}"
            )
        secret = os.environ.get(SECRET_VARIABLE, "").strip()
        if not secret:
            raise WebChatConfigError(
                f"the web chat needs {SECRET_VARIABLE} (a random string of 16+ characters) in the environment "
                "to sign conversation ids; `make run` sets it from var/secrets.json"
            )
        days = settings.get("session_days", DEFAULT_LIFETIME_SECONDS / 86400)
        if not isinstance(days, int | float) or isinstance(days, bool) or days <= 0:
            raise WebChatConfigError(f"session_days in credentials.yml must be a positive number of days, not {days!r}")
        return cls(
            ConversationSigner(secret, lifetime_seconds=int(days * 86400)),
            throttle=Throttle.from_env(),
            history_limit=limit_from_env("history", DEFAULT_HISTORY_LIMIT),
        )

    # ---- answering one message ----------------------------------------------------------

    async def _answer(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any,
        conversation_id: str,
        parsed: _Parsed,
    ) -> dict[str, Any]:
        # The page's own id, kept across its retries, is the Rasa message id: a resend is then found
        # in the tracker, and the booking store's idempotency key (sender + message id) books once.
        message_id = parsed.client_id or uuid.uuid4().hex
        # One answer per message id at a time, registered before the first await so that two
        # copies arriving together cannot both run: the second waits, then finds the first's record.
        key = (conversation_id, message_id)
        while (running := self._in_flight.get(key)) is not None:
            await running.wait()
        done = self._in_flight[key] = asyncio.Event()
        output = PageOutput()
        try:
            tracker = await agent.tracker_store.retrieve(conversation_id)
            recorded = turn_of(tracker, message_id)
            if recorded is not None:  # a resend of a message already answered: not run twice
                logger.info("Web chat: a resent message was answered from the conversation's record.")
                return {
                    "cursor": str(recorded.user.cursor) if recorded.user else None,
                    "replies": [m.as_json() for m in recorded.replies],
                    "resent": True,
                }
            text, metadata = parsed.text, None
            if parsed.payload is not None:
                button = offered_button(tracker, parsed.payload)
                if button is not None:
                    text, metadata = parsed.payload, {TRUSTED_PAYLOAD: True, BUTTON_TITLE: button["title"]}
            await answer_or_apologize(
                on_new_message,
                UserMessage(
                    text,
                    output,
                    conversation_id,
                    input_channel=self.name(),
                    message_id=message_id,
                    metadata=metadata,
                ),
            )
        finally:
            del self._in_flight[key]
            done.set()

        turn = turn_of(await agent.tracker_store.retrieve(conversation_id), message_id)
        cursors = match_replies(turn, output.messages)
        replies = []
        for message, cursor in zip(output.messages, cursors):
            reply: dict[str, Any] = {"text": message["text"], "cursor": str(cursor) if cursor else None}
            if message["buttons"]:
                reply["buttons"] = message["buttons"]
            replies.append(reply)
        return {"cursor": str(turn.user.cursor) if turn and turn.user else None, "replies": replies}

    # ---- routes ---------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        assets = load_assets(self.page_dir)
        page = Blueprint(f"yinling_{self.name()}_page", __name__)
        guard_content_length(page)

        def verified(request: Request) -> str | HTTPResponse:
            try:
                return self.signer.verify(bearer_token(request))
            except InvalidToken as err:
                return _unauthorized(err.reason)

        @page.route("/", methods=["GET"])
        async def index(request: Request) -> HTTPResponse:
            # The page links its files relatively ("static/chat.css") and calls the API
            # relatively ("message"), which only resolves under the folder URL: send
            # /webhooks/webchat to /webhooks/webchat/. A relative Location keeps working
            # behind a proxy that adds a path prefix.
            if not request.path.endswith("/"):
                return response.redirect(f"{self.name()}/", status=301)
            return _serve(assets[INDEX])

        @page.route("/static/<name:str>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            asset = assets.get(name)
            if asset is None:
                return response.text("not found", status=404)
            return _serve(asset)

        @page.route("/session", methods=["POST"])
        async def session(request: Request) -> HTTPResponse:
            if (slow := self.throttle.check_ip(request)) is not None:
                return slow
            token = bearer_token(request)
            if token is None:
                return _api(self.signer.issue().as_json())
            try:
                return _api(self.signer.renew(token).as_json())
            except InvalidToken as err:
                return _unauthorized(err.reason)

        @page.route("/message", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if (slow := self.throttle.check_ip(request)) is not None:
                return slow
            conversation_id = verified(request)
            if isinstance(conversation_id, HTTPResponse):
                return conversation_id
            if (too_big := body_too_large(request)) is not None:
                return too_big
            parsed = _parse_message(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            if (slow := self.throttle.check_sender(conversation_id)) is not None:
                return slow
            agent = _agent(request)
            if agent is None:
                return error(503, "the assistant is still starting", text=NOT_READY)
            return _api(await self._answer(on_new_message, agent, conversation_id, parsed))

        @page.route("/history", methods=["GET"])
        async def conversation_history(request: Request) -> HTTPResponse:
            conversation_id = verified(request)
            if isinstance(conversation_id, HTTPResponse):
                return conversation_id
            if not self.reads.allow(hashed("history", conversation_id)):
                return error(429, "the history is asked for too often", headers={"Retry-After": "2"})
            after_text = request.args.get("after")
            try:
                after = Cursor.parse(after_text) if after_text else None
            except BadCursor as err:
                return error(400, str(err))
            agent = _agent(request)
            if agent is None:
                return error(503, "the assistant is still starting", text=NOT_READY)
            tracker = await agent.tracker_store.retrieve(conversation_id)
            return _api(history(tracker, after).as_json())

        @page.route("/restart", methods=["POST"])
        async def restart_conversation(request: Request) -> HTTPResponse:
            if (slow := self.throttle.check_ip(request)) is not None:
                return slow
            conversation_id = verified(request)
            if isinstance(conversation_id, HTTPResponse):
                return conversation_id
            agent = _agent(request)
            if agent is None:
                return error(503, "the assistant is still starting", text=NOT_READY)
            await restart(agent, conversation_id)
            return _api(self.signer.issue().as_json())

        return page
