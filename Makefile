# edgehook: `make dev` runs the Worker locally with a seeded demo; `make test` runs every test.
# Both install what they need on a fresh machine, pinned, and skip what is already there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO_HOME ?= $(HOME)/.cargo
export PATH := $(CURDIR)/node_modules/.bin:$(CARGO_HOME)/bin:$(PATH)

WORKER_BUILD_VERSION := 0.8.7
# wasm-bindgen-cli must be exactly the wasm-bindgen the lockfile resolved.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

# worker-build would download these from GitHub, which is unreachable here: point it at local copies.
export WASM_BINDGEN_BIN := $(CARGO_HOME)/bin/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(CURDIR)/node_modules/.bin/esbuild

PORT ?= 8787
WASM_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	--enable-mutable-globals --enable-reference-types --enable-multivalue

RUST_SOURCES := Cargo.toml Cargo.lock $(shell find src -type f ! -name "*.mjs") $(shell find verifier-wasm/src -type f) verifier-wasm/Cargo.toml
VERIFIER_SOURCES := Cargo.lock verifier-wasm/Cargo.toml $(shell find verifier-wasm/src verifier-wasm/js -type f)
VERIFIER_PKG := verifier-wasm/pkg
DASHBOARD_SOURCES := $(shell find dashboard/src -type f) dashboard/index.html dashboard/favicon.svg dashboard/build.mjs

.PHONY: build setup tools lint test deploy-check test-rust test-e2e test-verifier test-dashboard dev token build-worker verifier dashboard client migrate-local \
	bench-verify bench-api bench-delivery bench-compare bench-knobs bench-transform bench-flow bench-tenants bench-memory profile soak browser clean

build: build-worker dashboard verifier client

# ---- set-up (idempotent, pinned) ---------------------------------------------------------------------------------

setup: tools .dev.vars
	@node scripts/devvars.mjs

tools: .tools/rust-target .tools/worker-build .tools/wasm-bindgen node_modules/.installed client/node_modules/.installed

.tools/rust-target:
	rustup target add wasm32-unknown-unknown
	rustup component add clippy rustfmt
	mkdir -p .tools && touch $@

.tools/worker-build:
	@if ! worker-build --version 2>/dev/null | grep -q "$(WORKER_BUILD_VERSION)"; then \
		cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked; fi
	mkdir -p .tools && touch $@

# Without --locked: the registry lacks some of the CLI's pinned dependencies.
.tools/wasm-bindgen: Cargo.lock
	@if ! wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)"; then \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; fi
	mkdir -p .tools && touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund
	touch $@

# The client package's own toolchain: openapi-typescript needs TypeScript 5's compiler API (the root's TypeScript 7
# has none), so the client keeps its own node_modules.
client/node_modules/.installed: client/package.json client/package-lock.json
	cd client && npm install --no-audit --no-fund
	touch $@

# moto (a local AWS: SQS, SNS, EventBridge, S3, IAM) for the destination tests, in its own virtualenv: moto and
# everything it installs pinned (tests/fixtures/moto-constraints.txt).
MOTO_VERSION := 5.2.6
.tools/moto/bin/moto_server: tests/fixtures/moto-constraints.txt
	@command -v python3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null; }
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv .tools/moto
	.tools/moto/bin/pip install --quiet --disable-pip-version-check -c tests/fixtures/moto-constraints.txt \
		"moto[server]==$(MOTO_VERSION)"
	touch $@

# Local secrets: a copy of .dev.vars.example plus a random SECRETS_KEY (scripts/devvars.mjs adds one when missing).
.dev.vars:
	node scripts/devvars.mjs

# Debian's Chromium, for the browser test of the verifier package.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# ---- builds -------------------------------------------------------------------------------------------------------

build-worker: build/index.js

# Stamped with the build's start: a source edited while it compiled is newer, so the next make builds again. Then
# one call of wasm-bindgen's glue is rewritten (scripts/microtasks.mjs says why); if that fails, no build is left.
build/index.js: $(RUST_SOURCES) scripts/microtasks.mjs | tools
	started=$$(date +%s.%N); worker-build --release && node scripts/microtasks.mjs $@ || { rm -f $@; exit 1; }; \
	touch -d @$$started $@

# @edgehook/client (client/): types generated from the OpenAPI document by openapi-typescript, built to ESM, CommonJS
# and declarations. The dashboard calls the API through it. A field with a default is optional (a request may leave
# it out), not required.
CLIENT_SOURCES := $(shell find client/src -name '*.ts' ! -name schema.d.ts) client/build.mjs client/tsconfig.json client/package.json

client: client/dist/index.mjs

# The OpenAPI document the Worker serves, generated by utoipa from the handlers' types (src/api/openapi.rs) and
# printed by a host build of the crate.
client/openapi.json: $(RUST_SOURCES)
	cargo run --quiet --bin openapi > $@.tmp && mv $@.tmp $@

client/src/schema.d.ts: client/openapi.json client/node_modules/.installed
	client/node_modules/.bin/openapi-typescript client/openapi.json -o $@ --silent --default-non-nullable=false

client/dist/index.mjs: client/src/schema.d.ts $(CLIENT_SOURCES) node_modules/.installed
	node client/build.mjs

# The dashboard (Preact + TSX, bundled by esbuild) into dashboard/dist, which Workers Static Assets serves.
dashboard: dashboard/dist/index.html

# The OpenAPI document goes beside it: the Worker answers GET /api/openapi.json with that file (src/api/openapi.rs).
dashboard/dist/index.html: $(DASHBOARD_SOURCES) node_modules/.installed client/src/schema.d.ts client/openapi.json
	node dashboard/build.mjs
	cp client/openapi.json dashboard/dist/openapi.json

verifier: $(VERIFIER_PKG)/package.json

$(VERIFIER_PKG)/package.json: $(VERIFIER_SOURCES) | tools
	cargo build -p edgehook-verifier --release --target wasm32-unknown-unknown
	rm -rf $(VERIFIER_PKG) && mkdir -p $(VERIFIER_PKG)
	wasm-bindgen --target web --no-typescript --out-dir $(VERIFIER_PKG) \
		target/wasm32-unknown-unknown/release/edgehook_verifier.wasm
	wasm-opt -O3 $(WASM_FEATURES) --strip-debug --strip-producers \
		$(VERIFIER_PKG)/edgehook_verifier_bg.wasm -o $(VERIFIER_PKG)/edgehook_verifier_bg.wasm
	cp verifier-wasm/js/webhook.mjs verifier-wasm/js/node.mjs verifier-wasm/js/node-hmac.mjs verifier-wasm/js/web.mjs verifier-wasm/js/workerd.mjs \
		verifier-wasm/js/index.d.ts $(VERIFIER_PKG)/
	cp verifier-wasm/js/node-cjs.mjs $(VERIFIER_PKG)/node-cjs.mjs
	esbuild $(VERIFIER_PKG)/node-cjs.mjs --bundle --format=cjs --platform=node --log-level=error \
		--outfile=$(VERIFIER_PKG)/index.cjs
	rm $(VERIFIER_PKG)/node-cjs.mjs
	cp verifier-wasm/js/package.json $@

# ---- run ----------------------------------------------------------------------------------------------------------

migrate-local: setup
	wrangler d1 migrations apply DB --local

# scripts/dev.mjs applies the local migrations itself, then runs wrangler dev and drives its cron schedule.
dev: setup build
	node scripts/dev.mjs --port $(PORT)

token: .dev.vars
	@node scripts/token.mjs $(if $(ORG),--org $(ORG)) $(if $(ROLE),--role $(ROLE))

# ---- tests --------------------------------------------------------------------------------------------------------

test: setup browser build
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-verifier
	$(MAKE) --no-print-directory test-dashboard
	$(MAKE) --no-print-directory deploy-check
	$(MAKE) --no-print-directory test-e2e

lint: tools client/src/schema.d.ts
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	tsc -p dashboard

# The bundle `wrangler deploy` would upload (dry run, no network), checked against Cloudflare's size limit.
deploy-check: build
	node scripts/deploy-check.mjs

test-rust:
	cargo test --workspace --quiet

test-verifier: verifier
	node --test --test-reporter=spec 'verifier-wasm/tests/*.test.*'

# The dashboard's pure logic (Node runs the TypeScript directly); its pages are tested in Chromium by test-e2e.
test-dashboard: node_modules/.installed
	node --test --test-reporter=spec 'dashboard/tests/*.test.mjs'

test-e2e: build .dev.vars .tools/moto/bin/moto_server
	node --test --test-reporter=spec --test-concurrency=1 'tests/*.test.mjs'

# ---- soak (not part of `make test`: it takes minutes) ---------------------------------------------------------------

soak: setup build .dev.vars
	node scripts/soak.mjs

# ---- benchmarks ---------------------------------------------------------------------------------------------------

bench-verify: setup verifier
	node bench/verify.mjs

bench-api: setup build
	node bench/api.mjs

# NOISY=1: fair sharing instead (healthy endpoints' latency without and with one that holds every request 9 s).
bench-delivery: setup build
	node bench/$(if $(NOISY),noisy,delivery).mjs

# edgehook in Svix's benchmark shape, then Svix itself when ../shared/peers/svix has built it; one table of ratios.
# SVIX_RUNS=3: a median of three runs of each (RUNS sets edgehook's and the object floor's alone).
bench-compare: setup build
	node bench/compare.mjs

# An imperfect endpoint keeps its throughput: two endpoints, one failing 3 % of first attempts; p50/p99 of each.
bench-flow: setup build
	node bench/flow.mjs

# Isolation between organizations: 48 ordinary ones, alone and beside one flooding and one with a stalling endpoint.
bench-tenants: setup build
	node bench/tenants.mjs

# The Worker's isolate's memory under load (JS heap and WebAssembly memory, through V8's inspector) against 128 MB.
bench-memory: setup build
	node bench/memory.mjs

# Where the Worker's isolate spends its time, by function (V8's sampler during bench/delivery.mjs's single-ingest load).
profile: setup build
	node bench/profile.mjs

# A transformation's cost per run (each preset and the identity) against reading and writing the same event.
bench-transform:
	cargo run --quiet --release --bin bench-transform

# The deliveries consumer's batch size and timeout against latency and throughput, one run per setting.
bench-knobs: setup build
	node bench/knobs.mjs

clean:
	rm -rf build dashboard/dist $(VERIFIER_PKG) target .tools
