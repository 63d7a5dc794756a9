// Scale: N calls queued at once behind one limiter. Run it with `node --expose-gc`.
//
//   node --expose-gc bench/scale.mjs --contender NAME --n N [--drain-ms 5000] [--out FILE]
//
// The stub fetch holds the first call until we release it; the limiter lets one call run at a
// time (ratewindow `maxConcurrent: 1` under a limit that never binds, bottleneck `maxConcurrent:
// 1`, p-queue `concurrency: 1`), so the other N - 1 wait in the limiter's queue. Measured:
// - enqueue: from the first call to the limiter reporting N - 1 queued, in µs per call;
// - memory: heapUsed (and external, and Wasm linear memory for ratewindow) after a full GC,
//   before and with the N calls queued, per call; it includes the promise each call returns
//   (the "promises" row is that alone: N pending promises held by the caller);
// - dequeue: the gate opens, the calls run one at a time (the stub answers at once): µs per call
//   until all are done, or until `drain-ms` passed (then over the calls done so far).
// NAME "ratewindow-abort" waits on the window instead (limit 1 per hour, one AbortController
// per call) and is released by aborting every call: its dequeue column is µs per abort.

import { performance } from "node:perf_hooks";
import Bottleneck from "bottleneck";
import PQueue from "p-queue";
import { emit, loadRatewindow, parseArgs, tick } from "./lib/common.mjs";

if (typeof global.gc !== "function") throw new Error("run with node --expose-gc");
const args = parseArgs();
const name = String(args.contender ?? "ratewindow");
const n = Number(args.n ?? 10_000);
const drainMs = Number(args["drain-ms"] ?? 5_000);
const URL_ = "http://127.0.0.1:9/api/items";

const rw = name.startsWith("ratewindow") ? await loadRatewindow() : null;
const throttle = rw?.throttle;
const wasmBytes = () => (rw ? rw.wasm.memory.buffer.byteLength : 0);

const RESPONSE = new Response(null, { status: 200 });

/** A stub fetch that holds every call until `release()`, then answers at once. */
function makeGate() {
  let release;
  const gate = new Promise((r) => (release = r));
  let open = false;
  return {
    gate,
    stub: async () => {
      if (!open) await gate;
      return RESPONSE;
    },
    release() {
      open = true;
      release();
    },
  };
}

function build({ gate, stub }, count) {
  switch (name) {
    case "promises": {
      // The caller's share: N pending promises, each waiting on the gate.
      return {
        config: "N pending `async` calls awaiting one promise (no limiter)",
        call: async () => {
          await gate;
          return RESPONSE;
        },
        queued: () => count - 1,
      };
    }
    case "ratewindow": {
      const limited = throttle(stub, { limit: 1_000_000, windowMs: 1, maxConcurrent: 1 });
      return {
        config: "throttle(stub, { limit: 1000000, windowMs: 1, maxConcurrent: 1 })",
        call: (u) => limited(u),
        queued: () => limited.stats().queued,
      };
    }
    case "ratewindow-abort": {
      const limited = throttle(stub, { limit: 1, windowMs: 3_600_000 });
      const controllers = [];
      return {
        config: "throttle(stub, { limit: 1, windowMs: 3600000 }), an AbortController per call",
        call: (u) => {
          const c = new AbortController();
          controllers.push(c);
          return limited(u, { signal: c.signal }).catch(() => RESPONSE);
        },
        queued: () => limited.stats().queued,
        releaseAll: () => {
          for (const c of controllers) c.abort();
        },
      };
    }
    case "bottleneck": {
      const limiter = new Bottleneck({ maxConcurrent: 1 });
      return {
        config: "new Bottleneck({ maxConcurrent: 1 }).schedule(stub)",
        call: (u) => limiter.schedule(() => stub(u)),
        queued: () => limiter.counts().QUEUED,
      };
    }
    case "p-queue": {
      const queue = new PQueue({ concurrency: 1 });
      return {
        config: "new PQueue({ concurrency: 1 }).add(stub)",
        call: (u) => queue.add(() => stub(u)),
        queued: () => queue.size,
      };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}

function fullGc() {
  global.gc();
  global.gc();
}

/** Queues `count` calls, measures, releases them, drains. */
async function runOnce(count, measureMemory) {
  if (measureMemory) fullGc();
  const before = process.memoryUsage();
  const wasmBefore = wasmBytes();
  const g = makeGate();
  const c = build(g, count);
  const promises = new Array(count);
  let settled = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    promises[i] = c.call(URL_);
    promises[i].then(
      () => settled++,
      () => settled++,
    );
  }
  const loopMs = performance.now() - t0;
  // Calls reach the limiter in microtasks (ratewindow) or through its own locks (bottleneck):
  // wait until it reports them all queued.
  let polls = 0;
  while (c.queued() < count - 1) {
    await tick();
    if (++polls > 50_000_000) throw new Error("calls never all queued");
  }
  const enqueueMs = performance.now() - t0;
  if (measureMemory) fullGc();
  const after = process.memoryUsage();
  const wasmAfter = wasmBytes();

  const t1 = performance.now();
  g.release();
  if (c.releaseAll) c.releaseAll();
  while (settled < count && performance.now() - t1 < drainMs) await tick();
  const drainedMs = performance.now() - t1;
  return { c, loopMs, enqueueMs, before, after, wasmBefore, wasmAfter, drained: settled, drainedMs };
}

// Warm-up (JIT, Wasm tier-up) on a small run of its own, then the measured run.
await runOnce(Math.min(n, 300), false);
const { c, loopMs, enqueueMs, before, after, wasmBefore, wasmAfter, drained, drainedMs } = await runOnce(n, true);

emit(args, {
  contender: name,
  config: c.config,
  n,
  enqueue: { loopUsPerCall: (loopMs * 1000) / n, usPerCall: (enqueueMs * 1000) / n, totalMs: enqueueMs },
  memory: {
    heapBytesPerCall: (after.heapUsed - before.heapUsed) / n,
    externalBytesPerCall: (after.external - before.external) / n,
    wasmBytesPerCall: name.startsWith("ratewindow") ? (wasmAfter - wasmBefore) / n : null,
    rssBytesPerCall: (after.rss - before.rss) / n,
    heapUsedMiB: after.heapUsed / 2 ** 20,
  },
  dequeue: { calls: drained, complete: drained === n, usPerCall: drained ? (drainedMs * 1000) / drained : null },
});
process.exit(0);
