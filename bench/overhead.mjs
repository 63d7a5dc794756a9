// Overhead: what each limiter costs per call when its limit never binds, with a stub fetch that
// answers at once (one shared `new Response(null)`, status 200).
//
//   node bench/overhead.mjs --contender NAME [--calls 20000] [--rounds 5] [--serial-ms 500] [--out FILE]
//
// Two measures, each the median of `rounds` rounds after one warm-up round, each round with a
// fresh limiter (limit 1,000,000 per 1,000 ms):
// - burst: `calls` calls started at once, until all resolved: calls/s and µs per call;
// - serial: one call at a time, each awaited before the next, for about `serial-ms` per round
//   (at most `calls` calls): µs per call, which includes the limiter's latency (timers, hops).
// NAME "direct" calls the stub with no limiter: the baseline subtracted to get the wrapper cost.

import { performance } from "node:perf_hooks";
import { emit, median, parseArgs, tick } from "./lib/common.mjs";
import { make } from "./lib/contenders.mjs";

const args = parseArgs();
const name = String(args.contender ?? "ratewindow");
const calls = Number(args.calls ?? 20_000);
const rounds = Number(args.rounds ?? 5);
const serialMs = Number(args["serial-ms"] ?? 500);
const LIMIT = 1_000_000;
const WINDOW_MS = 1_000;
const URL_ = "http://127.0.0.1:9/api/items";

const RESPONSE = new Response(null, { status: 200 });
const stub = async () => RESPONSE;

function fresh() {
  if (name === "direct") return { config: "the stub itself, no limiter", call: stub, close() {} };
  return make(name, stub, { limit: LIMIT, windowMs: WINDOW_MS });
}

async function burst() {
  const c = fresh();
  const promises = new Array(calls);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) promises[i] = c.call(URL_);
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
    // Check the clock every 64 calls only.
    for (let k = 0; k < 64 && done < calls; k++, done++) await c.call(URL_);
    t = performance.now();
  }
  c.close();
  return { ms: t - t0, done };
}

const config = fresh().config;
const burstMs = [];
const serialUs = [];
let serialCalls = 0;
for (let r = 0; r <= rounds; r++) {
  const b = await burst();
  await tick();
  const s = await serial();
  await tick();
  if (r === 0) continue; // warm-up
  burstMs.push(b);
  serialUs.push((s.ms * 1000) / s.done);
  serialCalls = s.done;
}

const burstMedian = median(burstMs);
emit(args, {
  contender: name,
  config,
  calls,
  rounds,
  burst: {
    msPerRound: burstMs,
    callsPerSecond: (calls / burstMedian) * 1000,
    usPerCall: (burstMedian * 1000) / calls,
  },
  serial: {
    callsPerRound: serialCalls,
    usPerCallRounds: serialUs,
    usPerCall: median(serialUs),
    callsPerSecond: 1e6 / median(serialUs),
  },
});
process.exit(0);
