// Compiled with `tsc --noEmit` against pkg/index.d.ts: the documented usage type-checks, and
// misuse is a type error (each @ts-expect-error fails the build if the line becomes valid).
import { throttle, batcher, RatewindowError, QueueFullError, RateLimitError, type ThrottleStats, type Throttled, type ThrottleEvent, type Batcher, type CacheStats } from "ratewindow";

const limited: Throttled = throttle(fetch, {
  limit: 200,
  windowMs: 60_000,
  windows: [{ limit: 10, windowMs: 1_000 }],
  retry: { limit: 5, maxRetryAfterMs: 120_000, baseMs: 500, factor: 2, maxMs: 30_000, jitter: "equal" },
  breaker: { threshold: 3, cooldownMs: 60_000 },
  retryBudget: false,
});

async function use(): Promise<number> {
  const res: Response = await limited("https://api.example/items", { method: "POST", body: "{}" });
  const req: Response = await limited(new Request("https://api.example/x"));
  const s: ThrottleStats = limited.stats();
  const state: "closed" | "open" | "half-open" = s.breaker;
  return res.status + req.status + s.inWindow + s.pausedForMs + state.length;
}
void use;

const custom = throttle(async (input: RequestInfo | URL) => new Response(String(input)), { retry: false });
void custom;

// @ts-expect-error jitter kinds are a closed set
throttle(fetch, { retry: { jitter: "wobbly" } });
// @ts-expect-error limit is a number
throttle(fetch, { limit: "200" });
// @ts-expect-error unknown option
throttle(fetch, { windwMs: 5 });
// @ts-expect-error fetch must be a function
throttle("fetch");

const e: Error = new RatewindowError("x");
void e;

const shared = throttle(fetch, { key: "org-42", maxQueue: 1000, maxWaitMs: 30_000, minIntervalMs: 100, priorityAgingMs: 60_000, learnShare: true });
async function more(): Promise<void> {
  await shared("https://api.example/x", { priority: "low", signal: AbortSignal.timeout(1000) });
  const n: number = await shared.schedule(async () => 42, {
    priority: "high",
    isRateLimited: (v, failed) => (failed ? { retryAfterMs: 1000 } : false),
  });
  void n;
  shared.addEventListener("retry", (e: ThrottleEvent) => void e.detail.delayMs, { once: true });
  // @ts-expect-error unknown event type
  shared.addEventListener("exploded", () => {});
  try {
    await shared("https://api.example/y");
  } catch (e) {
    if (e instanceof RateLimitError) void (e.retryAt ?? 0);
    if (e instanceof QueueFullError) void e.maxQueue;
  }
  const dropped: number = shared.stats().dropped;
  void dropped;
  const done: Promise<void> = shared.dispose();
  await done;
}
void more;

// Fewer requests: the response cache, de-duplication, bulk batching.

const cached = throttle(fetch, {
  key: "org-42",
  cache: { ttlMs: 3_600_000, match: /\/custom_categories|\/locations/, maxEntries: 500, maxBytes: 10_000_000, methods: ["GET", "HEAD"], keyHeaders: ["X-Account"] },
  dedupe: true,
});
throttle(fetch, { cache: { ttlMs: 1000, match: (url, method) => method === "GET" && url.includes("/api/") } });
throttle(fetch, { cache: false, dedupe: true });
async function fewer(): Promise<void> {
  const res: Response = await cached("https://api.example/custom_categories", { cache: "reload", ratewindow: { ttlMs: 60_000 } });
  void res;
  const c: CacheStats = cached.stats().cache;
  const saved: number = c.saved + c.hits + c.misses + c.entries + c.bytes + c.deduped;
  void saved;
  const dropped: number = cached.clearCache("https://api.example/custom_categories") + cached.clearCache(/locations/) + cached.clearCache((u) => u.endsWith("/x")) + cached.clearCache();
  void dropped;
  const label: Batcher<number, { id: number; ok: boolean }> = batcher({
    maxSize: 100,
    maxWaitMs: 50,
    run: (ids: number[]) =>
      cached.schedule(async () => ids.map((id) => (id < 0 ? new Error(`no ${id}`) : { id, ok: true }))),
  });
  const one: { id: number; ok: boolean } = await label(7, { signal: AbortSignal.timeout(1000) });
  void one;
  await label.flush();
  // Inferred item and result types.
  const inferred = batcher({ run: async (names: string[]) => names.map((n) => n.length) });
  const len: number = await inferred("abc");
  void len;
}
void fewer;

// @ts-expect-error ttlMs is required
throttle(fetch, { cache: {} });
// @ts-expect-error only GET and HEAD can be cached
throttle(fetch, { cache: { ttlMs: 1000, methods: ["POST"] } });
// @ts-expect-error dedupe is a boolean
throttle(fetch, { dedupe: "yes" });
// @ts-expect-error unknown per-call option
void cached("https://api.example/x", { ratewindow: { ttl: 5 } });
// @ts-expect-error run is required
batcher({ maxSize: 10 });
// @ts-expect-error the item type is fixed by run
void batcher({ run: async (ids: number[]) => ids })("seven");
// @ts-expect-error the cache stats are numbers
const notString: string = cached.stats().cache.hits;
void notString;

import { redisStore } from "ratewindow/redis";
import { tabStore } from "ratewindow/tabs";
declare const ioredisClient: { call(...args: (string | number)[]): Promise<unknown> };
const viaRedis = throttle(fetch, { key: "org-42", store: redisStore(ioredisClient, { prefix: "app", holdMs: 60_000 }), onStoreError: "fail" });
viaRedis.addEventListener("store-error", () => {});
const viaTabs = throttle(fetch, { key: "org-42", store: tabStore(), storeFallbackLimit: 10 });
void viaTabs;
// @ts-expect-error onStoreError is "local" | "fail"
throttle(fetch, { key: "k", store: tabStore(), onStoreError: "retry" });
