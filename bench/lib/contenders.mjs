// The contenders, each configured the way its own documentation says for "`limit` per `windowMs`".
//
// make(name, fetchFn, { limit, windowMs, retries, maxConcurrent }) returns
//   { name, config, call(input, init) -> Promise<Response>, close() }.
//
// ratewindow retries 429s itself (Retry-After, pausing the whole budget). Every other contender
// gets the same best-practice retry around its limiter: on a 429, drain the body, wait the
// server's Retry-After, then go through the contender's own limiter again, up to `retries` times.
// With `retries: 0` (the overhead and scale benchmarks) peers get no retry wrapper at all, which
// is the cheaper side of the comparison for them.

import Bottleneck from "bottleneck";
import pThrottle from "p-throttle";
import PQueue from "p-queue";
import { loadRatewindow, sleep } from "./common.mjs";

// ratewindow is imported only by the scripts that run it (`await load(name)` first), so a broken
// build fails its own rows and not the peers'.
let rw = null;

/** Imports what contender `name` needs; call once before make(name, ...). */
export async function load(name) {
  if (name.startsWith("ratewindow") && !rw) rw = await loadRatewindow();
}

export const CONTENDERS = [
  "ratewindow",
  "bottleneck-reservoir",
  "bottleneck-minTime",
  "p-throttle",
  "p-queue",
  "fetch",
];

/** Milliseconds a 429 asks us to wait: Retry-After as delta-seconds or HTTP-date, else 1 s. */
export function retryAfterMs(res, fallback = 1000) {
  const v = res.headers?.get?.("retry-after");
  if (v == null) return fallback;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : fallback;
}

/** The retry every peer gets: wait Retry-After, then through its own limiter again. */
export function withRetry(once, retries) {
  if (!retries) return once;
  return async function retrying(input, init) {
    for (let attempt = 0; ; attempt++) {
      const res = await once(input, init);
      if (res.status !== 429 || attempt >= retries) return res;
      await res.body?.cancel?.();
      await sleep(retryAfterMs(res));
    }
  };
}

const fmt = (n) => (Number.isInteger(n) ? String(n) : String(+n.toFixed(6)));

/**
 * @param {string} name one of CONTENDERS
 * @param {Function} fetchFn
 * @param {{ limit: number, windowMs: number, retries?: number, maxConcurrent?: number }} o
 */
export function make(name, fetchFn, { limit, windowMs, retries = 0, maxConcurrent = 0 }) {
  const L = fmt(limit);
  const W = fmt(windowMs);
  switch (name) {
    case "ratewindow": {
      const options = { limit, windowMs };
      // Without `retries` it keeps its default retry policy (as a user would): the stub answers
      // never trigger it.
      if (retries) options.retry = { limit: retries };
      if (maxConcurrent) options.maxConcurrent = maxConcurrent;
      const limited = rw.throttle(fetchFn, options);
      return {
        name,
        config: `throttle(fetch, { limit: ${L}, windowMs: ${W}${retries ? `, retry: { limit: ${retries} }` : ""}${maxConcurrent ? `, maxConcurrent: ${maxConcurrent}` : ""} })`,
        call: limited,
        stats: () => limited.stats(),
        close() {},
      };
    }
    case "ratewindow-core": {
      // Diagnostic only: Throttle.run(send, method, signal) as pkg/src/api.js calls it, minus
      // prepare() (init copy, `new Request(input, init)` validation, method and signal lookup).
      const options = { limit, windowMs };
      if (maxConcurrent) options.maxConcurrent = maxConcurrent;
      // Extra arguments (an error factory, priority, hook) are undefined or unused here.
      const core = new rw.Throttle(options, (kind, detail) => new Error(detail?.message ?? String(kind)));
      return {
        name,
        config: `new Throttle({ limit: ${L}, windowMs: ${W} }).run(send, "GET") (internal)`,
        call: (input, init) => core.run(() => fetchFn(input, init), "GET", undefined, undefined, undefined),
        close() {},
      };
    }
    case "bottleneck-reservoir": {
      const opts = { reservoir: limit, reservoirRefreshAmount: limit, reservoirRefreshInterval: windowMs };
      if (maxConcurrent) opts.maxConcurrent = maxConcurrent;
      const limiter = new Bottleneck(opts);
      const once = (input, init) => limiter.schedule(() => fetchFn(input, init));
      return {
        name,
        config: `new Bottleneck({ reservoir: ${L}, reservoirRefreshAmount: ${L}, reservoirRefreshInterval: ${W}${maxConcurrent ? `, maxConcurrent: ${maxConcurrent}` : ""} })`,
        call: withRetry(once, retries),
        close: () => limiter.disconnect(),
      };
    }
    case "bottleneck-minTime": {
      const minTime = windowMs / limit;
      const opts = { minTime };
      if (maxConcurrent) opts.maxConcurrent = maxConcurrent;
      const limiter = new Bottleneck(opts);
      const once = (input, init) => limiter.schedule(() => fetchFn(input, init));
      return {
        name,
        config: `new Bottleneck({ minTime: ${fmt(minTime)}${maxConcurrent ? `, maxConcurrent: ${maxConcurrent}` : ""} })`,
        call: withRetry(once, retries),
        close: () => limiter.disconnect(),
      };
    }
    case "p-throttle": {
      // p-throttle has no concurrency option; it is only used where maxConcurrent is 0.
      const once = pThrottle({ limit, interval: windowMs, strict: true })((input, init) => fetchFn(input, init));
      return {
        name,
        config: `pThrottle({ limit: ${L}, interval: ${W}, strict: true })(fetch)`,
        call: withRetry(once, retries),
        close() {},
      };
    }
    case "p-queue": {
      const opts = { intervalCap: limit, interval: windowMs, strict: true };
      if (maxConcurrent) opts.concurrency = maxConcurrent;
      const queue = new PQueue(opts);
      const once = (input, init) => queue.add(() => fetchFn(input, init));
      return {
        name,
        config: `new PQueue({ intervalCap: ${L}, interval: ${W}, strict: true${maxConcurrent ? `, concurrency: ${maxConcurrent}` : ""} })`,
        call: withRetry(once, retries),
        close: () => queue.clear(),
      };
    }
    case "fetch": {
      const once = (input, init) => fetchFn(input, init);
      return {
        name,
        config: "fetch (no limiter)",
        call: withRetry(once, retries),
        close() {},
      };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}
