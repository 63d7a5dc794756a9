// Scheduling that real integrations need, against the strict local API double.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createApiDouble } from "../../www/api-double.mjs";
import { throttle, RatewindowError, QueueFullError, RateLimitError } from "../../pkg/node.js";

async function serve(options) {
  const api = createApiDouble({ disableAfter: 0, ...options });
  const { url } = await api.listen(0, "127.0.0.1");
  return { api, base: url.replace(/\/$/, "") };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let keys = 0;
const freshKey = () => `test-org-${process.pid}-${++keys}`;

test("two throttles with one key and different API keys share one budget: zero 429s", async () => {
  const limit = 8;
  const windowMs = 300;
  const { api, base } = await serve({ limit, windowMs, downlinkMs: [0, 20] });
  try {
    const key = freshKey();
    const withKey = (apiKey) => (url, init = {}) => fetch(url, { ...init, headers: { authorization: `Bearer ${apiKey}` } });
    const a = throttle(withKey("acct-a"), { key, limit, windowMs });
    const b = throttle(withKey("acct-b"), { key, limit, windowMs });
    const calls = [];
    for (let i = 0; i < 24; i++) calls.push((i % 2 ? a : b)(`${base}/api/shared/${i}`).then((r) => r.status));
    assert.deepEqual(await Promise.all(calls), Array(24).fill(200));
    const s = api.stats();
    assert.equal(s.rejected429, 0);
    assert.ok(s.maxInWindow <= limit);
    assert.ok(s.perKey["acct-a"].accepted > 0 && s.perKey["acct-b"].accepted > 0);
    assert.equal(a.stats().sent, 24, "one budget: both see all sends");
    // Without a key, budgets are separate.
    assert.equal(throttle(fetch, { limit, windowMs }).stats().sent, 0);
  } finally {
    await api.close();
  }
});

test("conflicting options for an existing key are an error, equal ones are not", () => {
  const key = freshKey();
  throttle(fetch, { key, limit: 10, windowMs: 1000 });
  throttle(fetch, { key, windowMs: 1000, limit: 10 });
  assert.throws(() => throttle(fetch, { key, limit: 20, windowMs: 1000 }), (e) => e instanceof TypeError && /limit/.test(e.message) && e.message.includes(key));
  assert.throws(() => throttle(fetch, { key: 42 }), TypeError);
});

test("a queued call aborted frees its place for the next one and never reaches the server", async () => {
  const { api, base } = await serve({ limit: 100, windowMs: 1000 });
  try {
    const limited = throttle(fetch, { limit: 1, windowMs: 150 });
    const first = limited(`${base}/api/q/1`);
    const c = new AbortController();
    const aborted = limited(`${base}/api/q/2`, { signal: c.signal });
    const third = limited(`${base}/api/q/3`);
    await sleep(20);
    c.abort();
    await assert.rejects(aborted, { name: "AbortError" });
    assert.equal((await first).status, 200);
    assert.equal((await third).status, 200);
    assert.equal(api.stats().arrivals, 2);
    assert.equal(limited.stats().sent, 2);
  } finally {
    await api.close();
  }
});

test("maxQueue rejects with QueueFullError, maxWaitMs with RateLimitError carrying retryAt", async () => {
  const { api, base } = await serve({ limit: 100, windowMs: 1000 });
  try {
    const limited = throttle(fetch, { limit: 1, windowMs: 5_000, maxQueue: 1 });
    const a = limited(`${base}/api/m/1`);
    await sleep(10);
    const b = limited(`${base}/api/m/2`, { signal: AbortSignal.timeout(100) });
    await sleep(10);
    const err = await limited(`${base}/api/m/3`).catch((e) => e);
    assert.ok(err instanceof QueueFullError && err instanceof RatewindowError, String(err));
    assert.equal(err.name, "QueueFullError");
    assert.equal(err.maxQueue, 1);
    await a;
    await assert.rejects(b);

    const waiting = throttle(fetch, { limit: 1, windowMs: 5_000, maxWaitMs: 1_000 });
    await waiting(`${base}/api/w/1`);
    const t0 = Date.now();
    const late = await waiting(`${base}/api/w/2`).catch((e) => e);
    assert.ok(late instanceof RateLimitError && late instanceof RatewindowError, String(late));
    assert.equal(late.name, "RateLimitError");
    assert.ok(Date.now() - t0 < 100, "rejected at once");
    assert.ok(late.retryAt >= t0 + 4_000 && late.retryAt <= t0 + 5_200, `retryAt ${late.retryAt - t0} ms ahead`);
    assert.equal(waiting.stats().dropped, 1);
  } finally {
    await api.close();
  }
});

test("priorities order the queue: high, auto, low; first come first served within a level", async () => {
  const order = [];
  const { api, base } = await serve({ limit: 100, windowMs: 1000, onArrival: (i) => order.push(i.path) });
  try {
    // Aging (a waiting call rises one level per priorityAgingMs) is tested on the fake clock.
    const limited = throttle(fetch, { limit: 1, windowMs: 60, priorityAgingMs: 60_000 });
    const first = limited(`${base}/api/p/first`);
    await sleep(5);
    const calls = [
      limited(`${base}/api/p/low`, { priority: "low" }),
      limited(`${base}/api/p/auto1`),
      limited(`${base}/api/p/high1`, { priority: "high" }),
      limited(`${base}/api/p/auto2`, { priority: "auto" }),
      limited(`${base}/api/p/high2`, { priority: "high" }),
    ];
    await Promise.all([first, ...calls]);
    assert.deepEqual(order, ["/api/p/first", "/api/p/high1", "/api/p/high2", "/api/p/auto1", "/api/p/auto2", "/api/p/low"]);
  } finally {
    await api.close();
  }
});

test("a steady hidden consumer causes 429s in the first window at most, and all calls succeed", async () => {
  const limit = 20;
  const windowMs = 1000;
  const log = [];
  const { api, base } = await serve({
    limit,
    windowMs,
    hidden: { perWindow: 8 },
    downlinkMs: [0, 10],
    onArrival: (i) => i.key !== "__hidden__" && log.push({ t: performance.now(), status: i.status }),
  });
  try {
    await sleep(windowMs); // the hidden consumer is in full swing
    const limited = throttle(fetch, { limit, windowMs });
    const t0 = performance.now();
    const n = 48;
    const statuses = await Promise.all(Array.from({ length: n }, (_, i) => limited(`${base}/api/h/${i}`).then((r) => r.status)));
    assert.deepEqual(statuses, Array(n).fill(200));
    const late429 = log.filter((e) => e.status === 429 && e.t - t0 > windowMs);
    const early429 = log.filter((e) => e.status === 429 && e.t - t0 <= windowMs);
    console.log(`# hidden consumer: ${early429.length} 429s in the first window, ${late429.length} after; learned limit ${limited.stats().limit}`);
    assert.equal(late429.length, 0, `429s after the first window at ${late429.map((e) => Math.round(e.t - t0))} ms`);
    assert.ok(api.stats().maxInWindow <= limit);
  } finally {
    await api.close();
  }
});

test("events fire in order, with details; a listener that throws or re-enters breaks nothing", async () => {
  const { api, base } = await serve({ limit: 100, windowMs: 1000, script: { "/api/e/429": [{ status: 429, headers: { "retry-after": "0" } }] } });
  const origError = console.error;
  const reported = [];
  console.error = (...args) => reported.push(args.join(" "));
  try {
    const limited = throttle(fetch, { limit: 10, windowMs: 100, learnShare: false });
    const events = [];
    const record = (e) => events.push(e.type);
    for (const type of ["queued", "sent", "settled", "retry", "ratelimited", "pause", "resume"]) {
      limited.addEventListener(type, record);
    }
    await limited(`${base}/api/e/429`);
    await sleep(5);
    assert.deepEqual(events, ["queued", "sent", "settled", "ratelimited", "pause", "retry", "resume", "sent", "settled"]);

    let inner;
    const reentrant = (e) => {
      assert.equal(typeof limited.stats().sent, "number");
      if (!inner) inner = limited(`${base}/api/e/inner`);
    };
    limited.addEventListener("sent", reentrant, { once: true });
    limited.addEventListener("settled", () => {
      throw new Error("listener bug");
    });
    const outer = await limited(`${base}/api/e/outer`);
    assert.equal(outer.status, 200);
    assert.equal((await inner).status, 200);
    await sleep(5);
    assert.ok(reported.some((m) => m.includes("listener bug")), "the listener's error is reported");
    let detail;
    limited.addEventListener("settled", (e) => (detail = e.detail));
    await limited(`${base}/api/e/detail`);
    assert.equal(detail.status, 200);
    assert.equal(detail.attempt, 1);
  } finally {
    console.error = origError;
    await api.close();
  }
});

test("schedule() runs any function under the budget, with isRateLimited for non-fetch clients", async () => {
  const limited = throttle(fetch, { limit: 2, windowMs: 100, learnShare: false });
  const times = [];
  const results = await Promise.all(
    [1, 2, 3].map((n) => limited.schedule(async () => (times.push(performance.now()), n * 10))),
  );
  assert.deepEqual(results, [10, 20, 30]);
  assert.ok(times[2] - times[0] >= 99, `third call ran ${times[2] - times[0]} ms after the first`);

  let attempts = 0;
  const client = async () => {
    attempts++;
    if (attempts < 3) {
      const e = new Error("Too Many Requests");
      e.status = 429;
      throw e;
    }
    return "done";
  };
  const isRateLimited = (v, failed) => (failed && v.status === 429 ? { retryAfterMs: 20 } : false);
  assert.equal(await limited.schedule(client, { isRateLimited }), "done");
  assert.equal(attempts, 3);
  // Without the hook, a thrown error is final (not known to be idempotent).
  await assert.rejects(limited.schedule(async () => { throw new Error("boom"); }), /boom/);
  await assert.rejects(limited.schedule(() => { throw new Error("sync boom"); }), /sync boom/);
});

test("minIntervalMs spaces sends evenly", async () => {
  const limited = throttle(fetch, { limit: 100, windowMs: 1000, minIntervalMs: 40 });
  const times = [];
  await Promise.all([1, 2, 3, 4].map(() => limited.schedule(async () => times.push(performance.now()))));
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps.every((g) => g >= 39), `gaps ${gaps.map(Math.round)}`);
});

test("no abort listener is left behind on long-lived signals", async () => {
  const limited = throttle(fetch, { limit: 1_000, windowMs: 1000 });
  const c = new AbortController();
  for (let i = 0; i < 200; i++) await limited.schedule(async () => i, { signal: c.signal });
  assert.equal(getEventListeners(c.signal, "abort").length, 0);
});

test("schedule timeoutMs: a function that never settles fails with TimeoutError and frees its slot", async () => {
  const limited = throttle(fetch, { limit: 1, windowMs: 50, learnShare: false });
  const t0 = performance.now();
  await assert.rejects(limited.schedule(() => new Promise(() => {}), { timeoutMs: 100 }), { name: "TimeoutError" });
  assert.ok(performance.now() - t0 >= 99);
  assert.equal(limited.stats().inFlight, 0);
  // The budget is not wedged: the next call goes once the window has passed.
  assert.equal(await limited.schedule(async () => "next", { timeoutMs: 1_000 }), "next");
  await assert.rejects(limited.schedule(async () => 1, { timeoutMs: -1 }), RangeError);
});

test("maxWaitMs also bounds a call waiting behind maxConcurrent: rejected at its deadline", async () => {
  const limited = throttle(fetch, { limit: 100, windowMs: 1_000, maxConcurrent: 1, maxWaitMs: 150 });
  const dropped = [];
  limited.addEventListener("dropped", (e) => dropped.push(e.detail.reason));
  let release;
  let firstDone = false;
  const first = limited.schedule(() => new Promise((r) => (release = r)));
  first.then(() => (firstDone = true));
  await sleep(5);
  // The window has room, so it is accepted; only the concurrency bound holds it.
  const t0 = Date.now();
  const second = limited.schedule(() => "never sent").catch((e) => e);
  const err = await second;
  const waited = Date.now() - t0;
  assert.ok(err instanceof RateLimitError, String(err));
  // Rejected while the first call still holds the only place (it is released below).
  assert.equal(firstDone, false);
  assert.ok(waited >= 140, `rejected after ${waited} ms, before its deadline`);
  assert.deepEqual(dropped, ["max-wait"]);
  assert.equal(limited.stats().queued, 0);
  release("done");
  assert.equal(await first, "done");
  assert.equal(limited.stats().dropped, 1);
  // A call that gets its place in time is served.
  assert.equal(await limited.schedule(() => "third"), "third");
});

test("dispose(): later calls reject, accepted calls run to the end, a key is released after its window", async () => {
  const key = freshKey();
  const a = throttle(fetch, { key, limit: 1, windowMs: 200 });
  const b = throttle(fetch, { key, limit: 1, windowMs: 200 });
  const ran = [];
  const calls = [1, 2, 3].map((i) => a.schedule(async () => (ran.push(i), i)));
  const disposed = a.dispose();
  let settled = false;
  disposed.then(() => (settled = true));
  await assert.rejects(a.schedule(() => 4), (e) => e instanceof RatewindowError && /disposed/.test(e.message));
  await assert.rejects(a("http://127.0.0.1:1/"), (e) => e instanceof RatewindowError && /disposed/.test(e.message));
  // The queued calls still run (one per 200 ms window): nothing accepted is dropped.
  assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
  await disposed;
  assert.ok(settled);
  assert.deepEqual(ran, [1, 2, 3]);
  // `b` still uses the key's budget, so the key is kept: a new throttle gets the same one.
  const c = throttle(fetch, { key, limit: 1, windowMs: 200 });
  assert.equal(c.stats().sent, 3);
  await b.dispose();
  await c.dispose();
  // Released only once the window has passed: recreated at once, it is the same budget.
  const again = throttle(fetch, { key, limit: 1, windowMs: 200 });
  assert.equal(again.stats().sent, 3);
  await again.dispose();
  assert.equal(await again.dispose(), undefined, "dispose() twice is harmless");
});

test("dispose() releases an unused key after its window; a different config may then use it", async () => {
  const key = freshKey();
  const a = throttle(fetch, { key, limit: 2, windowMs: 100 });
  await a.schedule(() => 1);
  await a.dispose();
  // Still held during the window (options must match).
  assert.throws(() => throttle(fetch, { key, limit: 5, windowMs: 100 }), TypeError);
  await sleep(250);
  const b = throttle(fetch, { key, limit: 5, windowMs: 100 });
  assert.equal(b.stats().sent, 0, "a fresh budget");
  await b.dispose();
  if (typeof Symbol.asyncDispose === "symbol") assert.equal(typeof b[Symbol.asyncDispose], "function");
});

test("listeners that abort other calls during a scheduling round: every call settles once", async () => {
  // Calls granted at once skip the waiting promise; a listener running in the same round (resume,
  // dropped, queued) that aborts another waiting call must not strand either of them.
  const limited = throttle(fetch, { limit: 3, windowMs: 60, maxWaitMs: 90, maxConcurrent: 2 });
  const controllers = [];
  const abortOne = () => controllers.splice(Math.floor(controllers.length / 2), 1)[0]?.abort();
  for (const type of ["resume", "dropped", "queued", "settled"]) {
    limited.addEventListener(type, () => {
      if (Math.random() < 0.3) abortOne();
    });
  }
  const outcomes = [];
  const calls = [];
  for (let i = 0; i < 300; i++) {
    const c = new AbortController();
    controllers.push(c);
    let settled = 0;
    calls.push(
      limited
        .schedule(() => sleep(Math.random() * 10).then(() => i), { signal: c.signal })
        .then(
          () => outcomes.push(++settled === 1 ? "ok" : "twice"),
          (e) => outcomes.push(++settled === 1 ? e.name : "twice"),
        ),
    );
    if (i % 7 === 0) await sleep(Math.random() * 15);
  }
  let timer;
  const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("a call never settled")), 20_000)));
  await Promise.race([Promise.all(calls), hang]).finally(() => clearTimeout(timer));
  assert.equal(outcomes.length, 300);
  assert.ok(!outcomes.includes("twice"));
  const known = new Set(["ok", "AbortError", "RateLimitError"]);
  assert.deepEqual(outcomes.filter((o) => !known.has(o)), []);
  const s = limited.stats();
  assert.equal(s.inFlight + s.queued, 0);
});
