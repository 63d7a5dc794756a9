// The two lanes of the demo, without any DOM: runnable in the page and under Node's test runner.
//
// A lane runs one job: `jobSize` calls to `<apiBase>/api/<org>/items/<i>`, spread over `accounts`
// API keys (`Authorization: Bearer acct-<k>`), and keeps its counters in a LaneState that the page
// reads on every frame.

export const DEFAULT_SETTINGS = Object.freeze({
  limit: 20,
  windowMs: 3000,
  latencyMinMs: 20,
  latencyMaxMs: 120,
  jobSize: 60,
  accounts: 3,
  maxRetries: 3,
});

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
  };
}

/** The lane result exposed to tests: { sent, ok, r429, r403, retries, aborted, elapsedMs }. */
export function laneResult(state) {
  const end = state.finishedAt ?? state.now?.() ?? state.startedAt;
  return {
    sent: state.sent,
    ok: state.ok,
    r429: state.r429,
    r403: state.r403,
    retries: state.retries,
    aborted: state.aborted ?? 0,
    elapsedMs: state.startedAt == null ? 0 : Math.round(end - state.startedAt),
  };
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

function callUrl(apiBase, org, i) {
  return `${apiBase}/api/${org}/items/${i}`;
}

function callInit(i, accounts, signal) {
  const init = { headers: { Authorization: `Bearer acct-${i % Math.max(1, accounts)}` } };
  if (signal) init.signal = signal;
  return init;
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
  const { jobSize, accounts, maxRetries = DEFAULT_SETTINGS.maxRetries } = settings;
  state.jobSize = jobSize;
  state.now = now;
  state.startedAt = now();

  const one = async (i) => {
    const init = callInit(i, accounts, signal);
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
        res = await fetchFn(callUrl(apiBase, org, i), init);
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

  await Promise.all(
    Array.from({ length: jobSize }, (_, i) =>
      one(i).finally(() => {
        state.settled++;
        onUpdate();
      }),
    ),
  );
  state.finishedAt = now();
  onUpdate();
  return laneResult(state);
}

/**
 * The same job through ratewindow: `throttle(fetch, { limit, windowMs })`, every call handed to
 * it at once. The fetch given to the throttle counts what really goes on the wire. An optional
 * `signal` goes to every call as `init.signal`: the throttle rejects the queued ones at once and
 * the ones in flight are aborted.
 */
export async function runThrottledLane({
  throttle,
  fetchFn,
  apiBase = "",
  org = "org-b",
  settings = DEFAULT_SETTINGS,
  state = createLaneState(settings.jobSize),
  now = defaultNow,
  signal = undefined,
  onUpdate = () => {},
}) {
  const { jobSize, accounts, limit, windowMs } = settings;
  state.jobSize = jobSize;
  state.now = now;

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

  const limited = throttle(wireFetch, { limit, windowMs });
  state.throttleStats = () => (typeof limited.stats === "function" ? limited.stats() : null);
  state.startedAt = now();

  const one = async (i) => {
    let res;
    try {
      if (signal?.aborted) throw signal.reason;
      res = await limited(callUrl(apiBase, org, i), callInit(i, accounts, signal));
    } catch {
      if (signal?.aborted) state.aborted++;
      else state.errors++;
      return;
    }
    await drain(res);
    if (res.ok) {
      state.ok++;
      state.completions.push(now() - state.startedAt);
    } else if (res.status !== 403 && res.status !== 429) {
      state.errors++;
    }
  };

  await Promise.all(
    Array.from({ length: jobSize }, (_, i) =>
      one(i).finally(() => {
        state.settled++;
        onUpdate();
      }),
    ),
  );
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
