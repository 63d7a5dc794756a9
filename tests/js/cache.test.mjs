// Fewer requests: the response cache, in-flight de-duplication and bulk batching, against the
// strict local API double (each answer says which account asked, `key`, and which arrival it was, `n`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createApiDouble } from "../../www/api-double.mjs";
import { throttle, batcher } from "../../pkg/node.js";

async function serve(options) {
  const api = createApiDouble({ limit: 10_000, windowMs: 1000, disableAfter: 0, ...options });
  const { url } = await api.listen(0, "127.0.0.1");
  return { api, base: url.replace(/\/$/, "") };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const budget = { limit: 10_000, windowMs: 1000 };
const bearer = (key) => ({ authorization: `Bearer ${key}` });

// The double marks every answer `Cache-Control: no-store` (right for a rate-limit double). An API
// whose answers may be cached is simulated by dropping exactly that blanket header; answers that
// say anything else (scripted ones) pass unchanged.
async function cacheableFetch(input, init) {
  const res = await fetch(input, init);
  if (res.headers.get("cache-control") !== "no-store") return res;
  const headers = new Headers(res.headers);
  headers.delete("cache-control");
  const out = new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  Object.defineProperty(out, "url", { value: res.url });
  return out;
}

test("a cached GET does not reach the server within the TTL, and does after it", async () => {
  const { api, base } = await serve();
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 200 } });
    const first = await limited(`${base}/api/categories`);
    const a = await first.json();
    const second = await limited(`${base}/api/categories`);
    const b = await second.json();
    assert.equal(api.stats().arrivals, 1, "the second call was answered from the cache");
    assert.equal(b.n, a.n);
    assert.equal(second.status, 200);
    assert.equal(second.url, `${base}/api/categories`, "a cached Response keeps its URL");
    assert.equal(second.headers.get("content-type"), first.headers.get("content-type"));
    assert.notEqual(first, second, "each call gets its own Response");
    assert.deepEqual({ ...limited.stats().cache }, { hits: 1, misses: 1, saved: 1, entries: 1, bytes: limited.stats().cache.bytes, deduped: 0 });
    assert.ok(limited.stats().cache.bytes > 0);
    assert.equal(limited.stats().sent, 1, "the Wasm stats are still there");
    await sleep(300);
    const third = await (await limited(`${base}/api/categories`)).json();
    assert.equal(api.stats().arrivals, 2, "after the TTL the call reached the server");
    assert.equal(third.n, 2);
  } finally {
    await api.close();
  }
});

test("two accounts never share an entry; throttles sharing a key keep their own caches", async () => {
  const { api, base } = await serve();
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 } });
    const ask = async (headers) => (await limited(`${base}/api/locations`, { headers })).json();
    const alice = await ask(bearer("alice"));
    const bob = await ask(bearer("bob"));
    const carol = await ask({ "x-api-key": "carol" });
    const anonymous = await ask({});
    assert.deepEqual([alice.key, bob.key, carol.key, anonymous.key], ["alice", "bob", "carol", "anonymous"]);
    assert.equal(api.stats().arrivals, 4, "one server request per account");
    // Again: every account gets its own cached answer.
    assert.deepEqual(
      [(await ask(bearer("alice"))).key, (await ask(bearer("bob"))).key, (await ask({ "x-api-key": "carol" })).key, (await ask({})).key],
      ["alice", "bob", "carol", "anonymous"],
    );
    assert.equal(api.stats().arrivals, 4);
    assert.equal(limited.stats().cache.hits, 4);
    assert.ok(!JSON.stringify(limited.stats()).includes("alice"), "no credential in the stats");
    // A custom credential header joins the key when named in keyHeaders.
    const custom = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000, keyHeaders: ["X-Account"] } });
    await custom(`${base}/api/custom`, { headers: { "x-account": "one" } });
    await custom(`${base}/api/custom`, { headers: { "x-account": "two" } });
    await custom(`${base}/api/custom`, { headers: { "x-account": "one" } });
    assert.equal(api.stats().arrivals, 6);
    // Two throttles on one budget (key) may have different caches and share no entry.
    const org = `cache-org-${process.pid}`;
    const a = throttle(cacheableFetch, { ...budget, key: org, cache: { ttlMs: 60_000 } });
    const b = throttle(cacheableFetch, { ...budget, key: org, cache: { ttlMs: 1000, maxEntries: 5 } });
    await a(`${base}/api/shared-key`);
    await b(`${base}/api/shared-key`);
    assert.equal(api.stats().arrivals, 8, "b's cache is not a's");
    assert.equal(a.stats().sent, b.stats().sent, "one budget");
    assert.equal(a.stats().cache.entries, 1);
    assert.equal(b.stats().cache.entries, 1);
  } finally {
    await api.close();
  }
});

test("Cache-Control no-store answers are never stored; max-age shortens the TTL; Vary is in the key", async () => {
  const ok = (headers) => ({ status: 200, headers });
  const { api, base } = await serve({
    script: {
      "/api/nostore": [ok({ "cache-control": "private, no-store" }), ok({ "cache-control": "private, no-store" })],
      "/api/private": [ok({ "cache-control": "private, max-age=60" }), ok({ "cache-control": "private, max-age=60" })],
      "/api/short": [ok({ "cache-control": "max-age=1" }), ok({ "cache-control": "max-age=1" })],
      "/api/vary": [ok({ "cache-control": "max-age=60", vary: "Accept-Language" }), ok({ "cache-control": "max-age=60", vary: "Accept-Language" })],
    },
  });
  try {
    const limited = throttle(fetch, { ...budget, cache: { ttlMs: 60_000 } });
    const n = async (path, init) => (await (await limited(`${base}${path}`, init)).json()).n;
    // The double's own answers say no-store: with the plain fetch nothing is cached.
    assert.notEqual(await n("/api/plain"), await n("/api/plain"));
    assert.notEqual(await n("/api/nostore"), await n("/api/nostore"));
    assert.equal(limited.stats().cache.entries, 0);
    // The same scripted path with a cacheable answer is cached (so the above could fail).
    assert.equal(await n("/api/private"), await n("/api/private"));
    assert.equal(api.stats().arrivals, 5);
    // max-age=1 shortens the 60 s TTL to one second.
    const short = await n("/api/short");
    assert.equal(await n("/api/short"), short);
    await sleep(1100);
    assert.notEqual(await n("/api/short"), short);
    // Vary: Accept-Language: one entry per language.
    const en = await n("/api/vary", { headers: { "accept-language": "en" } });
    const de = await n("/api/vary", { headers: { "accept-language": "de" } });
    assert.notEqual(en, de);
    assert.equal(await n("/api/vary", { headers: { "accept-language": "en" } }), en);
    assert.equal(await n("/api/vary", { headers: { "accept-language": "de" } }), de);
    assert.equal(api.stats().arrivals, 9);
  } finally {
    await api.close();
  }
});

test('init.cache "no-store" neither reads nor writes; "reload" and "no-cache" skip the read and write', async () => {
  const { api, base } = await serve();
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 } });
    const n = async (init) => (await (await limited(`${base}/api/settings`, init)).json()).n;
    assert.equal(await n(), 1);
    assert.equal(await n(), 1, "cached");
    assert.equal(await n({ cache: "no-store" }), 2, "no-store went to the server");
    assert.equal(await n(), 1, "and did not replace the entry");
    assert.equal(await n({ cache: "reload" }), 3, "reload went to the server");
    assert.equal(await n(), 3, "and replaced the entry");
    assert.equal(await n({ cache: "no-cache" }), 4, "no-cache is a reload");
    assert.equal(await n(), 4);
    assert.equal(await n({ headers: { "cache-control": "no-store" } }), 5, "so is a request header");
    assert.equal(await n(), 4);
    // A per-call TTL: accept nothing older than 50 ms here.
    await sleep(80);
    assert.equal(await n({ ratewindow: { ttlMs: 50 } }), 6);
    assert.equal(await n(), 6);
    assert.equal(api.stats().arrivals, 6);
  } finally {
    await api.close();
  }
});

test("a write to a URL drops what is cached for it; clearCache drops by prefix", async () => {
  const { api, base } = await serve();
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 } });
    const n = async (path) => (await (await limited(`${base}${path}`)).json()).n;
    const items = await n("/api/items");
    const other = await n("/api/other");
    assert.equal(await n("/api/items"), items);
    await (await limited(`${base}/api/items`, { method: "POST", body: "{}" })).text();
    assert.notEqual(await n("/api/items"), items, "the POST made the entry stale");
    assert.equal(await n("/api/other"), other, "other URLs stay cached");
    assert.equal(limited.clearCache(`${base}/api/oth`), 1);
    assert.notEqual(await n("/api/other"), other);
    assert.equal(limited.clearCache(), 2);
    assert.equal(limited.stats().cache.entries, 0);
  } finally {
    await api.close();
  }
});

test("50 concurrent identical GETs cause one server request and 50 readable responses", async () => {
  const { api, base } = await serve({ downlinkMs: 50 });
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 } });
    const responses = await Promise.all(Array.from({ length: 50 }, () => limited(`${base}/api/dashboard`, { headers: bearer("alice") })));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    assert.equal(api.stats().arrivals, 1);
    assert.equal(new Set(responses).size, 50, "50 distinct Response objects");
    assert.ok(bodies.every((b) => b.n === 1 && b.key === "alice"));
    assert.equal(limited.stats().cache.deduped, 49);
    assert.equal(limited.stats().cache.saved, 49);
    assert.equal(limited.stats().sent, 1);
    // Another account's identical call does not join alice's request.
    const [x, y] = await Promise.all([
      limited(`${base}/api/dashboard2`, { headers: bearer("alice") }).then((r) => r.json()),
      limited(`${base}/api/dashboard2`, { headers: bearer("bob") }).then((r) => r.json()),
    ]);
    assert.deepEqual([x.key, y.key], ["alice", "bob"]);
    // dedupe without a cache: concurrent calls share, later ones go again.
    const shared = throttle(fetch, { ...budget, dedupe: true });
    const three = await Promise.all([1, 2, 3].map(() => shared(`${base}/api/live`).then((r) => r.json())));
    assert.deepEqual(three.map((b) => b.n), [4, 4, 4]);
    assert.equal((await (await shared(`${base}/api/live`)).json()).n, 5, "not cached");
    assert.deepEqual(shared.stats().cache, { hits: 0, misses: 0, saved: 2, entries: 0, bytes: 0, deduped: 2 });
    // dedupe: false with a cache: concurrent misses each go to the server.
    const apart = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 }, dedupe: false });
    await Promise.all([1, 2].map(() => apart(`${base}/api/apart`).then((r) => r.text())));
    assert.equal(api.stats().arrivals, 7, "1 + 2 + 1 + 1 before, then 2");
  } finally {
    await api.close();
  }
});

test("an abort of one de-duplicated caller rejects only that caller", async () => {
  const { api, base } = await serve({ downlinkMs: 150 });
  try {
    const limited = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000 } });
    const controllers = [0, 1, 2].map(() => new AbortController());
    const calls = controllers.map((c) => limited(`${base}/api/report`, { signal: c.signal }));
    await sleep(30);
    controllers[1].abort();
    const [a, b, c] = await Promise.allSettled(calls);
    assert.equal(b.status, "rejected");
    assert.equal(b.reason.name, "AbortError");
    assert.equal(a.status, "fulfilled");
    assert.equal(c.status, "fulfilled");
    assert.equal((await a.value.json()).n, 1);
    assert.equal((await c.value.json()).n, 1);
    assert.equal(api.stats().arrivals, 1);
    assert.equal(limited.stats().cache.entries, 1, "the shared answer was still stored");
    // No listener of ours stays on a signal. (The throttle checks its input with `new Request`,
    // which leaves one of undici's own, weakly held listeners: count only what is beyond that.)
    const baseline = new AbortController();
    void new Request(`${base}/api/report`, { signal: baseline.signal });
    const left = getEventListeners(baseline.signal, "abort").length;
    for (const ctl of controllers) assert.ok(getEventListeners(ctl.signal, "abort").length <= left, "no listener left");
    // When every caller leaves, the shared request stops and nothing is stored.
    const solo = new AbortController();
    const lone = limited(`${base}/api/lonely`, { signal: solo.signal });
    await sleep(30);
    solo.abort(new Error("gone"));
    await assert.rejects(lone, /gone/);
    await sleep(200);
    assert.equal(limited.stats().cache.entries, 1);
    const again = await limited(`${base}/api/lonely`);
    assert.equal((await again.json()).n, 3, "a later call sends its own request");
    // An already aborted signal rejects at once, even for a cached answer.
    await assert.rejects(limited(`${base}/api/report`, { signal: AbortSignal.abort() }), { name: "AbortError" });
  } finally {
    await api.close();
  }
});

test("1,000 batched calls with maxSize 100 cause 10 bulk requests; each caller gets its own result or error", async () => {
  const { api, base } = await serve();
  try {
    const limited = throttle(fetch, { limit: 100, windowMs: 1000 });
    const sizes = [];
    const label = batcher({
      maxSize: 100,
      maxWaitMs: 20,
      run: async (items) => {
        sizes.push(items.length);
        // An echoing endpoint (the double's real bulk route answers per-item results itself).
        const res = await limited(`${base}/api/admin/bulk_echo`, {
          method: "POST",
          headers: { ...bearer("admin"), "content-type": "application/json" },
          body: JSON.stringify(items),
        });
        const answer = await res.json();
        return JSON.parse(answer.body).map((id) => (id % 97 === 13 ? new Error(`item ${id} refused`) : { id, request: answer.n }));
      },
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => label(i)));
    assert.equal(api.stats().arrivals, 10);
    assert.deepEqual(sizes, Array(10).fill(100));
    const requests = new Set();
    outcomes.forEach((o, i) => {
      if (i % 97 === 13) {
        assert.equal(o.status, "rejected", `item ${i}`);
        assert.equal(o.reason.message, `item ${i} refused`);
      } else {
        assert.equal(o.status, "fulfilled", `item ${i}`);
        assert.equal(o.value.id, i);
        requests.add(o.value.request);
      }
    });
    assert.equal(requests.size, 10);
    assert.equal(outcomes.filter((o) => o.status === "rejected").length, 11, "13, 110, 207, ..., 983");
  } finally {
    await api.close();
  }
});

test("a failed batch rejects every caller of that batch only; a wrong-length answer is a TypeError", async () => {
  const boom = new Error("bulk endpoint down");
  const failing = batcher({ maxSize: 10, maxWaitMs: 5, run: async (items) => (items.includes(5) ? Promise.reject(boom) : items.map((i) => i * 2)) });
  const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => failing(i)));
  outcomes.slice(0, 10).forEach((o) => assert.equal(o.reason, boom));
  assert.deepEqual(outcomes.slice(10).map((o) => o.value), [20, 22, 24, 26, 28, 30, 32, 34, 36, 38]);

  const short = batcher({ maxSize: 3, maxWaitMs: 5, run: (items) => items.slice(1) });
  const results = await Promise.allSettled([1, 2, 3].map((i) => short(i)));
  for (const o of results) {
    assert.equal(o.status, "rejected");
    assert.ok(o.reason instanceof TypeError && /array of 3 results/.test(o.reason.message), o.reason.message);
  }
  const thrower = batcher({ maxWaitMs: 0, run: () => { throw boom; } });
  await assert.rejects(thrower("x"), (e) => e === boom);
  const notArray = batcher({ maxWaitMs: 0, run: async () => ({ results: [1] }) });
  await assert.rejects(notArray("x"), (e) => e instanceof TypeError && /array of 1 results/.test(e.message));
});

test("a batch flushes maxWaitMs after its first item, or at once with flush(); an aborted item leaves it", async () => {
  const runs = [];
  const label = batcher({ maxSize: 100, maxWaitMs: 60, run: async (items) => (runs.push([...items]), items.map((i) => `done ${i}`)) });
  const t0 = performance.now();
  const first = label("a");
  await sleep(20);
  const second = label("b");
  assert.equal(runs.length, 0);
  assert.deepEqual(await Promise.all([first, second]), ["done a", "done b"]);
  const waited = performance.now() - t0;
  assert.ok(waited >= 55 && waited < 500, `flushed after ${waited} ms`);
  assert.deepEqual(runs, [["a", "b"]]);

  const slow = batcher({ maxWaitMs: 60_000, run: async (items) => items });
  const c = new AbortController();
  const kept = slow("kept");
  const dropped = slow("dropped", { signal: c.signal });
  c.abort();
  await assert.rejects(dropped, { name: "AbortError" });
  const timeout = sleep(500).then(() => "timed out");
  const flushed = slow.flush();
  assert.equal(await Promise.race([kept, timeout]), "kept");
  await flushed;
  await slow.flush(); // nothing waiting: resolves at once
  assert.equal(getEventListeners(c.signal, "abort").length, 0);
});

test("maxEntries and maxBytes hold under a flood of 2,000 distinct URLs; least recently used goes first", async () => {
  const { api, base } = await serve({
    script: { "/api/big": [{ status: 200, headers: { "cache-control": "max-age=60" }, body: "x".repeat(30_000) }] },
  });
  try {
    const byEntries = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000, maxEntries: 50 } });
    const byBytes = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000, maxBytes: 20_000 } });
    for (let chunk = 0; chunk < 20; chunk++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const url = `${base}/api/flood/${chunk * 100 + i}`;
          await (await byEntries(url)).arrayBuffer();
          await (await byBytes(url)).arrayBuffer();
        }),
      );
      const e = byEntries.stats().cache;
      const b = byBytes.stats().cache;
      assert.ok(e.entries <= 50, `entries ${e.entries}`);
      assert.ok(b.bytes <= 20_000, `bytes ${b.bytes}`);
    }
    assert.equal(api.stats().arrivals, 4000);
    assert.equal(byEntries.stats().cache.entries, 50);
    const b = byBytes.stats().cache;
    assert.ok(b.entries > 10 && b.entries < 100 && b.bytes > 15_000, JSON.stringify(b));
    // A body larger than maxBytes is not cached at all.
    await (await byBytes(`${base}/api/big`)).text();
    assert.equal(byBytes.stats().cache.bytes, b.bytes);
    // LRU: a, b, c cached; reading a makes b the oldest, so d evicts b.
    const lru = throttle(cacheableFetch, { ...budget, cache: { ttlMs: 60_000, maxEntries: 3 } });
    const n = async (p) => (await (await lru(`${base}/api/lru/${p}`)).json()).n;
    const first = { a: await n("a"), b: await n("b"), c: await n("c") };
    assert.equal(await n("a"), first.a);
    await n("d");
    assert.equal(await n("a"), first.a, "a was used recently and stays");
    assert.equal(await n("c"), first.c);
    assert.notEqual(await n("b"), first.b, "b was the least recently used");
  } finally {
    await api.close();
  }
});

test("bad options are a TypeError or RangeError naming the field", async () => {
  const bad = [
    [{ cache: true }, TypeError, /`cache`/],
    [{ cache: {} }, TypeError, /cache\.ttlMs/],
    [{ cache: { ttlMs: 0 } }, RangeError, /cache\.ttlMs/],
    [{ cache: { ttlMs: Infinity } }, RangeError, /cache\.ttlMs/],
    [{ cache: { ttlMs: 10, maxEntries: 0 } }, RangeError, /cache\.maxEntries/],
    [{ cache: { ttlMs: 10, maxBytes: 1.5 } }, RangeError, /cache\.maxBytes/],
    [{ cache: { ttlMs: 10, maxBytes: "1mb" } }, TypeError, /cache\.maxBytes/],
    [{ cache: { ttlMs: 10, methods: ["POST"] } }, RangeError, /cache\.methods/],
    [{ cache: { ttlMs: 10, methods: "GET" } }, TypeError, /cache\.methods/],
    [{ cache: { ttlMs: 10, match: "/api" } }, TypeError, /cache\.match/],
    [{ cache: { ttlMs: 10, keyHeaders: ["bad header"] } }, TypeError, /cache\.keyHeaders/],
    [{ cache: { ttlMs: 10, ttl: 5 } }, TypeError, /cache\.ttl\b/],
    [{ dedupe: "yes" }, TypeError, /dedupe/],
  ];
  for (const [options, type, field] of bad) {
    assert.throws(() => throttle(fetch, options), (e) => e instanceof type && field.test(e.message), JSON.stringify(options));
  }
  // Valid ones are accepted (and never reach the Wasm options check).
  throttle(fetch, { cache: { ttlMs: 10, match: /categories/, methods: ["get", "HEAD"], maxEntries: 1, maxBytes: 1 }, dedupe: false });
  throttle(fetch, { cache: false, dedupe: true, key: `cache-valid-${process.pid}` });
  const cached = throttle(fetch, { cache: { ttlMs: 10 } });
  await assert.rejects(cached("http://127.0.0.1:9/x", { ratewindow: { ttlMs: -1 } }), (e) => e instanceof RangeError && /init\.ratewindow\.ttlMs/.test(e.message));
  await assert.rejects(cached("http://127.0.0.1:9/x", { ratewindow: { ttl: 1 } }), (e) => e instanceof TypeError && /init\.ratewindow\.ttl\b/.test(e.message));
  await assert.rejects(throttle(fetch)("http://127.0.0.1:9/x", { ratewindow: { ttlMs: 5 } }), (e) => e instanceof TypeError && /`cache`/.test(e.message));
  assert.throws(() => cached.clearCache(42), (e) => e instanceof TypeError && /clearCache/.test(e.message));

  const run = async (items) => items;
  const badBatchers = [
    [undefined, TypeError, /batcher/],
    [{}, TypeError, /run/],
    [{ run: "f" }, TypeError, /run/],
    [{ run, maxSize: 0 }, RangeError, /maxSize/],
    [{ run, maxSize: 2.5 }, RangeError, /maxSize/],
    [{ run, maxSize: "10" }, TypeError, /maxSize/],
    [{ run, maxWaitMs: -1 }, RangeError, /maxWaitMs/],
    [{ run, maxWaitMs: NaN }, RangeError, /maxWaitMs/],
    [{ run, maxWaitMs: Infinity }, RangeError, /maxWaitMs/],
    [{ run, maxWait: 5 }, TypeError, /maxWait\b/],
  ];
  for (const [options, type, field] of badBatchers) {
    assert.throws(() => batcher(options), (e) => e instanceof type && field.test(e.message), String(JSON.stringify(options)));
  }
});
