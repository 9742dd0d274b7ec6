// The training loss as an SVG line chart, drawn with DOM calls (no library, no markup).

import {svg} from "./dom.js";

const H = 220, LEFT = 52, RIGHT = 14, TOP = 24, BOTTOM = 34;

// points: [step, loss, stage?]; each stage (sft, dpo: steps restart at 1) is its own line.
// Drawn at `width` CSS pixels (the box it goes in), so its text keeps its size on a phone.
export function lossChart(points, width = 640, label = "Training loss by step") {
  const W = Math.max(300, Math.min(1200, Math.round(width)));
  const chart = svg("svg", {class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label,
    "data-testid": "loss-chart", "data-points": points.length});
  chart.append(svg("title", {}, label));
  const clean = points.filter(([step, loss]) => Number.isFinite(step) && Number.isFinite(loss));
  if (!clean.length) return chart;
  const steps = clean.map(([step]) => step), losses = clean.map(([, loss]) => loss);
  const [x0, x1] = span(Math.min(...steps), Math.max(...steps));
  const [y0, y1] = span(Math.min(...losses), Math.max(...losses));
  const x = (step) => LEFT + ((step - x0) / (x1 - x0)) * (W - LEFT - RIGHT);
  const y = (loss) => TOP + (1 - (loss - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
  for (const tick of ticks(y0, y1)) {
    chart.append(svg("line", {class: "grid", x1: LEFT, x2: W - RIGHT, y1: y(tick), y2: y(tick)}),
      svg("text", {x: LEFT - 6, y: y(tick) + 4, "text-anchor": "end"}, round(tick)));
  }
  for (const tick of ticks(x0, x1).filter((t) => Number.isInteger(t))) {
    chart.append(svg("text", {x: x(tick), y: H - BOTTOM + 16, "text-anchor": "middle"}, String(tick)));
  }
  chart.append(
    svg("line", {class: "axis", x1: LEFT, x2: LEFT, y1: TOP, y2: H - BOTTOM}),
    svg("line", {class: "axis", x1: LEFT, x2: W - RIGHT, y1: H - BOTTOM, y2: H - BOTTOM}),
    svg("text", {x: (LEFT + W - RIGHT) / 2, y: H - 4, "text-anchor": "middle"}, "step"),
    svg("text", {x: LEFT, y: TOP - 10, "text-anchor": "middle"}, "loss"));
  const stages = [...new Set(clean.map(([, , stage]) => stage ?? "sft"))];
  stages.forEach((stage, n) => {
    const mine = clean.filter(([, , s]) => (s ?? "sft") === stage);
    const d = mine.map(([step, loss], i) => `${i ? "L" : "M"}${x(step).toFixed(1)},${y(loss).toFixed(1)}`).join(" ");
    chart.append(svg("path", {class: `line stage-${n}`, d, "data-stage": stage}));
    if (mine.length === 1) chart.append(svg("circle", {cx: x(mine[0][0]), cy: y(mine[0][1]), r: 3, class: `dot stage-${n}`}));
    if (stages.length > 1) {
      chart.append(svg("text", {x: W - RIGHT - 4, y: TOP + 10 + n * 14, "text-anchor": "end", class: `legend stage-${n}`}, stage));
    }
  });
  return chart;
}

function span(lo, hi) {
  if (hi - lo < 1e-9) return [lo - 1, hi + 1];
  return [lo, hi];
}

function ticks(lo, hi) {
  const step = niceStep((hi - lo) / 4);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit < 1.5 ? 1 : unit < 3 ? 2 : unit < 7 ? 5 : 10) * power;
}

function round(value) {
  return Math.abs(value) >= 10 ? value.toFixed(0) : value.toFixed(2);
}

// One metric across models as horizontal bars (values as labelled numbers too).
export function barChart(label, pairs) {
  const bars = pairs.filter(([, value]) => Number.isFinite(value));
  if (!bars.length) return null;
  const width = 320, row = 22, top = 20, labelWidth = 110;
  const max = Math.max(...bars.map(([, v]) => Math.abs(v))) || 1;
  const chart = svg("svg", {class: "chart bars", viewBox: `0 0 ${width} ${top + row * bars.length + 6}`,
    role: "img", "aria-label": label, "data-testid": "eval-chart"});
  chart.append(svg("title", {}, label), svg("text", {x: 0, y: 13}, label));
  bars.forEach(([name, value], i) => {
    const y = top + i * row;
    const length = (Math.abs(value) / max) * (width - labelWidth - 50);
    chart.append(svg("text", {x: 0, y: y + 14}, name.length > 16 ? `${name.slice(0, 15)}…` : name),
      svg("rect", {class: "bar", x: labelWidth, y: y + 3, width: Math.max(1, length), height: row - 8, rx: 2}),
      svg("text", {x: labelWidth + length + 4, y: y + 14}, round(value)));
  });
  return chart;
}
