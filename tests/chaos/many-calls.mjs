// A million calls waiting at once, each with its own AbortController: before the calls-at-once
// cap, this exhausted wasm-bindgen's externref table (V8 caps it at 10 M entries) and trapped the
// module. Now the calls beyond the cap reject with QueueFullError, the module keeps working, and
// aborting the waiting ones settles every call. Prints a JSON summary; exit status 1 on failure.
//
//   node --max-old-space-size=8192 tests/chaos/many-calls.mjs [--calls 1000000] [--signals]
import { parseArgs } from "node:util";
import { throttle, QueueFullError } from "../../pkg/node.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "1000000" }, signals: { type: "boolean", default: false } } });
const n = Number(values.calls);
const limited = throttle(async () => new Response("ok"), { limit: 1, windowMs: 3_600_000 });
const controller = new AbortController();
const counts = { aborted: 0, queueFull: 0, other: 0, ok: 0 };
let firstQueueFull = null;
const calls = [];
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const opts = values.signals ? { signal: new AbortController().signal } : {};
  // One shared controller aborts them all at the end; per-call signals add the per-call cost.
  const signal = values.signals ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  calls.push(
    limited.schedule(() => "sent", { signal }).then(
      () => counts.ok++,
      (e) => {
        if (e instanceof QueueFullError) {
          counts.queueFull++;
          firstQueueFull ??= { at: i, message: e.message, maxQueue: e.maxQueue };
        } else if (e?.name === "AbortError") counts.aborted++;
        else counts.other++;
      },
    ),
  );
}
const enqueueS = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 100));
const queued = limited.stats().queued;
controller.abort();
await Promise.all(calls);
// The module still works: a fresh throttle serves a call.
const after = await throttle(async () => "fine", { limit: 5, windowMs: 1000 }).schedule(async () => "fine");
const summary = { calls: n, signals: values.signals, enqueueS: Number(enqueueS.toFixed(1)), queuedBeforeAbort: queued, ...counts, firstQueueFull, after };
console.log(JSON.stringify(summary));
const ok = counts.ok + counts.aborted + counts.queueFull === n && counts.other === 0 && after === "fine";
process.exit(ok ? 0 : 1);
