// Schedules: the scheduled jobs (recrawls, retraining, digests) with their next run;
// pause, resume or run one now.

import {api} from "../api.js";
import {button, h, notice, when} from "../dom.js";

export function mount(el) {
  const list = h("div", {class: "items", testid: "schedules"});
  const status = h("div", {testid: "schedules-status", "aria-live": "polite"});
  el.append(h("h1", {}, "Schedules"),
    h("p", {class: "hint"}, "Jobs that run on their own while llm-twin serve is up. Times are in your browser's time zone."),
    status, list);

  async function act(job, action) {
    notice(status, `${action === "run" ? "Running" : action === "pause" ? "Pausing" : "Resuming"} ${job.name}…`);
    try {
      const answer = await api("POST", `/api/schedules/${encodeURIComponent(job.name)}/${action}`, {});
      notice(status, answer.message || "Done.", "ok");
    } catch (exc) {
      notice(status, exc.message, "error");
    }
    load();
  }

  async function load() {
    let jobs, answer;
    try {
      answer = await api("GET", "/api/schedules");
      jobs = Array.isArray(answer) ? answer : answer.jobs || [];
    } catch (exc) {
      notice(status, `Could not read the schedules: ${exc.message}`, "error");
      return;
    }
    list.replaceChildren(...jobs.map((job) => h("div", {class: "item", testid: "schedule", dataset: {name: job.name}},
      h("div", {},
        h("div", {class: "title"}, job.name, job.paused ? h("span", {class: "tag warn", testid: "paused"}, "paused") : null),
        h("ul", {class: "facts"},
          h("li", {}, h("b", {}, job.schedule)),
          job.target ? h("li", {}, job.target) : null,
          h("li", {testid: "next-run"}, job.paused ? "next run: paused" : `next run ${when(job.next_run_at)}`),
          job.last_run_at ? h("li", {}, `last run ${when(job.last_run_at)}`) : null,
          job.last_result ? h("li", {}, `last result: ${job.last_result}`) : null),
        job.last_error ? h("p", {class: "field-error"}, `Failed ${job.failures} time${job.failures === 1 ? "" : "s"}: ${job.last_error}`) : null),
      h("div", {class: "side"},
        job.paused
          ? button("Resume", {kind: "small", testid: "resume", title: `Resume ${job.name}`, onclick: () => act(job, "resume")})
          : button("Pause", {kind: "small", testid: "pause", title: `Pause ${job.name}`, onclick: () => act(job, "pause")}),
        button("Run now", {kind: "small", testid: "run-now", title: `Run ${job.name} now`, onclick: () => act(job, "run")})))));
    if (!jobs.length) {
      list.append(h("p", {class: "empty", testid: "no-schedules"}, answer.reason
        ? `No scheduled jobs: ${answer.reason}.` : "No scheduled jobs (see [schedules] in config.toml)."));
    }
  }

  return {show: load};
}
