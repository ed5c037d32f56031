// Unanswered questions grouped by meaning: counts, first/last seen, examples; add as variants, draft, dismiss.
"use strict";
const STATUS = { open: "待处理", dismissed: "已忽略", added: "已加为问法", drafted: "已起草条目" };
const REASON = { nlu_fallback: "没听懂", kb_below_threshold: "知识库没把握", unhelpful: "老人说没用", marked_wrong: "坐席标记答错" };

function day(iso) {
  return iso.slice(0, 16).replace("T", " ");
}

async function act(group, action, extra = {}) {
  const result = await api("POST", "/api/admin/unanswered/act", { ids: group.open_ids.length ? group.open_ids : group.ids, action, ...extra });
  if (result.next) location.href = result.next;
  else await load();
}

function groupItem(group) {
  const entryInput = el("input", { class: "entry-id", placeholder: "条目编号，如 care-ltc-apply", "aria-label": "加到哪个条目" });
  const top = Object.entries(group.kb_entries).sort((a, b) => b[1] - a[1])[0];
  if (top) entryInput.value = top[0];
  const message = el("span", { class: "small", role: "status" });
  const actions = el("div", { class: "actions" },
    entryInput,
    el("button", { type: "button", class: "variants", onclick: () => act(group, "variants", { entry_id: entryInput.value.trim() }).catch((e) => (message.textContent = e.message)) }, "加为问法"),
    el("button", { type: "button", class: "draft", onclick: () => act(group, "draft").catch((e) => (message.textContent = e.message)) }, "起草新条目"),
    el("button", { type: "button", class: "dismiss link", onclick: () => act(group, "dismiss").catch((e) => (message.textContent = e.message)) }, "忽略"),
    message,
  );
  return el("li", { class: `group ${group.status}${group.returned ? " returned" : ""}` },
    el("div", { class: "group-head" },
      el("strong", { class: "group-count" }, `${group.count} 次`),
      el("span", { class: "badge" }, group.returned ? "处理后又出现" : STATUS[group.status]),
      el("span", { class: "small hint" }, `首次 ${day(group.first_seen)} · 最近 ${day(group.last_seen)} · ` +
        Object.entries(group.reasons).map(([k, v]) => `${REASON[k] || k} ${v}`).join("，")),
    ),
    el("ul", { class: "examples" }, ...group.examples.map((t) => el("li", {}, t))),
    group.status === "open" || group.returned ? actions : null,
  );
}

async function load() {
  const days = $("un-days").value;
  const result = await api("GET", `/api/admin/unanswered?days=${days}`);
  const showHandled = $("un-handled").checked;
  const groups = result.groups.filter((g) => showHandled || g.status === "open" || g.returned);
  $("groups").replaceChildren(...groups.map(groupItem));
  $("un-summary").textContent = `${result.messages} 条问题，${result.groups.length} 组（显示 ${groups.length} 组）`;
}

$("un-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
load();
