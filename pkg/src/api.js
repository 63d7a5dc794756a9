// The JS side of ratewindow: loads nothing itself (the entry files hand it the Wasm exports) and
// only adapts fetch's calling convention to the Wasm `Throttle`, whose Rust core makes every
// decision. This file is ESM; the build derives the CommonJS copy from it.

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

  const hasRequest = typeof Request === "function";
  const isStream = (body) =>
    typeof ReadableStream === "function" && body instanceof ReadableStream;

  /**
   * Turns (input, init) into a replayable `send()` for the Wasm loop, failing the way fetch
   * would for input fetch itself rejects (a used body, a locked stream, a bad URL).
   */
  async function prepare(fetchFn, input, init) {
    if (init !== undefined && init !== null && typeof init !== "object") {
      throw new TypeError("ratewindow: `init` must be an object when given");
    }
    const isRequest = hasRequest && input instanceof Request;
    let options = init == null ? undefined : { ...init };
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
    const send = isRequest
      ? () => fetchFn(input.clone(), options)
      : () => fetchFn(input, options);
    return { send, method, signal };
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
    const core = new wasm.Throttle(options);
    const limited = async function limited(input, init) {
      const { send, method, signal } = await prepare(fetchFn, input, init);
      return core.run(send, method, signal);
    };
    limited.stats = () => core.stats();
    return limited;
  }

  return { throttle, RatewindowError };
}

export { makeApi };
