// Training & models: build the dataset, start a run (steps, DPO), follow it live (step,
// loss, time left, a loss chart), each run's evaluation, and which model drafts.

import {api, stream} from "../api.js";
import {bytes, button, duration, fill, h, notice, when} from "../dom.js";
import {barChart, lossChart} from "../chart.js";
import {readable, renderReply} from "../replies.js";

export function mount(el, ctx) {
  const steps = h("input", {id: "train-steps", testid: "train-steps", type: "number", min: 1, step: 1,
    placeholder: "from config", inputmode: "numeric"});
  const dpo = h("input", {id: "train-dpo", testid: "train-dpo", type: "checkbox"});
  const startStatus = h("div", {testid: "train-start-status"});
  const datasetLog = h("div", {class: "activity", testid: "dataset-log", "aria-live": "polite"});
  const progressBox = h("div", {class: "card", testid: "training-progress"});
  const runsBox = h("div", {class: "items", testid: "runs"});
  const modelsBox = h("div", {testid: "models-available"});
  const runsStatus = h("div", {testid: "runs-status"});

  el.append(h("h1", {}, "Training & models"),
    h("div", {class: "grid2"},
      h("div", {class: "card"}, h("h2", {}, "1. Build the dataset"),
        h("p", {class: "hint"}, "Turns your writing (and your ratings and edits) into training examples."),
        button("Build dataset", {kind: "primary", testid: "build-dataset", onclick: buildDataset}), datasetLog),
      h("form", {class: "card", onsubmit: (event) => {
        event.preventDefault();
        startRun();
      }}, h("h2", {}, "2. Train"),
      h("div", {class: "row"}, h("label", {for: "train-steps"}, "Steps"), steps),
      h("label", {class: "check"}, dpo, "Then DPO on your ratings (needs rated drafts)"),
      h("div", {class: "actions"}, button("Start training", {kind: "primary", type: "submit", testid: "start-training"})),
      startStatus)),
    h("h2", {class: "section"}, "Progress"), progressBox,
    h("div", {class: "row toolbar"}, h("h2", {}, "Runs"),
      button("Draft with the base model", {testid: "activate-base", onclick: () => activate("base")})),
    runsStatus, runsBox,
    h("h2", {}, "Models on this machine"), modelsBox);

  let following = null;
  let shown = null; // the state drawn last: drawn again at the new width when the window changes
  let resizing = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(() => {
      if (shown && !el.hidden) drawProgress(shown);
    });
  });

  async function buildDataset() {
    datasetLog.replaceChildren(h("p", {class: "row"}, h("span", {class: "spinner"}), "Building…"));
    const lines = [];
    try {
      await stream("POST", "/api/dataset", {}, (event) => {
        const text = event.type === "json" ? event.body.message || event.body.error : event.text;
        if (text) {
          lines.push(h("div", {class: `msg say ${event.type === "error" ? "error" : ""}`, testid: "dataset-line"},
            renderReply(text), /owner\.names/.test(text)
              ? h("p", {}, h("a", {href: "#/settings", testid: "set-names"}, "Set the names you write under in Settings")) : null));
        }
        datasetLog.replaceChildren(...lines);
      });
      if (!lines.length) datasetLog.replaceChildren(h("p", {class: "notice ok"}, "Dataset built."));
    } catch (exc) {
      datasetLog.replaceChildren(...lines, h("p", {class: "notice error"}, exc.message));
    }
  }

  async function startRun() {
    const body = {dpo: dpo.checked};
    if (steps.value) body.steps = Number(steps.value);
    notice(startStatus, "Starting…");
    try {
      const answer = await api("POST", "/api/training", body);
      notice(startStatus, `Training started${answer.run_id ? ` (run ${answer.run_id})` : ""}.`, "ok");
      follow();
    } catch (exc) {
      notice(startStatus, exc.message, "error");
    }
  }

  function drawProgress(state) {
    shown = state;
    const p = state.progress || {};
    const bar = h("progress", {max: p.total || 1, value: p.step || 0, testid: "train-bar"});
    if (!p.total) bar.removeAttribute("value");
    const running = state.running;
    fill(progressBox,
      h("p", {testid: "train-state"}, running
        ? h("strong", {}, `Training${state.run_id ? ` run ${state.run_id}` : ""}${p.stage ? ` (${p.stage})` : ""}`)
        : state.run_id ? `Last run: ${state.run_id}` : "No training running."),
      running || p.step ? bar : null,
      h("div", {class: "progress-line"},
        h("span", {testid: "train-step"}, `step ${p.step ?? "—"}${p.total ? ` of ${p.total}` : ""}`),
        h("span", {testid: "train-loss"}, `loss ${Number.isFinite(p.loss) ? p.loss.toFixed(3) : "—"}`),
        h("span", {testid: "train-eta"}, `time left ${running ? duration(p.eta_s) : "—"}`)),
      state.losses?.length ? lossChart(state.losses, progressBox.clientWidth - 34)
        : h("p", {class: "hint", testid: "no-loss"}, "The loss is drawn here once a run reports its first step."),
      state.outcome && !running ? outcomeView(state.outcome) : null,
      state.messages?.length
        ? h("details", {class: "train-log", testid: "train-messages"},
          h("summary", {}, `Log (${state.messages.length} line${state.messages.length === 1 ? "" : "s"})`),
          h("pre", {class: "log-text"}, state.messages.map(readable).join("\n")))
        : null,
      running ? h("div", {class: "actions"}, button("Stop training", {kind: "danger", testid: "cancel-training",
        onclick: async () => {
          try {
            await api("POST", "/api/training/cancel", {});
          } catch (exc) {
            notice(startStatus, exc.message, "error");
          }
        }})) : null);
  }

  async function follow() {
    if (following) return;
    let state;
    try {
      state = await api("GET", "/api/training");
    } catch (exc) {
      fill(progressBox, h("p", {class: "notice error"}, exc.message));
      return;
    }
    state.losses ||= [];
    state.messages ||= [];
    drawProgress(state);
    if (!state.running) return;
    following = new AbortController();
    try {
      await stream("GET", "/api/training/events", undefined, (event) => {
        if (event.type === "done") {
          state.outcome = event;
          notice(startStatus, "");
        } else if (event.type === "idle") {
          return;
        } else if (event.type === "progress") {
          state.progress = {...state.progress, ...event};
          if (Number.isFinite(event.loss) && Number.isFinite(event.step)) {
            const last = state.losses[state.losses.length - 1];
            if (!last || last[0] !== event.step || last[2] !== event.stage) {
              state.losses.push([event.step, event.loss, event.stage]);
            }
          }
        } else if (event.text) {
          state.messages.push(event.text);
        }
        drawProgress(state);
      }, following.signal);
    } catch (exc) {
      state.messages.push(exc.message);
    } finally {
      following = null;
    }
    const final = await api("GET", "/api/training").catch(() => ({...state, running: false}));
    drawProgress({...final, losses: final.losses?.length ? final.losses : state.losses,
      messages: final.messages?.length ? final.messages : state.messages});
    loadRuns();
    ctx.refreshStatus();
  }

  async function activate(run) {
    notice(runsStatus, "Switching the model…");
    try {
      const answer = await api("POST", "/api/models/activate", {run});
      notice(runsStatus, answer.message || `Drafting with ${run === "base" ? "the base model" : `run ${run}`} now.`, "ok");
    } catch (exc) {
      notice(runsStatus, exc.message, "error");
    }
    loadRuns();
    ctx.refreshStatus();
  }

  async function loadRuns() {
    try {
      const runs = await api("GET", "/api/runs");
      runsBox.replaceChildren(...runs.map((run) => runRow(run, activate)));
      if (!runs.length) runsBox.append(h("p", {class: "empty"}, "No training runs yet."));
    } catch (exc) {
      notice(runsStatus, exc.message, "error");
    }
  }

  async function loadModels() {
    try {
      const models = await api("GET", "/api/models/available");
      fill(modelsBox, models.length ? h("div", {class: "table-wrap card"}, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Kind"), h("th", {class: "num"}, "Size"),
          h("th", {}, "Path"))),
        h("tbody", {}, models.map((m) => h("tr", {testid: "model-row"}, h("td", {}, m.name), h("td", {}, m.kind),
          h("td", {class: "num"}, bytes(m.size_bytes)), h("td", {class: "hint"}, m.path))))))
        : h("p", {class: "empty"}, "No models on disk besides the bundled one."),
      h("p", {class: "hint"}, "Choose which one drafts in ", h("a", {href: "#/settings"}, "Settings"), "."));
    } catch (exc) {
      fill(modelsBox, h("p", {class: "notice error"}, exc.message));
    }
  }

  return {
    show() {
      follow();
      loadRuns();
      loadModels();
    },
  };
}

function runRow(run, activate) {
  const good = ["trained", "completed", "done", "ok", "promoted", "succeeded"].includes(run.status);
  return h("div", {class: "item run", testid: "run", dataset: {runId: run.id}},
    h("div", {},
      h("div", {class: "title"}, run.id, run.active ? h("span", {class: "tag ok", testid: "run-active"}, "active") : null),
      h("ul", {class: "facts"},
        h("li", {}, when(run.created_at)),
        run.finished_at ? h("li", {}, `took ${duration((new Date(run.finished_at) - new Date(run.created_at)) / 1000)}`) : null,
        h("li", {}, h("span", {class: `tag ${good ? "ok" : run.status === "failed" ? "error" : ""}`}, run.status)),
        run.stage ? h("li", {}, `stage ${run.stage}`) : null,
        run.base_model ? h("li", {title: run.base_model}, `base ${run.base_model.split(/[\\/]/).pop()}`) : null,
        ...Object.entries(run.metrics || {}).filter(([, v]) => typeof v !== "object").slice(0, 4)
          .map(([key, value]) => h("li", {}, `${key.replace(/_/g, " ")} ${typeof value === "number" ? round(value) : value}`)))),
    h("div", {class: "side"}, run.active ? null : button("Draft with this run", {kind: "small",
      testid: "activate", title: `Activate run ${run.id}`, onclick: () => activate(run.id)})),
    run.error ? h("p", {class: "error-line"}, run.error) : null,
    run.eval ? evaluation(run.eval) : null);
}

// The run's outcome: its first line as the headline, the whole report folded under it.
function outcomeView(outcome) {
  const [headline, ...rest] = readable(outcome.summary || outcome.status).split("\n");
  return h("div", {class: `notice ${outcome.status === "failed" ? "error" : "ok"}`, testid: "train-outcome"},
    h("p", {}, headline),
    rest.length ? h("details", {}, h("summary", {}, "The whole report"), h("pre", {class: "log-text"}, rest.join("\n"))) : null);
}

function round(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

const METRIC_WORDS = {
  perplexity: "perplexity (lower is better)", style_similarity: "style similarity (higher is better)",
  voice_share: "voice: share attributed to you (higher is better)", sentence_length: "words per sentence",
  emoji_rate: "emoji per 100 words", hashtag_rate: "hashtags per 100 words",
  vocabulary_overlap: "vocabulary overlap", stylometry_distance: "stylometry distance (0 = you)",
};
const CHARTED = ["perplexity", "style_similarity", "voice_share"];

function cell(value) {
  if (typeof value === "number") return Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(3);
  if (value === null || value === undefined) return "—";
  return String(value);
}

// A run's evaluation: the promotion decision, one row per metric and one column per model
// (and yours), a bar chart for the main metrics, and a few samples side by side.
function evaluation(report) {
  const models = report.models || [];
  const rows = (report.rows || []).filter((row) => models.some((m) => row.values?.[m] != null) || row.owner != null);
  const decision = report.promotion && report.promotion.why
    ? h("p", {class: `notice ${report.promotion.promote ? "ok" : "info"}`, testid: "promotion"},
      `${report.promotion.promote ? "Promoted" : "Not promoted"}: ${report.promotion.why}`) : null;
  const grid = h("table", {class: "eval", testid: "eval-table"},
    h("thead", {}, h("tr", {}, h("th", {}, "metric"), models.map((m) => h("th", {class: "num"}, m)), h("th", {class: "num"}, "you"))),
    h("tbody", {}, rows.map((row) => h("tr", {}, h("th", {}, METRIC_WORDS[row.metric] || row.metric.replace(/_/g, " ")),
      models.map((m) => h("td", {class: "num"}, cell(row.values?.[m]))), h("td", {class: "num"}, cell(row.owner))))));
  const charts = rows.filter((row) => CHARTED.includes(row.metric))
    .map((row) => barChart(METRIC_WORDS[row.metric] || row.metric, models.map((m) => [m, row.values?.[m]])))
    .filter(Boolean);
  const samples = (report.samples || []).map((sample, i) => h("details", {class: "sample"},
    h("summary", {}, `${i + 1}. ${sample.instruction}`),
    h("h4", {}, "You"), h("p", {class: "pre"}, sample.answer),
    Object.entries(sample.drafts || {}).map(([model, text]) => [h("h4", {}, model), h("p", {class: "pre"}, text)])));
  return h("details", {testid: "run-eval", class: "run-eval"}, h("summary", {}, "Evaluation"),
    decision, h("div", {class: "table-wrap"}, grid),
    charts.length ? h("div", {class: "bar-charts"}, charts) : null,
    samples.length ? h("div", {class: "samples"}, h("h4", {}, "Samples"), samples) : null);
}
