// Builds elements through DOM APIs only: text goes in via textContent, never as HTML, so
// nothing that comes from the web or from the model can become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

// h("button", {class: "x", onclick: fn, "aria-label": "…", dataset: {testid: "y"}}, "text", child)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked" || key === "disabled" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

// el.append / el.replaceChildren without the DOM's habit of writing null as "null".
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A link, only for http(s) targets; anything else (javascript:, data:, …) is plain text.
export function safeLink(url, text, attrs = {}) {
  const href = httpUrl(url);
  if (!href) return h("span", {class: "link-refused"}, text ?? String(url));
  return h("a", {href, target: "_blank", rel: "noopener noreferrer", ...attrs}, text ?? href);
}

export function httpUrl(url) {
  try {
    const parsed = new URL(String(url), location.href);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
  } catch {
    // not a URL at all
  }
  return null;
}

// A few line icons drawn as SVG paths: Chromium here has no emoji font, and an icon is
// always next to a text label anyway.
const ICONS = {
  up: "M7 10v10H3V10zM7 10l4-7c1.5 0 2.5 1 2.2 2.6L12.5 9H19a2 2 0 0 1 2 2.3l-1.3 7A2 2 0 0 1 17.7 20H7",
  down: "M17 14V4h4v10zM17 14l-4 7c-1.5 0-2.5-1-2.2-2.6l.7-3.4H5a2 2 0 0 1-2-2.3l1.3-7A2 2 0 0 1 6.3 4H17",
  regenerate: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
  edit: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  stop: "M6 6h12v12H6z",
  send: "M4 12l16-8-6 16-2-7z",
  menu: "M4 6h16M4 12h16M4 18h16",
  warn: "M12 3l10 18H2zM12 10v5M12 18v.5",
};

export function icon(name) {
  return svg("svg", {class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false"},
    svg("path", {d: ICONS[name]}));
}

// A button with an icon and a visible label; the accessible name says what it does.
export function button(label, {icon: iconName, title, testid, onclick, kind, type} = {}) {
  return h("button", {
    type: type ?? "button", class: kind ? `btn ${kind}` : "btn", title: title ?? label,
    "aria-label": title ?? label, testid, onclick,
  }, iconName ? icon(iconName) : null, h("span", {class: "label"}, label));
}

export function setLabel(btn, label) {
  btn.querySelector(".label").textContent = label;
}

export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  let s = Math.max(0, Math.round(Number(seconds)));
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min ${s} s`;
  return `${s} s`;
}

export function bytes(n) {
  if (!Number.isFinite(Number(n))) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(n), unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

// A one-line message in a status area: kind is "ok", "error" or "info".
export function notice(target, text, kind = "info") {
  target.replaceChildren();
  if (!text) return;
  target.append(h("p", {class: `notice ${kind}`, role: kind === "error" ? "alert" : "status"}, withCode(text)));
}

// The server's one-line messages quote commands and keys in `backticks`: show them as code.
export function withCode(text) {
  return String(text).split(/`([^`\n]+)`/).map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

// An in-page confirmation (a modal <dialog>); resolves true only on the confirm button.
export function confirmDialog(question, confirmLabel = "Remove") {
  return new Promise((resolve) => {
    const dialog = h("dialog", {class: "confirm", testid: "confirm"},
      h("p", {}, question),
      h("div", {class: "actions"},
        button("Cancel", {testid: "confirm-cancel", onclick: () => dialog.close("cancel")}),
        button(confirmLabel, {kind: "danger", testid: "confirm-ok", onclick: () => dialog.close("ok")})));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
