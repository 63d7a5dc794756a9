// Derives the CommonJS copy of an ESM file whose only export is a final `export { a, b };` line.
import { readFileSync, writeFileSync } from "node:fs";

const [from, to] = process.argv.slice(2);
const src = readFileSync(from, "utf8");
const re = /^export \{([^}]*)\};\s*$/m;
const m = src.match(re);
if (!m || /^\s*(import|export)\b/m.test(src.replace(re, ""))) {
  console.error(`cjs.mjs: ${from} must have no imports and exactly one final "export { ... };"`);
  process.exit(1);
}
const body = src.replace(re, `module.exports = {${m[1]}};\n`);
writeFileSync(to, `"use strict";\n// Generated from ${from} by scripts/cjs.mjs: do not edit.\n${body}`);
