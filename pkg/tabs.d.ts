import type { SharedStore } from "./index.js";

/** A store sharing one budget between same-origin browser tabs and workers (Web Locks + IndexedDB). */
export function tabStore(options?: { prefix?: string }): SharedStore;
