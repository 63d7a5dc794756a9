// Creates many throttles that each make one request and are then dropped, and prints the heap
// (after GC) as it goes, as JSON on stdout. Run with `node --expose-gc`; the chaos test runs it
// in a child process.
//
//   node --expose-gc tests/chaos/many-throttles.mjs [--count 10000] [--variant plain|listener|listener-removed|keyed]
//
// Variants: `plain` (throttle, one call, drop); `listener` (also adds an event listener that is
// never removed); `listener-self` (a listener that uses the throttle itself, never removed);
// `listener-removed` (adds one and removes it after the call); `keyed` (each throttle has its own
// `key`, never disposed: kept by design); `keyed-disposed` (own `key`, 50 ms window, disposed).
import http from "node:http";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { initSync, Throttle } from "../../pkg/gen/web/ratewindow.js";
import { makeApi } from "../../pkg/src/api.js";

const { values } = parseArgs({
  options: { count: { type: "string", default: "10000" }, variant: { type: "string", default: "plain" } },
});
const count = Number(values.count);
const variant = values.variant;
if (typeof gc !== "function") throw new Error("run with --expose-gc");

// The same as pkg/node.js, but keeping the module's exports to read the Wasm memory size.
const wasm = initSync({ module: readFileSync(new URL("../../pkg/gen/web/ratewindow_bg.wasm", import.meta.url)) });
const { throttle } = makeApi({ Throttle });

const server = http.createServer((req, res) => res.end("ok"));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const tick = () => new Promise((r) => setTimeout(r, 5));
async function collect() {
  // A released key is let go of once its window has passed.
  if (variant === "keyed-disposed") await new Promise((r) => setTimeout(r, 120));
  // Finalizers (which free the Wasm side of a dropped Throttle) run after a GC, on a later task;
  // what they free is collected by the next GC.
  for (let i = 0; i < 4; i++) {
    gc();
    await tick();
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, wasmMemory: wasm.memory.buffer.byteLength };
}

async function one(i) {
  const options = { limit: 5, windowMs: variant === "keyed-disposed" ? 50 : 1000 };
  if (variant.startsWith("keyed")) options.key = `many-${i}`;
  const limited = throttle(fetch, options);
  let seen = 0;
  const listener = variant === "listener-self" ? () => (seen += limited.stats().sent) : () => {};
  if (variant.startsWith("listener")) limited.addEventListener("settled", listener);
  const res = await limited(url);
  await res.text();
  if (variant === "listener-removed") limited.removeEventListener("settled", listener);
  if (variant === "keyed-disposed") await limited.dispose();
  return seen;
}

const samples = [{ throttles: 0, ...(await collect()) }];
const step = Math.max(1, Math.floor(count / 4));
const concurrency = 20;
for (let done = 0; done < count; ) {
  const batch = Math.min(step, count - done);
  for (let i = 0; i < batch; i += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, batch - i) }, (_, j) => one(done + i + j)));
  }
  done += batch;
  samples.push({ throttles: done, ...(await collect()) });
}
server.close();
process.stdout.write(JSON.stringify({ variant, count, samples }) + "\n");
