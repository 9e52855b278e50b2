// CORS for protected API paths (issue 16), against the built worker in workerd, in static mode and origin mode:
//  - a preflight (OPTIONS + Origin + Access-Control-Request-Method) for a configured path from an allowed origin
//    is answered by the worker: 204 with the Access-Control-* grant and Vary: Origin, never forwarded;
//  - a disallowed origin, method or header gets no grant (403 cors_refused) and is not forwarded either;
//  - actual responses to an allowed origin carry Access-Control-Allow-Origin (the exact origin, with
//    credentials) and Vary: Origin — the 401 JSON of an API call without a session, and the 200 of a signed-in
//    one (which the JS fast path must hand to the full handler to get them); other origins get no grant;
//  - paths without a CORS rule behave as before (a preflight there is an ordinary unauthenticated request).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { signedInBrowsers } from '../../support/assert.mjs';
import { ASSETS_DIR, startStack } from '../../support/harness.mjs';
import { send } from '../../support/machine-request.mjs';
import { startOriginStack } from '../../support/test-origin.mjs';

const APP = 'https://app.example';
const CORS = [{
  paths: ['/api/*'],
  allowed_origins: [APP, 'http://localhost:3000'],
  allowed_methods: ['GET', 'POST', 'PUT'],
  allowed_headers: ['content-type', 'x-requested-with'],
  allow_credentials: true,
  max_age_seconds: 600,
}];
const POLICIES = [{ path: '/public/*', public: true }, { path: '/api/*', emails: ['boss@corp.example'] }];
const preflight = (origin, method, headers) => ({
  origin,
  'access-control-request-method': method,
  ...(headers ? { 'access-control-request-headers': headers } : {}),
});

function sharedChecks({ site, forwards, label }) {
  const browserOf = signedInBrowsers(site);

  test(`${label}: a preflight from an allowed origin is answered by the worker`, async () => {
    for (const [origin, method, headers] of [[APP, 'POST', 'content-type'], ['http://localhost:3000', 'PUT', 'Content-Type, X-Requested-With'], [APP, 'GET', undefined]]) {
      const before = forwards();
      const r = await send(site(), { method: 'OPTIONS', target: '/api/items', headers: preflight(origin, method, headers) });
      assert.equal(r.status, 204, r.describe());
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
      assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, PUT');
      assert.equal(r.headers['access-control-allow-headers'], 'content-type, x-requested-with');
      assert.equal(r.headers['access-control-max-age'], '600');
      assert.match(r.headers.vary ?? '', /Origin/);
      assert.equal(forwards(), before, 'a preflight is not forwarded');
    }
  });

  test(`${label}: no grant for another origin, method or header, and nothing forwarded`, async () => {
    for (const [origin, method, headers] of [
      ['https://evil.example', 'POST', undefined],
      ['https://app.example.evil.example', 'GET', undefined],
      ['null', 'GET', undefined],
      ['http://app.example', 'GET', undefined],
      [APP, 'DELETE', undefined],
      [APP, 'POST', 'authorization'],
      [APP, 'POST', 'content-type, x-admin'],
    ]) {
      const before = forwards();
      const r = await send(site(), { method: 'OPTIONS', target: '/api/items', headers: preflight(origin, method, headers) });
      assert.equal(r.status, 403, `${origin} ${method} ${headers}\n${r.describe()}`);
      assert.equal(r.errorCode, 'cors_refused');
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      assert.equal(r.headers['access-control-allow-credentials'], undefined);
      assert.equal(forwards(), before, 'a refused preflight is not forwarded');
    }
  });

  test(`${label}: actual responses name the exact allowed origin, the 401 included`, async () => {
    const anon = await send(site(), { target: '/api/items', headers: { origin: APP, accept: 'application/json' } });
    assert.equal(anon.status, 401, anon.describe());
    assert.equal(anon.headers['access-control-allow-origin'], APP);
    assert.equal(anon.headers['access-control-allow-credentials'], 'true');
    assert.match(anon.headers.vary ?? '', /Origin/);
    const boss = await browserOf('boss@corp.example');
    const ok = await send(site(), { target: '/api/items', browser: boss, headers: { origin: APP } });
    assert.equal(ok.status, 200, ok.describe());
    assert.equal(ok.headers['access-control-allow-origin'], APP, `a signed-in API call gets the grant\n${ok.describe()}`);
    assert.match(ok.headers.vary ?? '', /Origin/);
    for (const origin of ['https://evil.example', '*', 'null']) {
      const r = await send(site(), { target: '/api/items', browser: boss, headers: { origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined, `${origin}\n${r.describe()}`);
      assert.equal(r.headers['access-control-allow-credentials'], undefined, origin);
    }
  });

  test(`${label}: paths without a CORS rule are untouched`, async () => {
    const r = await send(site(), { method: 'OPTIONS', target: '/other', headers: preflight(APP, 'GET') });
    assert.equal(r.status, 401, r.describe());
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    const pub = await send(site(), { target: '/public/x', headers: { origin: APP } });
    assert.equal(pub.headers['access-control-allow-origin'], undefined, pub.describe());
  });
}

describe('static mode', () => {
  let stack;
  let assetsDir;
  before(async () => {
    assetsDir = mkdtempSync(path.join(os.tmpdir(), 'edge-auth-assets-'));
    cpSync(ASSETS_DIR, assetsDir, { recursive: true });
    for (const file of ['api/items', 'public/x']) {
      mkdirSync(path.dirname(path.join(assetsDir, file)), { recursive: true });
      writeFileSync(path.join(assetsDir, file), `MARK ${file}\n`);
    }
    stack = await startStack({
      algs: [],
      extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
      config: { policies: POLICIES, cors: CORS },
      worker: { assetsDir },
    });
  }, { timeout: 60_000 });
  after(async () => {
    await stack?.close();
    if (assetsDir) rmSync(assetsDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  // The asset server is not observable from here: what it would have answered to OPTIONS is not a 204 grant.
  sharedChecks({ label: 'static', site: () => stack.worker.url, forwards: () => 0 });
});

describe('origin mode', () => {
  let stack;
  let backend;
  let site;
  before(async () => {
    ({ stack, backend, site } = await startOriginStack({
      extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
      policies: POLICIES,
      config: { cors: CORS },
    }));
  }, { timeout: 60_000 });
  after(async () => {
    await Promise.allSettled([stack?.close(), backend?.close()]);
  }, { timeout: 30_000 });

  sharedChecks({ label: 'origin', site: () => site, forwards: () => backend.requests.length });

  test('origin: on a CORS path the worker alone speaks CORS (the origin\'s own Access-Control-* are dropped)', async () => {
    const boss = await signedInBrowsers(() => site)('boss@corp.example');
    const reflect = (origin) => ({ origin, 'x-test-origin-cors': 'reflect' });
    const evil = await send(site, { target: '/api/items', browser: boss, headers: reflect('https://evil.example') });
    assert.equal(evil.status, 200, evil.describe());
    assert.equal(evil.headers['access-control-allow-origin'], undefined, `the origin's reflection must not pass\n${evil.describe()}`);
    assert.equal(evil.headers['access-control-allow-credentials'], undefined, evil.describe());
    assert.equal(evil.headers['access-control-expose-headers'], undefined, evil.describe());
    const app = await send(site, { target: '/api/items', browser: boss, headers: reflect(APP) });
    assert.equal(app.headers['access-control-allow-origin'], APP, app.describe());
    assert.equal(app.headers['access-control-expose-headers'], undefined, 'only the rule\'s grant');
    // A path no CORS rule covers is the origin's business: its headers pass.
    const other = await send(site, { target: '/public/x', headers: reflect('https://evil.example') });
    assert.equal(other.headers['access-control-allow-origin'], 'https://evil.example', other.describe());
  });
});
