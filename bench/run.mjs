#!/usr/bin/env node
// edge-auth benchmark (issue 6). Run through `bash scripts/bench.sh`, which installs what is missing and
// builds both variants of the worker first; this file assumes build/ and build-saml/ are fresh and wrk,
// workerd, hono, @hono/oidc-auth and esbuild are present.
//
// What it does:
//   1. snapshots build/ (edge-auth) and build-saml/ (edge-auth-saml: the build with SAML, issue 14), bundles
//      bench/workers/hono.mjs with esbuild, and writes one workerd config per worker: (1) bare — hands the
//      request to the asset service; (2) edge-auth; (2b) edge-auth-saml, the same AUTH_CONFIG plus a SAML
//      connector; (3) hono + @hono/oidc-auth. Each has the same ASSETS service (www/ in memory, bench/workers/assets.mjs) as a
//      service binding, the way wrangler's [assets] binding reaches Workers static assets.
//   2. starts a local OP (tests/support/fake-idp/op.mjs), mints a valid session cookie for edge-auth (its codec, with a
//      SESSION_KEYS set here) and for @hono/oidc-auth (HS256 JWT with OIDC_AUTH_SECRET), and checks every
//      worker: 200 + the page with the cookie; without it 302 (navigation) / 401 (API) for edge-auth (both
//      builds) and 302 for hono; a tampered cookie is refused; the SAML build's SAML connector answers.
//   3. load: one workerd process per worker; wrk -t1 -cC for S seconds per worker, R interleaved rounds after
//      a warm-up; CPU per request = (utime+stime of that workerd from /proc/<pid>/stat) / requests.
//   4. (edge-auth only: the SAML build runs the same OIDC and Durable Object code) the callback (code exchange against the local OP + ID-token validation with cached keys), RS256 and
//      ES256: N logins prepared first, then N callbacks timed, CPU per callback from /proc.
//   5. the Durable Object round trips in edge-auth's workerd (bench/lib/durable-objects.mjs through
//      bench/workers/do-probe.mjs, a second worker of that process bound to the same objects): a ReplayGuard
//      claim of a fresh id (what each callback adds), RevocationLog.since with an up-to-date cursor (each
//      isolate's background poll) and a whole read of a log of 10,000 entries (a fresh isolate's first request).
//   6. cold start: spawn workerd -> first 200 with the cookie, K runs per worker, interleaved.
//   7. deployed size: scripts/size.mjs on the snapshots (wasm + JS, gzip -9; one total per build variant),
//      and the peers' bundles.
//   Writes bench/results/latest.json, docs/benchmark.md, docs/benchmark.svg.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { renderMarkdown, renderSvg } from './lib/report.mjs';
import { pinningDescription } from './lib/pin.mjs';
import { machine, prepare, ROOT, scenario, sizes, WORK, WORKERD, WORKERS } from './lib/setup.mjs';
import { median, percentile, round } from './lib/stats.mjs';
import { benchDurableObjects } from './lib/durable-objects.mjs';
import { cpuSeconds, freePort, get, startWorkerd, stopProcess } from './lib/workerd.mjs';
import { runWrk, writeLua } from './lib/wrk.mjs';

const HERE = path.join(ROOT, 'bench');

// ---- options --------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : dflt;
};
if (flag('help')) {
  console.log(`usage: bash scripts/bench.sh [--quick] [--rounds 5] [--seconds 10] [--warmup 3] [--connections 16]
       [--threads 1] [--cold-runs 5] [--callbacks 300] [--do-calls 1000] [--do-reads 20]
       [--log-entries 10000] [--no-docs] [--skip-build (bench.sh)]
  --quick   1 round of 3 s, 3 cold runs, 60 callbacks, 200 Durable Object calls and 5 whole reads of the
            log: checks the tooling, numbers are rough
  --do-calls     ReplayGuard claims and RevocationLog since calls timed (each: one per request, and a batch)
  --do-reads     whole reads of the revocation log timed
  --log-entries  entries in the revocation log for the since and whole-read figures
  --no-docs write bench/results/latest.json only (not docs/benchmark.md/.svg)`);
  process.exit(0);
}
const quick = flag('quick');
const O = {
  rounds: opt('rounds', quick ? 1 : 5),
  seconds: opt('seconds', quick ? 3 : 10),
  warmup: opt('warmup', quick ? 1 : 3),
  connections: opt('connections', 16),
  threads: opt('threads', 1),
  coldRuns: opt('cold-runs', quick ? 3 : 5),
  callbacks: opt('callbacks', quick ? 60 : 300),
  doCalls: opt('do-calls', quick ? 200 : 1000),
  doReads: opt('do-reads', quick ? 5 : 20),
  logEntries: opt('log-entries', 10_000),
  docs: !flag('no-docs'),
};

const log = (...a) => console.log(...a);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const running = new Set();
async function cleanup() {
  await Promise.allSettled([...running].map((c) => stopProcess(c)));
  running.clear();
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => cleanup().finally(() => process.exit(130)));
}

// ---- main -----------------------------------------------------------------------------------------------
async function main() {
  const started = new Date();
  const t0 = Date.now();
  log(`edge-auth benchmark: ${O.rounds} round(s) x ${O.seconds} s per worker, wrk -t${O.threads} -c${O.connections}; warm-up ${O.warmup} s`);
  const mach = machine();
  const loadBefore = os.loadavg();
  log(`machine: ${mach.nproc} CPU(s), ${mach.cpu}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}; ${pinningDescription()}`);

  const dirs = await prepare();
  const size = sizes(dirs);
  log(`size: edge-auth ${size['edge-auth'].gzip_bytes} B gzip (wasm + JS), with SAML ${size['edge-auth-saml'].gzip_bytes} B, hono + oidc-auth ${size.hono.gzip_bytes} B, bare ${size.bare.gzip_bytes} B`);

  const { op, edgeCookie, honoCookie, cookieHeader, loadHeaders, ports, configFor } = await scenario(dirs);

  const procs = {};
  // the Durable Object probe's socket, in edge-auth's workerd of the load test (not in the cold-start ones)
  const probePort = await freePort();
  const coldSamples = Object.fromEntries(WORKERS.map((w) => [w.id, []]));
  try {
    for (const w of WORKERS) {
      const port = await freePort();
      const cfg = await configFor(w.id, port, w.id === 'edge-auth' ? { probePort } : {});
      const p = await startWorkerd({ bin: WORKERD, configPath: cfg, port, probeHeaders: loadHeaders, logFile: path.join(WORK, 'logs', `${w.id}.log`) });
      running.add(p.child);
      procs[w.id] = p;
      coldSamples[w.id].push(p.coldMs);
    }

    // ---- correctness before measuring ----
    const page = readFileSync(path.join(ROOT, 'www', 'index.html'), 'utf8');
    const checks = [];
    const check = (name, ok, detail) => {
      checks.push({ name, ok, detail });
      log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
    };
    log('checks:');
    const url = (id, p = '/') => `http://127.0.0.1:${ports[id]}${p}`;
    for (const w of WORKERS) {
      const r = await get(url(w.id), loadHeaders);
      check(`${w.id}: with the session cookie, GET / is 200 with www/index.html`, r.status === 200 && r.body === page, `${r.status} ${r.body.slice(0, 200)}`);
    }
    {
      const nav = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
      let r = await get(url('edge-auth'), nav);
      check('edge-auth: no cookie, navigation -> 302 /auth/login', r.status === 302 && /^\/auth\/login/.test(r.headers.location || ''), `${r.status} ${r.headers.location}`);
      r = await get(url('edge-auth'), { accept: 'application/json' });
      check('edge-auth: no cookie, API request -> 401', r.status === 401, `${r.status}`);
      const forged = edgeCookie.slice(0, -2) + (edgeCookie.endsWith('AA') ? 'BB' : 'AA');
      r = await get(url('edge-auth'), { ...nav, cookie: `edge-auth-session=${forged}` });
      check('edge-auth: tampered cookie -> 302', r.status === 302, `${r.status}`);
      r = await get(url('edge-auth', '/auth/me'), { cookie: cookieHeader });
      check('edge-auth: /auth/me names the session', r.status === 200 && JSON.parse(r.body).email === 'alice@rs256.example', `${r.status} ${r.body}`);
      r = await get(url('edge-auth-saml'), nav);
      check('edge-auth-saml: no cookie, navigation -> 302 /auth/login', r.status === 302 && /^\/auth\/login/.test(r.headers.location || ''), `${r.status} ${r.headers.location}`);
      r = await get(url('edge-auth-saml'), { ...nav, cookie: `edge-auth-session=${forged}` });
      check('edge-auth-saml: tampered cookie -> 302', r.status === 302, `${r.status}`);
      r = await get(url('edge-auth-saml', '/auth/me'), { cookie: cookieHeader });
      check('edge-auth-saml: /auth/me names the session (same SESSION_KEYS)', r.status === 200 && JSON.parse(r.body).email === 'alice@rs256.example', `${r.status} ${r.body}`);
      // the variant measured is the SAML build with a SAML connector in use, not only compiled in
      r = await get(url('edge-auth-saml', '/auth/login?connector=corp'), nav);
      check('edge-auth-saml: /auth/login?connector=corp -> 302 to the IdP with a SAMLRequest', r.status === 302 && (r.headers.location || '').startsWith('https://idp.test/sso?SAMLRequest='), `${r.status} ${r.headers.location} ${r.headers['x-edge-auth-error'] || ''}`);
      r = await get(url('edge-auth-saml', '/auth/saml/corp/metadata'));
      check('edge-auth-saml: the SAML connector\'s SP metadata is served', r.status === 200 && r.body.includes('/auth/saml/corp/acs'), `${r.status} ${r.body.slice(0, 200)}`);
      r = await get(url('edge-auth', '/auth/saml/corp/metadata'));
      check('edge-auth: the OIDC-only build has no SAML routes (404)', r.status === 404, `${r.status}`);
      r = await get(url('hono'), nav);
      check('hono: no cookie -> 302 to the OP', r.status === 302 && (r.headers.location || '').startsWith(`${op.issuer}/authorize`), `${r.status} ${r.headers.location} ${r.body.slice(0, 200)}`);
      const badHono = honoCookie.slice(0, -2) + (honoCookie.endsWith('AA') ? 'BB' : 'AA');
      r = await get(url('hono'), { ...nav, cookie: `oidc-auth=${badHono}` });
      check('hono: tampered cookie -> 302', r.status === 302, `${r.status}`);
      r = await get(url('bare'), nav);
      check('bare: no cookie -> 200 (it protects nothing: the limit)', r.status === 200, `${r.status}`);
    }
    if (checks.some((c) => !c.ok)) throw new Error('a check failed: not measuring a worker that does not do its job');

    // ---- load ----
    const lua = writeLua(WORK);
    const runOne = async (id, seconds) => {
      const pid = procs[id].pid;
      let c0;
      let tStart;
      const r = await runWrk({
        url: url(id),
        seconds,
        threads: O.threads,
        connections: O.connections,
        headers: loadHeaders,
        lua,
        onStart: () => {
          c0 = cpuSeconds(pid, CLK_TCK);
          tStart = process.hrtime.bigint();
        },
        onEnd: () => ({ cpu: cpuSeconds(pid, CLK_TCK), wall: Number(process.hrtime.bigint() - tStart) / 1e9 }),
      });
      const errors = r.errors_connect + r.errors_read + r.errors_write + r.errors_status + r.errors_timeout;
      if (errors > 0) throw new Error(`${id}: wrk counted ${errors} errors (${JSON.stringify(r)})`);
      const cpu = r.ended.cpu - c0;
      return {
        requests: r.requests,
        rps: r.requests / (r.duration_us / 1e6),
        p50_ms: r.p50_us / 1000,
        p90_ms: r.p90_us / 1000,
        p99_ms: r.p99_us / 1000,
        cpu_s: cpu,
        cpu_us_per_req: (cpu / r.requests) * 1e6,
        cpu_util: cpu / r.ended.wall,
      };
    };
    log(`warm-up: ${O.warmup} s each`);
    for (const w of WORKERS) await runOne(w.id, O.warmup);
    const rounds = [];
    for (let i = 0; i < O.rounds; i++) {
      const order = WORKERS.map((_, k) => WORKERS[(k + i) % WORKERS.length]);
      const round_ = { order: order.map((w) => w.id), results: {} };
      for (const w of order) {
        const r = await runOne(w.id, O.seconds);
        round_.results[w.id] = r;
        log(`  round ${i + 1} ${w.id.padEnd(14)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  CPU ${r.cpu_us_per_req.toFixed(1)} µs/req (workerd at ${(r.cpu_util * 100).toFixed(0)}% of a core)`);
      }
      rounds.push(round_);
    }

    // ---- callbacks: code exchange + ID-token validation with cached keys ----
    const callback = {};
    for (const connector of ['rs256', 'es256']) {
      callback[connector] = await benchCallbacks({ base: `http://127.0.0.1:${ports['edge-auth']}`, pid: procs['edge-auth'].pid, connector, n: O.callbacks });
      const c = callback[connector];
      log(`  callback ${connector}: ${c.cpu_us_per_callback.toFixed(0)} µs CPU per callback, p50 ${c.p50_ms.toFixed(2)} ms; login ${c.login_cpu_us.toFixed(0)} µs CPU`);
    }

    // ---- Durable Object round trips, in the same workerd, after the load (the log filled here would
    // otherwise be loaded by edge-auth's isolates) and after the callbacks (which started the ReplayGuard objects) ----
    log(`Durable Object round trips: ${O.doCalls} claims and since calls, ${O.doReads} whole reads of a log of ${O.logEntries} entries`);
    const durableObjects = await benchDurableObjects({
      base: `http://127.0.0.1:${probePort}`,
      pid: procs['edge-auth'].pid,
      clkTck: CLK_TCK,
      calls: O.doCalls,
      reads: O.doReads,
      logEntries: O.logEntries,
    });
    for (const [name, d] of Object.entries({ claim: durableObjects.claim, 'since (up to date)': durableObjects.since, [`whole read (${O.logEntries})`]: durableObjects.read_all })) {
      log(`  ${name.padEnd(20)} adds p50 ${d.added_p50_ms.toFixed(3)} ms, p99 ${d.added_p99_ms.toFixed(3)} ms to a request (${d.request_p50_ms.toFixed(3)} / ${d.request_p99_ms.toFixed(3)} ms against ${d.baseline_p50_ms.toFixed(3)} / ${d.baseline_p99_ms.toFixed(3)} without the call); ${d.cpu_us_per_call} µs CPU per call; workerd's clock: mean ${d.workerd_clock_mean_ms} ms`);
    }

    // ---- cold start ----
    for (const w of WORKERS) {
      await stopProcess(procs[w.id].child);
      running.delete(procs[w.id].child);
    }
    log(`cold start: ${O.coldRuns} run(s) per worker`);
    for (let i = coldSamples.bare.length; i < O.coldRuns + 1; i++) {
      for (const w of WORKERS) {
        const port = await freePort();
        const cfg = await configFor(w.id, port);
        const p = await startWorkerd({ bin: WORKERD, configPath: cfg, port, probeHeaders: loadHeaders, logFile: path.join(WORK, 'logs', `${w.id}-cold.log`) });
        running.add(p.child);
        coldSamples[w.id].push(p.coldMs);
        await p.stop();
        running.delete(p.child);
      }
    }
    // the first sample of each (the start used for the load test, before the page cache was warm for the
    // files of this run) is kept in the raw data but left out of the median, so every worker has K runs
    const cold = Object.fromEntries(
      WORKERS.map((w) => [w.id, { samples_ms: coldSamples[w.id].map((x) => round(x, 1)), median_ms: round(median(coldSamples[w.id].slice(1)), 1) }]),
    );
    log(`  ${WORKERS.map((w) => `${w.id} ${cold[w.id].median_ms} ms`).join(', ')}`);

    // ---- summary ----
    const summary = {};
    for (const w of WORKERS) {
      const rs = rounds.map((r) => r.results[w.id]);
      summary[w.id] = {
        label: w.label,
        rps: round(median(rs.map((r) => r.rps))),
        p50_ms: round(median(rs.map((r) => r.p50_ms)), 2),
        p99_ms: round(median(rs.map((r) => r.p99_ms)), 2),
        cpu_us_per_req: round(median(rs.map((r) => r.cpu_us_per_req)), 1),
        // per-round ratio to the bare worker measured in the same round, then the median
        rps_vs_bare: round(median(rounds.map((r) => r.results[w.id].rps / r.results.bare.rps)), 3),
        cpu_vs_bare: round(median(rounds.map((r) => r.results[w.id].cpu_us_per_req / r.results.bare.cpu_us_per_req)), 3),
        cpu_over_bare_us: round(median(rounds.map((r) => r.results[w.id].cpu_us_per_req - r.results.bare.cpu_us_per_req)), 1),
        cold_start_ms: cold[w.id].median_ms,
        // what the worker itself adds to workerd's own start (the bare worker's cold start)
        cold_start_over_bare_ms: round(cold[w.id].median_ms - cold.bare.median_ms, 1),
      };
    }
    // what the SAML build with a SAML connector costs against the OIDC-only build, measured in the same rounds
    const samlVariant = {
      rps_vs_edge_auth: round(median(rounds.map((r) => r.results['edge-auth-saml'].rps / r.results['edge-auth'].rps)), 3),
      cpu_over_edge_auth_us: round(median(rounds.map((r) => r.results['edge-auth-saml'].cpu_us_per_req - r.results['edge-auth'].cpu_us_per_req)), 1),
      cold_start_over_edge_auth_ms: round(cold['edge-auth-saml'].median_ms - cold['edge-auth'].median_ms, 1),
      gzip_over_edge_auth_bytes: size['edge-auth-saml'].gzip_bytes - size['edge-auth'].gzip_bytes,
      wasm_gzip_over_edge_auth_bytes: size['edge-auth-saml'].wasm_gzip_bytes - size['edge-auth'].wasm_gzip_bytes,
    };
    const edgeVsHono = round(median(rounds.map((r) => r.results['edge-auth'].rps / r.results.hono.rps)), 3);
    const targets = [
      { name: 'protected asset with a session: ≥ 95% of the bare worker’s requests/s', value: summary['edge-auth'].rps_vs_bare, unit: '× bare', target: 0.95, met: summary['edge-auth'].rps_vs_bare >= 0.95 },
      { name: 'protected asset with a session: ≥ 1.5× @hono/oidc-auth’s requests/s', value: edgeVsHono, unit: '× hono', target: 1.5, met: edgeVsHono >= 1.5 },
      { name: 'session check ≤ 20 µs of CPU at the median (edge-auth − bare, per request)', value: summary['edge-auth'].cpu_over_bare_us, unit: 'µs', target: 20, met: summary['edge-auth'].cpu_over_bare_us <= 20 },
      { name: 'deployed wasm + JS ≤ 250 KB gzipped', value: round(size['edge-auth'].gzip_bytes / 1024, 1), unit: 'KiB', target: 250, met: size['edge-auth'].gzip_bytes <= 250 * 1024 },
    ];
    const loadAfter = os.loadavg();
    const results = {
      date: started.toISOString(),
      duration_s: round((Date.now() - t0) / 1000),
      machine: { ...mach, load_average_before: loadBefore.map((x) => round(x, 2)), load_average_after: loadAfter.map((x) => round(x, 2)) },
      method: {
        runtime: 'workerd run directly, one process per worker (CPU attributable per worker); the asset service runs in the same process as its worker',
        assets: 'each worker has an ASSETS service binding to the same in-memory www/ asset worker (bench/workers/assets.mjs)',
        load: `wrk -t${O.threads} -c${O.connections}, ${O.seconds} s per worker per round, ${O.rounds} interleaved round(s) (order rotated), ${O.warmup} s warm-up; medians over rounds; ${pinningDescription()}`,
        request: 'GET / with both session cookies (edge-auth-session and oidc-auth) and Accept: text/html',
        cpu: `(utime + stime) of the worker's workerd process from /proc/<pid>/stat (CLK_TCK ${CLK_TCK}) over the run / requests`,
        durable_objects: `in edge-auth's workerd after the load and the callbacks, bench/workers/do-probe.mjs (a second worker of that process, bound to the same ReplayGuard and RevocationLog namespaces and storage; SQLite on local disk) makes the calls the worker makes: a ReplayGuard claim of a fresh id (scope login, over the 16 objects), RevocationLog.since(cursor) at the end of a log of ${O.logEntries} entries, and the whole log read from cursor 0 (pages of 1,000); latency: ${O.doCalls} requests of one call each (${O.doReads} for the whole read) interleaved with as many requests that make no call, over one keep-alive connection, the call's cost being the difference of the medians (workerd's own clock moves in whole milliseconds); CPU: workerd's /proc time over one request making ${O.doCalls} claims (${5 * O.doCalls} since calls, ${O.doReads} whole reads) in a row / calls`,
        callback: `${O.callbacks} logins prepared, then ${O.callbacks} callbacks one at a time (after ${CALLBACK_WARMUP} warm-up sign-ins that fetch discovery and JWKS); CPU of the worker's workerd over the callbacks / callbacks`,
        cold_start: `spawn workerd -> first 200 with the session cookie (polled every ~1 ms), ${O.coldRuns} runs per worker after one discarded run, median`,
        size: 'scripts/size.mjs (gzip -9 of the .js, .mjs and .wasm files of build/ and build-saml/, one total per build variant); peers: their esbuild-minified bundle, gzip -9',
        variants: 'edge-auth is the OIDC-only build (scripts/build.sh, build/); edge-auth-saml the build with SAML (EDGE_AUTH_FEATURES=saml, build-saml/) with the same AUTH_CONFIG plus an inline SAML connector (tests/fixtures/xml/dsig/rsa-cert.pem as the IdP certificate) and the same session cookie; the callback and the Durable Object figures are measured on edge-auth only (the same code in both builds)',
        options: O,
      },
      summary,
      edge_vs_hono_rps: edgeVsHono,
      saml_variant: samlVariant,
      targets,
      size,
      callback,
      durable_objects: durableObjects,
      cold_start: cold,
      rounds,
      checks,
    };
    mkdirSync(path.join(HERE, 'results'), { recursive: true });
    writeFileSync(path.join(HERE, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote bench/results/latest.json`);
    if (O.docs) {
      writeFileSync(path.join(ROOT, 'docs', 'benchmark.md'), renderMarkdown(results));
      writeFileSync(path.join(ROOT, 'docs', 'benchmark.svg'), renderSvg(results));
      log('wrote docs/benchmark.md and docs/benchmark.svg');
    }
    printTable(results);
  } finally {
    await cleanup();
    await op.close();
  }
}

const CALLBACK_WARMUP = 20;

/**
 * N sign-ins through `connector`: /auth/login?connector= (the worker: transaction cookie + 302 to the OP),
 * the OP's /authorize (302 back with code, state, iss), then the timed part: GET /auth/callback with the
 * transaction cookie -> the worker exchanges the code at the OP's token endpoint, validates the ID token
 * (WebCrypto, keys cached in the isolate), seals the session, 302.
 */
async function benchCallbacks({ base, pid, connector, n }) {
  const prepare = async (count) => {
    const out = [];
    for (let i = 0; i < count; i++) {
      const r = await get(`${base}/auth/login?connector=${connector}`, { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
      if (r.status !== 302 || !/^https?:/.test(r.headers.location || '')) {
        throw new Error(`login ${connector}: ${r.status} ${r.headers.location} ${r.headers['x-edge-auth-error'] || ''} ${r.body.slice(0, 300)}`);
      }
      const tx = [].concat(r.headers['set-cookie'] || []).map((c) => c.split(';')[0]).find((c) => c.startsWith('edge-auth-tx='));
      out.push({ authorize: r.headers.location, tx });
    }
    return out;
  };
  const authorize = async (p) => {
    const r = await get(p.authorize);
    if (r.status !== 302) throw new Error(`OP authorize: ${r.status} ${r.body.slice(0, 300)}`);
    return { callback: r.headers.location, tx: p.tx };
  };
  const callback = async (p) => {
    const t = process.hrtime.bigint();
    const r = await get(p.callback, { cookie: p.tx, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    const session = [].concat(r.headers['set-cookie'] || []).some((c) => c.startsWith('edge-auth-session=v1.'));
    if (r.status !== 302 || !session) throw new Error(`callback ${connector}: ${r.status} ${r.headers['x-edge-auth-error'] || ''} ${r.body.slice(0, 300)}`);
    return ms;
  };
  // warm-up: discovery + JWKS fetched and cached, code paths compiled
  for (const p of await prepare(CALLBACK_WARMUP)) await callback(await authorize(p));

  const l0 = cpuSeconds(pid, CLK_TCK);
  const prepared = await prepare(n);
  const loginCpu = cpuSeconds(pid, CLK_TCK) - l0;
  const ready = [];
  for (const p of prepared) ready.push(await authorize(p));
  const c0 = cpuSeconds(pid, CLK_TCK);
  const lat = [];
  for (const p of ready) lat.push(await callback(p));
  const cpu = cpuSeconds(pid, CLK_TCK) - c0;
  return {
    callbacks: n,
    cpu_us_per_callback: round((cpu / n) * 1e6),
    p50_ms: round(median(lat), 2),
    p99_ms: round(percentile(lat, 99), 2),
    login_cpu_us: round((loginCpu / n) * 1e6),
    note: 'CPU includes the worker side of the token request over loopback (HTTP client, TCP), JSON parsing, the WebCrypto signature check, claim checks, sealing the session and the response',
  };
}

function printTable(r) {
  log('');
  log('| worker | req/s | × bare | p50 ms | p99 ms | CPU µs/req | cold start ms | KiB gzip |');
  log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const w of WORKERS) {
    const s = r.summary[w.id];
    log(`| ${s.label} | ${s.rps} | ${s.rps_vs_bare} | ${s.p50_ms} | ${s.p99_ms} | ${s.cpu_us_per_req} | ${s.cold_start_ms} | ${round(r.size[w.id].gzip_bytes / 1024, 1)} |`);
  }
  const v = r.saml_variant;
  log('');
  log(`SAML build against OIDC-only: ${v.rps_vs_edge_auth}× the req/s, ${v.cpu_over_edge_auth_us >= 0 ? '+' : ''}${v.cpu_over_edge_auth_us} µs CPU/req, cold start ${v.cold_start_over_edge_auth_ms >= 0 ? '+' : ''}${v.cold_start_over_edge_auth_ms} ms, +${round(v.gzip_over_edge_auth_bytes / 1024, 1)} KiB gzip`);
  log('');
  for (const t of r.targets) log(`${t.met ? 'met    ' : 'NOT met'}  ${t.name}: ${t.value} ${t.unit}`);
  const d = r.durable_objects;
  log('');
  log(`callback rs256: ${r.callback.rs256.cpu_us_per_callback} µs CPU, p50 ${r.callback.rs256.p50_ms} ms; es256: ${r.callback.es256.cpu_us_per_callback} µs CPU, p50 ${r.callback.es256.p50_ms} ms`);
  log(`ReplayGuard claim: +${d.claim.added_p50_ms} ms p50, +${d.claim.added_p99_ms} ms p99, ${d.claim.cpu_us_per_call} µs CPU per call`);
  log(`RevocationLog since, up to date: +${d.since.added_p50_ms} ms p50, +${d.since.added_p99_ms} ms p99, ${d.since.cpu_us_per_call} µs CPU per call`);
  log(`RevocationLog whole read of ${d.log_entries} entries: +${d.read_all.added_p50_ms} ms p50, ${d.read_all.cpu_us_per_call} µs CPU per read (${d.read_all.pages} calls)`);
  log(`total ${r.duration_s} s`);
}

main().catch(async (err) => {
  console.error(err?.stack || err);
  await cleanup();
  process.exit(1);
});
