// The package against a real local HTTP server (the strict API double on 127.0.0.1).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApiDouble } from "../../www/api-double.mjs";
import { throttle, RatewindowError } from "../../pkg/node.js";

async function serve(options) {
  const api = createApiDouble(options);
  const { url } = await api.listen(0, "127.0.0.1");
  return { api, base: url.replace(/\/$/, "") };
}

test("a burst of three windows' worth gets zero 429s, all succeed, near the physical minimum", async () => {
  const limit = 10;
  const windowMs = 400;
  const { api, base } = await serve({ limit, windowMs, uplinkMs: [0, 25], downlinkMs: [0, 25] });
  try {
    const limited = throttle(fetch, { limit, windowMs });
    const n = 3 * limit;
    const t0 = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        limited(`${base}/api/items/${i}`, { headers: { authorization: `Bearer acct-${i % 3}` } }).then(
          async (r) => (await r.text(), r.status),
        ),
      ),
    );
    const elapsed = performance.now() - t0;
    const stats = api.stats();
    assert.deepEqual(statuses, Array(n).fill(200));
    assert.equal(stats.rejected429, 0, "the server served no 429");
    assert.ok(stats.maxInWindow <= limit, `maxInWindow ${stats.maxInWindow}`);
    assert.equal(stats.accepted, n);
    // Physical minimum (ceil(n/L)-1)·W; each window-full may add a round trip (≤ 50 ms here).
    // The exact bound is proven on a fake clock (tests/sim.rs); here a busy 2-core machine adds
    // timer and scheduling slack, so allow 150 ms of it per window-full: an extra window
    // (a real regression) would still fail.
    const minimum = (Math.ceil(n / limit) - 1) * windowMs;
    console.log(`# burst: ${elapsed.toFixed(0)} ms for ${n} calls, physical minimum ${minimum} ms`);
    assert.ok(elapsed >= minimum, `${elapsed} < ${minimum}`);
    assert.ok(elapsed <= minimum + 3 * (50 + 150), `took ${elapsed.toFixed(0)} ms, minimum ${minimum}`);
    assert.equal(limited.stats().sent, n);
  } finally {
    await api.close();
  }
});

test("Retry-After in seconds is honoured, never earlier", async () => {
  const arrivals = [];
  const { api, base } = await serve({
    limit: 100,
    windowMs: 1000,
    script: [{ status: 429, headers: { "retry-after": "1" } }],
    onArrival: (info) => arrivals.push(performance.now()),
  });
  try {
    const limited = throttle(fetch, { limit: 100, windowMs: 1000 });
    const res = await limited(`${base}/api/ra-seconds`);
    assert.equal(res.status, 200);
    assert.equal(arrivals.length, 2);
    assert.ok(arrivals[1] - arrivals[0] >= 1000, `retried after ${arrivals[1] - arrivals[0]} ms`);
    assert.equal(limited.stats().rateLimited, 1);
  } finally {
    await api.close();
  }
});

test("Retry-After as an HTTP-date is honoured, never earlier", async () => {
  const arrivals = [];
  // Two whole seconds ahead, at a whole second (an HTTP-date has no fractions).
  const at = (Math.floor(Date.now() / 1000) + 3) * 1000;
  const { api, base } = await serve({
    limit: 100,
    windowMs: 1000,
    script: [{ status: 429, headers: { "retry-after": new Date(at).toUTCString() } }],
    onArrival: () => arrivals.push(Date.now()),
  });
  try {
    const limited = throttle(fetch, { limit: 100, windowMs: 1000 });
    const res = await limited(`${base}/api/ra-date`);
    assert.equal(res.status, 200);
    assert.equal(arrivals.length, 2);
    assert.ok(arrivals[1] >= at, `retried ${at - arrivals[1]} ms before the server's date`);
    assert.ok(arrivals[1] - at < 1000, "and not much later");
  } finally {
    await api.close();
  }
});

test("a server that 429s without headers is backed off exponentially", async () => {
  const arrivals = [];
  const bare = { status: 429 };
  const { api, base } = await serve({
    limit: 100,
    windowMs: 1000,
    script: [bare, bare, bare],
    onArrival: () => arrivals.push(performance.now()),
  });
  try {
    const limited = throttle(fetch, {
      limit: 100,
      windowMs: 20,
      retry: { baseMs: 100, jitter: "none" },
      breaker: false,
    });
    const res = await limited(`${base}/api/bare`);
    assert.equal(res.status, 200);
    assert.equal(arrivals.length, 4);
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
    assert.ok(gaps[0] >= 100 && gaps[1] >= 200 && gaps[2] >= 400, `gaps ${gaps.map(Math.round)}`);
    assert.ok(gaps[2] < 800, `gaps ${gaps.map(Math.round)}`);
  } finally {
    await api.close();
  }
});

test("a POST body is replayed intact across retries (string, Request, stream)", async () => {
  const retry = { status: 429, headers: { "retry-after": "0" } };
  const { api, base } = await serve({ limit: 100, windowMs: 1000, script: [retry, retry, retry] });
  try {
    const limited = throttle(fetch, { limit: 100, windowMs: 1000 });
    const body = JSON.stringify({ labels: ["a", "b"], n: 42 });
    const r1 = await limited(`${base}/api/post`, { method: "POST", body, headers: { "content-type": "application/json" } });
    assert.equal(r1.status, 200);
    assert.equal((await r1.json()).body, body);

    const r2 = await limited(new Request(`${base}/api/post`, { method: "POST", body: "from a Request" }));
    assert.equal((await r2.json()).body, "from a Request");

    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("streamed "));
        c.enqueue(new TextEncoder().encode("body"));
        c.close();
      },
    });
    const r3 = await limited(`${base}/api/post`, { method: "POST", body: stream, duplex: "half" });
    assert.equal((await r3.json()).body, "streamed body");
    assert.equal(api.stats().rejected429 + api.stats().scripted, 3);
  } finally {
    await api.close();
  }
});

test("a 429 that survives every retry comes back as a Response", async () => {
  const r429 = { status: 429, headers: { "retry-after": "0" } };
  const { api, base } = await serve({ limit: 100, windowMs: 1000, script: [r429, r429, r429, r429] });
  try {
    const limited = throttle(fetch, { retry: { limit: 2 }, breaker: false });
    const res = await limited(`${base}/api/always-429`);
    assert.equal(res.status, 429);
    assert.equal(limited.stats().sent, 3);
  } finally {
    await api.close();
  }
});

test("network errors reject after retries; non-idempotent methods are not retried", async () => {
  const { api, base } = await serve({});
  await api.close();
  let calls = 0;
  const counting = (...args) => (calls++, fetch(...args));
  const limited = throttle(counting, { retry: { limit: 2, baseMs: 5, maxMs: 10 } });
  await assert.rejects(limited(`${base}/api/gone`), TypeError);
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(limited(`${base}/api/gone`, { method: "POST" }), TypeError);
  assert.equal(calls, 1);
});

test("aborts: before the call, and while queued (at once, freeing the place)", async () => {
  const { api, base } = await serve({ limit: 100, windowMs: 1000 });
  try {
    const limited = throttle(fetch, { limit: 1, windowMs: 60_000 });
    const pre = AbortSignal.abort(new Error("early"));
    await assert.rejects(limited(`${base}/api/a`, { signal: pre }), /early/);
    assert.equal((await limited(`${base}/api/a`)).status, 200);
    const c = new AbortController();
    const queued = limited(`${base}/api/a`, { signal: c.signal });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(limited.stats().queued, 1);
    const t0 = performance.now();
    c.abort(new Error("late"));
    await assert.rejects(queued, /late/);
    assert.ok(performance.now() - t0 < 100);
    assert.equal(limited.stats().queued, 0);
    assert.equal(api.stats().arrivals, 1);
  } finally {
    await api.close();
  }
});

test("misuse rejects the way fetch would", async () => {
  const limited = throttle(fetch);
  await assert.rejects(limited("not a url"), TypeError);
  const used = new Request("http://127.0.0.1:9/x", { method: "POST", body: "x" });
  await used.text();
  await assert.rejects(limited(used), TypeError);
  await assert.rejects(limited("http://127.0.0.1:9/x", 5), TypeError);
});

test("invalid options throw TypeError/RangeError naming the field", () => {
  const cases = [
    [{ limit: 0 }, RangeError, "limit"],
    [{ limit: -1 }, RangeError, "limit"],
    [{ limit: NaN }, RangeError, "limit"],
    [{ limit: 1.5 }, RangeError, "limit"],
    [{ limit: "200" }, TypeError, "limit"],
    [{ windowMs: Infinity }, RangeError, "windowMs"],
    [{ windowMs: -5 }, RangeError, "windowMs"],
    [{ retry: { jitter: "wobbly" } }, RangeError, "retry.jitter"],
    [{ retry: { limit: "3" } }, TypeError, "retry.limit"],
    [{ retry: { maxRetryAfterMs: NaN } }, RangeError, "retry.maxRetryAfterMs"],
    [{ windwMs: 100 }, TypeError, "windwMs"],
    [{ breaker: { threshold: 0 } }, RangeError, "breaker.threshold"],
    ["fast", TypeError, "options"],
  ];
  for (const [options, Kind, field] of cases) {
    assert.throws(() => throttle(fetch, options), (e) => e instanceof Kind && e.message.includes(`\`${field}\``), JSON.stringify(options));
  }
  for (const notFetch of [undefined, null, "fetch", {}, 42]) {
    assert.throws(() => throttle(notFetch), (e) => e instanceof TypeError && /`fetch`/.test(e.message));
  }
  assert.equal(typeof RatewindowError, "function");
});
