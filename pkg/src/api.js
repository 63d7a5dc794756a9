// The JS side of ratewindow: loads nothing itself (the entry files hand it the Wasm exports) and
// only adapts fetch's calling convention, events and error classes to the Wasm `Throttle`, whose
// Rust core makes every decision. This file is ESM; the build derives the CommonJS copy from it.

/**
 * @param {{ Throttle: any }} wasm the Wasm module's exports
 */
function makeApi(wasm) {
  /** Base class of every error ratewindow creates itself. */
  class RatewindowError extends Error {
    constructor(message, options) {
      super(message, options);
      this.name = "RatewindowError";
    }
  }

  /** `maxQueue` calls were already waiting. */
  class QueueFullError extends RatewindowError {
    constructor(message, detail = {}) {
      super(message);
      this.name = "QueueFullError";
      /** The configured bound. */
      this.maxQueue = detail.maxQueue;
    }
  }

  /** The call could not be sent within `maxWaitMs` (or a server pause outlasted it). */
  class RateLimitError extends RatewindowError {
    constructor(message, detail = {}) {
      super(message);
      this.name = "RateLimitError";
      /** Epoch milliseconds at which a call could be sent, or null when unknown. */
      this.retryAt = detail.retryAt ?? null;
    }
  }

  /** A shared store (Redis, tabs) failed and `onStoreError` is `"fail"`. */
  class StoreError extends RatewindowError {
    constructor(message, detail = {}) {
      super(message, { cause: detail.cause });
      this.name = "StoreError";
    }
  }

  const makeError = (kind, detail) =>
    kind === "store" ? new StoreError(detail.message, detail) :
    kind === "queue-full" ? new QueueFullError(detail.message, detail) : new RateLimitError(detail.message, detail);

  const hasRequest = typeof Request === "function";
  // init fields that cannot make fetch throw synchronously.
  const CHEAP_INIT = new Set(["signal", "priority"]);
  const isSignal = (s) => s == null || typeof AbortSignal !== "function" || s instanceof AbortSignal;
  const isStream = (body) => typeof ReadableStream === "function" && body instanceof ReadableStream;

  /**
   * Turns (input, init) into a replayable `send()` for the Wasm loop, failing the way fetch
   * would for input fetch itself rejects (a used body, a locked stream, a bad URL).
   */
  async function prepare(fetchFn, input, init) {
    if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function") {
      throw new TypeError("ratewindow: `init` must be an object when given");
    }
    const isRequest = hasRequest && input instanceof Request;
    const options = init == null ? undefined : { ...init };
    if (options && isStream(options.body)) {
      // A stream can be read once; retries need the bytes again.
      options.body = await new Response(options.body).arrayBuffer();
      delete options.duplex;
    }
    if (isRequest) {
      if (input.bodyUsed) throw new TypeError("ratewindow: the Request's body is already used");
      if (input.body?.locked) throw new TypeError("ratewindow: the Request's body stream is locked");
      checkScheme(new URL(input.url));
      // Request + init: what fetch would reject (a GET with a body, a bad header) fails now.
      if (options !== undefined) new Request(input.clone(), { ...options, signal: null });
      if (!isSignal(options?.signal)) throw new TypeError("ratewindow: `init.signal` must be an AbortSignal");
    } else if (!isSignal(options?.signal)) {
      throw new TypeError("ratewindow: `init.signal` must be an AbortSignal");
    } else if (options === undefined || Object.keys(options).every((k) => CHEAP_INIT.has(k))) {
      // Only the URL can be wrong: parsing it is the check fetch would make, at a fraction
      // of the cost of building a Request.
      checkScheme(new URL(input, globalThis.location?.href));
    } else if (hasRequest) {
      // Throws exactly what fetch would throw for this input (bad URL, bad method, …).
      // (Without the signal: undici would keep a listener on it for the Request's lifetime.)
      checkScheme(new URL(new Request(input, { ...options, signal: null }).url));
    }
    const method = String(options?.method ?? (isRequest ? input.method : "GET")).toUpperCase();
    const signal = options?.signal ?? (isRequest ? input.signal : undefined);
    const priority = checkPriority(options?.priority ?? (isRequest ? input.priority : undefined));
    const send = isRequest ? () => fetchFn(input.clone(), options) : () => fetchFn(input, options);
    // The same request with another signal: a de-duplicated request runs without any caller's.
    const sendWith = (sig) => fetchFn(isRequest ? input.clone() : input, { ...options, signal: sig });
    return { send, sendWith, method, signal, priority, options, isRequest };
  }

  /**
   * A copy of `options` read one field at a time, so that a field that cannot be read (a
   * throwing getter, a hostile Proxy) is a TypeError naming it, and anything but a plain object
   * (an array, a Map, a Date) is a TypeError naming `options`.
   */
  function plainOptions(options) {
    if (options === undefined || options === null) return options;
    const proto = typeof options === "object" ? Object.getPrototypeOf(options) : undefined;
    if (typeof options !== "object" || (proto !== Object.prototype && proto !== null)) {
      throw new TypeError(`ratewindow: \`options\` must be a plain object, got ${Array.isArray(options) ? "an array" : typeof options}`);
    }
    let keys;
    try {
      keys = Object.keys(options);
    } catch (cause) {
      throw new TypeError("ratewindow: `options` could not be read", { cause });
    }
    const copy = {};
    for (const key of keys) {
      try {
        copy[key] = options[key];
      } catch (cause) {
        throw new TypeError(`ratewindow: \`${key}\` could not be read`, { cause });
      }
    }
    return copy;
  }

  /** fetch rejects other schemes with a TypeError; so do we, before spending any budget. */
  function checkScheme(url) {
    const scheme = url.protocol;
    if (scheme !== "http:" && scheme !== "https:" && scheme !== "data:" && scheme !== "blob:") {
      throw new TypeError(`ratewindow: fetch does not support the URL scheme "${scheme}"`);
    }
  }

  /** Runs `fn()`, rejecting with a TimeoutError DOMException-like error after `ms`. */
  function withTimeout(fn, ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new Error(`ratewindow: the scheduled function did not settle within ${ms} ms`);
        error.name = "TimeoutError";
        reject(error);
      }, ms);
      Promise.resolve()
        .then(fn)
        .then(resolve, reject)
        .finally(() => clearTimeout(timer));
    });
  }

  /** A valid `priority`, else undefined ("auto"): fetch itself ignores an unknown value. */
  function checkPriority(priority) {
    return priority === "high" || priority === "auto" || priority === "low" ? priority : undefined;
  }

  /** Sends one event to a budget's listeners. */
  function emitTo(budget, type, detail) {
    const { listeners } = budget;
    const set = listeners.get(type);
    if (!set) return;
    const event = { type, detail, timeStamp: Date.now() };
    for (const [listener, once] of [...set]) {
      if (once) set.delete(listener);
      try {
        typeof listener === "function" ? listener.call(undefined, event) : listener.handleEvent(event);
      } catch (error) {
        // A listener's bug must not break the budget, nor crash Node with an uncaught error.
        queueMicrotask(() => {
          if (typeof reportError === "function") reportError(error);
          else console.error("ratewindow: an event listener threw", error);
        });
      }
    }
    if (set.size === 0) listeners.delete(type);
    if (listeners.size === 0) budget.core.setEmitter(undefined);
  }

  /**
   * The event callback handed to the Wasm side. The Wasm side keeps it in its function table, a
   * GC root, so it must reach the budget only through a WeakRef: anything it holds strongly
   * (and, in V8, anything any closure of the same scope holds) would keep a dropped throttle,
   * its listeners and its Wasm state alive forever. Hence a function of its own, whose scope
   * holds nothing but the WeakRef.
   */
  function makeDispatch(ref) {
    return (type, detail) => {
      const budget = ref.deref();
      if (budget) emitTo(budget, type, detail);
    };
  }

  /** One budget: the Wasm core, the listeners of its events, and the throttles using it. */
  function makeBudget(options, key) {
    const budget = {
      core: new wasm.Throttle(options, makeError),
      options,
      key,
      listeners: new Map(),
      /** Throttles using it (not disposed). */
      users: 0,
      /** Calls accepted and not yet settled, over all its throttles. */
      pending: 0,
      /** Run when `pending` drops to 0. */
      idle: [],
      /** The store binding, when bound. */
      binding: undefined,
      /** The release timer, while a released budget waits for its window to empty. */
      releasing: undefined,
      dispatch: undefined,
    };
    budget.dispatch = makeDispatch(new WeakRef(budget));
    const { listeners, core } = budget;
    budget.addEventListener = function addEventListener(type, listener, opts) {
      if (listener == null) return;
      if (typeof listener !== "function" && typeof listener?.handleEvent !== "function") {
        throw new TypeError("ratewindow: a listener must be a function or have handleEvent()");
      }
      const once = typeof opts === "object" && opts !== null && Boolean(opts.once);
      const signal = typeof opts === "object" && opts !== null ? opts.signal : undefined;
      if (signal?.aborted) return;
      let set = listeners.get(String(type));
      if (!set) listeners.set(String(type), (set = new Map()));
      if (!set.has(listener)) set.set(listener, once);
      signal?.addEventListener("abort", () => budget.removeEventListener(type, listener), { once: true });
      core.setEmitter(budget.dispatch);
    };
    budget.removeEventListener = function removeEventListener(type, listener) {
      const set = listeners.get(String(type));
      if (!set) return;
      set.delete(listener);
      if (set.size === 0) listeners.delete(String(type));
      if (listeners.size === 0) core.setEmitter(undefined);
    };
    return budget;
  }

  // Throttles with calls in flight. Strongly held here so that a throttle dropped by its owner
  // mid-call still delivers that call's events (the Wasm side holds its listeners only weakly).
  const busy = new Set();

  /** Counts `promise` as pending on the throttle `own` and its budget until it settles. */
  function track(own, promise) {
    const budget = own.budget;
    if (own.pending++ === 0) busy.add(own);
    budget.pending++;
    const done = () => {
      if (--own.pending === 0) {
        busy.delete(own);
        for (const resolve of own.idle.splice(0)) resolve();
      }
      if (--budget.pending === 0) for (const run of budget.idle.splice(0)) run();
    };
    promise.then(done, done);
    return promise;
  }

  /**
   * One throttle less uses `budget`. When none is left, the budget is released once its calls
   * have settled, and a keyed budget only once its longest window has also passed: a throttle
   * created again with the same key in the meantime gets this budget back, so the requests of
   * the last window still count.
   */
  function release(budget) {
    if (--budget.users > 0) return;
    const finish = () => {
      budget.releasing = undefined;
      if (budget.users > 0) return;
      if (budget.key !== undefined && registry.get(budget.key) === budget) registry.delete(budget.key);
      try {
        budget.binding?.close?.();
      } catch {
        // The store's own cleanup failing must not fail dispose(); nothing is held any more.
      }
      budget.listeners.clear();
      budget.core.setEmitter(undefined);
    };
    const afterWindow = () => {
      if (budget.users > 0) return;
      if (budget.key === undefined) return finish();
      const longest = Math.max(...budget.core.windows().map((w) => w[1])) + budget.core.marginMs();
      const timer = setTimeout(finish, Math.min(longest, MAX_TIMER_MS));
      // In Node, waiting out the window must not keep the process alive.
      if (typeof timer === "object" && typeof timer?.unref === "function") timer.unref();
      budget.releasing = timer;
    };
    if (budget.pending === 0) afterWindow();
    else budget.idle.push(afterWindow);
  }

  // Budgets shared by `key`, per JS realm (shared by this package's ESM and CJS copies too).
  const registryKey = Symbol.for("ratewindow.budgets");
  const registry = (globalThis[registryKey] ??= new Map());

  function budgetFor(options) {
    const key = options?.key;
    if (key === undefined) {
      for (const name of ["store", "onStoreError", "storeFallbackLimit"]) {
        if (options?.[name] !== undefined) throw new TypeError(`ratewindow: \`${name}\` needs a \`key\` naming the shared budget`);
      }
      return makeBudget(stripKey(options));
    }
    if (typeof key !== "string" || key === "") {
      throw new TypeError("ratewindow: `key` must be a non-empty string");
    }
    const existing = registry.get(key);
    if (existing) {
      const conflict = existing.core.conflict(stripKey(options));
      if (conflict) {
        throw new TypeError(
          `ratewindow: \`key\` "${key}" is already in use with other options (\`${conflict}\` differs); ` +
            "every throttle sharing a budget must use the same options",
        );
      }
      return existing;
    }
    const budget = makeBudget(stripKey(options), key);
    if (options.store !== undefined) budget.binding = bindStore(budget.core, key, options);
    registry.set(key, budget);
    return budget;
  }

  /** Runs the budget's decisions also against a shared store (`ratewindow/redis`, `/tabs`). */
  function bindStore(core, key, { store, onStoreError = "local", storeFallbackLimit }) {
    if (store === null || typeof store !== "object" || typeof store.bind !== "function") {
      throw new TypeError("ratewindow: `store` must be a store such as redisStore(client) or tabStore()");
    }
    const windows = core.windows();
    const limit = Math.min(...windows.map((w) => w[0]));
    const fallback = storeFallbackLimit ?? Math.max(1, Math.ceil(limit / 4));
    if (typeof fallback !== "number") throw new TypeError("ratewindow: `storeFallbackLimit` must be a number");
    if (!Number.isInteger(fallback) || fallback < 1) {
      throw new RangeError(`ratewindow: \`storeFallbackLimit\` must be an integer ≥ 1, got ${fallback}`);
    }
    if (typeof onStoreError !== "string") throw new TypeError("ratewindow: `onStoreError` must be \"local\" or \"fail\"");
    const binding = store.bind({ key, windows, marginMs: core.marginMs() });
    core.setStore(binding, onStoreError, fallback);
    return binding;
  }

  /** The options the Wasm core decides with: without those handled here. */
  function stripKey(options) {
    if (options == null || typeof options !== "object") return options;
    const { key, store, onStoreError, storeFallbackLimit, ...rest } = options;
    return rest;
  }

  /**
   * Wraps a fetch-like function so that every request, retries included, passes through one
   * exact rolling-window budget.
   * @param {typeof fetch} fetchFn
   * @param {object} [options]
   */
  function throttle(fetchFn, options) {
    if (typeof fetchFn !== "function") {
      throw new TypeError(`ratewindow: \`fetch\` must be a function, got ${fetchFn === null ? "null" : typeof fetchFn}`);
    }
    // `cache` and `dedupe` belong to this throttle (its fetch, its callers), not to the budget:
    // they never reach the Wasm `Throttle`, and throttles sharing a `key` keep separate caches.
    const { rest, cache, dedupe } = splitFrontOptions(plainOptions(options));
    const budget = budgetFor(rest);
    const { core } = budget;
    const front = makeFront(core, cache, dedupe, hasRequest);
    budget.users++;
    if (budget.releasing !== undefined) {
      clearTimeout(budget.releasing);
      budget.releasing = undefined;
    }
    /** This throttle: its budget, its calls not yet settled, and whether it was disposed. */
    const own = { budget, pending: 0, idle: [], disposed: false };
    const disposedError = () => new RatewindowError("ratewindow: this throttle was disposed (dispose() was called)");
    const call = async (input, init) => {
      const { init: plain, ttlMs } = takeCallOptions(init, cache !== null);
      const prepared = await prepare(fetchFn, input, plain);
      if (front) return front.call(input, prepared, ttlMs);
      const { send, method, signal, priority } = prepared;
      return core.run(send, method, signal, priority, undefined);
    };
    const limited = function limited(input, init) {
      if (own.disposed) return Promise.reject(disposedError());
      return track(own, call(input, init));
    };
    /**
     * Runs any promise-returning function under the same budget, as one request.
     * @param {() => unknown} fn
     * @param {{ signal?: AbortSignal, priority?: "high"|"auto"|"low", method?: string,
     *   isRateLimited?: (resultOrError: unknown, failed: boolean) => false | { retryAfterMs?: number } }} [opts]
     */
    limited.schedule = async function schedule(fn, opts = {}) {
      if (own.disposed) throw disposedError();
      if (typeof fn !== "function") throw new TypeError("ratewindow: `schedule` needs a function");
      if (opts === null || typeof opts !== "object") throw new TypeError("ratewindow: `schedule` options must be an object");
      const { signal, isRateLimited } = opts;
      const priority = checkPriority(opts.priority);
      if (isRateLimited !== undefined && typeof isRateLimited !== "function") {
        throw new TypeError("ratewindow: `isRateLimited` must be a function");
      }
      // Not known to be idempotent: errors are not retried unless `method` says otherwise;
      // rate-limited results (per `isRateLimited`) are, like a 429.
      const method = String(opts.method ?? "CALL").toUpperCase();
      const hook = isRateLimited && ((value, failed) => isRateLimited(value, failed));
      const { timeoutMs } = opts;
      if (timeoutMs !== undefined) {
        if (typeof timeoutMs !== "number") throw new TypeError("ratewindow: `timeoutMs` must be a number");
        if (!(timeoutMs > 0 && timeoutMs <= 2_147_483_647)) {
          throw new RangeError(`ratewindow: \`timeoutMs\` must be a finite number of milliseconds > 0, got ${timeoutMs}`);
        }
      }
      // With `timeoutMs`, an attempt that has not settled by then fails with a TimeoutError and
      // its slot is settled then: a function that never resolves cannot hold the budget forever.
      const attempt = timeoutMs === undefined ? () => fn() : () => withTimeout(fn, timeoutMs);
      const run = track(own, core.run(attempt, method, signal, priority, hook));
      if (!signal) return run;
      // An abort after the send settles the caller at once; the slot stays held until the
      // function's own promise settles (its request may still reach the server).
      return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        run.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
    };
    limited.stats = () => Object.assign(core.stats(), { cache: front ? front.stats() : emptyCacheStats() });
    /**
     * Drops cached responses: every one, those whose URL starts with a string, matches a RegExp,
     * or for which a function returns true. Returns how many were dropped.
     */
    limited.clearCache = (filter) => {
      const test = urlFilter(filter, "clearCache");
      return front ? front.clear(test) : 0;
    };
    limited.addEventListener = budget.addEventListener;
    limited.removeEventListener = budget.removeEventListener;
    /**
     * Stops taking calls (later ones reject with a RatewindowError) and lets go of the budget.
     * Calls already accepted, queued or in flight, still run to the end: nothing is dropped.
     * Resolves when they have settled. The last throttle of a `key` releases the key once its
     * calls have settled and its longest window has passed (until then, a new throttle with
     * that key gets the same budget back); its listeners are then removed, its store unbound.
     */
    limited.dispose = function dispose() {
      if (!own.disposed) {
        own.disposed = true;
        front?.clear(() => true);
        release(budget);
      }
      return own.pending === 0 ? Promise.resolve() : new Promise((resolve) => own.idle.push(resolve));
    };
    if (typeof Symbol.asyncDispose === "symbol") limited[Symbol.asyncDispose] = limited.dispose;
    return limited;
  }

  return { throttle, batcher, RatewindowError, QueueFullError, RateLimitError, StoreError };
}

// ---------------------------------------------------------------------------------------------
// Fewer requests: a response cache, in-flight de-duplication and bulk batching. Plain JS around
// the budget: the Wasm core only ever sees the requests that still go out.

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** Methods whose requests have no body, so method + URL + headers say what they ask. */
const SHAREABLE_METHODS = new Set(["GET", "HEAD"]);
/** Request headers that say whose data the answer is: always part of the cache key. */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie", "x-api-key"];
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const CACHE_OPTIONS = new Set(["ttlMs", "match", "maxEntries", "maxBytes", "methods", "keyHeaders"]);
const BATCHER_OPTIONS = new Set(["run", "maxSize", "maxWaitMs"]);
const CACHE_DEFAULTS = { maxEntries: 500, maxBytes: 10 * 1024 * 1024 };
const BATCHER_DEFAULTS = { maxSize: 100, maxWaitMs: 50 };
const MAX_TIMER_MS = 2_147_483_647;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const monotonicNow = () =>
  typeof performance !== "undefined" && typeof performance.now === "function" ? performance.now() : Date.now();

/** A value as shown in an error message (never a credential: only options are shown). */
function shown(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** A number option: TypeError when it is no number, RangeError when `ok` refuses it. */
function numberOption(value, field, rule, ok) {
  if (typeof value !== "number") throw new TypeError(`ratewindow: \`${field}\` must be ${rule}, got ${shown(value)}`);
  if (!ok(value)) throw new RangeError(`ratewindow: \`${field}\` must be ${rule}, got ${shown(value)}`);
  return value;
}
const isCount = (v) => Number.isSafeInteger(v) && v >= 1;
const isPositive = (v) => Number.isFinite(v) && v > 0;

/** A copy of a RegExp without `g`/`y`, whose `test` would otherwise depend on `lastIndex`. */
const stateless = (re) => new RegExp(re.source, re.flags.replace(/[gy]/g, ""));

/** `cache` → its validated settings, or null when caching is off. */
function parseCacheOption(cache) {
  if (cache === undefined || cache === false) return null;
  if (cache === null || typeof cache !== "object" || Array.isArray(cache)) {
    throw new TypeError(`ratewindow: \`cache\` must be an object { ttlMs, ... } or false, got ${shown(cache)}`);
  }
  for (const name of Object.keys(cache)) {
    if (!CACHE_OPTIONS.has(name)) throw new TypeError(`ratewindow: unknown option \`cache.${name}\``);
  }
  const ttlMs = numberOption(cache.ttlMs, "cache.ttlMs", "a finite number > 0", isPositive);
  const maxEntries =
    cache.maxEntries === undefined ? CACHE_DEFAULTS.maxEntries : numberOption(cache.maxEntries, "cache.maxEntries", "an integer >= 1", isCount);
  const maxBytes =
    cache.maxBytes === undefined ? CACHE_DEFAULTS.maxBytes : numberOption(cache.maxBytes, "cache.maxBytes", "an integer >= 1", isCount);
  let methods = new Set(["GET"]);
  if (cache.methods !== undefined) {
    const list = cache.methods;
    if (!Array.isArray(list) || list.length === 0 || !list.every((m) => typeof m === "string")) {
      throw new TypeError(`ratewindow: \`cache.methods\` must be a non-empty array of method names, got ${shown(list)}`);
    }
    methods = new Set(list.map((m) => m.toUpperCase()));
    for (const m of methods) {
      if (!SHAREABLE_METHODS.has(m)) {
        throw new RangeError(`ratewindow: \`cache.methods\` may only hold "GET" and "HEAD" (a request body is not part of the key), got ${shown(m)}`);
      }
    }
  }
  let match = null;
  if (cache.match instanceof RegExp) {
    const re = stateless(cache.match);
    match = (url) => re.test(url);
  } else if (typeof cache.match === "function") {
    const fn = cache.match;
    match = (url, method) => Boolean(fn(url, method));
  } else if (cache.match !== undefined) {
    throw new TypeError(`ratewindow: \`cache.match\` must be a RegExp or a function (url, method) => boolean, got ${shown(cache.match)}`);
  }
  const keyHeaders = [...CREDENTIAL_HEADERS];
  if (cache.keyHeaders !== undefined) {
    const list = cache.keyHeaders;
    if (!Array.isArray(list) || !list.every((h) => typeof h === "string" && HEADER_NAME.test(h))) {
      throw new TypeError(`ratewindow: \`cache.keyHeaders\` must be an array of header names, got ${shown(list)}`);
    }
    for (const h of list) if (!keyHeaders.includes(h.toLowerCase())) keyHeaders.push(h.toLowerCase());
  }
  return { ttlMs, maxEntries, maxBytes, methods, match, keyHeaders };
}

/** Takes `cache` and `dedupe` out of the throttle options (the Wasm `Throttle` rejects them). */
function splitFrontOptions(options) {
  if (options === null || typeof options !== "object" || !("cache" in options || "dedupe" in options)) {
    return { rest: options, cache: null, dedupe: false };
  }
  const { cache, dedupe, ...rest } = options;
  const config = parseCacheOption(cache);
  if (dedupe !== undefined && typeof dedupe !== "boolean") {
    throw new TypeError(`ratewindow: \`dedupe\` must be a boolean, got ${shown(dedupe)}`);
  }
  return { rest, cache: config, dedupe: dedupe ?? config !== null };
}

/** Takes `init.ratewindow` (`{ ttlMs }`) out of a call's init: fetch never sees it. */
function takeCallOptions(init, cacheEnabled) {
  if (init === null || typeof init !== "object" || !("ratewindow" in init)) return { init, ttlMs: undefined };
  const { ratewindow: extra, ...plain } = init;
  if (extra === undefined) return { init: plain, ttlMs: undefined };
  if (extra === null || typeof extra !== "object") {
    throw new TypeError(`ratewindow: \`init.ratewindow\` must be an object { ttlMs }, got ${shown(extra)}`);
  }
  for (const name of Object.keys(extra)) {
    if (name !== "ttlMs") throw new TypeError(`ratewindow: unknown option \`init.ratewindow.${name}\``);
  }
  if (extra.ttlMs === undefined) return { init: plain, ttlMs: undefined };
  const ttlMs = numberOption(extra.ttlMs, "init.ratewindow.ttlMs", "a finite number > 0", isPositive);
  if (!cacheEnabled) throw new TypeError("ratewindow: `init.ratewindow.ttlMs` needs the throttle's `cache` option");
  return { init: plain, ttlMs };
}

/** A URL filter for `clearCache`: everything, a prefix, a RegExp or a predicate. */
function urlFilter(filter, field) {
  if (filter === undefined) return () => true;
  if (typeof filter === "string") return (url) => url.startsWith(filter);
  if (filter instanceof RegExp) {
    const re = stateless(filter);
    return (url) => re.test(url);
  }
  if (typeof filter === "function") return (url) => Boolean(filter(url));
  throw new TypeError(`ratewindow: \`${field}\` takes a URL prefix, a RegExp or a function (url) => boolean, got ${shown(filter)}`);
}

const emptyCacheStats = () => ({ hits: 0, misses: 0, saved: 0, entries: 0, bytes: 0, deduped: 0 });

/**
 * A 128-bit non-cryptographic hash of a string, as 32 hex digits: cache keys carry this instead
 * of credentials. Four 32-bit lanes (multiply, xor-shift per UTF-16 unit), crossed and mixed at
 * the end; at 128 bits an accidental collision between two accounts is out of reach.
 */
function hash128(text) {
  let a = 0x243f6a88 ^ text.length;
  let b = 0x85a308d3;
  let c = 0x13198a2e ^ Math.imul(text.length, 0x9e3779b9);
  let d = 0x03707344;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x9e3779b1);
    a ^= a >>> 15;
    b = Math.imul(b ^ ch, 0x85ebca77);
    b ^= b >>> 13;
    c = Math.imul(c ^ ch, 0xc2b2ae3d);
    c ^= c >>> 16;
    d = Math.imul(d ^ ch, 0x27d4eb2f);
    d ^= d >>> 12;
  }
  a = (a + d) | 0;
  b = (b + a) | 0;
  c = (c + b) | 0;
  d = (d + c) | 0;
  let out = "";
  for (let h of [a, b, c, d]) {
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    out += ((h ^ (h >>> 16)) >>> 0).toString(16).padStart(8, "0");
  }
  return out;
}

/** The directives of a Cache-Control value: lower-case name → value (true when it has none). */
function cacheControl(value) {
  const out = new Map();
  if (!value) return out;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name && !out.has(name)) out.set(name, eq < 0 ? true : part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return out;
}

/**
 * How long a response may be served from the cache: `ttlMs`, shortened (never extended) by the
 * response's `max-age` (less its `Age`) or, without one, its `Expires`. 0 for `no-store` and
 * `no-cache` (we do not revalidate). `private` is fine: the key holds the credentials.
 */
function lifetimeMs(headers, ttlMs) {
  const cc = cacheControl(headers.get("cache-control"));
  if (cc.has("no-store") || cc.has("no-cache")) return 0;
  const seconds = (v) => (typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : null);
  const maxAge = cc.get("max-age");
  if (maxAge !== undefined) {
    return Math.min(ttlMs, ((seconds(maxAge) ?? 0) - (seconds(headers.get("age")) ?? 0)) * 1000);
  }
  const expires = headers.get("expires");
  if (expires !== null) {
    // An invalid Expires means "already expired" (RFC 9111 §5.3).
    const at = Date.parse(expires);
    const date = Date.parse(headers.get("date") ?? "");
    return Number.isNaN(at) ? 0 : Math.min(ttlMs, at - (Number.isNaN(date) ? Date.now() : date));
  }
  return ttlMs;
}

/** What a caller needs to get its own Response: the body bytes, read once, and the rest. */
async function snapshot(res, cap) {
  const looksLikeResponse =
    res !== null &&
    typeof res === "object" &&
    typeof res.status === "number" &&
    typeof res.arrayBuffer === "function" &&
    typeof res.headers?.forEach === "function";
  if (!looksLikeResponse || res.status < 200 || res.status > 599) return null;
  // Buffer at most `cap` bytes: a larger (or endless) body is passed on as it streams, so
  // neither memory nor the callers' wait grows with it.
  const declared = Number(res.headers.get?.("content-length"));
  if (Number.isFinite(declared) && declared > cap) return { big: res };
  let bytes;
  if (res.body && typeof res.body.getReader === "function") {
    const reader = res.body.getReader();
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size > cap) {
        const rest = new ReadableStream({
          start(c) {
            for (const chunk of chunks) c.enqueue(chunk);
            chunks.length = 0;
          },
          async pull(c) {
            const r = await reader.read();
            if (r.done) c.close();
            else c.enqueue(r.value);
          },
          cancel: (reason) => reader.cancel(reason),
        });
        const big = new Response(rest, { status: res.status, statusText: res.statusText, headers: res.headers });
        if (typeof res.url === "string" && res.url) Object.defineProperty(big, "url", { value: res.url, configurable: true });
        return { big };
      }
    }
    bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
  } else {
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  const headers = [];
  res.headers.forEach((value, name) => headers.push([name, value]));
  const url = typeof res.url === "string" ? res.url : "";
  return { status: res.status, statusText: res.statusText ?? "", headers, bytes, url, redirected: res.redirected === true };
}

/** A fresh, unread Response for one caller (the Response constructor copies the bytes). */
function toResponse(snap) {
  const body = NULL_BODY_STATUSES.has(snap.status) ? null : snap.bytes;
  const res = new Response(body, { status: snap.status, statusText: snap.statusText, headers: snap.headers });
  // A constructed Response has no URL: keep the one fetch reported.
  if (snap.url) Object.defineProperty(res, "url", { value: snap.url, configurable: true });
  if (snap.redirected) Object.defineProperty(res, "redirected", { value: true, configurable: true });
  return res;
}

/** The request as fetch will see it (URL, headers, modes), or null when it must not be shared. */
function describe(input, options, isRequest) {
  if (isRequest && input.body !== null) return null; // never touch a request body
  try {
    const req = new Request(input, { ...options, signal: null });
    // Opaque answers (no-cors, manual redirects in browsers) cannot be rebuilt per caller.
    return req.mode === "no-cors" || req.redirect === "manual" ? null : req;
  } catch {
    return null;
  }
}

function requestUrl(input, isRequest) {
  if (isRequest) return input.url;
  try {
    return new Request(input).url;
  } catch {
    return String(input);
  }
}

/** "default", "reload" (skip reading, still write) or "no-store" (neither), from init.cache and headers. */
function requestCacheMode(req) {
  const cc = cacheControl(req.headers.get("cache-control"));
  if (req.cache === "no-store" || cc.has("no-store")) return "no-store";
  if (req.cache === "reload" || req.cache === "no-cache" || cc.has("no-cache") || /no-cache/i.test(req.headers.get("pragma") ?? "")) {
    return "reload";
  }
  return "default";
}

/** Method, URL and (hashed) credentials: answers for one account are never given to another. */
function primaryKey(method, req, names) {
  let credentials = "";
  for (const name of names) {
    const value = req.headers.get(name);
    if (value !== null) credentials += `${name}\u0000${value}\u0000`;
  }
  return `${method} ${req.credentials} ${req.url} ${credentials ? hash128(credentials) : "-"}`;
}

/** The primary key plus the (hashed) values of the request headers the response's Vary names. */
function variantKey(primary, spec, headers) {
  if (!spec) return primary;
  let values = "";
  for (const name of spec.split(",")) values += `${headers.get(name) ?? "\u0001"}\u0000`;
  return `${primary} ${spec} ${hash128(values)}`;
}

/** Identical requests: same method, URL, modes and every header. */
function dedupeKey(method, req) {
  let all = `${req.credentials}\u0000${req.mode}\u0000${req.redirect}\u0000`;
  req.headers.forEach((value, name) => {
    all += `${name}\u0000${value}\u0000`;
  });
  return `${method} ${req.url} ${hash128(all)}`;
}

/**
 * The part of a throttle in front of its budget: the response cache (LRU by entries and bytes)
 * and the requests in flight that identical calls may join. Null when both are off.
 */
function makeFront(core, cache, dedupe, hasRequest) {
  if ((!cache && !dedupe) || !hasRequest || typeof Response !== "function" || typeof AbortController !== "function") {
    return null;
  }
  const entries = new Map(); // variant key → entry, least recently used first
  const varyOf = new Map(); // primary key → the Vary names last seen for it ("a,b"), bounded
  const inflight = new Map(); // dedupe key → shared request others may join
  const writers = new Set(); // shared requests that will store their answer
  const counts = { hits: 0, misses: 0, deduped: 0 };
  let bytes = 0;

  const drop = (key, entry) => {
    entries.delete(key);
    bytes -= entry.size;
  };

  function lookup(primary, headers, callTtl) {
    const key = variantKey(primary, varyOf.get(primary) ?? "", headers);
    const entry = entries.get(key);
    if (!entry) return null;
    const now = monotonicNow();
    if (now >= entry.expiresAt) {
      drop(key, entry);
      return null;
    }
    if (callTtl !== undefined && now - entry.storedAt >= callTtl) return null;
    entries.delete(key);
    entries.set(key, entry);
    return entry;
  }

  function store(primary, url, reqHeaders, snap, resHeaders, ttl) {
    if (snap.status < 200 || snap.status > 299 || snap.status === 206) return;
    const life = lifetimeMs(resHeaders, ttl);
    if (!(life > 0)) return;
    const vary = (resHeaders.get("vary") ?? "").split(",").map((n) => n.trim().toLowerCase()).filter(Boolean);
    if (vary.includes("*")) return;
    let size = snap.bytes.byteLength;
    for (const [name, value] of snap.headers) size += name.length + value.length;
    if (size > cache.maxBytes) return;
    const spec = [...new Set(vary)].sort().join(",");
    varyOf.delete(primary);
    if (spec) {
      varyOf.set(primary, spec);
      if (varyOf.size > cache.maxEntries) varyOf.delete(varyOf.keys().next().value);
    }
    const key = variantKey(primary, spec, reqHeaders);
    const old = entries.get(key);
    if (old) drop(key, old);
    const now = monotonicNow();
    entries.set(key, { url, snap, size, storedAt: now, expiresAt: now + life });
    bytes += size;
    while (entries.size > cache.maxEntries || bytes > cache.maxBytes) {
      const [oldestKey, oldest] = entries.entries().next().value;
      drop(oldestKey, oldest);
    }
  }

  /** Drops the entries whose URL passes `test`; requests in flight for them will not store. */
  function invalidate(test) {
    let dropped = 0;
    for (const [key, entry] of entries) {
      if (test(entry.url)) {
        drop(key, entry);
        dropped++;
      }
    }
    for (const shared of writers) if (test(shared.url)) shared.write = false;
    return dropped;
  }

  /** One request through the budget for every caller that joins it, with none's signal. */
  function start(prepared, req, { key, write, primary, ttl }) {
    const { sendWith, method, priority } = prepared;
    const controller = new AbortController();
    const shared = { url: req.url, key, write, waiters: 0, handed: 0, settled: false, controller, promise: null };
    shared.promise = (async () => {
      const res = await core.run(() => sendWith(controller.signal), method, controller.signal, priority, undefined);
      const snap = await snapshot(res, cache ? cache.maxBytes : CACHE_DEFAULTS.maxBytes);
      if (snap?.big) return { raw: snap.big };
      if (snap && shared.write) store(primary, req.url, req.headers, snap, res.headers, ttl);
      return snap ? { snap } : { raw: res };
    })();
    if (write) writers.add(shared);
    if (key !== null) inflight.set(key, shared);
    const done = () => {
      shared.settled = true;
      writers.delete(shared);
      if (key !== null && inflight.get(key) === shared) inflight.delete(key);
    };
    shared.promise.then(done, done);
    return shared;
  }

  /** A caller's own answer from a shared request; its signal rejects only its own promise. */
  function follow(shared, signal) {
    shared.waiters++;
    // A streamed (too large) answer: the first caller gets it, each other a clone. Every
    // callback runs before any caller can read, so cloning here is always allowed.
    const answer = shared.promise.then(({ snap, raw }) => (snap ? toResponse(snap) : shared.handed++ === 0 ? raw : raw.clone()));
    if (!signal) return answer;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        // The last caller gone: nobody wants the answer, so the request stops too.
        if (--shared.waiters === 0 && !shared.settled) {
          if (inflight.get(shared.key) === shared) inflight.delete(shared.key);
          writers.delete(shared);
          shared.controller.abort(signal.reason);
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      answer.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async function call(input, prepared, callTtl) {
    const { send, method, signal, priority, options, isRequest } = prepared;
    const plain = () => core.run(send, method, signal, priority, undefined);
    if (!SAFE_METHODS.has(method)) {
      if (!cache) return plain();
      // A write to a URL makes what we hold for it stale (RFC 9111 §4.4), whatever it answers.
      const url = requestUrl(input, isRequest);
      const run = plain();
      const stale = () => invalidate((u) => u === url);
      run.then(stale, stale);
      return run;
    }
    const req = SHAREABLE_METHODS.has(method) ? describe(input, options, isRequest) : null;
    if (!req) return plain();
    const mode = requestCacheMode(req);
    const cacheable =
      cache !== null &&
      cache.methods.has(method) &&
      !req.headers.has("range") &&
      (callTtl !== undefined || cache.match === null || cache.match(req.url, method));
    const read = cacheable && mode === "default";
    const write = cacheable && mode !== "no-store";
    const share = dedupe && mode !== "no-store";
    if (!write && !share) return plain();
    if (signal?.aborted) throw signal.reason;
    const primary = cacheable ? primaryKey(method, req, cache.keyHeaders) : "";
    if (read) {
      const entry = lookup(primary, req.headers, callTtl);
      if (entry) {
        counts.hits++;
        return toResponse(entry.snap);
      }
      counts.misses++;
    }
    const key = share ? dedupeKey(method, req) : null;
    const running = key === null ? undefined : inflight.get(key);
    if (running && mode === "default") {
      counts.deduped++;
      return follow(running, signal);
    }
    // A reload does not join a request already in flight, nor take its place for later callers.
    const own = running ? null : key;
    return follow(start(prepared, req, { key: own, write, primary, ttl: callTtl ?? cache?.ttlMs }), signal);
  }

  function stats() {
    const now = monotonicNow();
    for (const [key, entry] of entries) if (now >= entry.expiresAt) drop(key, entry);
    const { hits, misses, deduped } = counts;
    return { hits, misses, saved: hits + deduped, entries: entries.size, bytes, deduped };
  }

  return { call, stats, clear: invalidate };
}

/**
 * Gathers single calls into bulk calls: `label(item)` resolves with that item's own result from
 * `run(items)`, called with at most `maxSize` items, `maxWaitMs` after the first one waited.
 * @param {{ run: (items: unknown[]) => unknown, maxSize?: number, maxWaitMs?: number }} options
 */
function batcher(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`ratewindow: \`batcher\` needs an options object { run, maxSize, maxWaitMs }, got ${shown(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!BATCHER_OPTIONS.has(name)) throw new TypeError(`ratewindow: unknown batcher option \`${name}\``);
  }
  const { run } = options;
  if (typeof run !== "function") {
    throw new TypeError(`ratewindow: batcher \`run\` must be a function (items) => Promise<results[]>, got ${shown(run)}`);
  }
  const maxSize =
    options.maxSize === undefined ? BATCHER_DEFAULTS.maxSize : numberOption(options.maxSize, "maxSize", "an integer >= 1", isCount);
  const maxWaitMs =
    options.maxWaitMs === undefined
      ? BATCHER_DEFAULTS.maxWaitMs
      : numberOption(options.maxWaitMs, "maxWaitMs", `a number from 0 to ${MAX_TIMER_MS}`, (v) => v >= 0 && v <= MAX_TIMER_MS);
  let waiting = [];
  let timer = null;

  async function send(batch) {
    await null; // `run` never runs inside a caller's own call
    let results;
    try {
      results = await run(batch.map((w) => w.item));
      if (!Array.isArray(results) || results.length !== batch.length) {
        const got = Array.isArray(results) ? `an array of ${results.length}` : shown(results);
        throw new TypeError(
          `ratewindow: batcher \`run\` must resolve with an array of ${batch.length} results (one per item, in order), got ${got}`,
        );
      }
    } catch (error) {
      for (const w of batch) w.settle(false, error);
      return;
    }
    batch.forEach((w, i) => w.settle(!(results[i] instanceof Error), results[i]));
  }

  function flush() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (waiting.length === 0) return Promise.resolve();
    const batch = waiting;
    waiting = [];
    return send(batch);
  }

  function label(item, callOptions) {
    if (callOptions !== undefined && (callOptions === null || typeof callOptions !== "object")) {
      return Promise.reject(new TypeError(`ratewindow: batcher call options must be an object { signal }, got ${shown(callOptions)}`));
    }
    const signal = callOptions?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const w = { item, settled: false, settle: null };
      const onAbort = () => {
        const i = waiting.indexOf(w);
        if (i >= 0) waiting.splice(i, 1);
        if (waiting.length === 0 && timer !== null) {
          clearTimeout(timer);
          timer = null;
        }
        w.settle(false, signal.reason);
      };
      w.settle = (ok, value) => {
        if (w.settled) return;
        w.settled = true;
        signal?.removeEventListener("abort", onAbort);
        if (ok) resolve(value);
        else reject(value);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      waiting.push(w);
      if (waiting.length >= maxSize) flush();
      else if (timer === null) timer = setTimeout(flush, maxWaitMs);
    });
  }
  /** Sends what is waiting now; resolves when that batch has settled (never rejects). */
  label.flush = flush;
  return label;
}

export { makeApi };
