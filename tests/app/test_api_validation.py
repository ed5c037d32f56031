"""The admin API gets the store's and the schema's validation without code of its own.

Kept apart from test_api.py so it can follow the admin API to the staff app.
"""

from __future__ import annotations

import pytest

from knowledge_base.files import builtin_entries
from knowledge_base.store import KBStore
from tests.app.test_api import api, call  # noqa: F401 - the fixture is used by name


def test_an_import_with_duplicate_ids_is_refused_whole(api: tuple[str, KBStore]) -> None:  # noqa: F811
    url, store = api
    version = store.version()
    a, b = (e.to_dict() for e in builtin_entries()[3:5])
    status, body = call(f"{url}/import", "POST", {"entries": [a, b, {**a, "title": "又一个"}], "reason": "月度更新"})
    assert status == 422, body
    assert body["details"] == [f"import, row 3, field 'id': {a['id']!r} is also at row 1"]
    assert store.version() == version


def test_entry_limits_apply_to_the_api(api: tuple[str, KBStore]) -> None:  # noqa: F811
    url, store = api
    version = store.version()
    entry = {**builtin_entries()[3].to_dict(), "questions": [f"长护险第{i}种问法" for i in range(800)]}
    status, body = call(f"{url}/entries", "POST", {"entry": entry, "reason": "加问法"})
    assert status == 422 and body["details"] == ["request, field 'questions': has 800 items; at most 30"]
    entry = {**builtin_entries()[3].to_dict(), "title": "标题\u202e反过来"}
    status, body = call(f"{url}/import", "POST", {"entries": [entry], "reason": "r"})
    assert status == 422 and "control character U+202E" in body["details"][0]
    assert store.version() == version


@pytest.mark.xfail(
    strict=True,
    reason="knowledge_base/api.py converts the revision with int() before the store can refuse it "
    "(the lead's change: pass body.get('revision') to store.restore unconverted)",
)
def test_restore_refuses_a_non_integer_revision(api: tuple[str, KBStore]) -> None:  # noqa: F811
    url, store = api
    entry = builtin_entries()[0]
    call(f"{url}/entries/{entry.id}", "PUT", {"entry": {**entry.to_dict(), "answer": "第二版。"}, "reason": "r"})
    version = store.version()
    for revision in (1.9, "1", True):
        status, body = call(f"{url}/entries/{entry.id}/restore", "POST", {"revision": revision, "reason": "回滚"})
        assert status == 400 and "whole number" in body["error"], (revision, status, body)
    assert store.version() == version
