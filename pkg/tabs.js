// ratewindow/tabs: one budget shared by the same-origin tabs and workers of a browser.
//
// The slot log lives in IndexedDB and every decision runs under one Web Lock, so decisions
// are atomic across tabs and workers (both have IndexedDB and Web Locks). Each tab or worker
// also holds a lock of its own for as long as it lives: the browser releases it when the tab
// closes, the worker ends or either crashes, and the next decision counts its in-flight
// requests as completed at that moment (their slots free one window later), so nobody can
// wedge the others. Waits are computed from the log (when the next slot frees), not polled.
// This file is ESM with no imports and one final export.

/**
 * A shared store for `throttle(fetch, { key, store: tabStore() })` in browsers.
 * @param {{ prefix?: string }} [options] prefix of the lock and storage names (default "ratewindow")
 */
function tabStore(options = {}) {
  if (options === null || typeof options !== "object") throw new TypeError("ratewindow/tabs: options must be an object");
  const prefix = options.prefix ?? "ratewindow";
  if (typeof prefix !== "string" || prefix === "") throw new TypeError("ratewindow/tabs: `prefix` must be a non-empty string");
  if (typeof navigator === "undefined" || !navigator.locks || typeof indexedDB === "undefined") {
    throw new TypeError("ratewindow/tabs: needs the Web Locks API and IndexedDB (a browser tab or worker)");
  }
  // One database per prefix, one record per budget key.
  const db = new Promise((resolve, reject) => {
    const open = indexedDB.open(`${prefix}-budgets`, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("budgets");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const request = (mode, act) =>
    db.then(
      (d) =>
        new Promise((resolve, reject) => {
          const tx = d.transaction("budgets", mode);
          const req = act(tx.objectStore("budgets"));
          tx.oncomplete = () => resolve(req.result);
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error);
        }),
    );

  return {
    /** Called by `throttle` with the budget's key, windows and margin. */
    bind({ key, windows, marginMs }) {
      const name = `${prefix}:${key}`;
      const tab = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
      const tabLock = (id) => `${name}:tab:${id}`;
      const maxWindow = Math.max(...windows.map((w) => w[1]));
      // Held until this tab goes away (the browser releases it then) or the budget is released.
      let releaseTab;
      navigator.locks.request(tabLock(tab), () => new Promise((resolve) => (releaseTab = resolve)));

      const load = async () => {
        const s = await request("readonly", (store) => store.get(name));
        if (s && typeof s === "object" && Array.isArray(s.settled) && s.held && typeof s.held === "object") return s;
        // Missing or corrupt: start afresh (it is replaced below).
        return { held: {}, settled: [], pause: 0 };
      };

      const withState = (fn) =>
        navigator.locks.request(name, async () => {
          const state = await load();
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
          await request("readwrite", (store) => store.put(state, name));
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
        /** The budget was released (dispose()): let go of this tab's lifetime lock. */
        close() {
          releaseTab?.();
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
