#!/usr/bin/env bash
# Builds the worker: build/index.js + build/index_bg.wasm. Uses the wasm-bindgen and wasm-opt installed by
# scripts/setup.sh instead of worker-build's downloads from GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
if [[ -x node_modules/.bin/esbuild ]]; then export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"; fi
worker-build --release "$@"
