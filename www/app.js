// The demo page: two lanes run the same job against the API double, one with plain fetch, one
// through ratewindow, each against its own organization's budget (org-a and org-b).

import { throttle } from "/pkg/browser.js";
import {
  DEFAULT_SETTINGS,
  countInWindow,
  createLaneState,
  laneResult,
  peakInWindow,
  physicalMinimumMs,
  readStat,
  resetApi,
  runPlainLane,
  runThrottledLane,
} from "/lanes.js";

const ORG_PLAIN = "org-a";
const ORG_RW = "org-b";
const DASH = "–";

/** The API double to talk to: this origin, or another one given as ?api=http://host:port. */
const apiBase = (() => {
  const given = new URLSearchParams(location.search).get("api");
  if (!given) return "";
  try {
    const u = new URL(given);
    if (u.protocol === "http:" || u.protocol === "https:") return u.href.replace(/\/+$/, "");
  } catch {
    // fall through to this origin
  }
  return "";
})();

const $ = (id) => document.getElementById(id);
const form = $("controls");
const inputs = {
  limit: $("limit"),
  window: $("window"),
  latencyMin: $("latency-min"),
  latencyMax: $("latency-max"),
  job: $("job"),
  accounts: $("accounts"),
};

function makeLane(id, kind, org) {
  const root = $(id);
  const fields = {};
  for (const el of root.querySelectorAll("[data-field]")) fields[el.dataset.field] = el;
  return { root, kind, org, fields, state: createLaneState(0), serverPeak: null, phase: "idle" };
}

const lanes = {
  plain: makeLane("lane-plain", "plain", ORG_PLAIN),
  ratewindow: makeLane("lane-rw", "ratewindow", ORG_RW),
};

let settings = { ...DEFAULT_SETTINGS };
let running = null;
let frame = 0;

// ---------------------------------------------------------------------------------------------
// Settings

function readSettings() {
  const num = (el) => Number(el.value);
  const s = {
    ...DEFAULT_SETTINGS,
    limit: num(inputs.limit),
    windowMs: Math.round(num(inputs.window) * 1000),
    latencyMinMs: num(inputs.latencyMin),
    latencyMaxMs: num(inputs.latencyMax),
    jobSize: num(inputs.job),
    accounts: num(inputs.accounts),
  };
  const problems = [];
  if (!Number.isInteger(s.limit) || s.limit < 1) problems.push("the limit must be a whole number of at least 1");
  if (!(s.windowMs > 0)) problems.push("the window must be longer than 0 s");
  if (!(s.latencyMinMs >= 0) || !(s.latencyMaxMs >= s.latencyMinMs)) {
    problems.push("latency needs 0 ≤ min ≤ max");
  }
  if (!Number.isInteger(s.jobSize) || s.jobSize < 1) problems.push("the job needs at least 1 call");
  if (!Number.isInteger(s.accounts) || s.accounts < 1) problems.push("at least 1 account is needed");
  return { settings: s, problems };
}

function writeSettings(s) {
  inputs.limit.value = String(s.limit);
  inputs.window.value = String(s.windowMs / 1000);
  inputs.latencyMin.value = String(s.latencyMinMs);
  inputs.latencyMax.value = String(s.latencyMaxMs);
  inputs.job.value = String(s.jobSize);
  inputs.accounts.value = String(s.accounts);
}

function showError(message) {
  const el = $("form-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeMinimum() {
  const { settings: s, problems } = readSettings();
  const el = $("minimum");
  if (problems.length) {
    el.textContent = "";
    return;
  }
  const min = physicalMinimumMs(s.jobSize, s.limit, s.windowMs);
  el.textContent =
    `Physical minimum for ${s.jobSize} calls at ${s.limit} per ${secs(s.windowMs)}: ` +
    `(⌈${s.jobSize}/${s.limit}⌉ − 1) × ${secs(s.windowMs)} = ${secs(min)}. No client can finish sooner.`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function setText(el, value) {
  if (!el) return;
  const text = value === undefined || value === null || Number.isNaN(value) ? DASH : String(value);
  if (el.textContent !== text) el.textContent = text;
}

/** How long the throttle still holds back: from pausedUntilMs (a time) or pausedForMs (a span). */
function formatPause(state) {
  const until = readStat(state, "pausedUntilMs");
  const span = readStat(state, "pausedForMs");
  let left;
  if (typeof until === "number" && Number.isFinite(until)) {
    // An epoch timestamp or one on the page's monotonic clock: tell them apart by size.
    left = until === 0 ? 0 : until > 1e12 ? until - Date.now() : until - performance.now();
  } else if (typeof span === "number" && Number.isFinite(span)) {
    left = span;
  } else if (until === null || span === null) {
    left = 0;
  } else {
    return DASH;
  }
  return left > 0 ? `${secs(left)} more` : "no";
}

function formatBreaker(v) {
  if (v === undefined || v === null) return DASH;
  if (typeof v === "string" || typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "open" : "closed";
  if (typeof v === "object" && typeof v.state === "string") return v.state;
  return DASH;
}

function renderLane(lane) {
  const { state, fields } = lane;
  const started = state.startedAt !== null;
  const n = state.jobSize;
  const val = (x) => (started ? x : undefined);

  setText(fields.sent, val(state.sent));
  setText(fields.ok, val(state.ok));
  setText(fields.r429, val(state.r429));
  setText(fields.r403, val(state.r403));
  fields.r429?.classList.toggle("bad", state.r429 > 0);
  fields.r403?.classList.toggle("bad", state.r403 > 0);
  fields.ok?.classList.toggle("good", started && state.ok === n && n > 0);

  let retries = state.retries;
  let inFlight = state.inFlight;
  let queued = state.queued;
  if (lane.kind === "ratewindow") {
    const r = readStat(state, "retried");
    retries = typeof r === "number" ? r : Math.max(0, state.sent - n);
    const f = readStat(state, "inFlight");
    const q = readStat(state, "queued");
    inFlight = typeof f === "number" ? f : state.inFlight;
    queued = typeof q === "number" ? q : Math.max(0, n - state.settled - state.inFlight);
    setText(fields.inWindow, started ? readStat(state, "inWindow") : undefined);
    setText(fields.paused, started ? formatPause(state) : DASH);
    setText(fields.breaker, started ? formatBreaker(readStat(state, "breaker")) : DASH);
  }
  setText(fields.retries, val(retries));
  setText(fields.pending, started ? `${inFlight} / ${queued}` : undefined);

  const min = physicalMinimumMs(n, settings.limit, settings.windowMs);
  const elapsed = started ? laneResult(state).elapsedMs : null;
  const failed = lane.phase === "done" && state.ok < n ? ` (${n - state.ok} of ${n} calls failed)` : "";
  setText(fields.elapsed, started ? `${secs(elapsed)} / ${secs(min)}${failed}` : undefined);
  if (fields.progress) fields.progress.style.width = n ? `${(100 * state.settled) / n}%` : "0";

  const peak = peakInWindow(state.completions, settings.windowMs);
  const serverPeak = lane.serverPeak === null ? "" : ` · server-side peak ${lane.serverPeak} / ${settings.limit}`;
  setText(fields.peak, started ? `Peak ${peak} / ${settings.limit}${serverPeak}` : "");

  const disabled = state.r403 > 0;
  lane.root.classList.toggle("is-disabled", disabled && lane.kind === "plain");
  if (fields.banner) {
    fields.banner.hidden = !disabled;
    setText(
      fields["banner-text"],
      `The API disabled ${state.keys403.size} of ${Math.min(settings.accounts, n)} API keys after repeated 429s. ` +
        "A real integration would now stay offline until someone re-enables it.",
    );
  }

  let pill = lane.phase;
  let pillState = lane.phase;
  if (lane.phase === "done") {
    if (disabled) [pill, pillState] = ["credentials disabled", "failed"];
    else if (state.ok < n) [pill, pillState] = [`${n - state.ok} failed`, "failed"];
    else [pill, pillState] = ["done", "done"];
  } else if (lane.phase === "running" && disabled) {
    [pill, pillState] = ["credentials disabled", "failed"];
  }
  setText(fields.status, pill);
  if (fields.status) fields.status.dataset.state = pillState;
}

/** The time axis shared by both charts, so the lanes compare at a glance. */
function chartSpanMs() {
  const min = physicalMinimumMs(settings.jobSize, settings.limit, settings.windowMs);
  let span = min + settings.windowMs;
  for (const lane of Object.values(lanes)) {
    if (lane.state.startedAt !== null) span = Math.max(span, laneResult(lane.state).elapsedMs);
  }
  return span * 1.04;
}

function niceStep(span, maxTicks) {
  const raw = span / maxTicks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function drawChart(lane, spanMs) {
  const canvas = lane.fields.chart;
  if (!canvas) return;
  const cssW = canvas.clientWidth;
  const cssH = canvas.clientHeight;
  if (!cssW || !cssH) return;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);

  const styles = getComputedStyle(lane.root);
  const color = styles.getPropertyValue("--lane-color").trim() || "#0f766e";
  const limitColor = getComputedStyle(document.documentElement).getPropertyValue("--limit").trim() || "#dc2626";
  const { state } = lane;
  const W = settings.windowMs;
  const L = settings.limit;
  const peak = peakInWindow(state.completions, W);
  const yMax = Math.max(Math.ceil(L * 1.25), peak + 1);

  const pad = { l: 34, r: 10, t: 10, b: 22 };
  const pw = cssW - pad.l - pad.r;
  const ph = cssH - pad.t - pad.b;
  const x = (ms) => pad.l + (ms / spanMs) * pw;
  const y = (count) => pad.t + ph - (count / yMax) * ph;

  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.lineWidth = 1;

  // Horizontal grid and count labels.
  const yStep = niceStep(yMax, 4);
  ctx.strokeStyle = "#e6eaee";
  ctx.fillStyle = "#6b7785";
  ctx.textAlign = "right";
  for (let c = 0; c <= yMax; c += yStep) {
    ctx.beginPath();
    ctx.moveTo(pad.l, Math.round(y(c)) + 0.5);
    ctx.lineTo(pad.l + pw, Math.round(y(c)) + 0.5);
    ctx.stroke();
    ctx.fillText(String(Math.round(c)), pad.l - 6, y(c));
  }
  // Time labels.
  const xStep = niceStep(spanMs / 1000, Math.max(2, Math.floor(pw / 70))) * 1000;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let t = 0; t <= spanMs; t += xStep) ctx.fillText(`${Math.round(t / 100) / 10}s`, x(t), pad.t + ph + 6);

  // The physical minimum.
  const min = physicalMinimumMs(state.jobSize || settings.jobSize, L, W);
  ctx.strokeStyle = "#94a3b8";
  ctx.setLineDash([2, 3]);
  ctx.beginPath();
  ctx.moveTo(Math.round(x(min)) + 0.5, pad.t);
  ctx.lineTo(Math.round(x(min)) + 0.5, pad.t + ph);
  ctx.stroke();

  // The series: successful completions in (t - W, t], sampled per pixel column.
  if (state.startedAt !== null) {
    const end = Math.min(laneResult(state).elapsedMs, spanMs);
    const points = [];
    const cols = Math.max(1, Math.ceil(x(end) - pad.l));
    for (let i = 0; i <= cols; i++) {
      const t = Math.min(end, (i / pw) * spanMs);
      points.push([x(t), y(countInWindow(state.completions, t, W))]);
    }
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(points[0][0], y(0));
    for (const [px, py] of points) ctx.lineTo(px, py);
    ctx.lineTo(points[points.length - 1][0], y(0));
    ctx.closePath();
    ctx.globalAlpha = 0.16;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.beginPath();
    points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  // The limit line, drawn last so it stays visible.
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = limitColor;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(pad.l, Math.round(y(L)) + 0.5);
  ctx.lineTo(pad.l + pw, Math.round(y(L)) + 0.5);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = limitColor;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  ctx.fillText(`limit ${L}`, pad.l + pw - 2, y(L) - 3);
  ctx.fillStyle = "#64748b";
  ctx.textAlign = "left";
  ctx.fillText("min", x(min) + 4, pad.t + 12);
}

function renderAll() {
  const span = chartSpanMs();
  for (const lane of Object.values(lanes)) {
    renderLane(lane);
    drawChart(lane, span);
  }
}

function loop() {
  renderAll();
  frame = running ? requestAnimationFrame(loop) : 0;
}

function startLoop() {
  if (!frame) frame = requestAnimationFrame(loop);
}

// ---------------------------------------------------------------------------------------------
// Running

function setBusy(busy) {
  $("start").disabled = busy;
  $("reset").disabled = busy;
  for (const el of Object.values(inputs)) el.disabled = busy;
  form.setAttribute("aria-busy", String(busy));
}

function clearLanes(jobSize) {
  for (const lane of Object.values(lanes)) {
    lane.state = createLaneState(jobSize);
    lane.serverPeak = null;
    lane.phase = "idle";
  }
}

/** Resolves when `pred()` holds (checked every few ms) or after `maxMs`. */
function waitFor(pred, maxMs) {
  const until = performance.now() + maxMs;
  return new Promise((resolve) => {
    const check = () => (pred() || performance.now() >= until ? resolve() : setTimeout(check, 4));
    check();
  });
}

async function readServerPeaks() {
  try {
    const res = await fetch(`${apiBase}/__stats`, { cache: "no-store" });
    if (!res.ok) return;
    const stats = await res.json();
    for (const lane of Object.values(lanes)) {
      const peak = stats?.orgs?.[lane.org]?.maxInWindow;
      lane.serverPeak = typeof peak === "number" ? peak : null;
    }
  } catch {
    // the peaks are a bonus; the lanes' own counters stand
  }
}

/**
 * Runs both lanes at once, each against its own org. `overrides` may set any of limit, windowMs,
 * latencyMinMs, latencyMaxMs, jobSize, accounts (written into the form first).
 */
function run(overrides = {}) {
  if (running) return running;
  running = (async () => {
    if (Object.keys(overrides).length) writeSettings({ ...readSettings().settings, ...overrides });
    const { settings: s, problems } = readSettings();
    if (problems.length) {
      showError(`Check the settings: ${problems.join("; ")}.`);
      throw new Error(problems.join("; "));
    }
    showError("");
    describeMinimum();
    settings = s;
    setBusy(true);
    try {
      await resetApi(fetch, apiBase, s);
      clearLanes(s.jobSize);
      lanes.plain.phase = "running";
      lanes.ratewindow.phase = "running";
      startLoop();
      const doFetch = (input, init) => fetch(input, init);
      // Both lanes share the browser's connections to this origin (6 per host over HTTP/1.1), so
      // requests queue in the browser before they reach the API. The plain lane starts once the
      // ratewindow lane's first window-full is on the wire (at most 150 ms later; each lane's
      // elapsed time counts from its own start), so neither lane's first calls wait behind the
      // other's burst.
      const rwRun = runThrottledLane({
        throttle,
        fetchFn: doFetch,
        apiBase,
        org: ORG_RW,
        settings: s,
        state: lanes.ratewindow.state,
      }).finally(() => (lanes.ratewindow.phase = "done"));
      const firstBatch = Math.min(s.limit, s.jobSize);
      await waitFor(() => lanes.ratewindow.state.sent >= firstBatch || lanes.ratewindow.phase === "done", 150);
      const plainRun = runPlainLane({
        fetchFn: doFetch,
        apiBase,
        org: ORG_PLAIN,
        settings: s,
        state: lanes.plain.state,
      }).finally(() => (lanes.plain.phase = "done"));
      const [plain, ratewindow] = await Promise.all([plainRun, rwRun]);
      await readServerPeaks();
      const results = { plain, ratewindow };
      demo.results = results;
      return results;
    } catch (err) {
      showError(`The run stopped: ${err?.message ?? err}`);
      throw err;
    } finally {
      setBusy(false);
      renderAll();
    }
  })().finally(() => {
    running = null;
  });
  return running;
}

async function reset() {
  if (running) return running.then(reset, reset);
  const { settings: s, problems } = readSettings();
  if (problems.length) {
    showError(`Check the settings: ${problems.join("; ")}.`);
    return;
  }
  settings = s;
  showError("");
  try {
    await resetApi(fetch, apiBase, s);
  } catch (err) {
    showError(`Could not reset the API double: ${err?.message ?? err}`);
  }
  clearLanes(s.jobSize);
  demo.results = null;
  renderAll();
}

const demo = {
  run,
  reset,
  results: null,
  settings: () => ({ ...readSettings().settings }),
};
window.__demo = demo;

form.addEventListener("submit", (e) => {
  e.preventDefault();
  run().catch(() => {
    // already shown next to the form
  });
});
$("reset").addEventListener("click", () => {
  reset();
});
form.addEventListener("input", () => {
  describeMinimum();
  if (!running) {
    const { settings: s, problems } = readSettings();
    if (!problems.length) {
      settings = s;
      renderAll();
    }
  }
});

if (typeof ResizeObserver === "function") {
  const ro = new ResizeObserver(() => {
    if (!frame) renderAll();
  });
  for (const lane of Object.values(lanes)) if (lane.fields.chart) ro.observe(lane.fields.chart);
}

writeSettings(DEFAULT_SETTINGS);
settings = readSettings().settings;
describeMinimum();
renderAll();
