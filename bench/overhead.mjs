// Overhead: what each limiter costs per call when its limit never binds, with a stub fetch that
// answers at once (one shared `new Response(null)`, status 200).
//
//   node bench/overhead.mjs --contender NAME [--calls 20000] [--rounds 5] [--budget-ms 2000]
//                           [--serial-ms 500] [--out FILE]
//
// Two measures, each the median of `rounds` rounds after a warm-up round, each round with a fresh
// limiter (limit 1,000,000 per 1,000 ms, so the limit never binds):
// - burst: `calls` calls started at once, until all resolved: calls/s and µs per call. A limiter
//   too slow to do `calls` calls within `budget-ms` gets fewer calls per round (the count used is
//   reported): its cost per call does not depend on the count.
// - serial: one call at a time, each awaited before the next, for about `serial-ms` per round
//   (at most `calls` calls): µs per call, the latency a lone call pays (timers, promise hops).
// NAME "direct" calls the stub with no limiter: the baseline subtracted to get the wrapper cost.
// Diagnostics: "ratewindow-core" is the Wasm core without pkg/src/api.js's prepare();
// "ratewindow-signal" passes each call an AbortSignal of its own; "new-Request" and
// "new-Request-signal" are what prepare()'s `new Request(input, init)` validation costs alone.

import { performance } from "node:perf_hooks";
import { emit, median, parseArgs, tick } from "./lib/common.mjs";
import { load, make } from "./lib/contenders.mjs";

const args = parseArgs();
const name = String(args.contender ?? "ratewindow");
const calls = Number(args.calls ?? 20_000);
const rounds = Number(args.rounds ?? 5);
const budgetMs = Number(args["budget-ms"] ?? 2_000);
const serialMs = Number(args["serial-ms"] ?? 500);
const LIMIT = 1_000_000;
const WINDOW_MS = 1_000;
const URL_ = "http://127.0.0.1:9/api/items";

await load(name.replace(/-signal$/, ""));
const RESPONSE = new Response(null, { status: 200 });
const stub = async () => RESPONSE;

function fresh() {
  switch (name) {
    case "direct":
      return { config: "the stub itself, no limiter", call: stub, close() {} };
    case "new-Request":
      // Diagnostic: what validating the input as fetch would (`new Request(input, init)`) costs.
      return {
        config: "new Request(url), then the stub",
        call: (input, init) => {
          new Request(input, init);
          return stub(input, init);
        },
        close() {},
      };
    case "new-Request-signal":
      return {
        config: "new Request(url, { signal }), then the stub",
        call: (input) => {
          const init = { signal: new AbortController().signal };
          new Request(input, init);
          return stub(input, init);
        },
        close() {},
      };
    case "ratewindow-signal": {
      // ratewindow as called with an AbortSignal of its own per call (a common pattern).
      const c = make("ratewindow", stub, { limit: LIMIT, windowMs: WINDOW_MS });
      return {
        ...c,
        config: c.config + "; each call gets { signal } of its own AbortController",
        call: (input) => c.call(input, { signal: new AbortController().signal }),
      };
    }
    default:
      return make(name, stub, { limit: LIMIT, windowMs: WINDOW_MS });
  }
}

async function burst(count) {
  const c = fresh();
  const promises = new Array(count);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) promises[i] = c.call(URL_);
  await Promise.all(promises);
  const ms = performance.now() - t0;
  c.close();
  return ms;
}

async function serial() {
  const c = fresh();
  let done = 0;
  const t0 = performance.now();
  let t = t0;
  while (done < calls && t - t0 < serialMs) {
    // Reads the clock every 16 calls only.
    for (let k = 0; k < 16 && done < calls; k++, done++) await c.call(URL_);
    t = performance.now();
  }
  c.close();
  return { ms: t - t0, done };
}

const config = fresh().config;

// Warm-up: small bursts to size the rounds (the fastest of three, the first being cold), then a
// full-size one (JIT, Wasm tier-up).
const probe = Math.min(calls, 500);
let probeMs = Infinity;
for (let i = 0; i < 3; i++) probeMs = Math.min(probeMs, await burst(probe));
const count = Math.max(Math.min(calls, 200), Math.min(calls, Math.floor((budgetMs / probeMs) * probe)));
await burst(count);
await serial();
await tick();

const burstMs = [];
const serialUs = [];
const serialCalls = [];
for (let r = 0; r < rounds; r++) {
  burstMs.push(await burst(count));
  await tick();
  const s = await serial();
  serialUs.push((s.ms * 1000) / s.done);
  serialCalls.push(s.done);
  await tick();
}

const burstMedian = median(burstMs);
emit(args, {
  contender: name,
  config,
  callsAsked: calls,
  rounds,
  burst: {
    calls: count,
    msPerRound: burstMs,
    callsPerSecond: (count / burstMedian) * 1000,
    usPerCall: (burstMedian * 1000) / count,
  },
  serial: {
    callsPerRound: serialCalls,
    usPerCallRounds: serialUs,
    usPerCall: median(serialUs),
    callsPerSecond: 1e6 / median(serialUs),
  },
});
process.exit(0);
