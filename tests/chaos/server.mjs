// A misbehaving HTTP server for the chaos test and the soak script. It runs in a worker thread,
// so the times at which it sees requests arrive do not depend on how busy the client's event
// loop is (the client under test runs on the main thread).
//
// At random (seeded) it answers 429 (Retry-After in seconds, a garbage Retry-After, or none),
// 500/502/503, resets the connection, stalls (never answers), sends the body slowly, closes the
// connection mid-body, or answers 200, sometimes with odd or over-long rate-limit headers.
//
// It also enforces, strictly, the rule ratewindow promises to keep: at most `limit` accepted
// arrivals in any rolling window (t - windowMs, t]. An arrival it would have served but that
// breaks the rule is answered 429 and counted as a violation. Chaos answers (429s, 5xx, resets,
// stalls) are not accepted arrivals, so they do not count toward the window; every arrival is
// also logged so the maximum over all arrivals can be reported.
import http from "node:http";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";

/** Default share of each behaviour (weights, not necessarily summing to 1). */
export const DEFAULT_MIX = Object.freeze({
  ok: 60,
  okOddHeaders: 3,
  ra429: 2, // 429 with Retry-After seconds (mostly 0 or 1; rarely over the client's cap)
  garbage429: 2, // 429 with an unreadable Retry-After
  bare429: 3, // 429 without timing
  error5xx: 6,
  reset: 5,
  stall: 3,
  slowBody: 7,
  midBodyClose: 5,
});

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence of behaviours. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Starts the server in a worker. Returns `{ url, stats(), close() }`.
 * @param {{ limit: number, windowMs: number, seed?: number, mix?: Record<string, number>,
 *   latencyMs?: [number, number], slowBodyMs?: [number, number] }} options
 */
export async function startChaosServer(options) {
  const worker = new Worker(new URL(import.meta.url), { workerData: options });
  const pending = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.on("message", (m) => {
      if (m.type === "listening") resolve(m.port);
      else if (m.type === "reply") {
        pending.get(m.id)?.(m.value);
        pending.delete(m.id);
      }
    });
  });
  const port = await ready;
  // A worker that dies must fail the test loudly, not leave a question unanswered.
  let died = null;
  const fail = (error) => {
    died = error;
    for (const resolve of pending.values()) resolve(Promise.reject(error));
    pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`chaos server worker exited (${code})`)));
  const ask = (type) =>
    new Promise((resolve, reject) => {
      if (died) return reject(died);
      const id = ++nextId;
      pending.set(id, resolve);
      worker.postMessage({ type, id });
    });
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ask("stats"),
    close: async () => {
      await ask("close");
      await worker.terminate();
    },
  };
}

// ------------------------------------------------------------------------------------------------
// The worker side
// ------------------------------------------------------------------------------------------------

/** Arrival times in a rolling window, oldest first (a plain array with a moving head). */
class RollingLog {
  constructor(windowMs) {
    this.windowMs = windowMs;
    this.times = [];
    this.head = 0;
    this.max = 0;
  }
  /** Entries in (t - windowMs, t]. */
  countAt(t) {
    while (this.head < this.times.length && this.times[this.head] <= t - this.windowMs) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }
  add(t) {
    this.times.push(t);
    this.max = Math.max(this.max, this.countAt(t));
  }
}

function runWorker({ limit, windowMs, seed = 1, mix = DEFAULT_MIX, latencyMs = [0, 15], slowBodyMs = [50, 1200] }) {
  const random = prng(seed);
  const between = ([lo, hi]) => lo + random() * (hi - lo);
  const entries = Object.entries(mix);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  const choose = () => {
    let r = random() * total;
    for (const [name, w] of entries) {
      if ((r -= w) < 0) return name;
    }
    return entries[0][0];
  };
  const accepted = new RollingLog(windowMs);
  const all = new RollingLog(windowMs);
  const counts = Object.fromEntries(entries.map(([k]) => [k, 0]));
  const stats = { arrivals: 0, accepted: 0, violations: 0, violationSamples: [], aborted: 0, counts };
  const stalled = new Set();
  const sockets = new Set();

  const send = (res, status, headers, body) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(body);
  };
  const later = (fn) => setTimeout(fn, between(latencyMs));

  const server = http.createServer((req, res) => {
    const t = performance.now();
    stats.arrivals++;
    // The client may vanish at any moment (aborts): errors on a dead connection are expected.
    req.on("error", () => {});
    res.on("error", () => {});
    all.add(t);
    // Drain any request body: it is not used, but must not block the connection.
    req.resume();
    req.on("aborted", () => stats.aborted++);
    let behaviour = choose();
    const servesNormally = ["ok", "okOddHeaders", "slowBody", "midBodyClose"].includes(behaviour);
    if (servesNormally) {
      const inWindow = accepted.countAt(t);
      if (inWindow >= limit) {
        stats.violations++;
        if (stats.violationSamples.length < 10) stats.violationSamples.push({ t, inWindow, url: req.url });
        behaviour = "violation";
      } else {
        accepted.add(t);
        stats.accepted++;
      }
    }
    counts[behaviour] = (counts[behaviour] ?? 0) + 1;
    switch (behaviour) {
      case "ok":
        return later(() => send(res, 200, {}, `ok ${req.method} ${req.url}`));
      case "okOddHeaders": {
        const odd = [
          { ratelimit: '"d";r=garbage;t=-1, (unterminated' },
          { "x-ratelimit-remaining": "5, nan, -1", "x-ratelimit-reset": "99999999999999999999999" },
          { "ratelimit-policy": "x".repeat(5000), ratelimit: " ".repeat(5000) },
          { "retry-after": "1".repeat(400) },
          { "x-ratelimit-limit": "\t", "ratelimit-reset": "1e309" },
          { "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1" },
        ][Math.floor(random() * 6)];
        return later(() => send(res, 200, odd, "ok, odd headers"));
      }
      case "violation":
        return send(res, 429, { "retry-after": "1" }, "rolling window exceeded");
      case "ra429": {
        const r = random();
        const seconds = r < 0.6 ? "0" : r < 0.95 ? "1" : "3"; // 3 s is over the client's 2 s cap
        return later(() => send(res, 429, { "retry-after": seconds }, "slow down"));
      }
      case "garbage429": {
        const values = ["soon", "-1", "1.5", "Wed, 99 Foo 2024 25:00:00 GMT", "", "0x10", "\u00b9", "+1", "1 1"];
        return later(() => send(res, 429, { "retry-after": values[Math.floor(random() * values.length)] }, "?"));
      }
      case "bare429":
        return later(() => send(res, 429, {}, "slow down"));
      case "error5xx": {
        const status = [500, 502, 503][Math.floor(random() * 3)];
        return later(() => send(res, status, {}, "server error"));
      }
      case "reset":
        return req.socket.destroy();
      case "stall":
        stalled.add(res);
        res.on("close", () => stalled.delete(res));
        return;
      case "slowBody": {
        const chunks = 2 + Math.floor(random() * 5);
        const every = between(slowBodyMs) / chunks;
        res.writeHead(200, { "content-type": "text/plain" });
        let sent = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (++sent >= chunks) return res.end("last\n");
          res.write(`chunk ${sent}\n`);
          setTimeout(tick, every);
        };
        return setTimeout(tick, every);
      }
      case "midBodyClose":
        res.writeHead(200, { "content-type": "text/plain", "content-length": "10000" });
        res.write("x".repeat(100));
        return setTimeout(() => res.socket?.destroy(), between([0, 40]));
      default:
        return send(res, 500, {}, `unknown behaviour ${behaviour}`);
    }
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  server.on("connection", (s) => {
    s.on("error", () => {});
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, "127.0.0.1", () => parentPort.postMessage({ type: "listening", port: server.address().port }));
  parentPort.on("message", (m) => {
    if (m.type === "stats") {
      const value = { ...stats, counts: { ...counts }, maxAcceptedInWindow: accepted.max, maxAllInWindow: all.max, stalledOpen: stalled.size };
      parentPort.postMessage({ type: "reply", id: m.id, value });
    } else if (m.type === "close") {
      for (const s of sockets) s.destroy();
      server.close(() => parentPort.postMessage({ type: "reply", id: m.id, value: null }));
    }
  });
  process.on("uncaughtException", (error) => {
    stats.workerErrors = (stats.workerErrors ?? 0) + 1;
    stats.lastWorkerError = String(error?.stack ?? error);
  });
}

if (!isMainThread && workerData && parentPort) runWorker(workerData);
