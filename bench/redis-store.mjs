// Redis store cost: round trips per request and added latency per request on loopback.
// Starts its own redis-server on a free port, runs N calls one at a time through
// throttle(stubFetch) with and without `store: redisStore(client)`, counts the Redis commands
// the store sends, and writes bench/results/<date>-redis.json plus a Markdown table on stdout.
// Usage: node bench/redis-store.mjs [--calls N] [--smoke]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { throttle } from "../pkg/node.js";
import { redisStore } from "../pkg/redis.js";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const calls = Number(args[args.indexOf("--calls") + 1]) || (smoke ? 200 : 5_000);

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), "rw-bench-redis-"));
execFileSync("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--daemonize", "yes", "--pidfile", join(dir, "pid"), "--save", "", "--dir", dir]);
const { Redis } = await import("ioredis");
const client = new Redis({ port, host: "127.0.0.1" });
await client.ping();

// Count what the store sends.
let commands = 0;
const counting = { call: (...a) => (commands++, client.call(...a)) };
const stub = async () => ({ status: 200, headers: { get: () => null } });

async function serial(limited, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await limited("http://127.0.0.1/x");
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
}

const results = {};
try {
  const local = throttle(stub, { limit: 1_000_000, windowMs: 60_000 });
  const shared = throttle(stub, { key: `bench-${Date.now()}`, limit: 1_000_000, windowMs: 60_000, store: redisStore(counting, { prefix: "bench" }) });
  await serial(local, 200); // warm-up
  await serial(shared, 200);
  commands = 0;
  const localUs = await serial(local, calls);
  const sharedUs = await serial(shared, calls);
  results.calls = calls;
  results.localUsPerCall = localUs;
  results.redisUsPerCall = sharedUs;
  results.addedUsPerCall = sharedUs - localUs;
  results.roundTripsPerCall = commands / calls;
  results.redisVersion = String(await client.info("server")).match(/redis_version:(\S+)/)?.[1];
} finally {
  client.disconnect();
  try {
    process.kill(Number(readFileSync(join(dir, "pid"), "utf8")));
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
}

const table = `| store | µs per call (serial, stub fetch) | Redis round trips per call | added latency per call |
| --- | --- | --- | --- |
| none (in-process) | ${results.localUsPerCall.toFixed(1)} | 0 | – |
| redisStore (ioredis, loopback, Redis ${results.redisVersion}) | ${results.redisUsPerCall.toFixed(1)} | ${results.roundTripsPerCall.toFixed(2)} | ${(results.addedUsPerCall / 1000).toFixed(3)} ms |`;
console.log(table);
if (!smoke) {
  mkdirSync(join(here, "results"), { recursive: true });
  const file = join(here, "results", `${new Date().toISOString().slice(0, 10)}-redis.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, ...results }, null, 2));
  writeFileSync(join(here, "results", "redis.md"), table + "\n");
}
