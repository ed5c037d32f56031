"""Never leave a user in silence.

Every channel hands its messages to Rasa through :func:`answer_or_apologize`. If handling
the message raised, or produced no reply at all (the action server is down: Rasa then logs
the failure and carries on without the action's events), the user gets a short apology
that points to the hotline, instead of nothing.

One silence is meant: a conversation handed to a person is paused (Rasa's ``pause`` event)
and Rasa stores the senior's messages without answering. Only on the no-reply path (ordinary
turns pay nothing) the guard looks the conversation up in the running Rasa app's tracker
store; if it is paused it tells the staff app that the senior wrote (so the agent's screen
updates at once), answers an emergency with ``utter_emergency`` at once as always, and
otherwise says at most now and then ``utter_handoff_still_waiting`` ("工作人员马上回复您")
instead of the apology.

After an apology the staff app is told (``/internal/rasa/no-reply``): it reads the tracker and keeps
for the administrators what the action server would have kept had it run — a message the NLU did
not understand, or the question before a complaint about its answer (``staff.unanswered.missed_in``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from rasa.core.channels.channel import OutputChannel, UserMessage

from common.contacts import HOTLINE

logger = logging.getLogger(__name__)

# While paused: the waiting notice at most this often per conversation, and not while an agent
# has written within the same time.
NOTICE_SECONDS = 300.0
NOTIFY_TIMEOUT_SECONDS = 3.0
_notices: OrderedDict[str, float] = OrderedDict()
_background: set[asyncio.Task[None]] = set()

# The classifier reads at most this many characters (config.yml, TextNormalizer max_chars; a test
# keeps the two equal): a longer message is told that its middle may have been skipped.
NLU_MAX_CHARS = 300
DOMAIN_DIR = Path(__file__).resolve().parent.parent / "domain"


def domain_text(name: str) -> str:
    """The first text of the response ``name`` in domain/*.yml, with {hotline} filled: the wording lives in the
    domain even for what the channels say without Rasa's help (the action server down, say)."""
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        if name in responses:
            return str(responses[name][0]["text"]).format(hotline=HOTLINE)
    raise KeyError(f"no response {name!r} in {DOMAIN_DIR}")


APOLOGY = domain_text("utter_no_reply_apology")
LONG_MESSAGE = domain_text("utter_long_message_notice")
STILL_WAITING = domain_text("utter_handoff_still_waiting")


class CountingOutputChannel(OutputChannel):
    """Forwards every reply to the real output channel and counts them."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    def name(self) -> str:  # type: ignore[override]
        """The name of the channel it forwards to: Rasa picks a response's channel variant by this name
        (``channel: webchat`` in domain/conversation.yml), so counting must not hide which channel it is."""
        return self.inner.name()

    # Counted only once the reply went out: a failed send still deserves the apology.
    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.inner.send_response(recipient_id, message)
        self.sent += 1

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.inner.send_text_message(recipient_id, text, **kwargs)
        self.sent += 1


async def answer_or_apologize(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> bool:
    """Process ``message``; apologize on its output channel if nothing was said.

    Returns True when the bot answered by itself or a person is handling the conversation,
    False when the apology was sent.
    """
    inner = message.output_channel
    counter = CountingOutputChannel(inner)
    message.output_channel = counter
    try:
        await on_new_message(message)
    except Exception:
        logger.exception("Handling a message from channel %s failed; sending an apology.", message.input_channel)
    if counter.sent:
        if len((message.text or "").strip()) > NLU_MAX_CHARS:
            try:
                await inner.send_text_message(message.sender_id, LONG_MESSAGE)
            except Exception:
                logger.exception("The long-message notice could not be sent on channel %s.", message.input_channel)
        return True
    try:
        if await _while_paused(inner, message):
            return True
    except Exception:
        logger.exception("Checking for a paused conversation failed on channel %s.", message.input_channel)
    logger.warning("No reply for a message on channel %s; sending an apology.", message.input_channel)
    try:
        await inner.send_text_message(message.sender_id, APOLOGY)
    except Exception:
        logger.exception("The apology could not be sent on channel %s either.", message.input_channel)
    if message.sender_id:
        _report_no_reply(message.sender_id)
    return False


def _running_agent() -> Any:
    """The Rasa agent of the running server (with or without its HTTP API), or None."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    for name in ("rasa_server", "rasa_core_no_api"):
        try:
            app = Sanic.get_app(name)
        except SanicException:
            continue
        agent = getattr(app.ctx, "agent", None)
        if agent is not None:
            return agent
    return None


async def _while_paused(output: OutputChannel, message: UserMessage) -> bool:
    """True when the conversation waits for a person (and the senior got what they need)."""
    agent = _running_agent()
    if agent is None or not message.sender_id:
        return False
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    if tracker is None or not tracker.is_paused():
        return False
    intent = str((tracker.latest_message.intent or {}).get("name") or "") if tracker.latest_message else ""
    emergency = intent == "emergency"
    _notify_staff(message.sender_id, emergency)
    if emergency:
        # Help in an emergency never waits for a person: the same guidance as always, kept in
        # the history so the agent sees it was given.
        await _say(agent, output, message, "utter_emergency", record=True)
    elif _notice_due(message.sender_id, tracker):
        await _say(agent, output, message, "utter_handoff_still_waiting", fallback=STILL_WAITING)
    return True


def _notice_due(sender_id: str, tracker: Any) -> bool:
    now = time.time()
    last_agent = max(
        (
            e.timestamp
            for e in tracker.events
            if getattr(e, "type_name", "") == "bot" and (e.metadata or {}).get("staff_agent")
        ),
        default=0.0,
    )
    if now - last_agent < NOTICE_SECONDS or now - _notices.get(sender_id, 0.0) < NOTICE_SECONDS:
        return False
    _notices[sender_id] = now
    _notices.move_to_end(sender_id)
    while len(_notices) > 10_000:
        _notices.popitem(last=False)
    return True


async def _say(
    agent: Any, output: OutputChannel, message: UserMessage, response: str, *, record: bool = False, fallback: str = ""
) -> None:
    from rasa.core.actions.action import create_bot_utterance

    async with agent.lock_store.lock(message.sender_id):
        tracker = await agent.tracker_store.retrieve(message.sender_id)
        generated = await agent.nlg.generate(response, tracker, output.name()) if tracker is not None else None
        reply = dict(generated) if generated else {"text": fallback}
        if not reply.get("text"):
            return
        reply["utter_action"] = response
        await output.send_response(message.sender_id, dict(reply))
        if record and tracker is not None:
            tracker.update(create_bot_utterance(reply))
            await agent.tracker_store.save(tracker)


def notify_key(staff_secret: str) -> str:
    """What the staff app expects as bearer from this server (staff.web.notify_key computes the same)."""
    return hmac.new(staff_secret.encode(), b"yinling rasa notify v1", hashlib.sha256).hexdigest()


def _notify_staff(conversation_id: str, emergency: bool) -> None:
    """Tell the staff app a waiting senior wrote; in the background, so the channel answers at once."""
    _post_staff("senior-message", {"conversation_id": conversation_id, "emergency": emergency})


def _report_no_reply(conversation_id: str) -> None:
    """Tell the staff app a senior got only the apology: what the action server would have kept for
    the administrators (a misunderstood message, the question before a complaint) is kept there."""
    _post_staff("no-reply", {"conversation_id": conversation_id})


def _post_staff(route: str, payload: dict[str, Any]) -> None:
    """POST to the staff app's /internal/rasa/ROUTE in the background; never delays or breaks a reply."""
    url, secret = os.environ.get("STAFF_URL"), os.environ.get("YINLING_STAFF_SECRET")
    if not url or not secret:
        return  # no staff app configured: agents still see the message when they open the conversation

    async def post() -> None:
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=NOTIFY_TIMEOUT_SECONDS)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(
                    f"{url.rstrip('/')}/internal/rasa/{route}",
                    json=payload,
                    headers={"Authorization": f"Bearer {notify_key(secret)}"},
                ) as response:
                    if response.status >= 400:
                        logger.warning("The staff app refused a %s notice (%d).", route, response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            logger.warning("The staff app did not take a %s notice (%s).", route, type(err).__name__)

    task = asyncio.get_running_loop().create_task(post())
    _background.add(task)
    task.add_done_callback(_background.discard)
