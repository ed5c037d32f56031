"""The administrators' KB pages and API on the real staff app (uvicorn on loopback), without the bot.

Edit with errors by field, previews, publish as a revision with author and reason, diff, rollback,
delete with a reason, upload all-or-nothing with row numbers, unanswered-group actions, analytics.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from knowledge_base.files import write_entries
from knowledge_base.schema import Entry
from staff.admin import diff_lines, previews, problems_by_field
from staff.analytics import Analytics, bar_chart, hbar_chart, to_csv
from staff.db import StaffDB, audit, handoffs
from staff.unanswered import Unanswered
from tests.app.staff_support import Served, login, make_user, serve, settings_for


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(settings_for(tmp_path)) as running:
        yield running


@pytest.fixture
def admin(served: Served) -> tuple[httpx.Client, dict[str, str]]:
    make_user(served.settings, "wang", "admin")
    client, csrf = login(served.url, "wang")
    return client, {"X-CSRF-Token": csrf}


def _form(entry: Entry) -> dict[str, object]:
    return entry.to_dict()


def test_an_agent_cannot_open_the_admin_pages(served: Served) -> None:
    make_user(served.settings, "li", "agent")
    client, csrf = login(served.url, "li")
    for path in ("/admin/kb", "/admin/hit-test", "/admin/unanswered", "/admin/analytics", "/admin/kb-files"):
        assert client.get(path).status_code == 403, path
    answer = client.post("/api/admin/kb/check", json={"entry": {}}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403


def test_the_list_searches_titles_variants_and_answers(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, _ = admin
    entry = served.kb.entries()[0]
    page = client.get("/admin/kb")
    assert page.status_code == 200 and entry.title in page.text
    hit = client.get("/admin/kb", params={"q": entry.questions[0]})
    assert entry.title in hit.text
    miss = client.get("/admin/kb", params={"q": "完全不会出现的词组合xyz"})
    assert entry.title not in miss.text and "没有找到条目" in miss.text
    other = client.get("/admin/kb", params={"collection": "directory" if entry.collection != "directory" else "legal"})
    assert f'href="/admin/kb/{entry.id}"' not in other.text


def test_check_names_each_problem_next_to_its_field_and_writes_nothing(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = admin
    entry = served.kb.entries()[0]
    version = served.kb.version()
    bad = {**_form(entry), "title": "", "questions": ["只有一个问法"], "reviewed": "昨天", "answer": "长" * 130}
    result = client.post("/api/admin/kb/check", json={"entry": bad}, headers=headers).json()
    assert result["ok"] is False and result["preview"] is None
    assert set(result["problems"]) >= {"title", "questions", "reviewed", "answer"}
    assert "120" in result["problems"]["answer"][0]
    saved = client.post("/api/admin/kb/save", json={"entry": bad, "reason": "试试"}, headers=headers)
    assert saved.status_code == 422 and "title" in saved.json()["problems"]
    assert served.kb.version() == version


def test_preview_publish_diff_rollback_delete(served: Served, admin: tuple[httpx.Client, dict[str, str]]) -> None:
    client, headers = admin
    entry = served.kb.entries()[0]
    changed = {**_form(entry), "answer": "新的回答：请带身份证到街道社区事务受理服务中心办理。"}
    check = client.post("/api/admin/kb/check", json={"entry": changed}, headers=headers).json()
    assert check["ok"] and check["preview"]["webchat"].startswith("新的回答")
    assert all(len(p.encode()) <= 2048 for p in check["preview"]["wechat"])

    first = len(served.kb.history(entry.id))
    saved = client.post("/api/admin/kb/save", json={"entry": changed, "reason": "改成新规定"}, headers=headers)
    assert saved.status_code == 200, saved.text
    revision = saved.json()["revision"]
    assert served.kb.get(entry.id).answer.startswith("新的回答")
    last = served.kb.history(entry.id)[-1]
    assert (last.revision, last.author, last.reason) == (revision, "staff:wang", "改成新规定")

    diff = client.get(f"/api/admin/kb/entries/{entry.id}/diff", params={"a": first, "b": revision}, headers=headers)
    lines = diff.json()["lines"]
    assert any(line["op"] == "+" and "新的回答" in line["text"] for line in lines)
    assert any(line["op"] == "-" and entry.answer[:10] in line["text"] for line in lines)

    page = client.get(f"/admin/kb/{entry.id}")
    assert "改成新规定" in page.text and "新的回答" in page.text  # history and preview

    restored = client.post(
        f"/api/kb/entries/{entry.id}/restore", json={"revision": first, "reason": "回滚"}, headers=headers
    )
    assert restored.status_code == 200
    assert served.kb.get(entry.id).answer == entry.answer

    no_reason = client.request("DELETE", f"/api/kb/entries/{entry.id}", json={"reason": ""}, headers=headers)
    assert no_reason.status_code == 422
    deleted = client.request("DELETE", f"/api/kb/entries/{entry.id}", json={"reason": "服务已停办"}, headers=headers)
    assert deleted.status_code == 200
    assert entry.id not in {e.id for e in served.kb.entries()}
    assert served.kb.history(entry.id)[-1].reason == "服务已停办"


def test_a_new_entry_with_an_existing_id_is_refused_on_the_id_field(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = admin
    entry = served.kb.entries()[0]
    answer = client.post(
        "/api/admin/kb/save", json={"entry": _form(entry), "reason": "新建", "new": True}, headers=headers
    )
    assert answer.status_code == 409 and "id" in answer.json()["problems"]


def _upload(
    client: httpx.Client, headers: dict[str, str], name: str, data: bytes, dry_run: bool = False
) -> httpx.Response:
    return client.post(
        "/api/admin/kb/upload",
        json={"filename": name, "content": base64.b64encode(data).decode(), "reason": "月度更新", "dry_run": dry_run},
        headers=headers,
    )


@pytest.mark.parametrize("suffix", [".xlsx", ".csv", ".yml"])
def test_an_upload_with_a_bad_row_is_refused_with_its_row_number_and_nothing_is_written(
    served: Served, admin: tuple[httpx.Client, dict[str, str]], tmp_path: Path, suffix: str
) -> None:
    client, headers = admin
    good = served.kb.entries()[0]
    new = Entry(
        id="test-upload-new",
        collection="services",
        title="新服务",
        questions=["新服务怎么办", "新服务在哪里", "新服务要钱吗"],
        answer="新服务请打 12345 问。",
        source="测试",
        reviewed="2026-12-01",
    )
    bad = Entry(
        id="test-upload-bad",
        collection="services",
        title="坏的",
        questions=["只有一个"],
        answer="",
        source="测试",
        reviewed="2026-12-01",
    )
    path = tmp_path / f"kb{suffix}"
    write_entries([Entry(**{**good.to_dict(), "answer": "改过的回答"}), new, bad], path)
    version, count = served.kb.version(), len(served.kb.entries())

    answer = _upload(client, headers, path.name, path.read_bytes())
    assert answer.status_code == 422
    rows = answer.json()["rows"]
    expected_row = 3 if suffix == ".yml" else 4  # the third entry: YAML counts entries, sheets count the header row
    assert {r["row"] for r in rows} == {expected_row}
    assert {r["field"] for r in rows} >= {"questions", "answer"}
    assert served.kb.version() == version and len(served.kb.entries()) == count
    assert served.kb.get(good.id).answer == good.answer

    fixed = tmp_path / f"fixed{suffix}"
    write_entries([Entry(**{**good.to_dict(), "answer": "改过的回答"}), new], fixed)
    checked = _upload(client, headers, fixed.name, fixed.read_bytes(), dry_run=True).json()
    assert (checked["added"], checked["updated"]) == (1, 1) and served.kb.version() == version
    done = _upload(client, headers, fixed.name, fixed.read_bytes()).json()
    assert (done["added"], done["updated"]) == (1, 1)
    assert (
        served.kb.get(good.id).answer == "改过的回答"
        and served.kb.history("test-upload-new")[-1].author == "staff:wang"
    )


def test_an_upload_that_is_not_a_spreadsheet_is_one_clear_problem(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = admin
    answer = _upload(client, headers, "kb.xlsx", b"this is not a zip file")
    assert answer.status_code == 422 and "xlsx" in json.dumps(answer.json(), ensure_ascii=False)
    assert _upload(client, headers, "kb.exe", b"MZ").status_code == 422


def test_a_group_of_unanswered_questions_becomes_variants_of_an_entry(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = admin
    entry = served.kb.entries()[0]
    store = Unanswered(StaffDB(served.settings.database_url))
    ids = [
        store.record(text, "kb_below_threshold", "webchat")
        for text in ("老年大学怎么报名", "老年大学报名要啥手续", "我叫张建国，老年大学哪能报名")
    ]
    groups = client.get("/api/admin/unanswered", headers=headers).json()["groups"]
    assert sum(g["count"] for g in groups) == 3
    answer = client.post(
        "/api/admin/unanswered/act",
        json={"ids": ids, "action": "variants", "entry_id": entry.id},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    questions = served.kb.get(entry.id).questions
    assert "老年大学怎么报名" in questions and "老年大学报名要啥手续" in questions
    assert not any("【" in q for q in questions)  # a masked question never becomes a variant
    after = client.get("/api/admin/unanswered", headers=headers).json()["groups"]
    assert all(g["status"] == "added" for g in after)

    more = [store.record("老年大学几号开学", "nlu_fallback", "wechat")]
    drafted = client.post("/api/admin/unanswered/act", json={"ids": more, "action": "draft"}, headers=headers).json()
    page = client.get(drafted["next"])
    assert page.status_code == 200 and "老年大学几号开学" in page.text


def test_pure_helpers() -> None:
    old = Entry(id="a-b", collection="legal", title="T", questions=["q1", "q2", "q3"], answer="旧", source="s")
    new = Entry(**{**old.to_dict(), "answer": "新"})
    lines = diff_lines(old, new)
    assert {"op": "-", "text": "answer: 旧"} in lines and {"op": "+", "text": "answer: 新"} in lines
    assert diff_lines(old, None)[-1] == {"op": "+", "text": "（已删除）"}
    from knowledge_base.schema import Problem

    grouped = problems_by_field([Problem("form", None, "questions[2]", "too long"), Problem("form", None, "*", "big")])
    assert grouped == {"questions": ["第 2 项：too long"], "*": ["big"]}
    documents = [f"第{i}样要带的材料，" + "原件和复印件各一份。" * 8 for i in range(30)]
    long = Entry(**{**old.to_dict(), "fields": {"documents": documents}, "answer": "答"})
    pieces = previews(long)["wechat"]
    assert len(pieces) >= 2 and all(len(p.encode()) <= 2048 for p in pieces)


def _tracker(path: Path, rows: list[tuple[str, str, float, str | None, str | None]]) -> str:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT, timestamp REAL, "
        "intent_name TEXT, action_name TEXT, data TEXT)"
    )
    conn.executemany(
        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) VALUES (?, ?, ?, ?, ?)", rows
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def test_analytics_counts_messages_intents_entries_handoffs_and_exports_csv(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 30)
    noon = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    answer = json.dumps({"data": {"custom": {"kb_entry": "care-ltc", "confident": True}}})
    rows = [
        ("web-aaa", "user", noon, "ask_care_service", None),
        ("web-aaa", "bot", noon + 1, None, answer),
        ("web-aaa", "user", noon + 60, "nlu_fallback", None),
        ("wechat:o123", "user", noon - 86400, "greet", None),
        ("wechat:o123", "user", noon + 5, "ask_care_service", None),
        ("telegram:9", "user", noon - 40 * 86400, "greet", None),  # outside the period
    ]
    tracker = sa.create_engine(_tracker(tmp_path / "tracker.sqlite", rows))
    db = StaffDB(f"sqlite:///{tmp_path / 'staff.sqlite'}")
    created = dt.datetime(2026, 11, 30, 3, tzinfo=dt.timezone.utc)
    with db.write() as conn:
        conn.execute(
            handoffs.insert(),
            [
                {
                    "conversation_id": "web-aaa",
                    "channel": "webchat",
                    "priority": 2,
                    "reason": "asked",
                    "status": "closed",
                    "created_at": created,
                    "claimed_at": created + dt.timedelta(minutes=4),
                    "close_reason": "handed_back",
                },
                {
                    "conversation_id": "wechat:o123",
                    "channel": "wechat",
                    "priority": 3,
                    "reason": "misunderstood",
                    "status": "closed",
                    "created_at": created,
                    "claimed_at": None,
                    "close_reason": "unclaimed",
                },
            ],
        )
    report = Analytics(db, tracker, None).report(day - dt.timedelta(days=6), day + dt.timedelta(days=1))
    assert report.messages == 4 and report.conversations == 2
    assert report.per_day["webchat"][-1] == 2 and report.per_day["wechat"][-2:] == [1, 1]
    assert report.top_intents[0] == ("ask_care_service", 2)
    assert report.top_entries == [("care-ltc", 1)]
    assert report.fallback_rate == 0.25 and report.handoff_rate == 1.0
    assert report.waits == [240.0] and report.unclaimed == 1
    table = to_csv(report)
    assert "messages_per_day,webchat,2026-11-30,2" in table and "summary,handoff_rate,,1.0" in table
    assert "no_shows,,not recorded" in table
    svg = bar_chart([d.isoformat() for d in report.days], {"网页": report.per_day["webchat"]}, "每天")
    assert svg.startswith("<svg") and svg.count("<rect") >= 2 and "网页 2" in svg
    assert "<script" not in hbar_chart([("<script>", 1.0)], "x") and "&lt;script&gt;" in hbar_chart(
        [("<script>", 1.0)], "x"
    )
    db.dispose()


def test_analytics_pages_and_csv_answer_without_a_tracker(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, _ = admin
    page = client.get("/admin/analytics")
    assert page.status_code == 200 and "<svg" in page.text and "读不到 Rasa 的对话记录" in page.text
    weekly = client.get("/admin/analytics/weekly", params={"week": "2026-11-23"})
    assert weekly.status_code == 200 and "2026-11-23" in weekly.text and 'id="print"' in weekly.text
    assert "size: A4" in client.get("/static/console.css").text  # the page prints on A4
    csv_answer = client.get("/api/admin/analytics.csv", params={"days": 7})
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    assert csv_answer.text.lstrip("\ufeff").startswith("section,key,day,value")


def test_every_kb_change_from_the_console_is_audited(
    served: Served, admin: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = admin
    entry = served.kb.entries()[0]
    client.post(
        "/api/admin/kb/save", json={"entry": {**_form(entry), "answer": "审计测试"}, "reason": "r"}, headers=headers
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with StaffDB(served.settings.database_url).read() as conn:
            targets = [r.target for r in conn.execute(sa.select(audit).where(audit.c.action == "kb_change")).all()]
        if targets:
            break
        time.sleep(0.05)
    assert f"edit {entry.id}" in targets
