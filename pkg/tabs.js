// ratewindow/tabs: one budget shared by the same-origin tabs of a browser.
//
// The slot log lives in localStorage and every decision runs under one Web Lock, so decisions
// are atomic across tabs. Each tab also holds a lock of its own for as long as it lives: the
// browser releases it when the tab closes or crashes, and the next decision counts that tab's
// in-flight requests as completed at that moment (their slots free one window later), so a tab
// that closes mid-request cannot wedge the others. Waits are computed from the log (when the
// next slot frees), not polled. Not available in workers (no localStorage there).
// This file is ESM with no imports and one final export.

/**
 * A shared store for `throttle(fetch, { key, store: tabStore() })` in browsers.
 * @param {{ prefix?: string }} [options] prefix of the lock and storage names (default "ratewindow")
 */
function tabStore(options = {}) {
  if (options === null || typeof options !== "object") throw new TypeError("ratewindow/tabs: options must be an object");
  const prefix = options.prefix ?? "ratewindow";
  if (typeof prefix !== "string" || prefix === "") throw new TypeError("ratewindow/tabs: `prefix` must be a non-empty string");
  if (typeof navigator === "undefined" || !navigator.locks || typeof localStorage === "undefined") {
    throw new TypeError("ratewindow/tabs: needs the Web Locks API and localStorage (a browser window)");
  }

  return {
    /** Called by `throttle` with the budget's key, windows and margin. */
    bind({ key, windows, marginMs }) {
      const name = `${prefix}:${key}`;
      const tab = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
      const tabLock = (id) => `${name}:tab:${id}`;
      const maxWindow = Math.max(...windows.map((w) => w[1]));
      // Held until this tab goes away; the browser releases it then.
      navigator.locks.request(tabLock(tab), () => new Promise(() => {}));

      const load = () => {
        try {
          const s = JSON.parse(localStorage.getItem(name));
          if (s && typeof s === "object" && Array.isArray(s.settled) && s.held && typeof s.held === "object") return s;
        } catch {
          // A corrupt entry is replaced below.
        }
        return { held: {}, settled: [], pause: 0 };
      };

      const withState = (fn) =>
        navigator.locks.request(name, async () => {
          const state = load();
          const now = Date.now();
          const members = Object.keys(state.held);
          if (members.length) {
            const live = new Set(((await navigator.locks.query()).held || []).map((l) => l.name));
            for (const m of members) {
              const h = state.held[m];
              if (h.tab !== tab && !live.has(tabLock(h.tab))) {
                delete state.held[m];
                insert(state.settled, now);
              }
            }
          }
          while (state.settled.length && state.settled[0] <= now - maxWindow) state.settled.shift();
          const result = fn(state, now);
          localStorage.setItem(name, JSON.stringify(state));
          return result;
        });

      return {
        acquire(member) {
          return withState((state, now) => {
            if (state.pause > now) return state.pause - now;
            const held = Object.keys(state.held).length;
            let wait = 0;
            for (const [limit, w] of windows) {
              const first = state.settled.findIndex((t) => t > now - w);
              const recent = first < 0 ? 0 : state.settled.length - first;
              if (held + recent < limit) continue;
              // All in flight: the next frees a window after one completes, not known yet:
              // look again after a twentieth of the window.
              const next = held >= limit ? Math.max(20, Math.floor(w / 20)) : state.settled[first + held + recent - limit] + w - now;
              wait = Math.max(wait, next);
            }
            if (wait > 0) return wait;
            state.held[member] = { tab, at: now };
            return 0;
          });
        },
        settle(member) {
          return withState((state, now) => {
            if (state.held[member]) {
              delete state.held[member];
              insert(state.settled, now + marginMs);
            }
          });
        },
        pause(ms) {
          return withState((state, now) => {
            state.pause = Math.max(state.pause, now + Math.ceil(ms));
          });
        },
      };
    },
  };
}

/** Inserts into a sorted array (settle times are nearly always the newest). */
function insert(sorted, t) {
  let i = sorted.length;
  while (i > 0 && sorted[i - 1] > t) i--;
  sorted.splice(i, 0, t);
}

export { tabStore };
