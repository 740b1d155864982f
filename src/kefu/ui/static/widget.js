/* kefu chat widget: <script src="https://HOST/widget.js" data-kb="demo" async></script>
 * No dependencies. Lives in a shadow root, so the page's CSS and this widget leave each
 * other alone. Everything anyone writes is shown with textContent, never as HTML. */
(function () {
  "use strict";
  var DEFAULTS = /*KEFU_DEFAULTS*/{};
  if (window.__kefuWidget) return;
  var script = document.currentScript || Array.prototype.slice.call(document.scripts)
    .filter(function (s) { return /\/widget\.js(\?|$)/.test(s.src); }).pop();
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var data = script.dataset || {};
  var kb = data.kb || DEFAULTS.kb;
  var wanted = (data.lang || "auto").toLowerCase();
  var pageLang = (document.documentElement.lang || navigator.language || "en").toLowerCase();
  var lang = wanted === "zh" || wanted === "en" ? wanted : (pageLang.indexOf("zh") === 0 ? "zh" : "en");
  var t = DEFAULTS.text[lang];
  var color = data.color || DEFAULTS.color;
  var title = data.title || DEFAULTS.title || t.title;
  var side = (data.position || DEFAULTS.position) === "left" ? "left" : "right";
  var key = "kefu:" + base + ":" + kb;

  function load(name, fallback) {
    try { return JSON.parse(localStorage.getItem(key + ":" + name)) || fallback; }
    catch (e) { return fallback; }
  }
  function save(name, value) {
    try { localStorage.setItem(key + ":" + name, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  // Material Design icons (Apache-2.0), drawn as SVG: no emoji font needed.
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-5 4V6a2 2 0 0 1 1-2z",
    up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z",
    down: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z"
  };
  function icon(name, size) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size);
    svg.setAttribute("height", size);
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var host = el("kefu-widget", { id: "kefu-widget" });
  // the page's own CSS may style any element, even ours, with !important: take the host
  // element out of the layout (its shadow content is positioned on its own)
  host.style.setProperty("display", "contents", "important");
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif}",
    ".bubble{position:fixed;bottom:20px;" + side + ":20px;width:58px;height:58px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646;display:flex;align-items:center;justify-content:center}",
    ".panel{position:fixed;bottom:90px;" + side + ":20px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#222;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483647;font-size:14px;line-height:1.45}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:var(--c);color:#fff;font-weight:600;font-size:15px}",
    "header button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#fafafa}",
    ".msg{max-width:86%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:var(--c);color:#fff;border-bottom-right-radius:3px}",
    ".bot,.person{align-self:flex-start;background:#fff;border:1px solid #e3e3e3;border-bottom-left-radius:3px}",
    ".person{border-color:var(--c)}",
    ".author{display:block;font-size:12px;font-weight:600;color:var(--c)}",
    ".move{align-self:center;font-size:12px;color:#666;text-align:center}",
    ".stars{display:flex;gap:4px;margin-top:6px}",
    ".star{border:0;background:none;font-size:24px;line-height:1;cursor:pointer;color:#ccc;padding:0 2px}",
    ".star[aria-pressed=true]{color:#f5a623}",
    ".rating textarea{width:100%;height:48px;margin-top:6px;flex:none}",
    ".meta{margin-top:6px;font-size:12px;color:#666}",
    "details{margin-top:4px}summary{cursor:pointer}",
    ".snippet{margin:4px 0 0;padding:6px;background:#f3f3f3;border-radius:6px;font-size:12px}",
    ".row{display:flex;gap:6px;flex-wrap:wrap;margin-top:6px}",
    ".chip,.thumb{border:1px solid #ccc;background:#fff;border-radius:14px;padding:3px 10px;cursor:pointer;font-size:13px;color:#222;display:inline-flex;align-items:center}",
    ".thumb[aria-pressed=true]{background:var(--c);color:#fff;border-color:var(--c)}",
    ".offer{border-color:var(--c);color:var(--c);font-weight:600}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #eee;background:#fff}",
    "textarea{flex:1;resize:none;height:40px;padding:9px;border:1px solid #ccc;border-radius:8px;font-size:14px}",
    ".send{border:0;border-radius:8px;background:var(--c);color:#fff;padding:0 14px;cursor:pointer;font-size:14px}",
    ".human{border:0;border-top:1px solid #eee;background:#fff;padding:8px;cursor:pointer;color:#444;font-size:13px}",
    "button:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #1c7ed6;outline-offset:2px}",
    "@media (max-width:480px){.panel{bottom:0;" + side + ":0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("\n");
  root.appendChild(style);
  host.style.setProperty("--c", color);

  var bubble = el("button", { class: "bubble", "aria-label": t.open, "aria-expanded": "false" });
  bubble.appendChild(icon("chat", 28));
  var panel = el("section", { class: "panel", role: "dialog", "aria-label": title, hidden: "" });
  var header = el("header");
  var close = el("button", { "aria-label": t.close }, "×");
  header.appendChild(el("span", {}, title));
  header.appendChild(close);
  var log = el("div", { class: "log", role: "log", "aria-live": "polite" });
  var form = el("form");
  var input = el("textarea", { "aria-label": t.placeholder, placeholder: t.placeholder, maxlength: "4000" });
  var send = el("button", { class: "send", type: "submit" }, t.send);
  form.appendChild(input);
  form.appendChild(send);
  var human = el("button", { class: "human", type: "button" }, t.human);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  panel.appendChild(human);
  root.appendChild(bubble);
  root.appendChild(panel);

  var session = load("session", null);
  var history = load("log", []);
  var seen = load("seen:" + session, 0);  // the last event of /api/v1/chat/events shown
  var busy = false;
  var live = null;  // the event stream, open while a person is awaited or holds the chat
  var wanted = false;  // a person is involved: keep the stream open (again after an error)
  var metPerson = load("met:" + session, false);  // a person spoke: ask for a rating after

  function scroll() { log.scrollTop = log.scrollHeight; }

  function addMessage(role, text, author) {
    var node = el("div", { class: "msg " + role }, text);
    if (author) node.insertBefore(el("span", { class: "author" }, author), node.firstChild);
    log.appendChild(node);
    scroll();
    return node;
  }

  // A person of the shop's staff: their replies and the conversation's moves arrive as
  // server-sent events; the browser reconnects with Last-Event-ID, and an event already
  // shown (its id at most `seen`) is skipped, so nothing is lost or shown twice.
  function listen() {
    if (live) { wanted = true; human.hidden = true; return; }  // still open: keep it
    if (!session || !window.EventSource) return;
    wanted = true;
    save("listening", true);
    human.hidden = true;  // a person is called already
    live = new EventSource(base + "/api/v1/chat/events?session_id=" +
                           encodeURIComponent(session) + "&after=" + seen);
    live.addEventListener("error", function () {
      // the browser reconnects by itself after a dropped stream; a refused one (a limit,
      // the server away) stays closed, so open it again a little later
      if (live && live.readyState === EventSource.CLOSED) {
        live = null;
        setTimeout(function () { if (wanted) listen(); }, 5000);
      }
    });
    live.addEventListener("message", function (event) { shown(event, function (body) {
      if (body.author === "kefu") {  // kefu's own word: nobody came in time, a ticket
        addMessage("bot", body.text);
        remember("bot", body.text, { route: "handoff" });
        return;
      }
      metPerson = true;
      save("met:" + session, true);
      addMessage("person", body.text, body.author);
      remember("person", body.text, { author: body.author });
    }); });
    live.addEventListener("move", function (event) { shown(event, function (body) {
      var line = body.state === "person" ? t.joined : body.move === "release" ? t.left
        : body.state === "closed" ? t.closed : "";
      if (line) {
        line = line.replace("{name}", body.author || title);
        addMessage("move", line);
        remember("move", line);
      }
      if (body.state === "bot" || body.state === "closed") {
        wanted = false;
        human.hidden = false;
        setTimeout(function () { if (!wanted) stopListening(); }, 2000);  // and what kefu says
        if (metPerson) askRating();
        metPerson = false;
        save("met:" + session, false);
      }
    }); });
  }

  function shown(event, show) {
    var id = parseInt(event.lastEventId, 10);
    if (!(id > seen)) return;
    seen = id;
    save("seen:" + session, seen);
    show(JSON.parse(event.data));
  }

  // After a person let the conversation go: 1 to 5 stars and a comment for the whole of it.
  function askRating() {
    var node = addMessage("bot rating", t.rate);
    var stars = el("div", { class: "stars", role: "group", "aria-label": t.rate });
    var chosen = 0;
    for (var n = 1; n <= 5; n++) {
      (function (n) {
        var star = el("button", { class: "star", type: "button", "aria-pressed": "false",
                                  "aria-label": t.stars.replace("{n}", n), "data-stars": n }, "★");
        star.addEventListener("click", function () {
          chosen = n;
          Array.prototype.forEach.call(stars.childNodes, function (s, i) {
            s.setAttribute("aria-pressed", i < n ? "true" : "false");
          });
          submit.disabled = false;
        });
        stars.appendChild(star);
      })(n);
    }
    var comment = el("textarea", { "aria-label": t.rate_comment, placeholder: t.rate_comment, maxlength: "1000" });
    var submit = el("button", { class: "chip offer", type: "button", disabled: "" }, t.rate_send);
    submit.addEventListener("click", function () {
      post("/api/v1/rating", { session_id: session, stars: chosen, comment: comment.value.trim() })
        .then(function (response) {
          if (!response.ok) throw response;
          node.textContent = t.rated;
        }).catch(function (response) { node.textContent = problem(response); });
    });
    node.appendChild(stars);
    node.appendChild(comment);
    var row = el("div", { class: "row" });
    row.appendChild(submit);
    node.appendChild(row);
    scroll();
  }

  function stopListening() {
    wanted = false;
    if (live) live.close();
    live = null;
    save("listening", false);
    human.hidden = false;
  }

  function decorate(node, reply) {
    if (reply.sources && reply.sources.length && reply.route !== "suggest") {
      var meta = el("div", { class: "meta" });
      meta.appendChild(el("div", {}, t.sources));
      reply.sources.forEach(function (source) {
        var details = el("details");
        details.appendChild(el("summary", {}, (source.title || source.id) + (source.translated ? " (" + t.translated + ")" : "")));
        details.appendChild(el("div", { class: "snippet" }, source.snippet || source.file || ""));
        meta.appendChild(details);
      });
      node.appendChild(meta);
    }
    if (reply.suggestions && reply.suggestions.length) {
      var chips = el("div", { class: "row" });
      reply.suggestions.forEach(function (question) {
        var chip = el("button", { class: "chip", type: "button" }, question);
        chip.addEventListener("click", function () { ask(question); });
        chips.appendChild(chip);
      });
      node.appendChild(chips);
    }
    var row = el("div", { class: "row" });
    if (reply.handoff === "offer") {
      var offer = el("button", { class: "chip offer", type: "button" }, t.human);
      offer.addEventListener("click", handoff);
      row.appendChild(offer);
    }
    if (reply.message_id && reply.route !== "handoff") {
      [["up", t.up], ["down", t.down]].forEach(function (spec) {
        var thumb = el("button", { class: "thumb", type: "button", "aria-label": spec[1], "title": spec[1], "aria-pressed": reply.rating === spec[0] ? "true" : "false", "data-rating": spec[0] });
        thumb.appendChild(icon(spec[0], 15));
        thumb.addEventListener("click", function () { rate(reply, spec[0], row); });
        row.appendChild(thumb);
      });
    }
    if (row.childNodes.length) node.appendChild(row);
  }

  function remember(role, text, reply) {
    history.push({ role: role, text: text, reply: reply || null });
    history = history.slice(-60);
    save("log", history);
  }

  function rate(reply, rating, row) {
    reply.rating = rating;
    Array.prototype.forEach.call(row.querySelectorAll(".thumb"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-rating") === rating ? "true" : "false");
    });
    save("log", history);
    post("/api/v1/feedback", { session_id: session, message_id: reply.message_id, rating: rating });
  }

  function post(path, body) {
    return fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }

  function problem(response) {
    if (response && response.status === 429) {
      return t.slow.replace("{s}", response.headers.get("Retry-After") || "30");
    }
    return t.error;
  }

  function handoff() {
    if (!session) { addMessage("bot", t.error); return; }
    post("/api/v1/handoff", { session_id: session }).then(function (response) {
      if (!response.ok) throw response;
      return response.json();
    }).then(function (body) {
      addMessage("bot", body.answer);
      remember("bot", body.answer, { route: "handoff" });
      if (!body.ticket_id) listen();
    }).catch(function (response) { addMessage("bot", problem(response)); });
  }

  function ask(text) {
    text = (text || "").trim();
    if (!text || busy) return;
    busy = true;
    send.disabled = true;
    addMessage("user", text);
    remember("user", text);
    var node = addMessage("bot", "…");
    var answered = false;
    post("/api/v1/chat/stream", { message: text, session_id: session, kb: kb }).then(function (response) {
      if (!response.ok || !response.body) throw response;
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { if (!answered) throw new Error("the stream ended early"); return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (part) {
            var kind = (part.match(/^event: (.*)$/m) || [])[1];
            var line = (part.match(/^data: (.*)$/m) || [])[1];
            if (!kind || !line) return;
            var body = JSON.parse(line);
            if (kind === "session" && body.session_id !== session) {
              session = body.session_id;
              save("session", session);
              seen = load("seen:" + session, 0);
            }
            else if (kind === "queue") { node.textContent = t.queue.replace("{n}", body.position); }
            else if (kind === "error") { node.textContent = t.error; }
            else if (kind === "answer" && body.route === "agent") {
              answered = true;  // kefu is silent: the message went to a person
              log.removeChild(node);
              listen();
            }
            else if (kind === "answer") {
              answered = true;
              node.textContent = body.answer;
              decorate(node, body);
              remember("bot", body.answer, body);
              if (body.handoff === "accepted" && !body.ticket_id) listen();
              scroll();
            }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function (response) {
      node.textContent = problem(response);
    }).then(function () {
      busy = false;
      send.disabled = false;
    });
  }

  function open(show) {
    panel.hidden = !show;
    bubble.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) { input.focus(); scroll(); } else { bubble.focus(); }
  }

  bubble.addEventListener("click", function () { open(panel.hidden); });
  close.addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") open(false); });
  human.addEventListener("click", handoff);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    ask(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  addMessage("bot", data.greeting || t.greeting);
  history.forEach(function (item) {
    var node = addMessage(item.role, item.text, item.reply && item.reply.author);
    if (item.reply && item.role === "bot") decorate(node, item.reply);
  });
  if (load("listening", false)) listen();
  (document.body || document.documentElement).appendChild(host);
  window.__kefuWidget = { open: function () { open(true); } };
})();
