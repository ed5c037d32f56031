// 银龄助手 web chat. Talks to its own folder's API (channels/webchat.py): a conversation the
// server signed (session), messages (message), what was said so far (history), 重新开始 (restart).
// Plain words, large print, nothing that moves or pops up by itself.
"use strict";

(() => {
  const SIZES = [
    { px: 24, name: "标准" },
    { px: 28, name: "大" },
    { px: 32, name: "较大" },
    { px: 36, name: "特大" },
  ];
  const KEYS = {
    session: "yinling.webchat.session",
    size: "yinling.webchat.size",
    outbox: "yinling.webchat.outbox",
  };
  const GREETING = "您好！我是银龄助手。\n有什么想问的，请在下面打字，再点“发送”。";
  const NOT_SENT =
    "抱歉，网络好像出了点问题，刚才的话没有送到。请点“重试”再发一次；" +
    "着急的话请拨打 12345 市民服务热线。如有危险请马上拨打 120。";
  const EXPIRED = "之前的对话已经过期了，我们重新开始吧。";
  const RESTART_FAILED = "没能重新开始，请过一会儿再点一次“重新开始”。";
  // Long enough for a slow answer; short enough that nobody waits forever on a dead line.
  const REPLY_TIMEOUT_MS = 60000;
  // A person's reply (a human agent in the staff app) shows within about this long.
  const POLL_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller");
  const messages = $("messages");
  const typing = $("typing");
  const form = $("composer");
  const input = $("input");
  const voice = $("voice");
  const hint = $("hint");
  const smaller = $("smaller");
  const bigger = $("bigger");
  const sizeName = $("size-name");
  const restartButton = $("restart");
  const confirmBox = $("restart-confirm");
  const confirmQuestion = $("restart-question");

  // Storage may be off or throw (private mode): the page still works, it only forgets.
  const store = {
    get(key) {
      try { return localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { localStorage.setItem(key, value); } catch { /* not remembered */ }
    },
    remove(key) {
      try { localStorage.removeItem(key); } catch { /* nothing to forget */ }
    },
    json(key, fallback) {
      try { return JSON.parse(this.get(key) ?? "null") ?? fallback; } catch { return fallback; }
    },
  };

  // ---- text size -------------------------------------------------------------------
  let sizeStep = 0;

  function applySize(step) {
    sizeStep = Math.min(Math.max(step, 0), SIZES.length - 1);
    document.documentElement.style.fontSize = SIZES[sizeStep].px + "px";
    sizeName.textContent = SIZES[sizeStep].name;
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    smaller.setAttribute("aria-disabled", String(sizeStep === 0));
    bigger.setAttribute("aria-disabled", String(sizeStep === SIZES.length - 1));
    store.set(KEYS.size, String(sizeStep));
    fitInput();
  }
  smaller.addEventListener("click", () => applySize(sizeStep - 1));
  bigger.addEventListener("click", () => applySize(sizeStep + 1));

  // An icon the eye can use and a screen reader skips, then the words that say what it does.
  function setLabel(button, icon, words) {
    const glyph = document.createElement("span");
    glyph.setAttribute("aria-hidden", "true");
    glyph.textContent = icon;
    button.replaceChildren(glyph, words);
  }

  // ---- reading aloud ---------------------------------------------------------------
  const canSynthesize = "speechSynthesis" in window && "SpeechSynthesisUtterance" in window;
  let speakingButton = null;

  function chineseVoice() {
    if (!canSynthesize) return undefined;
    const voices = speechSynthesis.getVoices();
    return voices.find((v) => /^zh[-_]CN$/i.test(v.lang)) || voices.find((v) => /^zh([-_]|$)/i.test(v.lang));
  }

  // Without a Chinese voice the button would read nothing (or read it in English): hide it.
  // Browsers load voices late, so look again when they say the list changed.
  function showSpeakButtons() {
    document.documentElement.classList.toggle("can-speak", Boolean(chineseVoice()));
  }
  if (canSynthesize) {
    showSpeakButtons();
    speechSynthesis.addEventListener("voiceschanged", showSpeakButtons);
  }

  function toggleSpeaking(button, text) {
    const wasThis = speakingButton === button;
    if (speakingButton) setLabel(speakingButton, "🔊", "朗读");
    speakingButton = null;
    speechSynthesis.cancel();
    if (wasThis) return; // a second press means stop
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = "zh-CN";
    utterance.voice = chineseVoice() || null;
    utterance.rate = 0.9; // a little slower than usual
    utterance.onend = utterance.onerror = () => {
      if (speakingButton === button) {
        speakingButton = null;
        setLabel(button, "🔊", "朗读");
      }
    };
    speakingButton = button;
    setLabel(button, "⏹", "停止");
    speechSynthesis.speak(utterance);
  }

  // ---- showing messages ----------------------------------------------------------------
  // Every message from the server has a cursor; one shown is never shown again, however it
  // comes back (the answer to a POST, the history after a reload, a poll).
  const shownCursors = new Set();
  let lastWho = null;

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function addMessage(who, text, { kind = "" } = {}) {
    const item = document.createElement("div");
    item.className = `msg msg-${who}` + (kind ? ` msg-${kind}` : "");
    const label = document.createElement("div");
    label.className = "who";
    label.textContent = who === "bot" ? "助手" : "我";
    item.append(label);

    // One paragraph per line: the reply's line breaks stay, and paragraphs get room between them.
    const lines = String(text).split("\n").filter((line) => line.trim());
    if (lines.length) {
      const bubble = document.createElement("div");
      bubble.className = "bubble";
      for (const line of lines) {
        const p = document.createElement("p");
        p.textContent = line; // text, never HTML: replies cannot inject markup
        bubble.append(p);
      }
      item.append(bubble);
    }

    if (who === "bot" && canSynthesize && lines.length) {
      const speak = document.createElement("button");
      speak.type = "button";
      speak.className = "btn speak";
      setLabel(speak, "🔊", "朗读");
      speak.addEventListener("click", () => toggleSpeaking(speak, lines.join("\n")));
      item.append(speak);
    }

    messages.append(item);
    return item;
  }

  // Only the choices of the bot's latest messages can be pressed (the server trusts no others):
  // once the user says anything, or a new round of bot messages begins, the older ones are done.
  function closeQuickReplies() {
    for (const button of messages.querySelectorAll(".quick-reply:not(:disabled)")) button.disabled = true;
  }

  function addQuickReplies(item, buttons) {
    const group = document.createElement("div");
    group.className = "quick-replies";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "可以直接点的回答");
    for (const choice of buttons) {
      const title = String(choice.title ?? choice.payload ?? "").trim();
      const payload = String(choice.payload ?? choice.title ?? "").trim();
      if (!title || !payload) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn quick-reply";
      button.textContent = title;
      button.addEventListener("click", () => {
        if (button.disabled) return;
        closeQuickReplies();
        button.prepend("✓ "); // the chosen one stays recognisable, not by colour alone
        send(title, payload);
      });
      group.append(button);
    }
    // Keep the speak button last, under the choices it does not read.
    item.insertBefore(group, item.querySelector(".speak"));
  }

  function showBot(text, buttons, cursor) {
    if (cursor) {
      if (shownCursors.has(cursor)) return null;
      shownCursors.add(cursor);
    }
    if (lastWho !== "bot") closeQuickReplies(); // a new round of bot messages
    lastWho = "bot";
    const item = addMessage("bot", text ?? "");
    if (Array.isArray(buttons) && buttons.length) addQuickReplies(item, buttons);
    return item;
  }

  function showUser(text, cursor) {
    if (cursor) {
      if (shownCursors.has(cursor)) return null;
      shownCursors.add(cursor);
    }
    closeQuickReplies();
    lastWho = "user";
    return addMessage("user", text);
  }

  // A plain sentence from the page itself (not the bot): no cursor, no buttons.
  function showNotice(text, kind = "notice") {
    return addMessage("bot", text, { kind });
  }

  function showGreeting() {
    lastWho = "bot";
    return addMessage("bot", GREETING);
  }

  // Messages from the history or a poll, in order; returns the elements added.
  function showHistory(items) {
    const added = [];
    for (const item of items) {
      if (!item || typeof item.cursor !== "string") continue;
      const element = item.from === "user" ? showUser(item.text ?? "", item.cursor)
        : showBot(item.text, item.buttons, item.cursor);
      if (element) added.push(element);
      if (item.from === "user" && item.message_id) forgetUnsent(item.message_id, true);
    }
    return added;
  }

  // The box grows with what is typed (up to a limit in chat.css), so nothing typed is hidden.
  function fitInput() {
    input.style.height = "auto";
    input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + "px";
  }
  input.addEventListener("input", fitInput);

  // ---- the conversation on the server ---------------------------------------------------
  let session = store.json(KEYS.session, null);
  // Bumped whenever the conversation changes (restart, expiry): answers for an older one are dropped.
  let generation = 0;

  class ApiError extends Error {
    constructor(status, body) {
      super(`HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, { method = "GET", body, auth = true } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && session?.token) headers.Authorization = "Bearer " + session.token;
    const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(REPLY_TIMEOUT_MS) : undefined;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
    let answer = null;
    try { answer = await response.json(); } catch { answer = null; }
    if (!response.ok) throw new ApiError(response.status, answer);
    return answer;
  }

  function keepSession(answer) {
    if (!answer || typeof answer.token !== "string") throw new Error("no session in the answer");
    session = { conversation_id: answer.conversation_id, token: answer.token, expires_at: answer.expires_at };
    store.set(KEYS.session, JSON.stringify(session));
  }

  async function newSession() {
    generation += 1;
    session = null;
    store.remove(KEYS.session);
    keepSession(await api("session", { method: "POST", auth: false }));
  }

  // The old conversation is gone (expired, or another key signs now): a new one, said plainly.
  async function replaceExpiredSession() {
    await newSession();
    lastWho = null;
    closeQuickReplies();
    showNotice(EXPIRED).scrollIntoView({ block: "nearest" });
  }

  // ---- unsent messages: kept until the server has them ---------------------------------------
  let outbox = store.json(KEYS.outbox, []).filter((m) => m && typeof m.id === "string" && typeof m.text === "string");
  const bubbles = new Map(); // message id → its bubble on the page

  function saveOutbox() {
    if (outbox.length) store.set(KEYS.outbox, JSON.stringify(outbox));
    else store.remove(KEYS.outbox);
  }

  function forgetUnsent(id, arrived = false) {
    const before = outbox.length;
    outbox = outbox.filter((m) => m.id !== id);
    if (outbox.length !== before) saveOutbox();
    // Found in the history: the message did arrive; its own bubble there replaces this one.
    if (arrived && bubbles.has(id) && !bubbles.get(id).dataset.cursor) bubbles.get(id).remove();
    if (arrived) bubbles.delete(id);
  }

  function newMessageId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function markUnsent(bubble, message) {
    bubble.classList.add("msg-unsent");
    bubble.querySelector(".unsent-note")?.remove();
    bubble.querySelector(".btn-retry")?.remove();
    const note = document.createElement("p");
    note.className = "unsent-note";
    note.textContent = "这句话没有发出去。";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-retry";
    setLabel(retry, "↻", "重试");
    retry.addEventListener("click", () => {
      note.remove();
      retry.remove();
      bubble.classList.remove("msg-unsent");
      messages.append(bubble); // the resent message goes last, where its answer will follow
      deliver(message, bubble);
    });
    bubble.append(note, retry);
  }

  // ---- sending ------------------------------------------------------------------------------
  // Messages go one after another, so answers come back in the order they were asked.
  let queue = Promise.resolve();
  let waiting = 0;
  let sends = 0; // counts every send: a poll that overlapped one is not trusted

  function setWaiting(delta) {
    waiting += delta;
    typing.hidden = waiting === 0;
    if (!typing.hidden) typing.scrollIntoView({ block: "nearest" });
  }

  async function post(message) {
    if (!session) await newSession();
    const body = message.payload
      ? { payload: message.payload, title: message.text, message_id: message.id }
      : { message: message.text, message_id: message.id };
    try {
      return await api("message", { method: "POST", body });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) await replaceExpiredSession();
      throw err;
    }
  }

  function deliver(message, bubble) {
    hint.textContent = "";
    const mine = generation;
    sends += 1;
    setWaiting(1);
    queue = queue
      .then(() => post(message))
      .then(
        (answer) => {
          forgetUnsent(message.id);
          if (mine !== generation) return; // answered in a conversation that has since ended
          if (typeof answer?.cursor === "string") {
            bubble.dataset.cursor = answer.cursor;
            shownCursors.add(answer.cursor);
          }
          const replies = Array.isArray(answer?.replies) ? answer.replies : [];
          let first = null;
          for (const reply of replies) {
            if (typeof reply?.text !== "string" && !(reply?.buttons || []).length) continue;
            first ??= showBot(reply.text, reply.buttons, reply.cursor);
          }
          // Show the start of the answer, not its end: long answers are read from the top.
          first?.scrollIntoView({ block: "start" });
        },
        (err) => {
          if (mine !== generation && !(err instanceof ApiError && err.status === 401)) return;
          const said = err instanceof ApiError ? err.body?.text : null;
          if (err instanceof ApiError && err.status === 413) {
            // Too long to ever go through: give the words back to split, instead of a 重试.
            forgetUnsent(message.id);
            bubble.classList.add("msg-unsent");
            if (!input.value.trim()) {
              input.value = message.text;
              fitInput();
            }
            showNotice(said || "您这段话太长了，请分几次发。").scrollIntoView({ block: "nearest" });
            return;
          }
          markUnsent(bubble, message);
          if (err instanceof ApiError && err.status === 429 && said) {
            showNotice(said).scrollIntoView({ block: "nearest" });
          } else if (!(err instanceof ApiError && err.status === 401)) {
            showNotice(NOT_SENT, "error").scrollIntoView({ block: "nearest" });
          }
        },
      )
      .finally(() => setWaiting(-1));
  }

  function send(text, payload = null) {
    const message = { id: newMessageId(), text, ...(payload ? { payload } : {}) };
    outbox.push(message);
    saveOutbox();
    const bubble = showUser(text, null);
    bubble.dataset.id = message.id;
    bubbles.set(message.id, bubble);
    bubble.scrollIntoView({ block: "nearest" });
    deliver(message, bubble);
  }

  function sendInput() {
    const text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    input.value = "";
    fitInput();
    send(text);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendInput();
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter starts a new line, and the Enter that picks a pinyin
    // candidate in a Chinese input method does neither.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendInput();
  });

  // ---- news from the server: a person's reply appended to the conversation ----------------------
  let after = null; // advanced only by the history itself, never by a POST's answer
  let polling = false;

  async function poll() {
    if (polling || !session || waiting > 0 || document.visibilityState !== "visible") return;
    polling = true;
    const mine = generation;
    const sendsBefore = sends;
    try {
      const query = after ? "?after=" + encodeURIComponent(after) : "";
      const answer = await api("history" + query);
      // A send that overlapped this read may have its own messages in it, not yet known as shown.
      if (mine !== generation || sends !== sendsBefore || waiting > 0) return;
      const follow = nearBottom();
      const added = showHistory(Array.isArray(answer?.messages) ? answer.messages : []);
      if (typeof answer?.cursor === "string") after = answer.cursor;
      if (added.length && follow) added[0].scrollIntoView({ block: "start" });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401 && mine === generation) {
        try { await replaceExpiredSession(); } catch { /* offline: the next poll tries again */ }
      }
      // Anything else (offline, a restart of the server): the next poll tries again.
    } finally {
      polling = false;
    }
  }

  function startPolling() {
    setInterval(poll, POLL_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") poll();
    });
  }

  // ---- 重新开始 -------------------------------------------------------------------------------
  function askRestart(open) {
    confirmBox.hidden = !open;
    restartButton.setAttribute("aria-expanded", String(open));
    if (open) confirmQuestion.focus();
  }
  restartButton.addEventListener("click", () => askRestart(confirmBox.hidden));
  $("restart-no").addEventListener("click", () => {
    askRestart(false);
    restartButton.focus();
  });
  $("restart-yes").addEventListener("click", async () => {
    askRestart(false);
    hint.textContent = "";
    try {
      try {
        const fresh = await api("restart", { method: "POST" });
        generation += 1;
        keepSession(fresh);
      } catch (err) {
        // An expired conversation is as good as ended: just start a new one.
        if (!(err instanceof ApiError && err.status === 401)) throw err;
        await newSession();
      }
    } catch {
      hint.textContent = RESTART_FAILED;
      return;
    }
    outbox = [];
    saveOutbox();
    bubbles.clear();
    shownCursors.clear();
    after = null;
    lastWho = null;
    messages.replaceChildren();
    showGreeting();
    scroller.scrollTo(0, 0);
    input.focus();
  });

  // ---- voice input -----------------------------------------------------------------
  // Only where the browser can do it; elsewhere the button stays hidden.
  const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  const CANNOT_LISTEN = new Set(["network", "service-not-allowed", "language-not-supported", "audio-capture"]);
  if (Recognition) {
    let listening = null;
    const stopped = () => {
      listening = null;
      setLabel(voice, "🎤", "说话");
    };
    voice.hidden = false;
    voice.addEventListener("click", () => {
      if (listening) {
        listening.stop();
        return;
      }
      const recognition = new Recognition();
      recognition.lang = "zh-CN";
      recognition.interimResults = false;
      recognition.maxAlternatives = 1;
      recognition.onresult = (event) => {
        const heard = Array.from(event.results, (result) => result[0].transcript).join("");
        // Into the box, not sent: the speaker checks what was heard, then presses 发送.
        input.value = (input.value.trim() ? input.value.trim() + " " : "") + heard;
        fitInput();
        hint.textContent = "听到了。请看看字对不对，再点“发送”。";
      };
      recognition.onerror = (event) => {
        if (CANNOT_LISTEN.has(event.error)) {
          // Some browsers offer the API but have no service or microphone behind it:
          // once that shows, hide the button instead of letting it fail again.
          voice.hidden = true;
          hint.textContent = "这个浏览器用不了语音，请直接打字。";
        } else if (event.error === "not-allowed") {
          hint.textContent = "没有用话筒的权限。请在浏览器设置里允许使用麦克风，或者直接打字。";
        } else {
          hint.textContent = "没有听清楚，请再说一次，或者直接打字。";
        }
      };
      recognition.onend = stopped;
      try {
        recognition.start();
      } catch {
        stopped();
        hint.textContent = "现在不能用语音，请直接打字。";
        return;
      }
      listening = recognition;
      setLabel(voice, "⏹", "说完了");
      hint.textContent = "请说话，我在听…";
    });
  }

  // ---- start: the same conversation as before the reload, with what was said ------------------
  async function start() {
    let expired = false;
    try {
      if (session?.token) {
        try {
          keepSession(await api("session", { method: "POST" })); // renewed: 30 more days
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 401)) throw err;
          expired = true;
          await newSession();
        }
      } else {
        await newSession();
      }
    } catch {
      /* offline: keep what we have; sending tries again */
    }

    let history = [];
    if (session && !expired) {
      try {
        const answer = await api("history");
        history = Array.isArray(answer?.messages) ? answer.messages : [];
        if (typeof answer?.cursor === "string") after = answer.cursor;
      } catch { /* shown as a fresh page; polling catches up */ }
    }
    if (expired) showNotice(EXPIRED);
    const added = showHistory(history);
    if (!added.length) showGreeting();
    // What did not go out before the page was closed is still here, waiting for 重试.
    for (const message of outbox) {
      const bubble = showUser(message.text, null);
      bubble.dataset.id = message.id;
      bubbles.set(message.id, bubble);
      markUnsent(bubble, message);
    }
    // The latest question in view, as it was before the reload.
    (messages.lastElementChild)?.scrollIntoView({ block: "start" });
    startPolling();
  }

  applySize(Number.parseInt(store.get(KEYS.size) ?? "0", 10) || 0);
  start();
})();
