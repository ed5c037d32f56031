// The entry form: previews as seniors see them, validation errors next to their fields, publish,
// diff of two revisions, rollback, delete with a reason.
"use strict";
const form = $("entry-form");
const FIELD_NAMES = ["eligibility", "documents", "fees", "hours", "place", "phone", "how_to", "coverage", "exclusions"];

function lines(text) {
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

function entryFromForm() {
  const value = (name) => form.elements[name].value;
  const entry = {
    id: value("id").trim(),
    collection: value("collection"),
    title: value("title"),
    questions: lines(value("questions")),
    answer: value("answer"),
    details: value("details"),
    fields: {},
    sample: form.elements.sample.checked,
    unsure: form.elements.unsure.checked,
    source: value("source"),
    reviewed: value("reviewed"),
  };
  if (value("street")) entry.street = value("street");
  if (value("valid_from").trim()) entry.valid_from = value("valid_from").trim();
  if (value("valid_until").trim()) entry.valid_until = value("valid_until").trim();
  for (const name of FIELD_NAMES) {
    const text = value(`fields.${name}`).trim();
    if (text) entry.fields[name] = name === "documents" ? lines(text) : text;
  }
  return entry;
}

function showProblems(problems) {
  for (const box of form.querySelectorAll("[data-error-for]")) {
    const messages = problems[box.dataset.errorFor] || [];
    box.textContent = messages.join("；");
    const input = form.elements[box.dataset.errorFor];
    if (input && input.setAttribute) input.setAttribute("aria-invalid", messages.length ? "true" : "false");
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

function showPreview(preview) {
  $("preview-webchat").textContent = preview ? preview.webchat : "";
  $("preview-wechat").replaceChildren(...(preview ? preview.wechat.map((p) => el("div", { class: "bubble wx" }, p)) : []));
  $("preview-note").textContent = preview
    ? `微信分 ${preview.wechat.length} 条发送（每条最多 2048 字节）。`
    : "有错误，改好后再预览。";
}

$("preview").addEventListener("click", async () => {
  const result = await api("POST", "/api/admin/kb/check", { entry: entryFromForm() });
  showProblems(result.problems);
  showPreview(result.preview);
  $("save-result").textContent = result.ok ? "可以发布" : "还有错误";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  $("save-result").textContent = "";
  const entry = entryFromForm();
  try {
    const result = await api("POST", "/api/admin/kb/save", {
      entry,
      reason: form.elements.reason.value,
      new: form.dataset.new === "true",
    });
    showProblems({});
    $("save-result").textContent = `已发布：第 ${result.revision} 版（机器人一秒内用新内容回答）`;
    if (form.dataset.new === "true") setTimeout(() => (location.href = `/admin/kb/${result.id}`), 800);
  } catch (err) {
    const problems = (err.data && (err.data.problems || (err.data.error && err.data.error.problems))) || null;
    if (problems) showProblems(problems);
    else if (err.status === 422 && err.data && Array.isArray(err.data.details)) {
      showProblems({ reason: err.data.details.map((d) => `${d.field}: ${d.problem}`) });
    }
    $("save-result").textContent = problems ? "没有发布：请改正标红的地方" : err.message;
  }
});

const diffButton = $("show-diff");
if (diffButton) {
  diffButton.addEventListener("click", async () => {
    const a = document.querySelector('input[name="diff-a"]:checked')?.value;
    const b = document.querySelector('input[name="diff-b"]:checked')?.value;
    if (!a || !b) return;
    const result = await api("GET", `/api/admin/kb/entries/${form.dataset.id}/diff?a=${a}&b=${b}`);
    const table = $("diff");
    table.querySelector("tbody").replaceChildren(
      ...result.lines.map((line) =>
        el("tr", { class: line.op === "+" ? "added" : line.op === "-" ? "removed" : "same" },
          el("td", { class: "op" }, line.op === "=" ? "" : line.op),
          el("td", {}, line.text)),
      ),
    );
    table.hidden = false;
  });
}

for (const button of document.querySelectorAll("button.restore")) {
  button.addEventListener("click", async () => {
    const reason = prompt(`回滚到第 ${button.dataset.revision} 版的原因：`);
    if (!reason) return;
    try {
      await api("POST", `/api/kb/entries/${form.dataset.id}/restore`, { revision: Number(button.dataset.revision), reason });
      location.reload();
    } catch (err) {
      alert(err.message);
    }
  });
}

const deleteForm = $("delete-form");
if (deleteForm) {
  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = $("delete-reason").value.trim();
    if (!reason) {
      $("delete-result").textContent = "请写删除原因";
      return;
    }
    try {
      await api("DELETE", `/api/kb/entries/${form.dataset.id}`, { reason });
      $("delete-result").textContent = "已删除";
      setTimeout(() => (location.href = "/admin/kb"), 600);
    } catch (err) {
      $("delete-result").textContent = err.message;
    }
  });
}
