"""After the whole end-to-end run, failures included, no log of any process holds personal data in clear.

Runs last (the file name sorts last): by then the servers have talked with made-up seniors, booked,
corrected names and phones, been killed and restarted, refused bad payloads. Every log file the
servers wrote is searched for every message text said through the REST channel and for the names,
phone numbers and ID numbers the tests used.
"""

from __future__ import annotations

import re

import pytest

from tests.app.conftest import Stack

pytestmark = pytest.mark.e2e
HAN = re.compile(r"[\u4e00-\u9fff]")
# Names, numbers and addresses the end-to-end tests give as a senior's own data.
PERSONAL = [
    "张秀英",
    "黄阿宝",
    "诸葛红英",
    "欧阳建国",
    "王桂芳",
    "王秀英",
    "李建国",
    "13812345678",
    "13912345678",
    "13812346601",
    "13812346602",
    "盘古路100弄5号",
    "1381234",
]


def _needles(stack: Stack) -> set[str]:
    said = {t for t in stack.sent if HAN.search(t) or len(t) >= 6}
    return said | set(PERSONAL)


def test_no_log_line_of_any_server_holds_what_seniors_said(stack: Stack) -> None:
    assert stack.log_dir is not None
    logs = sorted(stack.log_dir.glob("*.log"))
    assert logs, "the servers wrote no logs"
    if len(stack.sent) < 50:
        pytest.skip("run the whole end-to-end suite: this check reads the logs the other tests made")
    needles = _needles(stack)
    found: list[str] = []
    for log in logs:
        content = log.read_text(encoding="utf-8", errors="replace")
        found += [f"{log.name}: {needle!r}" for needle in needles if needle in content]
        found += [f"{log.name}: Chinese text {m.group(0)!r}" for m in HAN.finditer(content)][:3]
    assert not found, found[:20]
