#!/usr/bin/env bash
# Run edge-auth locally, offline, with no account anywhere:
#   - the development OpenID Provider (dev/idp.mjs) on http://127.0.0.1:9000
#   - the worker in the real Workers runtime (workerd, through `wrangler dev --local`) on http://127.0.0.1:8787
# Then open http://127.0.0.1:8787/ and sign in as e.g. alice@example.com (any password) or bob@partner.example.
# Idempotent: installs what is missing (scripts/setup.sh), keeps an existing .dev.vars.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

# Local secrets for wrangler dev (.dev.vars is git-ignored). Missing entries are added, existing ones kept.
node --input-type=module - <<'EOF'
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const cfg = JSON.parse(readFileSync('dev/idp.config.json', 'utf8'));
const secretOf = (id) => cfg.clients.find((c) => c.client_id === id)?.client_secret;
const wanted = {
  SESSION_KEYS: randomBytes(32).toString('base64url'),
  DEV_IDP_CLIENT_SECRET: secretOf('edge-auth-dev'),
  PARTNER_IDP_CLIENT_SECRET: secretOf('edge-auth-partner'),
};
const existing = existsSync('.dev.vars') ? readFileSync('.dev.vars', 'utf8') : '';
const have = new Set(existing.split(/\r?\n/).map((l) => l.split('=')[0].trim()).filter(Boolean));
const add = Object.entries(wanted).filter(([k]) => !have.has(k));
if (add.length) {
  const prefix = existing && !existing.endsWith('\n') ? '\n' : '';
  const header = existing ? '' : '# Local secrets for `wrangler dev` (scripts/dev.sh). Never commit this file.\n';
  writeFileSync('.dev.vars', existing + prefix + header + add.map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
  console.log(`[dev] .dev.vars: added ${add.map(([k]) => k).join(', ')}`);
}
EOF

IDP_PID=""
cleanup() {
  if [ -n "$IDP_PID" ] && kill -0 "$IDP_PID" 2>/dev/null; then
    kill "$IDP_PID" 2>/dev/null || true
    wait "$IDP_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node dev/idp.mjs &
IDP_PID=$!

# Wait for the IdP's discovery document (the worker fetches it on the first login).
node --input-type=module - "$IDP_PID" <<'EOF'
const pid = Number(process.argv[2]);
const url = 'http://127.0.0.1:9000/.well-known/openid-configuration';
for (let i = 0; i < 100; i++) {
  try {
    const r = await fetch(url);
    if (r.ok) process.exit(0);
  } catch {}
  try { process.kill(pid, 0); } catch { console.error('[dev] the dev IdP exited (is port 9000 in use?)'); process.exit(1); }
  await new Promise((r) => setTimeout(r, 100));
}
console.error(`[dev] the dev IdP did not answer at ${url}`);
process.exit(1);
EOF

export CLOUDFLARE_CF_FETCH_ENABLED=false

echo "[dev] starting the worker: http://127.0.0.1:8787/ (dev IdP: http://127.0.0.1:9000, any login/password)"
bash scripts/wrangler.sh dev --local --ip 127.0.0.1 --port 8787 --show-interactive-dev-session=false
