// One process of the shared-budget test: its own API key, its own throttle, one Redis key.
// argv: apiBase redisPort budgetKey apiKey calls client(ioredis|node-redis) limit windowMs [onStoreError]
import { throttle } from "../../pkg/node.js";
import { redisStore } from "../../pkg/redis.js";

const [base, port, key, apiKey, calls, kind, limit, windowMs, onStoreError = "local"] = process.argv.slice(2);
let client;
if (kind === "ioredis") {
  const { Redis } = await import("ioredis");
  client = new Redis({ port: Number(port), host: "127.0.0.1", lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => {});
} else {
  const { createClient } = await import("redis");
  client = createClient({ socket: { port: Number(port), host: "127.0.0.1", reconnectStrategy: () => 100 } });
  client.on("error", () => {});
  await client.connect();
}
const events = [];
const limited = throttle(
  (url, init) => fetch(url, { ...init, headers: { authorization: `Bearer ${apiKey}` } }),
  { key, limit: Number(limit), windowMs: Number(windowMs), store: redisStore(client, { prefix: "rwtest", timeoutMs: 300 }), onStoreError },
);
for (const t of ["store-error", "store-recovered", "pause"]) limited.addEventListener(t, (e) => events.push(e.type));
process.on("unhandledRejection", (e) => {
  console.log(JSON.stringify({ unhandled: String(e) }));
  process.exit(3);
});
const t0 = performance.now();
const results = await Promise.all(
  Array.from({ length: Number(calls) }, (_, i) =>
    limited(`${base}/api/${apiKey}/${i}`).then((r) => r.status, (e) => `error: ${e.name}`),
  ),
);
console.log(JSON.stringify({ results, events, ms: performance.now() - t0 }));
if (kind === "ioredis") client.disconnect();
else await client.disconnect().catch(() => {});
