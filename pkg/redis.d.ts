import type { SharedStore } from "./index.js";

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Key prefix; keys are `{prefix:key}:held|settled|pause` (one Redis Cluster hash slot).
   * @default "ratewindow"
   */
  prefix?: string;
  /**
   * Lease of an in-flight slot: a request whose process died counts as completed after this.
   * @default 300000
   */
  holdMs?: number;
  /**
   * A Redis command slower than this counts as a store failure (see `onStoreError`).
   * @default 1000
   */
  timeoutMs?: number;
}

/** The subset of an ioredis client used. */
export interface IoRedisLike {
  call(...args: (string | number)[]): Promise<unknown>;
}

/** The subset of a node-redis (v4+) client used. */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** A store sharing one budget through Redis (ioredis or node-redis v4+). */
export function redisStore(client: IoRedisLike | NodeRedisLike, options?: RedisStoreOptions): SharedStore;
