// Runs a few calls through `throttle` against the same-origin endpoint and leaves the outcome in
// window.__result. Imports the package dynamically, after violations.js is listening.
const out = { ok: false };
try {
  const { throttle, RateLimitError } = await import("/pkg/browser.js");
  const limited = throttle(fetch, { limit: 3, windowMs: 300, retry: { limit: 1, baseMs: 10, maxMs: 20 } });
  let sentEvents = 0;
  limited.addEventListener("sent", () => sentEvents++);
  const t0 = performance.now();
  out.statuses = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      limited(`/api/items/${i}`, { method: i % 3 === 0 ? "POST" : "GET", body: i % 3 === 0 ? `{"i":${i}}` : undefined })
        .then(async (r) => (await r.text(), r.status)),
    ),
  );
  out.elapsedMs = performance.now() - t0;
  out.scheduled = await limited.schedule(() => fetch("/api/scheduled").then((r) => r.status));
  // An aborted call and a bad option behave as in Node.
  try {
    await limited("/api/aborted", { signal: AbortSignal.abort(new Error("mine")) });
  } catch (e) {
    out.aborted = e.message;
  }
  try {
    throttle(fetch, { limit: 0 });
  } catch (e) {
    out.badOption = `${e.name}: ${e.message}`;
  }
  const waiter = throttle(fetch, { limit: 1, windowMs: 60_000, maxWaitMs: 10 });
  await (await waiter("/api/first")).text();
  try {
    await waiter("/api/second");
  } catch (e) {
    out.maxWait = e instanceof RateLimitError ? "RateLimitError" : String(e);
  }
  out.stats = limited.stats();
  out.sentEvents = sentEvents;
  out.ok = true;
} catch (e) {
  out.error = `${e?.name}: ${e?.message}`;
}
window.__result = out;
document.getElementById("status").textContent = out.ok ? "done" : `failed: ${out.error}`;
