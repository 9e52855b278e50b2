#!/usr/bin/env node
// Where edge-auth's cold start goes (issue 17): the benchmark's cold start (spawn workerd -> first 200 with the
// session cookie) for workers that stop at successive stages of edge-auth's start, interleaved, median of N:
//
//   bare              env.ASSETS.fetch(request): workerd's own start, the limit
//   +wasm module      bare, with edge-auth's index_bg.wasm as a module of the worker (compiled, never instantiated)
//   +instance         bare, importing edge-auth's JS glue (which instantiates the wasm at module evaluation)
//   +revocation read  + one read of the revocation log (the Durable Object, SQLite storage), which a fresh
//                     edge-auth isolate makes before admitting anyone
//   handler, no log   the deployed worker's glue and handler without the Durable Object bindings: AUTH_CONFIG
//                     read, keys decoded, the handler up to the revocation reload, which fails closed (302 to the login page)
//   edge-auth         the deployed worker: + the revocation-log read in Rust, the session check, the assets
//
// A diagnostic, not part of `bash scripts/bench.sh` (which reports the bare / edge-auth / hono figures):
//   node bench/cold.mjs [--runs 7] [--saml] [--v8-flags A,B] [--build DIR] [--stages bare,edge-auth] [--log-latency MS]
//                       [--compare DIR]      (one more stage: the deployed worker from another build DIR, interleaved)
//                       [--markdown FILE]   (appends the table as a section to FILE: scripts/bench.sh, docs/benchmark.md)   (--saml: the same stages for build-saml/;
//                                               --v8-flags: V8 flags for every workerd, e.g. --liftoff-only)
// Each difference between neighbours is what that stage adds. Timings vary by a few ms from run to run: compare
// figures from one run.
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { prepare, ROOT, scenario, WORKERD } from './lib/setup.mjs';
import { median } from './lib/stats.mjs';
import { freePort, startWorkerd, writeConfig } from './lib/workerd.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const runs = Number(opt('runs', 7));
const saml = argv.includes('--saml');
// V8 flags for every stage's workerd, comma-separated (e.g. --v8-flags=--no-wasm-lazy-compilation)
const v8Flags = opt('v8-flags', '').split(',').filter(Boolean);
const edgeId = saml ? 'edge-auth-saml' : 'edge-auth';
const buildDir = saml ? 'build-saml' : 'build';

// --build DIR: another build of the same variant (e.g. one cut short for a bisection)
const dirs = await prepare({
  work: path.join(ROOT, 'bench', '.work-cold'),
  edgeBuild: saml ? path.join(ROOT, 'build') : opt('build', path.join(ROOT, 'build')),
  samlBuild: saml ? opt('build', path.join(ROOT, 'build-saml')) : null,
});
const sc = await scenario(dirs);
const edgeDir = dirs[edgeId];

// --log-latency MS: the revocation log answers `since` MS later, as a Durable Object in another location would
// (in production the object lives in one place; a fresh isolate elsewhere waits a network round trip). Applied
// to the snapshot's object class, so every stage that reads the log waits the same.
const logLatency = Number(opt('log-latency', 0));
if (logLatency > 0) {
  for (const file of [path.join(edgeDir, 'revocation_log.mjs'), path.join(edgeDir, buildDir, 'revocation_log.mjs')]) {
    const source = readFileSync(file, 'utf8');
    // minified by esbuild: `export{g as RevocationLog,...}`; else `export class RevocationLog`
    const local = /export\s*\{[^}]*?\b(\w+) as RevocationLog\b/.exec(source)?.[1] ?? 'RevocationLog';
    appendFileSync(file, `\n{ const since = ${local}.prototype.since; ${local}.prototype.since = async function (cursor) { await new Promise((r) => setTimeout(r, ${logLatency})); return since.call(this, cursor); }; }\n`);
  }
}

// The stage workers live beside edge-auth's snapshot and share its files.
const STAGES = {
  'wasm-module': `import wasm from "./index_bg.wasm";
globalThis.__edgeAuthWasm = wasm;
export default { fetch(request, env) { return env.ASSETS.fetch(request); } };
`,
  instance: `import RustWorker from "./edge_auth_worker.mjs";
globalThis.__edgeAuthWorker = RustWorker;
export default { fetch(request, env) { return env.ASSETS.fetch(request); } };
`,
  // one call into the wasm (strings copied in, the allocator's first use), answering nothing: no configuration
  // is loaded by the fast gate, so it returns 0 at once
  'gate-call': `import RustWorker from "./edge_auth_worker.mjs";
const fastGate = RustWorker.prototype.edge_auth_fast_gate;
export default {
  fetch(request, env) {
    globalThis.__gate = fastGate(request.url, request.headers.get("cookie") ?? "");
    return env.ASSETS.fetch(request);
  },
};
`,
  // the entrypoint object the full handler is called on (worker-build's class), constructed, not called
  construct: `import RustWorker from "./edge_auth_worker.mjs";
export default {
  fetch(request, env, ctx) {
    globalThis.__worker = new RustWorker(ctx, env);
    return env.ASSETS.fetch(request);
  },
};
`,
  'revocation-read': `import RustWorker from "./edge_auth_worker.mjs";
export { ReplayGuard } from "./replay_guard.mjs";
export { RevocationLog } from "./revocation_log.mjs";
globalThis.__edgeAuthWorker = RustWorker;
let read = null;
export default {
  async fetch(request, env) {
    // What a fresh edge-auth isolate does before admitting anyone: one read of the revocation log.
    read ??= env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName("revocations")).since(0);
    await read;
    return env.ASSETS.fetch(request);
  },
};
`,
};
for (const [name, source] of Object.entries(STAGES)) writeFileSync(path.join(edgeDir, buildDir, `stage-${name}.mjs`), source);

// --compare DIR: another build of the same variant as one more stage ("compare", the deployed worker from DIR), run
// interleaved with the others: an A/B of two builds within one run, where the machine's drift is shared.
const compareBuild = opt('compare', '');

async function configFor(stage, port) {
  if (stage === 'bare' || stage === 'edge-auth') return sc.configFor(stage === 'bare' ? 'bare' : edgeId, port, { v8Flags });
  if (stage === 'compare') {
    const dir = path.join(edgeDir, 'stage-compare');
    mkdirSync(dir, { recursive: true });
    const files = ['index.js', 'edge_auth_worker.mjs', 'replay_guard.mjs', 'revocation_log.mjs'];
    for (const f of [...files, 'index_bg.wasm']) copyFileSync(path.join(path.resolve(ROOT, compareBuild), f), path.join(dir, f));
    for (const f of ['assets.js', 'assets-manifest.js']) copyFileSync(path.join(edgeDir, f), path.join(dir, f));
    return writeConfig({
      dir,
      port,
      v8Flags,
      modules: [...files.map((f) => ({ name: f, type: 'esModule', file: f })), { name: 'index_bg.wasm', type: 'wasm', file: 'index_bg.wasm' }],
      durableObjects: [{ binding: 'REPLAY_GUARD', className: 'ReplayGuard' }, { binding: 'REVOCATION_LOG', className: 'RevocationLog' }],
      textBindings: sc.textBindingsFor(edgeId),
      loopbackOutbound: true,
    });
  }
  if (stage === 'handler-no-log') {
    const dir = path.join(edgeDir, 'stage-handler-no-log');
    mkdirSync(dir, { recursive: true });
    const files = ['index.js', 'index_bg.wasm', 'edge_auth_worker.mjs', 'replay_guard.mjs', 'revocation_log.mjs'];
    for (const f of files) copyFileSync(path.join(edgeDir, buildDir, f), path.join(dir, f));
    for (const f of ['assets.js', 'assets-manifest.js']) copyFileSync(path.join(edgeDir, f), path.join(dir, f));
    return writeConfig({
      dir,
      port,
      v8Flags,
      modules: [...files.filter((f) => f.endsWith('js')).map((f) => ({ name: f, type: 'esModule', file: f })), { name: 'index_bg.wasm', type: 'wasm', file: 'index_bg.wasm' }],
      textBindings: sc.textBindingsFor(edgeId),
      loopbackOutbound: true,
    });
  }
  // The edge-auth config (bindings, secrets), with the stage module first.
  const dir = path.join(edgeDir, `stage-${stage}`);
  mkdirSync(dir, { recursive: true });
  const files = ['index_bg.wasm', 'edge_auth_worker.mjs', 'replay_guard.mjs', 'revocation_log.mjs', `stage-${stage}.mjs`];
  for (const f of files) copyFileSync(path.join(edgeDir, buildDir, f), path.join(dir, f));
  for (const f of ['assets.js', 'assets-manifest.js']) copyFileSync(path.join(edgeDir, f), path.join(dir, f));
  const modules = [{ name: 'index.js', type: 'esModule', file: `stage-${stage}.mjs` }, { name: 'index_bg.wasm', type: 'wasm', file: 'index_bg.wasm' }];
  if (stage !== 'wasm-module') modules.splice(1, 0, { name: 'edge_auth_worker.mjs', type: 'esModule', file: 'edge_auth_worker.mjs' });
  const withLog = stage === 'revocation-read';
  if (withLog) modules.push(...['replay_guard.mjs', 'revocation_log.mjs'].map((f) => ({ name: f, type: 'esModule', file: f })));
  return writeConfig({
    dir,
    port,
    v8Flags,
    modules,
    durableObjects: withLog
      ? [{ binding: 'REPLAY_GUARD', className: 'ReplayGuard' }, { binding: 'REVOCATION_LOG', className: 'RevocationLog' }]
      : [],
    textBindings: sc.textBindingsFor(edgeId),
    loopbackOutbound: true,
  });
}

const STAGE_ORDER = ['bare', 'wasm-module', 'instance', 'gate-call', 'construct', 'handler-no-log', 'revocation-read', 'edge-auth', ...(compareBuild ? ['compare'] : [])];
// --stages bare,edge-auth: only these (an A/B of two builds needs only the ends)
const ORDER = [...new Set([...opt('stages', STAGE_ORDER.join(',')).split(','), ...(compareBuild ? ['compare'] : [])])].filter((st) => STAGE_ORDER.includes(st));
const samples = Object.fromEntries(ORDER.map((s) => [s, []]));
console.log(`cold start by stage (${edgeId}, ${buildDir}/), ${runs} runs after one discarded, interleaved${v8Flags.length ? `; V8 flags ${v8Flags.join(' ')}` : ''}${logLatency ? `; the revocation log answers ${logLatency} ms late` : ''}`);
for (let i = 0; i <= runs; i++) {
  for (const stage of ORDER) {
    const port = await freePort();
    const cfg = await configFor(stage, port);
    // without its Durable Objects, edge-auth fails closed on the revocation reload: its first answer is the redirect to the login page
    const probeStatus = stage === 'handler-no-log' ? [302, 200] : 200;
    const p = await startWorkerd({ bin: WORKERD, configPath: cfg, port, probeHeaders: sc.loadHeaders, probeStatus, logFile: path.join(path.dirname(cfg), 'cold.log') });
    await p.stop();
    if (i > 0) samples[stage].push(p.coldMs);
  }
}
await sc.op.close();
const STAGE_TEXT = {
  bare: 'bare worker: workerd\'s own start (the limit)',
  'wasm-module': '+ edge-auth\'s wasm as a module of the worker (decoded and validated; V8 compiles lazily)',
  instance: '+ the module instantiated by the JS glue',
  'gate-call': '+ one call into the wasm (the fast gate, nothing loaded)',
  construct: '+ the entrypoint object constructed',
  'handler-no-log': '+ the full handler, Durable Objects unbound (it fails closed): V8 compiling what the first request runs',
  'revocation-read': 'the glue + one revocation-log read (the Durable Object, SQLite storage), no handler',
  'edge-auth': 'edge-auth as deployed: the handler and the revocation-log read',
  compare: `edge-auth as deployed, from ${compareBuild}`,
};
// What each stage adds to: the stage it builds on (the revocation read is measured on the bare instance; the
// deployed worker adds the read to the handler)
const BASE = { compare: 'edge-auth', 'wasm-module': 'bare', instance: 'wasm-module', 'gate-call': 'instance', construct: 'gate-call', 'handler-no-log': 'construct', 'revocation-read': 'instance', 'edge-auth': 'handler-no-log' };
const lines = ['| stage | median ms | fastest ms | adds (median), over |', '|---|---:|---:|---|'];
for (const stage of ORDER) {
  const m = median(samples[stage]);
  const base = BASE[stage];
  const adds = base && samples[base]?.length ? `${(m - median(samples[base])).toFixed(1)} ms over ${base}` : '';
  lines.push(`| ${stage}: ${STAGE_TEXT[stage]} | ${m.toFixed(1)} | ${Math.min(...samples[stage]).toFixed(1)} | ${adds} |`);
}
console.log(lines.join('\n'));
// --markdown FILE: the table appended to FILE as a section (scripts/bench.sh: docs/benchmark.md)
const markdown = opt('markdown', '');
if (markdown) {
  appendFileSync(
    path.resolve(ROOT, markdown),
    `\n## Where the cold start goes\n\n\`node bench/cold.mjs --runs ${runs}\`${saml ? ' --saml' : ''}: workers that stop at successive stages of edge-auth's start, interleaved, ${runs} runs each after one discarded; each stage's share is its difference from the stage it builds on (last column). The handler's share is V8 compiling, function by function on first call, the code the first request runs: with \`--v8-flags --liftoff-only,--no-wasm-lazy-compilation\` (the whole module compiled up front) it drops to zero. Locally the Durable Object runs on the worker's own thread; in production it is a network round trip away, which the JS entry overlaps with the handler's start (\`--log-latency MS\` simulates it).\n\n${lines.join('\n')}\n`,
  );
}
process.exit(0);
