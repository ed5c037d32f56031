"""A real Sanic server on loopback with the REST and web chat channels mounted by Rasa's own code,
and an agent at the edge that keeps a real Rasa tracker store.

``RecordingRasa`` plays ``app.ctx.agent``: for each message it writes the events Rasa's processor
writes (``session_started`` on a new conversation, the user's ``user`` event with its message id and
metadata, one ``bot`` event per reply) into Rasa's own ``InMemoryTrackerStore`` under Rasa's own
lock store, and answers from a script. So the channels read history, offered buttons and
restarts exactly as they would from a running Rasa server, without a trained model.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from sanic import Sanic

CHOICES = [
    {"title": "1. 养老服务", "payload": "/ask_care_service"},
    {"title": "2. 法律公证", "payload": "/ask_legal"},
]


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingRasa:
    """``script`` maps a message text to the bot messages to send; anything else is echoed.

    A text in ``failing`` raises (as Rasa does when something inside it breaks); ``delay``
    holds each answer so that tests can send copies of a message while it is answered.
    """

    script: dict[str, Sequence[dict[str, Any]]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    delay: float = 0.0
    received: list[UserMessage] = field(default_factory=list)
    tracker_store: InMemoryTrackerStore = field(default_factory=lambda: InMemoryTrackerStore(Domain.empty()))
    lock_store: InMemoryLockStore = field(default_factory=InMemoryLockStore)

    @property
    def texts(self) -> list[str | None]:
        return [m.text for m in self.received]

    async def handle_message(self, message: UserMessage) -> None:
        async with self.lock_store.lock(message.sender_id):
            self.received.append(message)
            if self.delay:
                await asyncio.sleep(self.delay)
            if message.text in self.failing:
                raise RuntimeError("the scripted agent fails on purpose")
            tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
            if not tracker.events:
                for event in (
                    ActionExecuted("action_session_start"),
                    SessionStarted(),
                    ActionExecuted("action_listen"),
                ):
                    tracker.update(event)
            tracker.update(
                UserUttered(
                    message.text,
                    input_channel=message.input_channel,
                    message_id=message.message_id,
                    metadata=message.metadata,
                )
            )
            for reply in await self.replies(message):
                data = {"buttons": reply.get("buttons"), "custom": reply.get("custom")}
                event = BotUttered(reply.get("text"), data=data)
                tracker.update(event)
                await message.output_channel.send_response(message.sender_id, event.message())
            await self.tracker_store.save(tracker)

    async def replies(self, message: UserMessage) -> Sequence[dict[str, Any]]:
        """What to answer ``message`` (subclasses answer differently)."""
        return self.script.get(message.text or "", [{"text": f"收到：{message.text}"}])

    async def push(self, sender_id: str, text: str) -> None:
        """What the staff app does for a human agent's reply: a ``bot`` event appended from outside."""
        async with self.lock_store.lock(sender_id):
            tracker = await self.tracker_store.get_or_create_tracker(sender_id)
            tracker.update(BotUttered(text, metadata={"agent": "王老师"}))
            await self.tracker_store.save(tracker)

    async def new_session(self, sender_id: str) -> None:
        """What Rasa does when a conversation was idle past the session expiry."""
        async with self.lock_store.lock(sender_id):
            tracker = await self.tracker_store.get_or_create_tracker(sender_id)
            for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
                tracker.update(event)
            await self.tracker_store.save(tracker)

    async def events(self, sender_id: str) -> list[Any]:
        tracker = await self.tracker_store.retrieve(sender_id)
        return list(tracker.events) if tracker else []


def loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(channels: Sequence[InputChannel], agent: RecordingRasa) -> AsyncIterator[str]:
    """The channels on a real Sanic server on loopback, as ``rasa run`` mounts them; yields the base URL."""
    app = Sanic(f"webchannels_test_{uuid.uuid4().hex[:12]}")
    app.config.ACCESS_LOG = False
    app.ctx.agent = agent
    register(list(channels), app, route="/webhooks/")
    sock = loopback_socket()
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    # Sanic rewrites its connection code at each startup; in test mode it rewrites the original
    # again, so several servers can start one after another in one process.
    test_mode, Sanic.test_mode = Sanic.test_mode, True
    try:
        await server.startup()
    finally:
        Sanic.test_mode = test_mode
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
