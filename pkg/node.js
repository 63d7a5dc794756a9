// Node ESM entry: instantiates the Wasm synchronously from the file next to it (no init step).
import { readFileSync } from "node:fs";
import { initSync, Throttle } from "./gen/web/ratewindow.js";
import { makeApi } from "./src/api.js";

initSync({ module: readFileSync(new URL("./gen/web/ratewindow_bg.wasm", import.meta.url)) });

export const { throttle, batcher, RatewindowError, QueueFullError, RateLimitError, StoreError } = makeApi({ Throttle });
