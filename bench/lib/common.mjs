// Helpers shared by the benchmark scripts: argument parsing, statistics, child processes.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(BENCH_DIR);

/**
 * The ratewindow package under test: pkg/ of this repo, or the snapshot of it that bench/run.mjs
 * takes at its start (RATEWINDOW_PKG), so one run measures one build even if pkg/ changes.
 */
export const PKG_DIR = process.env.RATEWINDOW_PKG || path.join(ROOT, "pkg");

/**
 * Imports ratewindow's Node entry. Also returns the Wasm `Throttle` class and the module's raw
 * exports (`wasm`, for its memory) from the same instance pkg/node.js initialised.
 */
export async function loadRatewindow() {
  const api = await import(pathToFileURL(path.join(PKG_DIR, "node.js")).href);
  const gen = await import(pathToFileURL(path.join(PKG_DIR, "gen/web/ratewindow.js")).href);
  // Already initialised by node.js: initSync returns the existing exports.
  const wasm = gen.initSync({ module: new Uint8Array(0) });
  return { throttle: api.throttle, Throttle: gen.Throttle, wasm };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tick = () => new Promise((r) => setImmediate(r));

/** `--name value` / `--flag` arguments as an object. */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const name = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) out[name] = true;
    else {
      out[name] = next;
      i++;
    }
  }
  return out;
}

export function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export function min(xs) {
  return xs.length ? Math.min(...xs) : NaN;
}

export function max(xs) {
  return xs.length ? Math.max(...xs) : NaN;
}

/** Writes a script's result where the parent asked (`--out file`), else prints it. */
export function emit(args, result) {
  const text = JSON.stringify(result, null, 2);
  if (typeof args.out === "string") writeFileSync(args.out, text);
  else process.stdout.write(text + "\n");
}

/**
 * Runs `node [nodeArgs] script [args] --out tmp` in a child process and resolves the JSON it
 * wrote. Rejects (with its stderr) when it exits non-zero, is killed, or runs past `timeoutMs`.
 * The child is always reaped: on timeout it is killed by its own pid.
 */
export function runChild(script, args = [], { nodeArgs = [], timeoutMs = 600_000, quiet = false } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "ratewindow-bench-"));
  const out = path.join(dir, "out.json");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script, ...args, "--out", out], {
      cwd: ROOT,
      stdio: ["ignore", quiet ? "ignore" : "inherit", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      if (!quiet) process.stderr.write(d);
      stderr += d;
      if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      try {
        if (code !== 0) {
          const why = signal ? `killed by ${signal}${signal === "SIGKILL" ? " (timeout?)" : ""}` : `exit code ${code}`;
          reject(new Error(`${path.basename(script)} ${args.join(" ")}: ${why}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(readFileSync(out, "utf8")));
      } catch (err) {
        reject(new Error(`${path.basename(script)} ${args.join(" ")}: no result (${err.message})\n${stderr}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Prints progress to stderr (stdout stays clean for a JSON result). */
export function log(...parts) {
  process.stderr.write(parts.join(" ") + "\n");
}
