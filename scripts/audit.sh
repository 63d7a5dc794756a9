#!/usr/bin/env bash
# Dependency audit of what ratewindow ships. Usage: scripts/audit.sh (or `make audit`)
#
# 1. Offline: pkg/package.json declares no runtime dependency beyond the documented optional
#    peers (ioredis, redis), so the npm package ships no third-party JS.
# 2. Offline: lists the crates built into the package with their Cargo.lock versions, split
#    into those compiled into the .wasm and those only run at build time (proc-macros).
# 3. `cargo audit` against the RustSec advisory database, when cargo-audit is installed and the
#    database can be fetched (or a local copy is given in RATEWINDOW_ADVISORY_DB).
# 4. `npm audit`, when the registry's audit endpoint answers.
#
# Exit status: 1 when the manifest check fails, or when an audit really ran and reported a
# vulnerability in a crate of step 2 (or in a production npm dependency). A tool or database
# that cannot be had (no network, endpoint refused, not installed) prints "skipped: <reason>"
# and does not fail. Dev-only findings (proptest, wasm-bindgen-test, the npm dev tools) are
# printed as notes and do not fail.
#
# Environment: AUDIT_TIMEOUT (seconds per network step, default 120);
# RATEWINDOW_ADVISORY_DB (path to a local clone of the RustSec advisory-db: used with --no-fetch).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

AUDIT_TIMEOUT="${AUDIT_TIMEOUT:-120}"
TARGET=wasm32-unknown-unknown
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0

say() { printf '[audit] %s\n' "$*"; }

command -v node >/dev/null || { say "FAIL: node is needed to read the manifests"; exit 1; }

# --- 1. npm: the published package has no runtime dependencies --------------------------------
# Documented in README.md ("Redis clients are optional peer dependencies").
if node - pkg/package.json <<'EOF'
const fs = require("fs");
const file = process.argv[2];
const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
const allowedPeers = ["ioredis", "redis"]; // optional; the user installs the one they use
const problems = [];
for (const field of ["dependencies", "optionalDependencies", "bundleDependencies", "bundledDependencies"]) {
  const v = pkg[field];
  const names = Array.isArray(v) ? v : Object.keys(v || {});
  if (v === true || names.length) problems.push(`${field}: ${v === true ? "true" : names.join(", ")}`);
}
const peers = Object.keys(pkg.peerDependencies || {});
for (const name of peers) {
  if (!allowedPeers.includes(name)) problems.push(`undocumented peerDependency: ${name}`);
  else if (!(pkg.peerDependenciesMeta && pkg.peerDependenciesMeta[name] && pkg.peerDependenciesMeta[name].optional === true))
    problems.push(`peerDependency ${name} is not marked optional in peerDependenciesMeta`);
}
if (problems.length) {
  for (const p of problems) console.log(`[audit] FAIL: ${file}: ${p}`);
  process.exit(1);
}
console.log(`[audit] npm: ${file} has no dependencies/optionalDependencies/bundleDependencies; ` +
  `peerDependencies: ${peers.length ? peers.map((p) => p + " (optional)").join(", ") : "none"}`);
EOF
then :; else failed=1; fi

# --- 2. Crates built into the package, with Cargo.lock versions --------------------------------
# "wasm": compiled into the shipped .wasm; "build": proc-macros (and their deps) and build-time
# crates that run on the build machine only. Dev-dependencies are in neither.
tree_ok=0
for net in --offline ""; do
  # shellcheck disable=SC2086
  if timeout "$AUDIT_TIMEOUT" cargo tree --locked $net -e normal,build --target "$TARGET" \
       --prefix depth --no-dedupe >"$tmp/tree.txt" 2>"$tmp/tree.err"; then
    tree_ok=1; break
  fi
done
if [ "$tree_ok" = 1 ]; then
  node - "$tmp/tree.txt" >"$tmp/shipped.txt" <<'EOF'
const lines = require("fs").readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean);
const wasm = new Map(), all = new Map();
let skipBelow = Infinity; // depth of the proc-macro whose subtree we are in
for (const line of lines) {
  const m = /^(\d+)(\S+) v(\S+)(.*)$/.exec(line);
  if (!m) continue;
  const depth = +m[1], name = m[2], version = m[3], rest = m[4];
  if (depth === 0) continue; // ratewindow itself
  if (depth <= skipBelow) skipBelow = Infinity;
  all.set(`${name} ${version}`, true);
  if (skipBelow !== Infinity) continue;
  if (rest.includes("(proc-macro)")) { skipBelow = depth; continue; }
  wasm.set(`${name} ${version}`, true);
}
for (const k of [...all.keys()].sort()) console.log(`${wasm.has(k) ? "wasm" : "build"} ${k}`);
EOF
else
  # No crates.io index at hand: walk Cargo.lock from the [dependencies] of Cargo.toml. This
  # over-approximates (every target's deps, proc-macros included) and cannot split the groups.
  say "note: cargo tree failed ($(head -n1 "$tmp/tree.err")); listing from Cargo.lock instead (all targets)"
  node - Cargo.toml Cargo.lock >"$tmp/shipped.txt" <<'EOF'
const fs = require("fs");
const toml = fs.readFileSync(process.argv[2], "utf8");
const sec = /^\[dependencies\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml);
const roots = sec ? [...sec[1].matchAll(/^([A-Za-z0-9_-]+)\s*=/gm)].map((m) => m[1]) : [];
const pkgs = fs.readFileSync(process.argv[3], "utf8").split("[[package]]").slice(1).map((b) => ({
  name: /^name = "([^"]+)"/m.exec(b)[1],
  version: /^version = "([^"]+)"/m.exec(b)[1],
  deps: ((/^dependencies = \[([\s\S]*?)\]/m.exec(b) || [, ""])[1].match(/"[^"]+"/g) || []).map((s) => s.slice(1, -1)),
}));
const find = (spec) => {
  const [n, v] = spec.split(" ");
  return pkgs.filter((p) => p.name === n && (!v || p.version === v));
};
const seen = new Map(), todo = roots.flatMap(find);
while (todo.length) {
  const p = todo.pop(), k = `${p.name} ${p.version}`;
  if (seen.has(k)) continue;
  seen.set(k, true);
  for (const d of p.deps) todo.push(...find(d));
}
for (const k of [...seen.keys()].sort()) console.log(`any ${k}`);
EOF
fi
say "crates built into the package (Cargo.lock versions; wasm = in the .wasm, build = build time only):"
sed 's/^/[audit]   /' "$tmp/shipped.txt"
cut -d' ' -f2,3 "$tmp/shipped.txt" >"$tmp/gate.txt"

# --- 3. cargo audit (RustSec) -----------------------------------------------------------------
if ! cargo audit --version >/dev/null 2>&1; then
  say "skipped: cargo audit: cargo-audit is not installed (cargo install cargo-audit --locked)"
else
  args=(audit --json)
  db_note="fetched now"
  if [ -n "${RATEWINDOW_ADVISORY_DB:-}" ]; then
    args+=(--no-fetch --db "$RATEWINDOW_ADVISORY_DB"); db_note="local copy $RATEWINDOW_ADVISORY_DB"
  fi
  rc=0; timeout "$AUDIT_TIMEOUT" cargo "${args[@]}" >"$tmp/ca.json" 2>"$tmp/ca.err" || rc=$?
  if ! node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!r.vulnerabilities) process.exit(1)' "$tmp/ca.json" 2>/dev/null; then
    why="$(grep -v '^\s*$' "$tmp/ca.err" | grep -i -m1 -E 'error|fail' || true)"
    [ "$rc" = 124 ] && why="timed out after ${AUDIT_TIMEOUT}s"
    say "skipped: cargo audit could not load the RustSec advisory database (${why:-exit $rc, no report})"
  else
    say "cargo audit ran (advisory database: $db_note)"
    if ! node - "$tmp/ca.json" "$tmp/gate.txt" <<'EOF'
const fs = require("fs");
const r = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const gate = new Set(fs.readFileSync(process.argv[3], "utf8").split("\n").filter(Boolean));
const db = r.database || {};
console.log(`[audit]   ${db["advisory-count"] ?? "?"} advisories` +
  (db["last-commit"] ? `, database commit ${db["last-commit"]} of ${db["last-updated"]}` : "") +
  `; ${(r.lockfile || {})["dependency-count"] ?? "?"} crates in Cargo.lock`);
let bad = 0;
for (const v of r.vulnerabilities.list || []) {
  const k = `${v.package.name} ${v.package.version}`;
  const shipped = gate.has(k);
  if (shipped) bad++;
  console.log(`[audit]   ${shipped ? "FAIL (shipped)" : "note (dev-only)"}: ${k}: ${v.advisory.id} ${v.advisory.title}`);
}
for (const [kind, list] of Object.entries(r.warnings || {})) {
  for (const w of list || []) {
    const k = `${w.package.name} ${w.package.version}`;
    const id = w.advisory ? `${w.advisory.id} ${w.advisory.title}` : "";
    console.log(`[audit]   warning (${kind}${gate.has(k) ? ", shipped" : ", dev-only"}): ${k} ${id}`);
  }
}
if (!(r.vulnerabilities.list || []).length) console.log("[audit]   no vulnerabilities reported");
process.exit(bad ? 1 : 0);
EOF
    then failed=1; fi
  fi
fi

# --- 4. npm audit ------------------------------------------------------------------------------
# The published package (pkg/) has no dependencies (step 1), so it ships no npm code to audit.
# The root package.json holds only dev tools; an --omit=dev audit of it checks production
# dependencies, of which there are none today (npm then sends no request at all).
npm_audit() { # $1 = output file, rest = extra args
  local out="$1"; shift
  local rc=0
  timeout "$AUDIT_TIMEOUT" npm audit --json "$@" >"$out" 2>"$out.err" || rc=$?
  [ "$rc" = 124 ] && echo '{"message":"timed out"}' >"$out"
  return 0
}
if ! command -v npm >/dev/null; then
  say "skipped: npm audit: npm is not installed"
else
  npm_audit "$tmp/prod.json" --omit=dev
  npm_audit "$tmp/dev.json"
  if ! node - "$tmp/prod.json" "$tmp/dev.json" <<'EOF'
const fs = require("fs");
const read = (f) => { try { return JSON.parse(fs.readFileSync(f, "utf8")); } catch { return null; } };
const why = (r) => (r && (r.message || (r.error && r.error.summary))) || "no report";
let bad = 0;
const prod = read(process.argv[2]);
if (prod && prod.auditReportVersion) {
  const n = prod.metadata.vulnerabilities.total, deps = prod.metadata.dependencies.prod - 1;
  if (n) bad = 1;
  console.log(`[audit] npm audit --omit=dev: ${n} vulnerabilities in ${deps} production dependencies` +
    (deps <= 0 ? " (nothing to check: the root package has none)" : ""));
  for (const [name, v] of Object.entries(prod.vulnerabilities || {})) console.log(`[audit]   FAIL: ${name} (${v.severity}) ${v.range}`);
} else {
  console.log(`[audit] skipped: npm audit --omit=dev: ${why(prod)}`);
}
const dev = read(process.argv[3]);
if (dev && dev.auditReportVersion) {
  const m = dev.metadata.vulnerabilities;
  console.log(`[audit] npm audit (dev tools, not shipped; noted only): ${m.total} vulnerabilities ` +
    `(critical ${m.critical}, high ${m.high}, moderate ${m.moderate}, low ${m.low})`);
  for (const [name, v] of Object.entries(dev.vulnerabilities || {})) console.log(`[audit]   note: ${name} (${v.severity}) ${v.range}`);
} else {
  console.log(`[audit] skipped: npm audit of the dev tools: ${why(dev)}`);
}
process.exit(bad);
EOF
  then failed=1; fi
fi

if [ "$failed" = 1 ]; then say "FAILED"; exit 1; fi
say "ok (see any 'skipped:' lines above for what could not be checked here)"
