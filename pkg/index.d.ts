// Types of the ratewindow package (hand-written; checked by tests/types/usage.ts with tsc).

/** Jitter applied to backoff delays when the server gives no time (AWS "Exponential Backoff and Jitter"). */
export type Jitter = "full" | "equal" | "decorrelated" | "none";

/** One more rolling window that must also admit each request. */
export interface WindowOptions {
  /** Requests allowed per window. An integer from 1 to 1,000,000. */
  limit: number;
  /** The window's length in milliseconds. */
  windowMs: number;
}

/** When and how a call is retried. */
export interface RetryOptions {
  /**
   * Retries after the first attempt (0 disables retrying).
   * @default 5
   */
  limit?: number;
  /**
   * The longest server-given wait (Retry-After, RateLimit reset) that is honoured; a longer one
   * returns the 429 instead of retrying early.
   * @default 120000
   */
  maxRetryAfterMs?: number;
  /**
   * First backoff delay (when the server gives no time), in ms.
   * @default 1000
   */
  baseMs?: number;
  /**
   * Backoff growth per retry (1 to 100).
   * @default 2
   */
  factor?: number;
  /**
   * Cap on any backoff delay, in ms.
   * @default 60000
   */
  maxMs?: number;
  /** @default "full" */
  jitter?: Jitter;
  /**
   * Statuses worth retrying. 429 is retried for every method; the others only for `methods`.
   * @default [408, 429, 500, 502, 503, 504]
   */
  statusCodes?: number[];
  /**
   * Methods retried after a network error or a retryable 5xx/408 (idempotent ones).
   * @default ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]
   */
  methods?: string[];
}

/** The lockout guard: repeated 429s risk disabled credentials. */
export interface BreakerOptions {
  /**
   * Consecutive 429s that open the breaker.
   * @default 3
   */
  threshold?: number;
  /**
   * How long it stays open before one probe may go (doubling on each failed probe, up to 8×).
   * @default the longest window
   */
  cooldownMs?: number;
}

/** Retries may not exceed a share of good answers (gRPC-style retry throttling). */
export interface RetryBudgetOptions {
  /**
   * Bucket size; a retry costs one token and none is spent at or below half.
   * @default 20
   */
  tokens?: number;
  /**
   * Tokens earned back per good answer.
   * @default 0.1
   */
  ratio?: number;
}

/** Options of {@link throttle}. Invalid values throw a TypeError or RangeError naming the field. */
export interface ThrottleOptions {
  /**
   * Requests per window.
   * @default 200
   */
  limit?: number;
  /**
   * The rolling window, in milliseconds.
   * @default 60000
   */
  windowMs?: number;
  /** More windows that must all admit a request (e.g. 10 per second as well). */
  windows?: WindowOptions[];
  /**
   * Added to each request's completion time before its slot frees, for clock granularity.
   * @default 1
   */
  safetyMarginMs?: number;
  /**
   * Requests in flight at once (0: bounded only by the windows).
   * @default 0
   */
  maxConcurrent?: number;
  /** Retry settings; `false` or `0` disables retrying; a number sets `retry.limit`. */
  retry?: RetryOptions | number | false;
  /** Breaker settings; `false` disables it. */
  breaker?: BreakerOptions | false;
  /** Retry budget settings; `false` disables it. */
  retryBudget?: RetryBudgetOptions | false;
  /** Seed for backoff jitter (tests); random by default. */
  seed?: number;
  /**
   * Every throttle created with the same `key` in one JS realm shares one budget (one window,
   * one pause, one breaker), whatever fetch it wraps. Options must then be equal: a throttle
   * created with other options for an existing key throws a TypeError naming the difference.
   */
  key?: string;
  /**
   * Share the budget beyond this JS realm: `redisStore(client)` from "ratewindow/redis"
   * (processes, machines) or `tabStore()` from "ratewindow/tabs" (same-origin browser tabs).
   * Needs `key`.
   */
  store?: SharedStore;
  /**
   * When the store is unreachable: `"local"` falls back to a conservative local limit
   * (`storeFallbackLimit`) and emits `store-error` (then `store-recovered`); `"fail"` rejects
   * calls with {@link StoreError}.
   * @default "local"
   */
  onStoreError?: "local" | "fail";
  /**
   * The local limit per window while the store is unreachable.
   * @default a quarter of the tightest window's limit
   */
  storeFallbackLimit?: number;
  /**
   * At most this many calls waiting; more reject with {@link QueueFullError} (0: no bound of
   * its own; a realm takes at most 400,000 calls queued or in flight at once, over all throttles).
   * @default 0
   */
  maxQueue?: number;
  /**
   * A call that could not be sent within this long rejects at once with {@link RateLimitError}
   * (also when a server pause outlasts it). 0: wait as long as needed.
   * @default 0
   */
  maxWaitMs?: number;
  /**
   * Even spacing: at least this long between two sends (0: bursts up to the limit).
   * @default 0
   */
  minIntervalMs?: number;
  /**
   * A waiting call rises one priority level per this much waiting, so `low` never starves.
   * @default the longest window
   */
  priorityAgingMs?: number;
  /**
   * Learn from 429s the share of the budget that others (other processes, accounts) leave us.
   * @default true
   */
  learnShare?: boolean;
  /**
   * A response cache in front of the budget (off by default): a fresh cached answer is served
   * without a request. Belongs to this throttle, not to the budget: throttles sharing a `key`
   * keep their own caches (and may configure them differently).
   */
  cache?: CacheOptions | false;
  /**
   * Identical concurrent GET/HEAD calls (same URL, headers and modes) share one request, each
   * caller getting its own Response.
   * @default true with `cache`, else false
   */
  dedupe?: boolean;
}

/** Options of the response cache. Invalid values throw a TypeError or RangeError naming the field. */
export interface CacheOptions {
  /**
   * How long an answer is served from the cache, in ms. A response's `Cache-Control: max-age`
   * (or `Expires`) may shorten it, never extend it; `no-store` and `no-cache` answers are not stored.
   */
  ttlMs: number;
  /** Only URLs this matches are cached (all by default). A per-call `ttlMs` caches regardless. */
  match?: RegExp | ((url: string, method: string) => boolean);
  /**
   * Entries kept at most; the least recently used goes first.
   * @default 500
   */
  maxEntries?: number;
  /**
   * Bytes kept at most (bodies plus header text); a larger single response is not cached.
   * @default 10485760
   */
  maxBytes?: number;
  /**
   * Methods cached (a request body is never part of the key, so only these two).
   * @default ["GET"]
   */
  methods?: Array<"GET" | "HEAD">;
  /**
   * More request headers whose values change the answer (a custom credential header). Always in
   * the key: `Authorization`, `Proxy-Authorization`, `Cookie`, `X-Api-Key`, and what `Vary` names.
   */
  keyHeaders?: string[];
}

/** What a throttled call takes besides fetch's own init. */
export interface RatewindowInit {
  /** Per-call settings (removed before fetch is called). */
  ratewindow?: {
    /**
     * Needs the throttle's `cache`: accept no cached answer older than this, and keep this
     * call's answer this long (instead of `cache.ttlMs`; `max-age` may still shorten it).
     */
    ttlMs?: number;
  };
}

/** `init.priority`, as in fetch. */
export type Priority = "high" | "auto" | "low";

/** Options of {@link Throttled.schedule}. */
export interface ScheduleOptions<T = unknown> {
  /** Aborting rejects a waiting call at once; after the send, the caller is released at once. */
  signal?: AbortSignal;
  /** @default "auto" */
  priority?: Priority;
  /**
   * Treat the call as this HTTP method for retry decisions (errors are retried only for
   * idempotent methods).
   * @default "CALL" (not idempotent: errors are not retried)
   */
  method?: string;
  /**
   * Says whether a result (or, with `failed`, an error) means "rate limited": return
   * `{ retryAfterMs }` (or `true`) to handle it like a 429, else `false`.
   */
  isRateLimited?: (resultOrError: T | unknown, failed: boolean) => false | null | undefined | true | { retryAfterMs?: number };
  /**
   * An attempt that has not settled by then rejects with a `TimeoutError` and its slot is
   * settled: a function that never resolves cannot hold the budget forever.
   */
  timeoutMs?: number;
}

/** Event types of a throttle's budget. */
export type ThrottleEventType =
  | "queued" | "sent" | "settled" | "retry" | "ratelimited" | "pause" | "resume"
  | "breaker-open" | "breaker-close" | "dropped" | "store-error" | "store-recovered";

/** An event: `type`, a `detail` object and the wall-clock `timeStamp`. */
export interface ThrottleEvent {
  type: ThrottleEventType;
  /**
   * queued `{ priority }`; sent `{ attempt, method }`; settled `{ attempt, ms, status | error }`;
   * retry `{ attempt, delayMs, serverGiven }`; ratelimited `{ attempt, retryAfterMs }`;
   * pause `{ forMs }`; dropped `{ reason: "queue-full" | "max-wait" }`; others `{}`.
   */
  detail: Record<string, unknown>;
  timeStamp: number;
}

export type ThrottleListener = ((event: ThrottleEvent) => void) | { handleEvent(event: ThrottleEvent): void };

/** Counters and the current view of a throttle's budget. */
export interface ThrottleStats {
  /** Slots counted in the tightest window now: in flight plus completed within the window. */
  inWindow: number;
  /** That window's limit as applied now (lower after learning that others spend the budget). */
  limit: number;
  /** Requests in flight. */
  inFlight: number;
  /** Calls waiting to be sent (including retries waiting out their delay). */
  queued: number;
  /** Requests that could be sent right now. */
  remaining: number;
  /** Milliseconds until the next request could be sent (0: now). */
  nextSlotInMs: number;
  /** Milliseconds left in a pause caused by a 429 (0: not paused). */
  pausedForMs: number;
  /** Attempts sent, retries included. */
  sent: number;
  /** Retries scheduled. */
  retried: number;
  /** 429 answers received. */
  rateLimited: number;
  /** Calls rejected by `maxQueue` or `maxWaitMs`. */
  dropped: number;
  /** The lockout breaker's state. */
  breaker: "closed" | "open" | "half-open";
  /** This throttle's cache and de-duplication (zeros when both are off). */
  cache: CacheStats;
}

/** Counters of a throttle's response cache and in-flight de-duplication. */
export interface CacheStats {
  /** Calls answered from the cache. */
  hits: number;
  /** Calls the cache could have answered but did not (they went out or joined a request). */
  misses: number;
  /** Requests never sent: `hits + deduped`. */
  saved: number;
  /** Responses stored now (expired ones are dropped when stats are read). */
  entries: number;
  /** Their size: body bytes plus header text. */
  bytes: number;
  /** Calls that joined an identical request in flight instead of sending their own. */
  deduped: number;
}

/** A fetch-like function: what {@link throttle} wraps. */
export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** The throttled fetch: the same contract as fetch, plus stats. */
export interface Throttled<F extends FetchLike = typeof fetch> {
  (input: Parameters<F>[0], init?: Parameters<F>[1] & RatewindowInit): ReturnType<F>;
  /** Counters and the current view of the budget, plus this throttle's `cache` counters. */
  stats(): ThrottleStats;
  /**
   * Drops cached answers: all, or those whose URL starts with a string, matches a RegExp, or
   * passes a function. Returns how many were dropped. Requests in flight for them will not store.
   */
  clearCache(filter?: string | RegExp | ((url: string) => boolean)): number;
  /** Runs any promise-returning function under the same budget, counting as one request. */
  schedule<T>(fn: () => T | PromiseLike<T>, options?: ScheduleOptions<T>): Promise<T>;
  /** Listens to the budget's events (shared by every throttle with the same `key`). */
  addEventListener(type: ThrottleEventType, listener: ThrottleListener, options?: { once?: boolean; signal?: AbortSignal }): void;
  removeEventListener(type: ThrottleEventType, listener: ThrottleListener): void;
  /**
   * Stops taking calls (later ones reject with a `RatewindowError`) and lets go of the budget;
   * calls already queued or in flight still run to the end. Resolves when they have settled.
   * The last throttle of a `key` releases the key once its calls have settled and its longest
   * window has passed (a new throttle with that key meanwhile gets the same budget back).
   * Unkeyed throttles need no dispose(): dropping them is enough. Where the runtime has
   * `Symbol.asyncDispose`, the throttle has it too (`await using limited = throttle(...)`).
   */
  dispose(): Promise<void>;
}

/**
 * Wraps `fetch` so that every request, retries included, passes through one exact rolling
 * window: at most `limit` per `windowMs`, counted from each request's completion, so the server
 * never sees more, whatever the latency.
 */
export function throttle<F extends FetchLike = typeof fetch>(fetch: F, options?: ThrottleOptions): Throttled<F>;

/** Options of {@link batcher}. Invalid values throw a TypeError or RangeError naming the field. */
export interface BatcherOptions<T, R> {
  /**
   * Sends one bulk call for `items` (run it through the budget: `limited.schedule(...)` or a
   * throttled fetch) and resolves with one result per item, in the same order. An entry that is
   * an `Error` instance rejects only that item's caller; a rejection (or an array of another
   * length: TypeError) rejects every caller of the batch.
   */
  run: (items: T[]) => PromiseLike<ReadonlyArray<R | Error>> | ReadonlyArray<R | Error>;
  /**
   * Items per bulk call at most; a batch goes at once when it is full.
   * @default 100
   */
  maxSize?: number;
  /**
   * A batch goes this long after its first item at the latest, in ms.
   * @default 50
   */
  maxWaitMs?: number;
}

/** Adds one item to the next bulk call; resolves with that item's own result. */
export interface Batcher<T, R> {
  /** `signal` removes a waiting item from its batch; after the send it only releases the caller. */
  (item: T, options?: { signal?: AbortSignal }): Promise<R>;
  /** Sends what is waiting now; resolves when that batch has settled (never rejects). */
  flush(): Promise<void>;
}

/** Gathers single calls into bulk calls (`maxSize` items, or `maxWaitMs` after the first). */
export function batcher<T, R>(options: BatcherOptions<T, R>): Batcher<T, R>;

/** Base class of the errors ratewindow creates itself. */
export class RatewindowError extends Error {}

/** A shared store's protocol (implemented by `redisStore` and `tabStore`). */
export interface SharedStore {
  bind(budget: { key: string; windows: [number, number][]; marginMs: number }): {
    /** Takes a slot for `member`: resolves 0 when granted, else the ms to wait. */
    acquire(member: string): Promise<number>;
    /** The request of `member` completed: its slot frees one window from now. */
    settle(member: string): Promise<void>;
    /** A 429: nobody sends for `ms`. */
    pause(ms: number): Promise<void>;
    /** Optional: the budget was released (`dispose()`); free what the binding holds. */
    close?(): void;
  };
}

/** A shared store failed and `onStoreError` is `"fail"`. */
export class StoreError extends RatewindowError {
  readonly name: "StoreError";
}

/** `maxQueue` calls were already waiting (or the realm's 400,000 calls at once were taken). */
export class QueueFullError extends RatewindowError {
  readonly name: "QueueFullError";
  /** The bound that was reached: `maxQueue`, or 400,000 for the realm-wide cap. */
  readonly maxQueue: number;
}

/** The call could not be sent within `maxWaitMs`. */
export class RateLimitError extends RatewindowError {
  readonly name: "RateLimitError";
  /** Epoch milliseconds at which a call could be sent, or null when unknown. */
  readonly retryAt: number | null;
}
