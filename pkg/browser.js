// Browser (and bundler) entry: top-level await loads the Wasm, so importers need no init step.
import init, { Throttle } from "./gen/web/ratewindow.js";
import { makeApi } from "./src/api.js";

await init({ module_or_path: new URL("./gen/web/ratewindow_bg.wasm", import.meta.url) });

export const { throttle, batcher, RatewindowError, QueueFullError, RateLimitError, StoreError } = makeApi({ Throttle });
