// Sources: what the twin has collected, and the ways to add, recrawl and remove writing.
// Every action streams the server's replies into the activity list, and the list is
// read again when the server says it is done.

import {api, stream} from "../api.js";
import {bytes, button, confirmDialog, h, notice, safeLink, when} from "../dom.js";
import {renderReply} from "../replies.js";

export function mount(el, ctx) {
  const list = h("div", {class: "items", testid: "sources"});
  const activity = h("div", {class: "activity", testid: "activity", "aria-live": "polite"});
  const earlier = h("div", {class: "earlier-entries"});
  const earlierBox = h("details", {class: "earlier", testid: "earlier-activity", hidden: true},
    h("summary", {}, "Earlier activity"), earlier);
  const status = h("div", {testid: "sources-status"});
  const url = h("input", {id: "source-url", testid: "source-url", type: "text", inputmode: "url", required: true,
    placeholder: "https://you.substack.com", "aria-label": "Link to add"});
  const file = h("input", {id: "source-file", testid: "source-file", type: "file",
    accept: ".zip,.md,.markdown,.txt,.html,.htm", "aria-label": "File or export .zip to upload"});
  const kind = h("select", {id: "source-kind", testid: "source-kind", "aria-label": "Which platform's export"},
    [["", "Platform: found from the file"], ["linkedin", "LinkedIn export"], ["x", "X (Twitter) archive"],
      ["medium", "Medium export"], ["substack", "Substack export"]].map(([value, label]) => h("option", {value}, label)));
  const addForm = h("form", {class: "stack", onsubmit: (event) => {
    event.preventDefault();
    const link = url.value.trim();
    if (!link) return;
    run(`Adding ${link}`, "POST", "/api/sources", {url: link}).then(() => { url.value = ""; });
  }}, h("label", {for: "source-url"}, "Add a link"),
  h("div", {class: "row"}, url, button("Add", {kind: "primary", type: "submit", testid: "add-source"})),
  h("p", {class: "hint"}, "A post, a blog, a profile or a feed: the whole site is collected where the platform allows."));
  const uploadForm = h("form", {class: "stack", onsubmit: (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      notice(status, "Choose a file first.", "error");
      return;
    }
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    if (kind.value) data.append("kind", kind.value);
    run(`Uploading ${chosen.name} (${bytes(chosen.size)})`, "POST", "/api/sources/upload", data)
      .then(() => { file.value = ""; });
  }}, h("label", {for: "source-file"}, "Upload a file or a platform export"),
  file, h("div", {class: "row"}, kind, button("Upload", {kind: "primary", type: "submit", testid: "upload"})),
  h("p", {class: "hint"}, "The .zip you download from LinkedIn, X or Medium as it is, or a single document."));

  el.append(h("h1", {}, "Sources"),
    h("div", {class: "grid2"}, h("div", {class: "card"}, addForm), h("div", {class: "card"}, uploadForm)),
    activity, earlierBox,
    h("div", {class: "row toolbar"}, h("h2", {}, "Your collected writing"),
      button("Recrawl all", {icon: "regenerate", testid: "recrawl-all",
        title: "Fetch what changed in every source", onclick: () => run("Recrawling every source", "POST",
          "/api/sources/recrawl", {})})),
    status, list);

  let busy = false;

  async function run(label, method, path, body) {
    if (busy) {
      notice(status, "One thing at a time: wait for the current one to finish.", "error");
      return;
    }
    busy = true;
    el.setAttribute("aria-busy", "true");
    const entry = h("div", {class: "msg say", testid: "activity-entry", dataset: {state: "running"}},
      h("p", {class: "row"}, h("span", {class: "spinner", "aria-hidden": "true"}), `${label}…`));
    if (activity.firstChild) {
      earlier.prepend(activity.firstChild);
      earlier.replaceChildren(...[...earlier.children].slice(0, 8));
      earlierBox.hidden = false;
    }
    activity.append(entry);
    try {
      await stream(method, path, body, (event) => {
        const text = event.type === "json" ? event.body.message || event.body.error || "" : event.text;
        if (text) entry.append(h("div", {class: event.type === "error" ? "error" : ""}, renderReply(text)));
      });
      entry.firstChild.replaceChildren(`${label}: done.`);
      entry.dataset.state = "done";
    } catch (exc) {
      entry.classList.add("error");
      entry.dataset.state = "failed";
      entry.firstChild.replaceChildren(`${label}: ${exc.message}`);
    } finally {
      busy = false;
      el.removeAttribute("aria-busy");
      await load();
      ctx.refreshStatus();
    }
  }

  async function remove(source) {
    const name = source.title || source.url;
    const sure = await confirmDialog(`Remove “${name}” and its ${source.documents} document` +
      `${source.documents === 1 ? "" : "s"} from your writing? Drafts already made stay in History.`);
    if (sure) await run(`Removing ${name}`, "DELETE", "/api/sources", {url: source.url});
  }

  async function load() {
    let sources;
    try {
      sources = await api("GET", "/api/sources");
    } catch (exc) {
      notice(status, `Could not read the sources: ${exc.message}`, "error");
      return;
    }
    notice(status, "");
    list.dataset.count = String(sources.length);
    list.replaceChildren(...sources.map((source) => row(source, {remove, recrawl: (s) => run(
      `Recrawling ${s.title || s.url}`, "POST", "/api/sources/recrawl", {url: s.url})})));
    if (!sources.length) {
      list.append(h("p", {class: "empty", testid: "no-sources"},
        "Nothing collected yet: add a link or upload an export above."));
    }
  }

  return {show: load};
}

const PLATFORMS = {x: "X", linkedin: "LinkedIn", medium: "Medium", substack: "Substack", github: "GitHub",
  mixed: "several platforms"};

function row(source, actions) {
  const title = source.title || source.url;
  const web = /^https?:/i.test(source.url);
  const ok = source.status === "ok";
  return h("div", {class: "item", testid: "source", dataset: {url: source.url}},
    h("div", {},
      h("div", {class: "title", testid: "source-title"}, web ? safeLink(source.url, title) : title),
      source.title && source.title !== source.url ? h("div", {class: "hint"}, source.url) : null,
      h("ul", {class: "facts"},
        h("li", {}, h("b", {}, PLATFORMS[source.platform] || source.platform || "web")),
        h("li", {testid: "source-owner"}, whose(source)),
        h("li", {testid: "source-documents"}, `${source.documents} document${source.documents === 1 ? "" : "s"}`),
        h("li", {}, `last crawl ${when(source.last_crawl_at)}`),
        h("li", {}, h("span", {class: `tag ${ok ? "ok" : "error"}`, testid: "source-status"}, source.status)))),
    h("div", {class: "side"},
      button("Recrawl", {icon: "regenerate", kind: "small", testid: "recrawl",
        title: `Fetch what changed in ${title}`, onclick: () => actions.recrawl(source)}),
      button("Remove", {kind: "small danger", testid: "remove", title: `Remove ${title} and its documents`,
        onclick: () => actions.remove(source)})),
    source.last_error ? h("p", {class: "error-line", testid: "source-error"}, `Last error: ${source.last_error}`) : null);
}

function whose(source) {
  if (source.owner === "owner") return "your writing";
  if (source.owner === "other") return "someone else's writing";
  if (source.owner === "mixed") return `partly yours (${source.owner_documents} of ${source.documents})`;
  return h("span", {}, "whose? ", h("a", {href: "#/settings"}, "set your names"));
}
