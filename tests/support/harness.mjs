// Test harness for edge-auth: the dev OpenID Provider, the worker in Miniflare (workerd) on a real port, and
// a cookie-jar HTTP client that can drive a complete sign-in without a browser.
//
//   import { startStack, Browserless } from '../support/harness.mjs';
//   const stack = await startStack();                       // IdP + worker, one connector per alg
//   const b = new Browserless();
//   const { response } = await b.login({ worker: stack.worker.url, email: 'alice@rs256.example' });
//   (await b.get(`${stack.worker.url}/auth/me`)).json();   // { email: 'alice@rs256.example', ... }
//   await stack.close();                                     // always: disposes Miniflare (no orphan workerd)
//
// Used by tests/e2e/*/*.test.mjs and tests/browser/*.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startIdp } from '../../dev/idp.mjs';

export { startIdp };
export { claimsForLogin, generateSigningJwks, nameFromLogin } from '../../dev/idp.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// EDGE_AUTH_WORKER_SCRIPT: run another worker module against the same tests (e.g. a reference implementation).
export const WORKER_SCRIPT = process.env.EDGE_AUTH_WORKER_SCRIPT
  ? path.resolve(process.env.EDGE_AUTH_WORKER_SCRIPT)
  : path.join(ROOT, 'build', 'index.js');
export const ASSETS_DIR = path.join(ROOT, 'www');
export const COMPATIBILITY_DATE = '2026-04-01';

/** Cookie names of the worker on http loopback (contract). */
export const SESSION_COOKIE = 'edge-auth-session';
export const TX_COOKIE = 'edge-auth-tx';
/** Cookie names of the worker over https (contract): the `__Host-` prefix (Secure, Path=/, no Domain). */
export const SESSION_COOKIE_HTTPS = '__Host-edge-auth-session';
export const TX_COOKIE_HTTPS = '__Host-edge-auth-tx';

/** A fresh random session key: 32 bytes, base64url. */
export function randomKey(bytes = 32) {
  return randomBytes(bytes).toString('base64url');
}

/** A free TCP port on 127.0.0.1 (reserved by binding port 0, then released). */
export async function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------------------------------------------------
// Worker (Miniflare 4 / workerd)
// ------------------------------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One log line of the worker as an event (docs/logging.md): the JSON object, or undefined for a line that is not
 * one (Miniflare's own, a runtime error).
 */
export function parseEvent(line) {
  if (typeof line !== 'string' || !line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line);
    return v && typeof v === 'object' && !Array.isArray(v) && typeof v.event === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The human reading of an event, as the worker's log read before it was JSON: `edge-auth: METHOD PATH: message`
 * for a refused request, else `edge-auth: message` (what the older tests' regular expressions match).
 */
export function eventText(event) {
  const message = event.message ?? event.reason ?? event.event;
  return event.method && event.path ? `edge-auth: ${event.method} ${event.path}: ${message}` : `edge-auth: ${message}`;
}

/** The worker's log lines (console.log/warn/error of the worker: one JSON event each), captured through Miniflare. */
export class WorkerLog {
  constructor() {
    this.entries = [];
  }

  push(entry) {
    this.entries.push(entry);
  }

  mark() {
    return this.entries.length;
  }

  /**
   * Wait (up to timeoutMs) for a line after `since` matching `re` (the event's human reading, see eventText, or
   * the raw line); returns the human reading of the event (the raw line when it is none) or undefined.
   */
  async waitFor(re, since = 0, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const e of this.entries.slice(since)) {
        const event = parseEvent(e.message);
        if (event && (re.test(eventText(event)) || re.test(e.message))) return eventText(event);
        if (!event && re.test(e.message)) return e.message;
      }
      if (Date.now() > deadline) return undefined;
      await sleep(10);
    }
  }

  /**
   * The raw lines after `mark` that report something: warnings and errors (every line but `info` events — a
   * sign-in, a sign-out, a revocation done —, as the log held before it had those).
   */
  since(mark) {
    return this.all(mark).filter((line) => parseEvent(line)?.level !== 'info');
  }

  /** Every raw line after `mark`, `info` events included. */
  all(mark = 0) {
    return this.entries.slice(mark).map((e) => e.message);
  }

  /** The events after `mark` (parsed JSON lines; other lines left out), optionally only those named `name`. */
  events(mark = 0, name = undefined) {
    return this.entries
      .slice(mark)
      .map((e) => parseEvent(e.message))
      .filter((e) => e && (name === undefined || e.event === name));
  }

  /**
   * Wait (up to timeoutMs) for an event after `since` named `name` whose fields equal those of `fields` (a RegExp
   * value is matched); returns it or undefined.
   */
  async waitForEvent(name, fields = {}, since = 0, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    const fits = (e) =>
      Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? typeof e[k] === 'string' && v.test(e[k]) : e[k] === v));
    for (;;) {
      const hit = this.events(since, name).find(fits);
      if (hit) return hit;
      if (Date.now() > deadline) return undefined;
      await sleep(10);
    }
  }
}

// Every live Miniflare, so that an interrupted run (Ctrl-C, the test runner's SIGTERM) still stops workerd.
const liveWorkers = new Set();
let signalHandlersInstalled = false;
function installSignalHandlers() {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.once(sig, () => {
      const pending = [...liveWorkers].map((w) => w.dispose().catch(() => {}));
      const timer = setTimeout(() => process.exit(code), 3000);
      Promise.allSettled(pending).then(() => {
        clearTimeout(timer);
        process.exit(code);
      });
    });
  }
}

/**
 * Run build/index.js in Miniflare, listening on a real 127.0.0.1 port, with www/ as static assets (binding
 * ASSETS, worker invoked ahead of assets — wrangler's `run_worker_first = true`).
 *
 * @param {object} opts
 * @param {object|string} opts.config   AUTH_CONFIG (an object is JSON-encoded; the binding is a JSON string)
 * @param {object} [opts.secrets]       extra text bindings (connector client secrets, ...)
 * @param {string} [opts.sessionKeys]   SESSION_KEYS (default: one fresh random key)
 * @param {number} [opts.port=0]        0 = any free port
 * @param {boolean} [opts.configAsObject] bind AUTH_CONFIG as a JSON object instead of a string
 * @param {boolean} [opts.revocationLog=true] bind the revocation log (Durable Object class RevocationLog, binding
 *        REVOCATION_LOG, SQLite storage), as wrangler.toml does
 * @param {boolean} [opts.replayGuard=true] bind the single-use store (Durable Object class ReplayGuard, binding
 *        REPLAY_GUARD, SQLite storage), as wrangler.toml does
 * @param {number} [opts.isolates=1]    more than 1: that many copies of the worker in the same workerd, each its own
 *        isolate (its own memory), all bound to the same Durable Objects (like isolates of one deployment); the
 *        first listens on `port`, the others on ports of their own (handle.isolates[i].url)
 * @param {object} [opts.miniflare]     extra Miniflare options (shallow-merged last)
 * @returns {Promise<{url: string, origin: string, port: number, mf: import('miniflare').Miniflare,
 *           logs: WorkerLog, dispose(): Promise<void>}>}  url/origin: "http://127.0.0.1:PORT" (no trailing slash;
 *           https://… when opts.miniflare has https)
 */
export async function startWorker({
  config,
  secrets = {},
  sessionKeys = randomKey(),
  port = 0,
  configAsObject = false,
  scriptPath = WORKER_SCRIPT,
  assetsDir = ASSETS_DIR,
  revocationLog = true,
  replayGuard = true,
  isolates = 1,
  miniflare = {},
} = {}) {
  if (!existsSync(scriptPath)) {
    throw new Error(`${scriptPath} does not exist: build the worker first (bash scripts/build.sh)`);
  }
  const { Miniflare, Log, LogLevel } = await import('miniflare');
  const bindings = {
    AUTH_CONFIG: configAsObject ? config : typeof config === 'string' ? config : JSON.stringify(config),
    ...(sessionKeys === undefined || sessionKeys === null ? {} : { SESSION_KEYS: sessionKeys }),
    ...secrets,
  };
  const verbose = !!process.env.EDGE_AUTH_TEST_LOG;
  // Every worker's log lines are kept (handle.logs), so that a refusal can be checked for its logged reason.
  const logs = new WorkerLog();
  const opts = {
    host: '127.0.0.1',
    port,
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: COMPATIBILITY_DATE,
    cf: false, // no request.cf fetch from workers.cloudflare.com (offline)
    bindings,
    assets: {
      directory: assetsDir,
      binding: 'ASSETS',
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
      assetConfig: { compatibility_date: COMPATIBILITY_DATE },
    },
    log: verbose ? new Log(LogLevel.DEBUG) : new Log(LogLevel.WARN),
    durableObjects: durableObjects({ replayGuard, revocationLog }),
    handleStructuredLogs: (entry) => {
      logs.push(entry);
      if (verbose) console.error(`[worker ${entry.level}] ${entry.message}`);
    },
    ...miniflare,
  };
  const mf = new Miniflare(isolates > 1 ? sameDeployment(opts, isolates, { replayGuard, revocationLog }) : opts);
  let ready;
  try {
    ready = await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
  const origin = new URL(ready).origin;
  const others = [];
  for (let i = 1; i < isolates; i++) others.push({ url: (await mf.unsafeGetDirectURL(`edge-auth-${i + 1}`)).origin });
  let disposed = false;
  const handle = {
    url: origin,
    origin,
    port: Number(new URL(ready).port),
    mf,
    /** Every copy of the worker (the first is this one): `{ url }` each. */
    isolates: [{ url: origin }, ...others],
    /** console.log/warn/error lines of the worker (unless opts.miniflare.handleStructuredLogs took them) */
    logs,
    async dispose() {
      if (disposed) return;
      disposed = true;
      liveWorkers.delete(handle);
      await mf.dispose();
    },
  };
  liveWorkers.add(handle);
  installSignalHandlers();
  return handle;
}

// Options of one worker in Miniflare's `workers` list; everything else is shared by the workerd process.
const PER_WORKER = new Set(['modules', 'scriptPath', 'modulesRoot', 'modulesRules', 'compatibilityDate', 'bindings', 'assets', 'kvNamespaces', 'durableObjects']);

/**
 * The Durable Object bindings of wrangler.toml, each left out when its option is false; `scriptName`: the worker
 * whose objects they are (another copy of the deployment shares the first one's).
 */
function durableObjects({ replayGuard, revocationLog }, scriptName) {
  const of = (className) => ({ className, useSQLite: true, ...(scriptName ? { scriptName } : {}) });
  return {
    ...(replayGuard ? { REPLAY_GUARD: of('ReplayGuard') } : {}),
    ...(revocationLog ? { REVOCATION_LOG: of('RevocationLog') } : {}),
  };
}

/** Miniflare options for `count` copies of one worker (one isolate each) sharing the first one's Durable Objects. */
function sameDeployment(opts, count, bound) {
  const shared = {};
  const worker = {};
  for (const [k, v] of Object.entries(opts)) (PER_WORKER.has(k) ? worker : shared)[k] = v;
  const workers = [{ ...worker, name: 'edge-auth' }];
  for (let i = 1; i < count; i++) {
    workers.push({
      ...worker,
      name: `edge-auth-${i + 1}`,
      durableObjects: durableObjects(bound, 'edge-auth'),
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    });
  }
  return { ...shared, workers };
}

// ------------------------------------------------------------------------------------------------------------
// Stack: one IdP with one client per alg + one worker with one connector per alg
// ------------------------------------------------------------------------------------------------------------

/**
 * @param {object} [opts]
 * @param {string[]} [opts.algs]  ID-token signing algs; one connector each: id = alg.toLowerCase()
 *        ("rs256", "ps256", "es256", "eddsa", "ed25519"), domains [`${id}.example`].
 * @param {object[]} [opts.extraConnectors] more connector specs:
 *        { id, alg="RS256", domains=[`${id}.example`], authMethod="client_secret_basic", display_name,
 *          connector: {extra AUTH_CONFIG connector fields}, client: {extra oidc-provider client metadata}, or
 *          (workerOrigin) => {extra client metadata} (e.g. a backchannel_logout_uri on the worker) }
 * @param {object|function} [opts.accounts] IdP per-login claim overrides (see dev/idp.mjs)
 * @param {object} [opts.config] extra top-level AUTH_CONFIG fields (e.g. { session: {...} })
 * @param {string} [opts.sessionKeys]
 * @param {object} [opts.idp] extra startIdp options; [opts.worker] extra startWorker options (its `secrets` are
 *        added to the connectors' client secrets)
 * @param {{keyPem: string, certPem: string}} [opts.https] serve the worker over https (workerd's TLS socket with
 *        this key and certificate, e.g. tests/support/tls.mjs selfSignedCert): the worker's URL, the registered
 *        redirect URIs and post-logout URIs are https://127.0.0.1:PORT and https://localhost:PORT
 * @returns {Promise<{idp, worker, connectors: object[], byAlg: Record<string, object>, byId: Record<string,
 *           object>, config: object, secrets: object, sessionKeys: string, close(): Promise<void>}>}
 */
export async function startStack({
  algs = ['RS256', 'PS256', 'ES256', 'EdDSA'],
  extraConnectors = [],
  accounts = {},
  config: configExtra = {},
  sessionKeys = randomKey(),
  idp: idpOpts = {},
  worker: workerOpts = {},
  https,
} = {}) {
  const scheme = https ? 'https' : 'http';
  const specs = [
    ...algs.map((alg) => ({ id: alg.toLowerCase(), alg })),
    ...extraConnectors,
  ].map((s) => {
    const id = s.id;
    return {
      ...s,
      id,
      alg: s.alg || 'RS256',
      domains: s.domains || [`${id}.example`],
      authMethod: s.authMethod || 'client_secret_basic',
      clientId: s.clientId || `edge-auth-${id}`,
      clientSecret: s.clientSecret || `secret-${id}-${randomKey(18)}`,
      secretBinding: s.secretBinding || `${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_SECRET`,
    };
  });

  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const workerPort = await freePort();
    const origins = [`${scheme}://127.0.0.1:${workerPort}`, `${scheme}://localhost:${workerPort}`];
    const clients = specs.map((s) => ({
      client_id: s.clientId,
      client_secret: s.clientSecret,
      redirect_uris: origins.map((o) => `${o}/auth/callback`),
      post_logout_redirect_uris: origins.map((o) => `${o}/auth/signed-out`),
      id_token_signed_response_alg: s.alg,
      token_endpoint_auth_method: s.authMethod,
      ...(typeof s.client === 'function' ? s.client(origins[0]) : s.client || {}),
    }));
    const idp = await startIdp({ clients, accounts, ...idpOpts });
    const connectors = specs.map((s) => ({
      id: s.id,
      kind: 'oidc',
      ...(s.display_name ? { display_name: s.display_name } : {}),
      issuer: idp.issuer,
      client_id: s.clientId,
      client_secret_binding: s.secretBinding,
      domains: s.domains,
      ...(s.authMethod !== 'client_secret_basic' ? { token_endpoint_auth_method: s.authMethod } : {}),
      ...(s.connector || {}),
    }));
    const config = { connectors, ...configExtra };
    const secrets = Object.fromEntries(specs.map((s) => [s.secretBinding, s.clientSecret]));
    let worker;
    try {
      worker = await startWorker({
        config,
        sessionKeys,
        port: workerPort,
        ...workerOpts,
        secrets: { ...secrets, ...(workerOpts.secrets || {}) },
        miniflare: {
          ...(https ? { https: true, httpsKey: https.keyPem, httpsCert: https.certPem } : {}),
          ...(workerOpts.miniflare || {}),
        },
      });
    } catch (err) {
      await idp.close();
      lastErr = err;
      if (/EADDRINUSE|address already in use/i.test(String(err?.message || err))) continue;
      throw err;
    }
    const described = specs.map((s) => ({
      id: s.id,
      alg: s.alg,
      domain: s.domains[0],
      domains: s.domains,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      secretBinding: s.secretBinding,
      authMethod: s.authMethod,
    }));
    let closed = false;
    return {
      idp,
      worker,
      logs: worker.logs,
      connectors: described,
      // the first connector of each alg (the per-alg connectors come before extraConnectors)
      byAlg: Object.fromEntries(described.toReversed().map((c) => [c.alg, c])),
      byId: Object.fromEntries(described.map((c) => [c.id, c])),
      config,
      secrets,
      sessionKeys,
      async close() {
        if (closed) return;
        closed = true;
        const results = await Promise.allSettled([worker.dispose(), idp.close()]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    };
  }
  throw lastErr;
}

// ------------------------------------------------------------------------------------------------------------
// Browserless: a cookie-jar HTTP client with browser-like cookie and navigation semantics
// ------------------------------------------------------------------------------------------------------------

/** Parse one Set-Cookie header value. */
export function parseSetCookie(header) {
  const parts = header.split(';');
  const first = parts.shift();
  const eq = first.indexOf('=');
  const name = (eq < 0 ? '' : first.slice(0, eq)).trim();
  const value = (eq < 0 ? first : first.slice(eq + 1)).trim();
  const attrs = {};
  for (const p of parts) {
    const i = p.indexOf('=');
    const k = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? true : p.slice(i + 1).trim();
    if (k) attrs[k] = v;
  }
  return {
    name,
    value,
    raw: header,
    path: typeof attrs.path === 'string' ? attrs.path : undefined,
    domain: typeof attrs.domain === 'string' ? attrs.domain.replace(/^\./, '').toLowerCase() : undefined,
    maxAge: attrs['max-age'] !== undefined ? Number(attrs['max-age']) : undefined,
    expires: typeof attrs.expires === 'string' ? new Date(attrs.expires) : undefined,
    httpOnly: attrs.httponly === true,
    secure: attrs.secure === true,
    sameSite: typeof attrs.samesite === 'string' ? attrs.samesite : undefined,
    attrs,
  };
}

function defaultCookiePath(pathname) {
  if (!pathname.startsWith('/')) return '/';
  const i = pathname.lastIndexOf('/');
  return i <= 0 ? '/' : pathname.slice(0, i);
}

function pathMatches(reqPath, cookiePath) {
  if (reqPath === cookiePath) return true;
  if (!reqPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || reqPath[cookiePath.length] === '/';
}

function domainMatches(host, domain) {
  return host === domain || (host.endsWith(`.${domain}`) && !net.isIP(host));
}

function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** All <form>s of an HTML page: { action, method, fields: {name: value} } (action resolved against baseUrl). */
export function parseForms(html, baseUrl) {
  const forms = [];
  const re = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = re.exec(html))) {
    const attr = (src, n) => {
      const r = new RegExp(`\\b${n}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(src);
      return r ? decodeEntities(r[2] ?? r[3] ?? r[4] ?? '') : undefined;
    };
    const action = attr(m[1], 'action');
    const fields = {};
    const inputs = /<input\b([^>]*)>/gi;
    let i;
    while ((i = inputs.exec(m[2]))) {
      const name = attr(i[1], 'name');
      if (name === undefined) continue;
      fields[name] = attr(i[1], 'value') ?? '';
    }
    forms.push({
      action: new URL(action ?? '', baseUrl).href,
      method: (attr(m[1], 'method') || 'get').toUpperCase(),
      id: attr(m[1], 'id'),
      fields,
    });
  }
  return forms;
}

/** The value of <meta name="edge-auth-error" content="..."> in an HTML page, if any. */
export function metaErrorCode(html) {
  const m =
    /<meta\b[^>]*name\s*=\s*["']edge-auth-error["'][^>]*content\s*=\s*["']([^"']*)["']/i.exec(html) ||
    /<meta\b[^>]*content\s*=\s*["']([^"']*)["'][^>]*name\s*=\s*["']edge-auth-error["']/i.exec(html);
  return m ? decodeEntities(m[1]) : undefined;
}

/** A response as read by Browserless (the body is always read). */
export class BrowserResponse {
  constructor({ url, method, status, statusText, headers, body, setCookies }) {
    this.url = url;
    this.method = method;
    this.status = status;
    this.statusText = statusText;
    /** @type {Headers} */
    this.headers = headers;
    /** @type {string} */
    this.body = body;
    /** parsed Set-Cookie headers of this response */
    this.setCookies = setCookies;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  get isRedirect() {
    return [301, 302, 303, 307, 308].includes(this.status);
  }

  /** Location resolved against the request URL (or null). */
  get location() {
    const l = this.headers.get('location');
    return l === null ? null : new URL(l, this.url).href;
  }

  /** X-Edge-Auth-Error header */
  get errorCode() {
    return this.headers.get('x-edge-auth-error');
  }

  /** <meta name="edge-auth-error"> of the body */
  get metaErrorCode() {
    return metaErrorCode(this.body);
  }

  text() {
    return this.body;
  }

  json() {
    return JSON.parse(this.body);
  }

  /** The Set-Cookie of `name` in this response, if any. */
  setCookie(name) {
    return this.setCookies.find((c) => c.name === name);
  }

  /** One-line description for assertion messages. */
  describe(max = 400) {
    const hdrs = [...this.headers].map(([k, v]) => `${k}: ${v}`).join('\n  ');
    const body = this.body.length > max ? `${this.body.slice(0, max)}…` : this.body;
    return `${this.method} ${this.url} -> ${this.status} ${this.statusText}\n  ${hdrs}\n  body: ${body}`;
  }
}

const NAV_HEADERS = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'upgrade-insecure-requests': '1',
};

/**
 * A cookie-jar HTTP client. Redirects are never followed implicitly (like fetch's redirect: "manual", but the
 * Location and Set-Cookie are visible); follow() / login() follow them explicitly. Cookies follow browser
 * rules: host-only unless Domain, ports ignored (127.0.0.1:8787 and 127.0.0.1:9000 share cookies, as in a
 * browser), Path matching, Secure only over https, expiry via Max-Age/Expires.
 *
 * Requests go through node:http rather than fetch: Node's fetch forces `Sec-Fetch-Mode: cors`, which would
 * make a real browser navigation impossible to imitate.
 */
export class Browserless {
  /**
   * @param {object} [opts]
   * @param {string} [opts.userAgent]
   * @param {number} [opts.timeoutMs=15000]
   * @param {string|string[]} [opts.ca] extra trusted certificates (PEM) for https sites, e.g. a test TLS front's
   */
  constructor({ userAgent = 'edge-auth-tests/1.0 (Browserless)', timeoutMs = 15000, ca } = {}) {
    this.userAgent = userAgent;
    this.timeoutMs = timeoutMs;
    this.ca = ca;
    /** @type {Map<string, {name, value, domain, hostOnly, path, expiresAt, secure, httpOnly, sameSite}>} */
    this.jar = new Map();
    /** every response, in order */
    this.history = [];
  }

  // ---- cookie jar --------------------------------------------------------------------------------------

  #key(c) {
    return `${c.domain}\t${c.path}\t${c.name}`;
  }

  #purgeExpired() {
    const now = Date.now();
    for (const [k, c] of this.jar) if (c.expiresAt !== undefined && c.expiresAt <= now) this.jar.delete(k);
  }

  /** Store a Set-Cookie received for `url`. */
  storeSetCookie(url, header) {
    const u = new URL(url);
    const sc = typeof header === 'string' ? parseSetCookie(header) : header;
    if (!sc.name && !sc.value) return;
    const host = u.hostname.toLowerCase();
    let domain = host;
    let hostOnly = true;
    if (sc.domain) {
      if (!domainMatches(host, sc.domain)) return; // browsers ignore foreign Domain
      domain = sc.domain;
      hostOnly = false;
    }
    if (sc.secure && u.protocol !== 'https:' && !['localhost', '127.0.0.1', '[::1]'].includes(host)) return;
    if (sc.name.startsWith('__Host-') && (!sc.secure || sc.domain || sc.path !== '/')) return;
    if (sc.name.startsWith('__Secure-') && !sc.secure) return;
    const cookiePath = sc.path && sc.path.startsWith('/') ? sc.path : defaultCookiePath(u.pathname);
    let expiresAt;
    if (sc.maxAge !== undefined && !Number.isNaN(sc.maxAge)) expiresAt = Date.now() + sc.maxAge * 1000;
    else if (sc.expires && !Number.isNaN(sc.expires.getTime())) expiresAt = sc.expires.getTime();
    const c = {
      name: sc.name,
      value: sc.value,
      domain,
      hostOnly,
      path: cookiePath,
      expiresAt,
      secure: sc.secure,
      httpOnly: sc.httpOnly,
      sameSite: sc.sameSite,
    };
    const k = this.#key(c);
    if (expiresAt !== undefined && expiresAt <= Date.now()) this.jar.delete(k);
    else this.jar.set(k, c);
  }

  /** Cookies that would be sent to `url`, most specific path first: [{name, value, ...}]. */
  cookiesFor(url) {
    this.#purgeExpired();
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    return [...this.jar.values()]
      .filter((c) => (c.hostOnly ? host === c.domain : domainMatches(host, c.domain)))
      .filter((c) => pathMatches(u.pathname || '/', c.path))
      .filter((c) => !c.secure || u.protocol === 'https:' || ['localhost', '127.0.0.1'].includes(host))
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** {name: value} of the cookies sent to `url`. */
  cookies(url) {
    const out = {};
    for (const c of this.cookiesFor(url)) if (!(c.name in out)) out[c.name] = c.value;
    return out;
  }

  /** Value of cookie `name` that would be sent to `url` (default: any host), or undefined. */
  getCookie(name, url) {
    this.#purgeExpired();
    if (url) return this.cookies(url)[name];
    for (const c of this.jar.values()) if (c.name === name) return c.value;
    return undefined;
  }

  /** Set (or replace) a cookie for url's host, as if the server had set it. */
  setCookie(name, value, { url, path: p = '/', maxAge } = {}) {
    const host = url ? new URL(url).hostname.toLowerCase() : '127.0.0.1';
    for (const [k, c] of this.jar) if (c.name === name && c.domain === host && c.path === p) this.jar.delete(k);
    const c = {
      name,
      value,
      domain: host,
      hostOnly: true,
      path: p,
      expiresAt: maxAge === undefined ? undefined : Date.now() + maxAge * 1000,
      secure: false,
      httpOnly: true,
      sameSite: 'Lax',
    };
    this.jar.set(this.#key(c), c);
  }

  /** Replace the value of every stored cookie `name` with fn(oldValue). Returns how many were changed. */
  tamperCookie(name, fn) {
    let n = 0;
    for (const c of this.jar.values()) {
      if (c.name === name) {
        c.value = fn(c.value);
        n++;
      }
    }
    return n;
  }

  /** Delete cookie `name` (everywhere, or only for url's host). */
  deleteCookie(name, url) {
    const host = url ? new URL(url).hostname.toLowerCase() : undefined;
    for (const [k, c] of this.jar) if (c.name === name && (!host || c.domain === host)) this.jar.delete(k);
  }

  clearCookies() {
    this.jar.clear();
  }

  // ---- requests ----------------------------------------------------------------------------------------

  /**
   * Send one request with the jar's cookies; the response's Set-Cookie headers update the jar.
   * @param {string|URL} url
   * @param {object} [init]
   * @param {string} [init.method="GET"]
   * @param {object} [init.headers]       extra/overriding headers (a null value removes a default)
   * @param {string|Buffer} [init.body]
   * @param {object} [init.form]          urlencoded body (sets Content-Type)
   * @param {any} [init.json]             JSON body (sets Content-Type)
   * @param {boolean} [init.navigate]     browser top-level navigation headers (Accept text/html, Sec-Fetch-Mode)
   * @param {boolean} [init.cookies=true] send the jar's cookies
   * @returns {Promise<BrowserResponse>}
   */
  async request(url, { method = 'GET', headers = {}, body, form, json, navigate = false, cookies = true } = {}) {
    const u = new URL(url);
    const h = { 'user-agent': this.userAgent, accept: '*/*' };
    if (navigate) Object.assign(h, NAV_HEADERS);
    if (form !== undefined) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    } else if (json !== undefined) {
      body = JSON.stringify(json);
      h['content-type'] = 'application/json';
    }
    if (cookies) {
      const pairs = this.cookiesFor(u).map((c) => `${c.name}=${c.value}`);
      if (pairs.length) h.cookie = pairs.join('; ');
    }
    for (const [k, v] of Object.entries(headers)) {
      if (v === null || v === undefined) delete h[k.toLowerCase()];
      else h[k.toLowerCase()] = String(v);
    }
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));

    const lib = u.protocol === 'https:' ? https : http;
    const res = await new Promise((resolve, reject) => {
      const req = lib.request(
        u,
        { method, headers: h, agent: false, timeout: this.timeoutMs, ...(u.protocol === 'https:' && this.ca ? { ca: this.ca } : {}) },
        (r) => {
          const chunks = [];
          r.on('data', (d) => chunks.push(d));
          r.on('end', () => resolve({ r, body: Buffer.concat(chunks).toString('utf8') }));
          r.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${this.timeoutMs} ms: ${method} ${u.href}`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

    const respHeaders = new Headers();
    const raw = res.r.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) respHeaders.append(raw[i], raw[i + 1]);
    const setCookieHeaders = respHeaders.getSetCookie();
    const setCookies = setCookieHeaders.map(parseSetCookie);
    for (const sc of setCookieHeaders) this.storeSetCookie(u, sc);
    const out = new BrowserResponse({
      url: u.href,
      method,
      status: res.r.statusCode,
      statusText: res.r.statusMessage,
      headers: respHeaders,
      body: res.body,
      setCookies,
    });
    this.history.push(out);
    return out;
  }

  /** GET without navigation headers (like fetch()). */
  get(url, init = {}) {
    return this.request(url, { ...init, method: 'GET' });
  }

  /** A top-level browser navigation (GET, Accept: text/html, Sec-Fetch-Mode: navigate). */
  navigate(url, init = {}) {
    return this.request(url, { ...init, method: 'GET', navigate: true });
  }

  /** POST a urlencoded form as a browser would (navigation headers + Origin of `fromUrl` or of `url`). */
  submit(url, fields, { from, headers = {} } = {}) {
    const origin = new URL(from || url).origin;
    return this.request(url, { method: 'POST', navigate: true, form: fields, headers: { origin, ...headers } });
  }

  /**
   * Navigate to `url` and follow redirects (303 -> GET; 307/308 keep method only for GET here) until a
   * non-redirect response, `until(url)` is true for the next URL, or maxHops.
   * @returns {Promise<{response: BrowserResponse, chain: BrowserResponse[], next?: string}>}
   */
  async follow(url, { until, maxHops = 20, headers } = {}) {
    const chain = [];
    let current = new URL(url).href;
    for (let i = 0; i < maxHops; i++) {
      if (until && i > 0 && until(current)) return { response: chain[chain.length - 1], chain, next: current };
      const r = await this.navigate(current, { headers });
      chain.push(r);
      if (!r.isRedirect || !r.location) return { response: r, chain };
      current = r.location;
    }
    throw new Error(`too many redirects from ${url}:\n${chain.map((r) => `  ${r.status} ${r.url}`).join('\n')}`);
  }

  /**
   * Drive a complete sign-in through the worker and oidc-provider's dev interactions.
   *
   * 1. GET {worker}/auth/login?email=..&return_to=.. (or ?connector=..), expecting a redirect to the IdP;
   * 2. follow the IdP's redirects; on its login page submit prompt=login, login, password; on its consent page
   *    submit prompt=consent (or hit the abort link when `abortAt` names that prompt: the IdP then answers
   *    error=access_denied); an auto-submitting form_post page is posted back;
   * 3. stop at the first response of the worker's /auth/callback and return it (not followed further).
   *
   * @param {object} o
   * @param {string} o.worker     worker origin, e.g. "http://127.0.0.1:8787"
   * @param {string} [o.email]    the address typed on the worker's login page (home-realm discovery)
   * @param {string} [o.connector] use ?connector=ID instead of ?email
   * @param {string} [o.login]    the login name typed at the IdP (default: email)
   * @param {string} [o.password="correct horse battery staple"]
   * @param {string} [o.returnTo] return_to parameter
   * @param {"login"|"consent"} [o.abortAt] abort the IdP interaction at that prompt
   * @param {string} [o.loginUrl] full login URL to start from (overrides email/connector/returnTo)
   * @param {boolean} [o.stopBeforeCallback] return as soon as the IdP redirects to the worker's callback,
   *        without requesting it (then `response` is the IdP's redirect and `callbackUrl` the next URL)
   * @returns {Promise<{response: BrowserResponse, callbackUrl: string, authorizeUrl: string,
   *   start: BrowserResponse, chain: BrowserResponse[], idpPrompts: string[], cookies: object}>}
   *   response = the worker's answer to /auth/callback; cookies = the jar's cookies for the worker.
   */
  async login({
    worker,
    email,
    connector,
    login,
    password = 'correct horse battery staple',
    returnTo,
    abortAt,
    loginUrl,
    stopBeforeCallback = false,
    maxSteps = 30,
  }) {
    const workerOrigin = new URL(worker).origin;
    let startUrl;
    if (loginUrl) startUrl = new URL(loginUrl, workerOrigin).href;
    else {
      const u = new URL('/auth/login', workerOrigin);
      if (connector !== undefined) u.searchParams.set('connector', connector);
      if (email !== undefined) u.searchParams.set('email', email);
      if (returnTo !== undefined) u.searchParams.set('return_to', returnTo);
      startUrl = u.href;
    }
    const loginName = login ?? email ?? new URL(startUrl).searchParams.get('email') ?? undefined;
    if (loginName === undefined || loginName === null) {
      throw new Error('login(): give `login` (the IdP login name) or an email (directly or in loginUrl)');
    }
    const chain = [];
    const idpPrompts = [];
    const fail = (msg, r) => {
      const err = new Error(
        `login(${email ?? connector}) ${msg}\n${chain.map((c) => `  ${c.method} ${c.status} ${c.url}`).join('\n')}${
          r ? `\nlast: ${r.describe(1500)}` : ''
        }`,
      );
      err.response = r;
      err.chain = chain;
      throw err;
    };

    const start = await this.navigate(startUrl);
    chain.push(start);
    if (!start.isRedirect || !start.location) fail('expected a redirect to the IdP', start);
    const authorizeUrl = start.location;
    if (new URL(authorizeUrl).origin === workerOrigin) fail('login redirected to the worker itself', start);

    const isCallback = (href) => {
      const u = new URL(href);
      return u.origin === workerOrigin && u.pathname === '/auth/callback';
    };

    let next = { method: 'GET', url: authorizeUrl };
    for (let step = 0; step < maxSteps; step++) {
      let r;
      if (next.method === 'GET') r = await this.navigate(next.url);
      else r = await this.submit(next.url, next.fields, { from: next.from });
      chain.push(r);
      if (isCallback(r.url)) {
        return {
          response: r,
          callbackUrl: r.url,
          authorizeUrl,
          start,
          chain,
          idpPrompts,
          cookies: this.cookies(workerOrigin),
        };
      }
      if (r.isRedirect && r.location) {
        next = { method: 'GET', url: r.location };
        if (stopBeforeCallback && isCallback(r.location)) {
          return {
            response: r,
            callbackUrl: r.location,
            authorizeUrl,
            start,
            chain,
            idpPrompts,
            cookies: this.cookies(workerOrigin),
          };
        }
        continue;
      }
      if (r.status !== 200) fail(`unexpected IdP response ${r.status}`, r);
      const forms = parseForms(r.body, r.url);
      // response_mode=form_post: an auto-submitting form back to the worker
      const back = forms.find((f) => isCallback(f.action) && f.method === 'POST');
      if (back) {
        next = { method: 'POST', url: back.action, fields: back.fields, from: r.url };
        if (stopBeforeCallback) {
          return {
            response: r,
            callbackUrl: back.action,
            callbackForm: back.fields,
            authorizeUrl,
            start,
            chain,
            idpPrompts,
            cookies: this.cookies(workerOrigin),
          };
        }
        continue;
      }
      const interaction = forms.find((f) => f.fields.prompt === 'login' || f.fields.prompt === 'consent');
      if (!interaction) fail('no IdP login/consent form found', r);
      const prompt = interaction.fields.prompt;
      idpPrompts.push(prompt);
      if (abortAt === prompt) {
        const abort = new URL(`${new URL(interaction.action).pathname.replace(/\/$/, '')}/abort`, r.url).href;
        next = { method: 'GET', url: abort };
        continue;
      }
      const fields =
        prompt === 'login' ? { prompt: 'login', login: loginName, password } : { ...interaction.fields };
      next = { method: 'POST', url: interaction.action, fields, from: r.url };
    }
    return fail(`did not reach ${workerOrigin}/auth/callback within ${maxSteps} steps`);
  }

  /**
   * Finish an RP-initiated logout at oidc-provider: navigate to `endSessionUrl` (the worker's logout
   * redirect), confirm ("Yes, sign me out") and follow the redirects to the post_logout_redirect_uri.
   * @returns {Promise<{response: BrowserResponse, chain: BrowserResponse[]}>} response = the last one
   */
  async idpLogout(endSessionUrl, { maxSteps = 10 } = {}) {
    const chain = [];
    let next = { method: 'GET', url: endSessionUrl };
    for (let step = 0; step < maxSteps; step++) {
      const r =
        next.method === 'GET'
          ? await this.navigate(next.url)
          : await this.submit(next.url, next.fields, { from: next.from });
      chain.push(r);
      if (r.isRedirect && r.location) {
        next = { method: 'GET', url: r.location };
        continue;
      }
      const confirm = parseForms(r.body, r.url).find((f) => /\/session\/end\/confirm$/.test(new URL(f.action).pathname));
      if (r.status === 200 && confirm) {
        next = { method: 'POST', url: confirm.action, fields: { ...confirm.fields, logout: 'yes' }, from: r.url };
        continue;
      }
      return { response: r, chain };
    }
    throw new Error(`idpLogout: too many steps:\n${chain.map((c) => `  ${c.method} ${c.status} ${c.url}`).join('\n')}`);
  }
}

/** Assertion-message helper: a short description of a BrowserResponse. */
export function describe(r, max) {
  return r instanceof BrowserResponse ? r.describe(max) : String(r);
}
