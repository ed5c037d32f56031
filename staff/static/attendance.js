// 银龄助手 到场登记: mark bookings whose time has come as 已到 / 未到 (staff/attendance.py).
"use strict";
const STATE = { true: "已到", false: "未到（爽约）", null: "未登记" };

function say(message, isError) {
  $("att-error").hidden = !isError;
  $("att-error").textContent = isError ? message : "";
  $("att-status").textContent = isError ? "" : message;
}

async function mark(code, attended) {
  if (!code.trim()) {
    say("请先填预约号。", true);
    return;
  }
  try {
    const result = await api("POST", `/api/bookings/${encodeURIComponent(code.replace(/\s/g, ""))}/attendance`, { attended });
    say(`${result.booking.code} 已登记为${STATE[attended]}。`, false);
    await load();
  } catch (err) {
    say(err.message, true);
  }
}

function row(b) {
  return el(
    "tr",
    { dataset: { code: b.code } },
    el("td", {}, b.code),
    el("td", {}, b.service),
    el("td", {}, b.time),
    el("td", {}, b.place),
    el("td", {}, `${b.contact} · 尾号${b.phone_tail}`),
    el("td", { class: "state" }, STATE[b.attended]),
    el(
      "td",
      {},
      el("button", { type: "button", class: "small-button came", onclick: () => mark(b.code, true) }, "已到"),
      " ",
      el("button", { type: "button", class: "small-button danger missed", onclick: () => mark(b.code, false) }, "未到"),
    ),
  );
}

async function load() {
  const data = await api("GET", `/api/attendance?days=${$("days").value}`);
  const body = $("attendance").querySelector("tbody");
  body.replaceChildren(
    ...(data.bookings.length ? data.bookings.map(row) : [el("tr", {}, el("td", { colspan: "7" }, "这段时间没有到了时间的预约。"))]),
  );
}

$("days").addEventListener("change", () => load().catch((err) => say(err.message, true)));
$("by-code").addEventListener("submit", (event) => event.preventDefault());
$("code-came").addEventListener("click", () => mark($("code").value, true));
$("code-missed").addEventListener("click", () => mark($("code").value, false));
load().catch((err) => say(err.message, true));
