"""The administrators' console (role ``admin``): knowledge-base pages, hit testing, unanswered questions.

Pages (HTML, an admin's session):

    GET /admin/kb[?collection=&q=]      entries by collection, searched in title, variants and answer
    GET /admin/kb/new[?from=1,2,3]      a new entry (optionally drafted from unanswered questions)
    GET /admin/kb/{id}                  the edit form, previews, history, diff, rollback, delete
    GET /admin/kb-files                 upload and download (Excel, CSV, YAML)
    GET /admin/hit-test                 a question → intent, retrieval scores, the answer the bot would give
    GET /admin/unanswered               unanswered questions grouped by meaning

JSON (an admin's session with the CSRF header, or an admin's API token):

    POST /api/admin/kb/check            {"entry"} → problems by field and the two previews; writes nothing
    POST /api/admin/kb/save             {"entry", "reason", "new"} → a revision, or 422 with problems by field
    GET  /api/admin/kb/entries/{id}/diff?a=&b=   line diff of two revisions (0 = the current entry)
    POST /api/admin/kb/upload           {"filename", "content" (base64), "reason", "dry_run"} → all or nothing
    POST /api/admin/hit-test            {"q"}
    POST /api/admin/hit-test/variant    {"entry_id", "question", "reason"?}
    GET  /api/admin/unanswered[?days=]
    POST /api/admin/unanswered/act      {"ids", "action": dismiss|variants|draft, "entry_id"?, "questions"?}

Deleting and restoring use the KB API (``DELETE /api/kb/entries/{id}``, ``POST …/restore``), which
already needs a reason and records author and revision. Every change here is a KB revision with
the admin as author and a reason, and is audited (``kb_change``); the running bot sees it within
a second (the store bumps its version, every action server follows it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import yaml
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from common.errors import ConfigError, Unavailable
from common.render import render, utf8_bytes
from knowledge_base.answers import compose, format_entry
from knowledge_base.files import FORMATS, read_entries
from knowledge_base.retrieval import Hit
from knowledge_base.schema import (
    COLLECTIONS,
    FIELD_NAMES,
    PLACES,
    Entry,
    EntryValidationError,
    KnowledgeBaseError,
    Problem,
    parse_entry,
)
from knowledge_base.store import EntryExists, EntryNotFound
from staff import analytics as an
from staff.app import ApiAdmin, PageAdmin, Staff, blocking, clean_text
from staff.errors import StaffError
from staff.unanswered import Unanswered

ENTRY_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"
WECHAT_LIMIT_BYTES = 2048  # a passive text reply (channels/wechat/output.py)
MAX_UPLOAD_BYTES = 3 * 1024 * 1024
COLLECTION_NAMES = {"services": "养老服务", "legal": "法律公证", "insurance": "保险", "directory": "机构名录"}
FIELD_LABELS = {
    "eligibility": "谁能办",
    "documents": "要带的材料（一行一项）",
    "fees": "费用",
    "hours": "开放时间",
    "place": "地点",
    "phone": "电话",
    "how_to": "怎么办",
    "coverage": "保什么",
    "exclusions": "不保什么",
}


class EntryBody(BaseModel):
    entry: dict[str, Any]


class SaveBody(BaseModel):
    entry: dict[str, Any]
    reason: str = Field(min_length=1, max_length=500)
    new: bool = False


class UploadBody(BaseModel):
    filename: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=500)
    dry_run: bool = False


class HitBody(BaseModel):
    q: str = Field(min_length=1, max_length=500)


class VariantBody(BaseModel):
    entry_id: str = Field(pattern=ENTRY_ID)
    question: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(None, max_length=500)


class ActBody(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=5000)
    action: str = Field(pattern="^(dismiss|variants|draft)$")
    entry_id: str | None = Field(None, pattern=ENTRY_ID)
    questions: list[str] | None = Field(None, max_length=30)
    reason: str | None = Field(None, max_length=500)


# -- pure helpers (tested directly) --------------------------------------------------------------


def problems_by_field(problems: list[Problem]) -> dict[str, list[str]]:
    """Problems keyed by the form field they belong to (``questions[3]`` → ``questions``; ``*`` → the entry)."""
    out: dict[str, list[str]] = {}
    for p in problems:
        name = p.field.split("[", 1)[0]
        message = p.message
        if "[" in p.field:
            message = f"第 {p.field.split('[', 1)[1].rstrip(']')} 项：{message}"
        out.setdefault(name, []).append(message)
    return out


def previews(entry: Entry) -> dict[str, Any]:
    """The answer as the bot would send it: in the web chat (one message, large type) and on WeChat
    (the same text shaped by the WeChat channel's rules: numbered choices, 2048-byte pieces)."""
    text, _ = format_entry(entry)
    pieces = [r.text for r in render([{"text": text}], False, WECHAT_LIMIT_BYTES, utf8_bytes)]
    return {"webchat": text, "wechat": pieces, "wechat_bytes": [utf8_bytes(p) for p in pieces]}


def entry_lines(entry: Entry | None) -> list[str]:
    if entry is None:
        return ["（已删除）"]
    text = yaml.safe_dump(entry.to_dict(), allow_unicode=True, sort_keys=False, width=1000)
    return text.splitlines()


def diff_lines(old: Entry | None, new: Entry | None) -> list[dict[str, str]]:
    """A line diff of two entries as YAML: each line with ``op`` '=', '-' or '+'."""
    out: list[dict[str, str]] = []
    a, b = entry_lines(old), entry_lines(new)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend({"op": "=", "text": line} for line in a[i1:i2])
        else:
            out.extend({"op": "-", "text": line} for line in a[i1:i2])
            out.extend({"op": "+", "text": line} for line in b[j1:j2])
    return out


def matches(entry: Entry, q: str) -> bool:
    q = q.strip().lower()
    if not q:
        return True
    hay = "\n".join([entry.id, entry.title, *entry.questions, entry.answer]).lower()
    return all(part in hay for part in q.split())


def hit_report(hits: list[Hit], entries: dict[str, Entry], threshold: float) -> dict[str, Any]:
    """Retrieved entries with their dense, BM25 and fused scores, and what the bot would answer."""
    reply = compose(hits, entries, threshold)
    top = hits[0] if hits else None
    return {
        "threshold": threshold,
        "hits": [
            {
                "id": h.id,
                "title": entries[h.id].title if h.id in entries else h.id,
                "collection": entries[h.id].collection if h.id in entries else None,
                "dense": round(h.dense, 4),
                "bm25": round(h.sparse, 4),
                "fused": round(h.score, 4),
                "clears": h.score >= threshold,
            }
            for h in hits
        ],
        "answer": {
            "entry_id": reply.entry_id if reply.confident else None,
            "would_answer": top.id if top else None,
            "score": round(reply.score, 4),
            "clears_threshold": reply.confident,
            "text": reply.text,
        },
    }


def draft_from(texts: list[str]) -> dict[str, Any]:
    """A new entry's starting point from a group of masked questions (placeholders never become variants)."""
    questions = [t for t in dict.fromkeys(texts) if "【" not in t][:10]
    return {"questions": questions, "title": questions[0][:60] if questions else ""}


# -- routes --------------------------------------------------------------------------------------


def install(app: FastAPI, staff: Staff, templates: Jinja2Templates) -> None:
    store = staff.kb
    unanswered = Unanswered(staff.db)

    def author(principal: Any) -> str:
        return f"staff:{principal.user.username}"

    def audit(
        principal: Any, action: str, target: str, outcome: str = "ok", details: dict[str, Any] | None = None
    ) -> None:
        staff.audit.record(
            principal.user.username, "kb_change", target=f"{action} {target}"[:256], outcome=outcome, details=details
        )

    def page(request: Request, name: str, principal: Any, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, name, {"user": principal.user, "csrf": principal.csrf, "section": name, **context}
        )

    # -- knowledge base pages ----------------------------------------------------------------------
    @app.get("/admin/kb", response_class=HTMLResponse, include_in_schema=False)
    async def kb_list(
        request: Request,
        principal: PageAdmin,
        collection: str | None = Query(None, max_length=32),
        q: str = Query("", max_length=200),
    ) -> Response:
        entries = await blocking(store.entries, collection if collection in COLLECTIONS else None)
        found = [e for e in entries if matches(e, q)]
        return page(
            request,
            "kb_list.html",
            principal,
            entries=found,
            total=len(entries),
            collection=collection if collection in COLLECTIONS else "",
            q=q,
            collections=COLLECTION_NAMES,
            today=an.shanghai_today(),
        )

    def form_context(entry: dict[str, Any], is_new: bool) -> dict[str, Any]:
        return {
            "entry": entry,
            "is_new": is_new,
            "collections": COLLECTION_NAMES,
            "field_names": FIELD_NAMES,
            "field_labels": FIELD_LABELS,
            "places": PLACES,
        }

    @app.get("/admin/kb/new", response_class=HTMLResponse, include_in_schema=False)
    async def kb_new(
        request: Request, principal: PageAdmin, source: str = Query("", alias="from", max_length=2000)
    ) -> Response:
        draft: dict[str, Any] = {"collection": "services", "questions": [], "fields": {}}
        if source:
            try:
                ids = [int(x) for x in source.split(",") if x.strip()][:500]
            except ValueError as err:
                raise HTTPException(422, "from= lists message ids, such as 3,5,8") from err
            draft.update(draft_from(await blocking(unanswered.texts, ids)))
        return page(request, "kb_edit.html", principal, history=[], **form_context(draft, True))

    @app.get("/admin/kb/{entry_id}", response_class=HTMLResponse, include_in_schema=False)
    async def kb_edit(request: Request, principal: PageAdmin, entry_id: str) -> Response:
        try:
            entry = await blocking(store.get, entry_id)
        except EntryNotFound as err:
            raise HTTPException(404, "no such entry") from err
        history = await blocking(store.history, entry_id)
        return page(
            request,
            "kb_edit.html",
            principal,
            history=list(reversed(history)),
            preview=previews(entry),
            **form_context(entry.to_dict(), False),
        )

    @app.get("/admin/kb-files", response_class=HTMLResponse, include_in_schema=False)
    async def kb_files(request: Request, principal: PageAdmin) -> Response:
        return page(request, "kb_files.html", principal, collections=COLLECTION_NAMES)

    # -- knowledge base API ------------------------------------------------------------------------
    @app.post("/api/admin/kb/check")
    async def kb_check(body: EntryBody, _: ApiAdmin) -> dict[str, Any]:
        entry, problems = parse_entry(body.entry, "form", None)
        return {
            "ok": entry is not None,
            "problems": problems_by_field(problems),
            "preview": previews(entry) if entry is not None else None,
        }

    @app.post("/api/admin/kb/save")
    async def kb_save(body: SaveBody, principal: ApiAdmin) -> dict[str, Any]:
        entry, problems = parse_entry(body.entry, "form", None)
        if entry is None:
            raise HTTPException(422, {"error": "invalid entry", "problems": problems_by_field(problems)})
        reason = clean_text(body.reason)
        if not reason:
            raise HTTPException(422, {"error": "invalid entry", "problems": {"reason": ["请写明为什么改"]}})
        checked = entry

        def write() -> int:
            if body.new:
                return store.add(checked, author(principal), reason)
            return store.edit(checked, author(principal), reason)

        action = "add" if body.new else "edit"
        try:
            revision = await blocking(write)
        except EntryExists as err:
            audit(principal, action, entry.id, "409")
            raise HTTPException(409, {"error": str(err), "problems": {"id": ["这个编号已经有条目了"]}}) from err
        except EntryNotFound as err:
            audit(principal, action, entry.id, "404")
            raise HTTPException(404, str(err)) from err
        except EntryValidationError as err:
            raise HTTPException(422, {"error": "invalid entry", "problems": problems_by_field(err.problems)}) from err
        await blocking(lambda: audit(principal, action, entry.id, details={"revision": revision}))
        return {"id": entry.id, "revision": revision, "version": await blocking(store.version)}

    @app.get("/api/admin/kb/entries/{entry_id}/diff")
    async def kb_diff(entry_id: str, _: ApiAdmin, a: int = Query(ge=0), b: int = Query(0, ge=0)) -> dict[str, Any]:
        try:
            history = await blocking(store.history, entry_id)
        except EntryNotFound as err:
            raise HTTPException(404, "no such entry") from err
        by_number = {r.revision: r for r in history}
        latest = history[-1]

        def pick(number: int) -> Any:
            if number == 0:
                return latest
            if number not in by_number:
                raise HTTPException(404, f"entry {entry_id} has no revision {number}")
            return by_number[number]

        old, new = pick(a), pick(b)
        return {
            "a": old.revision,
            "b": new.revision,
            "lines": diff_lines(old.entry, new.entry),
            "about": {
                str(r.revision): {"author": r.author, "reason": r.reason, "at": r.created_at.isoformat()}
                for r in (old, new)
            },
        }

    @app.post("/api/admin/kb/upload")
    async def kb_upload(body: UploadBody, principal: ApiAdmin) -> dict[str, Any]:
        suffix = Path(body.filename).suffix.lower()
        if suffix not in FORMATS:
            raise HTTPException(422, {"error": "请上传 .xlsx、.csv 或 .yml 文件", "rows": []})
        try:
            data = base64.b64decode(body.content, validate=True)
        except (binascii.Error, ValueError) as err:
            raise HTTPException(422, {"error": "the file content must be base64", "rows": []}) from err
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, {"error": f"文件太大：最多 {MAX_UPLOAD_BYTES // 1024 // 1024} MB", "rows": []})
        reason = clean_text(body.reason)
        name = Path(body.filename).name[:100] or f"upload{suffix}"

        def check_and_write() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                path.write_bytes(data)
                entries = read_entries([path])  # every problem of every row, before anything is written
            if body.dry_run:
                current = {e.id: e for e in store.entries()}
                added = sum(1 for e in entries if e.id not in current)
                changed = sum(1 for e in entries if e.id in current and current[e.id] != e)
                return {"dry_run": True, "entries": len(entries), "added": added, "updated": changed}
            counts = store.import_entries(entries, author(principal), reason)
            return {"dry_run": False, "entries": len(entries), **counts}

        try:
            result = await blocking(check_and_write)
        except EntryValidationError as err:
            found = len(err.problems)
            await blocking(lambda: audit(principal, "upload", name, "422", {"problems": found}))
            raise HTTPException(
                422,
                {
                    "error": f"文件有 {len(err.problems)} 处问题，什么都没有写入",
                    "rows": [{"row": p.row, "field": p.field, "message": p.message} for p in err.problems[:500]],
                },
            ) from err
        except KnowledgeBaseError as err:
            raise HTTPException(422, {"error": str(err), "rows": []}) from err
        if not body.dry_run:
            await blocking(
                lambda: audit(principal, "upload", name, details={k: v for k, v in result.items() if k != "dry_run"})
            )
        return {**result, "version": await blocking(store.version)}

    # -- hit testing -------------------------------------------------------------------------------
    @app.get("/admin/hit-test", response_class=HTMLResponse, include_in_schema=False)
    async def hit_page(request: Request, principal: PageAdmin) -> Response:
        return page(request, "hit_test.html", principal)

    @app.post("/api/admin/hit-test")
    async def hit_test(body: HitBody, _: ApiAdmin) -> dict[str, Any]:
        text = clean_text(body.q)
        if not text:
            raise HTTPException(422, "the question is empty")
        started = time.perf_counter()
        nlu: dict[str, Any]
        try:
            parsed = await staff.rasa.parse(text)
            intent = parsed.get("intent") or {}
            nlu = {
                "intent": intent.get("name"),
                "confidence": round(float(intent.get("confidence") or 0.0), 4),
                "ranking": [
                    {"name": r.get("name"), "confidence": round(float(r.get("confidence") or 0.0), 4)}
                    for r in (parsed.get("intent_ranking") or [])[:5]
                ],
                "entities": [
                    {"entity": e.get("entity"), "value": e.get("value")} for e in parsed.get("entities") or []
                ],
            }
        except StaffError as err:
            nlu = {"error": f"Rasa 没有回答（{err}）"}

        def retrieve() -> dict[str, Any]:
            index = staff.assist.index()
            snapshot = index.snapshot()
            hits = index.search(text, top_k=5)
            return {**hit_report(hits, snapshot.entries, index.settings.threshold), "kb_version": snapshot.version}

        retrieval = await blocking(retrieve)
        return {"q": text, "nlu": nlu, **retrieval, "ms": round((time.perf_counter() - started) * 1000, 1)}

    @app.post("/api/admin/hit-test/variant")
    async def add_variant(body: VariantBody, principal: ApiAdmin) -> dict[str, Any]:
        question = clean_text(body.question)
        reason = clean_text(body.reason or "") or f"命中测试：把“{question[:40]}”加为问法"
        revision = await blocking(lambda: _add_variants(staff, body.entry_id, [question], author(principal), reason))
        await blocking(lambda: audit(principal, "add_variant", body.entry_id, details={"revision": revision}))
        return {"id": body.entry_id, "revision": revision, "version": await blocking(store.version)}

    # -- unanswered questions ----------------------------------------------------------------------
    @app.get("/admin/unanswered", response_class=HTMLResponse, include_in_schema=False)
    async def unanswered_page(request: Request, principal: PageAdmin) -> Response:
        return page(request, "unanswered.html", principal, retention=staff.settings.unanswered_days)

    @app.get("/api/admin/unanswered")
    async def unanswered_groups(_: ApiAdmin, days: int = Query(90, ge=1, le=3660)) -> dict[str, Any]:
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
        started = time.perf_counter()
        groups = await blocking(lambda: unanswered.groups(since))
        return {
            "groups": [g.public() for g in groups],
            "messages": sum(g.count for g in groups),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @app.post("/api/admin/unanswered/act")
    async def unanswered_act(body: ActBody, principal: ApiAdmin) -> dict[str, Any]:
        who = principal.user.username
        if body.action == "dismiss":
            changed = await blocking(lambda: unanswered.mark(body.ids, "dismissed", who, body.reason))
            return {"status": "dismissed", "changed": changed}
        if body.action == "draft":
            changed = await blocking(lambda: unanswered.mark(body.ids, "drafted", who, body.reason))
            return {
                "status": "drafted",
                "changed": changed,
                "next": "/admin/kb/new?from=" + ",".join(map(str, body.ids[:200])),
            }
        if body.entry_id is None:
            raise HTTPException(422, "choose the entry the questions are variants of")
        texts = body.questions or draft_from(await blocking(unanswered.texts, body.ids))["questions"]
        questions = [q for q in (clean_text(t) for t in texts) if q and "【" not in q]
        if not questions:
            raise HTTPException(422, "no question without masked personal data to add; edit the entry by hand")
        reason = clean_text(body.reason or "") or f"未答问题：加 {len(questions)} 个问法"
        revision = await blocking(
            lambda: _add_variants(staff, body.entry_id or "", questions, author(principal), reason)
        )
        changed = await blocking(lambda: unanswered.mark(body.ids, "added", who, f"{body.entry_id}@{revision}"))
        await blocking(lambda: audit(principal, "add_variant", body.entry_id or "", details={"revision": revision}))
        return {"status": "added", "changed": changed, "entry_id": body.entry_id, "revision": revision}

    # -- analytics ---------------------------------------------------------------------------------
    engines: list[tuple[Engine | None, Engine | None]] = []

    def analytics() -> an.Analytics:
        if not engines:
            engines.append(_engines(staff))
        tracker, bookings = engines[0]
        return an.Analytics(staff.db, tracker, bookings)

    def titles() -> dict[str, str]:
        return {e.id: e.title for e in store.entries()}

    @app.get("/admin/analytics", response_class=HTMLResponse, include_in_schema=False)
    async def analytics_page(request: Request, principal: PageAdmin, days: int = Query(14, ge=1, le=366)) -> Response:
        start, end = an.period(days)
        report = await blocking(lambda: analytics().report(start, end))
        return page(
            request,
            "analytics.html",
            principal,
            report=report,
            kpi=an.summary(report),
            charts=an.charts(report, await blocking(titles)),
            days=days,
        )

    @app.get("/admin/analytics/weekly", response_class=HTMLResponse, include_in_schema=False)
    async def weekly_page(
        request: Request, principal: PageAdmin, week: Annotated[dt.date | None, Query()] = None
    ) -> Response:
        today = dt.datetime.now(an.SHANGHAI).date()
        start, end = an.week_of(week or today - dt.timedelta(days=7))
        report = await blocking(lambda: analytics().report(start, end))
        groups = await blocking(lambda: unanswered.groups(an._bounds(start, end)[0]))
        return page(
            request,
            "weekly.html",
            principal,
            report=report,
            kpi=an.summary(report),
            charts=an.charts(report, await blocking(titles)),
            groups=[g for g in groups if g.status == "open" or g.returned][:10],
            previous=start - dt.timedelta(days=7),
            following=end if end <= today else None,
        )

    @app.get("/api/admin/analytics.csv")
    async def analytics_csv(_: ApiAdmin, days: int = Query(14, ge=1, le=366)) -> Response:
        start, end = an.period(days)
        report = await blocking(lambda: analytics().report(start, end))
        return Response(
            an.to_csv(report).encode("utf-8-sig"),  # the BOM tells Excel it is UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="yinling-analytics-{start}-{end}.csv"'},
        )


def _engines(staff: Staff) -> tuple[Engine | None, Engine | None]:
    """Read-only engines on Rasa's tracker store and the bookings database (None when not configured).

    The bookings database is the one the console books in and takes attendance in (its store opened
    first, so the attendance table exists); if it cannot be opened now, the configured URL is read."""
    from bookings.store import database_url as bookings_url
    from yinling.db import driver_url

    tracker = None
    if staff.settings.tracker_url:
        tracker = sa.create_engine(driver_url(staff.settings.tracker_url), pool_pre_ping=True)
    try:
        url = staff.bookings().url
    except (Unavailable, ConfigError):
        url = driver_url(bookings_url())
    return tracker, sa.create_engine(url, pool_pre_ping=True)


def _add_variants(staff: Staff, entry_id: str, questions: list[str], author: str, reason: str) -> int:
    """A new revision of the entry with ``questions`` added (those it has already are skipped)."""
    try:
        entry = staff.kb.get(entry_id)
    except EntryNotFound as err:
        raise HTTPException(404, "no such entry") from err
    new = [q for q in questions if q not in entry.questions]
    if not new:
        raise HTTPException(409, "the entry already has these question variants")
    raw = entry.to_dict()
    raw["questions"] = [*entry.questions, *new]
    checked, problems = parse_entry(raw, "variant", None)
    if checked is None:
        raise HTTPException(422, {"error": "invalid entry", "problems": problems_by_field(problems)})
    try:
        return staff.kb.edit(checked, author, reason)
    except EntryValidationError as err:
        raise HTTPException(422, {"error": "invalid entry", "problems": problems_by_field(err.problems)}) from err
