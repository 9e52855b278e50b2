// docs/benchmark.md and docs/benchmark.svg from bench/results/latest.json.

const ALL = ['bare', 'edge-auth', 'edge-auth-saml', 'hono'];
const NAMES = { bare: 'bare worker (the limit)', 'edge-auth': 'edge-auth', 'edge-auth-saml': 'edge-auth with SAML', hono: 'hono + @hono/oidc-auth' };
const COLORS = { bare: '#8a8f98', 'edge-auth': '#f38020', 'edge-auth-saml': '#f6b26b', hono: '#3b6fd8' };
// the workers a results file holds (one written before the SAML variant has no edge-auth-saml)
const order = (r) => ALL.filter((id) => r.summary[id]);
const signed = (x, d) => `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x), d)}`;

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const day = (iso) => iso.slice(0, 10);

function machineLine(r) {
  const m = r.machine;
  return `${m.nproc} CPU(s), ${m.cpu}, ${m.memory_gib} GiB, ${m.kernel}; ${m.workerd}, ${m.wrk}, Node ${m.node}`;
}

function busy(r) {
  const m = r.machine;
  const load = Math.max(m.load_average_before[0], m.load_average_after[0]);
  return load > 0.5 ? `The machine was not idle (1-minute load average ${m.load_average_before[0]} before, ${m.load_average_after[0]} after the run, on ${m.nproc} CPUs, besides this benchmark): the figures are noisy; compare the ratios rather than the absolute numbers.` : '';
}

export function renderMarkdown(r) {
  const s = r.summary;
  const L = [];
  L.push('# Benchmark: edge-auth against a bare worker and @hono/oidc-auth');
  L.push('');
  L.push(`Measured ${r.date.replace('T', ' ').slice(0, 16)} UTC on ${machineLine(r)}. Produced by \`bash scripts/bench.sh\` (${r.duration_s} s); raw data in \`bench/results/latest.json\`.`);
  const b = busy(r);
  if (b) L.push('', `> ${b}`);
  L.push('');
  L.push('![Requests/s, CPU per request and p50 latency of the workers](benchmark.svg)');
  L.push('');
  L.push('## A protected page with a valid session');
  L.push('');
  L.push('`GET /` (www/index.html, 3 KB) with a valid session cookie; every worker hands the request to the same static-asset service. edge-auth is the OIDC-only build (`scripts/build.sh`); edge-auth with SAML is the build with SAML (`EDGE_AUTH_FEATURES=saml`, build-saml/) with a SAML connector configured beside the same OIDC connectors.');
  L.push('');
  L.push('| worker | requests/s | vs bare | p50 | p99 | CPU per request | CPU over bare | cold start | deployed, gzip |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const id of order(r)) {
    const x = s[id];
    const size = r.size[id];
    L.push(
      `| ${NAMES[id]} | ${fmt(x.rps)} | ${fmt(x.rps_vs_bare, 2)} | ${fmt(x.p50_ms, 2)} ms | ${fmt(x.p99_ms, 2)} ms | ${fmt(x.cpu_us_per_req, 1)} µs | ${id === 'bare' ? '–' : `${signed(x.cpu_over_bare_us, 1)} µs`} | ${fmt(x.cold_start_ms, 1)} ms | ${fmt(size.gzip_bytes / 1024, 1)} KiB |`,
    );
  }
  L.push('');
  L.push(`edge-auth serves ${fmt(r.edge_vs_hono_rps, 2)}× the requests/s of hono + @hono/oidc-auth.`);
  L.push('');
  const v = r.saml_variant;
  if (v) {
    L.push('### The build with SAML');
    L.push('');
    L.push(
      `Against the OIDC-only build, in the same rounds, the build with SAML and a SAML connector serves ${fmt(v.rps_vs_edge_auth, 2)}× the requests/s at ${signed(v.cpu_over_edge_auth_us, 1)} µs of CPU per request (the hot path runs no SAML code: weigh a difference against the run-to-run spread in bench/README.md), starts ${fmt(Math.abs(v.cold_start_over_edge_auth_ms), 1)} ms ${v.cold_start_over_edge_auth_ms >= 0 ? 'later' : 'sooner'} (median cold start) and its deployment is ${fmt(Math.abs(v.gzip_over_edge_auth_bytes) / 1024, 1)} KiB ${v.gzip_over_edge_auth_bytes >= 0 ? 'larger' : 'smaller'} gzipped (wasm ${signed(v.wasm_gzip_over_edge_auth_bytes / 1024, 1)} KiB). Its sign-in callback and Durable Object calls are not measured separately: they are the same code in both builds.`,
    );
    L.push('');
  }
  L.push('## Targets (issue 6)');
  L.push('');
  L.push('| target | measured | |');
  L.push('|---|---:|---|');
  for (const t of r.targets) L.push(`| ${t.name} | ${fmt(t.value, t.unit === 'µs' || t.unit === 'KiB' ? 1 : 2)} ${t.unit} | ${t.met ? 'met' : '**not met**'} |`);
  L.push('');
  L.push('## Sign-in callback: code exchange and ID-token validation with cached keys');
  L.push('');
  L.push('`GET /auth/callback` with the login transaction cookie: the worker redeems the code at the token endpoint of a local OP (loopback), verifies the ID token with WebCrypto against the JWKS cached in the isolate, checks the claims, seals the session and answers 302. One callback at a time.');
  L.push('');
  L.push('| ID-token alg | CPU per callback | p50 | p99 | for comparison: CPU per `/auth/login` redirect |');
  L.push('|---|---:|---:|---:|---:|');
  for (const [alg, c] of Object.entries(r.callback)) {
    L.push(`| ${alg.toUpperCase()} | ${fmt(c.cpu_us_per_callback)} µs | ${fmt(c.p50_ms, 2)} ms | ${fmt(c.p99_ms, 2)} ms | ${fmt(c.login_cpu_us)} µs |`);
  }
  L.push('');
  L.push('The callback CPU includes the worker side of the token request (HTTP client, loopback TCP), not only the signature check.');
  L.push('');
  if (r.durable_objects) durableObjectSection(L, r);
  L.push('## Size');
  L.push('');
  for (const [id, what] of [['edge-auth', 'edge-auth (OIDC only)'], ['edge-auth-saml', 'edge-auth with SAML']]) {
    const e = r.size[id];
    if (!e) continue;
    L.push(`${what} deploys ${fmt(e.raw_bytes)} B (${fmt(e.gzip_bytes)} B gzipped, ${fmt(e.gzip_bytes / 1024, 1)} KiB): wasm ${fmt(e.wasm_raw_bytes)} B (${fmt(e.wasm_gzip_bytes)} B gzipped) and JS glue ${fmt(e.js_raw_bytes)} B (${fmt(e.js_gzip_bytes)} B gzipped), as \`node scripts/size.mjs\` counts it.`);
    if (e.wasm_custom_sections && e.wasm_custom_sections.name) {
      L.push('');
      L.push(`> This wasm still carries its \`name\` section (${fmt(e.wasm_custom_sections.name)} B): it was not built by \`scripts/build.sh\`'s deployment pass (\`wasm-opt -Oz --strip-debug\`), so the size above overstates the deployed size.`);
    }
    L.push('');
  }
  L.push(`hono + @hono/oidc-auth bundled and minified by esbuild: ${fmt(r.size.hono.raw_bytes)} B (${fmt(r.size.hono.gzip_bytes)} B gzipped).`);
  L.push('');
  L.push('## Method');
  L.push('');
  for (const [k, v] of Object.entries(r.method)) if (typeof v === 'string') L.push(`- **${k}**: ${v}.`);
  L.push('- **workers**: (1) `bench/workers/bare.mjs` returns `env.ASSETS.fetch(request)`; (2) edge-auth as built by `scripts/build.sh` (wasm + JS glue, CompiledWasm module), `AUTH_CONFIG` with two connectors at the local OP, a fresh `SESSION_KEYS`; (2b) edge-auth as built by `EDGE_AUTH_FEATURES=saml EDGE_AUTH_OUT=build-saml scripts/build.sh`, the same `AUTH_CONFIG` plus a SAML connector (`corp`, inline IdP) and the same `SESSION_KEYS`; (3) `bench/workers/hono.mjs`: `oidcAuthMiddleware()` on `*`, then the asset (re-wrapped in a `Response`, since the middleware sets `Cache-Control` on it), bundled by esbuild.');
  L.push('- **cookies**: edge-auth\'s sealed with its codec (HKDF-derived HMAC-SHA256 key, `v1.<payload>.<tag>`), hono\'s an HS256 JWT signed with `OIDC_AUTH_SECRET` holding `rtkexp`/`ssnexp` a month ahead; both are sent to every worker, so the requests are byte-identical.');
  L.push('- **checks before measuring**: each worker answers 200 with the page when the cookie is valid; without it edge-auth answers 302 to `/auth/login` (navigation) or 401 (API) and hono 302 to the OP; a tampered cookie is refused by both.');
  L.push('- **caveats**: wrk shares the CPUs with workerd (CPU per request is workerd\'s alone; requests/s is limited by both); p99 on a busy 2-CPU machine mostly measures the scheduler; the asset service stands in for Cloudflare\'s asset pipeline (so the workers differ only in their own code), and localhost has no network latency.');
  L.push('');
  L.push('## Every round');
  L.push('');
  L.push('| round | worker | requests/s | p50 | p99 | CPU per request | workerd CPU use |');
  L.push('|---:|---|---:|---:|---:|---:|---:|');
  r.rounds.forEach((round, i) => {
    for (const id of round.order) {
      const x = round.results[id];
      L.push(`| ${i + 1} | ${NAMES[id]} | ${fmt(x.rps)} | ${fmt(x.p50_ms, 2)} ms | ${fmt(x.p99_ms, 2)} ms | ${fmt(x.cpu_us_per_req, 1)} µs | ${fmt(x.cpu_util * 100)}% |`);
    }
  });
  L.push('');
  L.push(`Cold start is measured from spawning workerd to the first 200 with the session cookie, so it includes workerd's own start; what each worker adds to it is its difference from the bare worker: ${order(r).filter((id) => id !== 'bare').map((id) => `${NAMES[id]} ${fmt(s[id].cold_start_over_bare_ms, 1)} ms`).join(', ')}.`);
  L.push('');
  L.push(`Cold start samples (ms, the first left out of the median): ${order(r).map((id) => `${NAMES[id]} ${r.cold_start[id].samples_ms.join(', ')}`).join('; ')}.`);
  L.push('');
  return `${L.join('\n')}\n`;
}

// The Durable Object round trips next to the callback (which makes one claim) and the hot path (which makes none).
function durableObjectSection(L, r) {
  const d = r.durable_objects;
  const s = r.summary['edge-auth'];
  const entries = fmt(d.log_entries);
  L.push('## Durable Object round trips');
  L.push('');
  L.push(
    `Measured in edge-auth's own workerd, after the load and the callbacks: a bench-only worker of that process (\`bench/workers/do-probe.mjs\`, bound to the same \`ReplayGuard\` and \`RevocationLog\` objects and storage; SQLite on local disk) makes the calls the worker makes. Latency is what one call adds to a request: ${fmt(d.claim.samples)} requests of one call each, interleaved with as many that make none, the difference of their medians (and of their 99th percentiles); CPU is workerd's \`/proc\` time over ${fmt(d.claim.batch_calls)} claims in a row (${fmt(d.since.batch_calls)} \`since\` calls, ${fmt(d.read_all.batch_calls)} whole reads), per call.`,
  );
  L.push('');
  L.push('| call | made by | adds p50 | adds p99 | CPU per call | requests with / without the call, p50 |');
  L.push('|---|---|---:|---:|---:|---:|');
  const row = (name, by, x, p99Label = '') =>
    L.push(`| ${name} | ${by} | ${fmt(x.added_p50_ms, 3)} ms | ${fmt(x.added_p99_ms, 3)} ms${p99Label} | ${fmt(x.cpu_us_per_call)} µs | ${fmt(x.request_p50_ms, 3)} / ${fmt(x.baseline_p50_ms, 3)} ms |`);
  row('`ReplayGuard.claim` of a fresh id', 'every sign-in callback, before the code exchange', d.claim);
  row(`\`RevocationLog.since(cursor)\`, cursor up to date (log of ${entries})`, 'every isolate every 10 s, in the background', d.since);
  row(
    `whole read of a log of ${entries} (${fmt(d.read_all.pages)} \`since\` calls, ${fmt(d.read_all.answer_bytes / 1024)} KiB)`,
    "a fresh isolate's first request waits for it",
    d.read_all,
    d.read_all.samples < 100 ? ` (slowest of ${fmt(d.read_all.samples)})` : '',
  );
  L.push('');
  const share = (part, whole) => (whole > 0 ? `${fmt((part / whole) * 100)}%` : '–');
  const cb = Object.entries(r.callback)
    .map(([alg, c]) => `${alg.toUpperCase()} ${fmt(c.cpu_us_per_callback)} µs of CPU and ${fmt(c.p50_ms, 2)} ms at the median, of which the claim is about ${share(d.claim.cpu_us_per_call, c.cpu_us_per_callback)} and ${share(d.claim.added_p50_ms, c.p50_ms)}`)
    .join('; ');
  L.push(`The callback measured above includes its claim: ${cb}.`);
  L.push('');
  L.push(
    `The hot path makes no Durable Object call: in the same run, edge-auth with a valid session served ${fmt(s.rps_vs_bare, 2)}× the bare worker's requests/s at ${signed(s.cpu_over_bare_us, 1)} µs of CPU per request over it (table above); each isolate's \`since\` poll, one request in 10 s leaving the fast path for it, is included in those rounds.`,
  );
  L.push('');
  L.push(
    "The object runs in the caller's process here: on Cloudflare an object may live in another location than the isolate calling it, which adds the network round trip between them to the latency (not to the worker's CPU), and its storage commits are replicated rather than written to one local disk.",
  );
  L.push('');
}

export function renderSvg(r) {
  const W = 900;
  const ORDER = order(r);
  const panelH = 34 + ORDER.length * 28;
  const top = 78;
  const labelW = 210;
  const barMax = W - labelW - 190;
  const s = r.summary;
  const panels = [
    { title: 'Requests per second (higher is better)', key: 'rps', fmt: (x) => fmt(x), extra: (id) => (id === 'bare' ? '' : `  ${fmt(s[id].rps_vs_bare * 100)}% of bare`) },
    { title: 'CPU per request, µs (lower is better)', key: 'cpu_us_per_req', fmt: (x) => `${fmt(x, 1)} µs`, extra: (id) => (id === 'bare' ? '' : `  ${signed(s[id].cpu_over_bare_us, 1)} µs`) },
    { title: 'Latency p50, ms (lower is better)', key: 'p50_ms', fmt: (x) => `${fmt(x, 2)} ms`, extra: () => '' },
  ];
  const footLines = [
    ...(busy(r) ? ['Shared, busy machine during this run: the figures are noisy; compare the ratios.'] : []),
    'Same request to every worker: GET / with both session cookies; www/index.html from one shared asset service.',
    "CPU per request: utime + stime of the worker's own workerd process / requests. Details: docs/benchmark.md.",
  ];
  const H = top + panels.length * panelH + 24 + footLines.length * 16;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="24" y="34" font-size="20" font-weight="700" fill="#1f2328">edge-auth: a protected page with a valid session</text>`);
  o.push(`<text x="24" y="56" font-size="12.5" fill="#57606a">${esc(`${day(r.date)} · ${r.machine.nproc} CPUs, ${r.machine.cpu} · ${r.machine.workerd}, one process per worker · wrk -t${r.method.options.threads} -c${r.method.options.connections}, median of ${r.method.options.rounds} × ${r.method.options.seconds} s`)}</text>`);
  panels.forEach((p, i) => {
    const y0 = top + i * panelH;
    o.push(`<text x="24" y="${y0 + 16}" font-size="14" font-weight="600" fill="#1f2328">${esc(p.title)}</text>`);
    const max = Math.max(...ORDER.map((id) => s[id][p.key] || 0)) || 1;
    ORDER.forEach((id, k) => {
      const y = y0 + 28 + k * 28;
      const v = s[id][p.key] || 0;
      const w = Math.max(2, (v / max) * barMax);
      o.push(`<text x="${labelW - 10}" y="${y + 15}" font-size="13" text-anchor="end" fill="#1f2328">${esc(NAMES[id])}</text>`);
      o.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="20" rx="3" fill="${COLORS[id]}"/>`);
      o.push(`<text x="${(labelW + w + 8).toFixed(1)}" y="${y + 15}" font-size="13" fill="#1f2328"><tspan font-weight="600">${esc(p.fmt(v))}</tspan><tspan fill="#57606a">${esc(p.extra(id))}</tspan></text>`);
    });
  });
  footLines.forEach((line, i) => {
    o.push(`<text x="24" y="${H - 12 - (footLines.length - 1 - i) * 16}" font-size="11.5" fill="#57606a">${esc(line)}</text>`);
  });
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
