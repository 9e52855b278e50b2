// Service tokens for machine clients (issue 16), against the built worker in workerd, in static mode (assets) and
// origin mode (the test origin, which verifies the assertion like a real backend):
//  - a valid Edge-Auth-Client-Id/-Secret pair reaches exactly the paths whose policies name the token (200),
//    never sets a cookie, and is logged by id (never the secret);
//  - anything else is refused: unknown id, wrong secret, expired token, half a pair, repeated headers (401
//    service_token_invalid); a valid token on a path whose policy does not name it, or that has no rule (403);
//  - public paths stay public; a request with token headers is judged by the token alone, also when it carries a
//    valid session cookie (the JS fast path must not wave it through on the cookie);
//  - /auth/* never takes a token as a session (/auth/me 401, logout does nothing with it);
//  - origin mode: the origin sees the token as `service-token:<id>` (headers and signed assertion, no email), and
//    neither credential header, in any spelling.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { signedInBrowsers } from '../../support/assert.mjs';
import { ASSETS_DIR, startStack } from '../../support/harness.mjs';
import { send } from '../../support/machine-request.mjs';
import { startOriginStack } from '../../support/test-origin.mjs';

const CI = { id: 'ci-deploy', secret: 'q0b8Vd3kX2mN7pR1sT5uW9yA4cE6gI8jL0nP2rS4tU6' };
const CRON = { id: 'cron', secret: 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zy6X' };
const OLD = { id: 'old', secret: 'Ol9dOl9dOl9dOl9dOl9dOl9dOl9dOl9dOl9dOl9dOl9' };
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const SERVICE_TOKENS = [
  { id: CI.id, secret_sha256: sha256(CI.secret) },
  { id: CRON.id, secret_sha256: createHash('sha256').update(CRON.secret).digest('base64url') },
  { id: OLD.id, secret_sha256: sha256(OLD.secret), expires: '2020-01-01T00:00:00Z' },
];
const POLICIES = [
  { path: '/public/*', public: true },
  { path: '/api/deploy/*', service_tokens: [CI.id] },
  { path: '/api/*', emails: ['boss@corp.example'], service_tokens: [CI.id, CRON.id, OLD.id] },
  { path: '/admin/*', emails: ['boss@corp.example'] },
];
const FILES = {
  'api/deploy/run.json': 'MARK-DEPLOY',
  'api/items.json': 'MARK-ITEMS',
  'admin/index.html': 'MARK-ADMIN',
  'docs/index.html': 'MARK-DOCS',
  'public/logo.txt': 'MARK-PUBLIC',
};

const tokenHeaders = ({ id, secret }) => ({ 'edge-auth-client-id': id, 'edge-auth-client-secret': secret });

/** The checks both modes share; `site()` is the worker, `reached(r)` whether the content was served. */
function sharedChecks({ site, logs, reached, label }) {
  const browserOf = signedInBrowsers(site);

  test(`${label}: a token reaches exactly the paths whose policies name it`, async () => {
    const mark = logs().mark();
    for (const [token, target] of [[CI, '/api/deploy/run.json'], [CI, '/api/items.json'], [CRON, '/api/items.json']]) {
      const r = await send(site(), { target, headers: tokenHeaders(token) });
      assert.equal(r.status, 200, `${token.id} ${target}\n${r.describe()}`);
      assert.ok(reached(r, target), `${target}\n${r.describe()}`);
      assert.equal(r.headers['set-cookie'], undefined, 'a token never gets a cookie');
    }
    for (const [token, target] of [[CRON, '/api/deploy/run.json'], [CI, '/admin/'], [CI, '/docs/'], [CI, '/']]) {
      const r = await send(site(), { target, headers: tokenHeaders(token) });
      assert.equal(r.status, 403, `${token.id} ${target}\n${r.describe()}`);
      assert.equal(r.errorCode, 'forbidden');
      assert.ok(!reached(r, target), target);
    }
    // Each use is one `service_token` event, by id and path (the audit trail), never with the secret.
    const allowed = await logs().waitForEvent('service_token', { outcome: 'allowed', token_id: 'ci-deploy', path: '/api/items.json' }, mark);
    assert.ok(allowed, logs().all(mark).join('\n'));
    const forbidden = await logs().waitForEvent('service_token', { outcome: 'forbidden', token_id: 'cron', path: '/api/deploy/run.json' }, mark);
    assert.ok(forbidden, logs().all(mark).join('\n'));
    for (const l of logs().all(mark)) {
      for (const t of [CI, CRON]) assert.ok(!l.includes(t.secret.slice(0, 12)), `a secret in the log: ${l}`);
    }
  });

  test(`${label}: anything but one valid pair is refused (401)`, async () => {
    for (const [why, headers] of [
      ['unknown id', tokenHeaders({ id: 'nobody', secret: CI.secret })],
      ['wrong secret', tokenHeaders({ id: CI.id, secret: CRON.secret })],
      ['expired', tokenHeaders(OLD)],
      ['id without secret', { 'edge-auth-client-id': CI.id }],
      ['secret without id', { 'edge-auth-client-secret': CI.secret }],
      ['two secrets', { 'edge-auth-client-id': CI.id, 'edge-auth-client-secret': [CI.secret, CI.secret] }],
      ['two ids', { 'edge-auth-client-id': [CI.id, CI.id], 'edge-auth-client-secret': CI.secret }],
      ['short secret', tokenHeaders({ id: CI.id, secret: CI.secret.slice(0, 20) })],
      ['odd bytes', tokenHeaders({ id: CI.id, secret: `${CI.secret}\u00ff` })],
    ]) {
      const r = await send(site(), { target: '/api/items.json', headers });
      assert.equal(r.status, 401, `${why}\n${r.describe()}`);
      assert.equal(r.errorCode, 'service_token_invalid', why);
      assert.deepEqual(r.json(), { error: 'service_token_invalid' });
      assert.ok(!reached(r, '/api/items.json'), why);
    }
  });

  test(`${label}: public paths stay public, whatever token headers the request carries`, async () => {
    for (const headers of [{}, tokenHeaders({ id: CI.id, secret: 'wrong' }), { 'edge-auth-client-secret': 'x' }]) {
      const r = await send(site(), { target: '/public/logo.txt', headers });
      assert.equal(r.status, 200, r.describe());
      assert.ok(reached(r, '/public/logo.txt'));
    }
  });

  test(`${label}: a request with token headers is judged by the token alone, cookie or not`, async () => {
    const boss = await browserOf('boss@corp.example');
    const ok = await send(site(), { target: '/api/items.json', browser: boss });
    assert.equal(ok.status, 200, `the session alone gets in\n${ok.describe()}`);
    for (const headers of [tokenHeaders({ id: CI.id, secret: CRON.secret }), { 'edge-auth-client-id': CI.id }, { 'edge-auth-client-secret': CI.secret }]) {
      const r = await send(site(), { target: '/api/items.json', browser: boss, headers });
      assert.equal(r.status, 401, `a wrong token next to a valid session\n${r.describe()}`);
      assert.ok(!reached(r, '/api/items.json'));
    }
    // A valid token does not borrow the session's access: /admin/* names no token.
    const r = await send(site(), { target: '/admin/', browser: boss, headers: tokenHeaders(CI) });
    assert.equal(r.status, 403, r.describe());
  });

  test(`${label}: /auth/* never takes a token as a session`, async () => {
    const meR = await send(site(), { target: '/auth/me', headers: { ...tokenHeaders(CI), accept: 'application/json' } });
    assert.equal(meR.status, 401, meR.describe());
    const out = await send(site(), {
      method: 'POST',
      target: '/auth/logout',
      headers: { ...tokenHeaders(CI), origin: site(), 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.notEqual(out.status, 200, out.describe());
    assert.ok(!String(out.headers['set-cookie'] ?? '').includes('edge-auth-session=v'), 'no session from a token');
    const still = await send(site(), { target: '/api/items.json', headers: tokenHeaders(CI) });
    assert.equal(still.status, 200, 'the token is not "signed out" either');
  });
}

describe('static mode', () => {
  let stack;
  let assetsDir;
  before(async () => {
    assetsDir = mkdtempSync(path.join(os.tmpdir(), 'edge-auth-assets-'));
    cpSync(ASSETS_DIR, assetsDir, { recursive: true });
    for (const [file, mark] of Object.entries(FILES)) {
      mkdirSync(path.dirname(path.join(assetsDir, file)), { recursive: true });
      writeFileSync(path.join(assetsDir, file), file.endsWith('.json') ? JSON.stringify({ mark }) : `<p>${mark}</p>\n`);
    }
    stack = await startStack({
      algs: [],
      extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
      config: { policies: POLICIES, service_tokens: SERVICE_TOKENS },
      worker: { assetsDir },
    });
  }, { timeout: 60_000 });
  after(async () => {
    await stack?.close();
    if (assetsDir) rmSync(assetsDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  sharedChecks({
    label: 'static',
    site: () => stack.worker.url,
    logs: () => stack.worker.logs,
    reached: (r, target) => {
      const file = target.endsWith('/') ? `${target.slice(1)}index.html` : target.slice(1);
      return FILES[file] !== undefined && r.body.includes(FILES[file]);
    },
  });
});

describe('origin mode', () => {
  let stack;
  let backend;
  let site;
  before(async () => {
    ({ stack, backend, site } = await startOriginStack({
      extraConnectors: [{ id: 'corp', domains: ['corp.example'] }],
      policies: POLICIES,
      config: { service_tokens: SERVICE_TOKENS },
    }));
  }, { timeout: 60_000 });
  after(async () => {
    await Promise.allSettled([stack?.close(), backend?.close()]);
  }, { timeout: 30_000 });

  sharedChecks({
    label: 'origin',
    site: () => site,
    logs: () => stack.worker.logs,
    reached: (r, target) => r.headers['x-test-origin'] === '1' && r.json().path === target,
  });

  test('origin: the origin sees the token by id, distinct from any user, and never its credentials', async () => {
    const spoofed = {
      ...tokenHeaders(CI),
      'Edge_Auth_Client_Secret': CI.secret,
      'edge-auth-client-secret-2': CI.secret,
      'x-auth-request-email': 'boss@corp.example',
      'x-edge-auth-service-token': 'cron',
    };
    const r = await send(site, { target: '/api/items.json', headers: spoofed });
    assert.equal(r.status, 200, r.describe());
    const seen = r.json();
    assert.equal(seen.assertionError, undefined, seen.assertionError);
    assert.equal(seen.identity.user, 'service-token:ci-deploy');
    assert.equal(seen.identity.serviceToken, 'ci-deploy');
    assert.equal(seen.identity.email, undefined, 'a token has no email');
    assert.equal(seen.identity.assertion.service_token, 'ci-deploy');
    assert.equal(seen.identity.assertion.email, undefined);
    assert.equal(seen.headers['x-auth-request-email'], undefined, 'the client-sent email header is stripped');
    for (const name of seen.rawHeaderNames) {
      assert.ok(!/^edge.auth.client/i.test(name), `${name} reached the origin`);
    }
    assert.ok(!JSON.stringify(seen.rawHeaders).includes(CI.secret), 'the secret reached the origin');
    // A public path: the credentials are stripped too.
    const pub = await send(site, { target: '/public/x', headers: tokenHeaders(CI) });
    assert.equal(pub.status, 200);
    assert.ok(!JSON.stringify(pub.json().rawHeaders).includes(CI.secret), 'the secret reached the origin (public path)');
    assert.equal(pub.json().identity, null);
  });
});
