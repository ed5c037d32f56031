// 银龄助手 admin page: accounts, answers marked wrong by agents, the audit trail.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (id) => document.getElementById(id);

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (response.status === 401) location.href = "/login";
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.error === "string" ? data.error : `出错了（${response.status}）`);
  return data;
}

function rows(tableId, items, cells) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      for (const value of cells(item)) {
        const td = document.createElement("td");
        td.textContent = value === null || value === undefined ? "" : String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function load() {
  rows("users", await api("GET", "/api/users"), (u) => [u.username, u.display_name, u.role === "admin" ? "管理员" : "坐席", u.active ? "启用" : "停用"]);
  rows("wrong", await api("GET", "/api/admin/feedback?verdict=wrong"), (f) => [f.at.slice(0, 16), f.question, f.answer, f.intent, f.kb_entry]);
  rows("audit", await api("GET", "/api/admin/audit?limit=200"), (a) => [a.at.slice(0, 19), a.actor, a.action, a.conversation_id, a.target, a.outcome]);
}

$("new-user").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/api/users", {
      username: $("nu-name").value,
      display_name: $("nu-display").value || null,
      password: $("nu-password").value,
      role: $("nu-role").value,
    });
    $("nu-result").textContent = "已开通";
    $("nu-password").value = "";
    await load();
  } catch (err) {
    $("nu-result").textContent = err.message;
  }
});

load();
