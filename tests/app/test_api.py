from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge_base.api import AdminServer
from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, KBStore]]:
    store = KBStore(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    store.import_entries(builtin_entries()[:3], "seed", "test")
    server = AdminServer(("127.0.0.1", 0), store, TOKEN)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", store
    server.shutdown()
    server.server_close()


def call(
    url: str,
    method: str = "GET",
    body: object = None,
    token: str | None = TOKEN,
    content_type: str = "application/json",
) -> tuple[int, object]:
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type, "X-Admin-User": "tester"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if "json" in response.headers["Content-Type"] else raw
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_token_is_required_and_checked(api: tuple[str, KBStore]) -> None:
    url, store = api
    assert call(f"{url}/entries", token=None)[0] == 401
    assert call(f"{url}/entries", token="wrong-token-0123456789")[0] == 401
    assert call(f"{url}/health", token=None)[0] == 200
    assert store.audit_log(1)[0]["outcome"] == "unauthorized"


def test_edit_history_restore_and_delete(api: tuple[str, KBStore]) -> None:
    url, store = api
    entry_id = builtin_entries()[0].id
    status, entry = call(f"{url}/entries/{entry_id}")
    assert status == 200
    entry["answer"] = "新的短答案。"
    assert call(f"{url}/entries/{entry_id}", "PUT", {"entry": entry})[0] == 400  # a reason is required
    status, result = call(f"{url}/entries/{entry_id}", "PUT", {"entry": entry, "reason": "更正"})
    assert status == 200 and result["revision"] == 2
    assert store.get(entry_id).answer == "新的短答案。"
    status, history = call(f"{url}/entries/{entry_id}/history")
    assert [h["author"] for h in history] == ["seed", "tester"]
    assert call(f"{url}/entries/{entry_id}/restore", "POST", {"revision": 1, "reason": "回滚"})[0] == 200
    assert store.get(entry_id) == builtin_entries()[0]
    assert call(f"{url}/entries/{entry_id}", "DELETE", {"reason": "过时"})[0] == 200
    assert call(f"{url}/entries/{entry_id}")[0] == 404


def test_invalid_input_is_refused_with_details(api: tuple[str, KBStore]) -> None:
    url, store = api
    version = store.version()
    status, body = call(f"{url}/entries", "POST", {"entry": {"id": "svc-x", "title": "x"}, "reason": "r"})
    assert status == 422 and any("questions" in d for d in body["details"])
    assert call(f"{url}/entries", "POST", b"{oops", content_type="application/json")[0] == 400
    assert call(f"{url}/entries", "POST", b"a=b", content_type="application/x-www-form-urlencoded")[0] == 415
    status, _ = call(f"{url}/entries", "POST", {"entry": builtin_entries()[0].to_dict(), "reason": "dup"})
    assert status == 409
    assert store.version() == version, "nothing was written"


def test_export_formats(api: tuple[str, KBStore]) -> None:
    url, _ = api
    status, body = call(f"{url}/export?format=csv")
    assert status == 200 and builtin_entries()[0].id.encode() in body
    status, body = call(f"{url}/export?format=xlsx")
    assert status == 200 and body[:2] == b"PK"
