// Same-origin tabs share one budget through tabStore (Web Locks + localStorage), in headless
// Chromium: combined traffic stays under the limit with zero 429s, and a tab closed mid-run
// does not stall the others.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { copyFileSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { createApiDouble } from "../../www/api-double.mjs";
import { serveStatic } from "../support/static.mjs";
import { launch, openPage } from "../support/browser.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const root = resolve(repo, "tests/.tmp/tabs");

async function site(api) {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  symlinkSync(resolve(repo, "pkg"), resolve(root, "pkg"));
  copyFileSync(resolve(repo, "tests/tabs/page.html"), resolve(root, "index.html"));
  copyFileSync(resolve(repo, "tests/tabs/worker.js"), resolve(root, "worker.js"));
  return serveStatic(root, api.handler);
}

async function openTab(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && !/status of 429/.test(m.text()) && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__ready);
  return { page, errors };
}

test("two tabs and a worker share one budget: zero 429s; closing a tab mid-run does not stall the other", async () => {
  const limit = 6;
  const windowMs = 500;
  const api = createApiDouble({ limit, windowMs, disableAfter: 0, downlinkMs: [0, 20] });
  const server = await site(api);
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const url = `${server.url}/index.html?key=org-tabs&limit=${limit}&windowMs=${windowMs}`;
    const a = await openTab(context, url);
    const b = await openTab(context, url);
    const t0 = Date.now();
    const [ra, rb] = await Promise.all([a.page.evaluate(() => window.__run(9, "a")), b.page.evaluate(() => window.__run(9, "b"))]);
    const elapsed = Date.now() - t0;
    assert.deepEqual([...ra, ...rb], Array(18).fill(200));
    const s = api.stats();
    assert.equal(s.rejected429, 0, "combined traffic never drew a 429");
    assert.ok(s.maxInWindow <= limit, `maxInWindow ${s.maxInWindow}`);
    console.log(`# tabs: 18 calls from two tabs in ${elapsed} ms (physical minimum ${2 * windowMs} ms)`);

    // A dedicated worker joins the same budget as tab A: combined, still no 429.
    const before = api.stats().accepted;
    const [rw, ra2] = await Promise.all([a.page.evaluate(() => window.__runWorker(9, "w")), a.page.evaluate(() => window.__run(9, "a1"))]);
    assert.deepEqual([...rw, ...ra2], Array(18).fill(200));
    assert.equal(api.stats().accepted - before, 18);
    assert.equal(api.stats().rejected429, 0, "tab + worker never drew a 429");
    assert.ok(api.stats().maxInWindow <= limit);

    // Tab B starts a long run and is closed while requests are in flight and queued.
    const stalled = b.page.evaluate(() => window.__run(12, "b2")).catch(() => "closed");
    await new Promise((r) => setTimeout(r, 150));
    await b.page.close();
    assert.equal(await stalled, "closed");
    const t1 = Date.now();
    const rest = await a.page.evaluate(() => window.__run(6, "a2"));
    assert.deepEqual(rest, Array(6).fill(200));
    // B's in-flight slots free one window after the close at worst; A must not wait for a lease.
    assert.ok(Date.now() - t1 < 5 * windowMs, `A took ${Date.now() - t1} ms after B closed`);
    assert.equal(api.stats().rejected429, 0);
    assert.deepEqual(a.errors, []);
  } finally {
    await browser.close();
    await server.close();
    await api.close();
  }
});
