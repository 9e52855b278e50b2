// The built worker in workerd in front of the fake identity providers (tests/support/fake-idp/), and the
// helpers that drive a sign-in end to end through it and check the outcome:
//  - startHostileStack: one worker, one connector per scriptable OP (fake-idp/op.mjs); loginThrough,
//    expectAccepted, expectRefused;
//  - startShapeStack: one worker in front of Entra-, Google-, Facebook-shaped providers (fake-idp/shapes.mjs),
//    their real origins routed to them (outboundRouter); signIn, expectSignedIn, expectRefusedSignIn.
import assert from 'node:assert/strict';

import { assertNoSessionSet, assertRefusal, me } from './assert.mjs';
import { startHostileOp } from './fake-idp/op.mjs';
import { Browserless, freePort, randomKey, SESSION_COOKIE, startWorker } from './harness.mjs';

// ------------------------------------------------------------------------------------------------------------
// The worker in front of hostile providers
// ------------------------------------------------------------------------------------------------------------

/**
 * One worker with one connector per hostile provider.
 *
 * @param {object} opts
 * @param {object[]} opts.connectors  { id, domains=[`${id}.example`], authMethod="client_secret_basic"
 *        (registered at the OP), configAuthMethod (AUTH_CONFIG token_endpoint_auth_method; default: authMethod
 *        when it is not basic; null: leave it out), alg="RS256" (the OP's default ID-token alg),
 *        op: {startHostileOp options}, connector: {extra AUTH_CONFIG connector fields} }
 * @param {object} [opts.config]      extra top-level AUTH_CONFIG fields
 * @param {string} [opts.sessionKeys]
 * @returns {Promise<{worker, origin, ops: Record<string, object>, byId: Record<string, object>, logs: WorkerLog,
 *           config, secrets, sessionKeys, close()}>}
 */
export async function startHostileStack({ connectors, config: configExtra = {}, sessionKeys = randomKey(), worker: workerOpts = {} }) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const workerPort = await freePort();
    const redirectUris = [`http://127.0.0.1:${workerPort}/auth/callback`];
    const ops = {};
    const byId = {};
    const secrets = {};
    const cfgConnectors = [];
    try {
      for (const spec of connectors) {
        const id = spec.id;
        const authMethod = spec.authMethod || 'client_secret_basic';
        const clientId = spec.clientId || `edge-auth-${id}`;
        const clientSecret = spec.clientSecret || `secret-${id}-${randomKey(18)}`;
        const binding = `${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_SECRET`;
        const op = await startHostileOp({
          name: id,
          ...(spec.op || {}),
          clients: [{ client_id: clientId, client_secret: clientSecret, token_endpoint_auth_method: authMethod, redirect_uris: redirectUris, alg: spec.alg || 'RS256' }],
        });
        ops[id] = op;
        const domains = spec.domains || [`${id}.example`];
        const configAuthMethod = spec.configAuthMethod !== undefined ? spec.configAuthMethod : authMethod === 'client_secret_basic' ? null : authMethod;
        cfgConnectors.push({
          id,
          kind: 'oidc',
          issuer: op.issuer,
          client_id: clientId,
          client_secret_binding: binding,
          domains,
          ...(configAuthMethod ? { token_endpoint_auth_method: configAuthMethod } : {}),
          ...(spec.connector || {}),
        });
        secrets[binding] = clientSecret;
        byId[id] = { id, domain: domains[0], domains, clientId, clientSecret, authMethod, op };
      }
    } catch (err) {
      await Promise.allSettled(Object.values(ops).map((o) => o.close()));
      throw err;
    }
    const config = { connectors: cfgConnectors, ...configExtra };
    let worker;
    try {
      worker = await startWorker({ config, secrets, sessionKeys, port: workerPort, ...workerOpts });
    } catch (err) {
      await Promise.allSettled(Object.values(ops).map((o) => o.close()));
      lastErr = err;
      if (/EADDRINUSE|address already in use/i.test(String(err?.message || err))) continue;
      throw err;
    }
    let closed = false;
    return {
      worker,
      origin: worker.url,
      ops,
      byId,
      logs: worker.logs,
      config,
      secrets,
      sessionKeys,
      async close() {
        if (closed) return;
        closed = true;
        const results = await Promise.allSettled([worker.dispose(), ...Object.values(ops).map((o) => o.close())]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    };
  }
  throw lastErr;
}

/**
 * The same stack seen through another worker (e.g. a second isolate on a fresh port, sharing a cache directory):
 * every provider also accepts that worker's callback URL, and the returned view drives sign-ins through it.
 * No port is ever freed and bound again.
 */
export function throughWorker(stack, worker) {
  for (const op of Object.values(stack.ops)) {
    for (const client of op.clients.values()) {
      const uri = `${worker.url}/auth/callback`;
      if (client.redirect_uris && !client.redirect_uris.includes(uri)) client.redirect_uris.push(uri);
    }
  }
  return { ...stack, worker, origin: worker.url };
}

// ------------------------------------------------------------------------------------------------------------
// End-to-end case helpers: login -> callback -> /auth/me through the real worker
// ------------------------------------------------------------------------------------------------------------

function describeLogin(res) {
  return res.chain.map((c) => `  ${c.method} ${c.status} ${c.url}${c.errorCode ? ` [${c.errorCode}]` : ''}`).join('\n');
}

/**
 * Run a login through connector `connector` with the current case of its provider. Returns Browserless.login's
 * result plus the Browserless `b`, the worker log lines written meanwhile and the token request(s) the provider saw.
 */
export async function loginThrough(stack, { connector, email, returnTo, b = new Browserless(), loginUrl, stopBeforeCallback } = {}) {
  const c = stack.byId[connector];
  assert.ok(c, `no connector ${connector}`);
  const logMark = stack.logs.mark();
  const opMark = c.op.tokenRequests.length;
  const res = await b.login({
    worker: stack.origin,
    email: loginUrl ? undefined : (email ?? `alice@${c.domain}`),
    login: email ?? `alice@${c.domain}`,
    returnTo,
    loginUrl,
    stopBeforeCallback,
  });
  return { b, ...res, logMark, tokenRequests: c.op.tokenRequests.slice(opMark) };
}

/**
 * A valid sign-in must succeed: 302 to a same-origin path, a session cookie, /auth/me 200 with the email.
 * `spec` (optional) is the provider case for this login only.
 */
export async function expectAccepted(stack, { connector, spec, email, returnTo, check } = {}) {
  const op = stack.byId[connector].op;
  const previous = op.currentCase;
  if (spec !== undefined) op.setCase(spec);
  try {
    const res = await loginThrough(stack, { connector, email, returnTo });
    const r = res.response;
    const lines = stack.logs.since(res.logMark).join('\n');
    assert.equal(r.status, 302, `expected the sign-in to be accepted\n${describeLogin(res)}\n${r.describe(600)}\nworker log:\n${lines}\nprovider token requests: ${JSON.stringify(res.tokenRequests.map((t) => t.outcome))}`);
    const landed = new URL(r.location);
    assert.equal(landed.origin, stack.origin, r.describe());
    assert.ok(r.setCookie(SESSION_COOKIE)?.value, `a session cookie is set\n${r.describe()}`);
    const session = await me(res.b, stack.origin, 200);
    const expectedEmail = (email ?? `alice@${stack.byId[connector].domain}`).toLowerCase();
    assert.equal(session.email, expectedEmail, JSON.stringify(session));
    assert.equal(session.connector, connector, JSON.stringify(session));
    if (check) await check({ ...res, session });
    return { ...res, session };
  } finally {
    if (spec !== undefined) op.setCase(previous);
  }
}

/**
 * A refused sign-in: the page of X-Edge-Auth-Error `code` (one code) with `status` (default: that code's status,
 * see assert.mjs STATUS_OF_CODE), no session cookie set, /auth/me stays 401, and the worker logged why: `reason`
 * (a RegExp on its log line; default: the refusal's own line `<path>: <code> (`); with `at`, the path of the
 * refusing response (e.g. "/auth/callback").
 * Then the very next valid sign-in through the same connector must succeed (nothing poisoned), unless
 * `recover: false`.
 */
export async function expectRefused(stack, { connector, spec, code, status, reason, email, recover = true, at } = {}) {
  const op = stack.byId[connector].op;
  const previous = op.currentCase;
  if (spec !== undefined) op.setCase(spec);
  let res;
  try {
    res = await loginThrough(stack, { connector, email });
  } finally {
    if (spec !== undefined) op.setCase(previous);
  }
  const r = res.response;
  const lines = stack.logs.since(res.logMark);
  const context = `\n${describeLogin(res)}\nworker log:\n${lines.join('\n')}\nprovider token requests: ${JSON.stringify(res.tokenRequests.map((t) => t.outcome))}`;
  try {
    assertRefusal(r, { status, code });
  } catch (err) {
    err.message += context;
    throw err;
  }
  if (at) assert.equal(new URL(r.url).pathname, at, `refused at ${at}${context}`);
  assertNoSessionSet(r);
  assert.equal(res.b.getCookie(SESSION_COOKIE, stack.origin), undefined, `no session cookie in the jar${context}`);
  const body = await me(res.b, stack.origin, 401);
  assert.equal(body.error, 'unauthenticated');
  const why = reason ?? new RegExp(`: ${code} \\(`);
  const line = await stack.logs.waitFor(why, res.logMark);
  assert.ok(line, `the worker log explains the refusal with ${why}${context}\n(log now: ${stack.logs.since(res.logMark).join(' | ')})`);
  if (recover) await expectAccepted(stack, { connector, email });
  return { ...res, logLines: lines };
}

// ------------------------------------------------------------------------------------------------------------
// The worker in front of shaped providers
// ------------------------------------------------------------------------------------------------------------

/**
 * A Miniflare `outboundService`: the worker's fetches of `routes` origins (e.g. "https://accounts.google.com")
 * go to the local base URL they map to (path and query kept); loopback URLs pass; anything else is answered
 * 502 without touching the network. `seen` collects { url, target } of routed requests.
 */
export function outboundRouter(routes = {}, seen = []) {
  return async (request) => {
    const { fetch: mfFetch, Response: MfResponse } = await import('miniflare');
    const u = new URL(request.url);
    let target;
    if (routes[u.origin]) target = new URL(`${u.pathname}${u.search}`, routes[u.origin]).href;
    else if (['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) target = u.href;
    else {
      seen.push({ url: u.href, target: null });
      return new MfResponse(`test outbound router: ${u.origin} is not routed`, { status: 502 });
    }
    seen.push({ url: u.href, target });
    const headers = new Headers();
    for (const [k, v] of request.headers) if (!['host', 'content-length', 'cf-connecting-ip'].includes(k.toLowerCase())) headers.set(k, v);
    if (target !== u.href) headers.set('x-test-original-url', u.href);
    const hasBody = !['GET', 'HEAD'].includes(request.method);
    return mfFetch(target, { method: request.method, headers, body: hasBody ? await request.arrayBuffer() : undefined, redirect: 'manual' });
  };
}

/**
 * Start providers and one worker in front of them.
 *
 * @param {(ctx: {port: number, origin: string, redirectUri: string}) => Promise<{ops: object, connectors: object[],
 *        secrets: object, routes?: object, config?: object}>} setup  starts the providers for a worker at `origin`
 * @returns {Promise<{worker, origin, ops, logs: WorkerLog, outbound: object[], config, close()}>}
 */
export async function startShapeStack(setup, { sessionKeys = randomKey(), worker: workerOpts = {} } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const made = await setup({ port, origin, redirectUri: `${origin}/auth/callback` });
    const ops = made.ops;
    const closeOps = () => Promise.allSettled(Object.values(ops).map((o) => o.close()));
    const config = { connectors: made.connectors, ...(made.config || {}) };
    const outbound = [];
    let worker;
    try {
      worker = await startWorker({
        config,
        secrets: made.secrets,
        sessionKeys,
        port,
        ...workerOpts,
        miniflare: {
          outboundService: outboundRouter(made.routes || {}, outbound),
          ...(workerOpts.miniflare || {}),
        },
      });
    } catch (err) {
      await closeOps();
      lastErr = err;
      if (/EADDRINUSE|address already in use/i.test(String(err?.message || err))) continue;
      throw err;
    }
    let closed = false;
    return {
      worker,
      origin,
      ops,
      logs: worker.logs,
      outbound,
      config,
      async close() {
        if (closed) return;
        closed = true;
        const results = await Promise.allSettled([worker.dispose(), closeOps()]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    };
  }
  throw lastErr;
}

function describeChain(res) {
  return (res.chain || []).map((c) => `  ${c.method} ${c.status} ${c.url}${c.errorCode ? ` [${c.errorCode}]` : ''}`).join('\n');
}

/**
 * One sign-in through the worker: the address typed on the worker's login page (`email`, or `connector`), who
 * signs in at the provider (`login`, default = email), an optional provider case for this sign-in only (`op`
 * + `spec`). Returns Browserless.login's result plus `b`, `logMark`, `context` (for assertion messages).
 */
export async function signIn(stack, { email, login, connector, returnTo, op, spec, b = new Browserless(), abortAt, stopBeforeCallback, loginUrl } = {}) {
  const previous = op?.currentCase;
  if (op && spec !== undefined) op.setCase(spec);
  const logMark = stack.logs.mark();
  try {
    const res = await b.login({ worker: stack.origin, email, login: login ?? email, connector, returnTo, abortAt, stopBeforeCallback, loginUrl });
    const context = () => `\n${describeChain(res)}\nworker log:\n${stack.logs.since(logMark).join('\n')}${op ? `\nprovider token requests: ${JSON.stringify(op.tokenRequests.slice(-2).map((t) => t.outcome))}` : ''}`;
    return { ...res, b, logMark, context };
  } finally {
    if (op && spec !== undefined) op.setCase(previous);
  }
}

/**
 * A sign-in that must succeed: 302 to the site, a session cookie, /auth/me 200 with `expect`'s fields
 * (email defaults to the typed address, lower-cased). Returns the sign-in plus `session`.
 */
export async function expectSignedIn(stack, { expect = {}, ...opts }) {
  const res = await signIn(stack, opts);
  const r = res.response;
  assert.equal(r.status, 302, `expected the sign-in to be accepted\n${r.describe(800)}${res.context()}`);
  assert.equal(new URL(r.location).origin, stack.origin, r.describe());
  assert.ok(r.setCookie(SESSION_COOKIE)?.value, `a session cookie is set\n${r.describe()}`);
  const session = await me(res.b, stack.origin, 200);
  const want = { email: (opts.email ?? '').toLowerCase() || undefined, ...expect };
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined) continue;
    if (v instanceof RegExp) assert.match(String(session[k]), v, `session.${k}: ${JSON.stringify(session)}`);
    else assert.equal(session[k], v, `session.${k}: ${JSON.stringify(session)}`);
  }
  return { ...res, session };
}

/**
 * A sign-in that must be refused at the worker's callback: `status` (default: the code's), X-Edge-Auth-Error
 * `code` (one), an HTML page, no session cookie, /auth/me 401, and the worker's log line explaining it (`reason`;
 * default: the refusal's own line `<path>: <code> (`).
 */
export async function expectRefusedSignIn(stack, { code, status, reason, ...opts }) {
  const res = await signIn(stack, opts);
  const r = res.response;
  try {
    assert.equal(new URL(r.url).pathname, '/auth/callback', 'refused at the callback');
    assertRefusal(r, { status, code });
  } catch (err) {
    err.message += res.context();
    throw err;
  }
  assertNoSessionSet(r);
  assert.equal(res.b.getCookie(SESSION_COOKIE, stack.origin), undefined, `no session cookie in the jar${res.context()}`);
  assert.equal((await me(res.b, stack.origin, 401)).error, 'unauthenticated');
  const why = reason ?? new RegExp(`: ${code} \\(`);
  const line = await stack.logs.waitFor(why, res.logMark);
  assert.ok(line, `the worker log explains the refusal with ${why}${res.context()}`);
  return res;
}
