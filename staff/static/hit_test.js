// Hit testing: NLU intent and confidence, retrieval scores, the answer; one click adds the question as a variant.
"use strict";
let lastQuestion = "";

function pct(x) {
  return `${(x * 100).toFixed(1)}%`;
}

async function addVariant(entryId, button) {
  button.disabled = true;
  try {
    const result = await api("POST", "/api/admin/hit-test/variant", { entry_id: entryId, question: lastQuestion });
    $("hit-variant-result").textContent = `已把“${lastQuestion}”加为 ${entryId} 的问法（第 ${result.revision} 版）`;
  } catch (err) {
    $("hit-variant-result").textContent = err.message;
    button.disabled = false;
  }
}

$("hit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  lastQuestion = $("hit-q").value.trim();
  if (!lastQuestion) return;
  $("hit-variant-result").textContent = "";
  const result = await api("POST", "/api/admin/hit-test", { q: lastQuestion });
  const nlu = result.nlu;
  $("hit-nlu").textContent = nlu.error
    ? nlu.error
    : `意图：${nlu.intent}（置信度 ${pct(nlu.confidence)}）` +
      (nlu.ranking.length > 1 ? `；其次 ${nlu.ranking.slice(1, 3).map((r) => `${r.name} ${pct(r.confidence)}`).join("，")}` : "") +
      (nlu.entities.length ? `；实体：${nlu.entities.map((e) => `${e.entity}=${e.value}`).join("，")}` : "");
  $("hit-threshold").textContent = `回答阈值：融合分 ≥ ${result.threshold}（知识库版本 ${result.kb_version}，用时 ${result.ms} ms）`;
  $("hit-table").querySelector("tbody").replaceChildren(
    ...result.hits.map((h) =>
      el("tr", { class: h.id === result.answer.entry_id ? "chosen" : "" },
        el("td", {}, el("a", { href: `/admin/kb/${h.id}` }, h.title), " ", el("code", {}, h.id)),
        el("td", {}, h.dense.toFixed(4)),
        el("td", {}, h.bm25.toFixed(2)),
        el("td", {}, h.fused.toFixed(4)),
        el("td", {}, h.clears ? "是" : "否"),
        el("td", {}, el("button", { type: "button", class: "add-variant small-button", dataset: { entry: h.id }, onclick: (e) => addVariant(h.id, e.currentTarget) }, "加为问法")),
      ),
    ),
  );
  const answer = result.answer;
  $("hit-verdict").textContent = answer.clears_threshold
    ? `会用“${answer.entry_id}”回答（融合分 ${answer.score}，过阈值）。`
    : `没有条目过阈值（最高 ${answer.score}）：机器人会说没把握，并给出最接近的几条和人工。`;
  $("hit-verdict").className = answer.clears_threshold ? "ok" : "error";
  $("hit-answer").textContent = answer.text;
  $("hit-result").hidden = false;
});
