// A dedicated module worker sharing the tabs' budget through tabStore.
import { throttle } from "/pkg/browser.js";
import { tabStore } from "/pkg/tabs.js";

self.onmessage = async ({ data }) => {
  const limited = throttle(fetch, { key: data.key, limit: data.limit, windowMs: data.windowMs, store: tabStore({ prefix: "rwtest" }) });
  const statuses = await Promise.all(
    Array.from({ length: data.n }, (_, i) => limited(`/api/${data.tag}/${i}`).then((r) => r.status, (e) => String(e))),
  );
  self.postMessage(statuses);
};
// Imports (and the Wasm start-up) are done: ask for work.
self.postMessage("ready");
