#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (scripts/setup.sh), then
#   lint -> host tests -> WebCrypto tests in wasm -> worker build + size report -> end-to-end tests in
#   workerd against a real OpenID Provider -> headless-Chromium test.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export EDGE_AUTH_NEED_CHROMIUM=1
# The XML c14n test compares with libxml2 live (python3 + lxml, installed by setup.sh): fail, never skip, here.
export EDGE_AUTH_NEED_LXML=1

started=$(date +%s)
step() {
  local name="$1"; shift
  printf '\n\033[1;34m==> %s\033[0m\n' "$name"
  local t0=$(date +%s)
  "$@"
  printf '\033[1;32m<== %s ok (%ss)\033[0m\n' "$name" "$(( $(date +%s) - t0 ))"
}

step "setup" bash scripts/setup.sh
step "format" cargo fmt --all -- --check
step "clippy (host, all targets, check command)" cargo clippy --all-targets --features cli --locked -- -D warnings
step "clippy (host, all targets, SAML + check command)" cargo clippy --all-targets --features saml,cli --locked -- -D warnings
step "clippy (wasm32)" cargo clippy --target wasm32-unknown-unknown --lib --locked -- -D warnings
step "clippy (wasm32, SAML)" cargo clippy --target wasm32-unknown-unknown --lib --features saml --locked -- -D warnings
step "host tests (core + flow)" cargo test --locked
step "check command" cargo test --locked --features cli --test check_cli
step "XML core (parser, exclusive c14n, X.509 unit tests)" cargo test --locked --features xml --lib core::x
step "SAML (core, configuration and flow unit tests)" cargo test --locked --features saml --lib
step "XML signatures (independent signer's documents, verified with ring)" cargo test --locked --features xml --test xml_dsig
step "SAML 2.0 responses (profile rules, signature wrapping)" cargo test --locked --features xml --test saml_response
step "SAML sign-in flow (host)" cargo test --locked --features saml --test saml_flow --test saml_review
step "WS-Federation sign-in flow (host)" cargo test --locked --features saml --test wsfed_flow
step "SAML encrypted assertions (RSA-OAEP + AES-GCM, independent encryptor's documents)" cargo test --locked --features saml --test saml_encrypted
step "WS-Federation wresult (SAML 1.1 and 2.0 tokens, signature wrapping)" cargo test --locked --features xml --test wsfed_wresult
step "XML c14n against libxml2 (committed corpus + live random documents)" cargo test --locked --features xml --test xml_c14n
step "WebCrypto tests (wasm32 in Node, with the SAML decryption path)" cargo test --locked --target wasm32-unknown-unknown --features saml --test webcrypto
step "build the worker (OIDC only)" bash scripts/build.sh
step "build the worker with SAML" env EDGE_AUTH_FEATURES=saml EDGE_AUTH_OUT=build-saml bash scripts/build.sh
step "bundle size" node scripts/size.mjs
# docs/production.md followed offline: [env.production], edge-auth-check --site, wrangler deploy --dry-run, and
# what the build installs on a machine without the tools (a few seconds).
step "production guide (offline)" bash scripts/production-check.sh
# One folder per concern (tests/e2e/{flow,attacks,kinds,sessions,policies,resilience}); every file listed once,
# explicitly (Node 20 recurses into a directory argument, Node 22 reads arguments as globs).
mapfile -t e2e_files < <(find tests/e2e -name '*.test.mjs' | sort)
step "end-to-end tests (workerd + oidc-provider)" node --test --test-concurrency=1 "${e2e_files[@]}"
step "browser test (headless Chromium)" node --test tests/browser/
# Every parser of outside input and the whole flow under libFuzzer for 10 s each, replaying the regression
# inputs of past findings (longer runs: bash scripts/fuzz.sh 300).
step "fuzz smoke (cargo fuzz, 10 s per target)" env FUZZ_USE_STABLE=1 bash scripts/fuzz.sh 10

printf '\n\033[1;32mall tests passed in %ss\033[0m\n' "$(( $(date +%s) - started ))"
