// Compiled with `tsc --noEmit` against pkg/index.d.ts: the documented usage type-checks, and
// misuse is a type error (each @ts-expect-error fails the build if the line becomes valid).
import { throttle, RatewindowError, QueueFullError, RateLimitError, type ThrottleStats, type Throttled, type ThrottleEvent } from "ratewindow";

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
}
void more;
