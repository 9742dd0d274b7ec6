// The web app: a navigation bar, hash routes (#/draft, #/history/<id>, …), one page
// module each (static/pages/*.js), mounted once and kept (a draft keeps streaming while
// the owner looks at History), the sign-in panel, and the status every page reads.

import {api, onUnauthorized, takeTokenFromHash, token} from "./api.js";
import {fill, h, withCode} from "./dom.js";

const PAGES = [
  ["draft", "Draft"], ["history", "History"], ["sources", "Sources"],
  ["training", "Training & models"], ["schedules", "Schedules"], ["settings", "Settings"],
];

const mounted = new Map();
let routing = 0;
const statusListeners = new Set();
const ctx = {
  status: null,
  onStatus(fn) {
    statusListeners.add(fn);
    if (ctx.status) fn(ctx.status);
  },
  refreshStatus,
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  // The Draft page's conversation (History's Regenerate runs there).
  async draftPage() {
    return (await pageFor("draft")).controller;
  },
};

function parseRoute() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const page = PAGES.some(([key]) => key === name) ? name : "draft";
  return {page, rest: rest.map(decodeURIComponent), params: new URLSearchParams(query)};
}

// One mount per page, even when two callers ask at once (a route and History's Regenerate).
function pageFor(name) {
  if (!mounted.has(name)) {
    const el = h("section", {class: "page", id: `page-${name}`, testid: `page-${name}`, hidden: true});
    document.getElementById("pages").append(el);
    mounted.set(name, import(`./pages/${name}.js`).then((module) => ({el, controller: module.mount(el, ctx)})));
  }
  return mounted.get(name);
}

async function route() {
  if (takeTokenFromHash()) {
    signedIn();
    return;
  }
  if (!token()) {
    showLogin();
    return;
  }
  const {page, rest, params} = parseRoute();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  closeNav();
  const turn = ++routing;
  const entry = await pageFor(page);
  if (turn !== routing) return; // the address changed while this page loaded
  for (const section of document.querySelectorAll("#pages > .page")) section.hidden = section !== entry.el;
  document.title = `${PAGES.find(([key]) => key === page)[1]} · LLM Twin`;
  entry.controller.show?.({rest, params});
}

function signedIn() {
  document.body.classList.remove("signed-out");
  document.getElementById("login").hidden = true;
  document.getElementById("pages").hidden = false;
  refreshStatus();
  route();
}

function showLogin(message) {
  const panel = document.getElementById("login");
  const field = h("input", {id: "token-input", testid: "token-input", autocomplete: "off",
    placeholder: "http://127.0.0.1:8765/#token=…"});
  const form = h("form", {class: "token-form", onsubmit: (event) => {
    event.preventDefault();
    const value = field.value.trim();
    const given = /token=([^&\s]+)/.exec(value);
    if (!value) return;
    const here = location.hash.replace(/^#/, "").split("?")[0];
    location.hash = `${here.startsWith("/") ? `${here}?` : ""}token=${given ? given[1] : value}`;
  }}, h("label", {for: "token-input"}, "Paste the link (or just the token):"), field,
  h("button", {class: "btn primary", type: "submit"}, "Sign in"));
  fill(panel,
    h("h1", {}, token() ? "This page's sign-in no longer works" : "Sign in to your twin"),
    message ? h("p", {class: "notice error", testid: "login-reason"}, withCode(message)) : null,
    h("p", {}, "Open the link that ", h("code", {}, "llm-twin serve"),
      " printed when it started (it ends in ", h("code", {}, "#token=…"), "). It stays the same ",
      "across restarts, so a bookmark keeps working."),
    h("p", {}, "Lost it? ", h("code", {}, "llm-twin web-token"), " prints it again; ",
      h("code", {}, "llm-twin web-token --rotate"), " makes a new one (open tabs then need the new link)."),
    form);
  panel.hidden = false;
  document.body.classList.add("signed-out");
  document.getElementById("pages").hidden = true;
  document.getElementById("active-model").textContent = "";
}

async function refreshStatus() {
  try {
    ctx.status = await api("GET", "/api/status");
  } catch (exc) {
    if (exc.status === 401) return;
    ctx.status = {error: exc.message};
  }
  const badge = document.getElementById("active-model");
  const model = ctx.status.model;
  badge.replaceChildren();
  if (model) {
    badge.title = model.path || "";
    badge.append(h("span", {class: "muted"}, "Model: "),
      model.demo ? h("a", {class: "tag warn", href: "#/settings", testid: "demo-tag"}, "demo") : "",
      " ", h("strong", {}, model.name || "unknown"));
  }
  for (const fn of statusListeners) fn(ctx.status);
}

function closeNav() {
  document.getElementById("nav").classList.remove("open");
  document.getElementById("nav-toggle").setAttribute("aria-expanded", "false");
}

function start() {
  const nav = document.getElementById("nav");
  nav.append(...PAGES.map(([key, label]) => h("a", {href: `#/${key}`, testid: `nav-${key}`,
    dataset: {page: key}}, label)));
  const toggle = document.getElementById("nav-toggle");
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  onUnauthorized((message) => showLogin(message));
  window.addEventListener("hashchange", route);
  if (takeTokenFromHash() || token()) signedIn();
  else showLogin();
  setInterval(() => {
    if (token() && document.visibilityState === "visible") refreshStatus();
  }, 30000);
}

start();
