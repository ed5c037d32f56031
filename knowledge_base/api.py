"""Admin API for the knowledge base (JSON over HTTP, bearer token, every call audited).

    KB_ADMIN_TOKEN=... .venv/bin/python -m knowledge_base serve --port 5056

    GET    /health                          no token
    GET    /version
    GET    /entries[?collection=legal]
    GET    /entries/<id>
    POST   /entries                 {"entry": {...}, "reason": "..."}
    PUT    /entries/<id>            {"entry": {...}, "reason": "..."}
    DELETE /entries/<id>            {"reason": "..."}
    GET    /entries/<id>/history
    POST   /entries/<id>/restore    {"revision": 2, "reason": "..."}
    POST   /import                  {"entries": [{...}, ...], "reason": "..."}
    GET    /export?format=yaml|csv|xlsx[&collection=...]

The author of a change is the ``X-Admin-User`` header (default ``admin-api``). Changes
bump the KB version; running action servers pick them up within a second.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import tempfile
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from knowledge_base.files import write_entries
from knowledge_base.schema import Entry, EntryValidationError, KnowledgeBaseError, parse_entry
from knowledge_base.store import EntryExists, EntryNotFound, KBStore

logger = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024
ENTRY_PATH = re.compile(r"^/entries/([a-z0-9-]{2,64})(/history|/restore)?$")
EXPORT_TYPES = {
    "yaml": "application/yaml; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


def _entry(raw: Any, entry_id: str | None = None) -> Entry:
    if isinstance(raw, dict) and entry_id is not None:
        raw = {**raw, "id": raw.get("id", entry_id)}
        if raw["id"] != entry_id:
            raise ApiError(HTTPStatus.BAD_REQUEST, "the entry's id differs from the id in the path")
    entry, problems = parse_entry(raw, "request", None)
    if entry is None:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid entry", [str(p) for p in problems])
    return entry


class AdminHandler(BaseHTTPRequestHandler):
    server: AdminServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.info("admin %s", format % args)

    # -- plumbing -------------------------------------------------------------------------
    def _send(self, status: HTTPStatus, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False, default=str).encode())

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
        if length and "json" not in (self.headers.get("Content-Type") or ""):
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data

    def _reason(self, body: dict[str, Any]) -> str:
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise ApiError(HTTPStatus.BAD_REQUEST, "'reason' is required for every change")
        return reason[:500]

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        return hmac.compare_digest(token.encode(), self.server.token.encode())

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        author = (self.headers.get("X-Admin-User") or "admin-api").strip()[:100] or "admin-api"
        store = self.server.store
        if url.path == "/health" and method == "GET":
            self._json(HTTPStatus.OK, {"status": "ok"})
            return
        if not self._authorized():
            store.audit(f"api:{author}", f"{method} {url.path}"[:32], url.path, "unauthorized")
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        outcome = "ok"
        try:
            status, payload = self._route(method, url.path, query, author)
            if isinstance(payload, tuple):
                self._send(status, payload[0], payload[1])
            else:
                self._json(status, payload)
        except ApiError as err:
            outcome = str(int(err.status))
            self._json(err.status, {"error": err.message, **({"details": err.details} if err.details else {})})
        except EntryNotFound as err:
            outcome = "404"
            self._json(HTTPStatus.NOT_FOUND, {"error": str(err)})
        except EntryExists as err:
            outcome = "409"
            self._json(HTTPStatus.CONFLICT, {"error": str(err)})
        except EntryValidationError as err:
            outcome = "422"
            self._json(
                HTTPStatus.UNPROCESSABLE_ENTITY, {"error": "invalid entries", "details": [str(p) for p in err.problems]}
            )
        except KnowledgeBaseError as err:
            outcome = "400"
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        finally:
            store.audit(f"api:{author}", method, url.path, outcome)

    def _route(self, method: str, path: str, query: dict[str, str], author: str) -> tuple[HTTPStatus, Any]:
        store = self.server.store
        if path == "/version" and method == "GET":
            return HTTPStatus.OK, {"version": store.version()}
        if path == "/entries" and method == "GET":
            return HTTPStatus.OK, [
                {"id": e.id, "collection": e.collection, "title": e.title, "sample": e.sample, "unsure": e.unsure}
                for e in store.entries(query.get("collection"))
            ]
        if path == "/entries" and method == "POST":
            body = self._body()
            entry = _entry(body.get("entry"))
            revision = store.add(entry, author, self._reason(body))
            return HTTPStatus.CREATED, {"id": entry.id, "revision": revision, "version": store.version()}
        if path == "/import" and method == "POST":
            body = self._body()
            raw = body.get("entries")
            if not isinstance(raw, list):
                raise ApiError(HTTPStatus.BAD_REQUEST, "'entries' must be a list")
            problems, entries = [], []
            for row, item in enumerate(raw, start=1):
                parsed, found = parse_entry(item, "request", row)
                problems.extend(found)
                if parsed is not None:
                    entries.append(parsed)
            if problems:
                raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid entries", [str(p) for p in problems])
            return HTTPStatus.OK, store.import_entries(entries, author, self._reason(body))
        if path == "/export" and method == "GET":
            fmt = query.get("format", "yaml")
            if fmt not in EXPORT_TYPES:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"format must be one of {', '.join(EXPORT_TYPES)}")
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / f"export.{fmt}"
                write_entries(store.entries(query.get("collection")), target)
                return HTTPStatus.OK, (target.read_bytes(), EXPORT_TYPES[fmt])
        match = ENTRY_PATH.match(path)
        if match is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no route for {method} {path}")
        entry_id, tail = match.group(1), match.group(2)
        if tail is None and method == "GET":
            return HTTPStatus.OK, store.get(entry_id).to_dict()
        if tail is None and method == "PUT":
            body = self._body()
            revision = store.edit(_entry(body.get("entry"), entry_id), author, self._reason(body))
            return HTTPStatus.OK, {"id": entry_id, "revision": revision, "version": store.version()}
        if tail is None and method == "DELETE":
            revision = store.delete(entry_id, author, self._reason(self._body()))
            return HTTPStatus.OK, {"id": entry_id, "revision": revision, "version": store.version()}
        if tail == "/history" and method == "GET":
            return HTTPStatus.OK, [
                {
                    "revision": r.revision,
                    "action": r.action,
                    "author": r.author,
                    "reason": r.reason,
                    "at": r.created_at.isoformat(),
                    "entry": r.entry.to_dict() if r.entry else None,
                }
                for r in store.history(entry_id)
            ]
        if tail == "/restore" and method == "POST":
            body = self._body()
            try:
                revision_number = int(body.get("revision"))  # type: ignore[arg-type]
            except (TypeError, ValueError) as err:
                raise ApiError(HTTPStatus.BAD_REQUEST, "'revision' must be a number") from err
            revision = store.restore(entry_id, revision_number, author, self._reason(body))
            return HTTPStatus.OK, {"id": entry_id, "revision": revision, "version": store.version()}
        raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class AdminServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: KBStore, token: str) -> None:
        if len(token) < 16:
            raise KnowledgeBaseError("KB_ADMIN_TOKEN must be set to a secret of at least 16 characters")
        super().__init__(address, AdminHandler)
        self.store, self.token = store, token


def serve(store: KBStore, host: str, port: int, token: str | None = None) -> None:
    server = AdminServer((host, port), store, token if token is not None else os.environ.get("KB_ADMIN_TOKEN", ""))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logger.info("Knowledge base admin API on http://%s:%d", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
