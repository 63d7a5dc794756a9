#!/usr/bin/env bash
# Builds the npm package's generated part (pkg/gen/): release Wasm, wasm-bindgen glue for the
# web (ESM) and Node (CommonJS) targets, wasm-opt -Oz, and the CommonJS copy of pkg/src/api.js.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release --target wasm32-unknown-unknown --lib --quiet
wasm=target/wasm32-unknown-unknown/release/ratewindow.wasm
out=pkg/gen
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
wasm-bindgen --target web --out-dir "$out.tmp/web" --out-name ratewindow --no-typescript "$wasm"
wasm-bindgen --target nodejs --out-dir "$out.tmp/node" --out-name ratewindow --no-typescript "$wasm"
# The .wasm is byte-identical for both targets: optimise once, ship it beside each glue file.
node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers "$out.tmp/web/ratewindow_bg.wasm" -o "$out.tmp/web/ratewindow_bg.wasm"
cp "$out.tmp/web/ratewindow_bg.wasm" "$out.tmp/node/ratewindow_bg.wasm"
# The package is "type": "module"; the Node target glue is CommonJS.
echo '{ "type": "commonjs" }' > "$out.tmp/node/package.json"
node scripts/cjs.mjs pkg/src/api.js "$out.tmp/api.cjs"
node scripts/cjs.mjs pkg/redis.js "$out.tmp/redis.cjs"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "[build] pkg/gen: $(wc -c < "$out/web/ratewindow_bg.wasm") bytes of wasm"
