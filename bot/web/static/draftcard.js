// One draft as the owner reads it (Draft and History pages): the text rendered as
// Markdown, its character count (per post for a thread), the model that wrote it, its
// sources by role, labelled feedback buttons, Edit in place, and the saved versions.

import {api, stream} from "./api.js";
import {add, button, h, notice, safeLink, setLabel, when} from "./dom.js";
import {chars, threadPosts, xLength, X_MAX_CHARS} from "./count.js";
import {renderMarkdown} from "./markdown.js";
import {readable} from "./replies.js";

const FORMAT_NAMES = {linkedin: "LinkedIn post", thread: "X thread", article: "Article outline",
  answer: "Answer"};
const ROLES = [["material", "Sources"], ["voice", "Voice examples"]];
const FINISH_NOTES = {
  cancelled: "Stopped before the end (cancelled).",
  timeout: "Stopped: it took longer than model.timeout.",
  length: "Stopped at the length limit (drafting.max_new_tokens in Settings).",
};

export function formatName(format) {
  return FORMAT_NAMES[format] || format || "draft";
}

// draft: {id|draft_id, text|output, format, sources, notes, finish_reason, model, rating, edits}
// options: {onRegenerate(id), onChange(draft), linkedinMax}
export function draftCard(draft, options = {}) {
  const id = draft.draft_id ?? draft.id;
  const card = h("article", {class: "draft card", testid: "draft", dataset: {draftId: id,
    finish: draft.finish_reason || ""}});
  const body = h("div", {class: "draft-body", testid: "draft-body"});
  const count = h("p", {class: "count", testid: "char-count"});
  const status = h("div", {class: "feedback-status", testid: "feedback-status", "aria-live": "polite"});
  const edits = h("div", {class: "edits", testid: "edits"});
  let text = draft.text ?? draft.output ?? "";

  function showText() {
    body.replaceChildren(renderDraft(text, draft.format));
    count.textContent = countLine(text, draft.format, options.linkedinMax);
  }
  showText();

  const copy = button("Copy", {icon: "copy", title: "Copy the draft text", testid: "copy",
    onclick: () => copyText(text, copy)});
  const up = feedbackButton("Good", "up", "Rate this draft good");
  const down = feedbackButton("Bad", "down", "Rate this draft bad");
  const again = button("Regenerate", {icon: "regenerate", title: "Write another draft for the same prompt",
    testid: "feedback-regenerate", onclick: () => options.onRegenerate?.(id)});
  const edit = button("Edit", {icon: "edit", title: "Edit this draft and save your version",
    testid: "feedback-edit", onclick: () => openEditor()});
  const actions = h("div", {class: "actions", role: "group", "aria-label": "Draft actions"},
    copy, up, down, again, edit);
  markRating(draft.rating);

  add(card, body, count, notes(draft), sourceList(draft.sources || []),
    h("p", {class: "meta", testid: "draft-meta"}, meta(draft)), actions, status, edits);
  for (const saved of draft.edits || []) showEdit(saved);

  function feedbackButton(label, action, title) {
    const btn = button(label, {icon: action, title, testid: `feedback-${action}`,
      onclick: () => rate(action)});
    btn.setAttribute("aria-pressed", "false");
    return btn;
  }

  function markRating(rating) {
    up.setAttribute("aria-pressed", String(rating === 1));
    down.setAttribute("aria-pressed", String(rating === -1));
  }

  async function send(action, extra = {}) {
    const said = [];
    await stream("POST", "/api/feedback", {draft_id: id, action, ...extra}, (event) => {
      if (event.type === "say" || event.type === "error") said.push(readable(event.text));
      if (event.type === "json" && event.body?.error) said.push(event.body.error);
    });
    return said.join(" ");
  }

  async function rate(action) {
    notice(status, "Saving your rating…");
    try {
      const reply = await send(action);
      draft.rating = action === "up" ? 1 : -1;
      markRating(draft.rating);
      notice(status, reply || "Rating saved.", /not found|⚠|wrong/i.test(reply) ? "error" : "ok");
      options.onChange?.(draft);
    } catch (exc) {
      notice(status, `Could not save the rating: ${exc.message}`, "error");
    }
  }

  function openEditor() {
    if (card.querySelector(".editor")) return;
    const area = h("textarea", {class: "editor-text", testid: "edit-text", rows: 10,
      "aria-label": "Your version of the draft"});
    area.value = text;
    const save = button("Save my version", {kind: "primary", testid: "edit-save"});
    const cancel = button("Cancel", {testid: "edit-cancel"});
    const editor = h("div", {class: "editor", testid: "editor"}, area,
      h("div", {class: "actions"}, save, cancel));
    body.hidden = true;
    actions.hidden = true;
    body.after(editor);
    area.focus();
    cancel.onclick = () => {
      editor.remove();
      body.hidden = false;
      actions.hidden = false;
      notice(status, "");
    };
    save.onclick = async () => {
      const version = area.value.trim();
      if (!version) {
        notice(status, "Your version is empty: write it, or press Cancel.", "error");
        return;
      }
      save.disabled = true;
      notice(status, "Saving your version…");
      try {
        const reply = await send("edit", {text: version});
        const saved = {text: version, created_at: new Date().toISOString()};
        draft.edits = [...(draft.edits || []), saved];
        showEdit(saved);
        cancel.onclick();
        notice(status, reply || "Saved your version.", "ok");
        options.onChange?.(draft);
      } catch (exc) {
        save.disabled = false;
        notice(status, `Not saved: ${exc.message}`, "error");
      }
    };
  }

  function showEdit(saved) {
    edits.append(h("section", {class: "edit", testid: "saved-edit"},
      h("h4", {}, `Your version (saved ${when(saved.created_at)})`),
      h("div", {class: "draft-body"}, renderDraft(saved.text, draft.format)),
      h("p", {class: "count"}, countLine(saved.text, draft.format, options.linkedinMax))));
  }

  return card;
}

// The draft while it streams: the same rendering, no buttons yet.
export function liveDraft() {
  const body = h("div", {class: "draft-body", testid: "draft-body"});
  const card = h("article", {class: "draft card streaming", testid: "draft", "aria-busy": "true"}, body);
  card.update = (text) => body.replaceChildren(renderMarkdown(text));
  return card;
}

export function renderDraft(text, format) {
  if (format !== "thread") return renderMarkdown(text);
  const list = h("ol", {class: "thread", testid: "thread"});
  for (const post of threadPosts(text)) {
    const length = xLength(post);
    list.append(h("li", {class: "post", testid: "thread-post"},
      h("div", {}, renderMarkdown(post)),
      h("span", {class: length > X_MAX_CHARS ? "count over" : "count", testid: "post-count"},
        `${length}/${X_MAX_CHARS}`)));
  }
  return list;
}

function countLine(text, format, linkedinMax) {
  const n = chars(text);
  if (format === "thread") {
    const posts = threadPosts(text);
    return `${posts.length} post${posts.length === 1 ? "" : "s"}, ${n} characters in all`;
  }
  if (format === "linkedin" || format === undefined) {
    const limit = linkedinMax || 3000;
    return `${n} characters (LinkedIn allows ${limit === 3000 ? "3,000" : `${limit} here`})`;
  }
  return `${n} characters`;
}

function notes(draft) {
  const lines = [];
  if (FINISH_NOTES[draft.finish_reason]) lines.push(FINISH_NOTES[draft.finish_reason]);
  for (const note of draft.notes || []) lines.push(note);
  if (!lines.length) return null;
  return h("ul", {class: "notes", testid: "draft-notes"}, lines.map((line) => h("li", {}, line)));
}

function sourceList(sources) {
  const box = h("div", {class: "sources", testid: "draft-sources"});
  for (const [role, heading] of ROLES) {
    const mine = sources.filter((s) => (s.role || "material") === role);
    if (!mine.length) continue;
    box.append(h("h4", {}, heading), h("ul", {testid: `sources-${role}`},
      mine.map((s) => h("li", {}, safeLink(s.url, s.title || s.url), " ",
        h("span", {class: "muted"}, shortUrl(s.url))))));
  }
  return box.childElementCount ? box : null;
}

function shortUrl(url) {
  return String(url).replace(/^https?:\/\//, "").replace(/^file:\/\//, "").slice(0, 80);
}

function meta(draft) {
  const parts = [formatName(draft.format)];
  if (draft.model) parts.push(`written by ${draft.model}`);
  else if (draft.model_id) parts.push(`written by ${draft.model_id}`);
  if (draft.created_at) parts.push(when(draft.created_at));
  return parts.join(" · ");
}

async function copyText(text, btn) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    // No clipboard permission (an http page that is not localhost): copy through a selection.
    const area = h("textarea", {class: "offscreen", "aria-hidden": "true"});
    area.value = text;
    document.body.append(area);
    area.select();
    done = document.execCommand("copy");
    area.remove();
  }
  setLabel(btn, done ? "Copied" : "Copy failed: select the text");
  btn.dataset.copied = String(done);
  setTimeout(() => setLabel(btn, "Copy"), 2500);
}

export async function loadDraft(id) {
  return api("GET", `/api/drafts/${encodeURIComponent(id)}`);
}
