// End-to-end test of the demo page (www/): the demo server on a free port, the page in headless
// Chromium, a short compressed-time job in both lanes, and what the page shows for it; then the
// same with "Fewer requests: cache + bulk" on.
//
//   node --test tests/e2e/
//
// Needs the built package (pkg/gen/, `make build`) and /usr/bin/chromium (or $CHROMIUM).
// Saves screenshots of the page after the runs to tests/.tmp/demo.png and demo-fewer.png and
// prints their paths.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDemoServer } from "../../www/server.mjs";
import { launch, openPage } from "../support/browser.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCREENSHOT = path.join(REPO, "tests", ".tmp", "demo.png");
const SCREENSHOT_FEWER = path.join(REPO, "tests", ".tmp", "demo-fewer.png");

/** The job: the compressed preset (20 requests per rolling 3 s), 60 calls over 3 API keys. */
const JOB = Object.freeze({
  limit: 20,
  windowMs: 3000,
  latencyMinMs: 20,
  latencyMaxMs: 120,
  jobSize: 60,
  accounts: 3,
  fewer: false,
});
const PHYSICAL_MIN_MS = (Math.ceil(JOB.jobSize / JOB.limit) - 1) * JOB.windowMs; // 6 s

/**
 * The same size of job as a realistic mix, with "Fewer requests: cache + bulk" on: 20 items,
 * each read twice (custom categories, locations) and labelled once. A 2 s window keeps the plain
 * lane's Retry-After waits (and so the run) short.
 */
const FEWER_JOB = Object.freeze({ ...JOB, windowMs: 2000, fewer: true });
const FEWER_LABELS = Math.floor(FEWER_JOB.jobSize / 3); // 20
const FEWER_READS = FEWER_JOB.jobSize - FEWER_LABELS; // 40

const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

// Chromium writes one console error, "Failed to load resource: the server responded with a status
// of 429 (Too Many Requests)" (or 403 (Forbidden)), for every fetch answered with that status. That
// is the browser's network log, not an error of the page: the plain lane is meant to draw those
// answers. Exactly these two messages are ignored; every other console error and every page error
// fails the test.
const NETWORK_LOG = new Set([
  "console: Failed to load resource: the server responded with a status of 429 (Too Many Requests)",
  "console: Failed to load resource: the server responded with a status of 403 (Forbidden)",
]);
const pageErrors = (errors) => errors.filter((e) => !NETWORK_LOG.has(e));

let demo;
let browser;
let page;
let errors;

before(async () => {
  assert.ok(
    fs.existsSync(path.join(REPO, "pkg", "gen", "web")),
    "the package is not built (pkg/gen/web is missing): run `make build` first",
  );
  demo = await startDemoServer({ port: 0 });
  browser = await launch();
  ({ page, errors } = await openPage(browser, demo.url));
  await page.setViewportSize(VIEWPORTS[0]);
  await page.waitForFunction(() => typeof window.__demo?.run === "function", null, { timeout: 10_000 });
});

after(async () => {
  await browser?.close();
  await demo?.close();
});

/** Layout facts of the page at the current viewport. */
function measure() {
  return page.evaluate(() => {
    const box = (sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      const shown = r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.display !== "none";
      return { x: r.left, y: r.top + scrollY, w: r.width, h: r.height, right: r.right, shown };
    };
    return {
      innerWidth,
      scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
      plain: box("#lane-plain"),
      rw: box("#lane-rw"),
      plainChart: box("#lane-plain canvas"),
      rwChart: box("#lane-rw canvas"),
      rule: box("#rule"),
      fewer: box("#fewer-panel"),
      ruleText: document.querySelector("#rule")?.innerText ?? "",
      controls: ["#preset", "#limit", "#window", "#latency-min", "#latency-max", "#job", "#accounts", "#fewer", "#start", "#stop", "#reset"]
        .map((sel) => [sel, box(sel)?.shown ?? false]),
      // Everything that sticks out of the viewport to the right (a cause of horizontal scrolling).
      overflowing: [...document.querySelectorAll("body *")]
        .filter((el) => {
          const r = el.getBoundingClientRect();
          return r.width > 0 && r.right > innerWidth + 0.5 && !el.closest("pre");
        })
        .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")}`)
        .slice(0, 5),
    };
  });
}

async function assertLayout(viewport, when, job = JOB) {
  await page.setViewportSize(viewport);
  await page.waitForTimeout(100); // a frame for the ResizeObserver to redraw the charts
  const m = await measure();
  const at = `${viewport.width}×${viewport.height} ${when}`;
  assert.ok(m.scrollWidth <= m.innerWidth, `horizontal scrolling at ${at}: ${m.scrollWidth} > ${m.innerWidth}`);
  assert.deepEqual(m.overflowing, [], `elements past the right edge at ${at}`);
  for (const key of ["plain", "rw", "plainChart", "rwChart", "rule", "fewer"]) {
    assert.ok(m[key]?.shown, `${key} is not rendered at ${at}`);
  }
  for (const [sel, shown] of m.controls) assert.ok(shown, `control ${sel} is not rendered at ${at}`);
  for (const chart of [m.plainChart, m.rwChart]) {
    assert.ok(chart.w >= 250 && chart.h >= 120, `chart too small at ${at}: ${chart.w}×${chart.h}`);
  }
  // The explanation names the rule, its consequences, and how ratewindow keeps to it.
  const rule = new RegExp(`${job.limit} requests per rolling ${job.windowMs / 1000} s`, "i");
  for (const phrase of [rule, /all API keys of an organization/i, /429/, /credentials/i, /completion/i]) {
    assert.match(m.ruleText, phrase, `the explanation lacks ${phrase} at ${at}`);
  }
  if (viewport.width >= 1000) {
    assert.ok(Math.abs(m.plain.y - m.rw.y) < 1 && m.rw.x >= m.plain.right, `lanes not side by side at ${at}`);
  } else {
    assert.ok(m.rw.y >= m.plain.y + m.plain.h, `lanes not stacked at ${at}`);
  }
  assert.ok(m.fewer.y >= m.rw.y + m.rw.h, `the Fewer requests panel is not under the lanes at ${at}`);
}

test("the page renders both lanes, the charts and the explanation, without horizontal scrolling", async () => {
  for (const viewport of VIEWPORTS) await assertLayout(viewport, "before a run");
  assert.deepEqual(pageErrors(errors), []);
});

test("the preset selector sets the controls: compressed (20 per 3 s) and real API (200 per 60 s)", async () => {
  await page.setViewportSize(VIEWPORTS[0]);
  const options = await page.$$eval("#preset option", (os) => os.map((o) => o.textContent.trim()));
  assert.ok(options.includes("compressed (20 per 3 s)"), `options: ${options}`);
  assert.ok(options.includes("real API (200 per 60 s)"), `options: ${options}`);

  await page.selectOption("#preset", { label: "real API (200 per 60 s)" });
  let s = await page.evaluate(() => window.__demo.settings());
  assert.equal(s.limit, 200);
  assert.equal(s.windowMs, 60_000);
  assert.match(await page.locator("#rule").innerText(), /200 requests per rolling 60 s/);

  await page.fill("#job", "123");
  assert.equal(await page.inputValue("#preset"), "custom", "an edited form is no preset any more");

  await page.selectOption("#preset", { label: "compressed (20 per 3 s)" });
  s = await page.evaluate(() => window.__demo.settings());
  assert.deepEqual(
    { limit: s.limit, windowMs: s.windowMs, jobSize: s.jobSize, accounts: s.accounts },
    { limit: 20, windowMs: 3000, jobSize: 60, accounts: 3 },
  );
  assert.deepEqual(pageErrors(errors), []);
});

test("a compressed run: ratewindow gets every call through with zero 429s, plain fetch gets 429s", async (t) => {
  await page.setViewportSize(VIEWPORTS[0]);
  await page.evaluate(() => window.__demo.reset());
  const startedAt = Date.now();
  const results = await page.evaluate((job) => window.__demo.run(job), JOB);
  const tookMs = Date.now() - startedAt;
  await page.waitForTimeout(150); // the last frame
  t.diagnostic(`run took ${tookMs} ms: ${JSON.stringify(results)}`);

  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  // Printed as is by the spec reporter (a terminal); the TAP reporter prefixes it with "# \".
  console.log(`# screenshot: ${SCREENSHOT}`);

  const { plain, ratewindow: rw } = results;
  assert.equal(results.stopped, false);

  // ratewindow: every call succeeded, no 429, no retry, never more than the limit at the server.
  assert.equal(rw.ok, JOB.jobSize, "every ratewindow call succeeded");
  assert.equal(rw.r429, 0, "ratewindow drew no 429");
  assert.equal(rw.r403, 0);
  assert.equal(rw.retries, 0);
  assert.equal(rw.sent, JOB.jobSize);
  assert.ok(rw.elapsedMs >= PHYSICAL_MIN_MS, `faster than physically possible: ${rw.elapsedMs} ms`);
  assert.ok(rw.elapsedMs < PHYSICAL_MIN_MS + 2 * JOB.windowMs, `ratewindow took ${rw.elapsedMs} ms`);

  // plain fetch: 429s, and with these settings (10 strikes per key) disabled credentials.
  assert.ok(plain.r429 > 0, "plain fetch drew 429s");
  assert.ok(plain.ok < JOB.jobSize, "plain fetch lost calls");
  assert.ok(plain.r403 > 0, "plain fetch got its credentials disabled");

  // The API double saw the same thing.
  const server = demo.api.stats().orgs;
  assert.equal(server["org-b"].accepted, JOB.jobSize);
  assert.equal(server["org-b"].rejected429, 0);
  assert.ok(server["org-b"].maxInWindow <= JOB.limit, `org-b peaked at ${server["org-b"].maxInWindow}`);
  assert.equal(server["org-a"].rejected429, plain.r429);
  assert.ok(server["org-a"].disabledKeys.length > 0);

  // The page shows it: a success verdict on the right, the big disabled state on the left.
  const view = await page.evaluate(() => {
    const lane = (id) => {
      const root = document.getElementById(id);
      const field = (f) => root.querySelector(`[data-field="${f}"]`);
      const verdict = field("verdict");
      return {
        verdict: verdict.dataset.state,
        verdictShown: verdict.getBoundingClientRect().height > 0 && !verdict.hidden,
        title: field("verdict-title").textContent,
        ok: field("ok").textContent,
        r429: field("r429").textContent,
        sent: field("sent").textContent,
        status: field("status").textContent,
      };
    };
    return { plain: lane("lane-plain"), rw: lane("lane-rw") };
  });
  assert.equal(view.rw.verdict, "ok");
  assert.equal(view.rw.ok, String(JOB.jobSize));
  assert.equal(view.rw.r429, "0");
  assert.equal(view.rw.sent, String(JOB.jobSize));
  assert.equal(view.plain.verdict, "disabled");
  assert.ok(view.plain.verdictShown);
  assert.match(view.plain.title, /credentials disabled/i);
  assert.equal(view.plain.r429, String(plain.r429));

  for (const viewport of VIEWPORTS) await assertLayout(viewport, "after a run");
  await page.setViewportSize(VIEWPORTS[0]);
  assert.deepEqual(pageErrors(errors), []);
});

test("Stop aborts both lanes at once", async () => {
  await page.evaluate(() => window.__demo.reset());
  const run = page.evaluate((job) => window.__demo.run(job), JOB);
  await page.waitForFunction(() => document.querySelector("#lane-rw [data-field=ok]").textContent === "20", null, {
    timeout: 5_000,
  });
  const stoppedAt = Date.now();
  await page.click("#stop");
  const results = await run;
  const stopMs = Date.now() - stoppedAt;
  assert.equal(results.stopped, true);
  assert.ok(stopMs < 1500, `the run took ${stopMs} ms to end after Stop`);
  assert.ok(results.ratewindow.aborted > 0, "queued ratewindow calls were aborted");
  assert.equal(results.ratewindow.r429, 0);
  assert.ok(results.ratewindow.ok < JOB.jobSize);
  const rwState = await page.locator("#lane-rw [data-field=verdict]").getAttribute("data-state");
  assert.equal(rwState, "stopped");
  assert.equal(await page.isEnabled("#start"), true);
  assert.equal(await page.isDisabled("#stop"), true);
  assert.deepEqual(pageErrors(errors), []);
});

test("Fewer requests: cache + bulk serves reads from the cache, labels in bulk, far fewer requests, zero 429s", async (t) => {
  await page.setViewportSize(VIEWPORTS[0]);
  await page.evaluate(() => window.__demo.reset());
  // The switch is a setting like the others: off by default, on through the form.
  assert.equal(await page.isChecked("#fewer"), false);
  await page.check("#fewer");
  assert.equal((await page.evaluate(() => window.__demo.settings())).fewer, true);
  assert.equal(await page.locator("#fewer-panel").getAttribute("data-state"), "ready");

  const startedAt = Date.now();
  const results = await page.evaluate((job) => window.__demo.run(job), FEWER_JOB);
  const tookMs = Date.now() - startedAt;
  await page.waitForTimeout(150); // the last frame
  t.diagnostic(`run took ${tookMs} ms: ${JSON.stringify(results)}`);
  fs.mkdirSync(path.dirname(SCREENSHOT_FEWER), { recursive: true });
  await page.screenshot({ path: SCREENSHOT_FEWER, fullPage: true });
  console.log(`# screenshot: ${SCREENSHOT_FEWER}`);

  const { plain, ratewindow: rw } = results;
  assert.equal(results.stopped, false);
  assert.equal(results.fewer, true);

  // ratewindow: every logical call succeeded, no 429, no 403, no retry.
  assert.equal(rw.ok, FEWER_JOB.jobSize, "every ratewindow call succeeded");
  assert.equal(rw.calls, FEWER_JOB.jobSize);
  assert.equal(rw.r429, 0, "ratewindow drew no 429");
  assert.equal(rw.r403, 0);
  assert.equal(rw.retries, 0);
  assert.equal(rw.aborted, 0);

  // The cache (and joined reads) saved requests; the labels went in fewer bulk requests.
  assert.ok(rw.cache.saved > 0, `cache saved ${rw.cache.saved}`);
  assert.equal(rw.cache.saved, rw.cache.hits + rw.cache.deduped);
  assert.ok(rw.cache.saved <= FEWER_READS);
  assert.equal(rw.bulk.items, FEWER_LABELS, "every label went in a bulk call");
  assert.ok(rw.bulk.requests > 0 && rw.bulk.requests < rw.bulk.items, `${rw.bulk.items} labels in ${rw.bulk.requests} requests`);
  // What went on the wire: the reads the cache did not answer, plus one request per bulk call.
  assert.equal(rw.sent, FEWER_READS - rw.cache.saved + rw.bulk.requests);

  // The API double saw the same: far fewer requests than the job's calls, all accepted.
  const server = demo.api.stats().orgs["org-b"];
  assert.ok(server.arrivals < FEWER_JOB.jobSize, `the server saw ${server.arrivals} requests for ${FEWER_JOB.jobSize} calls`);
  assert.equal(server.arrivals, rw.sent);
  assert.equal(server.accepted, rw.sent);
  assert.equal(server.rejected429, 0);
  assert.equal(server.bulkRequests, rw.bulk.requests);
  assert.equal(server.bulkItems, rw.bulk.items);
  assert.ok(server.maxInWindow <= FEWER_JOB.limit);

  // Fewer requests, so faster than any client sending one request per call can be.
  const minOnePerCall = (Math.ceil(FEWER_JOB.jobSize / FEWER_JOB.limit) - 1) * FEWER_JOB.windowMs; // 4 s
  assert.ok(rw.elapsedMs < minOnePerCall, `ratewindow with cache + bulk took ${rw.elapsedMs} ms`);

  // plain fetch runs the same mix, one request per call: it still draws 429s.
  assert.ok(plain.r429 > 0, "plain fetch drew 429s");
  assert.ok(plain.sent >= FEWER_JOB.jobSize || plain.r403 > 0);
  assert.equal(demo.api.stats().orgs["org-a"].bulkRequests, 0, "plain fetch labels one call at a time");

  // The page shows it: the lane's counters and the panel's figures.
  const view = await page.evaluate(() => {
    const panel = document.getElementById("fewer-panel");
    const f = (name) => panel.querySelector(`[data-fewer="${name}"]`);
    const rwField = (name) => document.querySelector(`#lane-rw [data-field="${name}"]`).textContent;
    return {
      state: panel.dataset.state,
      status: f("status").textContent,
      onShown: !f("on").hidden && f("on").getBoundingClientRect().height > 0,
      offHidden: f("off").hidden,
      requests: f("requests").textContent,
      saved: f("saved").textContent,
      bulk: f("bulk").textContent,
      elapsed: f("elapsed").textContent,
      foot: f("foot").textContent,
      verdict: document.querySelector("#lane-rw [data-field=verdict]").dataset.state,
      verdictText: rwField("verdict-text"),
      sent: rwField("sent"),
      ok: rwField("ok"),
      r429: rwField("r429"),
    };
  });
  assert.equal(view.state, "done");
  assert.equal(view.status, "done");
  assert.ok(view.onShown && view.offHidden);
  assert.equal(view.requests, `${rw.sent} / ${FEWER_JOB.jobSize} calls`);
  assert.equal(view.saved, `${rw.cache.saved} of ${FEWER_READS} reads`);
  assert.equal(view.bulk, `${rw.bulk.requests} for ${FEWER_LABELS} labels`);
  assert.match(view.elapsed, /^\d+\.\d s \/ ≥ 4\.0 s$/);
  assert.match(view.foot, new RegExp(`counted ${server.arrivals} requests? from this lane for ${FEWER_JOB.jobSize} calls`));
  assert.equal(view.verdict, "ok");
  assert.match(view.verdictText, new RegExp(`with ${rw.sent} requests?`));
  assert.equal(view.sent, String(rw.sent));
  assert.equal(view.ok, String(FEWER_JOB.jobSize));
  assert.equal(view.r429, "0");

  for (const viewport of VIEWPORTS) await assertLayout(viewport, "after a run with cache + bulk", FEWER_JOB);
  await page.setViewportSize(VIEWPORTS[0]);

  // Off again: the next run is the plain job, and the panel says how to turn it on.
  await page.uncheck("#fewer");
  assert.equal(await page.locator("#fewer-panel").getAttribute("data-state"), "off");
  assert.equal(await page.locator('#fewer-panel [data-fewer="off"]').isVisible(), true);
  assert.deepEqual(pageErrors(errors), []);
});
