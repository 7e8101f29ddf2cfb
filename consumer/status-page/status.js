// The status page's script: polls /status.json and draws each pipeline's figures with uPlot
// (served by the consumer from its own node_modules, so the page works offline). Every value from
// the server (pipeline, topic, arm, segment and feature names) reaches the page as text nodes,
// never as markup.
/* global uPlot */
"use strict";

const COLORS = ["#0969da", "#1a7f37", "#cf222e", "#9a6700", "#8250df", "#bf3989", "#1b7c83"];
const BANDS = { stable: "stable", moderate: "moderate", major: "major" };
/** Chart id → { chart, keys } of the charts drawn so far. */
const charts = new Map();

/** An element with `attributes` and `children` (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function fixed(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

const count = (value) => fixed(value, 0);
const rate = (value) => fixed(value, value !== null && value < 10 ? 1 : 0);
const percent = (value) =>
  value === null || value === undefined ? "–" : `${fixed(value * 100, 1)} %`;

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${fixed(value * 1000, value < 0.01 ? 1 : 0)} ms` : `${fixed(value, 2)} s`;
}

/** A chart's time tick: the wall clock to the second, which is what a few minutes span needs. */
function clock(secondsSinceEpoch) {
  return new Date(secondsSinceEpoch * 1000).toLocaleTimeString([], { hour12: false });
}

const noData = (what) => el("p", { class: "nodata" }, `no data yet${what ? `: ${what}` : ""}`);

function table(headings, rows, attributes = {}) {
  return el(
    "table",
    attributes,
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows),
  );
}

function row(cells, attributes = {}) {
  return el(
    "tr",
    attributes,
    ...cells.map((cell) =>
      typeof cell === "object" && cell !== null && "text" in cell
        ? el("td", cell.attributes ?? {}, cell.text)
        : el("td", {}, cell),
    ),
  );
}

const number = (text, attributes = {}) => ({
  text,
  attributes: { class: "number", ...attributes },
});

/**
 * A chart panel: `series` maps a key to a function of a sample (null for a gap). The chart is kept
 * between polls and only given new data while its series stay the same.
 */
function chartPanel([pipeline, name], title, samples, series, format, range) {
  const id = `${pipeline}\n${name}`;
  const keys = Object.keys(series);
  const panel = el("div", { class: "panel", "data-chart": name }, el("h4", {}, title));
  const points = samples.map((s) => keys.map((key) => series[key](s)));
  const hasData = points.some((values) => values.some((v) => v !== null && v !== undefined));
  if (keys.length === 0 || !hasData || typeof uPlot !== "function") {
    charts.get(id)?.chart.destroy();
    charts.delete(id);
    panel.append(noData(typeof uPlot === "function" ? "" : "the chart library did not load"));
    return panel;
  }
  const data = [
    samples.map((s) => s.time / 1000),
    ...keys.map((_, k) => points.map((values) => values[k] ?? null)),
  ];
  const holder = el("div", { class: "chart" });
  panel.append(holder);
  const kept = charts.get(id);
  if (kept !== undefined && kept.keys.join("\n") === keys.join("\n")) {
    holder.append(kept.chart.root);
    kept.chart.setData(data);
    return panel;
  }
  kept?.chart.destroy();
  // Two charts side by side on a wide window, one on a narrow one.
  const width = Math.max(
    300,
    Math.min(660, Math.floor((document.documentElement.clientWidth - 80) / 2)),
  );
  const chart = new uPlot(
    {
      width,
      height: 150,
      legend: { show: true, live: false },
      scales: { x: { time: true }, ...(range === undefined ? {} : { y: { range } }) },
      axes: [
        { space: 70, values: (_, ticks) => ticks.map(clock) },
        { size: 72, values: (_, ticks) => ticks.map((t) => format(t)) },
      ],
      series: [
        {},
        ...keys.map((key, i) => ({
          label: key,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: false,
          value: (_, v) => format(v),
        })),
      ],
    },
    data,
    holder,
  );
  charts.set(id, { chart, keys });
  return panel;
}

/** The keys of a record-valued sample field, over every sample (arms, features, versions). */
function keysOf(samples, field) {
  const keys = new Set();
  for (const sample of samples) for (const key of Object.keys(sample[field])) keys.add(key);
  return [...keys].sort();
}

function tile(figure, name, text) {
  return el(
    "div",
    { class: "tile", "data-figure": figure },
    el("div", { class: "value" }, text),
    el("div", { class: "name" }, name),
  );
}

function pipelineSection(pipeline) {
  const { name, samples, now } = pipeline;
  const last = samples.at(-1) ?? {};
  const id = (chart) => [name, chart];
  const section = el("section", { class: "pipeline", "data-pipeline": name });
  section.append(
    el(
      "h2",
      {},
      name,
      " ",
      el(
        "small",
        {},
        now.model === null
          ? ""
          : `model ${now.model}${now.version === null ? "" : ` v${now.version}`}`,
      ),
    ),
    el(
      "div",
      { class: "tiles" },
      tile("eventsPerSecond", "events/s", rate(last.eventsPerSecond)),
      tile("predictionsPerSecond", "predictions/s", rate(last.predictionsPerSecond)),
      tile("deadLettersPerSecond", "dead letters/s", rate(last.deadLettersPerSecond)),
      tile("lag", "consumer lag (records)", count(last.lag)),
      tile("p99", "end-to-end p99", seconds(last.latency?.p99)),
      tile("batchSize", "events per micro-batch", fixed(last.batchSize, 1)),
      tile("events", "events since start", count(now.totals.events)),
      tile("predictions", "predictions since start", count(now.totals.predictions)),
      tile("deadLetters", "dead letters since start", count(now.totals.deadLetters)),
    ),
    el(
      "div",
      { class: "charts" },
      chartPanel(
        id("throughput"),
        "Throughput (per second)",
        samples,
        {
          events: (s) => s.eventsPerSecond,
          predictions: (s) => s.predictionsPerSecond,
          "dead letters": (s) => s.deadLettersPerSecond,
        },
        rate,
      ),
      chartPanel(id("lag"), "Consumer lag (records behind)", samples, { lag: (s) => s.lag }, count),
      chartPanel(
        id("latency"),
        "End-to-end latency (event time → committed)",
        samples,
        {
          p50: (s) => s.latency?.p50 ?? null,
          p95: (s) => s.latency?.p95 ?? null,
          p99: (s) => s.latency?.p99 ?? null,
        },
        seconds,
      ),
      chartPanel(
        id("batch"),
        "Micro-batch size (mean events)",
        samples,
        { events: (s) => s.batchSize },
        (v) => fixed(v, 1),
      ),
    ),
  );
  section.append(...rolloutPart(now, samples, id), ...shadowPart(now, samples, id));
  section.append(...driftPart(now, samples, id), ...evaluationPart(now, samples, id));
  return section;
}

const seriesOf = (samples, field) =>
  Object.fromEntries(keysOf(samples, field).map((key) => [key, (s) => s[field][key] ?? null]));

function rolloutPart(now, samples, id) {
  const title = el("h3", {}, "Rollout");
  if (now.weights.length === 0 && now.armPredictions.length === 0) {
    return [title, noData("this pipeline has no rollout section")];
  }
  const predictions = new Map();
  for (const p of now.armPredictions) {
    predictions.set(p.arm, (predictions.get(p.arm) ?? 0) + p.predictions);
  }
  const rows = now.weights.map((w) =>
    row(
      [
        w.segment === "_default" ? "(default)" : w.segment,
        w.arm,
        w.version,
        number(percent(w.share), { "data-share": w.share }),
        number(count(predictions.get(w.arm) ?? 0)),
      ],
      { "data-arm": w.arm, "data-segment": w.segment },
    ),
  );
  const rollbacks =
    now.rollbacks.length === 0
      ? "automatic rollbacks: none"
      : `automatic rollbacks: ${now.rollbacks.map((r) => `${r.arm} (${r.check}) ${count(r.count)}`).join(", ")}`;
  return [
    title,
    table(["segment", "arm", "version", "weight", "arm's predictions"], rows, {
      "data-table": "weights",
    }),
    el("p", { class: "muted", "data-rollbacks": "" }, rollbacks),
    el(
      "div",
      { class: "charts" },
      chartPanel(
        id("arms"),
        "Predictions per second by arm",
        samples,
        seriesOf(samples, "armPredictionsPerSecond"),
        rate,
      ),
      chartPanel(
        id("weights"),
        "Arm weights",
        samples,
        seriesOf(samples, "weights"),
        percent,
        [0, 1],
      ),
    ),
  ];
}

function shadowPart(now, samples, id) {
  const title = el("h3", {}, "Shadow");
  if (now.shadow.length === 0) return [title, noData("no shadow version scores this pipeline")];
  const rows = now.shadow.map((s) =>
    row(
      [
        s.version,
        number(percent(s.agreement), { "data-agreement": s.agreement ?? "" }),
        number(count(s.agree)),
        number(count(s.disagree)),
        Object.entries(s.requests)
          .map(([outcome, n]) => `${outcome} ${count(n)}`)
          .join(", "),
      ],
      { "data-shadow": s.version },
    ),
  );
  return [
    title,
    table(["shadow version", "agreement", "agree", "disagree", "calls"], rows, {
      "data-table": "shadow",
    }),
    el(
      "div",
      { class: "charts" },
      chartPanel(
        id("shadow"),
        "Shadow agreement with the primary, by version",
        samples,
        seriesOf(samples, "shadowAgreement"),
        percent,
        [0, 1],
      ),
    ),
  ];
}

function driftPart(now, samples, id) {
  const title = el("h3", {}, "Drift");
  if (now.drift.length === 0 && now.driftScore.length === 0) {
    return [
      title,
      noData("no drift figures (the pipeline has no drift monitor, or too few events)"),
    ];
  }
  const rows = now.drift.map((d) =>
    row(
      [
        d.subject,
        d.version,
        number(fixed(d.psi, 3)),
        { text: d.band ?? "–", attributes: { class: `band-${BANDS[d.band] ?? "none"}` } },
      ],
      { "data-drift": d.subject },
    ),
  );
  const parts = [
    title,
    table(["feature (or score)", "version", "PSI", "band"], rows, { "data-table": "drift" }),
  ];
  if (now.driftScore.length > 0) {
    parts.push(
      table(
        ["score of version", "KS", "Wasserstein"],
        now.driftScore.map((d) =>
          row([d.version, number(fixed(d.ks, 3)), number(fixed(d.wasserstein, 3))]),
        ),
      ),
    );
  }
  parts.push(
    el(
      "p",
      { class: "muted" },
      `drift events: ${now.driftEvents === null ? "–" : count(now.driftEvents)}`,
    ),
    el(
      "div",
      { class: "charts" },
      chartPanel(id("drift"), "PSI by feature", samples, seriesOf(samples, "driftPsi"), (v) =>
        fixed(v, 3),
      ),
    ),
  );
  return parts;
}

const EVALUATED = [
  ["precision", "precision", percent],
  ["recall", "recall", percent],
  ["roc_auc", "ROC AUC", (v) => fixed(v, 3)],
  ["log_loss", "log loss", (v) => fixed(v, 3)],
  ["brier", "Brier", (v) => fixed(v, 3)],
  ["labels", "labels", count],
];

function evaluationPart(now, samples, id) {
  const title = el("h3", {}, "Evaluation (late labels)");
  if (now.evaluation.length === 0) return [title, noData("no labels joined yet")];
  const rows = now.evaluation.map((e) =>
    row([e.arm, e.version, ...EVALUATED.map(([key, , format]) => number(format(e[key])))], {
      "data-evaluation": e.arm,
    }),
  );
  const keys = keysOf(samples, "evaluation");
  const metricSeries = (metric) =>
    Object.fromEntries(keys.map((key) => [key, (s) => s.evaluation[key]?.[metric] ?? null]));
  return [
    title,
    table(["arm", "version", ...EVALUATED.map(([, name]) => name)], rows, {
      "data-table": "evaluation",
    }),
    el(
      "div",
      { class: "charts" },
      ...EVALUATED.slice(0, 4).map(([key, name, format]) =>
        chartPanel(id(`evaluation-${key}`), `${name} by arm`, samples, metricSeries(key), format),
      ),
    ),
  ];
}

async function refresh() {
  const state = document.getElementById("state");
  let status;
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET /status.json answered ${response.status}`);
    status = await response.json();
  } catch (error) {
    state.textContent = `cannot read /status.json: ${error.message} (retrying)`;
    state.className = "error";
    return 5;
  }
  const main = document.getElementById("pipelines");
  const sections = status.pipelines.map(pipelineSection);
  main.replaceChildren(
    ...(sections.length > 0 ? sections : [noData("no pipeline has reported yet")]),
  );
  const at =
    status.sampledAt === null ? "not sampled yet" : new Date(status.sampledAt).toLocaleTimeString();
  state.textContent = status.error ?? `updated ${at}, every ${status.intervalSeconds} s`;
  state.className = status.error === null ? "" : "error";
  document.body.dataset.sampledAt = String(status.sampledAt ?? "");
  return status.intervalSeconds;
}

async function loop() {
  const every = await refresh();
  setTimeout(() => void loop(), every * 1000);
}

void loop();
