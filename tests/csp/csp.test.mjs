// The package in headless Chromium under a strict Content-Security-Policy: scripts only from the
// page's origin, WebAssembly compilation allowed by 'wasm-unsafe-eval', and no 'unsafe-eval'
// (so no eval, new Function or string timers anywhere in the package or its glue).
//
//   node --test tests/csp/
//
// Needs the built package (pkg/gen/, `make build`) and /usr/bin/chromium (or $CHROMIUM).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch, openPage } from "../support/browser.mjs";
import { serveStatic } from "../support/static.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const STRICT = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'";
const LIMIT = 3;
const WINDOW_MS = 300;

/** The same-origin endpoint: answers 200 and checks the rolling window itself. */
function api(arrivals) {
  return (req, res) => {
    arrivals.push({ t: performance.now(), url: req.url, method: req.method });
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, url: req.url }));
    });
  };
}

function maxInWindow(times, windowMs) {
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[j] <= times[i] - windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

let browser;
before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, "pkg", "gen", "web")), "the package is not built: run `make build` first");
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function load(csp) {
  const arrivals = [];
  const site = await serveStatic(REPO, api(arrivals), { "content-security-policy": csp });
  const { page, errors } = await openPage(browser, `${site.url}/tests/csp/page.html`);
  try {
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 20_000 });
    const result = await page.evaluate(() => window.__result);
    const violations = await page.evaluate(() => window.__violations);
    const header = (await page.request.get(`${site.url}/tests/csp/page.html`)).headers()["content-security-policy"];
    return { result, violations, errors, arrivals, header };
  } finally {
    await page.close();
    await site.close();
  }
}

test("works under script-src 'self' 'wasm-unsafe-eval', without a single CSP violation or console error", async () => {
  const { result, violations, errors, arrivals, header } = await load(STRICT);
  assert.equal(header, STRICT, "the policy was served");
  assert.deepEqual(violations, [], "CSP violations");
  assert.deepEqual(errors, [], "console or page errors");
  assert.equal(result.ok, true, result.error);
  assert.deepEqual(result.statuses, Array(8).fill(200));
  assert.equal(result.scheduled, 200);
  assert.equal(result.aborted, "mine");
  assert.match(result.badOption, /^RangeError: ratewindow: `limit`/);
  assert.equal(result.maxWait, "RateLimitError");
  assert.equal(result.stats.inFlight, 0);
  assert.equal(result.stats.queued, 0);
  assert.equal(result.sentEvents, 9, "8 calls and 1 scheduled function were sent");
  // 8 calls at 3 per 300 ms need at least two more windows after the first burst.
  assert.ok(result.elapsedMs >= 2 * WINDOW_MS, `took ${result.elapsedMs} ms`);
  const throttled = arrivals.filter((a) => a.url.startsWith("/api/items/")).map((a) => a.t);
  assert.equal(throttled.length, 8);
  assert.ok(maxInWindow(throttled, WINDOW_MS) <= LIMIT, "the window held at the server");
});

test("the policy is enforced: without 'wasm-unsafe-eval' the Wasm cannot compile (the check has teeth)", async () => {
  const { result, violations, errors } = await load("default-src 'self'; script-src 'self'");
  assert.equal(result.ok, false);
  assert.match(result.error, /CompileError|WebAssembly|Refused|unsafe-eval/i);
  const blocked = violations.length > 0 || errors.some((e) => /Content Security Policy|unsafe-eval/i.test(e));
  assert.ok(blocked, `no violation reported: ${JSON.stringify({ violations, errors })}`);
});
