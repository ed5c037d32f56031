// 银龄助手 agents' console: queue (live over server-sent events), conversation, assist, booking.
// No framework, no build step. Every piece of data goes into the page through textContent.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (id) => document.getElementById(id);
const PRIORITY = ["紧急", "防骗", "要人工", "没听懂"];
const CHANNEL = { webchat: "网页", wechat: "微信", telegram: "Telegram", rest: "接口" };
const state = { kind: null, id: null, data: null, queue: null, requestId: null };
window.yinlingConsole = { events: [] }; // read by the end-to-end tests and the bench

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("请重新登录");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.error === "string" ? data.error : `出错了（${response.status}）`);
  return data;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function minutesSince(iso) {
  return Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
}

function showError(message) {
  const box = $("case-error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- the queue ---------------------------------------------------------------------------
function queueItem(kind, item, label) {
  const li = el("li", null, `item p${item.priority}`);
  li.dataset.kind = kind;
  li.dataset.id = item.id;
  const button = el("button", null, "pick");
  button.type = "button";
  button.append(el("span", PRIORITY[item.priority] || "", "badge"), el("span", label, "what"));
  button.addEventListener("click", () => select(kind, item.id));
  if (state.kind === kind && state.id === item.id) li.classList.add("selected");
  li.append(button);
  return li;
}

function handoffLabel(h) {
  const who = h.claimed_by ? ` · ${h.claimed_by}` : "";
  return `${CHANNEL[h.channel] || h.channel} · 等了 ${minutesSince(h.created_at)} 分钟${who}`;
}

async function loadQueue() {
  const queue = await api("GET", "/api/queue");
  state.queue = queue;
  $("waiting").replaceChildren(...queue.waiting.map((h) => queueItem("handoff", h, handoffLabel(h))));
  $("mine").replaceChildren(...queue.mine.map((h) => queueItem("handoff", h, handoffLabel(h))));
  if ($("others")) $("others").replaceChildren(...queue.others.map((h) => queueItem("handoff", h, handoffLabel(h))));
  $("tickets").replaceChildren(
    ...queue.tickets.map((t) =>
      queueItem("ticket", t, `${CHANNEL[t.channel] || t.channel} · ${t.phone || "未留电话"} · ${t.due_at.slice(5, 16).replace("T", " ")}`),
    ),
  );
  $("waiting-count").textContent = queue.waiting.length;
  $("ticket-count").textContent = queue.tickets.length;
  const select = $("transfer-to");
  select.replaceChildren(...queue.colleagues.map((c) => Object.assign(el("option", c.name), { value: c.id })));
}

// -- one conversation --------------------------------------------------------------------
async function select(kind, id) {
  state.kind = kind;
  state.id = id;
  state.requestId = null;
  showError("");
  await loadCase();
  document.querySelectorAll(".item").forEach((li) => {
    li.classList.toggle("selected", li.dataset.kind === kind && Number(li.dataset.id) === id);
  });
}

function transcriptItem(item) {
  const li = el("li", null, `msg ${item.kind}`);
  const who = { senior: "老人", bot: "机器人", agent: `坐席 ${item.agent || ""}`, system: "系统" }[item.kind];
  const head = el("div", null, "meta");
  head.append(el("span", who, "who"), el("time", item.at ? item.at.slice(11, 19) : ""));
  if (item.kind === "senior" && item.intent) {
    head.append(el("span", `${item.intent_label}（${item.intent} ${item.confidence}）`, "intent"));
    for (const e of item.entities) head.append(el("span", `${e.entity}=${e.value}`, "entity"));
  }
  if (item.kind === "bot") {
    if (item.kb_entry) head.append(el("span", `条目 ${item.kb_entry}${item.score ? ` · ${item.score}` : ""}`, "entry"));
    if (item.response) head.append(el("span", item.response, "entry"));
    const right = el("button", "答对", "mark");
    const wrong = el("button", "答错", "mark wrong");
    right.type = wrong.type = "button";
    right.addEventListener("click", () => markAnswer(item.ts, "right", right));
    wrong.addEventListener("click", () => markAnswer(item.ts, "wrong", wrong));
    head.append(right, wrong);
  }
  li.append(head, el("div", item.text, "text"));
  if (item.buttons && item.buttons.length) li.append(el("div", item.buttons.join(" / "), "buttons"));
  return li;
}

async function loadCase() {
  if (!state.id) return;
  const url = state.kind === "ticket" ? `/api/tickets/${state.id}` : `/api/handoffs/${state.id}`;
  let data;
  try {
    data = await api("GET", url);
  } catch (err) {
    showError(err.message);
    return;
  }
  state.data = data;
  $("empty").hidden = true;
  $("case").hidden = false;
  const h = data.handoff;
  const t = data.ticket;
  const title = h
    ? `${CHANNEL[h.channel] || h.channel}对话 #${h.id} · ${PRIORITY[h.priority]} · ${h.status === "waiting" ? "等待认领" : h.status === "claimed" ? `由 ${h.claimed_by} 处理` : "已结束"}`
    : `回电工单 #${t.id} · ${t.phone || "未留电话"} · ${PRIORITY[t.priority]}`;
  $("case-title").textContent = title;
  $("summary").replaceChildren(...data.summary.map((line) => el("li", line)));
  const list = $("transcript");
  list.replaceChildren(...data.transcript.map(transcriptItem));
  list.scrollTop = list.scrollHeight;
  const mine = Boolean(data.mine);
  $("claim").hidden = !(h && h.status === "waiting");
  for (const id of ["hand-back", "transfer", "reply-form"]) $(id).hidden = !mine;
  $("transfer-to").parentElement.hidden = !mine;
  $("ticket-done").hidden = !t;
  $("bookings").replaceChildren(
    ...data.bookings.map((b) => el("li", `${b.code} · ${b.label} · ${b.status === "active" ? "有效" : "已取消"}${b.sample ? "（示例）" : ""}`)),
  );
  document.querySelectorAll(".hit .send").forEach((b) => (b.disabled = !mine));
}

async function markAnswer(ts, verdict, button) {
  const base = state.kind === "ticket" ? `/api/tickets/${state.id}` : `/api/handoffs/${state.id}`;
  try {
    await api("POST", `${base}/feedback`, { event_ts: ts, verdict });
    button.classList.add("done");
    button.textContent = verdict === "right" ? "已标答对" : "已标答错";
  } catch (err) {
    showError(err.message);
  }
}

async function act(path, body) {
  showError("");
  try {
    const result = await api("POST", `/api/handoffs/${state.id}/${path}`, body);
    await loadQueue();
    await loadCase();
    return result;
  } catch (err) {
    showError(err.message);
    return null;
  }
}

async function sendReply() {
  const box = $("reply");
  const text = box.value.trim();
  if (!text || state.kind !== "handoff") return;
  const sent = await act("reply", { text });
  if (sent) box.value = "";
}

async function claimNext() {
  try {
    const handoff = await api("POST", "/api/handoffs/next");
    await loadQueue();
    await select("handoff", handoff.id);
  } catch (err) {
    $("status").textContent = err.message === "nobody is waiting" ? "现在没有人在等" : err.message;
  }
}

async function handBack() {
  if (state.kind !== "handoff" || !state.data || !state.data.mine) return;
  await act("hand-back");
}

// -- assist ------------------------------------------------------------------------------
function hitCard(hit) {
  const li = el("li", null, "hit");
  li.append(el("h3", `${hit.title}（${hit.score}）`));
  li.append(el("p", hit.answer, "answer"));
  if (hit.checklist.length) {
    const ol = el("ol", null, "checklist");
    ol.append(...hit.checklist.map((c) => el("li", c)));
    li.append(el("p", "要带的材料：", "label"), ol);
  }
  li.append(el("p", "读给老人听：", "label"), el("p", hit.spoken, "spoken"));
  if (hit.note) li.append(el("p", hit.note, "note"));
  li.append(el("p", `来源：条目 ${hit.id}${hit.source ? ` · ${hit.source}` : ""}`, "source small"));
  const send = el("button", "发给老人（大字）", "send");
  send.type = "button";
  send.disabled = !(state.data && state.data.mine);
  send.addEventListener("click", async () => {
    const result = await act("send-entry", { entry_id: hit.id });
    if (result) send.textContent = "已发送";
  });
  li.append(send);
  return li;
}

async function search(event) {
  event.preventDefault();
  const q = $("search").value.trim();
  if (!q) return;
  $("hits").replaceChildren(el("li", "查询中…", "small"));
  try {
    const result = await api("GET", `/api/assist/search?q=${encodeURIComponent(q)}`);
    $("hits").replaceChildren(...(result.hits.length ? result.hits.map(hitCard) : [el("li", "没有找到相关条目")]));
  } catch (err) {
    $("hits").replaceChildren(el("li", err.message, "error"));
  }
}

// -- booking on the caller's behalf ------------------------------------------------------
async function loadServices() {
  const services = await api("GET", "/api/bookings/services");
  $("book-service").replaceChildren(...services.map((s) => Object.assign(el("option", s.name), { value: s.code })));
  const tomorrow = new Date(Date.now() + 86400000);
  $("book-day").value = tomorrow.toISOString().slice(0, 10);
}

async function findSlots() {
  const service = $("book-service").value;
  const day = $("book-day").value;
  try {
    const slots = await api("GET", `/api/bookings/slots?service=${encodeURIComponent(service)}&day=${day}`);
    $("book-slot").replaceChildren(
      ...slots.map((s) => Object.assign(el("option", `${s.label} 余 ${s.free}${s.sample ? "（示例）" : ""}`), { value: s.id })),
    );
    $("book-result").textContent = slots.length ? "" : "这天没有空位";
  } catch (err) {
    $("book-result").textContent = err.message;
  }
}

async function book(event) {
  event.preventDefault();
  if (!state.id) return;
  if (!$("book-agreed").checked) {
    $("book-result").textContent = "请先确认老人在电话里同意了这个预约。";
    return;
  }
  // One id per filled form: a double click or a retry books once.
  state.requestId = state.requestId || crypto.randomUUID();
  const base = state.kind === "ticket" ? `/api/tickets/${state.id}` : `/api/handoffs/${state.id}`;
  try {
    const result = await api("POST", `${base}/bookings`, {
      slot_id: Number($("book-slot").value),
      contact_name: $("book-name").value,
      phone: $("book-phone").value,
      notes: $("book-notes").value || null,
      caller_agreed: true,
      request_id: state.requestId,
    });
    $("book-result").textContent = `约好了：${result.service_name} ${result.start} ${result.place}，预约号 ${result.code}`;
    state.requestId = null;
    $("book-agreed").checked = false;
    await loadCase();
  } catch (err) {
    $("book-result").textContent = err.message;
  }
}

// -- live updates ------------------------------------------------------------------------
let queueTimer = null;
function refreshQueueSoon() {
  clearTimeout(queueTimer);
  queueTimer = setTimeout(() => loadQueue().catch(() => {}), 50);
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("hello", () => ($("status").textContent = "在线"));
  for (const kind of ["handoff", "ticket", "message"]) {
    source.addEventListener(kind, (event) => {
      const row = JSON.parse(event.data);
      window.yinlingConsole.events.push({ kind, row, at: performance.timeOrigin + performance.now() });
      refreshQueueSoon();
      if (kind !== "ticket" && state.kind === "handoff" && row.handoff_id === state.id) loadCase();
    });
  }
  source.addEventListener("logged_out", () => (location.href = "/login"));
  source.onerror = () => {
    $("status").textContent = "连接断开，正在重连…";
    api("GET", "/api/me").catch(() => {});
  };
}

document.addEventListener("keydown", (event) => {
  if (event.altKey && !event.ctrlKey && event.key.toLowerCase() === "n") {
    event.preventDefault();
    claimNext();
  } else if (event.altKey && event.key.toLowerCase() === "h") {
    event.preventDefault();
    handBack();
  } else if (event.altKey && event.key.toLowerCase() === "s") {
    event.preventDefault();
    $("search").focus();
  } else if (event.ctrlKey && event.key === "Enter" && document.activeElement === $("reply")) {
    event.preventDefault();
    sendReply();
  }
});

$("next").addEventListener("click", claimNext);
$("claim").addEventListener("click", () => act("claim"));
$("hand-back").addEventListener("click", handBack);
$("transfer").addEventListener("click", () => act("transfer", { to_user_id: Number($("transfer-to").value) }));
$("reply-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sendReply();
});
$("ticket-done").addEventListener("click", async () => {
  try {
    await api("POST", `/api/tickets/${state.id}/done`);
    state.id = null;
    $("case").hidden = true;
    $("empty").hidden = false;
    await loadQueue();
  } catch (err) {
    showError(err.message);
  }
});
$("search-form").addEventListener("submit", search);
$("book-find").addEventListener("click", findSlots);
$("book-form").addEventListener("submit", book);
$("logout").addEventListener("click", async () => {
  await api("POST", "/logout").catch(() => {});
  location.href = "/login";
});

loadQueue().then(connect);
loadServices().catch(() => {});
setInterval(() => loadQueue().catch(() => {}), 30000); // waiting times; events do the rest
