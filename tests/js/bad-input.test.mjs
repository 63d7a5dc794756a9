// The bad-input matrix: every option of `throttle` with wrong types, out-of-range values and bad
// combinations (each must throw a TypeError or RangeError whose message names the field), and
// calls with inputs fetch itself rejects (each must reject with the error class fetch gives for
// the same input, without spending the budget). Nothing here may trap the Wasm module: at the end
// a normal call through a fresh throttle must still work.
//
// Rows may carry a fifth (options) or third (calls) field naming a known defect: they then run as
// `todo` tests (reported, not failing). None is marked now: every defect found here was fixed.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { throttle, batcher, RatewindowError } from "../../pkg/node.js";

let server;
let base;

test.before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end(`ok ${req.method}`));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});
test.after(() => new Promise((r) => server.close(r)));

const MAX_MS = 2_147_483_647;
let keyCounter = 0;
const uniqueKey = () => `bad-input-${process.pid}-${++keyCounter}`;

/** A field path as the message spells it, between backticks. */
const named = (field) => (e) =>
  typeof e?.message === "string" && (field instanceof RegExp ? field.test(e.message) : e.message.includes(`\`${field}\``));

// ---------------------------------------------------------------------------------------------
// Options: [label, options, error class, field named in the message, bug?]
// ---------------------------------------------------------------------------------------------

const T = TypeError;
const R = RangeError;
const ownKeysThrows = new Proxy({}, { ownKeys() { throw new Error("ownKeys trap"); } });

/** @type {Array<[string, unknown, Function, string, string?]>} */
const OPTION_ROWS = [
  // the options object itself
  ["options: a string", "fast", T, "options"],
  ["options: a number", 5, T, "options"],
  ["options: true", true, T, "options"],
  ["options: an array", [], T, "options"],
  ["options: a function", () => {}, T, "options"],
  ["unknown option", { windowMS: 1000 }, T, "windowMS"],
  ["an option with an empty name", { "": 1 }, T, "options"],
  ["retry: an option with an empty name", { retry: { "": 1 } }, T, "retry"],
  ["windows: more items than read (1,001)", { windows: Array.from({ length: 1001 }, () => [1, 1000]) }, R, "windows"],
  ["retry.statusCodes: 5,000 items", { retry: { statusCodes: Array(5000).fill(429) } }, R, "retry.statusCodes"],
  ["a getter that throws", { get limit() { throw new Error("getter"); } }, T, "limit"],
  // limit
  ["limit: string", { limit: "200" }, T, "limit"],
  ["limit: null", { limit: null }, T, "limit"],
  ["limit: boolean", { limit: true }, T, "limit"],
  ["limit: bigint", { limit: 5n }, T, "limit"],
  ["limit: symbol", { limit: Symbol("l") }, T, "limit"],
  ["limit: object", { limit: {} }, T, "limit"],
  ["limit: boxed number", { limit: new Number(5) }, T, "limit"],
  ["limit: 0", { limit: 0 }, R, "limit"],
  ["limit: -1", { limit: -1 }, R, "limit"],
  ["limit: 1.5", { limit: 1.5 }, R, "limit"],
  ["limit: NaN", { limit: NaN }, R, "limit"],
  ["limit: Infinity", { limit: Infinity }, R, "limit"],
  ["limit: 1,000,001", { limit: 1_000_001 }, R, "limit"],
  // windowMs
  ["windowMs: string", { windowMs: "60000" }, T, "windowMs"],
  ["windowMs: 0", { windowMs: 0 }, R, "windowMs"],
  ["windowMs: 0.5", { windowMs: 0.5 }, R, "windowMs"],
  ["windowMs: -1", { windowMs: -1 }, R, "windowMs"],
  ["windowMs: NaN", { windowMs: NaN }, R, "windowMs"],
  ["windowMs: Infinity", { windowMs: Infinity }, R, "windowMs"],
  ["windowMs: beyond setTimeout", { windowMs: MAX_MS + 1 }, R, "windowMs"],
  // windows
  ["windows: object", { windows: { limit: 1, windowMs: 1 } }, T, "windows"],
  ["windows: string", { windows: "1/s" }, T, "windows"],
  ["windows[0]: number", { windows: [5] }, T, "windows[0]"],
  ["windows[0]: empty", { windows: [{}] }, T, "windows[0]"],
  ["windows[0]: no windowMs", { windows: [{ limit: 5 }] }, T, "windows[0]"],
  ["windows[0].limit: 0", { windows: [{ limit: 0, windowMs: 1000 }] }, R, "windows[0].limit"],
  ["windows[1].windowMs: NaN", { windows: [{ limit: 1, windowMs: 1 }, { limit: 1, windowMs: NaN }] }, R, "windows[1].windowMs"],
  ["windows[0].extra", { windows: [{ limit: 1, windowMs: 1, burst: 2 }] }, T, "windows[0].burst"],
  ["windows: 17 rules", { windows: Array.from({ length: 17 }, () => ({ limit: 1, windowMs: 1 })) }, R, "windows"],
  ["windows: a huge sparse array", { windows: new Array(1e6) }, R, "windows"],
  // safetyMarginMs, maxConcurrent
  ["safetyMarginMs: -1", { safetyMarginMs: -1 }, R, "safetyMarginMs"],
  ["safetyMarginMs: string", { safetyMarginMs: "1" }, T, "safetyMarginMs"],
  ["safetyMarginMs: NaN", { safetyMarginMs: NaN }, R, "safetyMarginMs"],
  ["maxConcurrent: -1", { maxConcurrent: -1 }, R, "maxConcurrent"],
  ["maxConcurrent: 2.5", { maxConcurrent: 2.5 }, R, "maxConcurrent"],
  ["maxConcurrent: 1,000,001", { maxConcurrent: 1_000_001 }, R, "maxConcurrent"],
  ["maxConcurrent: null", { maxConcurrent: null }, T, "maxConcurrent"],
  // retry
  ["retry: string", { retry: "yes" }, T, "retry"],
  ["retry: true", { retry: true }, T, "retry"],
  ["retry: null", { retry: null }, T, "retry"],
  ["retry: -1", { retry: -1 }, R, "retry"],
  ["retry: 101", { retry: 101 }, R, "retry"],
  ["retry: 1.5", { retry: 1.5 }, R, "retry"],
  ["retry.limit: -1", { retry: { limit: -1 } }, R, "retry.limit"],
  ["retry.limit: 101", { retry: { limit: 101 } }, R, "retry.limit"],
  ["retry.limit: string", { retry: { limit: "5" } }, T, "retry.limit"],
  ["retry.maxRetryAfterMs: -1", { retry: { maxRetryAfterMs: -1 } }, R, "retry.maxRetryAfterMs"],
  ["retry.maxRetryAfterMs: Infinity", { retry: { maxRetryAfterMs: Infinity } }, R, "retry.maxRetryAfterMs"],
  ["retry.baseMs: NaN", { retry: { baseMs: NaN } }, R, "retry.baseMs"],
  ["retry.baseMs: string", { retry: { baseMs: "1s" } }, T, "retry.baseMs"],
  ["retry.factor: 0.5", { retry: { factor: 0.5 } }, R, "retry.factor"],
  ["retry.factor: 101", { retry: { factor: 101 } }, R, "retry.factor"],
  ["retry.factor: NaN", { retry: { factor: NaN } }, R, "retry.factor"],
  ["retry.maxMs: -5", { retry: { maxMs: -5 } }, R, "retry.maxMs"],
  ["retry.maxMs below retry.baseMs", { retry: { baseMs: 500, maxMs: 100 } }, R, "retry.maxMs"],
  ["retry.baseMs above the default maxMs", { retry: { baseMs: 90_000 } }, R, "retry.maxMs"],
  ["retry.jitter: unknown", { retry: { jitter: "fancy" } }, R, "retry.jitter"],
  ["retry.jitter: wrong case", { retry: { jitter: "Full" } }, R, "retry.jitter"],
  ["retry.jitter: number", { retry: { jitter: 1 } }, T, "retry.jitter"],
  ["retry.statusCodes: number", { retry: { statusCodes: 429 } }, T, "retry.statusCodes"],
  ["retry.statusCodes[0]: 42", { retry: { statusCodes: [42] } }, R, "retry.statusCodes[0]"],
  ["retry.statusCodes[1]: 429.5", { retry: { statusCodes: [429, 429.5] } }, R, "retry.statusCodes[1]"],
  ["retry.statusCodes[0]: string", { retry: { statusCodes: ["429"] } }, T, "retry.statusCodes[0]"],
  ["retry.methods: string", { retry: { methods: "GET" } }, T, "retry.methods"],
  ["retry.methods[0]: empty", { retry: { methods: [""] } }, T, "retry.methods[0]"],
  ["retry.methods[1]: number", { retry: { methods: ["GET", 1] } }, T, "retry.methods[1]"],
  ["retry.methods[0]: 33 chars", { retry: { methods: ["X".repeat(33)] } }, T, "retry.methods[0]"],
  ["retry: unknown field", { retry: { retries: 3 } }, T, "retry.retries"],
  // breaker, retryBudget
  ["breaker: string", { breaker: "off" }, T, "breaker"],
  ["breaker: true", { breaker: true }, T, "breaker"],
  ["breaker.threshold: 0", { breaker: { threshold: 0 } }, R, "breaker.threshold"],
  ["breaker.threshold: 1001", { breaker: { threshold: 1001 } }, R, "breaker.threshold"],
  ["breaker.cooldownMs: -1", { breaker: { cooldownMs: -1 } }, R, "breaker.cooldownMs"],
  ["breaker: unknown field", { breaker: { cooldown: 5 } }, T, "breaker.cooldown"],
  ["retryBudget: number", { retryBudget: 20 }, T, "retryBudget"],
  ["retryBudget.tokens: 1", { retryBudget: { tokens: 1 } }, R, "retryBudget.tokens"],
  ["retryBudget.tokens: 100,001", { retryBudget: { tokens: 100_001 } }, R, "retryBudget.tokens"],
  ["retryBudget.ratio: 1.5", { retryBudget: { ratio: 1.5 } }, R, "retryBudget.ratio"],
  ["retryBudget.ratio: -0.1", { retryBudget: { ratio: -0.1 } }, R, "retryBudget.ratio"],
  ["retryBudget.ratio: string", { retryBudget: { ratio: "0.1" } }, T, "retryBudget.ratio"],
  // seed, key
  ["seed: -1", { seed: -1 }, R, "seed"],
  ["seed: 0.5", { seed: 0.5 }, R, "seed"],
  ["seed: string", { seed: "42" }, T, "seed"],
  ["key: empty", { key: "" }, T, "key"],
  ["key: number", { key: 42 }, T, "key"],
  ["key: object", { key: {} }, T, "key"],
  ["store without key", { store: {} }, T, "store"],
  ["onStoreError without key", { onStoreError: "fail" }, T, "onStoreError"],
  // maxQueue, maxWaitMs, minIntervalMs, priorityAgingMs, learnShare
  ["maxQueue: -1", { maxQueue: -1 }, R, "maxQueue"],
  ["maxQueue: 1.5", { maxQueue: 1.5 }, R, "maxQueue"],
  ["maxQueue: 2^32", { maxQueue: 2 ** 32 }, R, "maxQueue"],
  ["maxQueue: string", { maxQueue: "10" }, T, "maxQueue"],
  ["maxWaitMs: -1", { maxWaitMs: -1 }, R, "maxWaitMs"],
  ["maxWaitMs: Infinity", { maxWaitMs: Infinity }, R, "maxWaitMs"],
  ["minIntervalMs: -1", { minIntervalMs: -1 }, R, "minIntervalMs"],
  ["minIntervalMs: string", { minIntervalMs: "5" }, T, "minIntervalMs"],
  ["priorityAgingMs: -1", { priorityAgingMs: -1 }, R, "priorityAgingMs"],
  ["priorityAgingMs: beyond setTimeout", { priorityAgingMs: MAX_MS + 1 }, R, "priorityAgingMs"],
  ["learnShare: string", { learnShare: "yes" }, T, "learnShare"],
  ["learnShare: 1", { learnShare: 1 }, T, "learnShare"],
  // cache, dedupe
  ["cache: string", { cache: "yes" }, T, "cache"],
  ["cache: true", { cache: true }, T, "cache"],
  ["cache: null", { cache: null }, T, "cache"],
  ["cache: array", { cache: [] }, T, "cache"],
  ["cache: no ttlMs", { cache: {} }, T, "cache.ttlMs"],
  ["cache.ttlMs: 0", { cache: { ttlMs: 0 } }, R, "cache.ttlMs"],
  ["cache.ttlMs: NaN", { cache: { ttlMs: NaN } }, R, "cache.ttlMs"],
  ["cache.ttlMs: string", { cache: { ttlMs: "60s" } }, T, "cache.ttlMs"],
  ["cache.maxEntries: 0", { cache: { ttlMs: 1, maxEntries: 0 } }, R, "cache.maxEntries"],
  ["cache.maxBytes: 1.5", { cache: { ttlMs: 1, maxBytes: 1.5 } }, R, "cache.maxBytes"],
  ["cache.methods: string", { cache: { ttlMs: 1, methods: "GET" } }, T, "cache.methods"],
  ["cache.methods: empty", { cache: { ttlMs: 1, methods: [] } }, T, "cache.methods"],
  ["cache.methods: POST", { cache: { ttlMs: 1, methods: ["POST"] } }, R, "cache.methods"],
  ["cache.match: string", { cache: { ttlMs: 1, match: "/api" } }, T, "cache.match"],
  ["cache.keyHeaders: bad name", { cache: { ttlMs: 1, keyHeaders: ["bad header"] } }, T, "cache.keyHeaders"],
  ["cache: unknown field", { cache: { ttlMs: 1, ttl: 5 } }, T, "cache.ttl"],
  ["dedupe: string", { dedupe: "yes" }, T, "dedupe"],
  ["dedupe: 1", { dedupe: 1 }, T, "dedupe"],
  // a hostile options object: whatever it throws, nothing may break
  ["a Proxy whose ownKeys throws", ownKeysThrows, T, "options"],
];

/** Options that must be accepted: the edges of every range. */
const VALID_OPTIONS = [
  undefined,
  null,
  {},
  { limit: 1, windowMs: 1 },
  { limit: 1_000_000, windowMs: MAX_MS },
  { windows: Array.from({ length: 16 }, (_, i) => ({ limit: i + 1, windowMs: 1000 * (i + 1) })) },
  { safetyMarginMs: 0, maxConcurrent: 0, maxQueue: 2 ** 32 - 1, maxWaitMs: MAX_MS, minIntervalMs: 0, priorityAgingMs: 0 },
  { retry: false },
  { retry: 0 },
  { retry: 100 },
  { retry: { limit: 0, maxRetryAfterMs: 0, baseMs: 0, maxMs: 0, factor: 1, jitter: "none", statusCodes: [], methods: ["get"] } },
  { retry: { baseMs: MAX_MS, maxMs: MAX_MS, factor: 100, jitter: "decorrelated", statusCodes: [100, 599] } },
  { breaker: false, retryBudget: false, learnShare: false },
  { breaker: { threshold: 1000, cooldownMs: 0 }, retryBudget: { tokens: 2, ratio: 0 } },
  { retryBudget: { tokens: 100_000, ratio: 1 } },
  { seed: 0 },
  { seed: Number.MAX_SAFE_INTEGER },
  { limit: 5, key: undefined },
  { cache: false, dedupe: false },
  { cache: undefined, dedupe: true },
  { cache: { ttlMs: 1, match: /x/g, maxEntries: 1, maxBytes: 1, methods: ["get", "HEAD"], keyHeaders: ["X-Tenant"] } },
];

test("option matrix: every bad option throws a TypeError or RangeError naming its field", async (t) => {
  for (const [label, options, Class, field, bug] of OPTION_ROWS) {
    await t.test(label, bug ? { todo: bug } : {}, () => {
      assert.throws(
        () => throttle(fetch, options),
        (e) => e instanceof Class && named(field)(e),
        `${label}: expected ${Class.name} naming \`${field}\``,
      );
    });
  }
});

test("option matrix: the edges of every range are accepted", async (t) => {
  for (const options of VALID_OPTIONS) {
    await t.test(JSON.stringify(options) ?? String(options), () => {
      const limited = throttle(fetch, options);
      assert.equal(typeof limited, "function");
      assert.equal(typeof limited.stats().limit, "number");
    });
  }
});

test("option matrix: bad combinations", async (t) => {
  await t.test("fetch is not a function", () => {
    for (const f of [undefined, null, "fetch", {}, 5]) {
      assert.throws(() => throttle(f), (e) => e instanceof TypeError && named("fetch")(e));
    }
  });
  await t.test("a key reused with other options names the difference", () => {
    const key = uniqueKey();
    throttle(fetch, { key, limit: 10, windowMs: 1000 });
    assert.throws(() => throttle(fetch, { key, limit: 11, windowMs: 1000 }), (e) => e instanceof TypeError && /limit/.test(e.message) && e.message.includes(key));
    assert.throws(() => throttle(fetch, { key, limit: 10, windowMs: 1000, retry: 2 }), (e) => e instanceof TypeError && /`retry`/.test(e.message));
    assert.throws(() => throttle(fetch, { key, limit: 10, windowMs: 1000, maxQueue: 5 }), (e) => e instanceof TypeError && /`maxQueue`/.test(e.message));
    // The same options (and another cache, which is per throttle) are fine.
    throttle(fetch, { key, limit: 10, windowMs: 1000, cache: { ttlMs: 5 } });
    // A bad option under a used key is still a bad option.
    assert.throws(() => throttle(fetch, { key, limit: 0 }), (e) => e instanceof RangeError && named("limit")(e));
  });
  await t.test("a store needs a real store object", () => {
    assert.throws(() => throttle(fetch, { key: uniqueKey(), store: {} }), (e) => e instanceof TypeError && named("store")(e));
    assert.throws(() => throttle(fetch, { key: uniqueKey(), store: null }), (e) => e instanceof TypeError && named("store")(e));
  });
  await t.test("listeners and clearCache", () => {
    const limited = throttle(fetch);
    assert.throws(() => limited.addEventListener("sent", 5), TypeError);
    assert.throws(() => limited.addEventListener("sent", {}), TypeError);
    limited.addEventListener("sent", null); // ignored, as in EventTarget
    assert.throws(() => limited.clearCache(5), (e) => e instanceof TypeError && named("clearCache")(e));
  });
  await t.test("batcher options", () => {
    assert.throws(() => batcher(null), (e) => e instanceof TypeError && named("batcher")(e));
    assert.throws(() => batcher({ run: 5 }), (e) => e instanceof TypeError && named("run")(e));
    assert.throws(() => batcher({ run: async (x) => x, maxSize: 0 }), (e) => e instanceof RangeError && named("maxSize")(e));
    assert.throws(() => batcher({ run: async (x) => x, maxWaitMs: -1 }), (e) => e instanceof RangeError && named("maxWaitMs")(e));
    assert.throws(() => batcher({ run: async (x) => x, size: 5 }), (e) => e instanceof TypeError && named("size")(e));
  });
  await t.test("per-call init.ratewindow", async () => {
    const plain = throttle(fetch);
    const cached = throttle(fetch, { cache: { ttlMs: 1000 } });
    await assert.rejects(cached(`${base}/a`, { ratewindow: { ttlMs: 0 } }), (e) => e instanceof RangeError && named("init.ratewindow.ttlMs")(e));
    await assert.rejects(cached(`${base}/a`, { ratewindow: 5 }), (e) => e instanceof TypeError && named("init.ratewindow")(e));
    await assert.rejects(cached(`${base}/a`, { ratewindow: { ttl: 5 } }), (e) => e instanceof TypeError && named("init.ratewindow.ttl")(e));
    await assert.rejects(plain(`${base}/a`, { ratewindow: { ttlMs: 5 } }), (e) => e instanceof TypeError && named("init.ratewindow.ttlMs")(e));
  });
});

// ---------------------------------------------------------------------------------------------
// Calls: [label, () => [input, init], bug?] — compared with fetch on the same input
// ---------------------------------------------------------------------------------------------

const usedRequest = async () => {
  const r = new Request(`${base}/used`, { method: "POST", body: "once" });
  await r.text();
  return r;
};
const lockedStream = () => {
  const s = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.close(); } });
  s.getReader();
  return s;
};
const lockedRequest = () => {
  const r = new Request(`${base}/locked`, { method: "PUT", body: "x", duplex: "half" });
  r.body.getReader();
  return r;
};


/** @type {Array<[string, () => unknown[] | Promise<unknown[]>, string?]>} */
const CALL_ROWS = [
  ["input: a plain object", () => [{}]],
  ["input: a number", () => [5]],
  ["input: null", () => [null]],
  ["input: undefined", () => []],
  ["input: a symbol", () => [Symbol("url")]],
  ["input: a relative URL", () => ["/relative"]],
  ["input: an invalid URL", () => ["http://[::1"]],
  ["input: an unsupported scheme", () => ["ftp://example.invalid/x"]],
  ["input: an object with toString", () => [{ toString: () => `${base}/to-string` }]],
  ["input: a URL object", () => [new URL(`${base}/url`)]],
  ["input: a Request whose body is used", async () => [await usedRequest()]],
  ["input: a Request whose body stream is locked", () => [lockedRequest()]],
  ["init: a number", () => [`${base}/x`, 5]],
  ["init: a string", () => [`${base}/x`, "GET"]],
  ["init: true", () => [`${base}/x`, true]],
  ["init: null", () => [`${base}/x`, null]],
  ["init: a function", () => [`${base}/x`, () => {}]],
  ["init.body: a used (locked) stream", () => [`${base}/x`, { method: "POST", body: lockedStream(), duplex: "half" }]],
  ["init.body with GET", () => [`${base}/x`, { method: "GET", body: "x" }]],
  ["init.method: forbidden", () => [`${base}/x`, { method: "CONNECT" }]],
  ["init.method: not a token", () => [`${base}/x`, { method: "GET POST" }]],
  ["init.headers: bad name", () => [`${base}/x`, { headers: { "bad header": "1" } }]],
  ["init.headers: bad value", () => [`${base}/x`, { headers: { x: "a\nb" } }]],
  ["init.headers: a number", () => [`${base}/x`, { headers: 5 }]],
  ["init.mode: navigate", () => [`${base}/x`, { mode: "navigate" }]],
  ["init.signal: aborted with a reason", () => [`${base}/x`, { signal: AbortSignal.abort(new RangeError("mine")) }]],
  ["init.signal: not an AbortSignal", () => [`${base}/x`, { signal: {} }]],
  ["init.signal: a string", () => [`${base}/x`, { signal: "stop" }]],
  ["Request + init.body with GET", () => [new Request(`${base}/x`), { method: "GET", body: "x" }]],
  ["Request + init.headers: bad name", () => [new Request(`${base}/x`), { headers: { "bad header": "1" } }]],
  ["Request + init.method: forbidden", () => [new Request(`${base}/x`), { method: "TRACE" }]],
  ["init.priority: a number", () => [`${base}/x`, { priority: 5 }]],
  ["init.priority: an object", () => [`${base}/x`, { priority: {} }]],
  ["init.priority: unknown string", () => [`${base}/x`, { priority: "urgent" }]],
];

/** How a promise settles: "resolved <status>" or "rejected <constructor name>". */
async function outcome(promiseFn) {
  try {
    const res = await promiseFn();
    await res.arrayBuffer();
    return { kind: "resolved", status: res.status };
  } catch (error) {
    return { kind: "rejected", cls: error?.constructor?.name, name: error?.name, error };
  }
}

test("call matrix: inputs fetch rejects are rejected the same way, without spending the budget", async (t) => {
  // Short backoff, so that a row that is (wrongly) retried does not take half a minute.
  const limited = throttle(fetch, { limit: 1000, windowMs: 1000, retry: { baseMs: 1, maxMs: 2 } });
  for (const [label, make, bug] of CALL_ROWS) {
    await t.test(label, bug ? { todo: bug } : {}, async () => {
      const direct = await outcome(async () => fetch(...(await make())));
      const sentBefore = limited.stats().sent;
      const throttled = await outcome(async () => limited(...(await make())));
      const sent = limited.stats().sent - sentBefore;
      assert.equal(throttled.kind, direct.kind, `fetch ${JSON.stringify(direct)} vs limited ${JSON.stringify(throttled)}`);
      if (direct.kind === "rejected") {
        assert.equal(throttled.cls, direct.cls, `fetch ${direct.cls}: ${direct.error?.message}; limited ${throttled.cls}: ${throttled.error?.message}`);
        if (direct.error?.name !== "AbortError" && direct.cls !== "DOMException") assert.equal(throttled.name, direct.name);
        assert.equal(sent, 0, `${sent} attempts were sent for a call fetch rejects before sending`);
      } else {
        assert.equal(throttled.status, direct.status);
      }
    });
  }
  assert.deepEqual([limited.stats().inFlight, limited.stats().queued], [0, 0]);
});

test("schedule with a non-string priority", async () => {
  const limited = throttle(fetch);
  assert.equal(await limited.schedule(() => "done", { priority: 5 }), "done");
});

test("nothing trapped the Wasm module: normal calls still work", async () => {
  // A fresh throttle, and one with every feature on, both against the real server.
  const fresh = throttle(fetch, { limit: 5, windowMs: 1000 });
  const res = await fresh(`${base}/after`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok GET");
  const rich = throttle(fetch, {
    key: uniqueKey(),
    limit: 10,
    windows: [{ limit: 100, windowMs: 60_000 }],
    retry: { limit: 2, jitter: "equal" },
    cache: { ttlMs: 1000 },
    maxQueue: 10,
  });
  const statuses = await Promise.all(
    Array.from({ length: 5 }, (_, i) => rich(`${base}/rich/${i}`, { method: i % 2 ? "POST" : "GET", body: i % 2 ? "b" : undefined }).then((r) => r.status)),
  );
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  assert.equal(await fresh.schedule(() => 7), 7);
  const s = rich.stats();
  assert.deepEqual([s.inFlight, s.queued], [0, 0]);
  assert.ok(new RatewindowError("x") instanceof Error);
});
