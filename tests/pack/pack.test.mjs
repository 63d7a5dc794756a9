// The package as a user gets it: `npm pack` in pkg/, installed from the tarball into a fresh
// project, then used with `import`, `require`, a plain <script type="module"> page in headless
// Chromium, and a Vite build of a page in Chromium. Also reports the shipped size (gzip -9).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { createApiDouble } from "../../www/api-double.mjs";
import { serveStatic } from "../support/static.mjs";
import { launch, openPage } from "../support/browser.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const work = join(repo, "tests/.tmp/pack");
const project = join(work, "consumer");
let api;
let apiUrl;

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
// The API double lives in this process: children that call it must not block our event loop.
const runAsync = async (cmd, args, cwd) => (await promisify(execFile)(cmd, args, { cwd, encoding: "utf8", timeout: 60_000 })).stdout;

before(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  const out = run("npm", ["pack", "--json", "--pack-destination", work], join(repo, "pkg"));
  const tarball = join(work, JSON.parse(out)[0].filename);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  run("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], project);
  api = createApiDouble({ limit: 5, windowMs: 300, downlinkMs: [0, 20] });
  apiUrl = (await api.listen(0, "127.0.0.1")).url.replace(/\/$/, "");
});

after(async () => {
  await api?.close();
});

// The same job everywhere: 12 calls, limit 5 per 300 ms, against the strict double.
const job = (importLine, exportLine) => `${importLine}
const limited = throttle(fetch, { limit: 5, windowMs: 300 });
const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => limited(API + "/api/pack/" + i).then(r => r.status)));
${exportLine}`;

function checkJob(statuses) {
  assert.deepEqual(statuses, Array(12).fill(200));
}

test("installs from the tarball with only the files it needs", () => {
  const files = JSON.parse(run("npm", ["pack", "--dry-run", "--json"], join(repo, "pkg")))[0].files.map((f) => f.path).sort();
  assert.ok(files.includes("gen/web/ratewindow_bg.wasm") && files.includes("node.cjs") && files.includes("index.d.ts"), files.join(" "));
  assert.ok(!files.some((f) => f.includes("node_modules") || f.endsWith(".rs")), files.join(" "));
  const wasm = readFileSync(join(project, "node_modules/ratewindow/gen/web/ratewindow_bg.wasm"));
  const glue = readFileSync(join(project, "node_modules/ratewindow/gen/web/ratewindow.js"));
  const entry = Buffer.concat([readFileSync(join(project, "node_modules/ratewindow/browser.js")), readFileSync(join(project, "node_modules/ratewindow/src/api.js"))]);
  const gz = (b) => gzipSync(b, { level: 9 }).length;
  console.log(`# size (gzip -9): wasm ${gz(wasm)} B + glue ${gz(glue)} B + entry ${gz(entry)} B = ${gz(wasm) + gz(glue) + gz(entry)} B (raw wasm ${wasm.length} B)`);
});

test("works with import (Node ESM)", async () => {
  writeFileSync(join(project, "esm.mjs"), job(`import { throttle } from "ratewindow"; const API = process.argv[2];`, "console.log(JSON.stringify(statuses));"));
  api.reset();
  checkJob(JSON.parse(await runAsync("node", ["esm.mjs", apiUrl], project)));
});

test("the Redis adapter loads as ratewindow/redis with import and require; tabs as ratewindow/tabs", async () => {
  writeFileSync(join(project, "redis-esm.mjs"), `import { redisStore } from "ratewindow/redis"; console.log(typeof redisStore);`);
  writeFileSync(join(project, "redis-cjs.cjs"), `const { redisStore } = require("ratewindow/redis"); console.log(typeof redisStore);`);
  writeFileSync(join(project, "tabs-esm.mjs"), `import { tabStore } from "ratewindow/tabs"; console.log(typeof tabStore);`);
  for (const f of ["redis-esm.mjs", "redis-cjs.cjs", "tabs-esm.mjs"]) assert.equal((await runAsync("node", [f], project)).trim(), "function", f);
});

test("works with require (Node CJS)", async () => {
  writeFileSync(
    join(project, "cjs.cjs"),
    `const { throttle } = require("ratewindow"); const API = process.argv[2];
(async () => { ${job("", "console.log(JSON.stringify(statuses));")} })();`,
  );
  api.reset();
  checkJob(JSON.parse(await runAsync("node", ["cjs.cjs", apiUrl], project)));
});

test("works in a plain <script type=module> page and in a Vite build, in headless Chromium", async () => {
  const page = (src) => `<!doctype html><meta charset="utf-8"><title>consumer</title><link rel="icon" href="data:,"><script type="module">${src}</script>`;
  const script = job(`import { throttle } from "./node_modules/ratewindow/browser.js"; const API = "";`, "window.__statuses = statuses;");
  writeFileSync(join(project, "plain.html"), page(script));
  // Vite: a real app entry importing the bare package name.
  mkdirSync(join(project, "app"), { recursive: true });
  writeFileSync(join(project, "app/index.html"), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>`);
  writeFileSync(join(project, "app/main.js"), job(`import { throttle } from "ratewindow"; const API = "";`, "window.__statuses = statuses;"));
  run(process.execPath, [join(repo, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "error", "--base", "./", "--outDir", "../dist", "--emptyOutDir"], join(project, "app"));

  // The browser bundle carries none of the Redis adapter.
  const { readdirSync } = await import("node:fs");
  const assets = readdirSync(join(project, "dist/assets")).filter((f) => f.endsWith(".js"));
  for (const a of assets) assert.ok(!readFileSync(join(project, "dist/assets", a), "utf8").includes("EVALSHA"), a);

  const site = await serveStatic(project, api.handler);
  const browser = await launch();
  try {
    for (const path of ["/plain.html", "/dist/index.html"]) {
      // Each job is a new budget: start it against a fresh server window (no hidden consumer).
      api.reset();
      const { page: p, errors } = await openPage(browser, site.url + path);
      await p.waitForFunction(() => window.__statuses, null, { timeout: 15_000 });
      checkJob(await p.evaluate(() => window.__statuses));
      assert.deepEqual(errors, [], path);
      await p.close();
    }
  } finally {
    await browser.close();
    await site.close();
  }
});
