"""The knowledge-base admin API, now inside the staff app (``/api/kb``), used with an admin's API token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knowledge_base.files import builtin_entries
from tests.app.staff_support import Served, make_user, serve, settings_for


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[tuple[httpx.Client, Served]]:
    settings = settings_for(tmp_path)
    make_user(settings, "boss", "admin")
    with serve(settings) as running:
        token = running.accounts.new_api_token(running.accounts.by_name("boss").id)
        client = httpx.Client(base_url=f"{running.url}/api/kb", headers={"Authorization": f"Bearer {token}"})
        yield client, running


def test_edit_history_restore_and_delete(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    entry_id = builtin_entries()[0].id
    entry = client.get(f"/entries/{entry_id}").json()
    entry["answer"] = "新的短答案。"
    missing_reason = client.put(f"/entries/{entry_id}", json={"entry": entry})
    assert missing_reason.status_code == 422 and missing_reason.json()["details"][0]["field"] == "reason"
    changed = client.put(f"/entries/{entry_id}", json={"entry": entry, "reason": "更正"})
    assert changed.status_code == 200 and changed.json()["revision"] == 2
    assert served.kb.get(entry_id).answer == "新的短答案。"
    history = client.get(f"/entries/{entry_id}/history").json()
    assert [h["author"] for h in history] == ["seed", "staff:boss"]
    assert client.post(f"/entries/{entry_id}/restore", json={"revision": 1, "reason": "回滚"}).status_code == 200
    assert served.kb.get(entry_id) == builtin_entries()[0]
    assert client.request("DELETE", f"/entries/{entry_id}", json={"reason": "过时"}).status_code == 200
    assert client.get(f"/entries/{entry_id}").status_code == 404
    assert client.get("/entries/Not_An_Id!").status_code in (404, 422)


def test_invalid_input_is_refused_with_details_and_nothing_is_written(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    version = served.kb.version()
    bad = client.post("/entries", json={"entry": {"id": "svc-x", "title": "x"}, "reason": "r"})
    assert bad.status_code == 422 and any("questions" in d for d in bad.json()["details"])
    assert client.post("/entries", content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
    form = client.post("/entries", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    duplicate = client.post("/entries", json={"entry": builtin_entries()[0].to_dict(), "reason": "dup"})
    assert duplicate.status_code == 409
    mismatch = client.put("/entries/svc-other", json={"entry": builtin_entries()[0].to_dict(), "reason": "r"})
    assert mismatch.status_code == 400
    rows = client.post("/import", json={"entries": [builtin_entries()[1].to_dict(), {"id": "x"}], "reason": "r"})
    assert rows.status_code == 422 and any("row 2" in d for d in rows.json()["details"])
    assert served.kb.version() == version, "nothing was written"


def test_import_and_export_formats(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    extra = builtin_entries()[3:5]
    imported = client.post("/import", json={"entries": [e.to_dict() for e in extra], "reason": "月度更新"})
    assert imported.status_code == 200 and imported.json() == {"added": 2, "updated": 0, "unchanged": 0}
    assert {e.id for e in extra} <= {e["id"] for e in client.get("/entries").json()}
    csv = client.get("/export", params={"format": "csv"})
    assert csv.status_code == 200 and extra[0].id.encode() in csv.content
    xlsx = client.get("/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert client.get("/export", params={"format": "exe"}).status_code == 422
    assert client.get("/version").json()["version"] == served.kb.version()


def test_every_change_is_audited_with_the_admin_and_the_outcome(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    entry = builtin_entries()[0].to_dict() | {"answer": "审计测试。"}
    client.put(f"/entries/{entry['id']}", json={"entry": entry, "reason": "r"})
    client.post("/entries", json={"entry": builtin_entries()[0].to_dict(), "reason": "dup"})  # 409
    from staff.audit import Audit
    from staff.db import StaffDB

    rows = Audit(StaffDB(served.settings.database_url)).recent(10)
    kb_rows = [(r["actor"], r["target"], r["outcome"]) for r in rows if r["action"] == "kb_change"]
    assert kb_rows == [("boss", f"add {entry['id']}", "409"), ("boss", f"edit {entry['id']}", "ok")]


def test_an_import_with_duplicate_ids_is_refused_whole(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    version = served.kb.version()
    a, b = (e.to_dict() for e in builtin_entries()[3:5])
    answer = client.post("/import", json={"entries": [a, b, {**a, "title": "又一个"}], "reason": "月度更新"})
    assert answer.status_code == 422, answer.text
    assert any(f"{a['id']!r} is also at row 1" in d for d in answer.json()["details"])
    assert served.kb.version() == version


def test_entry_limits_apply_to_the_api(kb: tuple[httpx.Client, Served]) -> None:
    client, served = kb
    version = served.kb.version()
    entry = {**builtin_entries()[3].to_dict(), "questions": [f"长护险第{i}种问法" for i in range(800)]}
    answer = client.post("/entries", json={"entry": entry, "reason": "加问法"})
    assert answer.status_code == 422 and any("at most 30" in d for d in answer.json()["details"])
    entry = {**builtin_entries()[3].to_dict(), "title": "标题\u202e反过来"}
    answer = client.post("/import", json={"entries": [entry], "reason": "r"})
    assert answer.status_code == 422 and "U+202E" in answer.json()["details"][0]
    assert served.kb.version() == version


@pytest.mark.parametrize("revision", [1.9, "1", True, 0, None])
def test_restore_refuses_anything_but_a_whole_revision_number(
    kb: tuple[httpx.Client, Served], revision: object
) -> None:
    client, served = kb
    entry = builtin_entries()[0]
    client.put(f"/entries/{entry.id}", json={"entry": {**entry.to_dict(), "answer": "第二版。"}, "reason": "r"})
    version = served.kb.version()
    answer = client.post(f"/entries/{entry.id}/restore", json={"revision": revision, "reason": "回滚"})
    assert answer.status_code in (400, 422), (revision, answer.text)
    assert served.kb.version() == version
