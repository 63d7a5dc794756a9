// Rate-limit quality: N requests fired at once through one contender at a fresh strict API double
// (www/api-double.mjs: a rolling window counted on arrival, random uplink and downlink latency).
//
//   node bench/quality.mjs --contender NAME --limit L --window W --n N \
//        [--uplink MIN,MAX] [--downlink MIN,MAX] [--retries 10] [--timeout MS] [--out FILE]
//
// Result: the server's counters (429s served, 403s, accepted, max accepted in any window), calls
// lost (a call that did not end with a 200), total time from the first call to the last answer,
// and that time over the physical minimum (ceil(N/L) - 1) * W.

import { performance } from "node:perf_hooks";
import { createApiDouble } from "../www/api-double.mjs";
import { emit, median, parseArgs, quantile } from "./lib/common.mjs";
import { load, make } from "./lib/contenders.mjs";
import { simulate } from "./lib/sim.mjs";

const args = parseArgs();
const name = String(args.contender ?? "ratewindow");
const limit = Number(args.limit ?? 100);
const windowMs = Number(args.window ?? 2000);
const n = Number(args.n ?? 500);
const range = (s, d) => (s === undefined ? d : String(s).split(",").map(Number));
const uplinkMs = range(args.uplink, [5, 60]);
const downlinkMs = range(args.downlink, [5, 60]);
const retries = Number(args.retries ?? 10);
const minimumMs = (Math.ceil(n / limit) - 1) * windowMs;
const timeoutMs = Number(args.timeout ?? Math.max(30_000, minimumMs * 4 + 30_000));

await load(name);
const double = createApiDouble({
  limit,
  windowMs,
  uplinkMs,
  downlinkMs,
  retryAfter: "seconds",
  disableAfter: 0, // never disable the key: we count 429s, not lockouts
});
const { url } = await double.listen(0, "127.0.0.1");
// Every attempt's round trip as the client sees it (send to response headers), for the model.
const rtts = [];
async function timedFetch(input, init) {
  const start = performance.now();
  const res = await fetch(input, init);
  rtts.push(performance.now() - start);
  return res;
}
const contender = make(name, timedFetch, { limit, windowMs, retries });

const ends = new Array(n).fill(null);
const statuses = new Array(n).fill("pending");
const t0 = performance.now();
const calls = [];
for (let i = 0; i < n; i++) {
  calls.push(
    Promise.resolve()
      .then(() => contender.call(`${url}/api/items/${i}`))
      .then(
        async (res) => {
          await res.arrayBuffer();
          statuses[i] = res.status;
          ends[i] = performance.now() - t0;
        },
        (err) => {
          statuses[i] = `error: ${err?.cause?.code ?? err?.name ?? err}`;
          ends[i] = performance.now() - t0;
        },
      ),
  );
}
let timedOut = false;
let timer;
await Promise.race([
  Promise.all(calls),
  new Promise((r) => {
    timer = setTimeout(() => {
      timedOut = true;
      r();
    }, timeoutMs);
  }),
]);
clearTimeout(timer);
const elapsed = performance.now() - t0;

const server = double.stats();
const finished = ends.filter((t) => t !== null);
const byStatus = {};
for (const s of statuses) byStatus[s] = (byStatus[s] ?? 0) + 1;
const lost = statuses.filter((s) => s !== 200).length;
const totalMs = timedOut ? elapsed : Math.max(...finished);
const ok = ends.filter((t, i) => statuses[i] === 200);

emit(args, {
  contender: name,
  config: contender.config,
  retry: name === "ratewindow" ? `built in (retry.limit ${retries})` : retries ? `Retry-After, then its limiter again (up to ${retries})` : "none",
  limit,
  windowMs,
  n,
  uplinkMs,
  downlinkMs,
  minimumMs,
  timedOut,
  timeoutMs,
  served429: server.rejected429,
  served403: server.forbidden403,
  arrivals: server.arrivals,
  accepted: server.accepted,
  maxInWindow: server.maxInWindow,
  lost,
  byStatus,
  totalMs,
  ratio: minimumMs > 0 ? totalMs / minimumMs : null,
  medianCallMs: median(ok),
  rttMs: { median: median(rtts), p95: quantile(rtts, 0.95), max: Math.max(...rtts) },
  // Zero-overhead models on the double's latency distribution and on the round trips measured here.
  model: {
    configured: simulate({ n, limit, windowMs, uplinkMs, downlinkMs }),
    measured: simulate({ n, limit, windowMs, uplinkMs, downlinkMs, measuredRtts: rtts }),
  },
  clientStats: contender.stats ? contender.stats() : null,
});

contender.close();
await double.close();
// Idle keep-alive sockets of fetch's pool would keep the loop alive for a few seconds.
process.exit(0);
