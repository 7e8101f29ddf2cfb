// The demo's screen: on a terminal, one frame redrawn in place each second; otherwise (a pipe, a
// CI log) one plain line per second, with sample predictions every few seconds.
import { LATENCY_WINDOW_MS } from "./live-figures.mjs";

/** Warnings from the children kept on screen. */
const SHOWN_WARNINGS = 3;
/** Without a terminal, sample predictions are printed this often (in frames). */
const PLAIN_SAMPLES_EVERY = 5;

const count = (n) => n.toLocaleString("en-US");
const perSecond = (n) => `${n.toFixed(1)}/s`;
const ms = (n) => `${Math.round(n)} ms`;
const clock = (elapsedMs) => {
  const s = Math.floor(elapsedMs / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};

/** `0 legit` / `1 fraud` for the binary fraud model; other models' labels as they come. */
function label(n) {
  return n === 1 ? "1 fraud" : n === 0 ? "0 legit" : String(n);
}

function sampleRow(s) {
  const amount =
    s.amount === undefined ? "-" : `${s.amount.toFixed(2)} ${s.currency ?? ""}`.trimEnd();
  return [
    s.id,
    s.user ?? "-",
    amount,
    `${s.model} v${s.version}`,
    label(s.label),
    `${(s.score * 100).toFixed(1)} %`,
  ];
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // Amounts and scores read better right-aligned.
  const right = new Set([2, 5]);
  const line = (cells) =>
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function latencyText(latency) {
  if (latency === undefined) return "no predictions in the last 10 s";
  return `p50 ${ms(latency.p50)}   p95 ${ms(latency.p95)}   p99 ${ms(latency.p99)}   (n ${count(latency.count)})`;
}

/**
 * `header` is the frame's fixed top (what runs where); `render(snapshot, elapsedMs)` draws a
 * frame; `warn(line)` shows a child's warning; `close()` leaves the last frame on screen.
 */
export function liveView({ header, out = process.stdout }) {
  const tty = out.isTTY === true;
  const warnings = [];
  let drawn = 0;
  let frames = 0;

  function frame(s, elapsedMs) {
    const lines = [
      `${header[0]}   ${clock(elapsedMs)}   Ctrl-C to stop`,
      ...header.slice(1),
      "",
      `${" ".repeat(18)}rate (5 s)${" ".repeat(6)}total`,
      `  produced      ${perSecond(s.produced.rate).padStart(12)} ${count(s.produced.total).padStart(10)}   events into the input topic`,
      `  predicted     ${perSecond(s.predicted.rate).padStart(12)} ${count(s.predicted.total).padStart(10)}   prediction records`,
      `  dead letters  ${perSecond(s.deadLetters.rate).padStart(12)} ${count(s.deadLetters.total).padStart(10)}   malformed events, with the reason`,
      `  for review    ${perSecond(s.review.rate).padStart(12)} ${count(s.review.total).padStart(10)}   predictions under the confidence threshold`,
      `  consumer lag  ${count(s.lag).padStart(12)} records behind (sum over the input's partitions)`,
      `  latency       ${latencyText(s.latency)}`,
      `                event time → prediction record written, predictions of the last ${LATENCY_WINDOW_MS / 1000} s`,
      "",
      "  recent predictions",
      ...table(
        ["ID", "USER", "AMOUNT", "MODEL", "LABEL", "P(FRAUD)"],
        s.samples.map(sampleRow),
      ).map((line) => `  ${line}`),
    ];
    if (warnings.length > 0) lines.push("", "  warnings", ...warnings.map((w) => `  ${w}`));
    return lines;
  }

  function plain(s, elapsedMs) {
    const latency =
      s.latency === undefined
        ? "latency -"
        : `latency p50 ${ms(s.latency.p50)} p95 ${ms(s.latency.p95)} p99 ${ms(s.latency.p99)}`;
    const lines = [
      `[${clock(elapsedMs)}] produced ${count(s.produced.total)} (${perSecond(s.produced.rate)}), predicted ${count(s.predicted.total)} (${perSecond(s.predicted.rate)}), dead letters ${count(s.deadLetters.total)}, review ${count(s.review.total)}, lag ${count(s.lag)}, ${latency}`,
    ];
    if (frames % PLAIN_SAMPLES_EVERY === 0) {
      for (const [id, user, amount, model, lbl, score] of s.samples.map(sampleRow)) {
        lines.push(
          `  prediction ${id} user ${user} amount ${amount} ${model} label ${lbl} P(fraud) ${score}`,
        );
      }
    }
    return lines;
  }

  return {
    render(snapshot, elapsedMs) {
      frames++;
      if (!tty) {
        out.write(`${plain(snapshot, elapsedMs).join("\n")}\n`);
        return;
      }
      // Lines wider than the terminal would wrap and break the cursor arithmetic: cut them.
      const width = Math.max((out.columns ?? 100) - 1, 20);
      const lines = frame(snapshot, elapsedMs).map((line) => line.slice(0, width));
      const up = drawn > 0 ? `\x1b[${drawn}A\r` : "";
      out.write(`${up}\x1b[J${lines.join("\n")}\n`);
      drawn = lines.length;
    },
    warn(line) {
      if (!tty) {
        out.write(`warning: ${line}\n`);
        return;
      }
      warnings.push(line.length > 200 ? `${line.slice(0, 199)}…` : line);
      if (warnings.length > SHOWN_WARNINGS) warnings.shift();
    },
    start() {
      if (!tty) return;
      out.write("\x1b[?25l");
      // The cursor comes back however the demo ends.
      process.once("exit", () => out.write("\x1b[?25h"));
    },
    close() {
      if (tty) out.write("\x1b[?25h");
      drawn = 0;
    },
  };
}
