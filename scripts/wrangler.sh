#!/usr/bin/env bash
# Runs the project's wrangler (node_modules) with telemetry off. wrangler 4's launcher refuses Node < 22.12
# although its CLI runs on Node 20 (verified with `wrangler dev --local` and `deploy --dry-run`): on older
# Node, run the CLI directly instead of through the launcher.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false WRANGLER_HIDE_BANNER=true
if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'; then
  exec node_modules/.bin/wrangler "$@"
else
  exec node --no-warnings node_modules/wrangler/wrangler-dist/cli.js "$@"
fi
