# The tools the worker build needs, and how each is installed: one list, sourced by scripts/setup.sh (a
# development machine) and by scripts/build.sh --install (a bare CI job, Cloudflare's Workers Builds), so the
# two never disagree on a tool or a version. Source it from bash; it defines functions and sets nothing else
# but the two versions.
#
#   toolchain_missing            one line per missing tool: "NAME<TAB>COMMAND THAT INSTALLS IT"
#   toolchain_install            install what is missing, in that order; fails if anything is still missing
#
# Binaries come from crates.io and npm, never from worker-build's own GitHub downloads (see README,
# "Development"), so the build also works on networks that only reach package registries.

_TOOLCHAIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen version in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$_TOOLCHAIN_ROOT/Cargo.lock")

# cargo's bin directory on PATH when it exists: a CI shell that installed rustup in an earlier step (or in this
# one) has not sourced ~/.cargo/env.
toolchain_path() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  if [[ -d "$bin" && ":$PATH:" != *":$bin:"* ]]; then export PATH="$bin:$PATH"; fi
}

toolchain_missing() {
  toolchain_path
  if ! command -v rustup >/dev/null 2>&1; then
    # Workers Builds' image has Node.js, Python, Go, Ruby... but no Rust.
    printf 'rustup\t%s\n' "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"
  elif ! cargo --version >/dev/null 2>&1; then
    printf 'rust toolchain\t%s\n' "rustup toolchain install stable --profile minimal && rustup default stable"
  fi
  if ! command -v rustup >/dev/null 2>&1 || ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    printf 'wasm32-unknown-unknown\t%s\n' "rustup target add wasm32-unknown-unknown"
  fi
  if [[ "$(worker-build --version 2>/dev/null || true)" != *"$WORKER_BUILD_VERSION"* ]]; then
    printf 'worker-build %s\t%s\n' "$WORKER_BUILD_VERSION" "cargo install worker-build --version $WORKER_BUILD_VERSION --locked"
  fi
  if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != *"$WASM_BINDGEN_VERSION"* ]]; then
    printf 'wasm-bindgen-cli %s\t%s\n' "$WASM_BINDGEN_VERSION" "cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION --force"
  fi
  # wasm-opt (npm binaryen) and esbuild come from the project's npm packages.
  if [[ ! -d "$_TOOLCHAIN_ROOT/node_modules" ]] || [[ "$_TOOLCHAIN_ROOT/package-lock.json" -nt "$_TOOLCHAIN_ROOT/node_modules/.package-lock.json" ]]; then
    # `npm install`, not `npm ci`: this registry's lock files carry no download addresses, and `npm ci` then
    # reports the other platforms' optional workerd binaries as missing. With the lock present, `npm install`
    # installs exactly the locked versions (verified: the lock file is left unchanged).
    printf 'npm packages\t%s\n' "npm install --no-audit --no-fund --loglevel=error"
  fi
}

toolchain_install() {
  local name command left plan
  # The list is made once, up front (without rustup it already names the target and the cargo tools), and
  # each installer's standard input is closed so that none can read the list.
  plan="$(toolchain_missing)"
  while IFS=$'\t' read -r name command; do
    [[ -z "$name" ]] && continue
    printf '\033[1;34m[toolchain]\033[0m installing %s: %s\n' "$name" "$command" >&2
    (cd "$_TOOLCHAIN_ROOT" && bash -c "set -euo pipefail; $command" </dev/null)
    toolchain_path
  done <<< "$plan"
  left="$(toolchain_missing)"
  if [[ -n "$left" ]]; then
    printf '[toolchain] still missing after installing:\n%s\n' "$left" >&2
    return 1
  fi
}
