// Tests of the API double itself (www/api-double.mjs), not of the throttle.
// Run: node --test tests/js/

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createApiDouble, DEFAULT_OPTIONS } from "../../www/api-double.mjs";

const DOUBLE_URL = new URL("../../www/api-double.mjs", import.meta.url).href;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Starts a double with `options` plus an arrival recorder, runs fn, always closes it. */
async function withDouble(options, fn) {
  const arrivals = [];
  const userOnArrival = options.onArrival;
  const double = createApiDouble({
    ...options,
    onArrival: (info) => {
      arrivals.push(info);
      userOnArrival?.(info);
    },
  });
  const { url } = await double.listen();
  try {
    return await fn({ double, url, arrivals });
  } finally {
    await double.close();
  }
}

async function call(url, path, { key, apiKey, method = "GET", body, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (apiKey) h["x-api-key"] = apiKey;
  const res = await fetch(url + path, { method, headers: h, body });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A clock the test moves by hand. */
function fakeClock(start = 1000) {
  const c = { t: start };
  c.now = () => c.t;
  return c;
}

test("defaults are the real API's rule: 200 per rolling 60 s, 429 with Retry-After seconds", () => {
  assert.equal(DEFAULT_OPTIONS.limit, 200);
  assert.equal(DEFAULT_OPTIONS.windowMs, 60_000);
  assert.equal(DEFAULT_OPTIONS.countRejected, false);
  assert.equal(DEFAULT_OPTIONS.retryAfter, "seconds");
  assert.equal(DEFAULT_OPTIONS.rateLimitHeaders, false);
  assert.equal(DEFAULT_OPTIONS.disableAfter, 10);
  assert.throws(() => createApiDouble({ limti: 3 }), /unknown option limti/);
  assert.throws(() => createApiDouble({ limit: 0 }), TypeError);
  assert.throws(() => createApiDouble({ uplinkMs: [5, 1] }), TypeError);
  assert.throws(() => createApiDouble({ retryAfter: "later" }), TypeError);
});

test("accepts exactly `limit` requests in a window, then 429 with Retry-After in whole seconds", async () => {
  await withDouble({ limit: 5, windowMs: 1500 }, async ({ url, arrivals, double }) => {
    const first = await Promise.all(Array.from({ length: 5 }, (_, i) => call(url, `/api/items/${i}`)));
    assert.deepEqual(first.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.deepEqual(first.map((r) => r.json.n).sort(), [1, 2, 3, 4, 5]);
    for (const r of first) assert.equal(r.headers.get("retry-after"), null);

    const sixth = await call(url, "/api/items/5");
    assert.equal(sixth.status, 429);
    assert.deepEqual(sixth.json, { error: "rate limited" });
    const ra = sixth.headers.get("retry-after");
    assert.match(ra, /^\d+$/);
    const oldest = Math.min(...arrivals.slice(0, 5).map((a) => a.t));
    const t6 = arrivals[5].t;
    assert.ok(t6 - oldest < 500, "precondition: the 6th arrived within 500 ms of the 1st");
    assert.equal(Number(ra), Math.ceil((oldest + 1500 - t6) / 1000));
    assert.equal(ra, "2");

    const s = double.stats();
    assert.equal(s.accepted, 5);
    assert.equal(s.rejected429, 1);
    assert.equal(s.arrivals, 6);
    assert.equal(s.maxInWindow, 5);
  });
});

test("Retry-After as an IMF-fixdate HTTP-date rounded up to a whole second, or none, or garbage", async () => {
  await withDouble({ limit: 2, windowMs: 2500, retryAfter: "date" }, async ({ url, arrivals, double }) => {
    await call(url, "/api/a");
    await call(url, "/api/a");
    const r = await call(url, "/api/a");
    assert.equal(r.status, 429);
    const ra = r.headers.get("retry-after");
    assert.match(ra, IMF_FIXDATE);
    const at = Date.parse(ra);
    assert.equal(at % 1000, 0);
    const third = arrivals[2];
    const wait = arrivals[0].t + 2500 - third.t;
    assert.equal(at, Math.ceil((third.wallMs + wait) / 1000) * 1000);
    assert.ok(at >= third.wallMs + wait && at < third.wallMs + wait + 1000);

    double.setOptions({ retryAfter: "none" });
    const none = await call(url, "/api/a");
    assert.equal(none.status, 429);
    assert.equal(none.headers.get("retry-after"), null);

    double.setOptions({ retryAfter: "garbage" });
    const garbage = await call(url, "/api/a");
    assert.equal(garbage.status, 429);
    assert.equal(garbage.headers.get("retry-after"), "soon");
  });
});

test("the window is rolling and half-open: an arrival leaves exactly windowMs later (fake clock)", async () => {
  const clock = fakeClock(5000);
  await withDouble({ limit: 2, windowMs: 300, clock: clock.now }, async ({ url, double }) => {
    const at = async (t) => {
      clock.t = 5000 + t;
      return (await call(url, "/api/x")).status;
    };
    assert.equal(await at(0), 200);
    assert.equal(await at(100), 200);
    assert.equal(await at(200), 429);
    assert.equal(await at(299.999), 429); // the arrival at 0 is still in (-0.001, 299.999]
    assert.equal(await at(300), 200); // (0, 300] no longer holds the arrival at 0
    assert.equal(await at(350), 429); // 100 and 300 are in (50, 350]
    assert.equal(await at(399.999), 429);
    assert.equal(await at(400), 200); // 100 left at exactly 400
    assert.equal(await at(400), 429);
    const s = double.stats();
    assert.equal(s.accepted, 4);
    assert.equal(s.rejected429, 5);
    assert.equal(s.maxInWindow, 2);
  });
});

test("the window is rolling in real time (300 ms window)", async () => {
  await withDouble({ limit: 3, windowMs: 300 }, async ({ url, arrivals }) => {
    for (let i = 0; i < 3; i++) assert.equal((await call(url, "/api/r")).status, 200);
    assert.equal((await call(url, "/api/r")).status, 429);
    const first = arrivals[0].t;
    // Probe shortly before the first arrival leaves: the outcome must follow the server's own clock.
    await sleep(Math.max(0, first + 240 - performance.now()));
    const probe = await call(url, "/api/r");
    const probeT = arrivals[arrivals.length - 1].t;
    assert.equal(probe.status, probeT - first >= 300 ? 200 : 429);
    // After it surely left, a request is accepted again.
    await sleep(Math.max(0, first + 320 - performance.now()));
    const after = await call(url, "/api/r");
    assert.ok(arrivals[arrivals.length - 1].t - first >= 300);
    assert.equal(after.status, 200);
  });
});

test("all keys of an org share one budget; orgs have separate budgets", async () => {
  await withDouble({ limit: 4, windowMs: 5000 }, async ({ url, double }) => {
    const a = await call(url, "/api/k", { key: "k1" });
    const b = await call(url, "/api/k", { key: "k1" });
    const c = await call(url, "/api/k", { apiKey: "k2" });
    const d = await call(url, "/api/k");
    assert.deepEqual([a, b, c, d].map((r) => r.status), [200, 200, 200, 200]);
    assert.deepEqual([a, b, c, d].map((r) => r.json.key), ["k1", "k1", "k2", "anonymous"]);
    assert.equal(a.json.org, "default");
    assert.equal((await call(url, "/api/k", { key: "k3" })).status, 429);
    // "organization" is not an org- prefix: still the default org.
    assert.equal((await call(url, "/api/organization/k", { key: "k4" })).status, 429);

    for (const org of ["org-a", "org-b"]) {
      for (let i = 0; i < 4; i++) {
        const r = await call(url, `/api/${org}/items/${i}`, { key: `k${i}` });
        assert.equal(r.status, 200);
        assert.equal(r.json.org, org);
      }
      assert.equal((await call(url, `/api/${org}/items/9`, { key: "k9" })).status, 429);
    }
    const s = double.stats();
    assert.equal(s.orgs.default.accepted, 4);
    assert.equal(s.orgs["org-a"].accepted, 4);
    assert.equal(s.orgs["org-b"].accepted, 4);
    assert.equal(s.accepted, 12);
    assert.deepEqual(s.perKey.k1, { accepted: 2, rejected429: 0, forbidden403: 0 });
    assert.deepEqual(s.perKey["org-a:k0"], { accepted: 1, rejected429: 0, forbidden403: 0 });
  });
});

test("a key gets 403 'credentials disabled' after disableAfter 429s, until reset", async () => {
  await withDouble({ limit: 1, windowMs: 5000, disableAfter: 3 }, async ({ url, double }) => {
    assert.equal((await call(url, "/api/d", { key: "k1" })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await call(url, "/api/d", { key: "k1" })).status, 429);
    const f = await call(url, "/api/d", { key: "k1" });
    assert.equal(f.status, 403);
    assert.deepEqual(f.json, { error: "credentials disabled" });
    assert.equal((await call(url, "/api/d", { key: "k1", method: "POST", body: "x" })).status, 403);
    // Another key of the same org is only rate limited; the same key name in another org is fine.
    assert.equal((await call(url, "/api/d", { key: "k2" })).status, 429);
    assert.equal((await call(url, "/api/org-a/d", { key: "k1" })).status, 200);
    let s = double.stats();
    assert.deepEqual(s.disabledKeys, ["k1"]);
    assert.equal(s.forbidden403, 2);
    assert.deepEqual(s.perKey.k1, { accepted: 1, rejected429: 3, forbidden403: 2 });

    const reset = await fetch(`${url}/__reset`, { method: "POST" });
    assert.equal(reset.status, 200);
    await reset.text();
    assert.equal((await call(url, "/api/d", { key: "k1" })).status, 200);
    s = double.stats();
    assert.deepEqual(s.disabledKeys, []);
    assert.equal(s.arrivals, 1);
  });
});

test("disableConsecutive: only an unbroken run of 429s disables a key (fake clock)", async () => {
  for (const consecutive of [false, true]) {
    const clock = fakeClock(0);
    await withDouble(
      { limit: 1, windowMs: 100, disableAfter: 2, disableConsecutive: consecutive, clock: clock.now },
      async ({ url }) => {
        const at = async (t) => {
          clock.t = t;
          return (await call(url, "/api/c", { key: "k" })).status;
        };
        assert.equal(await at(0), 200);
        assert.equal(await at(10), 429);
        assert.equal(await at(100), 200);
        assert.equal(await at(110), 429);
        // Two 429s in total, but not in a row: disabled only when counting all of them.
        assert.equal(await at(300), consecutive ? 200 : 403);
        if (consecutive) {
          assert.equal(await at(310), 429);
          assert.equal(await at(320), 429);
          assert.equal(await at(500), 403);
        }
      },
    );
  }
});

test("uplink latency delays the counted arrival; downlink latency only delays the answer", async () => {
  await withDouble({ limit: 10, windowMs: 1000, uplinkMs: 150 }, async ({ url, arrivals, double }) => {
    const c0 = performance.now();
    const r = await call(url, "/api/u");
    const done = performance.now();
    assert.equal(r.status, 200);
    assert.ok(arrivals[0].t - c0 >= 148, `counted ${arrivals[0].t - c0} ms after sending`);
    assert.ok(done - c0 >= 148);

    double.setOptions({ uplinkMs: 0, downlinkMs: 150 });
    const c1 = performance.now();
    const r2 = await call(url, "/api/u");
    const done2 = performance.now();
    assert.equal(r2.status, 200);
    assert.ok(arrivals[1].t - c1 < 100, `counted ${arrivals[1].t - c1} ms after sending`);
    assert.ok(done2 - c1 >= 148, `answered after ${done2 - c1} ms`);

    double.setOptions({ uplinkMs: [60, 90], downlinkMs: 0 });
    const c2 = performance.now();
    await call(url, "/api/u");
    const d = arrivals[2].t - c2;
    assert.ok(d >= 58 && d < 250, `uplink [60, 90] counted after ${d} ms`);
  });
});

test("uplink latency can reorder arrivals: the later-counted request is the one refused", async () => {
  await withDouble({ limit: 1, windowMs: 2000, uplinkMs: 200 }, async ({ url, double }) => {
    const slow = call(url, "/api/o", { key: "slow" });
    await sleep(20);
    double.setOptions({ uplinkMs: 0 });
    const fast = await call(url, "/api/o", { key: "fast" });
    assert.equal(fast.status, 200);
    assert.equal((await slow).status, 429);
  });
});

test("script: canned responses per path, in order, before normal handling", async () => {
  const script = [{ status: 429, headers: { "retry-after": "7" } }, { status: 503 }];
  await withDouble({ limit: 1, windowMs: 5000, script }, async ({ url, double }) => {
    const x1 = await call(url, "/api/x");
    assert.equal(x1.status, 429);
    assert.equal(x1.headers.get("retry-after"), "7");
    assert.equal((await call(url, "/api/x")).status, 503);
    assert.equal((await call(url, "/api/x")).status, 200); // the script is used up for /api/x
    // /api/y has its own pass through the script; scripted answers spend no budget...
    assert.equal((await call(url, "/api/y")).status, 429);
    assert.equal((await call(url, "/api/y")).status, 503);
    // ...but /api/x's 200 did.
    assert.equal((await call(url, "/api/y")).status, 429);
    const s = double.stats();
    assert.equal(s.scripted, 4);
    assert.equal(s.accepted, 1);
    assert.equal(s.rejected429, 1);

    // Object form over /__config: only the named path is scripted; cursors restart.
    const cfg = await fetch(`${url}/__config`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ script: { "/api/z": [{ status: 500, body: "boom" }] }, limit: 5 }),
    });
    assert.equal(cfg.status, 200);
    await cfg.text();
    const z = await call(url, "/api/z");
    assert.equal(z.status, 500);
    assert.equal(z.text, "boom");
    assert.equal((await call(url, "/api/z")).status, 200);
    assert.equal((await call(url, "/api/x")).status, 200);
  });
});

test("maxInWindow is the exact largest count of accepted arrivals in any rolling window", async () => {
  // Brute-force model of the rule, independent of the double's queues.
  const model = (times, limit, W) => {
    const accepted = [];
    const outcomes = times.map((t) => {
      const inWin = accepted.filter((a) => a > t - W && a <= t).length;
      if (inWin < limit) {
        accepted.push(t);
        return 200;
      }
      return 429;
    });
    let max = 0;
    for (const t of accepted) max = Math.max(max, accepted.filter((a) => a > t - W && a <= t).length);
    return { outcomes, max };
  };

  const cases = [
    { limit: 10, W: 100, times: [0, 50, 120, 130] }, // sparse: never full, max 3 in (30, 130]
    { limit: 3, W: 100, times: [0, 0, 0, 0, 99, 100, 100, 150, 199, 200, 201] },
  ];
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const times = [];
  for (let t = 0, i = 0; i < 150; i++) times.push((t += Math.floor(rand() * 40)));
  cases.push({ limit: 4, W: 120, times });

  for (const { limit, W, times: ts } of cases) {
    const clock = fakeClock(0);
    const expected = model(ts, limit, W);
    await withDouble({ limit, windowMs: W, clock: clock.now, disableAfter: 0 }, async ({ url, double }) => {
      const got = [];
      for (const t of ts) {
        clock.t = t;
        got.push((await call(url, "/api/m")).status);
      }
      assert.deepEqual(got, expected.outcomes);
      assert.equal(double.stats().maxInWindow, expected.max);
    });
  }
  assert.equal(model(cases[0].times, 10, 100).max, 3);
});

test("countRejected: refused arrivals occupy the window too (fake clock)", async () => {
  for (const countRejected of [false, true]) {
    const clock = fakeClock(0);
    await withDouble({ limit: 2, windowMs: 100, countRejected, clock: clock.now }, async ({ url, double }) => {
      const at = async (t) => {
        clock.t = t;
        return (await call(url, "/api/c")).status;
      };
      assert.equal(await at(0), 200);
      assert.equal(await at(10), 200);
      assert.equal(await at(50), 429);
      // (0, 100] holds 10, plus the refused 50 when it counts.
      assert.equal(await at(100), countRejected ? 429 : 200);
      assert.equal(double.stats().maxInWindow, 2);
    });
  }
});

test("rateLimitHeaders adds RateLimit-Policy and RateLimit to every answer", async () => {
  await withDouble({ limit: 3, windowMs: 2000, rateLimitHeaders: true }, async ({ url, double }) => {
    const r1 = await call(url, "/api/h");
    assert.equal(r1.headers.get("ratelimit-policy"), '"default";q=3;w=2');
    assert.equal(r1.headers.get("ratelimit"), '"default";r=2;t=0');
    await call(url, "/api/h");
    const r3 = await call(url, "/api/h");
    assert.equal(r3.headers.get("ratelimit"), '"default";r=0;t=2');
    const r4 = await call(url, "/api/h");
    assert.equal(r4.status, 429);
    assert.equal(r4.headers.get("ratelimit"), '"default";r=0;t=2');
    double.setOptions({ rateLimitHeaders: false });
    const r5 = await call(url, "/api/h");
    assert.equal(r5.headers.get("ratelimit"), null);
    assert.equal(r5.headers.get("ratelimit-policy"), null);
  });
});

test("echoes request bodies, answers CORS preflight, serves /__stats and validates /__config", async () => {
  await withDouble({ limit: 50, windowMs: 1000 }, async ({ url, double }) => {
    const body = JSON.stringify({ text: "héllo\nwörld ✓", n: 42 });
    for (const method of ["POST", "PUT"]) {
      const r = await call(url, "/api/orders?x=1", { method, body, key: "k", headers: { "content-type": "application/json" } });
      assert.equal(r.status, 200);
      assert.equal(r.json.body, body);
      assert.equal(r.json.method, method);
      assert.equal(r.json.path, "/api/orders");
      assert.equal(r.json.query, "?x=1");
      assert.equal(r.headers.get("access-control-allow-origin"), "*");
    }
    assert.equal((await call(url, "/api/orders", { method: "DELETE" })).json.body, null);

    const pre = await fetch(`${url}/api/orders`, {
      method: "OPTIONS",
      headers: {
        origin: "http://127.0.0.1:1",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, x-api-key, content-type",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    const allowed = pre.headers.get("access-control-allow-headers").toLowerCase();
    for (const h of ["authorization", "x-api-key", "content-type"]) assert.ok(allowed.includes(h), h);
    assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
    assert.equal(double.stats().arrivals, 3, "a preflight is not an arrival");

    const stats = await call(url, "/__stats");
    assert.equal(stats.status, 200);
    assert.equal(stats.headers.get("access-control-allow-origin"), "*");
    for (const k of ["arrivals", "accepted", "rejected429", "forbidden403", "maxInWindow", "disabledKeys", "perKey"]) {
      assert.ok(k in stats.json, k);
    }
    assert.equal(stats.json.accepted, 3);

    const post = (b) => fetch(`${url}/__config`, { method: "POST", body: b }).then(async (r) => [r.status, await r.json()]);
    assert.equal((await post("{nope"))[0], 400);
    assert.equal((await post(JSON.stringify({ limitt: 1 })))[0], 400);
    assert.equal((await post(JSON.stringify({ downlinkMs: [9, 1] })))[0], 400);
    const [ok, opts] = await post(JSON.stringify({ limit: 3, windowMs: 700, downlinkMs: [0, 1] }));
    assert.equal(ok, 200);
    assert.equal(opts.limit, 3);
    assert.equal(double.options().windowMs, 700);

    assert.equal((await call(url, "/nope")).status, 404);
    assert.equal((await call(url, "/api/x", { method: "HEAD" })).status, 405);
  });
});

test("windowLog and onArrival report each arrival with its org, key and outcome", async () => {
  await withDouble({ limit: 1, windowMs: 5000, windowLog: true }, async ({ url, double, arrivals }) => {
    await call(url, "/api/org-q/a", { key: "k1" });
    await call(url, "/api/org-q/a", { apiKey: "k2" });
    const log = double.stats().windowLog;
    assert.deepEqual(
      log.map(({ org, key, outcome }) => ({ org, key, outcome })),
      [
        { org: "org-q", key: "k1", outcome: "accepted" },
        { org: "org-q", key: "k2", outcome: "rejected429" },
      ],
    );
    assert.ok(log[1].t >= log[0].t);
    assert.deepEqual(
      arrivals.map(({ index, method, path, status }) => ({ index, method, path, status })),
      [
        { index: 1, method: "GET", path: "/api/org-q/a", status: 200 },
        { index: 2, method: "GET", path: "/api/org-q/a", status: 429 },
      ],
    );
    double.setOptions({ windowLog: false });
    assert.equal("windowLog" in double.stats(), false);
  });
});

test("handler() works inside another http server", async () => {
  const double = createApiDouble({ limit: 1, windowMs: 1000 });
  const server = http.createServer((req, res) => double.handler(req, res));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.equal((await call(url, "/api/in")).status, 200);
    assert.equal((await call(url, "/api/in")).status, 429);
  } finally {
    await double.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("hidden consumer spends part of the budget, evenly over the window", async () => {
  await withDouble({ limit: 5, windowMs: 400, hidden: { perWindow: 4 } }, async ({ url, double }) => {
    await sleep(450);
    const before = double.stats();
    assert.ok(before.hiddenAccepted >= 3 && before.hiddenAccepted <= 6, `hidden ${before.hiddenAccepted}`);
    assert.ok(before.orgs.default.inWindow >= 2, `hidden in window ${before.orgs.default.inWindow}`);
    const results = await Promise.all(Array.from({ length: 5 }, () => call(url, "/api/h")));
    const accepted = results.filter((r) => r.status === 200).length;
    assert.ok(accepted <= 3, `accepted ${accepted} of 5 while the hidden consumer held >= 2`);
    assert.ok(results.some((r) => r.status === 429));
    assert.ok(double.stats().maxInWindow <= 5);
  });
});

test("close() leaves no open handles and stops every timer: the process exits by itself", async () => {
  const child = `
    import { createApiDouble } from ${JSON.stringify(DOUBLE_URL)};
    // Never listened, never closed: its hidden-consumer timer must not hold the process.
    createApiDouble({ limit: 2, windowMs: 1000, hidden: { perWindow: 50 } });
    const d = createApiDouble({ limit: 2, windowMs: 1000, hidden: { perWindow: 100 }, downlinkMs: [300, 400] });
    const { url } = await d.listen();
    const pending = fetch(url + "/api/slow").catch(() => "dropped");
    d.setOptions({ downlinkMs: 0, uplinkMs: 0 });
    const r = await fetch(url + "/api/fast", { headers: { authorization: "Bearer k" } });
    await r.text();
    d.setOptions({ uplinkMs: 100 });
    fetch(url + "/api/counted-later").catch(() => "dropped");
    await new Promise((r) => setTimeout(r, 30));
    await d.close();
    const before = d.stats();
    await pending;
    await new Promise((r) => setTimeout(r, 150)); // past the uplink delay and many hidden ticks
    const after = d.stats();
    const moved = ["arrivals", "hiddenAccepted", "hiddenRejected"].filter((k) => after[k] !== before[k]);
    const left = process.getActiveResourcesInfo().filter((x) => x === "TCPServerWrap" || x === "Timeout");
    console.log("closed " + JSON.stringify({ moved, left }));
  `;
  const proc = spawn(process.execPath, ["--input-type=module", "-e", child], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  const started = performance.now();
  const code = await new Promise((resolve) => {
    const killer = setTimeout(() => {
      proc.kill("SIGKILL");
      resolve("timeout");
    }, 4000);
    proc.on("exit", (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  assert.equal(code, 0, `child: ${code} after ${Math.round(performance.now() - started)} ms; stderr: ${err}`);
  assert.equal(out.trim(), 'closed {"moved":[],"left":[]}');
  assert.ok(performance.now() - started < 3000);
});

test("listen() resolves the port and a URL without a trailing slash; close() is idempotent", async () => {
  const double = createApiDouble();
  const { port, url } = await double.listen(0, "127.0.0.1");
  assert.ok(port > 0);
  assert.equal(url, `http://127.0.0.1:${port}`);
  await assert.rejects(double.listen(), /already listening/);
  await double.close();
  await double.close();
  await assert.rejects(fetch(`${url}/__stats`));
  assert.ok(fileURLToPath(DOUBLE_URL).endsWith("api-double.mjs"));
});

test("cacheControl: no-store by default; a cacheable value on GET 200s only; null sends none", async () => {
  assert.equal(DEFAULT_OPTIONS.cacheControl, "no-store");
  assert.throws(() => createApiDouble({ cacheControl: "" }), /option cacheControl/);
  assert.throws(() => createApiDouble({ cacheControl: "max-age=60\r\nx-evil: 1" }), /option cacheControl/);
  assert.throws(() => createApiDouble({ cacheControl: 60 }), TypeError);

  await withDouble({ limit: 2, windowMs: 5000, disableAfter: 2 }, async ({ url, double }) => {
    // The default keeps the old behaviour: nothing may be cached.
    assert.equal((await call(url, "/api/org-a/custom_categories", { key: "k" })).headers.get("cache-control"), "no-store");

    double.setOptions({ cacheControl: "private, max-age=60" });
    const get = await call(url, "/api/org-b/custom_categories", { key: "k" });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("cache-control"), "private, max-age=60");
    // A write is never cacheable, nor is a refusal.
    const put = await call(url, "/api/org-b/items/1", { key: "k", method: "PATCH", body: "{}" });
    assert.equal(put.status, 200);
    assert.equal(put.headers.get("cache-control"), "no-store");
    const refused = await call(url, "/api/org-b/locations", { key: "k" });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("cache-control"), "no-store");
    await call(url, "/api/org-b/locations", { key: "k" });
    const forbidden = await call(url, "/api/org-b/locations", { key: "k" });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.headers.get("cache-control"), "no-store");

    // null: no Cache-Control at all on GET answers; the control routes stay no-store.
    const cfg = await fetch(`${url}/__config`, { method: "POST", body: JSON.stringify({ cacheControl: null }) });
    assert.equal(cfg.status, 200);
    assert.equal((await cfg.json()).cacheControl, null);
    const none = await call(url, "/api/org-c/locations", { key: "k" });
    assert.equal(none.status, 200);
    assert.equal(none.headers.get("cache-control"), null);
    assert.equal((await call(url, "/__stats")).headers.get("cache-control"), "no-store");
    const bad = await fetch(`${url}/__config`, { method: "POST", body: JSON.stringify({ cacheControl: 5 }) });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /cacheControl/);
    assert.equal(double.options().cacheControl, null);
  });
});

test("cacheControl does not touch scripted answers", async () => {
  const script = { "/api/s": [{ status: 200 }, { status: 200, headers: { "cache-control": "max-age=5" } }] };
  await withDouble({ cacheControl: "max-age=60", script }, async ({ url }) => {
    assert.equal((await call(url, "/api/s")).headers.get("cache-control"), "no-store");
    assert.equal((await call(url, "/api/s")).headers.get("cache-control"), "max-age=5");
    assert.equal((await call(url, "/api/s")).headers.get("cache-control"), "max-age=60");
  });
});

const BULK = "/admin/bulk_actions/category";

test("bulk: POST a JSON array of items, get one { ok: true, id } per item, counted as ONE request", async () => {
  await withDouble({ limit: 2, windowMs: 5000, cacheControl: "max-age=60" }, async ({ url, double, arrivals }) => {
    const items = Array.from({ length: 250 }, (_, i) => ({ id: i, category_id: 42 }));
    const r = await call(url, `/api/org-a${BULK}`, {
      key: "k1",
      method: "POST",
      body: JSON.stringify(items),
      headers: { "content-type": "application/json" },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, items.map(({ id }) => ({ ok: true, id })));
    assert.equal(r.headers.get("cache-control"), "no-store", "a bulk answer is a write's: never cacheable");
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    assert.equal(arrivals.length, 1, "250 items, one arrival");
    assert.deepEqual(
      arrivals.map(({ org, key, method, path, outcome }) => ({ org, key, method, path, outcome })),
      [{ org: "org-a", key: "k1", method: "POST", path: `/api/org-a${BULK}`, outcome: "accepted" }],
    );

    // It took one slot of the limit of 2: one more request fits, the next is refused.
    assert.equal((await call(url, "/api/org-a/items/1", { key: "k1" })).status, 200);
    const refused = await call(url, `/api/org-a${BULK}`, { key: "k1", method: "POST", body: "[{\"id\":1}]" });
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.json, { error: "rate limited" });
    assert.match(refused.headers.get("retry-after"), /^\d+$/);

    const s = double.stats();
    assert.equal(s.bulkRequests, 1);
    assert.equal(s.bulkItems, 250);
    assert.equal(s.orgs["org-a"].bulkRequests, 1);
    assert.equal(s.orgs["org-a"].bulkItems, 250);
    assert.equal(s.orgs["org-a"].accepted, 2);
    assert.equal(s.orgs["org-a"].rejected429, 1);
    assert.equal(s.orgs["org-a"].maxInWindow, 2);
    assert.equal(s.orgs.default.bulkRequests, 0);
  });
});

test("bulk: { items } in, { results } out; items without an id fail alone; bad bodies get 400", async () => {
  await withDouble({ limit: 20, windowMs: 5000 }, async ({ url, double }) => {
    // The default org's path works too, and the wrapped shape of the README's example.
    const wrapped = await call(url, `/api${BULK}`, {
      method: "POST",
      body: JSON.stringify({ items: [{ id: "tx-1" }, { category_id: 3 }, null, { id: 7 }, { id: "" }, { id: Infinity }] }),
    });
    assert.equal(wrapped.status, 200);
    assert.equal(wrapped.json.results.length, 6);
    assert.deepEqual(wrapped.json.results[0], { ok: true, id: "tx-1" });
    assert.deepEqual(wrapped.json.results[3], { ok: true, id: 7 });
    for (const i of [1, 2, 4, 5]) {
      assert.equal(wrapped.json.results[i].ok, false, `item ${i}`);
      assert.equal(wrapped.json.results[i].id, null);
      assert.match(wrapped.json.results[i].error, /id/);
    }
    const empty = await call(url, `/api${BULK}`, { method: "POST", body: "[]" });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json, []);

    // Not an array of items: 400, and the arrival still counted (the server had to read it).
    for (const body of [undefined, "{nope", "{}", JSON.stringify({ items: "x" }), "42"]) {
      const bad = await call(url, `/api/org-x${BULK}`, { method: "POST", body });
      assert.equal(bad.status, 400, `body ${body}`);
      assert.match(bad.json.error, /JSON array of items/);
    }
    // Other methods on the bulk path: 405, not counted.
    const get = await call(url, `/api/org-x${BULK}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");

    const s = double.stats();
    assert.equal(s.bulkRequests, 2);
    assert.equal(s.bulkItems, 6);
    assert.equal(s.orgs["org-x"].arrivals, 5);
    assert.equal(s.orgs["org-x"].bulkRequests, 0);
    assert.equal(s.arrivals, 7);
    // A trailing slash is the same operation; other paths under admin/ are generic.
    assert.equal((await call(url, `/api${BULK}/`, { method: "POST", body: "[{\"id\":1}]" })).json[0].ok, true);
    const other = await call(url, "/api/admin/bulk_actions/other", { method: "POST", body: "[]" });
    assert.equal(other.json.body, "[]");
    await fetch(`${url}/__reset`, { method: "POST" }).then((r) => r.text());
    assert.equal(double.stats().bulkItems, 0);
  });
});

test("bulk: a credential disabled by 429s gets 403 on the bulk path too", async () => {
  await withDouble({ limit: 1, windowMs: 5000, disableAfter: 1 }, async ({ url, double }) => {
    assert.equal((await call(url, `/api${BULK}`, { key: "k", method: "POST", body: "[{\"id\":1}]" })).status, 200);
    assert.equal((await call(url, `/api${BULK}`, { key: "k", method: "POST", body: "[{\"id\":2}]" })).status, 429);
    const forbidden = await call(url, `/api${BULK}`, { key: "k", method: "POST", body: "[{\"id\":3}]" });
    assert.equal(forbidden.status, 403);
    assert.deepEqual(forbidden.json, { error: "credentials disabled" });
    assert.equal(double.stats().bulkItems, 1);
  });
});
