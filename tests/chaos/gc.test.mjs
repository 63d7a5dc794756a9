// Many throttles created and dropped, each making one request: the heap (after GC, measured in
// a child process run with --expose-gc by many-throttles.mjs) must not grow with their number.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./many-throttles.mjs", import.meta.url));
const MB = (n) => (n / 1e6).toFixed(2);

function measure(t, variant, count) {
  const child = spawnSync(process.execPath, ["--expose-gc", script, "--count", String(count), "--variant", variant], {
    encoding: "utf8",
    timeout: 100_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const { samples } = JSON.parse(child.stdout.trim().split("\n").at(-1));
  for (const s of samples) {
    t.diagnostic(`${variant}: ${s.throttles} throttles: heap ${MB(s.heapUsed)} MB, wasm memory ${MB(s.wasmMemory)} MB`);
  }
  // Growth between the first quarter (caches, JIT, the Wasm heap's high-water mark settled) and
  // the end: linear growth would show as ~1 KB per throttle in each.
  const quarter = samples[1];
  const last = samples.at(-1);
  return {
    heapPerThrottle: (last.heapUsed - quarter.heapUsed) / (last.throttles - quarter.throttles),
    wasmPerThrottle: (last.wasmMemory - quarter.wasmMemory) / (last.throttles - quarter.throttles),
  };
}

test("10,000 throttles created and dropped: the heap does not grow with them", { timeout: 120_000 }, (t) => {
  const growth = measure(t, "plain", 10_000);
  t.diagnostic(`plain: ${growth.heapPerThrottle.toFixed(0)} B heap, ${growth.wasmPerThrottle.toFixed(0)} B wasm per throttle`);
  // Generous bounds: a leaked throttle costs over 1,000 bytes in each (see the listener case).
  assert.ok(growth.heapPerThrottle < 400, `heap grows ${growth.heapPerThrottle.toFixed(0)} B per throttle`);
  assert.ok(growth.wasmPerThrottle < 400, `wasm memory grows ${growth.wasmPerThrottle.toFixed(0)} B per throttle`);
});

test("a dropped throttle whose listener was removed is freed", { timeout: 120_000 }, (t) => {
  const growth = measure(t, "listener-removed", 4_000);
  assert.ok(growth.heapPerThrottle < 400 && growth.wasmPerThrottle < 400, JSON.stringify(growth));
});

// BUG (pkg/src/api.js + src/wasm/throttle.rs): addEventListener hands `dispatch` to the Wasm
// side (setEmitter), which keeps it in the externref table, a GC root; `dispatch` closes over
// `core`, the Throttle itself. So a throttle with a listener is never collected, and its Wasm
// state is never freed, unless every listener is removed first.
test(
  "a dropped throttle with a listener still attached is freed",
  { timeout: 120_000, todo: "leaks ~1.3 KB of JS heap and ~1.4 KB of Wasm memory per throttle" },
  (t) => {
    const growth = measure(t, "listener", 4_000);
    t.diagnostic(`listener: ${growth.heapPerThrottle.toFixed(0)} B heap, ${growth.wasmPerThrottle.toFixed(0)} B wasm per throttle`);
    assert.ok(growth.heapPerThrottle < 400 && growth.wasmPerThrottle < 400, JSON.stringify(growth));
  },
);
