// 银龄助手 web chat: posts {"sender", "message"} to the REST channel and shows the replies.
// Plain words, large print, nothing that moves or pops up by itself.
"use strict";

(() => {
  const SIZES = [
    { px: 24, name: "标准" },
    { px: 28, name: "大" },
    { px: 32, name: "较大" },
    { px: 36, name: "特大" },
  ];
  const KEYS = { session: "yinling.webchat.session", size: "yinling.webchat.size" };
  const GREETING = "您好！我是银龄助手。\n有什么想问的，请在下面打字，再点“发送”。";
  const APOLOGY =
    "抱歉，网络好像出了点问题，刚才的话没有送到。请过一会儿再发一次；" +
    "着急的话请拨打 12345 市民服务热线。如有危险请马上拨打 120。";
  // Long enough for a slow answer; short enough that nobody waits forever on a dead line.
  const REPLY_TIMEOUT_MS = 60000;

  const $ = (id) => document.getElementById(id);
  const messages = $("messages");
  const typing = $("typing");
  const form = $("composer");
  const input = $("input");
  const voice = $("voice");
  const hint = $("hint");
  const smaller = $("smaller");
  const bigger = $("bigger");
  const sizeName = $("size-name");

  // Storage may be off or throw (private mode): the page still works, it only forgets.
  const store = {
    get(key) {
      try { return localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { localStorage.setItem(key, value); } catch { /* not remembered */ }
    },
  };

  // The conversation is the server's: a signed id and its token, kept so a reload continues it.
  let session = null;
  try { session = JSON.parse(store.get(KEYS.session) || "null"); } catch { session = null; }

  async function api(path, { method = "GET", body, auth = true } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && session?.token) headers.Authorization = "Bearer " + session.token;
    const timeout = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(REPLY_TIMEOUT_MS) : undefined;
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: timeout });
  }

  async function newSession() {
    const response = await api("session", { method: "POST", auth: false });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    session = await response.json();
    store.set(KEYS.session, JSON.stringify(session));
  }

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
  applySize(Number.parseInt(store.get(KEYS.size) ?? "0", 10) || 0);

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

  // ---- messages --------------------------------------------------------------------
  function addMessage(who, text, { error = false } = {}) {
    const item = document.createElement("div");
    item.className = `msg msg-${who}` + (error ? " msg-error" : "");
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
      button.addEventListener("click", () => send(title, title, payload));
      group.append(button);
    }
    // Keep the speak button last, under the choices it does not read.
    item.insertBefore(group, item.querySelector(".speak"));
  }

  function showReplies(replies) {
    let first = null;
    for (const reply of replies) {
      const buttons = Array.isArray(reply?.buttons) ? reply.buttons : [];
      // Only text and buttons are for this page; custom payloads and images are not.
      if (typeof reply?.text !== "string" && !buttons.length) continue;
      const item = addMessage("bot", reply.text ?? "");
      if (buttons.length) addQuickReplies(item, buttons);
      first ??= item;
    }
    // Show the start of the answer, not its end: long answers are read from the top.
    first?.scrollIntoView({ block: "start" });
  }

  function showApology() {
    addMessage("bot", APOLOGY, { error: true }).scrollIntoView({ block: "start" });
  }

  // The box grows with what is typed (up to a limit in chat.css), so nothing typed is hidden.
  function fitInput() {
    input.style.height = "auto";
    input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + "px";
  }
  input.addEventListener("input", fitInput);

  // ---- talking to the server -------------------------------------------------------
  async function post(message, payload) {
    if (!session) await newSession();
    const body = payload ? { payload, title: message } : { message };
    let response = await api("message", { method: "POST", body });
    if (response.status === 401) {
      await newSession();
      response = await api("message", { method: "POST", body });
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const answer = await response.json();
    if (!Array.isArray(answer?.replies)) throw new Error("the answer has no replies");
    return answer.replies;
  }

  // Messages go one after another, so answers come back in the order they were asked.
  let queue = Promise.resolve();
  let waiting = 0;

  function send(message, shown = message, payload = null) {
    hint.textContent = "";
    addMessage("user", shown).scrollIntoView({ block: "nearest" });
    waiting += 1;
    typing.hidden = false;
    typing.scrollIntoView({ block: "nearest" });
    queue = queue
      .then(() => post(payload ? shown : message, payload))
      .then(showReplies, showApology)
      .finally(() => {
        waiting -= 1;
        typing.hidden = waiting === 0;
      });
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

  addMessage("bot", GREETING);
})();
