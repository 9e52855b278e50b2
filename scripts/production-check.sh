#!/usr/bin/env bash
# Follows docs/production.md as far as it can be followed without a Cloudflare account or the IdPs, offline:
#
#   1. the production configuration: wrangler.toml's [env.production] has a custom domain (or a zone route),
#      both Durable Object bindings repeated, and its own AUTH_CONFIG;
#   2. the secrets file, made as the guide makes it (SESSION_KEYS generated, one entry per
#      client_secret_binding), and `edge-auth-check --wrangler wrangler.toml --env production --offline
#      --site https://<the custom domain> --secrets <that file> --wrangler-secrets <its names, as `wrangler secret
#      list` prints them>`: exit 0, the redirect URI on the custom domain printed; without SESSION_KEYS deployed: exit 1;
#   3. `wrangler deploy --dry-run --env production`: wrangler reads the same configuration, bundles the built
#      worker (build/, from scripts/build.sh) and lists the bindings, without warnings. The [build] command is
#      left out of this run: step 4 checks it, and the build itself is the test command's previous step;
#   4. the build without preinstalled tools: `scripts/build.sh --check-tools` (what `--install`, wrangler.toml's
#      [build] command, would install) with a PATH that lacks rustup, worker-build and wasm-bindgen names each of
#      them at the versions scripts/setup.sh pins. (Installing them for real takes ten minutes of compiling: the
#      installer is the same function setup.sh runs on every fresh machine.)
#
# Needs python3 (tomllib: 3.11+), node, the npm packages and build/. Exit 0 when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say() { printf '\033[1;34m[production-check]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[production-check] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

# ---- 1. The production configuration ------------------------------------------------------------------------
say "1. wrangler.toml [env.production]"
python3 - "$tmp" <<'EOF' || fail "wrangler.toml [env.production] (above)"
import json, os, sys, tomllib
tmp = sys.argv[1]
root = os.getcwd()
top = tomllib.load(open("wrangler.toml", "rb"))
env = top.get("env", {}).get("production")
problems = []
if env is None:
    sys.exit("no [env.production] section")
# The site's origin: a custom domain, or a zone route's host.
routes = env.get("routes") or ([env["route"]] if "route" in env else [])
hosts = []
for r in routes:
    pattern = r if isinstance(r, str) else r.get("pattern", "")
    if isinstance(r, dict) and r.get("custom_domain"):
        hosts.append(pattern)
    elif isinstance(r, dict) and (r.get("zone_name") or r.get("zone_id")):
        hosts.append(pattern.split("/", 1)[0].lstrip("*."))
if not hosts:
    problems.append("no route with custom_domain = true or a zone_name: the redirect URI needs the site's hostname")
if env.get("workers_dev", True):
    problems.append("workers_dev is not false: the site would also answer on *.workers.dev (another origin)")
bindings = {b.get("name"): b.get("class_name") for b in env.get("durable_objects", {}).get("bindings", [])}
for name, cls in {"REPLAY_GUARD": "ReplayGuard", "REVOCATION_LOG": "RevocationLog"}.items():
    if bindings.get(name) != cls:
        problems.append(f"[[env.production.durable_objects.bindings]] {name} -> {cls} is missing (not inherited)")
created = {c for m in top.get("migrations", []) for c in m.get("new_sqlite_classes", [])}
for cls in ("ReplayGuard", "RevocationLog"):
    if cls not in created:
        problems.append(f"no [[migrations]] new_sqlite_classes creates {cls}")
raw = env.get("vars", {}).get("AUTH_CONFIG")
if raw is None:
    problems.append("no [env.production.vars] AUTH_CONFIG (vars are not inherited)")
    config = {"connectors": []}
else:
    config = json.loads(raw) if isinstance(raw, str) else raw
    if raw == top.get("vars", {}).get("AUTH_CONFIG"):
        problems.append("AUTH_CONFIG is the development one")
if "scripts/build.sh --install" not in str(top.get("build", {}).get("command", "")):
    problems.append("[build] command does not install what it lacks (scripts/build.sh --install)")
for p in problems:
    print("  -", p, file=sys.stderr)
if problems:
    sys.exit(1)
open(os.path.join(tmp, "site"), "w").write(f"https://{hosts[0]}")
bindings_needed = sorted({c["client_secret_binding"] for c in config["connectors"] if "client_secret_binding" in c})
open(os.path.join(tmp, "bindings"), "w").write("\n".join(bindings_needed) + "\n")
# For step 3: the same configuration as JSON, without [build], with absolute paths (wrangler resolves paths
# from the configuration file's directory).
top.pop("build", None)
top["main"] = os.path.join(root, top["main"])
top["assets"]["directory"] = os.path.join(root, top["assets"]["directory"])
json.dump(top, open(os.path.join(tmp, "wrangler.json"), "w"), indent=1)
print(f"  site {hosts[0]}; secrets needed: SESSION_KEYS {' '.join(bindings_needed)}")
EOF
site="$(cat "$tmp/site")"

# ---- 2. Secrets, then edge-auth-check -----------------------------------------------------------------------
say "2. the secrets file (as docs/production.md makes it) and edge-auth-check --env production --site $site"
secrets="$tmp/secrets.production.env"
(
  umask 077
  # As in the guide: SESSION_KEYS generated, each client secret pasted from its IdP (here a stand-in).
  echo "SESSION_KEYS=$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')"
  while read -r binding; do
    [[ -n "$binding" ]] && echo "$binding=stand-in-for-the-secret-value-the-idp-shows-once"
  done < "$tmp/bindings"
) > "$secrets"
check=(cargo run --quiet --locked --features cli --bin edge-auth-check --)
# What `wrangler secret list --env production` prints once the guide's `secret bulk` ran: the names, never values.
deployed="$tmp/deployed-secrets.json"
python3 -c 'import json,sys; print(json.dumps([{"name": l.split("=",1)[0], "type": "secret_text"} for l in open(sys.argv[1]) if "=" in l]))' \
  "$secrets" > "$deployed"
if ! "${check[@]}" --wrangler wrangler.toml --env production --offline --site "$site" --secrets "$secrets" \
    --wrangler-secrets "$deployed" > "$tmp/check.out" 2>&1; then
  cat "$tmp/check.out" >&2
  fail "edge-auth-check refused the production configuration"
fi
grep -q '^result: ok' "$tmp/check.out" || { cat "$tmp/check.out" >&2; fail "edge-auth-check did not say ok"; }
# --site prints what the guide tells the operator to register: the redirect URI on the custom domain.
grep -qF "$site/auth/callback" "$tmp/check.out" || { cat "$tmp/check.out" >&2; fail "--site did not print $site/auth/callback"; }
# A secret the guide sets but Cloudflare does not have is an error (SESSION_KEYS left out of the deployed list).
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps([e for e in d if e["name"]!="SESSION_KEYS"]))' \
  "$deployed" > "$tmp/deployed-missing.json"
if "${check[@]}" --wrangler wrangler.toml --env production --offline --site "$site" \
    --wrangler-secrets "$tmp/deployed-missing.json" > "$tmp/check-missing.out" 2>&1; then
  cat "$tmp/check-missing.out" >&2
  fail "edge-auth-check accepted a deployment without SESSION_KEYS"
fi
grep -q 'SESSION_KEYS' "$tmp/check-missing.out" || { cat "$tmp/check-missing.out" >&2; fail "the missing secret was not named"; }
grep -E '^(config|result):' "$tmp/check.out" | sed 's/^/  /'

# ---- 3. wrangler deploy --dry-run --env production ----------------------------------------------------------
say "3. wrangler deploy --dry-run --env production"
[[ -f build/index.js ]] || fail "build/ is missing: run bash scripts/build.sh first"
if ! bash scripts/wrangler.sh deploy --dry-run --env production -c "$tmp/wrangler.json" --outdir "$tmp/out" \
    > "$tmp/wrangler.out" 2>&1; then
  cat "$tmp/wrangler.out" >&2
  fail "wrangler deploy --dry-run failed"
fi
if grep -qi 'warning' "$tmp/wrangler.out"; then
  cat "$tmp/wrangler.out" >&2
  fail "wrangler warned about the production configuration"
fi
for binding in 'env.REPLAY_GUARD (ReplayGuard)' 'env.REVOCATION_LOG (RevocationLog)' 'env.AUTH_CONFIG' 'env.ASSETS'; do
  grep -qF "$binding" "$tmp/wrangler.out" || { cat "$tmp/wrangler.out" >&2; fail "wrangler does not bind $binding"; }
done
grep -E 'Total Upload' "$tmp/wrangler.out" | sed 's/^/  /'

# ---- 4. The build without preinstalled tools ----------------------------------------------------------------
say "4. scripts/build.sh --install on a machine without the tools: what it would install"
# shellcheck source=scripts/toolchain.sh
source scripts/toolchain.sh
mkdir -p "$tmp/cargo-home" "$tmp/rust-only"
# (a) no Rust at all (Workers Builds' image): rustup, the target, both cargo tools.
plan="$(env PATH=/usr/bin:/bin CARGO_HOME="$tmp/cargo-home" bash scripts/build.sh --check-tools || true)"
printf '%s\n' "$plan" | sed 's/^/  (no Rust) /'
if ! env PATH=/usr/bin:/bin bash -c 'command -v rustup' >/dev/null 2>&1; then
  grep -q "^rustup	curl .*https://sh.rustup.rs" <<< "$plan" || fail "rustup is not installed when missing"
fi
grep -qx "wasm32-unknown-unknown	rustup target add wasm32-unknown-unknown" <<< "$plan" || fail "no wasm32 target step"
grep -qx "worker-build $WORKER_BUILD_VERSION	cargo install worker-build --version $WORKER_BUILD_VERSION --locked" <<< "$plan" \
  || fail "worker-build $WORKER_BUILD_VERSION is not installed when missing"
grep -qx "wasm-bindgen-cli $WASM_BINDGEN_VERSION	cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION --force" <<< "$plan" \
  || fail "wasm-bindgen-cli $WASM_BINDGEN_VERSION is not installed when missing"
# (b) Rust installed, the two tools not (a CI image with rustup): only the tools.
for tool in cargo rustc rustup; do ln -s "$(command -v "$tool")" "$tmp/rust-only/$tool"; done
plan="$(env PATH="$tmp/rust-only:/usr/bin:/bin" CARGO_HOME="$tmp/cargo-home" bash scripts/build.sh --check-tools || true)"
printf '%s\n' "$plan" | sed 's/^/  (rustup only) /'
grep -q '^rustup' <<< "$plan" && fail "rustup would be installed again"
grep -q "^worker-build $WORKER_BUILD_VERSION	" <<< "$plan" || fail "worker-build is not installed when missing"
grep -q "^wasm-bindgen-cli $WASM_BINDGEN_VERSION	" <<< "$plan" || fail "wasm-bindgen-cli is not installed when missing"
# (c) this machine, after scripts/setup.sh: no Rust tool left to install.
plan="$(bash scripts/build.sh --check-tools || true)"
grep -qE '^(rustup|rust toolchain|wasm32|worker-build|wasm-bindgen)' <<< "$plan" && fail "tools still missing here: $plan"
say "ok: the production configuration checks, wrangler accepts it, and the build installs what it lacks"
