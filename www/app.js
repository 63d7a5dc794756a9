// The demo page: two lanes run the same job against the API double, one with plain fetch, one
// through ratewindow, each against its own organization's budget (org-a and org-b). The "Fewer
// requests: cache + bulk" switch turns the job into a realistic mix and lets the ratewindow lane
// cache reads and batch labels; its panel compares that with one request per call.
//
// window.__demo = { run(overrides?), stop(), reset(), results, settings() } drives it from tests.

import { throttle, batcher } from "/pkg/browser.js";
import {
  DEFAULT_SETTINGS,
  FEWER,
  cacheStats,
  countInWindow,
  createLaneState,
  jobCall,
  jobMix,
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

/** The settings a preset sets. */
const PRESET_FIELDS = ["limit", "windowMs", "latencyMinMs", "latencyMaxMs", "jobSize", "accounts"];
/** The presets of the selector: compressed time (the default) and the real API's numbers. */
const PRESETS = Object.freeze({
  // The lanes' defaults are the compressed preset.
  compressed: Object.freeze(Object.fromEntries(PRESET_FIELDS.map((k) => [k, DEFAULT_SETTINGS[k]]))),
  real: Object.freeze({
    limit: 200,
    windowMs: 60_000,
    latencyMinMs: 50,
    latencyMaxMs: 250,
    jobSize: 400,
    accounts: 3,
  }),
});

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
const presetSelect = $("preset");
const inputs = {
  limit: $("limit"),
  window: $("window"),
  latencyMin: $("latency-min"),
  latencyMax: $("latency-max"),
  job: $("job"),
  accounts: $("accounts"),
  fewer: $("fewer"),
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

/** The "Fewer requests" panel: its elements by data-fewer name. */
const fewerPanel = (() => {
  const root = $("fewer-panel");
  const fields = {};
  for (const el of root.querySelectorAll("[data-fewer]")) fields[el.dataset.fewer] = el;
  return { root, fields };
})();

let settings = { ...DEFAULT_SETTINGS };
let running = null;
let controller = null;
let frame = 0;
/** The y scale both charts share, eased towards its target so a rescale never jumps. */
let chartYMax = 0;

// ---------------------------------------------------------------------------------------------
// Settings

function readSettings() {
  const num = (el) => (el.value.trim() === "" ? NaN : Number(el.value));
  const s = {
    ...DEFAULT_SETTINGS,
    limit: num(inputs.limit),
    windowMs: Math.round(num(inputs.window) * 1000),
    latencyMinMs: num(inputs.latencyMin),
    latencyMaxMs: num(inputs.latencyMax),
    jobSize: num(inputs.job),
    accounts: num(inputs.accounts),
    fewer: inputs.fewer.checked,
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
  inputs.fewer.checked = Boolean(s.fewer);
  syncPreset();
}

/** Shows the preset the form matches, or "custom". */
function syncPreset() {
  const { settings: s } = readSettings();
  const match = Object.entries(PRESETS).find(([, p]) => PRESET_FIELDS.every((k) => p[k] === s[k]));
  presetSelect.value = match ? match[0] : "custom";
}

function showError(message) {
  const el = $("form-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A window length as people say it: "3 s", "0.5 s", "60 s". */
function windowText(ms) {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

function describeMinimum() {
  const { settings: s, problems } = readSettings();
  const el = $("minimum");
  el.replaceChildren();
  if (problems.length) return;
  const min = physicalMinimumMs(s.jobSize, s.limit, s.windowMs);
  const b = (text) => Object.assign(document.createElement("b"), { textContent: text });
  el.append(
    "Physical minimum for ",
    b(`${s.jobSize} calls`),
    ` at ${s.limit} per ${windowText(s.windowMs)}: `,
    b(secs(min)),
    `, (⌈${s.jobSize}/${s.limit}⌉ − 1) × ${windowText(s.windowMs)}. `,
    s.fewer
      ? "No client sending one request per call can finish sooner; cache + bulk send fewer."
      : "No client can finish sooner.",
  );
}

/** Writes the current limit and window into the explanation and the chart legends. */
function describeRule(s) {
  for (const el of document.querySelectorAll("[data-rule]")) {
    const text =
      el.dataset.rule === "limit"
        ? String(s.limit)
        : el.dataset.rule === "over"
          ? String(s.limit + 1)
          : windowText(s.windowMs);
    if (el.textContent !== text) el.textContent = text;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

function setText(el, value) {
  if (!el) return;
  const text = value === undefined || value === null || Number.isNaN(value) ? DASH : String(value);
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle("empty", text === DASH);
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

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The lane's verdict: [data-state, title, text]. */
function verdictOf(lane) {
  const { state, kind, phase } = lane;
  const n = state.jobSize || settings.jobSize;
  const keys = Math.min(settings.accounts, n);
  const fewer = kind === "ratewindow" && (state.startedAt === null ? settings.fewer : state.fewer);
  const via =
    kind === "plain"
      ? settings.fewer && state.startedAt === null
        ? "with plain fetch, one request each"
        : "with plain fetch"
      : fewer
        ? "through ratewindow with cache + bulk"
        : "through ratewindow";
  if (state.startedAt === null) {
    if (phase === "running") return ["running", "Starting…", "Resetting the API double."];
    return ["idle", "Ready", `Press Start to send ${plural(n, "call")} ${via}, all at once.`];
  }
  const failed = n - state.ok;
  if (state.r403 > 0) {
    const after = `after ${state.r429}\u00a0×\u00a0429`;
    const tail =
      phase === "running"
        ? "Every call with those keys now gets 403."
        : `${failed} of ${n} calls failed; a real integration stays offline until someone re-enables its keys.`;
    return [
      "disabled",
      "Credentials disabled",
      `The API disabled ${state.keys403.size} of ${plural(keys, "API key")} ${after}. ${tail}`,
    ];
  }
  if (phase === "stopped") {
    const what =
      kind === "ratewindow"
        ? "the queued calls were rejected at once through their AbortSignal"
        : "requests in flight were aborted";
    return ["stopped", "Stopped", `${state.ok} of ${n} calls succeeded before Stop; ${what}.`];
  }
  if (phase === "running") {
    const r = state.r429 ? `${state.r429}\u00a0×\u00a0429 so far` : "no 429s so far";
    const requests = fewer ? ` with ${plural(state.sent, "request")}` : "";
    return ["running", "Running…", `${state.ok} of ${n} calls succeeded${requests}, ${r}.`];
  }
  const elapsed = laneResult(state).elapsedMs;
  const min = physicalMinimumMs(n, settings.limit, settings.windowMs);
  if (fewer && failed === 0 && state.r429 === 0) {
    const without = min > 0 ? `; one request per call needs at least ${secs(min)}` : "";
    return [
      "ok",
      `All ${n} calls succeeded`,
      `Zero 429s, with ${plural(state.sent, "request")}. ${secs(elapsed)}${without}.`,
    ];
  }
  if (failed === 0 && state.r429 === 0) {
    return [
      "ok",
      `All ${n} calls succeeded`,
      `Zero 429s. ${secs(elapsed)}, against a physical minimum of ${secs(min)}.`,
    ];
  }
  if (failed === 0) {
    return ["warn", `All calls succeeded, after ${state.r429}\u00a0×\u00a0429`, "Each 429 is a strike towards disabled credentials."];
  }
  return ["warn", `${failed} of ${n} calls failed`, `${state.r429}\u00a0×\u00a0429 on the way; the retries ran out.`];
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
  fields.r429?.classList.toggle("good", started && lane.phase === "done" && state.r429 === 0);
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
    const inWindow = readStat(state, "inWindow");
    setText(fields.inWindow, started && typeof inWindow === "number" ? `${inWindow} / ${settings.limit}` : undefined);
    setText(fields.paused, started ? formatPause(state) : undefined);
    setText(fields.breaker, started ? formatBreaker(readStat(state, "breaker")) : undefined);
  } else {
    setText(fields.keys, started ? `${state.keys403.size} / ${Math.min(settings.accounts, n)}` : undefined);
  }
  setText(fields.retries, val(retries));
  setText(fields.queued, val(queued));
  setText(fields.inFlight, val(inFlight));

  // Elapsed, then the physical minimum in smaller type.
  const min = physicalMinimumMs(n || settings.jobSize, settings.limit, settings.windowMs);
  if (fields.elapsed) {
    if (!started) setText(fields.elapsed, undefined);
    else {
      const main = secs(laneResult(state).elapsedMs);
      const sub = ` / ${secs(min)}`;
      if (fields.elapsed.textContent !== main + sub) {
        const small = document.createElement("small");
        small.textContent = sub;
        fields.elapsed.replaceChildren(main, small);
        fields.elapsed.classList.remove("empty");
      }
    }
  }
  const pct = n ? Math.round((100 * state.settled) / n) : 0;
  if (fields.progress) {
    fields.progress.style.width = `${pct}%`;
    fields.progress.parentElement?.setAttribute("aria-valuenow", String(pct));
  }

  const peak = peakInWindow(state.sends, settings.windowMs);
  const serverPeak = lane.serverPeak === null ? "" : ` · the server accepted at most ${lane.serverPeak}`;
  setText(
    fields.peak,
    started && state.sends.length
      ? `Peak: ${peak} sent in one ${windowText(settings.windowMs)} window (limit ${settings.limit})${serverPeak}`
      : "",
  );

  if (lane.kind === "ratewindow") renderRwSub(lane);

  const [vState, vTitle, vText] = verdictOf(lane);
  if (fields.verdict) fields.verdict.dataset.state = vState;
  setText(fields["verdict-title"], vTitle);
  setText(fields["verdict-text"], vText);
  lane.root.classList.toggle("is-disabled", vState === "disabled");

  let pill = lane.phase;
  let pillState = lane.phase;
  if (vState === "disabled") [pill, pillState] = ["credentials disabled", "failed"];
  else if (lane.phase === "done" && state.ok < n) [pill, pillState] = [`${n - state.ok} failed`, "failed"];
  setText(fields.status, pill);
  if (fields.status) fields.status.dataset.state = pillState;
}

/** The ratewindow lane's description: what it wraps, with or without cache + bulk. */
function renderRwSub(lane) {
  const sub = lane.fields.sub;
  const fewer = lane.state.startedAt === null ? settings.fewer : lane.state.fewer;
  if (!sub || sub.dataset.fewer === String(fewer)) return;
  sub.dataset.fewer = String(fewer);
  const code = (text) => Object.assign(document.createElement("code"), { textContent: text });
  const nowrap = (...parts) => {
    const span = Object.assign(document.createElement("span"), { className: "nowrap" });
    span.append(...parts);
    return span;
  };
  if (fewer) {
    sub.replaceChildren(
      "Through ",
      nowrap(code("throttle(fetch, { …, cache })")),
      " and ",
      nowrap(code("batcher"), "."),
    );
  } else {
    sub.replaceChildren("Every call at once, through ", nowrap(code("throttle(fetch, { limit, windowMs })"), "."));
  }
}

/** A share as a whole percentage, 0 to 100. */
function percent(part, whole) {
  return whole > 0 ? Math.round((100 * Math.max(0, Math.min(part, whole))) / whole) : 0;
}

function setBar(el, share) {
  if (el) el.style.width = `${Math.max(0, Math.min(100, share))}%`;
}

/** Writes `main` and a smaller `sub` into a figure (only when they change). */
function setFigure(el, main, sub) {
  if (!el) return;
  if (el.dataset.value === `${main}|${sub}`) return;
  el.dataset.value = `${main}|${sub}`;
  const small = document.createElement("small");
  small.textContent = sub;
  el.replaceChildren(String(main), small);
  el.classList.toggle("empty", main === DASH);
}

/** The "Fewer requests: cache + bulk" panel: requests and time saved, live. */
function renderFewer() {
  const { root, fields: f } = fewerPanel;
  const lane = lanes.ratewindow;
  const { state } = lane;
  const on = state.startedAt === null ? settings.fewer : state.fewer;
  const started = state.startedAt !== null && state.fewer;
  const phase = !on ? "off" : started ? lane.phase : "ready";
  root.dataset.state = phase;
  setText(f.status, phase === "ready" ? "on" : phase);
  if (f.status) f.status.dataset.state = phase === "ready" ? "on" : phase;
  f.off.hidden = on;
  f.on.hidden = !on;
  if (!on) return;

  const n = state.jobSize || settings.jobSize;
  const accounts = Math.min(settings.accounts, Math.ceil(n / 3));
  const { reads, labels } = jobMix(n, true);
  const min = physicalMinimumMs(n, settings.limit, settings.windowMs);
  setText(
    f.mix,
    `${plural(n, "call")}: ${plural(accounts, "worker")} read custom categories and locations for each item (${plural(reads, "read")}), ` +
      `then label it with a category (${plural(labels, "label")}). One request per call would be ${plural(n, "request")}` +
      (min > 0 ? `, at least ${secs(min)} at ${settings.limit} per ${windowText(settings.windowMs)}.` : "."),
  );

  if (!started) {
    setFigure(f.requests, DASH, ` / ${plural(n, "call")}`);
    setFigure(f.saved, DASH, ` of ${plural(reads, "read")}`);
    setFigure(f.bulk, DASH, ` for ${plural(labels, "label")}`);
    setFigure(f.elapsed, DASH, min > 0 ? ` / ≥ ${secs(min)}` : "");
    setBar(f["requests-bar"], 0);
    setBar(f["elapsed-bar"], 0);
    setText(f["requests-note"], "Without cache + bulk: one request per call.");
    setText(f["saved-note"], "Reads answered without a request, per API key.");
    setText(f["bulk-note"], `batcher({ maxSize: ${FEWER.bulkMaxSize}, maxWaitMs: ${FEWER.bulkMaxWaitMs} }), one per worker.`);
    setText(f["elapsed-note"], "Press Start to measure.");
    setText(f.foot, "");
    return;
  }

  const result = laneResult(state);
  const cache = cacheStats(state);
  const sent = state.sent;
  const stopped = lane.phase === "stopped";
  setFigure(f.requests, sent, ` / ${plural(n, "call")}`);
  setBar(f["requests-bar"], percent(sent, n));
  setText(
    f["requests-note"],
    stopped
      ? `Stopped after ${state.ok} of ${plural(n, "call")}.`
      : sent < n
        ? `${percent(n - sent, n)} % fewer than one request per call.`
        : "One request per call so far.",
  );
  setFigure(f.saved, cache.saved, ` of ${plural(reads, "read")}`);
  setText(f["saved-note"], `${cache.hits} from the cache · ${cache.deduped} joined a read in flight.`);
  setFigure(f.bulk, state.bulk.requests, ` for ${plural(state.bulk.items, "label")}`);
  setText(
    f["bulk-note"],
    state.bulk.items > 0
      ? `${plural(state.bulk.items, "label")} in ${plural(state.bulk.requests, "bulk request")}, instead of one each.`
      : "Labels wait for their item's reads.",
  );
  const elapsed = result.elapsedMs;
  setFigure(f.elapsed, secs(elapsed), min > 0 ? ` / ≥ ${secs(min)}` : "");
  setBar(f["elapsed-bar"], min > 0 ? percent(elapsed, min) : 0);
  setText(
    f["elapsed-note"],
    stopped
      ? "Stopped before the end of the job."
      : min <= 0
        ? "The job fits in one window either way."
        : elapsed < min
          ? `At least ${percent(min - elapsed, min)} % faster than one request per call.`
          : "No faster than one request per call.",
  );
  setText(
    f.foot,
    lane.serverRequests === null || lane.serverRequests === undefined
      ? ""
      : `The API double counted ${plural(lane.serverRequests, "request")} from this lane for ${plural(n, "call")}.`,
  );
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

/** The y scale both charts need: room above the limit and above the highest peak. */
function chartYTarget() {
  let top = Math.ceil(settings.limit * 1.25);
  for (const lane of Object.values(lanes)) {
    top = Math.max(top, Math.ceil(peakInWindow(lane.state.sends, settings.windowMs) * 1.08));
  }
  return top;
}

function drawChart(lane, spanMs, yMax) {
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
  const rootStyles = getComputedStyle(document.documentElement);
  const limitColor = rootStyles.getPropertyValue("--limit").trim() || "#dc2626";
  const { state } = lane;
  const W = settings.windowMs;
  const L = settings.limit;

  const pad = { l: 36, r: 12, t: 12, b: 24 };
  const pw = cssW - pad.l - pad.r;
  const ph = cssH - pad.t - pad.b;
  const x = (ms) => pad.l + (ms / spanMs) * pw;
  const y = (count) => pad.t + ph - (Math.min(count, yMax * 1.02) / yMax) * ph;
  const font = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";
  ctx.font = font;
  ctx.lineWidth = 1;

  // Horizontal grid and count labels.
  const yStep = Math.max(1, niceStep(yMax, 4));
  ctx.strokeStyle = "#e6eaee";
  ctx.fillStyle = "#64748b";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let c = 0; c <= yMax + 1e-9; c += yStep) {
    const yy = Math.round(y(c)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.l, yy);
    ctx.lineTo(pad.l + pw, yy);
    ctx.stroke();
    ctx.fillText(String(Math.round(c)), pad.l - 7, yy);
  }
  // Time labels.
  const xStep = niceStep(spanMs / 1000, Math.max(2, Math.floor(pw / 64))) * 1000;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let t = 0; t <= spanMs; t += xStep) {
    const label = `${Math.round(t / 100) / 10} s`;
    const px = x(t);
    if (px - ctx.measureText(label).width / 2 < 2) ctx.textAlign = "left";
    ctx.fillText(label, Math.max(px, t === 0 ? pad.l : px), pad.t + ph + 7);
    ctx.textAlign = "center";
  }

  // The physical minimum.
  const min = physicalMinimumMs(state.jobSize || settings.jobSize, L, W);
  const xm = Math.round(x(min)) + 0.5;
  ctx.strokeStyle = "#94a3b8";
  ctx.setLineDash([2, 3]);
  ctx.beginPath();
  ctx.moveTo(xm, pad.t);
  ctx.lineTo(xm, pad.t + ph);
  ctx.stroke();
  ctx.setLineDash([]);

  const started = state.startedAt !== null;
  if (started && state.sends.length) {
    // The series: requests sent in (t - W, t], sampled per pixel column, up to now.
    const end = Math.min(laneResult(state).elapsedMs, spanMs);
    const cols = Math.max(1, Math.ceil(x(end) - pad.l));
    const points = [];
    for (let i = 0; i <= cols; i++) {
      const t = Math.min(end, (i / pw) * spanMs);
      points.push([x(t), y(countInWindow(state.sends, t, W))]);
    }
    const area = new Path2D();
    area.moveTo(points[0][0], y(0));
    for (const [px, py] of points) area.lineTo(px, py);
    area.lineTo(points[points.length - 1][0], y(0));
    area.closePath();
    ctx.globalAlpha = 0.16;
    ctx.fillStyle = color;
    ctx.fill(area);
    // Whatever pokes above the limit is what the API refused.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.l, 0, pw, y(L));
    ctx.clip();
    ctx.globalAlpha = 0.35;
    ctx.fillStyle = limitColor;
    ctx.fill(area);
    ctx.restore();
    ctx.globalAlpha = 1;

    ctx.beginPath();
    points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineWidth = 1;
    if (lane.phase === "running") {
      const [px, py] = points[points.length - 1];
      ctx.beginPath();
      ctx.arc(px, py, 3.5, 0, Math.PI * 2);
      ctx.fillStyle = color;
      ctx.fill();
    }
  } else {
    ctx.fillStyle = "#64748b";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = `13px system-ui, -apple-system, 'Segoe UI', sans-serif`;
    const msg = lane.phase === "running" ? "Waiting for the first request…" : "No requests yet: press Start";
    ctx.fillText(msg, pad.l + pw / 2, pad.t + ph * 0.62);
    ctx.font = font;
  }

  // The limit line, drawn last so it stays visible.
  const yl = Math.round(y(L)) + 0.5;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = limitColor;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(pad.l, yl);
  ctx.lineTo(pad.l + pw, yl);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.lineWidth = 1;
  const label = `limit ${L}`;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  const lw = ctx.measureText(label).width;
  ctx.fillStyle = "rgba(251, 252, 253, 0.9)";
  ctx.fillRect(pad.l + pw - lw - 6, yl - 16, lw + 6, 14);
  ctx.fillStyle = limitColor;
  ctx.fillText(label, pad.l + pw - 2, yl - 3);
  ctx.fillStyle = "#64748b";
  ctx.textAlign = xm + 60 > pad.l + pw ? "right" : "left";
  ctx.textBaseline = "top";
  ctx.fillText("minimum", ctx.textAlign === "left" ? xm + 4 : xm - 4, pad.t + 2);
}

let lastFrameAt = 0;

function renderAll() {
  const span = chartSpanMs();
  const target = chartYTarget();
  const now = performance.now();
  if (!running || !chartYMax) chartYMax = target;
  else {
    // Ease towards the target (about 150 ms), so the axis rescales smoothly.
    const k = 1 - Math.exp(-Math.max(0, now - lastFrameAt) / 150);
    chartYMax += (target - chartYMax) * k;
    if (Math.abs(target - chartYMax) < 0.05) chartYMax = target;
  }
  lastFrameAt = now;
  for (const lane of Object.values(lanes)) {
    renderLane(lane);
    drawChart(lane, span, chartYMax);
  }
  renderFewer();
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
  $("stop").disabled = !busy;
  presetSelect.disabled = busy;
  for (const el of Object.values(inputs)) el.disabled = busy;
  form.setAttribute("aria-busy", String(busy));
}

function clearLanes(jobSize) {
  for (const lane of Object.values(lanes)) {
    lane.state = createLaneState(jobSize);
    lane.serverPeak = null;
    lane.serverRequests = null;
    lane.phase = "idle";
  }
}

/** How many different reads (resource and API key) a job with cache + bulk sends. */
function distinctReads(s) {
  const seen = new Set();
  for (let i = 0; i < s.jobSize; i++) {
    const call = jobCall(i, s);
    if (call.kind === "read") seen.add(`${call.resource} ${call.account}`);
  }
  return seen.size;
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
      const org = stats?.orgs?.[lane.org];
      lane.serverPeak = typeof org?.maxInWindow === "number" ? org.maxInWindow : null;
      lane.serverRequests = typeof org?.arrivals === "number" ? org.arrivals : null;
    }
  } catch {
    // the peaks are a bonus; the lanes' own counters stand
  }
}

/**
 * Runs both lanes at once, each against its own org. `overrides` may set any of limit, windowMs,
 * latencyMinMs, latencyMaxMs, jobSize, accounts, fewer (written into the form first). Resolves
 * `{ plain, ratewindow, stopped, fewer }` (each lane: { sent, ok, r429, r403, retries, aborted,
 * elapsedMs }; with `fewer`, the ratewindow lane adds `calls`, `cache` (its stats().cache) and
 * `bulk` ({ items, requests })), also when stopped.
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
    describeRule(s);
    settings = s;
    controller = new AbortController();
    const { signal } = controller;
    setBusy(true);
    try {
      clearLanes(s.jobSize);
      lanes.plain.phase = "running";
      lanes.ratewindow.phase = "running";
      startLoop();
      await resetApi(fetch, apiBase, s);
      // The API double's GET answers are cacheable: the browser's own HTTP cache is kept out, so
      // every lane's requests reach the API and a second run starts as cold as the first.
      const doFetch = (input, init) => fetch(input, { ...init, cache: "no-store" });
      const ended = (lane) => () => (lane.phase = signal.aborted ? "stopped" : "done");
      // Both lanes share the browser's connections to this origin (6 per host over HTTP/1.1), so
      // requests queue in the browser before they reach the API. The plain lane starts once the
      // ratewindow lane's first window-full is on the wire (at most 150 ms later; each lane's
      // elapsed time counts from its own start), so neither lane's first calls wait behind the
      // other's burst.
      const rwRun = runThrottledLane({
        throttle,
        batcher,
        fetchFn: doFetch,
        apiBase,
        org: ORG_RW,
        settings: s,
        state: lanes.ratewindow.state,
        signal,
      }).finally(ended(lanes.ratewindow));
      // With cache + bulk the first requests are one read of each resource per worker.
      const firstBatch = s.fewer
        ? Math.min(s.limit, distinctReads(s))
        : Math.min(s.limit, s.jobSize);
      await waitFor(
        () => lanes.ratewindow.state.sent >= firstBatch || lanes.ratewindow.phase !== "running" || signal.aborted,
        150,
      );
      const plainRun = runPlainLane({
        fetchFn: doFetch,
        apiBase,
        org: ORG_PLAIN,
        settings: s,
        state: lanes.plain.state,
        signal,
      }).finally(ended(lanes.plain));
      const [plain, ratewindow] = await Promise.all([plainRun, rwRun]);
      await readServerPeaks();
      const results = { plain, ratewindow, stopped: signal.aborted, fewer: s.fewer };
      demo.results = results;
      return results;
    } catch (err) {
      for (const lane of Object.values(lanes)) if (lane.phase === "running") lane.phase = "idle";
      showError(`The run stopped: ${err?.message ?? err}`);
      throw err;
    } finally {
      controller = null;
      setBusy(false);
      renderAll();
    }
  })().finally(() => {
    running = null;
  });
  return running;
}

/** Stops a run: every pending call of both lanes is aborted. Resolves when the run has ended. */
function stop() {
  if (!running) return Promise.resolve(demo.results);
  controller?.abort(new DOMException("Stopped by the user", "AbortError"));
  return running.catch(() => null);
}

/** Stops any run, then empties the lanes and the API double's windows. */
async function reset() {
  if (running) await stop();
  const { settings: s, problems } = readSettings();
  if (problems.length) {
    showError(`Check the settings: ${problems.join("; ")}.`);
    return;
  }
  settings = s;
  describeRule(s);
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
  stop,
  reset,
  results: null,
  settings: () => ({ ...readSettings().settings }),
  presets: PRESETS,
};
window.__demo = demo;

form.addEventListener("submit", (e) => {
  e.preventDefault();
  run().catch(() => {
    // already shown next to the form
  });
});
$("stop").addEventListener("click", () => {
  stop();
});
$("reset").addEventListener("click", () => {
  reset();
});
presetSelect.addEventListener("change", () => {
  const p = PRESETS[presetSelect.value];
  if (!p || running) return;
  writeSettings({ ...readSettings().settings, ...p });
  onSettingsEdited();
});

function onSettingsEdited() {
  describeMinimum();
  if (running) return;
  const { settings: s, problems } = readSettings();
  if (!problems.length) {
    settings = s;
    describeRule(s);
    // The lanes' last results belong to the old settings: show the new job as not run yet.
    clearLanes(s.jobSize);
    demo.results = null;
    renderAll();
  }
}

form.addEventListener("input", (e) => {
  if (e.target !== presetSelect) syncPreset();
  onSettingsEdited();
});

if (typeof ResizeObserver === "function") {
  const ro = new ResizeObserver(() => {
    if (!frame) renderAll();
  });
  for (const lane of Object.values(lanes)) if (lane.fields.chart) ro.observe(lane.fields.chart);
}

writeSettings(PRESETS.compressed);
settings = readSettings().settings;
clearLanes(settings.jobSize);
describeMinimum();
describeRule(settings);
renderAll();
