// A local double of a rate-limited HTTP API, for tests, benchmarks and the demo page.
//
// The rule it enforces is the one of the API ratewindow protects: at most `limit` requests per
// rolling `windowMs`, counted across every API key of an organization. A request is accepted iff
// fewer than `limit` accepted requests arrived in the half-open interval (t - windowMs, t], where
// t is the request's arrival (headers received, plus the simulated uplink delay), measured with
// `performance.now()` unless a `clock` option is given. Past the limit it answers 429; a key that
// keeps drawing 429s gets 403 "credentials disabled" until reset.
//
// Besides the generic routes it has the API's bulk operation, `POST /api/<org>/admin/bulk_actions/
// category`: a JSON array of items in, one result per item out, counted as ONE request.
//
// Only Node built-ins are used. See createApiDouble() for every option and its default.

import http from "node:http";
import { performance } from "node:perf_hooks";

/** Default options. `limit`/`windowMs` are those of the real API (200 per rolling 60 s). */
export const DEFAULT_OPTIONS = Object.freeze({
  limit: 200,
  windowMs: 60_000,
  countRejected: false,
  retryAfter: "seconds",
  rateLimitHeaders: false,
  disableAfter: 10,
  disableConsecutive: false,
  uplinkMs: 0,
  downlinkMs: 0,
  hidden: null,
  script: null,
  onArrival: null,
  clock: null,
  windowLog: false,
  cacheControl: "no-store",
});

const RETRY_AFTER_MODES = new Set(["seconds", "date", "none", "garbage"]);
const MAX_BODY_BYTES = 1 << 20;
const WINDOW_LOG_MAX = 10_000;
const HIDDEN_KEY = "__hidden__";
const ALLOWED_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
/** The bulk operation: `/api/admin/bulk_actions/category` or `/api/<org>/admin/bulk_actions/category`. */
const BULK_PATH = /^\/api\/(?:org-[^/]+\/)?admin\/bulk_actions\/category\/?$/;
const BULK_BODY_ERROR = "expected a JSON array of items (or { items: [...] })";
const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers": "Authorization, X-Api-Key, Content-Type",
  "access-control-expose-headers": "Retry-After, RateLimit, RateLimit-Policy",
  "access-control-max-age": "600",
};

/** A FIFO of numbers on a growable ring buffer: O(1) amortized push/shift, O(1) peek/length. */
class TimeQueue {
  constructor(capacity = 16) {
    this.buf = new Float64Array(capacity);
    this.head = 0;
    this.length = 0;
  }
  push(t) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.length) % this.buf.length] = t;
    this.length++;
  }
  peek() {
    return this.length ? this.buf[this.head] : undefined;
  }
  shift() {
    if (!this.length) return undefined;
    const t = this.buf[this.head];
    this.head = (this.head + 1) % this.buf.length;
    this.length--;
    return t;
  }
  /** Drops every entry <= bound (entries are non-decreasing). */
  evictUpTo(bound) {
    while (this.length && this.buf[this.head] <= bound) this.shift();
  }
  clear() {
    this.head = 0;
    this.length = 0;
  }
}

function isDelaySpec(v) {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0;
  return (
    Array.isArray(v) &&
    v.length === 2 &&
    v.every((x) => typeof x === "number" && Number.isFinite(x) && x >= 0) &&
    v[0] <= v[1]
  );
}

function sampleDelay(spec) {
  if (typeof spec === "number") return spec;
  const [min, max] = spec;
  return min + Math.random() * (max - min);
}

function isScriptEntry(e) {
  return (
    e !== null &&
    typeof e === "object" &&
    Number.isInteger(e.status) &&
    e.status >= 100 &&
    e.status <= 599 &&
    (e.headers === undefined || (e.headers !== null && typeof e.headers === "object")) &&
    (e.body === undefined || typeof e.body === "string" || typeof e.body === "object")
  );
}

/** Throws a TypeError naming the first invalid or unknown option in `partial`. */
function validateOptions(partial) {
  if (partial === null || typeof partial !== "object" || Array.isArray(partial)) {
    throw new TypeError("options must be an object");
  }
  for (const [k, v] of Object.entries(partial)) {
    const bad = (what) => {
      throw new TypeError(`option ${k}: ${what}, got ${JSON.stringify(v) ?? String(v)}`);
    };
    switch (k) {
      case "limit":
        if (!Number.isInteger(v) || v < 1) bad("expected an integer >= 1");
        break;
      case "windowMs":
        if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) bad("expected a number > 0");
        break;
      case "countRejected":
      case "rateLimitHeaders":
      case "disableConsecutive":
      case "windowLog":
        if (typeof v !== "boolean") bad("expected a boolean");
        break;
      case "retryAfter":
        if (!RETRY_AFTER_MODES.has(v)) bad(`expected one of ${[...RETRY_AFTER_MODES].join(", ")}`);
        break;
      case "disableAfter":
        if (!(v === null || v === Infinity || (Number.isInteger(v) && v >= 0))) {
          bad("expected an integer >= 0, Infinity or null (0, Infinity and null never disable)");
        }
        break;
      case "uplinkMs":
      case "downlinkMs":
        if (!isDelaySpec(v)) bad("expected a number >= 0 or [min, max] with 0 <= min <= max");
        break;
      case "hidden":
        if (v === null) break;
        if (typeof v !== "object" || !Number.isInteger(v.perWindow) || v.perWindow < 0) {
          bad("expected null or { perWindow: integer >= 0, orgs?: string[] }");
        }
        if (v.orgs !== undefined && !(Array.isArray(v.orgs) && v.orgs.every((o) => typeof o === "string"))) {
          bad("hidden.orgs must be an array of org names");
        }
        break;
      case "script":
        if (v === null) break;
        if (Array.isArray(v)) {
          if (!v.every(isScriptEntry)) bad("expected entries { status, headers?, body? }");
        } else if (typeof v === "object") {
          for (const list of Object.values(v)) {
            if (!Array.isArray(list) || !list.every(isScriptEntry)) {
              bad("expected { [path]: [{ status, headers?, body? }, ...] }");
            }
          }
        } else bad("expected null, an array or an object of arrays");
        break;
      case "onArrival":
      case "clock":
        if (v !== null && typeof v !== "function") bad("expected a function or null");
        break;
      case "cacheControl":
        if (v !== null && !(typeof v === "string" && /^[\x20-\x7e]+$/.test(v) && v.trim() !== "")) {
          bad("expected null or a Cache-Control value (printable ASCII, not empty)");
        }
        break;
      default:
        throw new TypeError(`unknown option ${k}`);
    }
  }
}

/** Reads the API key: `Authorization: Bearer <key>`, else `X-Api-Key`, else "anonymous". */
function readKey(req) {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = req.headers["x-api-key"];
  if (typeof x === "string" && x.trim() !== "") return x.trim();
  return "anonymous";
}

/** The org of an /api/ path: its first segment when that starts with "org-", else "default". */
function orgOfPath(pathname) {
  const first = pathname.slice("/api/".length).split("/")[0];
  return first.startsWith("org-") ? first : "default";
}

/** Writes a JSON answer; a header given as null is left out (`"cache-control": null`: none). */
function sendJson(res, status, obj, headers = {}) {
  if (res.writableEnded || res.destroyed) return;
  const body = JSON.stringify(obj);
  const all = {
    ...CORS_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...headers,
  };
  for (const [name, value] of Object.entries(all)) if (value === null || value === undefined) delete all[name];
  res.writeHead(status, all);
  res.end(body);
}

/**
 * The items of a bulk call's body: a JSON array, or `{ items: [...] }` (answered as
 * `{ results: [...] }`). Returns { items, wrapped } or null when the body is neither.
 */
function parseBulkBody(text) {
  let parsed;
  try {
    parsed = JSON.parse(text ?? "");
  } catch {
    return null;
  }
  if (Array.isArray(parsed)) return { items: parsed, wrapped: false };
  if (parsed !== null && typeof parsed === "object" && Array.isArray(parsed.items)) {
    return { items: parsed.items, wrapped: true };
  }
  return null;
}

/** One item's result: `{ ok: true, id }`, or `{ ok: false, id, error }` for an item without an id. */
function bulkItemResult(item) {
  const id = item !== null && typeof item === "object" && !Array.isArray(item) ? item.id : undefined;
  const valid = (typeof id === "string" && id !== "") || (typeof id === "number" && Number.isFinite(id));
  return valid ? { ok: true, id } : { ok: false, id: null, error: "an item needs an id (a string or a number)" };
}

/**
 * Creates an API double.
 *
 * Options (all optional; `setOptions(partial)` and `POST /__config` accept the same, minus the
 * functions, and reject unknown names):
 * - `limit` (200): accepted requests per rolling window, per org.
 * - `windowMs` (60000): window length.
 * - `countRejected` (false): when true, rejected arrivals (429, 403) also occupy the window.
 * - `retryAfter` ("seconds"): Retry-After on 429s: "seconds" (integer, rounded up, time until
 *   the oldest arrival leaves the window), "date" (IMF-fixdate, rounded up to the next whole
 *   second), "none" (no header), "garbage" (`soon`).
 * - `rateLimitHeaders` (false): when true every /api/ response carries
 *   `RateLimit-Policy: "default";q=<limit>;w=<ceil(windowMs/1000)>` and
 *   `RateLimit: "default";r=<remaining>;t=<seconds until a slot frees, 0 if remaining > 0>`.
 * - `disableAfter` (10): after this many 429s served to one key of one org, that key gets 403
 *   `{"error":"credentials disabled"}` until reset. 0, null or Infinity: never.
 * - `disableConsecutive` (false): when true, only consecutive 429s count (a 2xx resets the count).
 * - `uplinkMs` (0): delay between the request's headers arriving and it being counted;
 *   a number or [min, max] (uniform).
 * - `downlinkMs` (0): delay between counting and writing the response; number or [min, max].
 * - `hidden` (null): `{ perWindow: n, orgs?: [...] }`: a hidden consumer of the same org spending
 *   n arrivals of the budget per window, evenly spread (accepted only while there is room);
 *   applies to `orgs` if given, else to every org seen so far (always including "default").
 * - `script` (null): canned responses served before normal handling, bypassing the window and
 *   the key counters. An array `[{ status, headers?, body? }, ...]` is consumed in order
 *   separately by each request path (each distinct path gets the whole sequence); an object
 *   `{ "/api/x": [...] }` scripts only the paths named. `body` is a string or JSON value.
 * - `onArrival` (null): `(info) => void`, called at each counted arrival with
 *   `{ t, wallMs, index, org, key, method, path, outcome, status, inWindow }`, outcome being
 *   "accepted" | "rejected429" | "forbidden403" | "scripted" | "hidden" | "hiddenRejected".
 * - `clock` (null): `() => ms`, replaces `performance.now()` (for deterministic tests).
 * - `windowLog` (false): when true, stats() includes `windowLog`, the last 10000 arrivals as
 *   `{ t, org, key, outcome }`.
 * - `cacheControl` ("no-store"): the `Cache-Control` of the 200 answers to GET requests, e.g.
 *   `"private, max-age=60"` to let clients cache them; null sends none. Every other answer
 *   (writes, bulk calls, 429, 403, errors, scripted answers, control routes) stays `no-store`.
 *
 * Orgs: an /api/ path whose first segment starts with "org-" (`/api/org-a/...`) is counted in that
 * org's own window; any other /api/ path belongs to org "default". Keys are read from
 * `Authorization: Bearer <key>`, else `X-Api-Key`, else "anonymous".
 *
 * Routes (handler): GET|POST|PUT|PATCH|DELETE /api/* (the limited API; 200 answers
 * `{ ok, n, org, key, method, path, query, body }`), GET /__stats, POST /__reset,
 * GET|POST /__config, OPTIONS anything (CORS preflight). All responses allow any origin.
 *
 * Bulk: `POST /api/[<org>/]admin/bulk_actions/category` with a JSON array of items (each with an
 * `id`) is one arrival in the window, however many items it carries, like the real API's bulk
 * operation. Accepted, it answers a JSON array with one result per item, in order: `{ ok: true,
 * id }`, or `{ ok: false, id: null, error }` for an item without an id. A body
 * `{ items: [...] }` is answered `{ results: [...] }`. A body that is neither gets 400 (the
 * arrival still counted); other methods on that path get 405 (not counted). stats() counts the
 * accepted bulk calls (`bulkRequests`) and their items (`bulkItems`), in total and per org.
 */
export function createApiDouble(options = {}) {
  validateOptions(options);
  const opts = { ...DEFAULT_OPTIONS, ...options };
  const now = () => (opts.clock ? opts.clock() : performance.now());

  const orgs = new Map();
  const timers = new Set();
  let server = null;
  let closed = false;
  let counters;
  let scriptCursors;
  let windowLog;
  let hiddenTimer = null;
  let hiddenStart = 0;
  let hiddenDone = 0;

  function resetState() {
    orgs.clear();
    getOrg("default");
    counters = {
      arrivals: 0,
      accepted: 0,
      rejected429: 0,
      forbidden403: 0,
      scripted: 0,
      hiddenAccepted: 0,
      hiddenRejected: 0,
      bulkRequests: 0,
      bulkItems: 0,
    };
    scriptCursors = new Map();
    windowLog = [];
    hiddenStart = now();
    hiddenDone = 0;
  }

  function getOrg(name) {
    let org = orgs.get(name);
    if (!org) {
      org = {
        window: new TimeQueue(), // what counts toward the limit
        acceptedLog: new TimeQueue(), // accepted arrivals only, for maxInWindow
        lastT: -Infinity,
        arrivals: 0,
        accepted: 0,
        rejected429: 0,
        forbidden403: 0,
        scripted: 0,
        hiddenAccepted: 0,
        bulkRequests: 0,
        bulkItems: 0,
        maxInWindow: 0,
        keys: new Map(), // key -> { accepted, rejected429, forbidden403, strikes, disabled }
      };
      orgs.set(name, org);
    }
    return org;
  }

  function keyState(org, key) {
    let k = org.keys.get(key);
    if (!k) {
      k = { accepted: 0, rejected429: 0, forbidden403: 0, strikes: 0, disabled: false };
      org.keys.set(key, k);
    }
    return k;
  }

  function setTimer(fn, ms) {
    const h = setTimeout(() => {
      timers.delete(h);
      fn();
    }, ms);
    h.unref?.();
    timers.add(h);
    return h;
  }

  /** Arrival time on the org's clock, clamped to be non-decreasing so the queues stay sorted. */
  function arrivalTime(org) {
    const t = Math.max(now(), org.lastT);
    org.lastT = t;
    return t;
  }

  function recordAccepted(org, t) {
    org.window.push(t);
    // The window queue may also hold rejected arrivals (countRejected): maxInWindow is kept on a
    // queue of accepted arrivals only. The count only grows at an accepted arrival, so checking
    // there finds the exact maximum over every rolling window.
    org.acceptedLog.evictUpTo(t - opts.windowMs);
    org.acceptedLog.push(t);
    if (org.acceptedLog.length > org.maxInWindow) org.maxInWindow = org.acceptedLog.length;
  }

  function log(entry) {
    if (!opts.windowLog) return;
    windowLog.push(entry);
    if (windowLog.length >= 2 * WINDOW_LOG_MAX) windowLog.splice(0, windowLog.length - WINDOW_LOG_MAX);
  }

  function notify(info) {
    log({ t: info.t, org: info.org, key: info.key, outcome: info.outcome });
    if (!opts.onArrival) return;
    try {
      opts.onArrival(info);
    } catch (err) {
      process.emitWarning(`api-double onArrival threw: ${err?.stack ?? err}`);
    }
  }

  /** Milliseconds until the oldest entry of the org's window leaves it (0 if the window is empty). */
  function msUntilOldestLeaves(org, t) {
    const oldest = org.window.peek();
    return oldest === undefined ? 0 : Math.max(0, oldest + opts.windowMs - t);
  }

  function rateLimitHeaders(org, t) {
    if (!opts.rateLimitHeaders) return {};
    const remaining = Math.max(0, opts.limit - org.window.length);
    const reset = remaining > 0 ? 0 : Math.ceil(msUntilOldestLeaves(org, t) / 1000);
    return {
      "ratelimit-policy": `"default";q=${opts.limit};w=${Math.ceil(opts.windowMs / 1000)}`,
      ratelimit: `"default";r=${remaining};t=${reset}`,
    };
  }

  function retryAfterHeader(org, t, wallMs) {
    const wait = msUntilOldestLeaves(org, t);
    switch (opts.retryAfter) {
      case "seconds":
        return { "retry-after": String(Math.max(1, Math.ceil(wait / 1000))) };
      case "date":
        return { "retry-after": new Date(Math.ceil((wallMs + wait) / 1000) * 1000).toUTCString() };
      case "garbage":
        return { "retry-after": "soon" };
      default:
        return {};
    }
  }

  function nextScripted(pathname) {
    const script = opts.script;
    if (!script) return null;
    const list = Array.isArray(script) ? script : script[pathname];
    if (!Array.isArray(list)) return null;
    const i = scriptCursors.get(pathname) ?? 0;
    if (i >= list.length) return null;
    scriptCursors.set(pathname, i + 1);
    return list[i];
  }

  /**
   * Counts one arrival and decides its response. Returns { status, headers, body } where body is a
   * JSON value or a string.
   */
  function decide(req, pathname, query, key, orgName) {
    const org = getOrg(orgName);
    const t = arrivalTime(org);
    const wallMs = Date.now();
    counters.arrivals++;
    org.arrivals++;
    const index = counters.arrivals;
    const base = { t, wallMs, index, org: orgName, key, method: req.method, path: pathname };

    const scripted = nextScripted(pathname);
    if (scripted) {
      counters.scripted++;
      org.scripted++;
      notify({ ...base, outcome: "scripted", status: scripted.status, inWindow: org.window.length });
      const body =
        scripted.body !== undefined
          ? scripted.body
          : scripted.status === 429
            ? { error: "rate limited", scripted: true }
            : { ok: scripted.status < 400, scripted: true, n: index };
      return { status: scripted.status, headers: { ...(scripted.headers ?? {}) }, body };
    }

    org.window.evictUpTo(t - opts.windowMs);
    const ks = keyState(org, key);
    const disableAfter = opts.disableAfter;
    const disabling = Number.isInteger(disableAfter) && disableAfter > 0;

    if (disabling && ks.disabled) {
      counters.forbidden403++;
      org.forbidden403++;
      ks.forbidden403++;
      if (opts.countRejected) org.window.push(t);
      notify({ ...base, outcome: "forbidden403", status: 403, inWindow: org.window.length });
      return {
        status: 403,
        headers: rateLimitHeaders(org, t),
        body: { error: "credentials disabled" },
      };
    }

    if (org.window.length >= opts.limit) {
      counters.rejected429++;
      org.rejected429++;
      ks.rejected429++;
      ks.strikes++;
      if (disabling && ks.strikes >= disableAfter) ks.disabled = true;
      const headers = { ...retryAfterHeader(org, t, wallMs) };
      if (opts.countRejected) org.window.push(t);
      Object.assign(headers, rateLimitHeaders(org, t));
      notify({ ...base, outcome: "rejected429", status: 429, inWindow: org.window.length });
      return { status: 429, headers, body: { error: "rate limited" } };
    }

    recordAccepted(org, t);
    counters.accepted++;
    org.accepted++;
    ks.accepted++;
    if (opts.disableConsecutive) ks.strikes = 0;
    notify({ ...base, outcome: "accepted", status: 200, inWindow: org.window.length });
    return {
      status: 200,
      accepted: true,
      headers: rateLimitHeaders(org, t),
      body: { ok: true, n: index, org: orgName, key, method: req.method, path: pathname, query },
    };
  }

  function hiddenTick() {
    const h = opts.hidden;
    if (!h || !h.perWindow) return;
    const interval = opts.windowMs / h.perWindow;
    const due = Math.floor((now() - hiddenStart) / interval);
    const names = h.orgs ?? [...orgs.keys()];
    for (; hiddenDone < due; hiddenDone++) {
      for (const name of names) {
        const org = getOrg(name);
        const t = arrivalTime(org);
        org.window.evictUpTo(t - opts.windowMs);
        const base = { t, wallMs: Date.now(), index: 0, org: name, key: HIDDEN_KEY, method: null, path: null };
        if (org.window.length < opts.limit) {
          recordAccepted(org, t);
          counters.hiddenAccepted++;
          org.hiddenAccepted++;
          notify({ ...base, outcome: "hidden", status: 200, inWindow: org.window.length });
        } else {
          counters.hiddenRejected++;
          if (opts.countRejected) org.window.push(t);
          notify({ ...base, outcome: "hiddenRejected", status: 429, inWindow: org.window.length });
        }
      }
    }
  }

  function restartHidden() {
    if (hiddenTimer) clearInterval(hiddenTimer);
    hiddenTimer = null;
    hiddenStart = now();
    hiddenDone = 0;
    const h = opts.hidden;
    if (closed || !h || !h.perWindow) return;
    for (const name of h.orgs ?? []) getOrg(name);
    const interval = opts.windowMs / h.perWindow;
    hiddenTimer = setInterval(hiddenTick, Math.max(1, Math.min(interval, 1000) / 2));
    hiddenTimer.unref?.();
  }

  function readBody(req, cb) {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", () => cb(null, tooBig ? null : Buffer.concat(chunks).toString("utf8"), tooBig));
    req.on("error", (err) => cb(err));
  }

  /** Answers an accepted bulk call: one result per item, or 400 for a body that holds no items. */
  function answerBulk(res, orgName, headers, bodyText) {
    const parsed = parseBulkBody(bodyText);
    if (!parsed) return sendJson(res, 400, { error: BULK_BODY_ERROR }, headers);
    const results = parsed.items.map(bulkItemResult);
    const org = getOrg(orgName);
    counters.bulkRequests++;
    counters.bulkItems += results.length;
    org.bulkRequests++;
    org.bulkItems += results.length;
    sendJson(res, 200, parsed.wrapped ? { results } : results, headers);
  }

  function handleApi(req, res, url) {
    const pathname = url.pathname;
    const query = url.search;
    const key = readKey(req);
    const orgName = orgOfPath(pathname);
    const bulk = BULK_PATH.test(pathname);
    let decision = null;
    let bodyText;
    let bodyDone = false;
    let bodyTooBig = false;
    let downlinkDone = false;

    const finish = () => {
      if (!decision || !bodyDone || !downlinkDone) return;
      if (res.writableEnded || res.destroyed) return;
      if (bodyTooBig) return sendJson(res, 413, { error: "body too large" });
      const { status, headers, body, accepted } = decision;
      if (accepted && bulk) return answerBulk(res, orgName, headers, bodyText);
      if (accepted) {
        body.body = bodyText ? bodyText : null;
        if (req.method === "GET") headers["cache-control"] = opts.cacheControl;
      }
      if (typeof body === "string") {
        res.writeHead(status, {
          ...CORS_HEADERS,
          "content-type": "text/plain; charset=utf-8",
          "content-length": Buffer.byteLength(body),
          "cache-control": "no-store",
          ...headers,
        });
        res.end(body);
      } else sendJson(res, status, body, headers);
    };

    readBody(req, (err, text, tooBig) => {
      if (err) return; // the client went away; nothing to answer
      bodyText = text;
      bodyTooBig = tooBig;
      bodyDone = true;
      finish();
    });

    const count = () => {
      decision = decide(req, pathname, query, key, orgName);
      const down = sampleDelay(opts.downlinkMs);
      if (down > 0) {
        setTimer(() => {
          downlinkDone = true;
          finish();
        }, down);
      } else {
        downlinkDone = true;
        finish();
      }
    };

    const up = sampleDelay(opts.uplinkMs);
    if (up > 0) setTimer(count, up);
    else count();
  }

  function handleConfig(req, res) {
    if (req.method === "GET") return sendJson(res, 200, publicOptions());
    readBody(req, (err, text, tooBig) => {
      if (err) return;
      if (tooBig) return sendJson(res, 413, { error: "body too large" });
      let partial;
      try {
        partial = text ? JSON.parse(text) : {};
      } catch {
        return sendJson(res, 400, { error: "body is not JSON" });
      }
      try {
        api.setOptions(partial);
      } catch (e) {
        return sendJson(res, 400, { error: e.message });
      }
      sendJson(res, 200, publicOptions());
    });
  }

  function publicOptions() {
    const out = {};
    for (const [k, v] of Object.entries(opts)) {
      if (typeof v === "function") out[k] = "[function]";
      else if (v === Infinity) out[k] = "Infinity";
      else out[k] = v;
    }
    return out;
  }

  function handler(req, res) {
    let url;
    try {
      url = new URL(req.url ?? "/", "http://double.invalid");
    } catch {
      return sendJson(res, 400, { error: "bad url" });
    }
    const p = url.pathname;
    if (req.method === "OPTIONS") {
      req.resume();
      res.writeHead(204, { ...CORS_HEADERS, "content-length": 0 });
      return res.end();
    }
    if (p.startsWith("/api/")) {
      if (!ALLOWED_METHODS.has(req.method)) {
        req.resume();
        return sendJson(res, 405, { error: "method not allowed" }, { allow: [...ALLOWED_METHODS].join(", ") });
      }
      if (req.method !== "POST" && BULK_PATH.test(p)) {
        req.resume();
        return sendJson(res, 405, { error: "method not allowed: the bulk operation takes POST" }, { allow: "POST" });
      }
      return handleApi(req, res, url);
    }
    if (p === "/__stats" && (req.method === "GET" || req.method === "HEAD")) {
      req.resume();
      return sendJson(res, 200, api.stats());
    }
    if (p === "/__reset" && req.method === "POST") {
      req.resume();
      api.reset();
      return sendJson(res, 200, { ok: true });
    }
    if (p === "/__config" && (req.method === "POST" || req.method === "GET")) {
      return handleConfig(req, res);
    }
    req.resume();
    if (p === "/__stats" || p === "/__reset" || p === "/__config") {
      return sendJson(res, 405, { error: "method not allowed" });
    }
    return sendJson(res, 404, { error: "not found" });
  }

  const api = {
    handler,

    /** Starts an HTTP server for the double. Resolves { port, url } (url has no trailing slash). */
    listen(port = 0, host = "127.0.0.1") {
      if (server) return Promise.reject(new Error("api double already listening"));
      closed = false;
      if (!hiddenTimer) restartHidden();
      const s = http.createServer(handler);
      s.keepAliveTimeout = 5_000;
      return new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, host, () => {
          s.off("error", reject);
          server = s;
          const actual = s.address().port;
          const h = host.includes(":") ? `[${host}]` : host;
          resolve({ port: actual, url: `http://${h}:${actual}` });
        });
      });
    },

    /** Stops the server (if listening), drops its connections and clears every timer. */
    close() {
      closed = true;
      if (hiddenTimer) clearInterval(hiddenTimer);
      hiddenTimer = null;
      for (const h of timers) clearTimeout(h);
      timers.clear();
      const s = server;
      server = null;
      if (!s) return Promise.resolve();
      return new Promise((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },

    /** Empties every window, counter, disabled key and script cursor; options are kept. */
    reset() {
      resetState();
      if (opts.hidden) restartHidden();
    },

    /** Merges `partial` into the options (validated; unknown names throw a TypeError). */
    setOptions(partial) {
      validateOptions(partial);
      Object.assign(opts, partial);
      if ("script" in partial) scriptCursors = new Map();
      if ("hidden" in partial || "windowMs" in partial) restartHidden();
    },

    /** The current options (a copy). */
    options() {
      return { ...opts };
    },

    stats() {
      const t = now();
      const perKey = {};
      const disabledKeys = [];
      const orgStats = {};
      let maxInWindow = 0;
      for (const [name, org] of orgs) {
        org.window.evictUpTo(t - opts.windowMs);
        const orgPerKey = {};
        const orgDisabled = [];
        for (const [key, k] of org.keys) {
          const entry = { accepted: k.accepted, rejected429: k.rejected429, forbidden403: k.forbidden403 };
          orgPerKey[key] = entry;
          const q = name === "default" ? key : `${name}:${key}`;
          perKey[q] = { ...entry };
          if (k.disabled) {
            orgDisabled.push(key);
            disabledKeys.push(q);
          }
        }
        maxInWindow = Math.max(maxInWindow, org.maxInWindow);
        orgStats[name] = {
          arrivals: org.arrivals,
          accepted: org.accepted,
          rejected429: org.rejected429,
          forbidden403: org.forbidden403,
          scripted: org.scripted,
          hiddenAccepted: org.hiddenAccepted,
          bulkRequests: org.bulkRequests,
          bulkItems: org.bulkItems,
          inWindow: org.window.length,
          maxInWindow: org.maxInWindow,
          disabledKeys: orgDisabled,
          perKey: orgPerKey,
        };
      }
      const out = {
        ...counters,
        maxInWindow,
        disabledKeys,
        perKey,
        orgs: orgStats,
        limit: opts.limit,
        windowMs: opts.windowMs,
      };
      if (opts.windowLog) out.windowLog = windowLog.slice(-WINDOW_LOG_MAX);
      return out;
    },
  };

  resetState();
  restartHidden();
  return api;
}

export default createApiDouble;
