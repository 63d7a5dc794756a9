// ratewindow/redis: one budget shared by processes and machines through Redis.
//
// Every decision is one atomic round trip (a Lua script, EVALSHA with a fallback to EVAL) on
// three keys with a Redis Cluster hash tag, timed by Redis' own TIME so machine clocks do not
// matter:
//   {prefix:key}:held     sorted set: requests in flight, scored by their lease expiry
//   {prefix:key}:settled  sorted set: completed requests, scored by completion time (+ margin)
//   {prefix:key}:pause    a 429 seen by anyone pauses everyone until this time
// The rule is the one of the Rust core: a request holds its slot until it completes and the
// slot frees one window after that. A denied process is told exactly when the next slot frees;
// only while every slot is in flight (when that time is not known yet) does it look again,
// after a twentieth of the window. A process that dies mid-request cannot wedge the others:
// its slots count as completed when their lease (`holdMs`) expires. Keys expire when unused.
// This file is ESM with no imports and one final export (the build derives the CommonJS copy).

const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[2])
local maxw = tonumber(ARGV[3])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause > now then return pause - now end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES')
for i = 1, #dead, 2 do
  redis.call('ZADD', KEYS[2], dead[i + 1], dead[i])
  redis.call('ZREM', KEYS[1], dead[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - maxw)
local held = redis.call('ZCARD', KEYS[1])
local wait = 0
for i = 4, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local w = tonumber(ARGV[i + 1])
  local since = '(' .. (now - w)
  local recent = redis.call('ZCOUNT', KEYS[2], since, '+inf')
  if held + recent >= limit then
    if held >= limit then
      -- Every slot is in flight: the next frees one window after one of them completes,
      -- which we cannot know yet; look again after a twentieth of the window.
      wait = math.max(wait, math.max(20, math.floor(w / 20)))
    else
      local e = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', held + recent - limit, 1)
      wait = math.max(wait, tonumber(e[2]) + w - now)
    end
  end
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('PEXPIRE', KEYS[1], hold + maxw)
return 0
`;

const SETTLE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) + 1000)
end
return 0
`;

const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > cur then
  redis.call('SET', KEYS[1], untilMs, 'PX', tonumber(ARGV[1]) + 1000)
end
return 0
`;

/**
 * A shared store for `throttle(fetch, { key, store: redisStore(client) })`.
 * @param {object} client an ioredis client, or a connected node-redis (v4+) client
 * @param {{ prefix?: string, holdMs?: number, timeoutMs?: number }} [options]
 *   prefix: key prefix (default "ratewindow"); holdMs: lease of an in-flight slot, after which
 *   a request whose process died counts as completed (default 300000); timeoutMs: a command
 *   slower than this counts as a store failure (default 1000).
 */
function redisStore(client, options = {}) {
  if (client === null || typeof client !== "object") {
    throw new TypeError("ratewindow/redis: expected an ioredis or node-redis client");
  }
  let send;
  if (typeof client.call === "function") {
    send = (args) => client.call(...args);
  } else if (typeof client.sendCommand === "function") {
    send = (args) => client.sendCommand(args.map(String));
  } else {
    throw new TypeError("ratewindow/redis: expected an ioredis or node-redis (v4+) client");
  }
  if (options === null || typeof options !== "object") throw new TypeError("ratewindow/redis: options must be an object");
  const prefix = options.prefix ?? "ratewindow";
  const holdMs = options.holdMs ?? 300_000;
  const timeoutMs = options.timeoutMs ?? 1_000;
  if (typeof prefix !== "string" || prefix === "" || /[{}]/.test(prefix)) {
    throw new TypeError("ratewindow/redis: `prefix` must be a non-empty string without braces");
  }
  for (const [name, v] of [["holdMs", holdMs], ["timeoutMs", timeoutMs]]) {
    if (typeof v !== "number") throw new TypeError(`ratewindow/redis: \`${name}\` must be a number`);
    if (!Number.isFinite(v) || v < 1) throw new RangeError(`ratewindow/redis: \`${name}\` must be a finite number ≥ 1`);
  }

  // A command that neither answers nor fails in time counts as a failure, so a dead Redis
  // (whose client queues commands while reconnecting) cannot stall every call.
  const timed = (args) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ratewindow/redis: no answer within ${timeoutMs} ms`)), timeoutMs);
      Promise.resolve()
        .then(() => send(args))
        .then(resolve, reject)
        .finally(() => clearTimeout(timer));
    });

  const shas = new Map();
  async function run(script, keys, args) {
    let sha = shas.get(script);
    if (sha) {
      try {
        return await timed(["EVALSHA", sha, keys.length, ...keys, ...args]);
      } catch (e) {
        if (!/NOSCRIPT/i.test(String(e?.message ?? e))) throw e;
      }
    }
    const result = await timed(["EVAL", script, keys.length, ...keys, ...args]);
    // EVAL loaded it; learn its SHA for next time (cheap, and off the hot path).
    timed(["SCRIPT", "LOAD", script]).then((s) => shas.set(script, String(s)), () => {});
    return result;
  }

  return {
    /** Called by `throttle` with the budget's key, windows and margin. */
    bind({ key, windows, marginMs }) {
      const tag = `{${prefix}:${key}}`;
      const held = `${tag}:held`;
      const settled = `${tag}:settled`;
      const pause = `${tag}:pause`;
      const maxWindow = Math.max(...windows.map((w) => w[1]));
      const flat = windows.flat();
      return {
        async acquire(member) {
          return Number(await run(ACQUIRE, [held, settled, pause], [member, holdMs, maxWindow, ...flat]));
        },
        async settle(member) {
          await run(SETTLE, [held, settled], [member, marginMs, maxWindow]);
        },
        async pause(ms) {
          await run(PAUSE, [pause], [Math.ceil(ms)]);
        },
      };
    },
  };
}

export { redisStore };
