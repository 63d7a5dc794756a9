// Renders one run's results (bench/run.mjs) as BENCHMARKS.md.

import { max, median, min } from "./common.mjs";

const GOALS = { ratio: 1.04, wrapperUs: 5, aheadOfBottleneck: 5 };
const DIAGNOSTIC = new Set(["ratewindow-core", "new-Request", "new-Request-signal"]);

const s1 = (ms) => `${(ms / 1000).toFixed(2)} s`;
const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "—" : Number(x).toFixed(d));
const int = (x) => (x === null || x === undefined || Number.isNaN(x) ? "—" : Math.round(x).toLocaleString("en-US"));
const code = (s) => "`" + String(s).replace(/`/g, "'") + "`";
const range = (lo, hi) => `${lo}–${hi}`;

function table(head, rows) {
  const out = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.join(" | ")} |`);
  return out.join("\n");
}

function qualityGroups(setting) {
  const groups = new Map();
  for (const r of setting.runs) {
    if (!groups.has(r.contender)) groups.set(r.contender, []);
    groups.get(r.contender).push(r);
  }
  return groups;
}

/** The goal checks, from the numbers of this run. */
export function goals(results) {
  const out = [];
  const rwRuns = results.quality.flatMap((s) => s.runs.filter((r) => r.contender === "ratewindow" && !r.error));
  const served = rwRuns.map((r) => r.served429);
  out.push({
    goal: "0 served 429s in every run",
    result: rwRuns.length ? `${served.reduce((a, b) => a + b, 0)} 429s over ${rwRuns.length} runs (${results.quality.map((s) => s.id).join(", ")})` : "no run",
    met: rwRuns.length > 0 && served.every((x) => x === 0),
  });
  const compressed = results.quality.find((s) => s.id === "compressed");
  const ratios = compressed ? compressed.runs.filter((r) => r.contender === "ratewindow" && !r.error).map((r) => r.ratio) : [];
  out.push({
    goal: `≤ ${GOALS.ratio}× the physical minimum (compressed setting)`,
    result: ratios.length ? `${f(median(ratios), 3)}× median, ${range(f(min(ratios), 3), f(max(ratios), 3))}× over ${ratios.length} runs` : "not run",
    met: ratios.length > 0 && max(ratios) <= GOALS.ratio,
  });
  const ov = Object.fromEntries(results.overhead.filter((o) => !o.error).map((o) => [o.contender, o]));
  if (ov.ratewindow && ov.direct) {
    const wrapper = ov.ratewindow.burst.usPerCall - ov.direct.burst.usPerCall;
    const serialWrapper = ov.ratewindow.serial.usPerCall - ov.direct.serial.usPerCall;
    out.push({
      goal: `wrapper ≤ ${GOALS.wrapperUs} µs per call`,
      result: `${f(wrapper, 1)} µs per call in a burst, ${f(serialWrapper, 1)} µs one call at a time (stub fetch's own cost subtracted)`,
      met: Math.max(wrapper, serialWrapper) <= GOALS.wrapperUs,
    });
  }
  const bn = [ov["bottleneck-reservoir"], ov["bottleneck-minTime"]].filter(Boolean);
  if (ov.ratewindow && bn.length) {
    const fastest = Math.max(...bn.map((b) => b.burst.callsPerSecond));
    const x = ov.ratewindow.burst.callsPerSecond / fastest;
    const xs = Math.min(...bn.map((b) => b.serial.usPerCall)) / ov.ratewindow.serial.usPerCall;
    out.push({
      goal: `ahead of bottleneck in overhead by ≥ ${GOALS.aheadOfBottleneck}×`,
      result: `${f(x, 0)}× its calls/s in a burst, ${f(xs, 0)}× less time one call at a time`,
      met: x >= GOALS.aheadOfBottleneck && xs >= GOALS.aheadOfBottleneck,
    });
  }
  return out;
}

function qualitySection(setting) {
  const lines = [];
  const reps = setting.reps;
  const minimumMs = (Math.ceil(setting.n / setting.limit) - 1) * setting.windowMs;
  lines.push(`### ${setting.title}`);
  lines.push("");
  lines.push(
    `Strict double: ${setting.limit} per rolling ${setting.windowMs / 1000} s counted on arrival; uplink and downlink each uniform ` +
      `${range(...setting.uplinkMs)} ms / ${range(...setting.downlinkMs)} ms; ${setting.n} calls fired at once; ` +
      `${reps} run${reps > 1 ? "s" : ""} per contender, each against a fresh double. Physical minimum ` +
      `(⌈${setting.n}/${setting.limit}⌉ − 1) × ${setting.windowMs / 1000} s = **${s1(minimumMs)}**.`,
  );
  lines.push("");
  const rows = [];
  let model = null;
  for (const [contender, runs] of qualityGroups(setting)) {
    const ok = runs.filter((r) => !r.error);
    if (!ok.length) {
      rows.push([`**${contender}**`, "—", "failed", "—", "—", "—", runs[0].error ?? ""]);
      continue;
    }
    const served = ok.map((r) => r.served429);
    const lost = ok.map((r) => r.lost);
    const total = ok.map((r) => r.totalMs);
    const ratio = ok.map((r) => r.ratio);
    const timedOut = ok.some((r) => r.timedOut);
    const spread = ok.length > 1 ? ` (${range(f(min(ratio), 3), f(max(ratio), 3))})` : "";
    const rtt = ok.map((r) => r.rttMs?.max).filter((x) => x !== undefined);
    rows.push([
      contender === "ratewindow" ? "**ratewindow**" : contender,
      code(ok[0].config),
      served.join(" · "),
      lost.join(" · ") + (timedOut ? " (timed out)" : ""),
      s1(median(total)),
      `${f(median(ratio), 3)}×${spread}`,
      `${f(median(ok.map((r) => r.rttMs?.median)), 0)} / ${f(max(rtt), 0)}`,
    ]);
    if (contender === "ratewindow") {
      model = {
        configured: median(ok.map((r) => r.model.configured.completionAnchoredMs)),
        configuredSend: median(ok.map((r) => r.model.configured.sendAnchoredMs)),
        measured: median(ok.map((r) => r.model.measured.completionAnchoredMs)),
      };
    }
  }
  lines.push(
    table(
      ["contender", "configured as", "429s served (per run)", "calls lost (per run)", "total time (median)", "× minimum (median, range)", "round trip ms (median / max)"],
      rows,
    ),
  );
  lines.push("");
  if (model) {
    lines.push(
      `Zero-overhead models on the same latency distribution (bench/lib/sim.mjs, median of 201 simulated runs): ` +
        `completion-anchored, ratewindow's rule, **${s1(model.configured)} = ${f(model.configured / minimumMs, 3)}×**; ` +
        `with the round trips ratewindow's own runs measured (connection set-up and event-loop delay included): ` +
        `${s1(model.measured)} = ${f(model.measured / minimumMs, 3)}×; send-anchored (a perfect sliding log of send times, ` +
        `which is not safe): ${s1(model.configuredSend)} = ${f(model.configuredSend / minimumMs, 3)}×.`,
    );
    lines.push("");
  }
  return lines.join("\n");
}

function overheadSection(results) {
  const ov = results.overhead;
  const direct = ov.find((o) => o.contender === "direct" && !o.error);
  const rw = ov.find((o) => o.contender === "ratewindow" && !o.error);
  const label = (c) =>
    c === "ratewindow" ? "**ratewindow**" : c === "ratewindow-signal" ? "ratewindow + signal" : DIAGNOSTIC.has(c) ? `${c} *(diagnostic)*` : c;
  const rows = ov.map((o) => {
    if (o.error) return [label(o.contender), "—", "failed", "—", "—", "—", "—", o.error];
    const wrapper = direct && o.contender !== "direct" ? f(o.burst.usPerCall - direct.burst.usPerCall, 2) : "—";
    const peer = !o.contender.startsWith("ratewindow") && o.contender !== "direct" && !DIAGNOSTIC.has(o.contender);
    const rel = rw && peer ? f(rw.burst.callsPerSecond / o.burst.callsPerSecond, 2) : "—";
    return [
      label(o.contender),
      code(o.config),
      int(o.burst.calls),
      int(o.burst.callsPerSecond),
      f(o.burst.usPerCall, 2),
      wrapper,
      f(o.serial.usPerCall, 2),
      rel,
    ];
  });
  const o0 = ov.find((o) => !o.error);
  return [
    `Stub fetch answering at once (one shared \`new Response(null)\`), limit 1,000,000 per 1 s so it never binds; ` +
      `a fresh limiter per round; median of ${o0?.rounds ?? "?"} rounds after a warm-up. Burst: all calls started at once ` +
      `(up to ${int(o0?.callsAsked)}; a limiter too slow for that within the round budget gets fewer, its per-call cost ` +
      `does not depend on the count). Serial: one call at a time, each awaited. Peers run without the retry wrapper here. ` +
      `"ratewindow + signal" passes each call \`{ signal }\` of its own AbortController, a common pattern. Diagnostics, to ` +
      `split ratewindow's cost: \`ratewindow-core\` is the Wasm \`Throttle.run\` alone, without pkg/src/api.js's argument ` +
      `handling; \`new-Request\` and \`new-Request-signal\` are the \`new Request(input, init)\` that this handling builds ` +
      `for each call to validate its input the way fetch would, alone (with and without a signal).`,
    "",
    table(
      ["contender", "configured as", "calls per burst", "calls/s (burst)", "µs per call (burst)", "wrapper µs (burst − direct)", "µs per call (serial)", "ratewindow calls/s ÷ this"],
      rows,
    ),
    "",
  ].join("\n");
}

function scaleSection(results) {
  const rows = results.scale.map((r) => {
    if (r.skipped) return [r.contender, "—", int(r.n), `skipped: ${r.skipped}`, "—", "—", "—"];
    if (r.error) return [r.contender, "—", int(r.n), `failed: ${r.error}`, "—", "—", "—"];
    const wasm = r.memory.wasmBytesPerCall === null ? "—" : int(r.memory.wasmBytesPerCall);
    const deq = r.dequeue.complete ? f(r.dequeue.usPerCall, 1) : `${f(r.dequeue.usPerCall, 1)} (first ${int(r.dequeue.calls)})`;
    return [
      r.contender === "ratewindow" ? "**ratewindow**" : r.contender,
      code(r.config),
      int(r.n),
      f(r.enqueue.usPerCall, 2),
      int(r.memory.heapBytesPerCall),
      wasm,
      deq,
    ];
  });
  return [
    "All calls issued at once behind a limiter that lets one run at a time (the stub holds the first until released), " +
      "so the rest wait in the limiter's queue. Enqueue: until the limiter reports them all queued. Memory: after a full GC " +
      "(`node --expose-gc`), with the calls queued minus before, per call; it includes the promise each call returns, which " +
      "the `promises` row measures alone. Wasm memory is ratewindow's linear memory growth (it never shrinks back). " +
      "Dequeue: after release, one at a time, µs per call until all are done or the drain budget ran out " +
      "(then over the first calls). `ratewindow-abort` waits on the window (1 per hour) with an AbortController per call " +
      "and is released by aborting them all: its dequeue column is µs per abort.",
    "",
    table(["contender", "configured as", "queued calls", "enqueue µs/call", "JS heap bytes/call", "Wasm bytes/call", "dequeue µs/call"], rows),
    "",
  ].join("\n");
}

function sizeSection(results) {
  const s = results.size;
  if (!s || s.error) return `Size run failed: ${s?.error ?? "no result"}\n`;
  const shippedRows = s.shipped.map((x) => [code(x.file), int(x.bytes), int(x.gzip9)]);
  shippedRows.push(["**total**", int(s.shippedTotal.bytes), `**${int(s.shippedTotal.gzip9)}**`]);
  const bundleRows = s.bundles.map((b) => [b.name === "ratewindow" ? "**ratewindow**" : b.name, b.what, int(b.minBytes), int(b.minGzip9)]);
  const st = s.startup;
  const startRows = [
    ["ratewindow: `new WebAssembly.Module(bytes)` (first compile in a fresh process)", f(st.wasm?.compileMs, 2)],
    ["ratewindow: `new WebAssembly.Instance(module, imports)`", f(st.wasm?.instantiateMs, 2)],
    ["ratewindow: `await import(\"pkg/node.js\")` (read, compile, instantiate, glue)", f(st.ratewindow?.importMs, 2)],
    ["bottleneck: `await import(\"bottleneck\")`", f(st.bottleneck?.importMs, 2)],
    ["p-throttle: `await import(\"p-throttle\")`", f(st["p-throttle"]?.importMs, 2)],
    ["p-queue: `await import(\"p-queue\")`", f(st["p-queue"]?.importMs, 2)],
  ];
  return [
    "ratewindow's browser payload as shipped (gzip -9 of each file):",
    "",
    table(["file", "bytes", "gzip -9 bytes"], shippedRows),
    "",
    "Bundled for the browser by esbuild (`--bundle --minify --format=esm --platform=browser`), then gzip -9 " +
      "(ratewindow: its JS bundled and minified, plus the .wasm):",
    "",
    table(["package", "what", "min bytes", "min+gzip -9 bytes"], bundleRows),
    "",
    `Start-up in Node, median of ${st.wasm?.samples ?? "?"} fresh processes each:`,
    "",
    table(["what", "ms"], startRows),
    "",
  ].join("\n");
}

export function renderMarkdown(results, { jsonPath, discussion }) {
  const m = results.machine;
  const out = [];
  out.push("# Benchmarks");
  out.push("");
  out.push(
    "Generated by `bench/run.mjs` (`make bench`, or `BENCH=full make bench` for the long profile) from one real run; " +
      "the discussion at the end is `bench/discussion.md`. Do not edit this file by hand: rerun the benchmarks.",
  );
  out.push("");
  out.push(
    `- **Run:** ${results.profile} profile, ${results.date.slice(0, 16).replace("T", " ")} UTC, ${Math.round(results.durationS / 60)} min ` +
      `(${results.durationS} s). Raw numbers: \`${jsonPath}\`.${results.errors?.length ? ` **${results.errors.length} part(s) failed.**` : ""}`,
  );
  out.push(`- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}.`);
  out.push(`- **Runtime:** Node ${m.node} (V8 ${m.v8}).`);
  out.push(
    `- **Packages:** ratewindow ${m.packages.ratewindow} (Wasm ${int(m.wasm.bytes)} bytes, sha256 ${m.wasm.sha256}…), ` +
      `bottleneck ${m.packages.bottleneck}, p-throttle ${m.packages["p-throttle"]}, p-queue ${m.packages["p-queue"]}; ` +
      `esbuild ${m.packages.esbuild} for the size bundles.`,
  );
  out.push("");
  out.push("## Goals");
  out.push("");
  out.push(table(["goal for ratewindow", "this run", "met"], goals(results).map((g) => [g.goal, g.result, g.met ? "yes" : "**no**"])));
  out.push("");
  out.push("## How to read this");
  out.push("");
  out.push(
    [
      "- **429s served** is what the API double answered 429, counted at the server: every one is a request a strict API held against the credentials. It is the number that matters; ratewindow's design goal is zero.",
      "- **calls lost**: calls that did not end with a 200 after every retry (10 retries each, Retry-After honoured).",
      "- **× minimum**: total time (first call to last answer) over (⌈N/L⌉ − 1) × W, the time the last batch could be *sent* at the earliest. Nothing can reach 1.00: the last batch still needs its round trip, and a limiter that never draws a 429 also pays for the round trips it cannot see (see the models under each table).",
      "- Every contender runs in its own process, against its own fresh double, one after another. The double and the client share that process, so round trips include event-loop time; with 100 or more requests in flight at once they are well above the configured 10–120 ms (see the round-trip column).",
      "- **Overhead** is CPU time per call with nothing to wait for; it matters for high-volume in-process use, not for HTTP calls that take milliseconds. The wrapper column subtracts the stub's own cost.",
      "- Each table is from a single machine and run: treat differences under ~10 % as noise.",
    ].join("\n"),
  );
  out.push("");
  out.push("## 1. Rate-limit quality");
  out.push("");
  out.push(
    "Every contender is configured the way its documentation says for \"L per W\", and gets the same retry on 429: " +
      "drain the answer, wait Retry-After, go through its own limiter again (up to 10 retries). ratewindow uses its built-in retry.",
  );
  out.push("");
  for (const setting of results.quality) out.push(qualitySection(setting));
  out.push("## 2. Overhead");
  out.push("");
  out.push(overheadSection(results));
  out.push("## 3. Scale");
  out.push("");
  out.push(scaleSection(results));
  out.push("## 4. Size and start-up");
  out.push("");
  out.push(sizeSection(results));
  if (discussion) {
    out.push(discussion.trim());
    out.push("");
  }
  return out.join("\n");
}
