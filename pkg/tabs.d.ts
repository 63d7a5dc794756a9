import type { SharedStore } from "./index.js";

/** A store sharing one budget between same-origin browser tabs (Web Locks + localStorage). */
export function tabStore(options?: { prefix?: string }): SharedStore;
