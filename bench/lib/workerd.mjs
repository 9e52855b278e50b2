// workerd run directly (not Miniflare, not wrangler dev): one config and one process per benchmarked worker,
// so that the CPU time in /proc/<pid>/stat belongs to that worker (and its asset service) alone.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pinned } from './pin.mjs';

export const COMPATIBILITY_DATE = '2026-04-01';

export function workerdBinary(root) {
  for (const p of [
    'node_modules/@cloudflare/workerd-linux-64/bin/workerd',
    'node_modules/workerd/bin/workerd',
  ]) {
    const full = path.join(root, p);
    if (existsSync(full)) return full;
  }
  throw new Error('workerd not found in node_modules (npm install)');
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const capnpString = (s) => JSON.stringify(String(s)); // capnp text strings take JSON-style escapes

/**
 * Write `dir/config.capnp` for one worker on 127.0.0.1:`port`.
 * @param {object} o
 * @param {string} o.dir            directory holding the config and every embedded file (relative embeds)
 * @param {{name: string, type: 'esModule'|'wasm'|'text', file: string}[]} o.modules  first = main module
 * @param {Record<string, string>} o.textBindings
 * @param {boolean} o.loopbackOutbound  global fetch() may reach 127.0.0.1 (the local OP)
 * @param {{binding: string, className: string}[]} [o.durableObjects]  SQLite-backed Durable Object classes of the
 *        main module, each bound under `binding` (storage: `dir`/do-storage, emptied here; workerd's in-memory
 *        storage has no SQL)
 * @param {{port: number, file: string}} [o.probe]  a second worker (module `file` in `dir`) on its own socket at
 *        127.0.0.1:`probe.port`, bound to the main worker's Durable Object namespaces under the same binding
 *        names (the same objects, the same storage): bench/workers/do-probe.mjs. The main worker is unchanged.
 * @param {string[]} [o.v8Flags]  V8 flags for the process (diagnostics: bench/cold.mjs --v8-flags)
 */
export function writeConfig({ dir, port, modules, textBindings = {}, loopbackOutbound = false, durableObjects = [], probe, v8Flags = [] }) {
  const mod = (m) => `(name = ${capnpString(m.name)}, ${m.type} = embed ${capnpString(m.file)})`;
  const bindings = [
    ...Object.entries(textBindings).map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`),
    '(name = "ASSETS", service = "assets")',
    ...durableObjects.map((d) => `(name = ${capnpString(d.binding)}, durableObjectNamespace = ${capnpString(d.className)})`),
  ];
  const namespaces = durableObjects.length
    ? `durableObjectNamespaces = [
    ${durableObjects.map((d) => `(className = ${capnpString(d.className)}, uniqueKey = ${capnpString(`bench-${d.className}`)}, enableSql = true)`).join(',\n    ')}
  ],
  durableObjectStorage = (localDisk = "do-storage"),`
    : '';
  const probeBindings = durableObjects.map(
    (d) => `(name = ${capnpString(d.binding)}, durableObjectNamespace = (className = ${capnpString(d.className)}, serviceName = "main"))`,
  );
  const storageDir = path.join(dir, 'do-storage');
  if (durableObjects.length) {
    rmSync(storageDir, { recursive: true, force: true });
    mkdirSync(storageDir, { recursive: true });
  }
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "assets", worker = .assetsWorker),
    (name = "loopback", network = (allow = ["public", "private", "local"])),${probe ? '\n    (name = "do-probe", worker = .probeWorker),' : ''}${durableObjects.length ? `\n    (name = "do-storage", disk = (path = ${capnpString(path.resolve(storageDir))}, writable = true)),` : ''}
  ],
  sockets = [
    (name = "http", address = ${capnpString(`127.0.0.1:${port}`)}, http = (), service = "main"),${probe ? `\n    (name = "probe", address = ${capnpString(`127.0.0.1:${probe.port}`)}, http = (), service = "do-probe"),` : ''}
  ],${v8Flags.length ? `\n  v8Flags = [${v8Flags.map(capnpString).join(', ')}],` : ''}
);
${probe ? `
const probeWorker :Workerd.Worker = (
  modules = [ (name = "do-probe.js", esModule = embed ${capnpString(probe.file)}) ],
  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},
  bindings = [
    ${probeBindings.join(',\n    ')}
  ],
);
` : ''}
const mainWorker :Workerd.Worker = (
  modules = [
    ${modules.map(mod).join(',\n    ')}
  ],
  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},
  bindings = [
    ${bindings.join(',\n    ')}
  ],
  ${loopbackOutbound ? 'globalOutbound = "loopback",' : ''}
  ${namespaces}
);

const assetsWorker :Workerd.Worker = (
  modules = [
    (name = "assets.js", esModule = embed "assets.js"),
    (name = "assets-manifest.js", esModule = embed "assets-manifest.js"),
  ],
  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},
);
`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.capnp'), config);
  return path.join(dir, 'config.capnp');
}

/** One HTTP GET; resolves {status, headers, body}. Rejects on connection errors. */
export function get(url, headers = {}, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawn workerd on `configPath`, then poll `probeUrl` (with `probeHeaders`) until it answers 200 (or `probeStatus`).
 * Returns the process handle and the time from spawn() to that first 200 (the cold start as the client
 * sees it: process start, config, isolate, module compile and evaluation, first request).
 */
export async function startWorkerd({ bin, configPath, port, probeHeaders = {}, probeStatus = 200, logFile, timeoutMs = 20000, extraArgs = [] }) {
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const t0 = process.hrtime.bigint();
  const [command, args] = pinned(0, bin, ['serve', path.basename(configPath), ...extraArgs]);
  const child = spawn(command, args, {
    cwd: path.dirname(configPath),
    stdio: ['ignore', out, out],
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}/`;
  for (;;) {
    if (exited) throw new Error(`workerd exited (${JSON.stringify(exited)}) before answering; see ${logFile}`);
    if (Number(process.hrtime.bigint() - t0) / 1e6 > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`workerd did not answer 200 on ${url} within ${timeoutMs} ms; see ${logFile}`);
    }
    try {
      const r = await get(url, probeHeaders, { timeoutMs: 5000 });
      if ([probeStatus].flat().includes(r.status)) {
        const coldMs = Number(process.hrtime.bigint() - t0) / 1e6;
        return { child, pid: child.pid, coldMs, stop: () => stopProcess(child) };
      }
      throw new Error(`probe ${url} answered ${r.status}: ${r.body.slice(0, 300)}`);
    } catch (err) {
      if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(String(err?.code || err?.message))) {
        child.kill('SIGKILL');
        throw err;
      }
      await sleep(1);
    }
  }
}

export function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid, clkTck) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime = field 14, stime = field 15
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}
