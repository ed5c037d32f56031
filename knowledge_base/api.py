"""Admin API for the knowledge base, as a FastAPI router mounted by the staff app under ``/api/kb``.

It moved out of a hand-written ``http.server`` into the staff app (``python -m staff serve``, or
``python -m knowledge_base serve``, which starts the same app): the framework owns the HTTP
protocol layer, and the staff app's login guards every route — an admin's session cookie plus
CSRF header in the browser, or ``Authorization: Bearer <the admin's API token>`` for scripts
(``python -m staff token <name>``). Only the ``admin`` role may use these routes.

    GET    /api/kb/version
    GET    /api/kb/entries[?collection=legal]
    GET    /api/kb/entries/{id}
    POST   /api/kb/entries                 {"entry": {...}, "reason": "..."}
    PUT    /api/kb/entries/{id}            {"entry": {...}, "reason": "..."}
    DELETE /api/kb/entries/{id}            {"reason": "..."}
    GET    /api/kb/entries/{id}/history
    POST   /api/kb/entries/{id}/restore    {"revision": 2, "reason": "..."}
    POST   /api/kb/import                  {"entries": [{...}, ...], "reason": "..."}
    GET    /api/kb/export?format=yaml|csv|xlsx[&collection=...]

Successor of the old token API: the author of a change is the logged-in admin (no more
``X-Admin-User`` header, which anyone could set), every change is audited in the staff audit
table, a missing ``reason`` is a 422 with the field named, and ``KB_ADMIN_TOKEN`` is gone.
Changes bump the KB version; running action servers pick them up within a second.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from knowledge_base.files import write_entries
from knowledge_base.schema import Entry, EntryValidationError, KnowledgeBaseError, parse_entry
from knowledge_base.store import EntryExists, EntryNotFound, KBStore

ENTRY_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"
EXPORT_TYPES = {
    "yaml": "application/yaml; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

ENTRY_PATH = PathParam(pattern=ENTRY_ID)
Reason = Annotated[
    str, Field(min_length=1, max_length=500, description="why this change is made (kept in the history)")
]


class EntryChange(BaseModel):
    entry: dict[str, Any]
    reason: Reason


class Deletion(BaseModel):
    reason: Reason


class Restore(BaseModel):
    revision: StrictInt = Field(ge=1)  # 1.9, "2" and true are refused, never rounded
    reason: Reason


class Import(BaseModel):
    entries: list[Any]
    reason: Reason


# The staff app supplies who is acting (or refuses), and records each change in its audit.
Author = Callable[..., Awaitable[str]]
OnChange = Callable[[str, str, str, str], None]  # author, action, target, outcome


def _entry(raw: Any, entry_id: str | None = None) -> Entry:
    if isinstance(raw, dict) and entry_id is not None:
        raw = {**raw, "id": raw.get("id", entry_id)}
        if raw["id"] != entry_id:
            raise HTTPException(400, "the entry's id differs from the id in the path")
    entry, problems = parse_entry(raw, "request", None)
    if entry is None:
        raise HTTPException(422, {"error": "invalid entry", "details": [str(p) for p in problems]})
    return entry


def kb_router(store: Callable[[], KBStore], author: Author, on_change: OnChange) -> APIRouter:
    router = APIRouter(tags=["knowledge base"])
    who_is = Depends(author)  # a default, not Annotated: a local alias would not resolve under PEP 563

    async def run(fn: Callable[[], Any]) -> Any:
        """Store calls block (SQLite, file export): keep them off the event loop."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except EntryNotFound as err:
            raise HTTPException(404, str(err)) from err
        except EntryExists as err:
            raise HTTPException(409, str(err)) from err
        except EntryValidationError as err:
            raise HTTPException(422, {"error": "invalid entries", "details": [str(p) for p in err.problems]}) from err
        except KnowledgeBaseError as err:
            raise HTTPException(400, str(err)) from err

    async def change(who: str, action: str, target: str, fn: Callable[[], Any]) -> Any:
        try:
            result = await run(fn)
        except HTTPException as err:
            on_change(who, action, target, str(err.status_code))
            raise
        on_change(who, action, target, "ok")
        return result

    @router.get("/version")
    async def version(_: str = who_is) -> dict[str, int]:
        return {"version": await run(lambda: store().version())}

    @router.get("/entries")
    async def entries(collection: str | None = Query(None, max_length=32), _: str = who_is) -> list[dict[str, Any]]:
        found: list[Entry] = await run(lambda: store().entries(collection))
        return [
            {"id": e.id, "collection": e.collection, "title": e.title, "sample": e.sample, "unsure": e.unsure}
            for e in found
        ]

    @router.get("/entries/{entry_id}")
    async def get_entry(entry_id: Annotated[str, ENTRY_PATH], _: str = who_is) -> dict[str, Any]:
        entry: Entry = await run(lambda: store().get(entry_id))
        return entry.to_dict()

    @router.post("/entries", status_code=201)
    async def add(body: EntryChange, who: str = who_is) -> dict[str, Any]:
        entry = _entry(body.entry)
        revision = await change(who, "add", entry.id, lambda: store().add(entry, who, body.reason))
        return {"id": entry.id, "revision": revision, "version": await run(lambda: store().version())}

    @router.put("/entries/{entry_id}")
    async def edit(entry_id: Annotated[str, ENTRY_PATH], body: EntryChange, who: str = who_is) -> dict[str, Any]:
        entry = _entry(body.entry, entry_id)
        revision = await change(who, "edit", entry_id, lambda: store().edit(entry, who, body.reason))
        return {"id": entry_id, "revision": revision, "version": await run(lambda: store().version())}

    @router.delete("/entries/{entry_id}")
    async def delete(entry_id: Annotated[str, ENTRY_PATH], body: Deletion, who: str = who_is) -> dict[str, Any]:
        revision = await change(who, "delete", entry_id, lambda: store().delete(entry_id, who, body.reason))
        return {"id": entry_id, "revision": revision, "version": await run(lambda: store().version())}

    @router.get("/entries/{entry_id}/history")
    async def history(entry_id: Annotated[str, ENTRY_PATH], _: str = who_is) -> list[dict[str, Any]]:
        revisions = await run(lambda: store().history(entry_id))
        return [
            {
                "revision": r.revision,
                "action": r.action,
                "author": r.author,
                "reason": r.reason,
                "at": r.created_at.isoformat(),
                "entry": r.entry.to_dict() if r.entry else None,
            }
            for r in revisions
        ]

    @router.post("/entries/{entry_id}/restore")
    async def restore(entry_id: Annotated[str, ENTRY_PATH], body: Restore, who: str = who_is) -> dict[str, Any]:
        target = f"{entry_id}@{body.revision}"
        revision = await change(
            who, "restore", target, lambda: store().restore(entry_id, body.revision, who, body.reason)
        )
        return {"id": entry_id, "revision": revision, "version": await run(lambda: store().version())}

    @router.post("/import")
    async def import_entries(body: Import, who: str = who_is) -> dict[str, int]:
        problems, parsed = [], []
        for row, item in enumerate(body.entries, start=1):
            entry, found = parse_entry(item, "request", row)
            problems.extend(found)
            if entry is not None:
                parsed.append(entry)
        if problems:
            on_change(who, "import", f"{len(body.entries)} entries", "422")
            raise HTTPException(422, {"error": "invalid entries", "details": [str(p) for p in problems]})
        counts: dict[str, int] = await change(
            who, "import", f"{len(parsed)} entries", lambda: store().import_entries(parsed, who, body.reason)
        )
        return counts

    @router.get("/export")
    async def export(
        _: str = who_is,
        format: str = Query("yaml", pattern="^(yaml|csv|xlsx)$"),  # noqa: A002 - the documented parameter name
        collection: str | None = Query(None, max_length=32),
    ) -> Response:
        def build() -> bytes:
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / f"export.{format}"
                write_entries(store().entries(collection), target)
                return target.read_bytes()

        return Response(await run(build), media_type=EXPORT_TYPES[format])

    return router
