"""The administrators' console in real headless Chromium, against the real servers.

- edit an entry → preview (web chat and WeChat) → publish → the running bot answers with the new text;
- a field error shows next to its field and nothing is published;
- hit testing: the NLU's intent and confidence from Rasa, retrieval scores, the verdict, and one click
  adds the question as a variant (a revision);
- an upload with a bad row is refused with its row number and nothing is written;
- an unsure moment in a real conversation reaches the unanswered questions, masked.
Screenshots are kept in /tmp (admin-*.png).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from knowledge_base.files import write_entries
from knowledge_base.schema import Entry
from knowledge_base.store import KBStore
from staff.accounts import Accounts
from staff.config import Settings
from staff.db import StaffDB, unanswered
from tests.app.conftest import Stack, kb_entry, new_sender, texts
from tests.app.staff_support import PASSWORD

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "长护险怎么申请"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: apt-get install chromium chromium-driver")
        pytest.skip("Chromium is missing: apt-get install chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def kb(kb_url: str) -> Iterator[KBStore]:
    store = KBStore(kb_url)
    yield store
    store.dispose()


@pytest.fixture
def admin_page(browser: Browser, stack: Stack, staff_url: str) -> Iterator[Page]:
    settings = Settings.from_env(stack.env())
    db = StaffDB(settings.database_url)
    name = f"admin-{uuid.uuid4().hex[:6]}"
    Accounts(db, settings).create_user(name, PASSWORD, "admin", display_name="王老师")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{staff_url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url("**/console")
    yield page
    assert not errors, errors
    page.close()
    db.dispose()


def _bot_answers(stack: Stack, question: str, needle: str, timeout: float = 30) -> list[str]:
    """Ask in fresh conversations until an answer holds ``needle`` (the index follows the KB in the background)."""
    deadline = time.monotonic() + timeout
    said: list[str] = []
    while time.monotonic() < deadline:
        said = texts(stack.say(new_sender(), question))
        if any(needle in t for t in said):
            return said
        time.sleep(0.3)
    raise AssertionError(f"the bot never answered with {needle!r}: {said}")


def test_edit_preview_publish_and_the_running_bot_answers_with_the_new_text(
    admin_page: Page, stack: Stack, staff_url: str, kb: KBStore
) -> None:
    entry_id = kb_entry(stack.say(new_sender(), QUESTION))
    assert entry_id, "the bot should answer this question from the knowledge base"
    before = kb.get(entry_id)
    marker = f"新规定{uuid.uuid4().hex[:4]}"
    new_answer = f"{marker}：长护险先到街道社区事务受理服务中心申请评估，带身份证和医保卡。"
    page = admin_page
    try:
        page.goto(f"{staff_url}/admin/kb?q={QUESTION[:3]}")
        page.click(f'a[href="/admin/kb/{entry_id}"]')
        page.wait_for_url(f"**/admin/kb/{entry_id}")

        # An error is shown next to its field, and nothing is published.
        page.fill("#f-title", "")
        page.fill("#f-reason", "试一下")
        page.click("#publish")
        expect(page.locator('[data-error-for="title"]')).to_contain_text("required")
        expect(page.locator("#f-title")).to_have_attribute("aria-invalid", "true")
        assert kb.get(entry_id).title == before.title
        page.fill("#f-title", before.title)

        page.fill("#f-answer", new_answer)
        page.click("#preview")
        expect(page.locator("#preview-webchat")).to_contain_text(marker)
        expect(page.locator("#preview-wechat .bubble").first).to_contain_text(marker)
        size = page.eval_on_selector("#preview-webchat", "el => getComputedStyle(el).fontSize")
        assert size == "24px"  # as large as the seniors' web chat
        expect(page.locator('[data-error-for="title"]')).to_be_empty()
        page.screenshot(path="/tmp/admin-kb-edit.png", full_page=True)

        page.fill("#f-reason", "长护险申请流程更新")
        page.click("#publish")
        expect(page.locator("#save-result")).to_contain_text("已发布")
        latest = kb.history(entry_id)[-1]
        assert latest.reason == "长护险申请流程更新" and latest.author.startswith("staff:admin-")

        said = _bot_answers(stack, QUESTION, marker)
        assert any(t.startswith(marker) for t in said)

        # The history shows the change; the diff of the last two revisions shows the new answer.
        page.reload()
        expect(page.locator("#history")).to_contain_text("长护险申请流程更新")
        page.click("#show-diff")
        expect(page.locator("#diff tr.added")).to_contain_text(marker)
        expect(page.locator("#diff tr.removed").first).to_be_visible()
    finally:
        kb.edit(before, "test", "undo the browser test's edit")
    _bot_answers(stack, QUESTION, before.answer[:12])


def test_hit_testing_shows_intent_scores_and_the_answer_and_adds_a_variant(
    admin_page: Page, stack: Stack, staff_url: str, kb: KBStore
) -> None:
    question = "阿拉屋里老头子长护险到底哪能弄"  # fixed words: what the NLU makes of them must not vary by run
    page = admin_page
    page.goto(f"{staff_url}/admin/hit-test")
    page.fill("#hit-q", question)
    page.click("#hit-go")
    expect(page.locator("#hit-result")).to_be_visible()
    expect(page.locator("#hit-nlu")).to_contain_text("意图：")
    nlu = page.locator("#hit-nlu").inner_text()
    assert "置信度" in nlu and "没有回答" not in nlu
    rows = page.locator("#hit-table tbody tr")
    assert rows.count() >= 3
    first = rows.first.locator("td")
    dense, bm25, fused = (float(first.nth(i).inner_text()) for i in (1, 2, 3))
    assert 0 < dense <= 1 and bm25 >= 0 and fused >= dense
    verdict = page.locator("#hit-verdict").inner_text()
    assert "过阈值" in verdict or "没有条目过阈值" in verdict
    expect(page.locator("#hit-answer")).not_to_be_empty()
    page.screenshot(path="/tmp/admin-hit-test.png", full_page=True)

    entry_id = rows.first.locator("button.add-variant").get_attribute("data-entry")
    assert entry_id
    before = kb.get(entry_id)
    rows.first.locator("button.add-variant").click()
    expect(page.locator("#hit-variant-result")).to_contain_text("已把")
    try:
        after = kb.get(entry_id)
        assert after.questions == [*before.questions, question]
        assert kb.history(entry_id)[-1].author.startswith("staff:admin-")
    finally:
        kb.edit(before, "test", "undo the hit-testing variant")


def test_an_upload_with_a_bad_row_is_refused_with_its_row_number_and_nothing_written(
    admin_page: Page, staff_url: str, kb: KBStore, tmp_path: Path
) -> None:
    good = Entry(
        id=f"upload-ok-{uuid.uuid4().hex[:4]}",
        collection="services",
        title="上传测试",
        questions=["上传测试一", "上传测试二", "上传测试三"],
        answer="上传测试的回答。",
        source="测试",
        reviewed="2026-12-01",
    )
    bad = Entry(**{**good.to_dict(), "id": f"upload-bad-{uuid.uuid4().hex[:4]}", "questions": ["只有一个问法"]})
    path = tmp_path / "月度更新.xlsx"
    write_entries([good, good.__class__(**{**good.to_dict(), "id": good.id + "b"}), bad], path)
    version = kb.version()
    page = admin_page
    page.goto(f"{staff_url}/admin/kb-files")
    page.set_input_files("#upload-file", str(path))
    page.fill("#upload-reason", "月度更新")
    page.click("#upload-go")
    expect(page.locator("#upload-errors")).to_be_visible()
    expect(page.locator("#upload-errors tbody")).to_contain_text("第 4 行")
    expect(page.locator("#upload-result")).to_contain_text("什么都没有写入")
    page.screenshot(path="/tmp/admin-upload-refused.png", full_page=True)
    assert kb.version() == version
    assert good.id not in {e.id for e in kb.entries()}


def test_an_unsure_answer_is_kept_masked_in_the_unanswered_questions(
    admin_page: Page, stack: Stack, staff_url: str
) -> None:
    settings = Settings.from_env(stack.env())
    db = StaffDB(settings.database_url)
    # A fixed marker: the words decide what the classifier makes of the message, so a random one would make
    # the test pass or fail by chance (one such marker tipped this question over into an intent).
    marker = "qzx"
    stack.say(new_sender(), f"楼下跳广场舞的音响太吵了{marker}找谁管，我电话13912345678")
    deadline = time.monotonic() + 30
    stored: list[str] = []
    while time.monotonic() < deadline and not stored:
        with db.read() as conn:
            stored = [t for (t,) in conn.execute(sa.select(unanswered.c.text)).all() if marker in t]
        time.sleep(0.2)
    db.dispose()
    assert stored, "the action server did not keep the unsure question"
    assert "13912345678" not in stored[0] and "【手机号】" in stored[0]
    page = admin_page
    page.goto(f"{staff_url}/admin/unanswered")
    expect(page.locator("#groups")).to_contain_text(marker, timeout=30_000)
    page.screenshot(path="/tmp/admin-unanswered.png", full_page=True)
    # The analytics page reads the same conversations from Rasa's tracker store.
    page.goto(f"{staff_url}/admin/analytics?days=7")
    assert int(page.locator("#kpi-messages").inner_text()) >= 1
    expect(page.locator("#chart-per-day svg")).to_be_visible()
    page.screenshot(path="/tmp/admin-analytics.png", full_page=True)
