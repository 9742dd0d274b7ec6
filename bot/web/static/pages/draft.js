// Draft: the composer and the conversation. Everything typed goes to the server's one
// command parser as typed (POST /api/message), with the picked format and links, which
// apply only when the parser reads it as a draft prompt. One request runs
// at a time; what is sent meanwhile waits in a visible queue.

import {api, stream} from "../api.js";
import {button, h, icon, notice} from "../dom.js";
import {draftCard, liveDraft} from "../draftcard.js";
import {renderReply} from "../replies.js";

const SAVED = "twin-conversation";
const KEEP = 40;
const FORMATS = [["linkedin", "LinkedIn post"], ["thread", "X thread"],
  ["article", "Article outline"], ["answer", "Answer"]];

export function mount(el, ctx) {
  const guide = h("div", {class: "guide", testid: "guide"});
  const log = h("div", {class: "log", testid: "log", "aria-live": "polite"});
  const format = h("select", {id: "format", testid: "format", "aria-label": "Format for prompts"},
    FORMATS.map(([value, label]) => h("option", {value}, label)));
  format.value = localStorage.getItem("twin-format") || "linkedin";
  format.addEventListener("change", () => localStorage.setItem("twin-format", format.value));
  const prompt = h("textarea", {id: "prompt", testid: "prompt", rows: 3,
    "aria-label": "Prompt or command",
    placeholder: "Ask for a draft, paste a link to add it, or type a command (help)"});
  const links = h("input", {id: "links", testid: "links", "aria-label": "Links for this draft",
    placeholder: "https://… (optional: links the draft should draw on)"});
  const send = button("Send", {icon: "send", kind: "primary", type: "submit", testid: "send",
    title: "Send (Enter)"});
  const stop = button("Stop", {icon: "stop", testid: "cancel", title: "Stop the draft in progress",
    onclick: () => cancel()});
  const said = h("div", {class: "composer-status", testid: "composer-status", "aria-live": "polite"});
  const form = h("form", {class: "composer card", testid: "composer", onsubmit: (event) => {
    event.preventDefault();
    submit();
  }},
  prompt,
  h("div", {class: "row composer-bar"},
    h("label", {for: "format", class: "visually-hidden"}, "Format for prompts"), format,
    h("details", {class: "links"}, h("summary", {}, "Links"), links),
    h("span", {class: "hint"}, "The format applies to prompts; commands and links go as typed."),
    h("span", {class: "spacer"}), stop, send),
  said);
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const clear = button("Clear conversation", {kind: "small", testid: "clear",
    title: "Clear this conversation (the drafts stay in History)", onclick: () => clearLog()});
  el.append(h("div", {class: "row page-head"}, h("h1", {class: "visually-hidden"}, "Draft"),
    h("span", {class: "spacer"}), clear), guide, log, form);

  let entries = [];
  let running = null;
  const queue = [];

  try {
    entries = JSON.parse(sessionStorage.getItem(SAVED) || "[]");
  } catch {
    entries = [];
  }
  for (const entry of entries) log.append(render(entry));

  function remember(entry, job) {
    // A job's replies follow its own message, whatever was sent after it meanwhile.
    const at = job ? entries.indexOf(job.entry) : -1;
    if (at >= 0) entries.splice(at + 1, 0, entry);
    else entries.push(entry);
    if (job) job.entry = entry;
    save();
    return entry;
  }

  function place(job, node) {
    job.anchor.after(node);
    job.anchor = node;
    node.scrollIntoView({block: "nearest"});
    return node;
  }

  function save() {
    entries = entries.slice(-KEEP);
    try {
      sessionStorage.setItem(SAVED, JSON.stringify(entries));
    } catch {
      // storage full: the conversation is only kept in this page
    }
  }

  function render(entry) {
    if (entry.kind === "me") return h("div", {class: "msg me", testid: "me"}, entry.text);
    if (entry.kind === "say") {
      return h("div", {class: `msg say ${entry.error ? "error" : ""}`, testid: "say"}, renderReply(entry.text));
    }
    return draftCard(entry.draft, {onRegenerate: regenerate, onChange: save, linkedinMax: linkedinMax()});
  }

  function show(node) {
    log.append(node);
    node.scrollIntoView({block: "nearest"});
    return node;
  }

  function linkedinMax() {
    return ctx.status?.drafting?.linkedin_max_chars;
  }

  function clearLog() {
    entries = [];
    save();
    log.replaceChildren();
  }

  function submit() {
    const text = prompt.value.trim();
    const extra = links.value.trim().split(/\s+/).filter(Boolean);
    if (!text) {
      notice(said, "Type a prompt or a command first.", "error");
      return;
    }
    prompt.value = "";
    links.value = "";
    notice(said, "");
    // As typed: the server's parser tells a prompt (which takes the picked format and the
    // links) from a command or a dropped link.
    const job = {path: "/api/message", body: {text, format: format.value, links: extra}};
    job.entry = remember({kind: "me", text: extra.length ? `${text}\n${extra.join("\n")}` : text});
    job.bubble = job.anchor = show(render(job.entry));
    enqueue(job);
  }

  function regenerate(draftId) {
    const job = {path: "/api/feedback", body: {draft_id: draftId, action: "regenerate"}};
    job.entry = remember({kind: "me", text: "Regenerate that draft"});
    job.bubble = job.anchor = show(render(job.entry));
    enqueue(job);
  }

  function enqueue(job) {
    if (!running) {
      run(job);
      return;
    }
    queue.push(job);
    const tag = h("p", {class: "queued", testid: "queued"},
      "Queued: it starts when the current one ends. ",
      button("Remove from queue", {testid: "unqueue", onclick: () => {
        queue.splice(queue.indexOf(job), 1);
        tag.replaceChildren("Removed from the queue; not sent.");
      }}));
    job.bubble.append(tag);
    job.tag = tag;
    notice(said, `${queue.length} waiting in the queue.`);
  }

  async function run(job) {
    running = job;
    job.tag?.remove();
    form.setAttribute("aria-busy", "true");
    const started = Date.now();
    const working = h("div", {class: "msg working", testid: "working", role: "status"},
      h("span", {class: "spinner", "aria-hidden": "true"}), h("span", {}, "Working…"));
    job.anchor.after(working);
    working.scrollIntoView({block: "nearest"});
    const tick = setInterval(() => {
      working.lastChild.textContent = `Working… ${Math.round((Date.now() - started) / 1000)} s`;
    }, 1000);
    const settle = () => {
      clearInterval(tick);
      working.remove();
    };
    let live = null;
    try {
      await stream("POST", job.path, job.body, (event) => {
        settle();
        if (event.type === "update") {
          live ??= place(job, liveDraft());
          live.update(event.text);
        } else if (event.type === "final") {
          const card = render(remember({kind: "draft", draft: event}, job));
          if (live) {
            live.replaceWith(card);
            if (job.anchor === live) job.anchor = card;
          } else {
            place(job, card);
          }
          live = null;
        } else {
          const text = event.type === "json"
            ? event.body.error || event.body.message || JSON.stringify(event.body) : event.text;
          place(job, render(remember({kind: "say", text, error: event.type === "error"}, job)));
        }
      });
    } catch (exc) {
      place(job, render(remember({kind: "say", text: exc.message, error: true}, job)));
    } finally {
      settle();
      live?.remove();
      running = null;
      form.removeAttribute("aria-busy");
      ctx.refreshStatus();
      const next = queue.shift();
      if (queue.length) notice(said, `${queue.length} waiting in the queue.`);
      if (next) run(next);
    }
  }

  async function cancel() {
    try {
      const {cancelled} = await api("POST", "/api/cancel", {});
      notice(said, cancelled ? "Stopping the draft…" : "Nothing to stop: no draft is running.",
        cancelled ? "info" : "ok");
    } catch (exc) {
      notice(said, `Could not stop: ${exc.message}`, "error");
    }
  }

  ctx.onStatus((status) => {
    showGuide(guide, status);
    // Until the owner picks one here, the picker shows the default format from Settings.
    const preset = status.drafting?.format;
    if (!localStorage.getItem("twin-format") && preset && !running) format.value = preset;
  });

  return {
    show() {
      prompt.focus({preventScroll: true});
    },
    regenerate,
  };
}

function showGuide(guide, status) {
  guide.replaceChildren();
  if (status.error) {
    guide.append(h("p", {class: "notice error", testid: "status-error"}, status.error));
    return;
  }
  if (status.model?.demo) {
    guide.append(h("div", {class: "notice warn", testid: "demo-notice"}, icon("warn"),
      h("p", {}, h("strong", {}, `${status.model.name} is a demo model. `),
        "It is bundled so that everything works out of the box, but it writes like a 135M model. ",
        h("a", {href: "#/settings"}, "Choose a real model in Settings"), ".")));
  }
  if (status.first_run) {
    guide.append(h("div", {class: "notice info", testid: "first-run"},
      h("p", {}, h("strong", {}, "First, give your twin your writing. "),
        "Drafts are written from it. Go to ", h("a", {href: "#/sources"}, "Sources"),
        " and add a link to your blog or profile, or upload your LinkedIn, X or Medium export (.zip). ",
        "Then set your name and the names you write under in ", h("a", {href: "#/settings"}, "Settings"), ".")));
  }
}
