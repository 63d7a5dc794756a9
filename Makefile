# The two commands a newcomer needs: `make demo` and `make test`. Both set up what is missing.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
PORT ?= 8080

.PHONY: setup build test test-rust test-wasm test-js test-types test-stores test-reliability test-pack test-bench test-e2e bench-setup demo bench clippy clean audit

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh

# Every suite: Rust (unit, integration, proptests), Wasm in Node and headless Chromium, JS tests
# against a real local server, the packed tarball as a user installs it, and the demo page.
test: build test-rust test-wasm test-js test-types test-stores test-reliability test-pack test-e2e test-bench
	@echo "make test: all suites passed"

test-rust: setup
	cargo test --quiet
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --target wasm32-unknown-unknown --lib -- -D warnings

test-wasm: setup
	cargo test --target wasm32-unknown-unknown --test wasm
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 \
	  WASM_BINDGEN_TEST_WEBDRIVER_JSON=$(CURDIR)/webdriver.json \
	  cargo test --target wasm32-unknown-unknown --test wasm

test-js: build
	node --test tests/js/

test-types: setup
	node_modules/.bin/tsc -p tests/types/tsconfig.json

# Shared budgets: 4 Node processes through a real redis-server (started by the test), and
# two headless Chromium tabs through Web Locks.
test-stores: build
	node --test tests/redis/ tests/tabs/

# Chaos (a misbehaving server, random aborts: every call settles once), heap checks, and the
# page under a CSP without 'unsafe-eval' in Chromium. (The Rust fuzz runs in test-rust.)
test-reliability: build
	node --test tests/chaos/ tests/csp/

test-e2e: build
	node --test tests/e2e/

test-pack: build
	node --test tests/pack/

demo: build
	@node www/server.mjs

bench-setup: setup
	@if [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then \
	  npm ci --prefix bench --no-audit --no-fund --loglevel=error; fi

# Benchmarks against the peers (BENCH=full for the long profile); writes BENCHMARKS.md.
bench: build bench-setup
	node bench/run.mjs

# A tiny run of every benchmark script, so they keep working (asserts nothing about speed).
test-bench: build bench-setup
	node bench/run.mjs --smoke

# Dependency audit of what ships (scripts/audit.sh): prints "skipped: ..." where a database
# cannot be reached, fails only on a real finding in a shipped dependency. Not part of `test`.
audit:
	@bash scripts/audit.sh

clean:
	rm -rf target pkg/gen node_modules
