// Tests of the demo server (www/server.mjs): static routing, MIME types, no traversal, the API
// mount, and the command line (one line when listening, exit 0 on SIGINT/SIGTERM).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startDemoServer, MIME_TYPES, DEMO_API_OPTIONS } from "../../www/server.mjs";
import { createApiDouble } from "../../www/api-double.mjs";

const SERVER = fileURLToPath(new URL("../../www/server.mjs", import.meta.url));
const REPO = path.resolve(path.dirname(SERVER), "..");

let tmp;
let pkgDir;
let outside;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rw-demo-test-"));
  pkgDir = path.join(tmp, "pkg");
  fs.mkdirSync(path.join(pkgDir, "gen", "web"), { recursive: true });
  fs.writeFileSync(path.join(pkgDir, "browser.js"), "export const marker = 'pkg-browser';\n");
  fs.writeFileSync(path.join(pkgDir, "mod.mjs"), "export default 1;\n");
  fs.writeFileSync(path.join(pkgDir, "gen", "web", "x_bg.wasm"), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(pkgDir, "package.json"), '{"name":"x"}');
  fs.writeFileSync(path.join(pkgDir, "a.css"), "a{}");
  fs.writeFileSync(path.join(pkgDir, "i.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  fs.writeFileSync(path.join(pkgDir, "i.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  fs.writeFileSync(path.join(pkgDir, "p.html"), "<!doctype html><p>pkg page</p>");
  outside = path.join(tmp, "secret.txt");
  fs.writeFileSync(outside, "secret");
  fs.symlinkSync(outside, path.join(pkgDir, "link.txt"));
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** GET with the path sent exactly as given (fetch would normalize "..").  */
function rawGet(port, rawPath, method = "GET") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: rawPath, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function withDemo(options, fn) {
  const demo = await startDemoServer({ port: 0, pkgDir, ...options });
  try {
    return await fn(demo);
  } finally {
    await demo.close();
  }
}

test("serves www/ at / and the package folder at /pkg/ with the right MIME types", async () => {
  await withDemo({}, async ({ port, url }) => {
    assert.equal(url, `http://127.0.0.1:${port}/`);
    const index = await rawGet(port, "/");
    assert.equal(index.status, 200);
    assert.equal(index.headers["content-type"], "text/html; charset=utf-8");
    assert.match(index.body, /<script type="module" src="\/app\.js"/);
    const app = await rawGet(port, "/app.js");
    assert.equal(app.headers["content-type"], "text/javascript; charset=utf-8");
    assert.match(app.body, /import \{ throttle, batcher \} from "\/pkg\/browser\.js";/);
    assert.equal((await rawGet(port, "/style.css")).headers["content-type"], "text/css; charset=utf-8");
    assert.equal((await rawGet(port, "/api-double.mjs")).headers["content-type"], "text/javascript; charset=utf-8");

    const cases = {
      "/pkg/browser.js": "text/javascript; charset=utf-8",
      "/pkg/mod.mjs": "text/javascript; charset=utf-8",
      "/pkg/gen/web/x_bg.wasm": "application/wasm",
      "/pkg/package.json": "application/json; charset=utf-8",
      "/pkg/a.css": "text/css; charset=utf-8",
      "/pkg/i.svg": "image/svg+xml",
      "/pkg/i.png": "image/png",
      "/pkg/p.html": "text/html; charset=utf-8",
    };
    for (const [p, type] of Object.entries(cases)) {
      const r = await rawGet(port, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers["content-type"], type, p);
    }
    assert.equal((await rawGet(port, "/pkg/browser.js")).body, "export const marker = 'pkg-browser';\n");
    const wasm = await fetch(`${url}pkg/gen/web/x_bg.wasm`);
    assert.deepEqual([...new Uint8Array(await wasm.arrayBuffer())], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const head = await rawGet(port, "/pkg/browser.js", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String("export const marker = 'pkg-browser';\n".length));
    assert.equal((await rawGet(port, "/pkg/missing.js")).status, 404);
    assert.equal((await rawGet(port, "/pkg/")).status, 404, "no directory listing");
    assert.equal((await rawGet(port, "/app.js", "POST")).status, 405);
    assert.equal(MIME_TYPES[".wasm"], "application/wasm");
  });
});

test("no directory traversal, encoded or not, and no escape through a symlink", async () => {
  await withDemo({}, async ({ port }) => {
    const attempts = [
      "/../Cargo.toml",
      "/../../etc/passwd",
      "/%2e%2e/Cargo.toml",
      "/%2E%2E%2FCargo.toml",
      "/pkg/../../Cargo.toml",
      "/pkg/%2e%2e/secret.txt",
      "/pkg/..%2fsecret.txt",
      "/pkg/%2e%2e%2f%2e%2e%2fCargo.toml",
      "/..%5c..%5cCargo.toml",
      "/pkg/link.txt",
      "/%00",
      "/pkg/%zz",
    ];
    for (const p of attempts) {
      const r = await rawGet(port, p);
      assert.ok(r.status === 404 || r.status === 400, `${p} -> ${r.status}`);
      assert.ok(!r.body.includes("secret") && !r.body.includes("[package]"), p);
    }
    // Inside the root, ".." that stays inside is fine.
    assert.equal((await rawGet(port, "/pkg/gen/../browser.js")).status, 200);
  });
});

test("mounts the API double at /api/ with /__stats, /__reset and /__config (demo defaults)", async () => {
  await withDemo({}, async ({ url, api }) => {
    const cfg = await (await fetch(`${url}__config`)).json();
    assert.equal(cfg.limit, 20);
    assert.equal(cfg.windowMs, 3000);
    assert.deepEqual(cfg.downlinkMs, [20, 120]);
    // GET answers may be cached by a client (the page's "Fewer requests" switch relies on it).
    assert.equal(cfg.cacheControl, "private, max-age=60");
    assert.equal(DEMO_API_OPTIONS.cacheControl, "private, max-age=60");
    const r = await fetch(`${url}api/org-a/items/1`, { headers: { authorization: "Bearer acct-1" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cache-control"), "private, max-age=60");
    const body = await r.json();
    assert.equal(body.org, "org-a");
    assert.equal(body.key, "acct-1");
    assert.equal(api.stats().accepted, 1);
    // The bulk operation is mounted too: one request for many items.
    const bulk = await fetch(`${url}api/org-a/admin/bulk_actions/category`, {
      method: "POST",
      headers: { authorization: "Bearer acct-1", "content-type": "application/json" },
      body: JSON.stringify([{ id: 1 }, { id: 2 }]),
    });
    assert.equal(bulk.status, 200);
    assert.deepEqual(await bulk.json(), [{ ok: true, id: 1 }, { ok: true, id: 2 }]);
    assert.equal(api.stats().accepted, 2);
    assert.equal(api.stats().orgs["org-a"].bulkItems, 2);
    const set = await fetch(`${url}__config`, { method: "POST", body: JSON.stringify({ limit: 1, downlinkMs: 0 }) });
    assert.equal(set.status, 200);
    await set.text();
    assert.equal((await fetch(`${url}api/org-a/items/2`)).status, 429);
    const reset = await fetch(`${url}__reset`, { method: "POST" });
    assert.equal(reset.status, 200);
    await reset.text();
    const stats = await (await fetch(`${url}__stats`)).json();
    assert.equal(stats.arrivals, 0);
    assert.equal((await fetch(`${url}api/org-a/items/3`)).status, 200);
  });

  // An existing double is mounted as is, and left open for its owner.
  const own = createApiDouble({ limit: 1, windowMs: 1000 });
  await withDemo({ api: own }, async ({ url, api }) => {
    assert.equal(api, own);
    assert.equal((await fetch(`${url}api/x`)).status, 200);
    assert.equal((await fetch(`${url}api/x`)).status, 429);
  });
  assert.equal(own.stats().accepted, 1);
  await own.close();

  // Options are merged over the demo's.
  await withDemo({ api: { limit: 7 } }, async ({ url }) => {
    const cfg = await (await fetch(`${url}__config`)).json();
    assert.equal(cfg.limit, 7);
    assert.equal(cfg.windowMs, 3000);
  });
});

function runCli(env = {}) {
  const child = spawn(process.execPath, [SERVER], {
    cwd: REPO,
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line within 3 s: ${JSON.stringify(out)}`)), 3000);
    child.stdout.on("data", () => {
      if (out.stdout.includes("\n")) {
        clearTimeout(timer);
        resolve(out.stdout);
      }
    });
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`exited early: ${JSON.stringify(out)}`));
    });
  });
  listening.catch(() => {}); // awaited by the tests that expect a server; others ignore it
  return { child, out, exited, listening };
}

async function exitWithin(exited, child, ms) {
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const r = await exited;
  clearTimeout(timer);
  return r;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  test(`node www/server.mjs prints one line, serves / and /pkg/, and exits 0 on ${signal}`, async () => {
    const { child, out, exited, listening } = runCli();
    const line = await listening;
    const m = /^ratewindow demo: http:\/\/127\.0\.0\.1:(\d+)\/\n$/.exec(line);
    assert.ok(m, `printed ${JSON.stringify(line)}`);
    const url = `http://127.0.0.1:${m[1]}/`;
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /ratewindow/);
    const pkg = await fetch(`${url}pkg/`);
    assert.ok(pkg.status === 200 || pkg.status === 404); // routed to pkg/, whatever it holds now
    await pkg.text();
    const api = await fetch(`${url}api/x`, { headers: { connection: "keep-alive" } });
    assert.equal(api.status, 200);
    await api.text();
    child.kill(signal);
    const { code } = await exitWithin(exited, child, 2500);
    assert.equal(code, 0);
    assert.equal(out.stdout, line, "exactly one line on stdout");
    assert.equal(out.stderr, "");
  });
}

test("a bad PORT is refused with exit code 1", async () => {
  const { child, exited, out } = runCli({ PORT: "eighty" });
  const { code } = await exitWithin(exited, child, 2500);
  assert.equal(code, 1);
  assert.match(out.stderr, /PORT/);
  assert.equal(out.stdout, "");
});

test("importing server.mjs starts nothing", async () => {
  const child = spawn(
    process.execPath,
    ["--input-type=module", "-e", `await import(${JSON.stringify(new URL("../../www/server.mjs", import.meta.url).href)}); console.log("imported");`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve({ code })));
  const { code } = await exitWithin(exited, child, 2500);
  assert.equal(code, 0);
  assert.equal(stdout, "imported\n");
});
