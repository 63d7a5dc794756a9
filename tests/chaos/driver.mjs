// The client side of the chaos test: sends calls through a throttled fetch with random inputs,
// methods, priorities and aborts, and records how (and when) each one settled.
import { prng } from "./server.mjs";

/** The reason passed to `controller.abort(reason)`: it must come back as is. */
export class ChaosAbort extends Error {
  constructor(id) {
    super(`chaos abort of call ${id}`);
    this.name = "ChaosAbort";
  }
}

/** Every error name a call (or a body read) may reject with. */
export const ALLOWED_ERRORS = new Set([
  "AbortError",
  "TimeoutError",
  "TypeError",
  "RateLimitError",
  "QueueFullError",
  "ChaosAbort",
]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * An abort signal for one call, and the time (ms from now) by which it will have fired.
 * Some are aborted before the call, others at random times (queued or in flight), by timeout,
 * by a controller (with or without a reason), or by whichever of the two comes first.
 */
export function makeSignal(random, id, maxMs) {
  const r = random();
  const at = () => Math.floor(random() * maxMs);
  if (r < 0.05) {
    const reason = random() < 0.5 ? new ChaosAbort(id) : undefined;
    return { signal: AbortSignal.abort(reason), deadline: 0, kind: "pre-aborted" };
  }
  if (r < 0.4) {
    const ms = 20 + at();
    return { signal: AbortSignal.timeout(ms), deadline: ms, kind: "timeout" };
  }
  const controller = new AbortController();
  const ms = at();
  const withReason = random() < 0.5;
  const timer = setTimeout(() => controller.abort(withReason ? new ChaosAbort(id) : undefined), ms);
  if (r < 0.8) return { signal: controller.signal, deadline: ms, kind: "controller", timer };
  const ms2 = 20 + at();
  // Keep the timeout signal itself reachable: Node (20, 22) may collect a timeout signal that
  // only AbortSignal.any() refers to before it fires (nodejs/node#57736), and the composite
  // would then never abort by timeout.
  const timeout = AbortSignal.timeout(ms2);
  return { signal: AbortSignal.any([controller.signal, timeout]), deadline: Math.min(ms, ms2), kind: "any", timer, keep: timeout };
}

/** A request input and init of a random shape (string, URL, Request; bodies of every kind). */
export function makeRequest(random, base, id, signal) {
  const url = `${base}/r/${id}`;
  const priority = [undefined, "high", "auto", "low"][Math.floor(random() * 4)];
  const r = random();
  if (r < 0.6) return { input: url, init: { signal, priority }, method: "GET" };
  if (r < 0.67) return { input: new URL(url), init: { signal, method: "HEAD", priority }, method: "HEAD" };
  if (r < 0.77) return { input: url, init: { signal, method: "POST", body: JSON.stringify({ id }), priority }, method: "POST" };
  if (r < 0.84) return { input: url, init: { signal, method: "PUT", body: new Uint8Array(64).fill(id & 255) }, method: "PUT" };
  if (r < 0.92) {
    const req = new Request(url, { method: "POST", body: `request ${id}` });
    return { input: req, init: { signal, priority }, method: "POST" };
  }
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(`stream ${id}`));
      c.close();
    },
  });
  return { input: url, init: { signal, method: "PUT", body: stream, duplex: "half" }, method: "PUT" };
}

/**
 * Sends `calls` calls through `limited` against `base`, `rate` per second, each with a signal
 * that fires within `maxAbortMs`. Returns per-call records and a summary. Never throws for a
 * call's outcome: the caller asserts on the records.
 */
export async function runChaos({ limited, base, calls, rate, seed, maxAbortMs = 3000, slackMs = 2000, onCall }) {
  const random = prng(seed);
  const records = [];
  const done = [];
  const t0 = performance.now();
  for (let id = 0; id < calls; id++) {
    const { signal, deadline, kind, timer, keep } = makeSignal(random, id, maxAbortMs);
    const { input, init, method } = makeRequest(random, base, id, signal);
    const rec = {
      id,
      kind,
      method,
      start: performance.now(),
      deadline: performance.now() + deadline,
      settlements: 0,
      outcome: null,
      settledAt: null,
      status: null,
      error: null,
      body: null,
      bodyError: null,
      bodyDoneAt: null,
      keep,
    };
    records.push(rec);
    onCall?.(rec);
    let promise;
    try {
      promise = limited(input, init);
    } catch (error) {
      // `limited` is async: it must never throw synchronously.
      rec.syncThrow = error;
      promise = Promise.reject(error);
    }
    done.push(
      promise.then(
        async (res) => {
          rec.settlements++;
          rec.outcome = "resolved";
          rec.settledAt = performance.now();
          rec.isResponse = res instanceof Response;
          rec.status = res?.status;
          try {
            await res.arrayBuffer();
            rec.body = "read";
          } catch (error) {
            rec.body = "failed";
            rec.bodyError = error;
          }
          rec.bodyDoneAt = performance.now();
          clearTimeout(timer);
        },
        (error) => {
          rec.settlements++;
          rec.outcome = "rejected";
          rec.settledAt = performance.now();
          rec.error = error;
          clearTimeout(timer);
        },
      ),
    );
    // Poisson-ish arrivals at `rate` per second.
    const gap = (-Math.log(1 - random()) * 1000) / rate;
    if (gap >= 1) await sleep(gap);
  }
  const sentAll = performance.now();
  // Every signal fires within maxAbortMs of its call's start: after that plus slack, every
  // call (and every body read) must have settled.
  const watchdogAt = Math.max(...records.map((r) => r.deadline)) + slackMs;
  let timedOut = false;
  await Promise.race([
    Promise.all(done),
    sleep(Math.max(0, watchdogAt - performance.now())).then(() => (timedOut = true)),
  ]);
  return { records, t0, sentAll, end: performance.now(), timedOut, watchdogAt };
}

/** Problems found in the records (empty when every call behaved). */
export function checkRecords(records, slackMs) {
  const problems = [];
  const late = [];
  for (const r of records) {
    const tag = `call ${r.id} (${r.kind}, ${r.method})`;
    if (r.settlements !== 1) problems.push(`${tag} settled ${r.settlements} times`);
    if (r.syncThrow) problems.push(`${tag} threw synchronously: ${r.syncThrow}`);
    if (r.outcome === "resolved") {
      if (!r.isResponse) problems.push(`${tag} resolved with a non-Response`);
      if (r.body === null) problems.push(`${tag}: body read never finished`);
      if (r.bodyError && !ALLOWED_ERRORS.has(r.bodyError?.name)) {
        problems.push(`${tag}: body read rejected with ${r.bodyError?.name}: ${r.bodyError?.message}`);
      }
    } else if (r.outcome === "rejected") {
      const e = r.error;
      if (!(e instanceof Error) && !(e instanceof DOMException)) problems.push(`${tag} rejected with a non-Error: ${e}`);
      else if (!ALLOWED_ERRORS.has(e.name)) problems.push(`${tag} rejected with ${e.name}: ${e.message}`);
    }
    const finished = r.bodyDoneAt ?? r.settledAt;
    if (finished !== null) {
      const lateness = finished - r.deadline;
      late.push(lateness);
      if (lateness > slackMs) problems.push(`${tag} finished ${lateness.toFixed(0)} ms after its signal fired`);
    } else {
      problems.push(`${tag} never settled (deadline ${r.deadline.toFixed(0)})`);
    }
  }
  const latest = records
    .filter((r) => (r.bodyDoneAt ?? r.settledAt) !== null)
    .sort((a, b) => (b.bodyDoneAt ?? b.settledAt) - b.deadline - ((a.bodyDoneAt ?? a.settledAt) - a.deadline))
    .slice(0, 5)
    .map((r) => ({
      id: r.id,
      kind: r.kind,
      method: r.method,
      outcome: r.outcome,
      status: r.status,
      error: r.error?.name,
      body: r.body,
      bodyError: r.bodyError?.name,
      lateMs: Math.round((r.bodyDoneAt ?? r.settledAt) - r.deadline),
      settledLateMs: Math.round(r.settledAt - r.deadline),
    }));
  late.sort((a, b) => a - b);
  return { problems, latest, maxLateMs: late.at(-1) ?? 0, p99LateMs: late[Math.floor(late.length * 0.99)] ?? 0 };
}

/** Counts of outcomes, for the log. */
export function summarize(records) {
  const out = {};
  const bump = (k) => (out[k] = (out[k] ?? 0) + 1);
  for (const r of records) {
    if (r.outcome === "resolved") {
      bump(`status ${r.status}`);
      if (r.bodyError) bump(`body ${r.bodyError.name}`);
    } else if (r.outcome === "rejected") bump(`rejected ${r.error?.name}`);
    else bump("unsettled");
  }
  return out;
}

export { sleep };
