// Shared by bench/run.mjs and bench/profile.mjs: the machine description, the workers' files, their workerd
// configs, the session cookies and the local OP.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { sealEdgeAuthSession } from '../../tests/support/fake-idp/codec.mjs';
import { startHostileOp } from '../../tests/support/fake-idp/op.mjs';
import { signHonoSession } from './hono-session.mjs';
import { round } from './stats.mjs';
import { workerdBinary, writeConfig } from './workerd.mjs';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(HERE, '..');
export const WORK = path.join(HERE, '.work');
export const WORKERD = workerdBinary(ROOT);

export const WORKERS = [
  { id: 'bare', label: 'bare worker (the limit)' },
  { id: 'edge-auth', label: 'edge-auth, valid session' },
  // the same worker built with SAML (EDGE_AUTH_FEATURES=saml, build-saml/) and a SAML connector configured
  // beside the OIDC ones: what SAML costs an operator who deploys it (issue 14), on a request it does not touch
  { id: 'edge-auth-saml', label: 'edge-auth with SAML build, valid session' },
  { id: 'hono', label: 'hono + @hono/oidc-auth, valid session' },
];

// ---- machine --------------------------------------------------------------------------------------------
export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const version = (cmd, args, re) => {
    try {
      const out = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      return (re ? re.exec(out)?.[1] : out.split('\n')[0])?.trim();
    } catch (err) {
      return (re ? re.exec(String(err.stdout || '') + String(err.stderr || ''))?.[1] : undefined) ?? 'unknown';
    }
  };
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return 'missing';
    }
  };
  return {
    nproc: Number(execFileSync('nproc').toString().trim()),
    cpu: model,
    kernel: `${os.type()} ${os.release()}`,
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    workerd: version(WORKERD, ['--version']), // "workerd 2026-07-30"
    wrk: version('wrk', ['-v'], /^(wrk \S+)/m),
    hono: pkg('hono'),
    hono_oidc_auth: pkg('@hono/oidc-auth'),
  };
}

// ---- preparing the workers ------------------------------------------------------------------------------
const MIME = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8' };

function assetsManifest() {
  const files = {};
  const walk = (dir, prefix) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${name}/`);
      else {
        const bytes = readFileSync(p);
        files[`${prefix}${name}`] = {
          text: bytes.toString('utf8'),
          type: MIME[path.extname(name)] ?? 'application/octet-stream',
          etag: createHash('sha256').update(bytes).digest('hex').slice(0, 32),
        };
      }
    }
  };
  walk(path.join(ROOT, 'www'), '/');
  return `export default ${JSON.stringify(files)};\n`;
}

/** The custom sections of a wasm binary: {name: bytes}. A `name` section means the build kept debug names. */
export function wasmCustomSections(file) {
  const b = readFileSync(file);
  const leb = (i) => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) return [v, i];
    }
  };
  const out = {};
  let i = 8;
  while (i < b.length) {
    const id = b[i];
    const [size, start] = leb(i + 1);
    if (id === 0) {
      const [len, nameStart] = leb(start);
      const name = b.subarray(nameStart, nameStart + len).toString('utf8');
      out[name] = (out[name] || 0) + size;
    }
    i = start + size;
  }
  return out;
}

function gzSize(file) {
  return gzipSync(readFileSync(file), { level: 9 }).length;
}

const EDGE_FILES = ['index.js', 'edge_auth_worker.mjs', 'replay_guard.mjs', 'revocation_log.mjs', 'index_bg.wasm'];

/** Copies the build in `src` to `dest`/`name` (what deploys) and its modules to `dest` (what workerd embeds). */
async function snapshotBuild(src, dest, name, buildCommand = 'bash scripts/build.sh') {
  for (const f of EDGE_FILES) {
    if (!existsSync(path.join(src, f))) throw new Error(`${src}/${f} is missing: run ${buildCommand}`);
  }
  // A build running elsewhere rewrites these files in steps (wasm-bindgen, then wasm-opt): copy only when
  // they have been left alone for 3 s and did not change while being copied.
  const stamp = () => EDGE_FILES.map((f) => statSync(path.join(src, f))).map((st) => `${st.size}:${st.mtimeMs}`).join(',');
  for (let attempt = 0; ; attempt++) {
    const before = stamp();
    const age = Date.now() - Math.max(...EDGE_FILES.map((f) => statSync(path.join(src, f)).mtimeMs));
    const building = existsSync(path.join(src, '.tmp')); // worker-build's scratch: a build is running
    if ((age < 3000 || building) && attempt < 60) {
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    // what deploys: index.js, index_bg.wasm, worker/shim.mjs (not worker-build's .tmp/)
    rmSync(path.join(dest, name), { recursive: true, force: true });
    cpSync(src, path.join(dest, name), {
      recursive: true,
      filter: (p) => !path.relative(src, p).split(path.sep).includes('.tmp'),
    });
    for (const f of EDGE_FILES) copyFileSync(path.join(src, f), path.join(dest, f));
    if (stamp() === before || attempt >= 60) break;
  }
}

/**
 * The workers' files under `work`: bare, hono, edge-auth from `edgeBuild` (default build/) and, unless
 * `samlBuild` is null, edge-auth-saml from `samlBuild` (default build-saml/).
 */
export async function prepare({ work = WORK, edgeBuild = path.join(ROOT, 'build'), samlBuild = path.join(ROOT, 'build-saml') } = {}) {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.join(work, 'logs'), { recursive: true });
  const manifest = assetsManifest();
  const dirs = {};
  for (const name of ['bare', 'edge-auth', ...(samlBuild ? ['edge-auth-saml'] : []), 'hono']) {
    const dir = path.join(work, name);
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(HERE, 'workers', 'assets.mjs'), path.join(dir, 'assets.js'));
    writeFileSync(path.join(dir, 'assets-manifest.js'), manifest);
    dirs[name] = dir;
  }
  // (1) bare
  copyFileSync(path.join(HERE, 'workers', 'bare.mjs'), path.join(dirs.bare, 'worker.js'));
  // (2) edge-auth from build/ and (2b) the SAML build from build-saml/: snapshots, so a rebuild elsewhere cannot
  // change a worker mid-run. Each snapshot keeps its build directory's name (build/, build-saml/), which is what
  // scripts/size.mjs walks and labels.
  await snapshotBuild(edgeBuild, dirs['edge-auth'], 'build');
  if (samlBuild) await snapshotBuild(samlBuild, dirs['edge-auth-saml'], 'build-saml', 'EDGE_AUTH_FEATURES=saml EDGE_AUTH_OUT=build-saml bash scripts/build.sh');
  // the Durable Object probe: a second worker in edge-auth's workerd when asked for (configFor's probePort)
  copyFileSync(path.join(HERE, 'workers', 'do-probe.mjs'), path.join(dirs['edge-auth'], 'do-probe.js'));
  // (3) hono + @hono/oidc-auth, bundled and minified as wrangler deploy would
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(HERE, 'workers', 'hono.mjs')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser', 'import'],
    outfile: path.join(dirs.hono, 'worker.js'),
    logLevel: 'warning',
  });
  return dirs;
}

// scripts/size.mjs's label for each build variant's total (its VARIANTS), by worker id
const SIZE_VARIANTS = { 'edge-auth': { dir: 'build', label: 'OIDC only' }, 'edge-auth-saml': { dir: 'build-saml', label: 'with SAML and WS-Fed' } };

export function sizes(dirs) {
  // scripts/size.mjs on the snapshots, in one directory holding both (links to build/ and build-saml/), as it
  // runs in the repository: it walks each variant's directory (index.js, index_bg.wasm, worker/shim.mjs...)
  // and prints one total per variant
  const sizeDir = path.join(path.dirname(dirs['edge-auth']), 'size');
  rmSync(sizeDir, { recursive: true, force: true });
  mkdirSync(sizeDir, { recursive: true });
  const variants = Object.keys(SIZE_VARIANTS).filter((id) => dirs[id]);
  for (const id of variants) symlinkSync(path.join(dirs[id], SIZE_VARIANTS[id].dir), path.join(sizeDir, SIZE_VARIANTS[id].dir));
  let out;
  try {
    out = execFileSync('node', [path.join(ROOT, 'scripts', 'size.mjs')], { cwd: sizeDir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    out = String(err.stdout || ''); // over size.mjs's budget: it exits 1 after printing
  }
  const result = {};
  for (const id of variants) {
    const { dir, label } = SIZE_VARIANTS[id];
    const m = new RegExp(`total deployed, ${label} \\(wasm \\+ JS\\)\\s+(\\d+) B\\s+(\\d+) B gzip`).exec(out);
    if (!m) throw new Error(`could not read the "${label}" total in scripts/size.mjs's output:\n${out}`);
    const wasm = path.join(dirs[id], dir, 'index_bg.wasm');
    const js = path.join(dirs[id], dir, 'index.js');
    result[id] = {
      variant: label,
      raw_bytes: Number(m[1]),
      gzip_bytes: Number(m[2]),
      wasm_raw_bytes: statSync(wasm).size,
      wasm_gzip_bytes: gzSize(wasm),
      js_raw_bytes: statSync(js).size,
      js_gzip_bytes: gzSize(js),
      wasm_custom_sections: wasmCustomSections(wasm),
      size_mjs_output: out.trim().split('\n').filter((line) => line.startsWith(`${dir}/`) || line.includes(`, ${label} (`)),
    };
  }
  return {
    ...result,
    hono: { raw_bytes: statSync(path.join(dirs.hono, 'worker.js')).size, gzip_bytes: gzSize(path.join(dirs.hono, 'worker.js')) },
    bare: { raw_bytes: statSync(path.join(dirs.bare, 'worker.js')).size, gzip_bytes: gzSize(path.join(dirs.bare, 'worker.js')) },
  };
}

/**
 * Keys, the local OP, AUTH_CONFIG (edge-auth-saml's with a SAML connector more), one valid session cookie per
 * worker (edge-auth's is valid for both builds), and `configFor(id, port, {probePort, v8Flags})` writing that worker's
 * workerd config (with `probePort`: also bench/workers/do-probe.mjs on that port, bound to the same Durable
 * Objects). The load request carries both cookies, so it is the same for every worker.
 */
export async function scenario(dirs) {
  // ---- identities, keys and cookies ----
  const sessionKey = randomBytes(32).toString('base64url');
  const honoSecret = randomBytes(32).toString('base64url');
  const clients = [
    { client_id: 'bench-rs256', client_secret: randomBytes(18).toString('base64url'), alg: 'RS256', domain: 'rs256.example' },
    { client_id: 'bench-es256', client_secret: randomBytes(18).toString('base64url'), alg: 'ES256', domain: 'es256.example' },
    { client_id: 'bench-hono', client_secret: randomBytes(18).toString('base64url'), alg: 'RS256', domain: 'hono.example' },
  ];
  // The e2e suites' scriptable OP with no case set: a correct provider that approves at once (302 back with
  // code, state, iss), checks client_secret_basic and PKCE S256 and signs the ID token with the client's alg.
  const op = await startHostileOp({
    name: 'bench-op',
    issParameter: true,
    clients: clients.map((c) => ({ ...c, token_endpoint_auth_method: 'client_secret_basic' })),
  });
  const authConfig = {
    connectors: clients.slice(0, 2).map((c) => ({
      id: c.alg.toLowerCase(),
      kind: 'oidc',
      issuer: op.issuer,
      client_id: c.client_id,
      client_secret_binding: `${c.alg}_CLIENT_SECRET`,
      domains: [c.domain],
    })),
  };
  // The SAML build with a SAML connector configured (inline IdP, the XML-signature fixtures' certificate) beside the
  // same OIDC connectors: the configuration an operator with a SAML IdP deploys. Same SESSION_KEYS, so the same cookie.
  const authConfigSaml = {
    connectors: [
      ...authConfig.connectors,
      {
        id: 'corp',
        kind: 'saml',
        domains: ['saml.example'],
        idp_entity_id: 'https://idp.test/entity',
        idp_sso_url: 'https://idp.test/sso',
        idp_certificates: [readFileSync(path.join(ROOT, 'tests', 'fixtures', 'xml', 'dsig', 'rsa-cert.pem'), 'utf8')],
      },
    ],
  };
  const now = Math.floor(Date.now() / 1000);
  const edgeCookie = sealEdgeAuthSession({
    sessionKey,
    session: { sub: 'sub-alice@rs256.example', email: 'alice@rs256.example', name: 'Alice Bench', cid: 'rs256', iss: op.issuer, iat: now, exp: now + 8 * 3600, ra: now },
  });
  const honoCookie = signHonoSession({
    secret: honoSecret,
    claims: { sub: 'sub-alice@hono.example', email: 'alice@hono.example', rtk: '', rtkexp: now + 30 * 86400, ssnexp: now + 30 * 86400 },
  });
  // The same request for every worker: both cookies (each worker reads its own), like a browser would send.
  const cookieHeader = `edge-auth-session=${edgeCookie}; oidc-auth=${honoCookie}`;
  const loadHeaders = { cookie: cookieHeader, accept: 'text/html,application/xhtml+xml', 'accept-encoding': 'identity' };

  // ---- workerd configs ----
  // edge-auth's text bindings (AUTH_CONFIG, SESSION_KEYS, the client secrets), by worker id
  const textBindingsFor = (id) => ({
    AUTH_CONFIG: JSON.stringify(id === 'edge-auth-saml' ? authConfigSaml : authConfig),
    SESSION_KEYS: sessionKey,
    RS256_CLIENT_SECRET: clients[0].client_secret,
    ES256_CLIENT_SECRET: clients[1].client_secret,
  });
  const ports = {};
  const configFor = async (id, port, { probePort, v8Flags = [] } = {}) => {
    ports[id] = port;
    if (id === 'bare') return writeConfig({ dir: dirs.bare, port, v8Flags, modules: [{ name: 'worker.js', type: 'esModule', file: 'worker.js' }] });
    if (id === 'hono') {
      const hc = clients[2];
      return writeConfig({
        dir: dirs.hono,
        port,
        v8Flags,
        modules: [{ name: 'worker.js', type: 'esModule', file: 'worker.js' }],
        textBindings: {
          OIDC_ISSUER: op.issuer,
          OIDC_CLIENT_ID: hc.client_id,
          OIDC_CLIENT_SECRET: hc.client_secret,
          OIDC_AUTH_SECRET: honoSecret,
        },
        loopbackOutbound: true,
      });
    }
    if (id !== 'edge-auth' && id !== 'edge-auth-saml') throw new Error(`unknown worker ${id}`);
    return writeConfig({
      dir: dirs[id],
      port,
      v8Flags,
      modules: [
        { name: 'index.js', type: 'esModule', file: 'index.js' },
        { name: 'edge_auth_worker.mjs', type: 'esModule', file: 'edge_auth_worker.mjs' },
        { name: 'replay_guard.mjs', type: 'esModule', file: 'replay_guard.mjs' },
        { name: 'revocation_log.mjs', type: 'esModule', file: 'revocation_log.mjs' },
        { name: 'index_bg.wasm', type: 'wasm', file: 'index_bg.wasm' },
      ],
      // the single-use store the callback claims each login transaction in, and the revocation log every isolate
      // reads (wrangler.toml: REPLAY_GUARD, REVOCATION_LOG)
      durableObjects: [
        { binding: 'REPLAY_GUARD', className: 'ReplayGuard' },
        { binding: 'REVOCATION_LOG', className: 'RevocationLog' },
      ],
      probe: probePort ? { port: probePort, file: 'do-probe.js' } : undefined,
      textBindings: textBindingsFor(id),
      loopbackOutbound: true,
    });
  };

  return { op, clients, authConfig, authConfigSaml, textBindingsFor, sessionKey, honoSecret, edgeCookie, honoCookie, cookieHeader, loadHeaders, ports, configFor };
}
