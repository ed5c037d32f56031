"""The staff web app: login, the agents' console, call assist, the admin pages and the KB admin API.

    .venv/bin/python -m staff serve [--host 127.0.0.1] [--port 5057]

Who may read a conversation (enforced by :func:`readable` on every route that shows one):
an agent sees the conversations waiting in the queue, the ones they claimed (or that were
transferred to them) while those are open, and open callback tickets; an admin sees all. Any
other id — a closed handoff of a colleague, a guessed number — answers 404, the same as an id
that does not exist. Acting on a conversation (reply, hand back, transfer, send an entry, book)
needs the claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import phonenumbers
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bookings.catalog import SHANGHAI, BookingError, UnknownService
from bookings.store import (
    BookingInputError,
    BookingStore,
    SlotClosed,
    SlotFull,
    SlotNotFound,
    StoreUnavailable,
    format_code,
)
from knowledge_base.api import kb_router
from knowledge_base.schema import KnowledgeBaseError
from knowledge_base.store import KBStore
from staff import transcript as tx
from staff.accounts import Accounts, LoginRefused, Session, User, delay_for
from staff.assist import Assist
from staff.audit import Audit
from staff.config import Settings
from staff.db import StaffDB, agent_bookings, events, feedback, now
from staff.errors import Conflict, InvalidInput, NotFound, StaffError, Unavailable
from staff.queue import Handoff, Queue, Ticket
from staff.rasa_api import RasaAPI
from staff.web import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    SAFE_METHODS,
    SESSION_COOKIE,
    FailureMemory,
    ProtocolGuard,
    client_key,
    limiters,
    notify_key,
    same_secret,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
MAX_REPLY_CHARS = 2000
POLL_SECONDS = 0.15
HEARTBEAT_SECONDS = 15.0
JANITOR_SECONDS = 10.0
PURGE_SECONDS = 3600.0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


# -- the app's shared state -------------------------------------------------------------------


@dataclass
class Staff:
    settings: Settings
    db: StaffDB
    accounts: Accounts
    audit: Audit
    queue: Queue
    rasa: RasaAPI
    assist: Assist
    kb: KBStore
    bookings: Callable[[], BookingStore]
    broker: Broker
    sleep: Callable[[float], Any]


@dataclass(frozen=True)
class Principal:
    user: User
    session: Session | None  # None when the caller used an API token

    @property
    def csrf(self) -> str:
        return self.session.csrf_token if self.session else ""


class LoginRequired(StaffError):
    """A page was asked for without a session: send the browser to the login page."""


class Broker:
    """Follows the ``staff_events`` outbox and fans each new row out to the open consoles."""

    def __init__(self, db: StaffDB) -> None:
        self.db = db
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.last_seq = 0

    def _latest(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))).scalar_one())

    def _new_rows(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(events.c.seq, events.c.kind, events.c.handoff_id, events.c.ticket_id)
                .where(events.c.seq > self.last_seq)
                .order_by(events.c.seq)
                .limit(500)
            ).all()
        return [dict(r._mapping) for r in rows]

    async def run(self) -> None:
        self.last_seq = await anyio.to_thread.run_sync(self._latest)
        while True:
            try:
                rows = await anyio.to_thread.run_sync(self._new_rows)
            except Unavailable:
                logger.warning("The staff database did not answer; live updates wait.")
                rows = []
            for row in rows:
                self.last_seq = max(self.last_seq, int(row["seq"]))
                for queue in list(self.subscribers):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(row)
            await asyncio.sleep(POLL_SECONDS)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self.subscribers.add(queue)
        try:
            yield queue
        finally:
            self.subscribers.discard(queue)


def staff_of(request: Request) -> Staff:
    staff: Staff = request.app.state.staff
    return staff


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Database and index calls block: run them off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


# -- who is calling ---------------------------------------------------------------------------


async def _principal(request: Request) -> Principal | None:
    staff = staff_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        user = await blocking(staff.accounts.user_for_token, token) if token else None
        return Principal(user, None) if user is not None else None
    cookie = request.cookies.get(SESSION_COOKIE)
    session = await blocking(staff.accounts.session, cookie) if cookie else None
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not same_secret(request.headers.get(CSRF_HEADER), session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token (send the X-CSRF-Token header)")
    return Principal(session.user, session)


def _limit_user(request: Request, principal: Principal) -> None:
    limiter = request.app.state.limiters["user"]
    key = f"user:{principal.user.id}"
    if not limiter.allow(key):
        wait = max(1, int(limiter.retry_after(key) + 0.999))
        raise HTTPException(429, "too many requests; slow down", headers={"Retry-After": str(wait)})


async def api_user(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)  # set by AuthGate
    if principal is None:
        principal = await _principal(request)
        if principal is None:
            raise HTTPException(401, "log in first (session cookie or Authorization: Bearer <API token>)")
        _limit_user(request, principal)
    return principal


class AuthGate:
    """Authenticates /api requests before FastAPI reads their bodies.

    FastAPI parses a JSON body before it runs any dependency, so without this an anonymous
    caller would learn "400 invalid JSON" where it must only ever get 401 (and would make the
    app parse bodies for nobody).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path.startswith("/api/") or path == "/logout"):
            request = Request(scope)
            try:
                principal = await _principal(request)
                if principal is None:
                    raise HTTPException(401, "log in first (session cookie or Authorization: Bearer <API token>)")
                _limit_user(request, principal)
            except HTTPException as err:
                response = JSONResponse({"error": err.detail}, status_code=err.status_code, headers=err.headers)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def api_admin(principal: Annotated[Principal, Depends(api_user)]) -> Principal:
    if not principal.user.is_admin:
        raise HTTPException(403, "administrators only")
    return principal


async def page_user(request: Request) -> Principal:
    principal = await _principal(request)
    if principal is None or principal.session is None:
        raise LoginRequired
    _limit_user(request, principal)
    return principal


async def page_admin(principal: Annotated[Principal, Depends(page_user)]) -> Principal:
    if not principal.user.is_admin:
        raise HTTPException(403, "administrators only")
    return principal


ApiUser = Annotated[Principal, Depends(api_user)]
ApiAdmin = Annotated[Principal, Depends(api_admin)]
PageUser = Annotated[Principal, Depends(page_user)]
PageAdmin = Annotated[Principal, Depends(page_admin)]


def readable(user: User, handoff: Handoff) -> bool:
    if user.is_admin or handoff.status == "waiting":
        return True
    return handoff.status == "claimed" and handoff.claimed_by == user.id


def ticket_readable(user: User, ticket: Ticket) -> bool:
    return user.is_admin or ticket.status == "open"


async def visible_handoff(staff: Staff, user: User, handoff_id: int) -> Handoff:
    try:
        handoff: Handoff = await blocking(staff.queue.get, handoff_id)
    except NotFound:
        handoff = None  # type: ignore[assignment]
    if handoff is None or not readable(user, handoff):
        raise HTTPException(404, "no such conversation in your queue")
    return handoff


async def my_handoff(staff: Staff, user: User, handoff_id: int) -> Handoff:
    handoff = await visible_handoff(staff, user, handoff_id)
    if handoff.status != "claimed" or handoff.claimed_by != user.id:
        raise HTTPException(409, "claim this conversation first")
    return handoff


async def visible_ticket(staff: Staff, user: User, ticket_id: int) -> Ticket:
    try:
        ticket: Ticket = await blocking(staff.queue.ticket, ticket_id)
    except NotFound:
        ticket = None  # type: ignore[assignment]
    if ticket is None or not ticket_readable(user, ticket):
        raise HTTPException(404, "no such callback ticket")
    return ticket


def clean_text(text: str) -> str:
    """Agent input: NFC, no control or bidi-override characters, trimmed; newlines kept."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


# -- request bodies ---------------------------------------------------------------------------


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)


class TransferBody(BaseModel):
    to_user_id: int


class EntryBody(BaseModel):
    entry_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")


class FeedbackBody(BaseModel):
    event_ts: float
    verdict: str = Field(pattern="^(right|wrong)$")


class BookingBody(BaseModel):
    slot_id: int = Field(ge=1)
    contact_name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=32)
    notes: str | None = Field(None, max_length=500)
    caller_agreed: bool
    request_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class NewUserBody(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=10, max_length=1024)
    role: str = Field(pattern="^(agent|admin)$")
    display_name: str | None = Field(None, max_length=64)


class NotifyBody(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=160)
    emergency: bool = False


# -- the app ----------------------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    *,
    rasa: RasaAPI | None = None,
    kb: KBStore | None = None,
    bookings: BookingStore | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
    background: bool = True,
) -> FastAPI:
    settings = settings or Settings.from_env()
    settings.require_secrets()
    db = StaffDB(settings.database_url)
    kb_store = kb or KBStore()
    booking_box: list[BookingStore | None] = [bookings]

    def booking_store() -> BookingStore:
        store = booking_box[0]
        if store is None:
            store = BookingStore()
            store.ensure_schedule(dt.datetime.now(SHANGHAI).date())
            booking_box[0] = store
        return store

    staff = Staff(
        settings=settings,
        db=db,
        accounts=Accounts(db, settings),
        audit=Audit(db),
        queue=Queue(db),
        rasa=rasa or RasaAPI(settings.rasa_url, settings.rasa_jwt_secret),
        assist=Assist(kb_store),
        kb=kb_store,
        bookings=booking_store,
        broker=Broker(db),
        sleep=sleep,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks.append(asyncio.create_task(staff.broker.run()))
            tasks.append(asyncio.create_task(_janitor(staff)))
            # Load the embedding model and build the index now, not on the first search.
            tasks.append(asyncio.create_task(_warm(staff)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await staff.rasa.aclose()

    app = FastAPI(
        title="银龄助手 staff app",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI would load scripts from a CDN; the schema is at /api/openapi.json
        redoc_url=None,
        openapi_url=None,
    )
    app.state.staff = staff
    app.state.limiters = limiters()
    app.add_middleware(AuthGate)
    app.state.login_failures = FailureMemory()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _error_handlers(app)

    # -- health, schema ------------------------------------------------------------------------
    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi(_: ApiUser) -> dict[str, Any]:
        return app.openapi()

    # -- logging in ------------------------------------------------------------------------------
    def cookie_secure(request: Request) -> bool:
        return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"

    def login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = templates.TemplateResponse(
            request, "login.html", {"csrf": token, "error": error}, status_code=status
        )
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request), path="/login"
        )
        return response

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=1024)],
        csrf: Annotated[str, Form(max_length=100)],
    ) -> Response:
        if not same_secret(csrf, request.cookies.get(LOGIN_COOKIE, "")):
            return login_page(request, "页面已过期，请再登录一次。", 403)
        key = client_key(request.scope)
        limiter = app.state.limiters["login"]
        if not limiter.allow(key):
            wait = max(1, int(limiter.retry_after(key) + 0.999))
            response = login_page(request, "登录尝试太多，请稍后再试。", 429)
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            user, token = await blocking(staff.accounts.login, username, password)
        except LoginRefused as refused:
            failures = refused.failures or app.state.login_failures.fail(key)
            if refused.failures:
                outcome = "locked" if refused.retry_after else "wrong"
                await blocking(
                    lambda: staff.audit.record(username.strip().lower()[:64], "login_failed", outcome=outcome)
                )
            # A growing delay makes guessing slow even below the lockout.
            await staff.sleep(delay_for(failures))
            if refused.retry_after is not None:
                response = login_page(request, "密码错误次数太多，账号已暂时锁定，请稍后再试或联系管理员。", 429)
                response.headers["Retry-After"] = str(refused.retry_after)
                return response
            return login_page(request, "用户名或密码不对。", 401)
        await blocking(lambda: staff.audit.record(user.username, "login"))
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
            max_age=settings.session_hours * 3600,
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: ApiUser) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await blocking(staff.accounts.logout, cookie)
        await blocking(staff.queue.went_away, principal.user.id)
        await blocking(lambda: staff.audit.record(principal.user.username, "logout"))
        response = JSONResponse({"status": "logged out"})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def root(_: PageUser) -> Response:
        return RedirectResponse("/console", status_code=303)

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console(request: Request, principal: PageUser) -> Response:
        return templates.TemplateResponse(
            request,
            "console.html",
            {"user": principal.user, "csrf": principal.csrf, "hours": settings.hours.describe()},
        )

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    async def admin_page(request: Request, principal: PageAdmin) -> Response:
        return templates.TemplateResponse(
            request, "admin.html", {"user": principal.user, "csrf": principal.csrf, "section": "admin.html"}
        )

    # -- the queue -------------------------------------------------------------------------------
    async def agent_names() -> dict[int, str]:
        return {u.id: u.display_name for u in await blocking(staff.accounts.all)}

    @app.get("/api/me")
    async def me(principal: ApiUser) -> dict[str, Any]:
        user = principal.user
        return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role}

    @app.get("/api/queue")
    async def queue_view(principal: ApiUser) -> dict[str, Any]:
        user = principal.user
        names = await agent_names()
        waiting = await blocking(staff.queue.waiting)
        mine = await blocking(staff.queue.claimed_by, user.id)
        others: list[Handoff] = []
        if user.is_admin:
            others = [
                h for h in await blocking(staff.queue.all_open) if h.status == "claimed" and h.claimed_by != user.id
            ]
        open_tickets = await blocking(staff.queue.open_tickets)
        colleagues = [
            {"id": u.id, "name": u.display_name, "role": u.role}
            for u in await blocking(staff.accounts.all)
            if u.active and u.id != user.id
        ]
        return {
            "waiting": [h.public(names) for h in waiting],
            "mine": [h.public(names) for h in mine],
            "others": [h.public(names) for h in others],
            "tickets": [t.public() for t in open_tickets],
            "colleagues": colleagues,
            "online": await blocking(staff.queue.agents_online, settings.presence_seconds),
            "open_now": settings.hours.is_open(now()),
        }

    @app.get("/api/events")
    async def live(request: Request, principal: ApiUser) -> EventSourceResponse:
        user = principal.user
        cookie = request.cookies.get(SESSION_COOKIE)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            await blocking(staff.queue.heartbeat, user.id)
            with staff.broker.subscribe() as inbox:
                yield {"event": "hello", "data": "{}"}
                beat = asyncio.get_running_loop().time()
                while True:
                    try:
                        row = await asyncio.wait_for(inbox.get(), timeout=HEARTBEAT_SECONDS)
                        yield {"event": str(row["kind"]), "data": _json(row)}
                    except TimeoutError:
                        pass
                    if asyncio.get_running_loop().time() - beat >= HEARTBEAT_SECONDS:
                        beat = asyncio.get_running_loop().time()
                        # A logged-out or idle session ends the stream; the page then goes to the login.
                        if cookie and await blocking(lambda: staff.accounts.session(cookie, touch=False)) is None:
                            yield {"event": "logged_out", "data": "{}"}
                            return
                        await blocking(staff.queue.heartbeat, user.id)
                        yield {"event": "ping", "data": "{}"}

        return EventSourceResponse(stream(), ping=None, headers={"Cache-Control": "no-store"})

    @app.post("/api/handoffs/next")
    async def claim_next(principal: ApiUser) -> dict[str, Any]:
        handoff = await blocking(staff.queue.claim_next, principal.user.id)
        if handoff is None:
            raise HTTPException(404, "nobody is waiting")
        await blocking(
            lambda: staff.audit.record(principal.user.username, "claim", conversation_id=handoff.conversation_id)
        )
        public: dict[str, Any] = handoff.public(await agent_names())
        return public

    @app.post("/api/handoffs/{handoff_id}/claim")
    async def claim(handoff_id: int, principal: ApiUser) -> dict[str, Any]:
        handoff = await visible_handoff(staff, principal.user, handoff_id)
        claimed = await blocking(staff.queue.claim, handoff.id, principal.user.id)
        await blocking(
            lambda: staff.audit.record(principal.user.username, "claim", conversation_id=handoff.conversation_id)
        )
        return claimed.public(await agent_names())

    @app.get("/api/handoffs/{handoff_id}")
    async def conversation(handoff_id: int, principal: ApiUser) -> dict[str, Any]:
        handoff = await visible_handoff(staff, principal.user, handoff_id)
        return {
            "handoff": handoff.public(await agent_names()),
            **await _case(staff, handoff.conversation_id, handoff.reason),
            "mine": handoff.status == "claimed" and handoff.claimed_by == principal.user.id,
        }

    @app.post("/api/handoffs/{handoff_id}/reply")
    async def reply(handoff_id: int, body: ReplyBody, principal: ApiUser) -> dict[str, Any]:
        handoff = await my_handoff(staff, principal.user, handoff_id)
        text = clean_text(body.text)
        if not text:
            raise HTTPException(422, "the reply is empty")
        await staff.rasa.say(handoff.conversation_id, text, principal.user.display_name)
        await blocking(staff.queue.note_message, handoff.id)
        await blocking(
            lambda: staff.audit.record(
                principal.user.username, "reply", conversation_id=handoff.conversation_id, details={"chars": len(text)}
            )
        )
        return {"status": "sent"}

    @app.post("/api/handoffs/{handoff_id}/hand-back")
    async def hand_back(handoff_id: int, principal: ApiUser) -> dict[str, Any]:
        handoff = await my_handoff(staff, principal.user, handoff_id)
        await staff.rasa.resume(handoff.conversation_id)
        closed = await blocking(lambda: staff.queue.close(handoff.id, "handed_back", by_user=principal.user.id))
        await blocking(
            lambda: staff.audit.record(principal.user.username, "hand_back", conversation_id=handoff.conversation_id)
        )
        return closed.public(await agent_names())

    @app.post("/api/handoffs/{handoff_id}/transfer")
    async def transfer(handoff_id: int, body: TransferBody, principal: ApiUser) -> dict[str, Any]:
        handoff = await my_handoff(staff, principal.user, handoff_id)
        target = await blocking(staff.accounts.get, body.to_user_id)
        moved = await blocking(staff.queue.transfer, handoff.id, principal.user.id, target.id)
        await blocking(
            lambda: staff.audit.record(
                principal.user.username, "transfer", conversation_id=handoff.conversation_id, target=target.username
            )
        )
        return moved.public(await agent_names())

    @app.post("/api/handoffs/{handoff_id}/send-entry")
    async def send_entry(handoff_id: int, body: EntryBody, principal: ApiUser) -> dict[str, Any]:
        handoff = await my_handoff(staff, principal.user, handoff_id)
        try:
            entry = await blocking(staff.assist.entry, body.entry_id)
        except KnowledgeBaseError as err:
            raise HTTPException(404, "no such knowledge-base entry") from err
        from staff.assist import message_for_senior

        await staff.rasa.say(
            handoff.conversation_id,
            message_for_senior(entry),
            principal.user.display_name,
            custom={"staff_entry": entry.id, "style": "large"},
        )
        await blocking(staff.queue.note_message, handoff.id)
        await blocking(
            lambda: staff.audit.record(
                principal.user.username, "send_entry", conversation_id=handoff.conversation_id, target=entry.id
            )
        )
        return {"status": "sent", "entry": entry.id}

    @app.post("/api/handoffs/{handoff_id}/feedback")
    async def mark(handoff_id: int, body: FeedbackBody, principal: ApiUser) -> dict[str, Any]:
        handoff = await visible_handoff(staff, principal.user, handoff_id)
        return await _mark(staff, principal.user, handoff.conversation_id, body)

    @app.post("/api/handoffs/{handoff_id}/bookings")
    async def book_for_handoff(handoff_id: int, body: BookingBody, principal: ApiUser) -> dict[str, Any]:
        handoff = await my_handoff(staff, principal.user, handoff_id)
        result = await _book(staff, principal.user, handoff.conversation_id, body)
        when = result["start"]
        await staff.rasa.say(
            handoff.conversation_id,
            f"工作人员帮您约好了：{result['service_name']}，{when}，{result['place']}。预约号 {result['code']}。"
            + ("（地点、时间是示例数据）" if result["sample"] else ""),
            principal.user.display_name,
            custom={"booking": result["code"]},
        )
        await blocking(staff.queue.note_message, handoff.id)
        return result

    # -- callback tickets --------------------------------------------------------------------------
    @app.get("/api/tickets/{ticket_id}")
    async def ticket_view(ticket_id: int, principal: ApiUser) -> dict[str, Any]:
        ticket = await visible_ticket(staff, principal.user, ticket_id)
        return {"ticket": ticket.public(), **await _case(staff, ticket.conversation_id, ticket.reason)}

    @app.post("/api/tickets/{ticket_id}/done")
    async def ticket_done(ticket_id: int, principal: ApiUser) -> dict[str, Any]:
        ticket = await visible_ticket(staff, principal.user, ticket_id)
        done = await blocking(staff.queue.ticket_done, ticket.id, principal.user.id)
        await blocking(
            lambda: staff.audit.record(
                principal.user.username, "ticket_done", conversation_id=ticket.conversation_id, target=str(ticket.id)
            )
        )
        return done.public()

    @app.post("/api/tickets/{ticket_id}/bookings")
    async def book_for_ticket(ticket_id: int, body: BookingBody, principal: ApiUser) -> dict[str, Any]:
        ticket = await visible_ticket(staff, principal.user, ticket_id)
        return await _book(staff, principal.user, ticket.conversation_id, body)

    @app.post("/api/tickets/{ticket_id}/feedback")
    async def mark_ticket(ticket_id: int, body: FeedbackBody, principal: ApiUser) -> dict[str, Any]:
        ticket = await visible_ticket(staff, principal.user, ticket_id)
        return await _mark(staff, principal.user, ticket.conversation_id, body)

    # -- assist ----------------------------------------------------------------------------------
    @app.get("/api/assist/search")
    async def search(_: ApiUser, q: str = Query(min_length=1, max_length=500)) -> dict[str, Any]:
        return {"hits": await blocking(staff.assist.search, clean_text(q), 3)}

    @app.get("/api/bookings/services")
    async def services(_: ApiUser) -> list[dict[str, Any]]:
        catalog = staff.bookings()._catalog
        return [{"code": s.code, "name": s.name} for s in catalog.services.values()]

    @app.get("/api/bookings/slots")
    async def slots(
        _: ApiUser,
        day: Annotated[dt.date, Query()],
        service: str = Query(pattern=r"^[a-z][a-z0-9_-]{0,31}$"),
        street: str | None = Query(None, max_length=16),
    ) -> list[dict[str, Any]]:
        start = dt.datetime.combine(day, dt.time(0), SHANGHAI)
        try:
            found = await blocking(
                lambda: staff.bookings().find_slots(
                    service, start, start + dt.timedelta(days=1), street, only_free=True
                )
            )
        except UnknownService as err:
            raise HTTPException(404, "no such service") from err
        return [
            {
                "id": s.id,
                "start": s.start.isoformat(),
                "label": f"{s.start:%m月%d日 %H:%M}–{s.end:%H:%M} {s.resource}（{s.street}）",
                "free": s.free,
                "sample": s.sample,
            }
            for s in found[:40]
        ]

    # -- administrators --------------------------------------------------------------------------
    @app.get("/api/admin/feedback")
    async def review(_: ApiAdmin, verdict: str = Query("wrong", pattern="^(right|wrong)$")) -> list[dict[str, Any]]:
        def rows() -> list[dict[str, Any]]:
            with staff.db.read() as conn:
                found = conn.execute(
                    sa.select(feedback).where(feedback.c.verdict == verdict).order_by(feedback.c.id.desc()).limit(200)
                ).all()
            return [{**dict(r._mapping), "at": r.at.isoformat()} for r in found]

        return list(await blocking(rows))

    @app.get("/api/admin/audit")
    async def audit_log(_: ApiAdmin, limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return list(await blocking(staff.audit.recent, limit))

    @app.get("/api/users")
    async def list_users(_: ApiAdmin) -> list[dict[str, Any]]:
        return [
            {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active}
            for u in await blocking(staff.accounts.all)
        ]

    @app.post("/api/users", status_code=201)
    async def new_user(body: NewUserBody, principal: ApiAdmin) -> dict[str, Any]:
        user = await blocking(
            lambda: staff.accounts.create_user(body.username, body.password, body.role, body.display_name)
        )
        await blocking(
            lambda: staff.audit.record(
                principal.user.username, "user_created", target=user.username, details={"role": user.role}
            )
        )
        return {"id": user.id, "username": user.username, "role": user.role}

    # -- the knowledge base (admins) -------------------------------------------------------------
    async def kb_author(principal: ApiAdmin) -> str:
        return f"staff:{principal.user.username}"

    def kb_audit(author: str, action: str, target: str, outcome: str) -> None:
        staff.audit.record(author.removeprefix("staff:"), "kb_change", target=f"{action} {target}", outcome=outcome)

    app.include_router(kb_router(lambda: staff.kb, kb_author, kb_audit), prefix="/api/kb")

    # -- the administrators' console (staff/admin.py, staff/analytics.py) -------------------------
    from staff.admin import install as install_admin

    install_admin(app, staff, templates)

    # -- attendance at booked services, for agents and admins (staff/attendance.py) ---------------
    from staff.attendance import install as install_attendance

    install_attendance(app, staff, templates)

    # -- from the Rasa server --------------------------------------------------------------------
    async def from_rasa(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not same_secret(header.removeprefix("Bearer "), notify_key(settings.secret)):
            raise HTTPException(401, "not the Rasa server")

    @app.post("/internal/rasa/senior-message", include_in_schema=False)
    async def senior_message(body: NotifyBody, _: None = Depends(from_rasa)) -> dict[str, Any]:
        """channels/guard.py: a senior wrote into a paused conversation."""
        handoff = await blocking(staff.queue.senior_wrote, body.conversation_id, body.emergency)
        return {"handoff": handoff.id if handoff else None}

    # Turns already kept (a redelivered message gets the apology twice, and is kept once).
    missed_seen: dict[tuple[str, float], None] = {}

    @app.post("/internal/rasa/no-reply", include_in_schema=False)
    async def no_reply(body: NotifyBody, _: None = Depends(from_rasa)) -> dict[str, Any]:
        """channels/guard.py: a senior got only the apology (the action server was down). What the
        action server would have kept for the administrators (a misunderstood message, the question
        before a complaint) is read from the tracker and kept, masked, by this app instead."""
        from staff.queue import channel_of
        from staff.unanswered import Unanswered, missed_in

        try:
            tracker = await staff.rasa.tracker(body.conversation_id)
        except (NotFound, Unavailable):
            return {"kept": False}
        missed = missed_in(list(tracker.get("events") or []))
        if missed is None or (body.conversation_id, missed.event_ts) in missed_seen:
            return {"kept": False}
        missed_seen[(body.conversation_id, missed.event_ts)] = None
        while len(missed_seen) > 10_000:
            del missed_seen[next(iter(missed_seen))]
        try:
            await blocking(
                lambda: Unanswered(staff.db).record(
                    missed.text,
                    missed.reason,
                    channel_of(body.conversation_id),
                    intent=missed.intent,
                    confidence=missed.confidence,
                    kb_entry=missed.kb_entry,
                )
            )
        except Exception as err:  # noqa: BLE001 - the database or the embedding model down: nothing to add
            logger.warning("Could not keep a question from an unanswered turn (%s).", type(err).__name__)
            return {"kept": False}
        return {"kept": True, "reason": missed.reason}

    return app


# -- shared pieces of the routes ---------------------------------------------------------------


def _json(row: dict[str, Any]) -> str:
    import json

    return json.dumps(row, default=str)


async def _case(staff: Staff, conversation_id: str, reason: str) -> dict[str, Any]:
    """Transcript, summary and bookings of a conversation."""
    try:
        tracker = await staff.rasa.tracker(conversation_id)
    except NotFound:
        tracker = {"events": [], "slots": {}}
    bookings = await blocking(
        lambda: staff.bookings().list_for_user(conversation_id, include_past=True, include_cancelled=True)
    )
    return {
        "transcript": tx.transcript(tracker),
        "summary": tx.summary(tracker, reason),
        "paused": bool(tracker.get("paused")),
        "bookings": [
            {
                "code": format_code(b.code),
                "status": b.status,
                "service": b.slot.service,
                "start": b.slot.start.isoformat(),
                "label": f"{b.slot.start:%m月%d日 %H:%M} {b.slot.resource}（{b.slot.street}）",
                "sample": b.slot.sample,
            }
            for b in bookings[-10:]
        ],
    }


async def _mark(staff: Staff, user: User, conversation_id: str, body: FeedbackBody) -> dict[str, Any]:
    tracker = await staff.rasa.tracker(conversation_id)
    question: str | None = None
    intent: str | None = None
    marked: dict[str, Any] | None = None
    for event in tracker.get("events") or []:
        if event.get("event") == "user":
            question = str(event.get("text") or "")
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        elif event.get("event") == "bot" and abs(float(event.get("timestamp") or 0) - body.event_ts) < 1e-6:
            marked = event
            break
    if marked is None:
        raise HTTPException(404, "no bot answer with that timestamp in this conversation")
    if (marked.get("metadata") or {}).get("staff_agent"):
        raise HTTPException(422, "only the bot's answers can be marked")
    custom = (marked.get("data") or {}).get("custom") or {}
    values = {
        "conversation_id": conversation_id,
        "event_ts": body.event_ts,
        "verdict": body.verdict,
        "question": question,
        "answer": str(marked.get("text") or ""),
        "intent": intent,
        "kb_entry": custom.get("kb_entry") if isinstance(custom, dict) else None,
        "marked_by": user.id,
        "reviewed": False,
    }

    def store() -> None:
        with staff.db.write() as conn:
            # One verdict per agent and answer: marking again replaces it.
            conn.execute(
                feedback.delete().where(
                    feedback.c.conversation_id == conversation_id,
                    feedback.c.event_ts == body.event_ts,
                    feedback.c.marked_by == user.id,
                )
            )
            conn.execute(feedback.insert().values(**values, at=now()))
        staff.audit.record(user.username, "mark_answer", conversation_id=conversation_id, target=body.verdict)
        if body.verdict == "wrong" and question:
            # The question joins the unanswered ones (masked before it is stored).
            from staff.queue import channel_of
            from staff.unanswered import Unanswered

            try:
                Unanswered(staff.db).record(
                    question,
                    "marked_wrong",
                    channel_of(conversation_id),
                    intent=intent,
                    kb_entry=custom.get("kb_entry") if isinstance(custom, dict) else None,
                )
            except Exception as err:  # noqa: BLE001 - the verdict is kept even if the embedding model cannot load
                logger.warning("Could not keep the wrongly answered question (%s).", type(err).__name__)

    await blocking(store)
    return {"status": "marked", "verdict": body.verdict}


def _mainland_phone(raw: str) -> str:
    try:
        number = phonenumbers.parse(unicodedata.normalize("NFKC", raw), "CN")
    except phonenumbers.NumberParseException as err:
        raise HTTPException(422, "the phone number cannot be read") from err
    if not phonenumbers.is_valid_number(number):
        raise HTTPException(422, "the phone number is not a valid number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)).replace(" ", "")


async def _book(staff: Staff, user: User, conversation_id: str, body: BookingBody) -> dict[str, Any]:
    if not body.caller_agreed:
        raise HTTPException(422, "tick “caller agreed” once the caller has agreed to this booking")
    phone = _mainland_phone(body.phone)
    name = clean_text(body.contact_name)
    notes = clean_text(body.notes) if body.notes else None
    if not name:
        raise HTTPException(422, "the contact name is empty")
    # The same request_id (a double click, a retried request) books once.
    key = f"staff:{user.id}:{conversation_id}:{body.request_id}"

    def book() -> Any:
        return staff.bookings().book(body.slot_id, conversation_id, name, phone, notes, idempotency_key=key)

    try:
        booking = await blocking(book)
    except SlotFull as err:
        raise HTTPException(409, "that time is full; pick another") from err
    except SlotClosed as err:
        raise HTTPException(409, "that time has already started") from err
    except SlotNotFound as err:
        raise HTTPException(404, "no such time slot") from err
    except BookingInputError as err:
        raise HTTPException(422, str(err)) from err
    except StoreUnavailable as err:
        raise HTTPException(503, "the booking database did not answer; try again") from err
    except BookingError as err:
        raise HTTPException(409, "the booking could not be made; try again") from err

    def remember() -> bool:
        with staff.db.write() as conn:
            exists = conn.execute(
                sa.select(agent_bookings.c.id).where(agent_bookings.c.booking_code == booking.code)
            ).first()
            if exists is None:
                conn.execute(
                    agent_bookings.insert().values(
                        booking_code=booking.code,
                        conversation_id=conversation_id,
                        agent_id=user.id,
                        caller_agreed=True,
                        at=now(),
                    )
                )
        if exists is None:
            staff.audit.record(
                user.username,
                "booking",
                conversation_id=conversation_id,
                target=booking.code,
                details={"slot": booking.slot.id, "caller_agreed": True, "made_for": "senior"},
            )
        return exists is None

    created = await blocking(remember)
    service = staff.bookings()._catalog.service(booking.slot.service)
    return {
        "code": format_code(booking.code),
        "created": created,
        "service": booking.slot.service,
        "service_name": service.name,
        "start": f"{booking.slot.start:%m月%d日 %H:%M}",
        "place": f"{booking.slot.resource}（{booking.slot.street}）",
        "sample": booking.slot.sample,
    }


async def _warm(staff: Staff) -> None:
    try:
        await blocking(staff.assist.index)
    except Exception:
        logger.exception("The assist index could not be built at start; searches will try again.")
    # The unanswered-question grouping's clustering library takes seconds to import: now, not on a click.
    await blocking(importlib.import_module, "sklearn.cluster")


async def _janitor(staff: Staff) -> None:
    """Every few seconds: conversations nobody claimed in time get an apology and become tickets.
    Once an hour: unanswered questions past their retention period are deleted."""
    from staff.unanswered import Unanswered

    purged_at = 0.0
    while True:
        await asyncio.sleep(JANITOR_SECONDS)
        try:
            await expire_unclaimed(staff)
        except Exception:
            logger.exception("The unclaimed-handoff check failed; retrying.")
        if time.monotonic() - purged_at >= PURGE_SECONDS:
            purged_at = time.monotonic()
            try:
                gone = await blocking(Unanswered(staff.db).purge, staff.settings.unanswered_days)
                if gone:
                    logger.info(
                        "Retention: deleted %d unanswered questions older than %d days.",
                        gone,
                        staff.settings.unanswered_days,
                    )
            except Exception:
                logger.exception("The unanswered-question retention job failed; retrying in an hour.")


async def expire_unclaimed(staff: Staff) -> int:
    """Expire what waited too long, then resume the bot for each (again, if Rasa failed last time)."""
    settings = staff.settings
    due = settings.hours.next_opening(now())
    expired = await blocking(staff.queue.expire_unclaimed, dt.timedelta(minutes=settings.unclaimed_minutes), due)
    for handoff, ticket in expired:
        await blocking(
            lambda h=handoff, t=ticket: staff.audit.record(
                "system", "unclaimed", conversation_id=h.conversation_id, target=f"ticket {t.id}"
            )
        )
        logger.info("Handoff %s unclaimed for %d min: ticket %s.", handoff.id, settings.unclaimed_minutes, ticket.id)
    told = 0
    for handoff in await blocking(staff.queue.pending_resumes):
        try:
            await staff.rasa.resume(handoff.conversation_id, "utter_handoff_unclaimed")
        except StaffError:
            logger.warning("Could not resume the bot for unclaimed handoff %s; trying again soon.", handoff.id)
            continue
        await blocking(staff.queue.resumed, handoff.id)
        told += 1
    return told


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(_: Request, __: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> Response:
        # FastAPI's default echoes the offending input; name the field and the rule only.
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": str(e.get("msg", ""))}
            for e in err.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in err.errors()):
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        return JSONResponse({"error": "invalid request", "details": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> Response:
        detail = err.detail if isinstance(err.detail, (str, dict)) else "error"
        body = detail if isinstance(detail, dict) else {"error": detail}
        return JSONResponse(body, status_code=err.status_code, headers=getattr(err, "headers", None))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, __: NotFound) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, err: Conflict) -> Response:
        return JSONResponse({"error": str(err)}, status_code=409)

    @app.exception_handler(InvalidInput)
    async def bad_input(_: Request, err: InvalidInput) -> Response:
        return JSONResponse({"error": str(err)}, status_code=422)

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, err: Unavailable) -> Response:
        return JSONResponse({"error": f"cannot now: {err}"}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def crashed(_: Request, err: Exception) -> Response:
        logger.error("Unhandled %s in the staff app.", type(err).__name__, exc_info=err)
        return JSONResponse({"error": "internal error"}, status_code=500)


def asgi(settings: Settings | None = None) -> Any:
    """The app wrapped in the protocol guard (what uvicorn serves)."""
    app = create_app(settings)
    return ProtocolGuard(app, app.state.staff.settings.max_body_bytes, app.state.limiters["ip"])
