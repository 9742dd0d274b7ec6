// History: every draft from the database (GET /api/drafts), paged and filtered, with the
// filters in the address (#/history?format=thread&page=2) so a reload keeps them; one
// draft opens whole at #/history/<id>, to copy, rate, edit or regenerate.

import {api} from "../api.js";
import {button, h, notice, when} from "../dom.js";
import {draftCard, formatName} from "../draftcard.js";

const PAGE_SIZE = 20;
const RATINGS = [["", "Any rating"], ["up", "Rated good"], ["down", "Rated bad"], ["none", "Not rated"]];
const FORMATS = [["", "Any format"], ["linkedin", "LinkedIn post"], ["thread", "X thread"],
  ["article", "Article outline"], ["answer", "Answer"]];

export function mount(el, ctx) {
  const format = h("select", {id: "history-format", testid: "history-format"},
    FORMATS.map(([value, label]) => h("option", {value}, label)));
  const rating = h("select", {id: "history-rating", testid: "history-rating"},
    RATINGS.map(([value, label]) => h("option", {value}, label)));
  const query = h("input", {id: "history-q", testid: "history-q", type: "search", placeholder: "Words in the prompt or draft"});
  const filters = h("form", {class: "toolbar", role: "search", onsubmit: (event) => {
    event.preventDefault();
    go(1);
  }},
  field("Format", format), field("Rating", rating), field("Text", query),
  button("Filter", {kind: "primary", type: "submit", testid: "history-filter"}));
  format.addEventListener("change", () => go(1));
  rating.addEventListener("change", () => go(1));
  const status = h("div", {testid: "history-status"});
  const list = h("div", {class: "items", testid: "history-list"});
  const pager = h("div", {class: "pager", testid: "pager"});
  const listView = h("div", {}, h("h1", {}, "History"), filters, status, list, pager);
  const detail = h("div", {testid: "history-detail"});
  el.append(listView, detail);

  function go(page) {
    const params = new URLSearchParams();
    if (format.value) params.set("format", format.value);
    if (rating.value) params.set("rating", rating.value);
    if (query.value.trim()) params.set("q", query.value.trim());
    if (page > 1) params.set("page", String(page));
    ctx.navigate(`#/history${params.size ? `?${params}` : ""}`);
  }

  async function showList(params) {
    detail.hidden = true;
    listView.hidden = false;
    format.value = params.get("format") || "";
    rating.value = params.get("rating") || "";
    query.value = params.get("q") || "";
    const page = Math.max(1, Number(params.get("page")) || 1);
    const ask = new URLSearchParams({offset: String((page - 1) * PAGE_SIZE), limit: String(PAGE_SIZE)});
    for (const key of ["format", "rating", "q"]) if (params.get(key)) ask.set(key, params.get(key));
    let answer;
    try {
      answer = await api("GET", `/api/drafts?${ask}`);
    } catch (exc) {
      notice(status, `Could not read the drafts: ${exc.message}`, "error");
      return;
    }
    notice(status, "");
    list.replaceChildren(...answer.items.map(row));
    if (!answer.items.length) {
      list.append(h("p", {class: "empty", testid: "no-drafts"}, params.size
        ? "No draft matches these filters." : "No drafts yet: ask for one on the Draft page."));
    }
    const first = answer.total ? (page - 1) * PAGE_SIZE + 1 : 0;
    const last = Math.min(answer.total, page * PAGE_SIZE);
    pager.replaceChildren(
      button("Newer", {testid: "page-prev", onclick: () => go(page - 1)}),
      h("span", {testid: "page-info"}, `${first}–${last} of ${answer.total}`),
      button("Older", {testid: "page-next", onclick: () => go(page + 1)}));
    pager.firstChild.disabled = page <= 1;
    pager.lastChild.disabled = last >= answer.total;
  }

  async function showDetail(id) {
    listView.hidden = true;
    detail.hidden = false;
    detail.replaceChildren(h("p", {class: "muted"}, "Loading…"));
    let item;
    try {
      item = await api("GET", `/api/drafts/${encodeURIComponent(id)}`);
    } catch (exc) {
      detail.replaceChildren(back(), h("p", {class: "notice error", testid: "detail-error"}, exc.message));
      return;
    }
    detail.replaceChildren(back(),
      h("h1", {testid: "detail-prompt"}, item.prompt || "(no prompt)"),
      h("p", {class: "muted"}, `${formatName(item.format)} · ${when(item.created_at)}`),
      draftCard(item, {onRegenerate: async (draftId) => {
        ctx.navigate("#/draft");
        (await ctx.draftPage()).regenerate(draftId);
      }}));
  }

  function back() {
    return h("p", {}, h("a", {href: "#/history", testid: "back"}, "Back to all drafts"));
  }

  return {
    show({rest, params}) {
      if (rest[0]) showDetail(rest[0]);
      else showList(params);
    },
  };
}

function field(label, input) {
  return h("div", {class: "field"}, h("label", {for: input.id}, label), input);
}

function ratingWords(rating) {
  if (rating === 1) return "rated good";
  if (rating === -1) return "rated bad";
  return "not rated";
}

function row(item) {
  const edits = (item.edits || []).length;
  return h("a", {class: "item", href: `#/history/${encodeURIComponent(item.id)}`, testid: "history-item",
    dataset: {draftId: item.id}},
  h("div", {},
    h("div", {class: "title"}, truncate(item.prompt || "(no prompt)", 140)),
    h("ul", {class: "facts"},
      h("li", {}, h("b", {}, formatName(item.format))),
      h("li", {}, item.model || item.model_id || ""),
      h("li", {testid: "history-rating-word"}, ratingWords(item.rating)),
      edits ? h("li", {}, `${edits} edit${edits === 1 ? "" : "s"}`) : null,
      FINISHED[item.finish_reason] ? h("li", {}, FINISHED[item.finish_reason]) : null)),
  h("div", {class: "side muted"}, when(item.created_at)),
  h("p", {class: "excerpt"}, truncate(plain(item.output || ""), 220)));
}

const FINISHED = {length: "cut at the length limit", cancelled: "stopped", timeout: "timed out"};

// An excerpt reads as text: Markdown's marks left out.
function plain(text) {
  return String(text).replace(/[*_`#>]+/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
}

function truncate(text, n) {
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
}
