// Upload: the file is checked whole; any bad row refuses everything, and each problem is listed by row.
"use strict";

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error("文件读不出来"));
    reader.readAsDataURL(file);
  });
}

async function upload(dryRun) {
  const file = $("upload-file").files[0];
  const table = $("upload-errors");
  table.hidden = true;
  if (!file) {
    $("upload-result").textContent = "请先选一个文件";
    return;
  }
  const reason = $("upload-reason").value.trim();
  if (!reason) {
    $("upload-result").textContent = "请写导入原因";
    return;
  }
  $("upload-result").textContent = "检查中…";
  try {
    const result = await api("POST", "/api/admin/kb/upload", {
      filename: file.name, content: await base64Of(file), reason, dry_run: dryRun,
    });
    $("upload-result").textContent = dryRun
      ? `检查通过：${result.entries} 条（新增 ${result.added}，修改 ${result.updated}）。还没有写入。`
      : `已导入：新增 ${result.added}，修改 ${result.updated}，未变 ${result.unchanged}。`;
  } catch (err) {
    $("upload-result").textContent = err.message;
    const rows = (err.data && err.data.rows) || [];
    table.querySelector("tbody").replaceChildren(
      ...rows.map((r) => el("tr", {}, el("td", {}, r.row === null ? "整个文件" : `第 ${r.row} 行`), el("td", {}, r.field === "*" ? "" : r.field), el("td", {}, r.message))),
    );
    table.hidden = rows.length === 0;
  }
}

$("upload-check").addEventListener("click", () => upload(true));
$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  upload(false);
});
