// Size and start-up.
//
//   node bench/size.mjs [--samples 7] [--out FILE]
//
// Size: ratewindow's browser payload (pkg/gen/web/ratewindow_bg.wasm, pkg/gen/web/ratewindow.js,
// pkg/browser.js, pkg/src/api.js) gzip -9, as shipped and with the JS bundled and minified by
// esbuild; each peer bundled by esbuild for the browser (minified ESM), then gzip -9.
// Start-up, each the median over `samples` fresh Node processes (V8 caches compiled Wasm within a
// process, so only a first compile in a fresh process is a real one):
// - compile: `new WebAssembly.Module(bytes)`; instantiate: `new WebAssembly.Instance(module,
//   imports)` with no-op imports (wasm-bindgen's start function is not run);
// - import: `await import(entry)` of pkg/node.js (reads the file, compiles, instantiates, runs the
//   glue's start) and of each peer, for comparison.
// `--child WHAT` is the internal mode a sample runs in.

import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { BENCH_DIR, PKG_DIR, emit, median, parseArgs, runChild } from "./lib/common.mjs";

const args = parseArgs();
const WASM = path.join(PKG_DIR, "gen/web/ratewindow_bg.wasm");

const IMPORTS = {
  ratewindow: pathToFileURL(path.join(PKG_DIR, "node.js")).href,
  bottleneck: "bottleneck",
  "p-throttle": "p-throttle",
  "p-queue": "p-queue",
};

if (args.child) {
  const what = String(args.child);
  const out = {};
  if (what === "wasm") {
    const bytes = readFileSync(WASM);
    const t0 = performance.now();
    const module = new WebAssembly.Module(bytes);
    const t1 = performance.now();
    const imports = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== "function") throw new Error(`unexpected import kind ${imp.kind}`);
      (imports[imp.module] ??= {})[imp.name] = () => {};
    }
    const t2 = performance.now();
    new WebAssembly.Instance(module, imports);
    const t3 = performance.now();
    out.compileMs = t1 - t0;
    out.instantiateMs = t3 - t2;
  } else {
    const spec = IMPORTS[what];
    const t0 = performance.now();
    await import(spec);
    out.importMs = performance.now() - t0;
  }
  emit(args, out);
  process.exit(0);
}

const samples = Number(args.samples ?? 7);
const gz = (buf) => gzipSync(buf, { level: 9 }).length;

// ratewindow as shipped.
const files = ["pkg/gen/web/ratewindow_bg.wasm", "pkg/gen/web/ratewindow.js", "pkg/browser.js", "pkg/src/api.js"];
const shipped = files.map((f) => {
  const buf = readFileSync(path.join(PKG_DIR, f.slice("pkg/".length)));
  return { file: f, bytes: buf.length, gzip9: gz(buf) };
});

// Bundles (esbuild is a devDependency of bench/).
const esbuild = await import("esbuild");
async function bundle(contents) {
  const r = await esbuild.build({
    stdin: { contents, resolveDir: BENCH_DIR, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const buf = r.outputFiles[0].contents;
  return { minBytes: buf.length, minGzip9: gz(buf) };
}
const wasmBuf = readFileSync(WASM);
const rwJs = await bundle(`export * from ${JSON.stringify(path.join(PKG_DIR, "browser.js"))};`);
const sizes = [
  {
    name: "ratewindow",
    what: "pkg/browser.js bundled + ratewindow_bg.wasm",
    minBytes: rwJs.minBytes + wasmBuf.length,
    minGzip9: rwJs.minGzip9 + gz(wasmBuf),
    jsMinGzip9: rwJs.minGzip9,
    wasmGzip9: gz(wasmBuf),
  },
];
for (const [name, spec] of [
  ["bottleneck", "bottleneck"],
  ["bottleneck (light.js)", "bottleneck/light.js"],
  ["p-throttle", "p-throttle"],
  ["p-queue", "p-queue"],
]) {
  sizes.push({ name, what: `import from "${spec}"`, ...(await bundle(`export { default } from ${JSON.stringify(spec)};`)) });
}

// Start-up samples, one fresh process each.
const me = path.join(BENCH_DIR, "size.mjs");
const startup = {};
for (const what of ["wasm", ...Object.keys(IMPORTS)]) {
  const rows = [];
  for (let i = 0; i < samples; i++) rows.push(await runChild(me, ["--child", what], { quiet: true, timeoutMs: 60_000 }));
  const pick = (k) => (rows[0][k] === undefined ? undefined : median(rows.map((r) => r[k])));
  startup[what] = { compileMs: pick("compileMs"), instantiateMs: pick("instantiateMs"), importMs: pick("importMs"), samples };
}

emit(args, {
  shipped,
  shippedTotal: { bytes: shipped.reduce((a, f) => a + f.bytes, 0), gzip9: shipped.reduce((a, f) => a + f.gzip9, 0) },
  bundles: sizes,
  startup,
});
