// Soak: a long run of the chaos test's calls (random server failures, random aborts) through one
// throttle, printing the heap after GC every 100,000 calls. Not run by the tests.
//
//   node --expose-gc tests/chaos/soak.mjs [--calls 1000000] [--concurrency 200] [--seed 1]
//   node --expose-gc tests/chaos/soak.mjs --fetch-only ...   # the same calls through fetch alone,
//                                                            # as a baseline for the heap numbers
//
// At the end it checks what the chaos test checks, in aggregate: every call settled once with a
// Response or a known error, the server never saw more accepted arrivals than the limit in any
// rolling window, and nothing is left in flight or queued. Exit status 1 if not.
import { parseArgs } from "node:util";
import { throttle } from "../../pkg/node.js";
import { startChaosServer, prng } from "./server.mjs";
import { makeSignal, makeRequest, ALLOWED_ERRORS, sleep } from "./driver.mjs";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: "200" },
    seed: { type: "string", default: String(Math.floor(Math.random() * 2 ** 31)) },
    every: { type: "string", default: "100000" },
    "fetch-only": { type: "boolean", default: false },
  },
});
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const seed = Number(values.seed);
const every = Number(values.every);
if (typeof gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}

const limit = 400;
const windowMs = 100;
// The chaos mix, with fewer of the answers that pause the whole budget for a second or more (a
// long run is about memory and bookkeeping, not about waiting out Retry-After).
const mix = { ok: 80, okOddHeaders: 3, ra429: 0.3, garbage429: 1, bare429: 1, error5xx: 4, reset: 3, stall: 1, slowBody: 4, midBodyClose: 3 };
const server = await startChaosServer({ limit, windowMs, seed, mix, latencyMs: [0, 5], slowBodyMs: [5, 60] });
const fetchOnly = values["fetch-only"];
const throttled = throttle(fetch, {
  limit,
  windowMs,
  retry: { baseMs: 5, maxMs: 50, maxRetryAfterMs: 2000 },
  breaker: false,
  learnShare: false,
});
const limited = fetchOnly ? (input, init) => fetch(input, init) : throttled;
const statsOf = () => (fetchOnly ? { sent: "-", inFlight: 0, queued: 0 } : throttled.stats());
const random = prng(seed + 1);
const counts = {};
const bump = (k) => (counts[k] = (counts[k] ?? 0) + 1);
let started = 0;
let finished = 0;
let bad = 0;
const t0 = performance.now();

const heap = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(5);
  }
  return process.memoryUsage().heapUsed;
};
const mb = (n) => (n / 1e6).toFixed(2);
const baseline = await heap();
console.log(
  `soak${fetchOnly ? " (fetch only)" : ""}: ${calls} calls, concurrency ${concurrency}, seed ${seed}; heap after GC at start ${mb(baseline)} MB`,
);

async function one(id) {
  const { signal, timer, keep } = makeSignal(random, id, 1000);
  const { input, init } = makeRequest(random, server.url, id, signal);
  let settlements = 0;
  try {
    const res = await limited(input, init);
    settlements++;
    bump(`status ${res.status}`);
    try {
      await res.arrayBuffer();
    } catch (error) {
      if (!ALLOWED_ERRORS.has(error?.name)) {
        bad++;
        bump(`bad body error ${error?.name}`);
      }
    }
  } catch (error) {
    settlements++;
    if (!ALLOWED_ERRORS.has(error?.name)) {
      bad++;
      bump(`bad error ${error?.name}: ${error?.message}`);
    } else bump(`rejected ${error.name}`);
  } finally {
    clearTimeout(timer);
    void keep;
  }
  if (settlements !== 1) bad++;
}

let nextReport = every;
async function worker() {
  while (started < calls) {
    const id = started++;
    await one(id);
    finished++;
    if (finished >= nextReport) {
      nextReport += every;
      const h = await heap();
      const s = statsOf();
      const rate = finished / ((performance.now() - t0) / 1000);
      console.log(
        `${String(finished).padStart(8)} calls: heap after GC ${mb(h)} MB (${h >= baseline ? "+" : ""}${mb(h - baseline)}), ` +
          `rss ${mb(process.memoryUsage().rss)} MB, ${rate.toFixed(0)} calls/s, sent ${s.sent}, in flight ${s.inFlight}, queued ${s.queued}`,
      );
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
await sleep(200);
const stats = statsOf();
const srv = await server.stats();
await server.close();
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; outcomes ${JSON.stringify(counts)}`);
console.log(`server: arrivals ${srv.arrivals}, accepted ${srv.accepted}, violations ${srv.violations}, max accepted in a window ${srv.maxAcceptedInWindow} (limit ${limit})`);
console.log(`stats: ${JSON.stringify(stats)}`);
// fetch alone knows no window: its violations are expected, and not counted.
const ok = bad === 0 && (fetchOnly || srv.violations === 0) && stats.inFlight === 0 && stats.queued === 0;
console.log(ok ? "soak: OK" : `soak: FAILED (${bad} bad settlements)`);
process.exit(ok ? 0 : 1);
