#!/usr/bin/env bash
# The benchmark of issue 6: edge-auth against a bare worker (the limit) and hono + @hono/oidc-auth, and the
# build with SAML (issue 14) as a variant of edge-auth, each in workerd run directly (one process each), driven
# by wrk; then the sign-in callback and the Durable Object
# round trips (ReplayGuard claim, RevocationLog since and whole read) in edge-auth's workerd. Installs what it
# is missing (scripts/setup.sh, Debian's wrk, the npm peers), builds both variants of the worker (build/ and
# build-saml/), then runs bench/run.mjs, which writes
# bench/results/latest.json, docs/benchmark.md and docs/benchmark.svg. About 3-4 minutes.
#
#   bash scripts/bench.sh                 # full run: 5 interleaved rounds x 10 s per worker
#   bash scripts/bench.sh --quick         # a quick check of the tooling (rough numbers)
#   bash scripts/bench.sh --skip-build    # use build/ and build-saml/ as they are
#   bash scripts/bench.sh --help          # every option
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m[bench]\033[0m %s\n' "$*"; }

skip_build=0
args=()
for a in "$@"; do
  case "$a" in
    --skip-build) skip_build=1 ;;
    --help|-h) exec node bench/run.mjs --help ;;
    *) args+=("$a") ;;
  esac
done

bash scripts/setup.sh

if ! command -v wrk >/dev/null 2>&1; then
  log "installing Debian's wrk"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

# The peer (devDependencies in package.json; installed here too in case an older lock predates them).
if [[ ! -f node_modules/hono/package.json || ! -f node_modules/@hono/oidc-auth/package.json ]]; then
  log "installing hono and @hono/oidc-auth"
  npm install -D --no-audit --no-fund --loglevel=error hono @hono/oidc-auth
fi

if [[ "$skip_build" == 0 ]]; then
  log "building the worker (OIDC only, build/)"
  bash scripts/build.sh
  log "building the worker with SAML (build-saml/)"
  EDGE_AUTH_FEATURES=saml EDGE_AUTH_OUT=build-saml bash scripts/build.sh
fi

node bench/run.mjs "${args[@]+"${args[@]}"}"

# Where edge-auth's cold start goes, stage by stage (bench/cold.mjs), appended to docs/benchmark.md.
cold_runs=7
for a in "${args[@]+"${args[@]}"}"; do
  case "$a" in
    --quick) cold_runs=2 ;;
    --no-docs) exit 0 ;;
  esac
done
log "cold start by stage"
node bench/cold.mjs --runs "$cold_runs" --markdown docs/benchmark.md
