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

// The Wasm side keeps the event callback in its function table, a GC root; the callback reaches
// the budget only through a WeakRef (pkg/src/api.js makeDispatch). Before that, a throttle with
// a listener attached was never freed (~1.3 KB of JS heap and ~1.4 KB of Wasm memory each).
for (const variant of ["listener", "listener-self"]) {
  test(`a dropped throttle with a listener still attached is freed (${variant})`, { timeout: 120_000 }, (t) => {
    const growth = measure(t, variant, 4_000);
    t.diagnostic(`${variant}: ${growth.heapPerThrottle.toFixed(0)} B heap, ${growth.wasmPerThrottle.toFixed(0)} B wasm per throttle`);
    assert.ok(growth.heapPerThrottle < 400 && growth.wasmPerThrottle < 400, JSON.stringify(growth));
  });
}

test("keyed throttles are kept until disposed, then freed", { timeout: 120_000 }, (t) => {
  // The control: a key's budget outlives its throttles by design (a throttle created again
  // with the key must still count the last window), so undisposed keys do grow.
  const kept = measure(t, "keyed", 1_000);
  t.diagnostic(`keyed: ${kept.heapPerThrottle.toFixed(0)} B heap, ${kept.wasmPerThrottle.toFixed(0)} B wasm per throttle`);
  assert.ok(kept.heapPerThrottle + kept.wasmPerThrottle > 400, `the control should grow: ${JSON.stringify(kept)}`);
  const growth = measure(t, "keyed-disposed", 6_000);
  t.diagnostic(`keyed-disposed: ${growth.heapPerThrottle.toFixed(0)} B heap, ${growth.wasmPerThrottle.toFixed(0)} B wasm per throttle`);
  assert.ok(growth.heapPerThrottle < 400 && growth.wasmPerThrottle < 400, JSON.stringify(growth));
});
