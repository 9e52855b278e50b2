#!/usr/bin/env bash
# Fuzz every parser of outside input, and the whole login flow, with cargo-fuzz (libFuzzer).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]      # default 60
#
# Builds all targets once (`cargo +nightly fuzz build`), then runs each for SECONDS_PER_TARGET, seeded from
# fuzz/seeds/TARGET (read-only) and growing fuzz/corpus/TARGET (git-ignored). Prints executions and crashes
# per target and exits non-zero if any target crashed, timed out, ran out of memory or failed to run.
# Crash inputs land in fuzz/artifacts/TARGET/ (git-ignored); logs in fuzz/artifacts/logs/.
#
# Environment:
#   FUZZ_TARGETS="jwt config"   run only these targets (default: all of them)
#   FUZZ_TIMEOUT=10             seconds one input may take before it counts as a hang (libFuzzer -timeout)
#   FUZZ_RSS_LIMIT_MB=2048      libFuzzer -rss_limit_mb
#   FUZZ_SKIP_KNOWN=1           treat the known, reported-but-unfixed panics listed in fuzz/src/known.rs as
#                               uninteresting inputs instead of crashes (to fuzz past them; off by default)
#
# Needs the nightly toolchain (`cargo +nightly`), or else runs stable rustc with RUSTC_BOOTSTRAP=1; installs
# cargo-fuzz from crates.io when it is missing. Reproducers of past findings in fuzz/regressions/TARGET are
# replayed at the start of every run.
#
# Reproduce a crash:   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...   (from the repo root)
# Show a flow input:   cargo +nightly fuzz fmt callback_flow fuzz/artifacts/callback_flow/crash-...
# Regenerate seeds:    cargo +nightly run --manifest-path fuzz/Cargo.toml --example gen_seeds
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  echo "usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
TARGETS=(${FUZZ_TARGETS:-cookie_decode jwt jwks_discovery config path_canonical callback_flow xml_c14n saml_response saml_acs_flow wsfed_wresult wsfed_metadata})
TIMEOUT="${FUZZ_TIMEOUT:-10}"
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"

# ---- tools -----------------------------------------------------------------------------------------------
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address). Use the nightly toolchain when there is one;
# machines that have only the stable toolchain (and cannot download another) run the same build with
# RUSTC_BOOTSTRAP=1, which lets stable rustc accept those flags (its rust-std ships the ASan runtime).
# FUZZ_USE_STABLE=1 takes the stable path even where nightly exists (what a fresh CI machine does).
if [[ "${FUZZ_USE_STABLE:-0}" != 1 ]] && cargo +nightly --version >/dev/null 2>&1; then
  CARGO=(cargo +nightly)
else
  echo "==> no nightly toolchain: using $(cargo --version) with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  CARGO=(cargo)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi
echo "==> $("${CARGO[@]}" --version); $(cargo fuzz --version)"

# ---- build -----------------------------------------------------------------------------------------------
t0=$(date +%s)
"${CARGO[@]}" fuzz build
echo "==> built all targets in $(( $(date +%s) - t0 ))s"

# ---- run -------------------------------------------------------------------------------------------------
mkdir -p fuzz/artifacts/logs
declare -A EXECS RATE CORPUS CRASHES STATUS SECS
failed=0
for target in "${TARGETS[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$target.rs" ]; then
    echo "error: no fuzz target $target" >&2
    exit 2
  fi
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/logs/$target.log"
  before=$(find "fuzz/artifacts/$target" -maxdepth 1 -type f | wc -l)
  dict=()
  [ -f "fuzz/dicts/$target.dict" ] && dict=("-dict=fuzz/dicts/$target.dict")
  # Reproducers of past findings are replayed first, with the seeds (both read-only).
  extra=()
  [ -d "fuzz/regressions/$target" ] && extra=("fuzz/regressions/$target")
  echo
  echo "==> $target: ${SECONDS_PER_TARGET}s (log: $log)"
  t0=$(date +%s)
  set +e
  "${CARGO[@]}" fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" "${extra[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT" \
    -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  SECS[$target]=$(( $(date +%s) - t0 ))
  # libFuzzer's final statistics, or the last status line when it stopped at a crash.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  EXECS[$target]=${execs:-0}
  RATE[$target]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  [ -n "${RATE[$target]}" ] || RATE[$target]=$(( ${execs:-0} / (${SECS[$target]} > 0 ? ${SECS[$target]} : 1) ))
  CORPUS[$target]=$(find "fuzz/corpus/$target" -maxdepth 1 -type f | wc -l)
  after=$(find "fuzz/artifacts/$target" -maxdepth 1 -type f | wc -l)
  CRASHES[$target]=$(( after - before ))
  if [ "$rc" -eq 0 ] && [ "${CRASHES[$target]}" -eq 0 ]; then
    STATUS[$target]=ok
  else
    STATUS[$target]="FAILED (exit $rc)"
    failed=1
    grep -m1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" | sed 's/^/    /' || true
    grep -A2 -m1 "panicked at" "$log" | tail -n +2 | sed 's/^/    /' || true
    grep -E "Test unit written to|^Output of" "$log" | sed 's/^/    /' || true
  fi
  echo "    ${EXECS[$target]} executions in ${SECS[$target]}s, ${CRASHES[$target]} crash(es): ${STATUS[$target]}"
done

# ---- summary ---------------------------------------------------------------------------------------------
echo
printf '%-16s %8s %14s %10s %8s %8s  %s\n' target seconds executions exec/s corpus crashes result
for target in "${TARGETS[@]}"; do
  printf '%-16s %8s %14s %10s %8s %8s  %s\n' "$target" "${SECS[$target]}" "${EXECS[$target]}" "${RATE[$target]}" \
    "${CORPUS[$target]}" "${CRASHES[$target]}" "${STATUS[$target]}"
done
if [ "$failed" -ne 0 ]; then
  echo
  echo "fuzzing found a problem: reproduce with the 'cargo +nightly fuzz run TARGET ARTIFACT' commands above" >&2
  exit 1
fi
echo
echo "no crashes"
