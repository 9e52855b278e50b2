#!/usr/bin/env node
// Where a worker's CPU goes on the hot path: runs one of the benchmark's workers in workerd with the V8
// inspector on, drives it with the benchmark's request (wrk), records a V8 CPU profile of the worker's
// isolate and prints self time by category (wasm, the JS glue, runtime/native, GC) and the top functions.
// A diagnostic, not part of `bash scripts/bench.sh`; sampling costs some speed, so read shares, not rates.
//
//   node bench/profile.mjs                      # edge-auth from build/ (names stripped by scripts/build.sh)
//   node bench/profile.mjs --named              # edge-auth built without wasm-opt, keeping function names
//   node bench/profile.mjs --worker hono        # or bare, or edge-auth-saml (from build-saml/)
//   node bench/profile.mjs --first-request      # the first request of a fresh isolate instead of the load (the
//                                               # cold start's own work; bench/cold.mjs splits it by stage)
//
// Writes bench/.work-profile/<worker>.cpuprofile (open in Chrome DevTools > Performance) and prints a summary.
import { execFileSync } from 'node:child_process';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { prepare, ROOT, scenario, WORKERD } from './lib/setup.mjs';
import { freePort, get, startWorkerd, stopProcess } from './lib/workerd.mjs';
import { spawn } from 'node:child_process';
import { runWrk, writeLua } from './lib/wrk.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const workerId = opt('worker', 'edge-auth');
const seconds = Number(opt('seconds', 8));
const top = Number(opt('top', 30));
const WORK = path.join(ROOT, 'bench', '.work-profile');

async function namedBuild() {
  // Same cargo profile and artifacts as scripts/build.sh, without wasm-opt, so the name section survives.
  const out = path.join('bench', '.work-named');
  const env = {
    ...process.env,
    PATH: `${process.env.HOME}/.cargo/bin:${process.env.PATH}`,
    WASM_OPT_BIN: path.join(ROOT, 'node_modules', '.bin', 'wasm-opt'),
    ESBUILD_BIN: path.join(ROOT, 'node_modules', '.bin', 'esbuild'),
  };
  env.WASM_BINDGEN_BIN = execFileSync('bash', ['-c', 'command -v wasm-bindgen'], { env }).toString().trim();
  console.log(`building edge-auth without wasm-opt into ${out} ...`);
  execFileSync('worker-build', ['--release', '--no-opt', '--out-dir', out], { cwd: ROOT, env, stdio: 'inherit' });
  // As scripts/build.sh: our entry (src/js/entry.mjs) in front of worker-build's module, with the DO class it exports.
  const dir = path.join(ROOT, out);
  renameSync(path.join(dir, 'index.js'), path.join(dir, 'edge_auth_worker.mjs'));
  copyFileSync(path.join(ROOT, 'src', 'js', 'entry.mjs'), path.join(dir, 'index.js'));
  for (const js of ['replay_guard.mjs', 'revocation_log.mjs']) copyFileSync(path.join(ROOT, 'src', 'js', js), path.join(dir, js));
  return dir;
}

async function connect(wsUrl) {
  let WS = globalThis.WebSocket;
  if (!WS) WS = (await import('ws')).default; // Node 20 has no global WebSocket; `ws` comes with miniflare
  const ws = new WS(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = (e) => reject(new Error(`inspector: ${e.message || 'connection failed'}`));
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(typeof ev.data === 'string' ? ev.data : ev.data.toString());
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message}`));
      else resolve(msg.result);
    }
  };
  return {
    send(method, params = {}) {
      const i = ++id;
      ws.send(JSON.stringify({ id: i, method, params }));
      return new Promise((resolve, reject) => pending.set(i, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

function categorize(frame) {
  const { functionName: fn, url } = frame;
  if (['(program)', '(idle)', '(garbage collector)', '(root)'].includes(fn)) return fn;
  if (/^(js-to-wasm|wasm-to-js)/.test(fn)) return 'JS<->wasm transitions';
  if (url.startsWith('wasm://') || /\.wasm\b/.test(url)) return 'wasm (Rust)';
  if (url.endsWith('index.js')) return 'JS glue (wasm-bindgen + workers-rs, index.js)';
  if (url.endsWith('worker.js')) return 'worker JS (worker.js)';
  if (url.endsWith('assets.js') || url.endsWith('assets-manifest.js')) return 'asset service JS';
  if (!url) return 'runtime / builtins (no script: Request, Headers, fetch, Promise, ...)';
  return url;
}

function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((sid, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(sid, (self.get(sid) || 0) + dt);
  });
  const cats = new Map();
  const fns = new Map();
  let total = 0;
  let busy = 0;
  for (const [sid, us] of self) {
    const node = byId.get(sid);
    const cat = categorize(node.callFrame);
    total += us;
    if (cat !== '(idle)') busy += us;
    cats.set(cat, (cats.get(cat) || 0) + us);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'}  ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}:${f.columnNumber + 1}` : ''}`;
    if (cat !== '(idle)') fns.set(key, { cat, us: (fns.get(key)?.us || 0) + us });
  }
  return { total, busy, cats, fns };
}

// The first request of a fresh isolate under the profiler: workerd is started without the benchmark's probe, the
// profiler attached to the worker's isolate, then one request (the session cookie, a static page) is sent.
async function firstRequest(sc, workerId) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const cfg = await sc.configFor(workerId, port);
  const child = spawn(WORKERD, ['serve', path.basename(cfg), `--inspector-addr=127.0.0.1:${inspectorPort}`], { cwd: path.dirname(cfg), stdio: 'ignore' });
  try {
    let target;
    for (let i = 0; i < 500 && !target; i++) {
      try {
        target = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()).find((t) => t.id === 'main');
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (!target) throw new Error('the inspector did not come up');
    const insp = await connect(target.webSocketDebuggerUrl);
    await insp.send('Profiler.enable');
    await insp.send('Profiler.setSamplingInterval', { interval: 50 });
    await insp.send('Profiler.start');
    const t0 = process.hrtime.bigint();
    let r;
    for (let i = 0; i < 500; i++) {
      try {
        r = await get(`http://127.0.0.1:${port}/`, sc.loadHeaders);
        break;
      } catch {
        await new Promise((res) => setTimeout(res, 5));
      }
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const { profile } = await insp.send('Profiler.stop');
    insp.close();
    const file = path.join(WORK, `${workerId}-first-request.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const { busy, cats, fns } = summarize(profile);
    console.log(`\n${workerId}: first request ${r?.status} in ${ms.toFixed(1)} ms (client side, profiler attached); isolate busy ${(busy / 1000).toFixed(1)} ms`);
    for (const [cat, us] of [...cats].sort((a, b) => b[1] - a[1])) {
      if (cat === '(idle)') continue;
      console.log(`  ${(us / 1000).toFixed(2).padStart(7)} ms  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${cat}`);
    }
    console.log(`\ntop ${top} functions by self time:`);
    for (const [key, { cat, us }] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
      console.log(`  ${(us / 1000).toFixed(2).padStart(7)} ms  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${key}  [${cat.split(' ')[0]}]`);
    }
    console.log(`\nprofile: ${path.relative(ROOT, file)}`);
  } finally {
    await stopProcess(child);
  }
}

async function main() {
  const edgeBuild = argv.includes('--named') ? await namedBuild() : opt('build', path.join(ROOT, 'build'));
  const dirs = await prepare({ work: WORK, edgeBuild, samlBuild: workerId === 'edge-auth-saml' ? path.join(ROOT, 'build-saml') : null });
  const sc = await scenario(dirs);
  if (argv.includes('--first-request')) {
    try {
      return await firstRequest(sc, workerId);
    } finally {
      await sc.op.close();
    }
  }
  const port = await freePort();
  const inspectorPort = await freePort();
  const cfg = await sc.configFor(workerId, port);
  const p = await startWorkerd({
    bin: WORKERD,
    configPath: cfg,
    port,
    probeHeaders: sc.loadHeaders,
    logFile: path.join(WORK, 'logs', `${workerId}.log`),
    extraArgs: [`--inspector-addr=127.0.0.1:${inspectorPort}`],
  });
  try {
    const lua = writeLua(WORK);
    const load = (s) => runWrk({ url: `http://127.0.0.1:${port}/`, seconds: s, threads: 1, connections: 16, headers: sc.loadHeaders, lua });
    await load(2); // warm-up: tier-up before sampling
    const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
    const target = list.find((t) => t.id === 'main');
    const insp = await connect(target.webSocketDebuggerUrl);
    await insp.send('Profiler.enable');
    await insp.send('Profiler.setSamplingInterval', { interval: 100 });
    await insp.send('Profiler.start');
    const r = await load(seconds);
    const { profile } = await insp.send('Profiler.stop');
    insp.close();
    const file = path.join(WORK, `${workerId}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const { busy, cats, fns } = summarize(profile);
    const perReq = (us) => us / r.requests;
    console.log(`\n${workerId}: ${r.requests} requests in ${seconds} s under the profiler (${(r.requests / seconds).toFixed(0)} req/s); isolate busy ${(busy / 1e6).toFixed(2)} s = ${perReq(busy).toFixed(1)} µs per request`);
    console.log('\nself time of the worker isolate by category (µs per request, share of busy time):');
    for (const [cat, us] of [...cats].sort((a, b) => b[1] - a[1])) {
      if (cat === '(idle)') continue;
      console.log(`  ${perReq(us).toFixed(1).padStart(7)} µs  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${cat}`);
    }
    console.log(`\ntop ${top} functions by self time:`);
    for (const [key, { cat, us }] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
      console.log(`  ${perReq(us).toFixed(2).padStart(7)} µs  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${key}  [${cat.split(' ')[0]}]`);
    }
    console.log(`\nprofile: ${path.relative(ROOT, file)}`);
  } finally {
    await stopProcess(p.child);
    await sc.op.close();
  }
}

main().catch((err) => {
  console.error(err?.stack || err);
  process.exit(1);
});
