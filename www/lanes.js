// The two lanes of the demo, without any DOM: runnable in the page and under Node's test runner.
//
// A lane runs one job: `jobSize` calls to `<apiBase>/api/<org>/items/<i>`, spread over `accounts`
// API keys (`Authorization: Bearer acct-<k>`), and keeps its counters in a LaneState that the page
// reads on every frame.
//
// With `settings.fewer` ("Fewer requests: cache + bulk") the job is a realistic mix of the same
// number of calls (see jobCall): each worker (one per API key) works on a few items at a time;
// for each it reads the rarely changing custom categories and locations, then labels the item
// with a category (without waiting for that answer before its next item). The plain lane sends
// each call as it is; the ratewindow lane serves the reads from a response cache (joining
// identical reads in flight) and sends the labels through `batcher` to the API's bulk endpoint.

export const DEFAULT_SETTINGS = Object.freeze({
  limit: 20,
  windowMs: 3000,
  latencyMinMs: 20,
  latencyMaxMs: 120,
  jobSize: 60,
  accounts: 3,
  maxRetries: 3,
  fewer: false,
});

/** How the ratewindow lane sends fewer requests: what it caches and how it batches labels. */
export const FEWER = Object.freeze({
  /** The reference data every worker reads: rarely changes, so one GET per account is enough. */
  resources: Object.freeze(["custom_categories", "locations"]),
  /** `throttle(fetch, { cache: { ttlMs, match } })`; the API's `max-age` may shorten it. */
  cacheTtlMs: 3_600_000,
  /** `batcher({ maxSize, maxWaitMs })`: one bulk call per account and batch. */
  bulkMaxSize: 100,
  bulkMaxWaitMs: 50,
  /** Items a worker reads for at once (its labels do not hold it). */
  itemsPerWorker: 3,
});

/** The URLs the ratewindow lane caches: the reference data of any org. */
export const CACHED_URL = /\/api\/(?:org-[^/]+\/)?(?:custom_categories|locations)(?:[/?#]|$)/;

/**
 * Call `i` of a job. Without `settings.fewer`: a read of item i (`GET items/<i>`) with API key
 * i mod accounts. With it, calls come in threes per item j, all with the key of item j's worker
 * (j mod accounts): read custom_categories, read locations, then label item j (after both reads;
 * `PATCH items/<j>` on its own, or one item of a bulk call).
 * Returns { i, kind: "item" | "read" | "label", item, account, resource }.
 */
export function jobCall(i, settings) {
  const accounts = Math.max(1, settings.accounts || 1);
  if (!settings.fewer) return { i, kind: "item", item: i, account: i % accounts, resource: null };
  const item = Math.floor(i / 3);
  const step = i % 3;
  return {
    i,
    kind: step === 2 ? "label" : "read",
    item,
    account: item % accounts,
    resource: step === 2 ? null : FEWER.resources[step],
  };
}

/** How a job of `jobSize` calls splits: { reads, labels } (all reads without `fewer`). */
export function jobMix(jobSize, fewer) {
  const labels = fewer ? Math.floor(Math.max(0, jobSize) / 3) : 0;
  return { reads: Math.max(0, jobSize) - labels, labels };
}

/** The category a label gives item `item` (any stable choice will do). */
export function categoryOf(item) {
  return 100 + (item % 5);
}

/** The least time any client can take: the last batch of `limit` cannot start before then. */
export function physicalMinimumMs(jobSize, limit, windowMs) {
  if (!(jobSize > 0) || !(limit > 0)) return 0;
  return (Math.ceil(jobSize / limit) - 1) * windowMs;
}

/**
 * Milliseconds to wait as told by a Retry-After value (delay-seconds or HTTP-date), or null when
 * the header is missing or unreadable.
 */
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value == null) return null;
  const v = String(value).trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/** Number of times t_i in `sorted` (ascending) with t - windowMs < t_i <= t. */
export function countInWindow(sorted, t, windowMs) {
  return upperBound(sorted, t) - upperBound(sorted, t - windowMs);
}

/** The largest count of `sorted` times within any rolling window of `windowMs`. */
export function peakInWindow(sorted, windowMs) {
  let peak = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[lo] <= sorted[hi] - windowMs) lo++;
    peak = Math.max(peak, hi - lo + 1);
  }
  return peak;
}

function upperBound(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A fresh, all-zero lane state. */
export function createLaneState(jobSize = 0) {
  return {
    jobSize,
    sent: 0, // requests that went on the wire, retries included
    ok: 0, // calls that ended in a 2xx
    r429: 0, // 429 answers seen on the wire
    r403: 0, // 403 answers seen on the wire
    retries: 0,
    errors: 0, // calls that ended otherwise (other status, network error, throttle rejection)
    settled: 0, // calls finished, however
    aborted: 0, // calls ended by the caller's AbortSignal (the Stop button)
    inFlight: 0,
    queued: 0,
    startedAt: null,
    finishedAt: null,
    completions: [], // ms since startedAt of each successful call, ascending
    sends: [], // ms since startedAt of each request put on the wire (retries included), ascending
    keys403: new Set(),
    throttleStats: null, // () => stats of the throttle, for the ratewindow lane
    fewer: false, // the ratewindow lane ran with cache + bulk
    bulk: { items: 0, requests: 0 }, // labels sent in bulk, and the bulk calls that carried them
  };
}

/**
 * The lane result exposed to tests: { sent, ok, r429, r403, retries, aborted, elapsedMs }; a
 * ratewindow lane that ran with cache + bulk adds `calls` (the job's logical calls), `cache`
 * (the throttle's stats().cache) and `bulk` ({ items, requests }).
 */
export function laneResult(state) {
  const end = state.finishedAt ?? state.now?.() ?? state.startedAt;
  const result = {
    sent: state.sent,
    ok: state.ok,
    r429: state.r429,
    r403: state.r403,
    retries: state.retries,
    aborted: state.aborted ?? 0,
    elapsedMs: state.startedAt == null ? 0 : Math.round(end - state.startedAt),
  };
  if (state.fewer) {
    result.calls = state.jobSize;
    result.cache = cacheStats(state);
    result.bulk = { items: state.bulk.items, requests: state.bulk.requests };
  }
  return result;
}

const CACHE_FIELDS = ["hits", "misses", "saved", "entries", "bytes", "deduped"];

/** The throttle's stats().cache as plain numbers (zeros when it reports none). */
export function cacheStats(state) {
  const c = readStat(state, "cache");
  const out = {};
  for (const k of CACHE_FIELDS) out[k] = c && typeof c[k] === "number" ? c[k] : 0;
  return out;
}

const defaultNow = () => globalThis.performance.now();

/** Waits `ms`, or less when `signal` aborts first (it resolves either way). */
const defaultSleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

function authHeader(account) {
  return { Authorization: `Bearer acct-${account}` };
}

/** The request of one call sent on its own: { url, init }. */
function callRequest(call, apiBase, org, signal) {
  let url;
  let init;
  if (call.kind === "label") {
    url = `${apiBase}/api/${org}/items/${call.item}`;
    init = {
      method: "PATCH",
      headers: { ...authHeader(call.account), "Content-Type": "application/json" },
      body: JSON.stringify({ category_id: categoryOf(call.item) }),
    };
  } else {
    url = call.kind === "read" ? `${apiBase}/api/${org}/${call.resource}` : `${apiBase}/api/${org}/items/${call.item}`;
    init = { headers: authHeader(call.account) };
  }
  if (signal) init.signal = signal;
  return { url, init };
}

/**
 * Runs the job's calls with `one(call)`, which must not reject, and counts each settled call.
 * Without `fewer`: every call at once. With it: each worker (API key) takes its items in order,
 * `FEWER.itemsPerWorker` at a time; an item's two reads go at once, its label once both have
 * settled, and the worker moves on without waiting for the label. Resolves when all have settled.
 */
async function runJob(settings, state, onUpdate, one) {
  const settle = (call) =>
    one(call).finally(() => {
      state.settled++;
      onUpdate();
    });
  const calls = Array.from({ length: Math.max(0, settings.jobSize) }, (_, i) => jobCall(i, settings));
  if (!settings.fewer) {
    await Promise.all(calls.map(settle));
    return;
  }
  const items = new Map(); // item → its calls, in order
  const workers = new Map(); // account → its items, in order
  for (const call of calls) {
    if (!items.has(call.item)) {
      items.set(call.item, []);
      if (!workers.has(call.account)) workers.set(call.account, []);
      workers.get(call.account).push(call.item);
    }
    items.get(call.item).push(call);
  }
  const labels = [];
  const work = async (queue) => {
    const slot = async () => {
      while (queue.length) {
        const item = items.get(queue.shift());
        await Promise.all(item.filter((c) => c.kind === "read").map(settle));
        for (const c of item) if (c.kind === "label") labels.push(settle(c));
      }
    };
    await Promise.all(Array.from({ length: Math.min(FEWER.itemsPerWorker, queue.length) }, slot));
  };
  await Promise.all([...workers.values()].map(work));
  await Promise.all(labels);
}

function keyOf(init) {
  return init?.headers?.Authorization?.replace(/^Bearer\s+/, "") ?? "anonymous";
}

async function drain(res) {
  try {
    await res.text();
  } catch {
    // the body is not needed; a broken one changes nothing
  }
}

/**
 * The naive client: every call at once with fetch; on a 429, waits for Retry-After (1 s when
 * the header is missing or unreadable) and tries again, up to `maxRetries` times. An optional
 * `signal` stops the job: requests in flight are aborted, waits end, nothing more is sent.
 */
export async function runPlainLane({
  fetchFn,
  apiBase = "",
  org = "org-a",
  settings = DEFAULT_SETTINGS,
  state = createLaneState(settings.jobSize),
  now = defaultNow,
  sleep = defaultSleep,
  signal = undefined,
  onUpdate = () => {},
}) {
  const { jobSize, maxRetries = DEFAULT_SETTINGS.maxRetries } = settings;
  state.jobSize = jobSize;
  state.now = now;
  state.startedAt = now();

  const one = async (call) => {
    const { url, init } = callRequest(call, apiBase, org, signal);
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) {
        state.aborted++;
        return;
      }
      state.sent++;
      state.sends.push(now() - state.startedAt);
      state.inFlight++;
      onUpdate();
      let res;
      try {
        res = await fetchFn(url, init);
      } catch {
        state.inFlight--;
        if (signal?.aborted) state.aborted++;
        else state.errors++;
        return;
      }
      await drain(res);
      state.inFlight--;
      if (res.ok) {
        state.ok++;
        state.completions.push(now() - state.startedAt);
        return;
      }
      if (res.status === 403) {
        state.r403++;
        state.keys403.add(keyOf(init));
        return;
      }
      if (res.status !== 429) {
        state.errors++;
        return;
      }
      state.r429++;
      if (attempt >= maxRetries) {
        state.errors++;
        return;
      }
      state.retries++;
      state.queued++;
      onUpdate();
      await sleep(parseRetryAfter(res.headers.get("retry-after")) ?? 1000, signal);
      state.queued--;
    }
  };

  await runJob(settings, state, onUpdate, one);
  state.finishedAt = now();
  onUpdate();
  return laneResult(state);
}

/**
 * The same job through ratewindow: `throttle(fetch, { limit, windowMs })`, every call handed to
 * it at once. The fetch given to the throttle counts what really goes on the wire. An optional
 * `signal` goes to every call as `init.signal`: the throttle rejects the queued ones at once and
 * the ones in flight are aborted.
 *
 * With `settings.fewer` (needs `batcher`): the throttle also gets `cache: { ttlMs, match }` for
 * the reference data (identical reads in flight are joined too), and each worker's labels go
 * through its own `batcher` to `POST <org>/admin/bulk_actions/category`, one bulk call per batch.
 */
export async function runThrottledLane({
  throttle,
  batcher = undefined,
  fetchFn,
  apiBase = "",
  org = "org-b",
  settings = DEFAULT_SETTINGS,
  state = createLaneState(settings.jobSize),
  now = defaultNow,
  signal = undefined,
  onUpdate = () => {},
}) {
  const { jobSize, limit, windowMs } = settings;
  const fewer = Boolean(settings.fewer);
  if (fewer && typeof batcher !== "function") {
    throw new TypeError("runThrottledLane: settings.fewer needs the package's `batcher`");
  }
  state.jobSize = jobSize;
  state.now = now;
  state.fewer = fewer;

  const wireFetch = async (input, init) => {
    state.sent++;
    if (state.startedAt !== null) state.sends.push(now() - state.startedAt);
    state.inFlight++;
    onUpdate();
    try {
      const res = await fetchFn(input, init);
      if (res.status === 429) state.r429++;
      if (res.status === 403) {
        state.r403++;
        state.keys403.add(keyOf(init));
      }
      return res;
    } finally {
      state.inFlight--;
      onUpdate();
    }
  };

  const options = { limit, windowMs };
  if (fewer) options.cache = { ttlMs: FEWER.cacheTtlMs, match: CACHED_URL };
  const limited = throttle(wireFetch, options);
  state.throttleStats = () => (typeof limited.stats === "function" ? limited.stats() : null);

  // One batcher per worker: a bulk call carries the labels of one API key.
  const labelers = new Map();
  const labelerFor = (account) => {
    let label = labelers.get(account);
    if (!label) {
      label = batcher({
        maxSize: FEWER.bulkMaxSize,
        maxWaitMs: FEWER.bulkMaxWaitMs,
        run: async (items) => {
          state.bulk.requests++;
          state.bulk.items += items.length;
          onUpdate();
          const init = {
            method: "POST",
            headers: { ...authHeader(account), "Content-Type": "application/json" },
            body: JSON.stringify(items),
          };
          if (signal) init.signal = signal;
          const res = await limited(`${apiBase}/api/${org}/admin/bulk_actions/category`, init);
          if (!res.ok) {
            await drain(res);
            throw new Error(`bulk category: HTTP ${res.status}`);
          }
          const results = await res.json();
          if (!Array.isArray(results)) throw new TypeError("bulk category: the answer is not an array");
          return results.map((r) => (r?.ok === true ? r : new Error(r?.error ?? "not labelled")));
        },
      });
      labelers.set(account, label);
    }
    return label;
  };
  state.startedAt = now();

  const succeeded = () => {
    state.ok++;
    state.completions.push(now() - state.startedAt);
  };

  const one = async (call) => {
    if (fewer && call.kind === "label") {
      try {
        if (signal?.aborted) throw signal.reason;
        await labelerFor(call.account)({ id: call.item, category_id: categoryOf(call.item) }, { signal });
        succeeded();
      } catch {
        if (signal?.aborted) state.aborted++;
        else state.errors++;
      }
      return;
    }
    let res;
    try {
      if (signal?.aborted) throw signal.reason;
      const { url, init } = callRequest(call, apiBase, org, signal);
      res = await limited(url, init);
    } catch {
      if (signal?.aborted) state.aborted++;
      else state.errors++;
      return;
    }
    await drain(res);
    if (res.ok) succeeded();
    else if (res.status !== 403 && res.status !== 429) state.errors++;
  };

  await runJob(settings, state, onUpdate, one);
  state.finishedAt = now();
  const retried = readStat(state, "retried");
  state.retries = typeof retried === "number" ? retried : Math.max(0, state.sent - jobSize);
  onUpdate();
  return laneResult(state);
}

/** One field of the throttle's stats(), or undefined when the throttle does not report it. */
export function readStat(state, name) {
  if (!state.throttleStats) return undefined;
  try {
    const s = state.throttleStats();
    return s && typeof s === "object" ? s[name] : undefined;
  } catch {
    return undefined;
  }
}

/** Sets the API double of `apiBase` to a fresh state with the demo's settings. */
export async function resetApi(fetchFn, apiBase, settings) {
  const post = async (path, body) => {
    const res = await fetchFn(`${apiBase}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${text}`);
  };
  await post("/__reset");
  await post("/__config", {
    limit: settings.limit,
    windowMs: settings.windowMs,
    uplinkMs: 0,
    downlinkMs: [settings.latencyMinMs, settings.latencyMaxMs],
  });
}
