// Settings: the owner, the model and the drafting knobs, saved to the settings file in
// TWIN_HOME through PUT /api/settings. The server validates with the config loader's own
// rules; an error is shown next to its field and nothing is saved. Only changed values
// are sent. Also the owner's style profile (GET /api/style), when there is one.

import {api} from "../api.js";
import {button, h, notice} from "../dom.js";

const BACKENDS = ["llamacpp", "hf", "exl2", "openai"];
const FORMATS = [["linkedin", "LinkedIn post"], ["thread", "X thread"], ["article", "Article outline"],
  ["answer", "Answer"]];
const FORMAT_WORDS = Object.fromEntries(FORMATS);
const FROM = {"default": "default", "config.toml": "from config.toml", "settings file": "saved here",
  environment: "set by an environment variable, which wins over this page",
  "command line": "set on the command line, which wins over this page"};
const LOCKED = new Set(["environment", "command line"]);

// [key, label, kind, help]
const GROUPS = [
  ["You", [
    ["owner.name", "Your name", "text", "How drafts and prompts refer to you."],
    ["owner.names", "Names you write under", "list", "One per line: author names, handles. Writing under these is yours; the dataset needs at least one."],
    ["owner.bio", "About you", "textarea", "A few lines the model reads before every draft."],
    ["owner.voice_notes", "Voice notes", "list", "One per line, e.g. \"short sentences\", \"no hashtags\"."],
  ]],
  ["Model", [
    ["model.backend", "Backend", "backend", "llamacpp runs GGUF files on the CPU; hf runs transformers; exl2 needs a GPU; openai talks to a server."],
    ["model.path", "Model file or folder", "path", "Pick one found on this machine, or type a path or hub id."],
    ["model.gguf_file", "GGUF file in that folder", "text", "Only when the path is a folder or hub id holding several GGUF files."],
    ["model.url", "Server URL (openai backend)", "text", "e.g. http://127.0.0.1:8000/v1"],
    ["model.name", "Model name (openai backend)", "text", ""],
  ]],
  ["Drafting", [
    ["drafting.format", "Default format", "format", ""],
    ["drafting.max_new_tokens", "Draft length (tokens)", "int", "The most tokens a draft may have."],
    ["drafting.temperature", "Temperature", "float", "0 is the most predictable; higher is more varied."],
    ["drafting.top_p", "Top-p", "float", "Sample from the likeliest words that make up this share."],
    ["drafting.k", "Passages retrieved", "int", "How many pieces of your writing each draft reads."],
    ["drafting.voice_examples", "Voice examples", "int", "How many of your own posts are shown as examples of your voice."],
    ["drafting.linkedin_max_chars", "LinkedIn length (characters)", "int", "At most 3,000."],
    ["drafting.ingest_links", "Add links in prompts to your writing", "bool", "A link you draft from is also collected."],
  ]],
];

export function mount(el, ctx) {
  const form = h("form", {novalidate: true, testid: "settings-form", onsubmit: (event) => {
    event.preventDefault();
    save();
  }});
  const status = h("div", {testid: "settings-status", "aria-live": "polite"});
  const styleBox = h("section", {class: "card style-profile", testid: "style-profile"});
  const models = h("datalist", {id: "models-list"});
  el.append(h("h1", {}, "Settings"), form, styleBox, models);

  const inputs = new Map();
  let loaded = {};

  let choices = {};

  function build(values, sources, available) {
    inputs.clear();
    form.replaceChildren();
    for (const [legend, fields] of GROUPS) {
      const set = h("fieldset", {}, h("legend", {}, legend));
      const grid = h("div", {class: "fields2"});
      for (const [key, label, kind, help] of fields) {
        if (!(key in values)) continue;
        grid.append(fieldFor(key, label, kind, help, values[key], sources[key], available));
      }
      set.append(grid);
      form.append(set);
    }
    form.append(h("div", {class: "save-bar"},
      button("Save settings", {kind: "primary", type: "submit", testid: "save-settings"}),
      button("Undo changes", {testid: "reset-settings", onclick: () => load()}), status));
  }

  function fieldFor(key, label, kind, help, value, source, available) {
    const id = `set-${key.replace(/\./g, "-")}`;
    let input;
    if (kind === "textarea" || kind === "list") {
      input = h("textarea", {rows: kind === "list" ? 3 : 4});
      input.value = kind === "list" ? (value || []).join("\n") : value ?? "";
    } else if (kind === "backend" || kind === "format") {
      const offered = kind === "backend"
        ? (choices[key] || BACKENDS).map((b) => [b, b || "automatic (from the model file)"])
        : (choices[key] || FORMATS.map(([v]) => v)).map((v) => [v, FORMAT_WORDS[v] || v]);
      if (value && !offered.some(([v]) => v === value)) offered.push([value, value]);
      input = h("select", {}, offered.map(([v, text]) => h("option", {value: v}, text)));
      input.value = value ?? "";
    } else if (kind === "bool") {
      input = h("input", {type: "checkbox", checked: Boolean(value)});
    } else {
      input = h("input", {type: "text", inputmode: kind === "int" ? "numeric" : kind === "float" ? "decimal" : undefined,
        list: kind === "path" ? "models-list" : undefined,
        placeholder: kind === "path" ? "empty: the bundled demo model" : undefined});
      input.value = value ?? "";
    }
    Object.assign(input, {id, name: key});
    input.dataset.testid = `setting-${key}`;
    const error = h("p", {class: "field-error", id: `${id}-error`, testid: `error-${key}`, hidden: true});
    input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
    const locked = LOCKED.has(source);
    if (locked) input.disabled = true;
    inputs.set(key, {input, kind, error});
    const picker = kind === "path" && available.length ? modelPicker(available, input) : null;
    return h("div", {class: kind === "bool" ? "field check" : "field"},
      h("label", {for: id}, label, " ", h("span", {class: "from", testid: `from-${key}`}, `(${FROM[source] || source || "default"})`)),
      input, picker,
      h("p", {class: "hint", id: `${id}-help`}, help), error);
  }

  function modelPicker(available, input) {
    const select = h("select", {"aria-label": "Models on this machine", testid: "model-picker"},
      h("option", {value: ""}, "Models on this machine…"),
      available.map((m) => h("option", {value: m.path}, `${m.name} (${m.kind}${m.configured ? ", in use" : ""})`)));
    select.addEventListener("change", () => {
      const chosen = available.find((m) => m.path === select.value);
      if (!chosen) return;
      input.value = chosen.setting ?? chosen.path;
      const backend = inputs.get("model.backend")?.input;
      if (backend && !backend.disabled) {
        if (chosen.kind === "hf" && backend.value === "llamacpp") backend.value = "hf";
        if (chosen.kind === "gguf" && !["llamacpp", "hf"].includes(backend.value)) backend.value = "llamacpp";
      }
    });
    return select;
  }

  function read(key) {
    const {input, kind} = inputs.get(key);
    if (kind === "bool") return input.checked;
    const raw = input.value;
    if (kind === "list") return raw.split(/\n|,/).map((s) => s.trim()).filter(Boolean);
    if (kind === "int" || kind === "float") {
      const n = Number(raw.trim());
      return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
    }
    return raw;
  }

  function clearErrors() {
    for (const {input, error} of inputs.values()) {
      input.removeAttribute("aria-invalid");
      error.hidden = true;
      error.textContent = "";
    }
  }

  async function save() {
    clearErrors();
    const changed = {};
    for (const [key, {input}] of inputs) {
      if (input.disabled) continue;
      const value = read(key);
      if (JSON.stringify(value) !== JSON.stringify(loaded[key] ?? (Array.isArray(value) ? [] : ""))) changed[key] = value;
    }
    if (!Object.keys(changed).length) {
      notice(status, "Nothing changed.", "info");
      return;
    }
    notice(status, "Saving…");
    try {
      const answer = await api("PUT", "/api/settings", {values: changed});
      await load();
      notice(status, answer?.message || `Saved ${Object.keys(changed).length} setting${Object.keys(changed).length === 1 ? "" : "s"}.`, "ok");
      ctx.refreshStatus();
    } catch (exc) {
      const field = exc.key && inputs.get(exc.key);
      if (field) {
        field.input.setAttribute("aria-invalid", "true");
        field.error.textContent = exc.message;
        field.error.hidden = false;
        field.input.focus();
      }
      notice(status, `Nothing was saved: ${exc.message}`, "error");
    }
  }

  async function load() {
    let settings, available = [];
    try {
      [settings, available] = await Promise.all([api("GET", "/api/settings"),
        api("GET", "/api/models/available").catch(() => [])]);
    } catch (exc) {
      form.replaceChildren(h("p", {class: "notice error", testid: "settings-error"}, exc.message));
      return;
    }
    loaded = settings.values;
    choices = settings.choices || {};
    models.replaceChildren(...available.filter((m) => m.setting !== "").map((m) =>
      h("option", {value: m.setting ?? m.path}, m.name)));
    build(settings.values, settings.sources || {}, available);
  }

  async function loadStyle() {
    styleBox.replaceChildren(h("h2", {}, "Your style profile"));
    let style;
    try {
      style = await api("GET", "/api/style");
    } catch (exc) {
      styleBox.append(h("p", {class: "hint"}, exc.status === 404
        ? "No style profile yet: it is measured from your writing once you have added some."
        : exc.message));
      return;
    }
    if (!style || !Object.keys(style).length) {
      styleBox.append(h("p", {class: "hint"}, "No style profile yet."));
      return;
    }
    styleBox.append(...styleView(style));
  }

  return {
    show() {
      load();
      loadStyle();
    },
  };
}

// The profile (model/style.py): how much writing it rests on, the guidance lines drafts
// get (overall, then per platform), and the measured numbers folded away.
function styleView(style) {
  const parts = [];
  if (Array.isArray(style.owner_names) && !style.owner_names.length) {
    parts.push(h("p", {class: "notice warn", testid: "style-no-names"},
      "Set “Names you write under” above: until then none of the writing counts as yours."));
  }
  if (style.documents !== undefined) {
    parts.push(h("p", {class: "hint", testid: "style-basis"},
      `Measured from ${style.documents} of your documents` +
      (style.min_documents ? ` (a profile needs at least ${style.min_documents}).` : ".")));
  }
  const guidance = style.guidance || {};
  const lines = (value) => h("ul", {}, (Array.isArray(value) ? value : [value]).map((line) => h("li", {}, String(line))));
  if (guidance.overall) parts.push(h("h3", {}, "What drafts are told about your style"), lines(guidance.overall));
  const platforms = Object.keys(guidance).filter((key) => key !== "overall");
  if (platforms.length) {
    parts.push(h("details", {testid: "style-platforms"}, h("summary", {}, "By platform"),
      platforms.map((name) => h("section", {}, h("h4", {}, name), lines(guidance[name])))));
  }
  const numbers = {};
  if (style.overall) numbers.overall = style.overall;
  if (style.platforms && Object.keys(style.platforms).length) Object.assign(numbers, style.platforms);
  if (Object.keys(numbers).length) {
    parts.push(h("details", {testid: "style-numbers"}, h("summary", {}, "The numbers"), describe(numbers, 4)));
  }
  return parts.length ? parts : [describe(style, 3)];
}

// Any JSON value as nested headings and definition lists (the profile's shape may grow).
function describe(value, level) {
  if (value === null || typeof value !== "object") return h("span", {}, scalar(value));
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) return h("span", {}, value.map(scalar).join(", "));
    return h("ol", {}, value.map((v) => h("li", {}, describe(v, level + 1))));
  }
  const nested = Object.values(value).some((v) => v && typeof v === "object" && !Array.isArray(v));
  if (nested && level <= 4) {
    return h("div", {}, Object.entries(value).map(([key, v]) =>
      h("section", {}, h(`h${Math.min(level, 6)}`, {}, words(key)), describe(v, level + 1))));
  }
  return h("dl", {}, Object.entries(value).flatMap(([key, v]) => [h("dt", {}, words(key)), h("dd", {}, describe(v, level + 1))]));
}

function scalar(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (value === null || value === undefined) return "—";
  return String(value);
}

function words(key) {
  return String(key).replace(/_/g, " ");
}
