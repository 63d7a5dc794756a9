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

  const makeError = (kind, detail) =>
    kind === "queue-full" ? new QueueFullError(detail.message, detail) : new RateLimitError(detail.message, detail);

  const hasRequest = typeof Request === "function";
  const isStream = (body) => typeof ReadableStream === "function" && body instanceof ReadableStream;

  /**
   * Turns (input, init) into a replayable `send()` for the Wasm loop, failing the way fetch
   * would for input fetch itself rejects (a used body, a locked stream, a bad URL).
   */
  async function prepare(fetchFn, input, init) {
    if (init !== undefined && init !== null && typeof init !== "object") {
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
    } else if (hasRequest) {
      // Throws exactly what fetch would throw for this input (bad URL, bad method, …).
      new Request(input, options);
    }
    const method = String(options?.method ?? (isRequest ? input.method : "GET")).toUpperCase();
    const signal = options?.signal ?? (isRequest ? input.signal : undefined);
    const priority = options?.priority ?? (isRequest ? input.priority : undefined);
    const send = isRequest ? () => fetchFn(input.clone(), options) : () => fetchFn(input, options);
    return { send, method, signal, priority };
  }

  /** One budget: the Wasm core plus the listeners of its events. */
  function makeBudget(options) {
    const core = new wasm.Throttle(options, makeError);
    const listeners = new Map();
    const dispatch = (type, detail) => {
      const set = listeners.get(type);
      if (!set) return;
      const event = { type, detail, timeStamp: Date.now() };
      for (const [listener, once] of [...set]) {
        if (once) set.delete(listener);
        try {
          typeof listener === "function" ? listener.call(api, event) : listener.handleEvent(event);
        } catch (error) {
          // A listener's bug must not break the budget, nor crash Node with an uncaught error.
          queueMicrotask(() => {
            if (typeof reportError === "function") reportError(error);
            else console.error("ratewindow: an event listener threw", error);
          });
        }
      }
      if (set.size === 0) listeners.delete(type);
      if (listeners.size === 0) core.setEmitter(undefined);
    };
    const api = {
      addEventListener(type, listener, opts) {
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
        signal?.addEventListener("abort", () => api.removeEventListener(type, listener), { once: true });
        core.setEmitter(dispatch);
      },
      removeEventListener(type, listener) {
        const set = listeners.get(String(type));
        if (!set) return;
        set.delete(listener);
        if (set.size === 0) listeners.delete(String(type));
        if (listeners.size === 0) core.setEmitter(undefined);
      },
    };
    return { core, options, ...api };
  }

  // Budgets shared by `key`, per JS realm (shared by this package's ESM and CJS copies too).
  const registryKey = Symbol.for("ratewindow.budgets");
  const registry = (globalThis[registryKey] ??= new Map());

  function budgetFor(options) {
    const key = options?.key;
    if (key === undefined) return makeBudget(stripKey(options));
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
    const budget = makeBudget(stripKey(options));
    registry.set(key, budget);
    return budget;
  }

  function stripKey(options) {
    if (options == null || typeof options !== "object" || !("key" in options)) return options;
    const { key, ...rest } = options;
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
    const budget = budgetFor(options);
    const { core } = budget;
    const limited = async function limited(input, init) {
      const { send, method, signal, priority } = await prepare(fetchFn, input, init);
      return core.run(send, method, signal, priority, undefined);
    };
    /**
     * Runs any promise-returning function under the same budget, as one request.
     * @param {() => unknown} fn
     * @param {{ signal?: AbortSignal, priority?: "high"|"auto"|"low", method?: string,
     *   isRateLimited?: (resultOrError: unknown, failed: boolean) => false | { retryAfterMs?: number } }} [opts]
     */
    limited.schedule = async function schedule(fn, opts = {}) {
      if (typeof fn !== "function") throw new TypeError("ratewindow: `schedule` needs a function");
      if (opts === null || typeof opts !== "object") throw new TypeError("ratewindow: `schedule` options must be an object");
      const { signal, priority, isRateLimited } = opts;
      if (isRateLimited !== undefined && typeof isRateLimited !== "function") {
        throw new TypeError("ratewindow: `isRateLimited` must be a function");
      }
      // Not known to be idempotent: errors are not retried unless `method` says otherwise;
      // rate-limited results (per `isRateLimited`) are, like a 429.
      const method = String(opts.method ?? "CALL").toUpperCase();
      const hook = isRateLimited && ((value, failed) => isRateLimited(value, failed));
      const run = core.run(() => fn(), method, signal, priority, hook);
      if (!signal) return run;
      // An abort after the send settles the caller at once; the slot stays held until the
      // function's own promise settles (its request may still reach the server).
      return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        run.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
    };
    limited.stats = () => core.stats();
    limited.addEventListener = budget.addEventListener;
    limited.removeEventListener = budget.removeEventListener;
    return limited;
  }

  return { throttle, RatewindowError, QueueFullError, RateLimitError };
}

export { makeApi };
