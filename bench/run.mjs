// Runs every benchmark and writes BENCHMARKS.md and bench/results/<date>-<profile>.json.
//
//   node bench/run.mjs            quick profile (a few minutes)
//   BENCH=full node bench/run.mjs full profile (adds the real 200 per 60 s setting, larger counts)
//   node bench/run.mjs --smoke    a tiny run of every script, for CI: writes nothing, asserts
//                                 nothing about speed, exits non-zero only if a script broke
//   node bench/run.mjs --render bench/results/X.json
//                                 rewrites BENCHMARKS.md from a past run (measures nothing)
//
// Every measurement runs in its own child process (a fresh API double, a fresh heap, no JIT state
// shared between contenders); contenders run one after another, never at the same time.
// BENCH_REAL=all (full profile) runs the real setting for every contender instead of ratewindow
// and two peers.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { BENCH_DIR, ROOT, log, parseArgs, runChild } from "./lib/common.mjs";
import { CONTENDERS } from "./lib/contenders.mjs";
import { renderMarkdown } from "./lib/report.mjs";

const args = parseArgs();
const smoke = Boolean(args.smoke);
const profileName = smoke ? "smoke" : process.env.BENCH === "full" ? "full" : "quick";

const COMPRESSED = { limit: 100, windowMs: 2_000, n: 500, uplinkMs: [5, 60], downlinkMs: [5, 60] };
const REAL = { limit: 200, windowMs: 60_000, n: 600, uplinkMs: [5, 60], downlinkMs: [5, 60] };
const REAL_CONTENDERS =
  process.env.BENCH_REAL === "all" ? CONTENDERS : ["ratewindow", "bottleneck-reservoir", "p-queue"];
const OVERHEAD_CONTENDERS = [
  "direct",
  "ratewindow",
  "ratewindow-signal",
  "ratewindow-core",
  "new-Request",
  "new-Request-signal",
  "bottleneck-reservoir",
  "bottleneck-minTime",
  "p-throttle",
  "p-queue",
];
const SCALE_CONTENDERS = ["promises", "ratewindow", "ratewindow-abort", "bottleneck", "p-queue"];

const PROFILES = {
  smoke: {
    quality: [
      { id: "smoke", title: "smoke", limit: 5, windowMs: 300, n: 12, uplinkMs: [1, 5], downlinkMs: [1, 5], reps: 1, contenders: CONTENDERS },
    ],
    overhead: { calls: 300, rounds: 1, budgetMs: 100, serialMs: 30 },
    scale: { sizes: [1_000], drainMs: 300, budgetMs: 10_000 },
    size: { samples: 1 },
  },
  quick: {
    quality: [{ id: "compressed", title: "compressed: 100 per 2 s, 500 calls", ...COMPRESSED, reps: 3, contenders: CONTENDERS }],
    overhead: { calls: 20_000, rounds: 5, budgetMs: 2_000, serialMs: 500 },
    scale: { sizes: [10_000, 100_000], drainMs: 5_000, budgetMs: 60_000 },
    size: { samples: 7 },
  },
  full: {
    quality: [
      { id: "compressed", title: "compressed: 100 per 2 s, 500 calls", ...COMPRESSED, reps: 5, contenders: CONTENDERS },
      { id: "real", title: "real: 200 per 60 s, 600 calls", ...REAL, reps: 1, contenders: REAL_CONTENDERS },
    ],
    overhead: { calls: 200_000, rounds: 5, budgetMs: 15_000, serialMs: 1_000 },
    scale: { sizes: [10_000, 100_000, 1_000_000], drainMs: 10_000, budgetMs: 90_000 },
    size: { samples: 11 },
  },
};
const profile = PROFILES[profileName];

const script = (name) => path.join(BENCH_DIR, name);
const errors = [];
async function attempt(label, fn) {
  try {
    return await fn();
  } catch (err) {
    log(`[bench] FAILED ${label}: ${err.message}`);
    errors.push({ label, error: String(err.message).slice(0, 2_000) });
    return { error: String(err.message).split("\n")[0] };
  }
}

function machine(pkgDir) {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  const pkgVersion = (dir) => {
    try {
      return JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  const wasmPath = path.join(pkgDir, "gen/web/ratewindow_bg.wasm");
  const wasm = readFileSync(wasmPath);
  return {
    cpu,
    cores: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    packages: {
      ratewindow: pkgVersion(pkgDir),
      bottleneck: pkgVersion(path.join(BENCH_DIR, "node_modules/bottleneck")),
      "p-throttle": pkgVersion(path.join(BENCH_DIR, "node_modules/p-throttle")),
      "p-queue": pkgVersion(path.join(BENCH_DIR, "node_modules/p-queue")),
      esbuild: pkgVersion(path.join(BENCH_DIR, "node_modules/esbuild")),
    },
    wasm: { bytes: wasm.length, sha256: createHash("sha256").update(wasm).digest("hex").slice(0, 16) },
  };
}

/** BENCHMARKS.md from a results file (with the current bench/discussion.md). */
function writeMarkdown(results, jsonPath) {
  const discussionPath = path.join(BENCH_DIR, "discussion.md");
  const discussion = existsSync(discussionPath) ? readFileSync(discussionPath, "utf8") : "";
  writeFileSync(
    path.join(ROOT, "BENCHMARKS.md"),
    renderMarkdown(results, { jsonPath: path.relative(ROOT, jsonPath), discussion }),
  );
}

// `--render bench/results/X.json`: rewrite BENCHMARKS.md from a past run, measuring nothing
// (after editing bench/discussion.md or the report's layout).
if (typeof args.render === "string") {
  const jsonPath = path.resolve(args.render);
  writeMarkdown(JSON.parse(readFileSync(jsonPath, "utf8")), jsonPath);
  log(`[bench] wrote BENCHMARKS.md from ${path.relative(ROOT, jsonPath)}`);
  process.exit(0);
}

if (!existsSync(path.join(ROOT, "pkg/gen/web/ratewindow_bg.wasm"))) {
  log("[bench] pkg/gen is missing: run `make build` first (make bench does)");
  process.exit(1);
}
if (!existsSync(path.join(BENCH_DIR, "node_modules/bottleneck"))) {
  log("[bench] bench/node_modules is missing: run `npm ci --prefix bench` (make bench does)");
  process.exit(1);
}

// One run measures one build: pkg/ is copied once, and every child imports the copy.
const snapshot = mkdtempSync(path.join(os.tmpdir(), "ratewindow-bench-pkg-"));
cpSync(path.join(ROOT, "pkg"), snapshot, {
  recursive: true,
  filter: (src) => !src.includes(`${path.sep}node_modules`) && !src.endsWith(".tgz"),
});
process.env.RATEWINDOW_PKG = snapshot;
const cleanup = () => rmSync(snapshot, { recursive: true, force: true });
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));

// Preflight: the copy must load, or every ratewindow row would fail the same way.
const preflight = spawnSync(
  process.execPath,
  ["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(path.join(snapshot, "node.js")).href)});`],
  { encoding: "utf8", timeout: 60_000 },
);
if (preflight.status !== 0) {
  log(`[bench] pkg/node.js does not load (rebuild with \`make build\`):\n${preflight.stderr}`);
  process.exit(1);
}

const started = new Date();
const t0 = performance.now();
const results = { profile: profileName, date: started.toISOString(), machine: machine(snapshot), quality: [], overhead: [], scale: [], size: null };
log(`[bench] profile ${profileName}`);

// 1. Rate-limit quality.
for (const setting of profile.quality) {
  const runs = [];
  for (let rep = 0; rep < setting.reps; rep++) {
    for (const contender of setting.contenders) {
      const label = `quality ${setting.id} #${rep + 1} ${contender}`;
      log(`[bench] ${label}`);
      const minimumMs = (Math.ceil(setting.n / setting.limit) - 1) * setting.windowMs;
      const r = await attempt(label, () =>
        runChild(
          script("quality.mjs"),
          [
            "--contender", contender,
            "--limit", String(setting.limit),
            "--window", String(setting.windowMs),
            "--n", String(setting.n),
            "--uplink", setting.uplinkMs.join(","),
            "--downlink", setting.downlinkMs.join(","),
            "--retries", "10",
          ],
          { timeoutMs: minimumMs * 4 + 120_000 },
        ),
      );
      runs.push({ rep, contender, ...r });
      if (!r.error) {
        log(`[bench]   429s ${r.served429}, lost ${r.lost}, ${(r.totalMs / 1000).toFixed(2)} s, ${r.ratio?.toFixed(3)}x minimum`);
      }
    }
  }
  const { reps, contenders, ...rest } = setting;
  results.quality.push({ ...rest, reps, contenders, runs });
}

// 2. Overhead.
for (const contender of OVERHEAD_CONTENDERS) {
  const o = profile.overhead;
  const label = `overhead ${contender}`;
  log(`[bench] ${label}`);
  const r = await attempt(label, () =>
    runChild(script("overhead.mjs"), [
      "--contender", contender,
      "--calls", String(o.calls),
      "--rounds", String(o.rounds),
      "--budget-ms", String(o.budgetMs),
      "--serial-ms", String(o.serialMs),
    ], { timeoutMs: 600_000 }),
  );
  results.overhead.push({ contender, ...r });
}

// 3. Scale. A contender whose enqueue is too slow to do the next size within the budget skips it.
for (const contender of SCALE_CONTENDERS) {
  const s = profile.scale;
  let last = null;
  for (const n of s.sizes) {
    // ratewindow rejects calls beyond this many at once per realm with QueueFullError
    // (MAX_CALLS_AT_ONCE in src/wasm/throttle.rs): a bigger queue is not a supported size.
    if (contender.startsWith("ratewindow") && n > 400_000) {
      results.scale.push({ contender, n, skipped: "above ratewindow's cap of 400,000 calls at once per realm (QueueFullError beyond)" });
      log(`[bench] scale ${contender} ${n}: skipped (above the calls-at-once cap)`);
      continue;
    }
    if (last && !last.error) {
      const estimateMs = (last.enqueue.totalMs * n) / last.n;
      if (estimateMs > s.budgetMs) {
        results.scale.push({ contender, n, skipped: `enqueue alone would take about ${Math.round(estimateMs / 1000)} s` });
        log(`[bench] scale ${contender} ${n}: skipped (enqueue ~${Math.round(estimateMs / 1000)} s)`);
        continue;
      }
    }
    const label = `scale ${contender} ${n}`;
    log(`[bench] ${label}`);
    last = await attempt(label, () =>
      runChild(script("scale.mjs"), ["--contender", contender, "--n", String(n), "--drain-ms", String(s.drainMs)], {
        nodeArgs: ["--expose-gc", "--max-old-space-size=8192"],
        timeoutMs: s.budgetMs * 3 + 60_000,
      }),
    );
    results.scale.push({ contender, n, ...last });
    if (last.error) break;
  }
}

// 4. Size and start-up.
log("[bench] size and start-up");
results.size = await attempt("size", () => runChild(script("size.mjs"), ["--samples", String(profile.size.samples)], { timeoutMs: 300_000 }));

results.durationS = Math.round((performance.now() - t0) / 1000);
results.errors = errors;
log(`[bench] done in ${results.durationS} s${errors.length ? `, ${errors.length} FAILED` : ""}`);

if (smoke) {
  // CI: the scripts ran; nothing is written and nothing about speed is asserted.
  process.exit(errors.length ? 1 : 0);
}

const day = started.toISOString().slice(0, 10);
mkdirSync(path.join(BENCH_DIR, "results"), { recursive: true });
const jsonPath = path.join(BENCH_DIR, "results", `${day}-${profileName}.json`);
writeFileSync(jsonPath, JSON.stringify(results, null, 2) + "\n");
writeMarkdown(results, jsonPath);
log(`[bench] wrote BENCHMARKS.md and ${path.relative(ROOT, jsonPath)}`);
process.exit(errors.length ? 1 : 0);
