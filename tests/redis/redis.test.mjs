// One budget across processes through a real redis-server (started here on a free port).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { createApiDouble } from "../../www/api-double.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rw-redis-"));
let port;

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

async function startRedis() {
  await new Promise((resolve, reject) =>
    execFile("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--daemonize", "yes", "--pidfile", join(dir, "redis.pid"), "--save", "", "--appendonly", "no", "--dir", dir], (e) => (e ? reject(e) : resolve())),
  );
  for (let i = 0; i < 50; i++) {
    if (await ping()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("redis-server did not start");
}

const ping = () =>
  new Promise((resolve) => execFile("redis-cli", ["-p", String(port), "ping"], (e, out) => resolve(!e && out.trim() === "PONG")));

function stopRedis() {
  try {
    process.kill(Number(readFileSync(join(dir, "redis.pid"), "utf8")), "SIGKILL");
  } catch {
    // already gone
  }
}

function worker(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, "worker.mjs"), ...args.map(String)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`worker exited ${code}: ${out} ${err}`));
      resolve(JSON.parse(out.trim().split("\n").pop()));
    });
  });
}

before(async () => {
  port = await freePort();
  await startRedis();
});
after(() => {
  stopRedis();
  rmSync(dir, { recursive: true, force: true });
});

for (const client of ["ioredis", "node-redis"]) {
  test(`4 processes share one budget through Redis (${client}): zero 429s, all succeed, near the minimum`, async () => {
    const limit = 12;
    const windowMs = 800;
    const api = createApiDouble({ limit, windowMs, disableAfter: 0, uplinkMs: [0, 15], downlinkMs: [0, 15] });
    const { url } = await api.listen(0, "127.0.0.1");
    try {
      const key = `org-${client}-${Date.now()}`;
      const perProcess = (3 * limit) / 4; // three windows' worth in all
      const t0 = performance.now();
      const runs = await Promise.all(
        [1, 2, 3, 4].map((i) => worker([url, port, key, `acct-${i}`, perProcess, client, limit, windowMs])),
      );
      const elapsed = performance.now() - t0;
      for (const r of runs) assert.deepEqual(r.results, Array(perProcess).fill(200));
      const s = api.stats();
      assert.equal(s.rejected429, 0, "the server served no 429");
      assert.ok(s.maxInWindow <= limit);
      const minimum = (Math.ceil((3 * limit) / limit) - 1) * windowMs;
      const inside = Math.max(...runs.map((r) => r.ms));
      console.log(`# ${client}: ${inside.toFixed(0)} ms for ${3 * limit} calls in 4 processes after connecting (${elapsed.toFixed(0)} ms with process start; minimum ${minimum} ms)`);
      // The bound of the rule, with Redis round trips and timer slack: (W + RTT) per window-full.
      assert.ok(inside <= minimum + 3 * (30 + 150) + 500, `took ${inside} ms after connecting`);
      // Each window-full may add a round trip (≤ 30 ms) plus Redis round trips; process start
      // adds a few hundred ms on a busy machine.
      assert.ok(elapsed <= minimum + 3 * (windowMs / 2) + 2_000, `took ${elapsed} ms`);
    } finally {
      await api.close();
    }
  });
}

test("a 429 seen by one process pauses the others", async () => {
  const api = createApiDouble({ limit: 100, windowMs: 1000, disableAfter: 0, script: { "/api/acct-1/0": [{ status: 429, headers: { "retry-after": "2" } }] } });
  const { url } = await api.listen(0, "127.0.0.1");
  const arrivals = [];
  api.setOptions({ onArrival: (i) => arrivals.push({ t: performance.now(), path: i.path, status: i.status }) });
  try {
    const key = `org-pause-${Date.now()}`;
    const first = worker([url, port, key, "acct-1", 1, "ioredis", 100, 1000]);
    await new Promise((r) => setTimeout(r, 600)); // acct-1's 429 has paused the budget
    const t1 = performance.now();
    const second = await worker([url, port, key, "acct-2", 3, "ioredis", 100, 1000]);
    await first;
    const theirs = arrivals.filter((a) => a.path.startsWith("/api/acct-2/"));
    const the429 = arrivals.find((a) => a.status === 429);
    assert.deepEqual(second.results, [200, 200, 200]);
    assert.ok(the429, "the scripted 429 was served");
    for (const a of theirs) assert.ok(a.t - the429.t >= 1_900, `acct-2 sent ${Math.round(a.t - the429.t)} ms after the 429`);
    assert.ok(t1 > the429.t);
  } finally {
    await api.close();
  }
});

test("Redis killed mid-run: fallback, no crash; restarted: the same process shares again", async () => {
  const api = createApiDouble({ limit: 10, windowMs: 400, disableAfter: 0 });
  const { url } = await api.listen(0, "127.0.0.1");
  try {
    const run = worker([url, port, `org-kill-${Date.now()}`, "acct-1", 30, "ioredis", 10, 400]);
    await new Promise((r) => setTimeout(r, 400));
    stopRedis();
    await new Promise((r) => setTimeout(r, 700));
    await startRedis();
    const r = await run;
    assert.deepEqual(r.results, Array(30).fill(200), "every call succeeded");
    assert.ok(r.events.includes("store-error"), `the fallback was announced: ${r.events}`);
    assert.ok(r.events.indexOf("store-recovered") > r.events.indexOf("store-error"), `sharing resumed: ${r.events}`);
    assert.equal(api.stats().rejected429, 0);
  } finally {
    await api.close();
  }
});

test('onStoreError: "fail" rejects calls while Redis is down', async () => {
  const api = createApiDouble({ limit: 10, windowMs: 400, disableAfter: 0 });
  const { url } = await api.listen(0, "127.0.0.1");
  try {
    stopRedis();
    const r = await worker([url, port, `org-fail-${Date.now()}`, "acct-1", 3, "ioredis", 10, 400, "fail"]);
    assert.deepEqual(r.results, Array(3).fill("error: StoreError"));
    assert.equal(api.stats().arrivals, 0);
  } finally {
    await startRedis();
    await api.close();
  }
});
