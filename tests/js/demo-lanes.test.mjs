// Tests of the demo's lane logic (www/lanes.js), without a browser: the counters a lane shows
// must agree with what the API double saw.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createApiDouble } from "../../www/api-double.mjs";
import {
  DEFAULT_SETTINGS,
  FEWER,
  CACHED_URL,
  categoryOf,
  countInWindow,
  createLaneState,
  jobCall,
  jobMix,
  laneResult,
  parseRetryAfter,
  peakInWindow,
  physicalMinimumMs,
  resetApi,
  runPlainLane,
  runThrottledLane,
} from "../../www/lanes.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function withDouble(options, fn) {
  const double = createApiDouble(options);
  const { url } = await double.listen();
  try {
    return await fn({ double, url });
  } finally {
    await double.close();
  }
}

/**
 * A test-only stand-in for the package's throttle: at most `limit` calls started in any rolling
 * window, counted from each response's arrival back at the client (so never ahead of the server).
 */
function standInThrottle(fetchFn, { limit, windowMs }) {
  const done = [];
  let inFlight = 0;
  const waiters = [];
  let timer = null;
  const free = () => {
    const t = performance.now();
    while (done.length && done[0] <= t - windowMs) done.shift();
    return limit - done.length - inFlight;
  };
  const pump = () => {
    while (waiters.length && free() > 0) {
      inFlight++;
      waiters.shift()();
    }
    if (waiters.length && done.length && !timer) {
      timer = setTimeout(() => {
        timer = null;
        pump();
      }, done[0] + windowMs - performance.now() + 1);
    }
  };
  const limited = async (input, init) => {
    await new Promise((r) => {
      waiters.push(r);
      pump();
    });
    try {
      return await fetchFn(input, init);
    } finally {
      inFlight--;
      done.push(performance.now());
      pump();
    }
  };
  limited.stats = () => ({ inWindow: done.length + inFlight, inFlight, queued: waiters.length, retried: 0 });
  return limited;
}

test("physical minimum, Retry-After parsing and window counting", () => {
  assert.equal(physicalMinimumMs(60, 20, 3000), 6000);
  assert.equal(physicalMinimumMs(61, 20, 3000), 9000);
  assert.equal(physicalMinimumMs(20, 20, 3000), 0);
  assert.equal(physicalMinimumMs(1, 20, 3000), 0);
  assert.equal(physicalMinimumMs(0, 20, 3000), 0);

  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("2", now), 2000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:03 GMT", now), 3000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("-1", now), null);
  assert.equal(parseRetryAfter("1.5", now), null);
  assert.equal(parseRetryAfter(null, now), null);

  const times = [0, 10, 10, 100, 150, 400];
  const brute = (t, W) => times.filter((x) => x > t - W && x <= t).length;
  for (const t of [-1, 0, 9, 10, 99, 100, 109, 110, 150, 249, 250, 399, 400, 500]) {
    assert.equal(countInWindow(times, t, 100), brute(t, 100), `t=${t}`);
  }
  assert.equal(peakInWindow(times, 100), 3); // (-90, 10] and (0, 100] both hold 3
  assert.equal(peakInWindow(times, 101), 4);
  assert.equal(peakInWindow([], 100), 0);
});

test("plain lane: fires everything, retries after Retry-After, and counts what the API saw", async () => {
  const settings = { ...DEFAULT_SETTINGS, limit: 4, windowMs: 300, jobSize: 12, accounts: 2, maxRetries: 2 };
  await withDouble({ limit: 4, windowMs: 300, disableAfter: 3 }, async ({ double, url }) => {
    const waits = [];
    const state = createLaneState(settings.jobSize);
    let updates = 0;
    const result = await runPlainLane({
      fetchFn: fetch,
      apiBase: url,
      org: "org-a",
      settings,
      state,
      // The double says "Retry-After: 1"; waiting a window is enough here and keeps the test short.
      sleep: (ms) => (waits.push(ms), sleep(320)),
      onUpdate: () => updates++,
    });
    const s = double.stats().orgs["org-a"];
    assert.equal(result.sent, s.arrivals);
    assert.equal(result.ok, s.accepted);
    assert.equal(result.r429, s.rejected429);
    assert.equal(result.r403, s.forbidden403);
    assert.equal(result.sent, settings.jobSize + result.retries);
    assert.equal(result.retries, waits.length);
    assert.ok(waits.length > 0 && waits.every((ms) => ms === 1000), `waits ${waits}`);
    assert.ok(result.r403 > 0, "8 refusals over 2 keys disable at least one of them");
    assert.ok(result.ok >= 4 && result.ok < settings.jobSize, `ok ${result.ok}`);
    assert.equal(state.settled, settings.jobSize);
    assert.equal(state.inFlight, 0);
    assert.equal(state.queued, 0);
    assert.ok(state.keys403.size >= 1 && state.keys403.size <= 2);
    assert.equal(state.completions.length, result.ok);
    assert.ok(result.elapsedMs >= 300);
    assert.ok(updates > settings.jobSize);
    assert.equal(double.stats().orgs.default.arrivals, 0, "only org-a was used");
  });
});

test("throttled lane: a correct throttle gets every call through with no 429 near the minimum", async () => {
  const settings = { ...DEFAULT_SETTINGS, limit: 5, windowMs: 250, jobSize: 15, accounts: 3 };
  await withDouble({ limit: 5, windowMs: 250, downlinkMs: [0, 10] }, async ({ double, url }) => {
    const state = createLaneState(settings.jobSize);
    const result = await runThrottledLane({
      throttle: standInThrottle,
      fetchFn: fetch,
      apiBase: url,
      org: "org-b",
      settings,
      state,
    });
    const s = double.stats().orgs["org-b"];
    assert.deepEqual(
      { sent: result.sent, ok: result.ok, r429: result.r429, r403: result.r403, retries: result.retries },
      { sent: 15, ok: 15, r429: 0, r403: 0, retries: 0 },
    );
    assert.equal(s.accepted, 15);
    assert.equal(s.rejected429, 0);
    assert.equal(s.maxInWindow, 5);
    const min = physicalMinimumMs(15, 5, 250);
    assert.ok(result.elapsedMs >= min, `${result.elapsedMs} < ${min}`);
    assert.ok(result.elapsedMs < min + 600, `took ${result.elapsedMs} ms`);
    assert.equal(state.throttleStats().inFlight, 0);
    assert.ok(peakInWindow(state.completions, 250) <= 6);
    assert.deepEqual(Object.keys(s.perKey).sort(), ["acct-0", "acct-1", "acct-2"]);
  });
});

test("throttled lane: 429s and 403s are counted on the wire, throttle failures do not throw", async () => {
  const settings = { ...DEFAULT_SETTINGS, limit: 2, windowMs: 5000, jobSize: 4, accounts: 1 };
  await withDouble({ limit: 2, windowMs: 5000, disableAfter: 1 }, async ({ url }) => {
    // No throttling at all, and no stats(): retries fall back to sent - jobSize.
    const passThrough = (f) => (input, init) => f(input, init);
    const r = await runThrottledLane({ throttle: passThrough, fetchFn: fetch, apiBase: url, settings });
    assert.equal(r.sent, 4);
    assert.equal(r.ok, 2);
    assert.equal(r.r429 + r.r403, 2);
    assert.ok(r.r429 >= 1);
    assert.equal(r.retries, 0);
  });
  const failing = () => async () => {
    throw new Error("breaker open");
  };
  const state = createLaneState(3);
  const r = await runThrottledLane({
    throttle: failing,
    fetchFn: fetch,
    apiBase: "http://127.0.0.1:9",
    settings: { ...settings, jobSize: 3 },
    state,
  });
  assert.equal(r.ok, 0);
  assert.equal(state.errors, 3);
  assert.equal(state.settled, 3);
});

test("resetApi sets the double up for a run, and reports a refused config", async () => {
  await withDouble({ limit: 1, windowMs: 1000 }, async ({ double, url }) => {
    await fetch(`${url}/api/x`).then((r) => r.text());
    await resetApi(fetch, url, { ...DEFAULT_SETTINGS, limit: 9, windowMs: 1500, latencyMinMs: 5, latencyMaxMs: 7 });
    const o = double.options();
    assert.equal(o.limit, 9);
    assert.equal(o.windowMs, 1500);
    assert.deepEqual(o.downlinkMs, [5, 7]);
    assert.equal(o.uplinkMs, 0);
    assert.equal(double.stats().arrivals, 0);
    await assert.rejects(
      resetApi(fetch, url, { ...DEFAULT_SETTINGS, latencyMinMs: 50, latencyMaxMs: 10 }),
      /__config answered 400/,
    );
  });
});

test("the job: one item read per call, or with `fewer` a mix of two reads and a label per item", () => {
  const plainJob = { ...DEFAULT_SETTINGS, accounts: 3 };
  assert.deepEqual(jobCall(4, plainJob), { i: 4, kind: "item", item: 4, account: 1, resource: null });
  const mix = { ...DEFAULT_SETTINGS, accounts: 3, fewer: true };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((i) => jobCall(i, mix)),
    [
      { i: 0, kind: "read", item: 0, account: 0, resource: "custom_categories" },
      { i: 1, kind: "read", item: 0, account: 0, resource: "locations" },
      { i: 2, kind: "label", item: 0, account: 0, resource: null },
      { i: 3, kind: "read", item: 1, account: 1, resource: "custom_categories" },
      { i: 4, kind: "read", item: 1, account: 1, resource: "locations" },
      { i: 5, kind: "label", item: 1, account: 1, resource: null },
    ],
  );
  assert.equal(jobCall(11, mix).account, 0, "item 3 belongs to worker 0 again");
  assert.deepEqual(jobMix(60, true), { reads: 40, labels: 20 });
  assert.deepEqual(jobMix(61, true), { reads: 41, labels: 20 });
  assert.deepEqual(jobMix(2, true), { reads: 2, labels: 0 });
  assert.deepEqual(jobMix(60, false), { reads: 60, labels: 0 });
  assert.equal(categoryOf(7), categoryOf(12));
  for (const u of ["/api/org-b/custom_categories", "http://h/api/org-b/locations?x=1", "/api/locations"]) {
    assert.ok(CACHED_URL.test(u), u);
  }
  for (const u of ["/api/org-b/items/1", "/api/org-b/locations_archive", "/api/org-b/admin/bulk_actions/category"]) {
    assert.ok(!CACHED_URL.test(u), u);
  }
  assert.equal(FEWER.bulkMaxSize, 100);
  // Without `fewer`, a lane result keeps its shape.
  assert.deepEqual(Object.keys(laneResult(createLaneState(3))), ["sent", "ok", "r429", "r403", "retries", "aborted", "elapsedMs"]);
});

test("plain lane with `fewer`: the same mix, one request per call, labels after their item's reads", async () => {
  const settings = { ...DEFAULT_SETTINGS, limit: 100, windowMs: 1000, jobSize: 14, accounts: 2, fewer: true };
  const seen = [];
  await withDouble(
    { limit: 100, windowMs: 1000, downlinkMs: [0, 5], onArrival: (a) => seen.push(a) },
    async ({ double, url }) => {
      const result = await runPlainLane({ fetchFn: fetch, apiBase: url, org: "org-a", settings });
      assert.deepEqual({ sent: result.sent, ok: result.ok, r429: result.r429 }, { sent: 14, ok: 14, r429: 0 });
      assert.equal(result.cache, undefined, "the plain lane has no cache");
      const s = double.stats().orgs["org-a"];
      assert.equal(s.accepted, 14);
      assert.equal(s.bulkRequests, 0);
      const paths = seen.map((a) => `${a.method} ${a.path.replace("/api/org-a/", "")}`);
      // 14 calls: items 0-3 complete (3 calls each), item 4 only has its two reads.
      assert.equal(paths.filter((p) => p === "GET custom_categories").length, 5);
      assert.equal(paths.filter((p) => p === "GET locations").length, 5);
      assert.deepEqual(paths.filter((p) => p.startsWith("PATCH")).sort(), ["PATCH items/0", "PATCH items/1", "PATCH items/2", "PATCH items/3"]);
      // Item 0 (worker acct-0): its label arrives after both its reads.
      const at = (p, key) => seen.findIndex((a) => `${a.method} ${a.path.replace("/api/org-a/", "")}` === p && a.key === key);
      assert.ok(at("PATCH items/0", "acct-0") > at("GET custom_categories", "acct-0"));
      assert.ok(at("PATCH items/0", "acct-0") > at("GET locations", "acct-0"));
      assert.deepEqual(Object.keys(s.perKey).sort(), ["acct-0", "acct-1"]);
    },
  );
});

test("throttled lane with `fewer` (the real package): reads cached per key, labels in bulk, zero 429s", async (t) => {
  let pkg;
  try {
    pkg = await import("../../pkg/node.js");
  } catch (err) {
    t.skip(`the package is not built (make build): ${err.message}`);
    return;
  }
  const settings = { ...DEFAULT_SETTINGS, limit: 5, windowMs: 400, jobSize: 60, accounts: 3, fewer: true };
  await assert.rejects(
    runThrottledLane({ throttle: pkg.throttle, fetchFn: fetch, apiBase: "http://127.0.0.1:9", settings }),
    /needs the package's `batcher`/,
  );
  await withDouble(
    { limit: 5, windowMs: 400, downlinkMs: [5, 30], cacheControl: "private, max-age=60" },
    async ({ double, url }) => {
      const state = createLaneState(settings.jobSize);
      const result = await runThrottledLane({
        throttle: pkg.throttle,
        batcher: pkg.batcher,
        fetchFn: fetch,
        apiBase: url,
        org: "org-b",
        settings,
        state,
      });
      const s = double.stats().orgs["org-b"];
      assert.deepEqual(
        { ok: result.ok, r429: result.r429, r403: result.r403, retries: result.retries, calls: result.calls },
        { ok: 60, r429: 0, r403: 0, retries: 0, calls: 60 },
      );
      // 3 workers read 2 resources once each; the other 34 reads came from the cache or joined one.
      assert.equal(result.cache.saved, 34);
      assert.ok(result.cache.hits > 0, `hits ${result.cache.hits}`);
      assert.equal(result.cache.entries, 6);
      assert.equal(result.bulk.items, 20);
      assert.ok(result.bulk.requests >= 3 && result.bulk.requests < 20, `bulk requests ${result.bulk.requests}`);
      assert.equal(result.sent, 6 + result.bulk.requests);
      assert.equal(s.arrivals, result.sent);
      assert.equal(s.rejected429, 0);
      assert.equal(s.bulkItems, 20);
      assert.equal(s.bulkRequests, result.bulk.requests);
      assert.ok(s.maxInWindow <= 5);
      // 60 calls one by one need 11 windows of 400 ms at 5 per window; these few requests need ~2.
      assert.ok(result.elapsedMs < physicalMinimumMs(60, 5, 400), `took ${result.elapsedMs} ms`);
      assert.equal(state.settled, 60);
    },
  );
});
