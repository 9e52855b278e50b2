// Origin mode and access policies, end to end: the worker in workerd in front of a test origin
// (tests/support/test-origin.mjs) that verifies X-Edge-Auth-Assertion with npm jose against the worker's
// GET /auth/jwks.json, as a real backend would; sign-in through the real oidc-provider, whose accounts carry a
// `groups` claim (dev/idp.mjs startIdp claims option). The assertion signing key comes from
// scripts/generate-assertion-key.mjs.
//  - identity: X-Auth-Request-Email/User and the assertion (iss = the site, aud = the origin) for signed-in
//    requests; client-sent identity headers (X-Auth-Request-*, X-Edge-Auth-*, X-Forwarded-User/Email) never
//    reach the origin, with or without a session, on protected and public paths; the edge-auth cookies never
//    reach it either; other cookies and headers do;
//  - policies: public paths, email rules, group rules; the forbidden answer (403 page naming the signed-in
//    account for navigations, 403 JSON otherwise), and the origin is not reached.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { me, SESSION_COOKIE } from '../support/assert.mjs';
import { Browserless, ROOT, startStack } from '../support/harness.mjs';
import { startTestOrigin } from '../support/test-origin.mjs';

let stack;
let site; // the worker's origin
let backend; // the test origin
const ACCOUNTS = {
  'boss@corp.example': { groups: ['g-exec'] },
  'member@corp.example': { groups: ['g-team', 'g-unmentioned'] },
  'other@corp.example': { groups: ['g-unmentioned'] },
};
const POLICIES = [
  { path: '/public/*', public: true },
  { path: '/admin/*', emails: ['boss@corp.example'] },
  { path: '/team/*', groups: ['g-team'] },
];
const SPOOFED = {
  'x-auth-request-email': 'boss@corp.example',
  'x-auth-request-user': 'boss@corp.example',
  'X-Auth-Request-Groups': 'g-team',
  'x-edge-auth-assertion': 'eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImJvc3NAY29ycC5leGFtcGxlIn0.',
  'X-Edge-Auth-Anything': 'spoofed',
  'x-forwarded-user': 'boss@corp.example',
  'X-Forwarded-Email': 'boss@corp.example',
};
const SPOOFED_NAMES = Object.keys(SPOOFED).map((h) => h.toLowerCase());

before(async () => {
  const assertionKey = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'generate-assertion-key.mjs')], { encoding: 'utf8' }).trim();
  backend = await startTestOrigin();
  stack = await startStack({
    algs: [],
    extraConnectors: [{ id: 'corp', domains: ['corp.example'], connector: { scopes: ['groups'] } }],
    idp: { claims: { groups: ['groups'] } },
    accounts: ACCOUNTS,
    config: { origin: { url: backend.url }, policies: POLICIES },
    worker: { secrets: { ASSERTION_SIGNING_KEY: assertionKey } },
  });
  site = stack.worker.url;
  backend.setWorker(site);
}, { timeout: 60_000 });

after(async () => {
  await Promise.allSettled([stack?.close(), backend?.close()]);
}, { timeout: 30_000 });

const browsers = new Map();
async function browserOf(email) {
  if (browsers.has(email)) return browsers.get(email);
  const b = new Browserless();
  const { response } = await b.login({ worker: site, email });
  assert.equal(response.status, 302, response.describe());
  assert.equal((await me(b, site, 200)).email, email);
  browsers.set(email, b);
  return b;
}

/** Request through the worker; returns { r, seen } where seen is what the origin received (or undefined). */
async function through(b, pathAndQuery, { navigate = false, headers = {}, method = 'GET', body } = {}) {
  const before = backend.requests.length;
  const r = await b.request(`${site}${pathAndQuery}`, {
    method,
    navigate,
    body,
    headers: navigate ? headers : { accept: 'application/json', ...headers },
  });
  const seen = backend.requests.length > before ? backend.requests[backend.requests.length - 1] : undefined;
  assert.ok(backend.requests.length - before <= 1, 'at most one origin request per request');
  return { r, seen };
}

function assertNoSpoofArrived(seen, context) {
  for (const name of SPOOFED_NAMES) {
    const value = seen.headers[name];
    if (name === 'x-auth-request-email' || name === 'x-auth-request-user' || name === 'x-edge-auth-assertion') {
      // Only the worker's own values may arrive: the origin verified the assertion and matched both headers to it.
      if (value !== undefined) assert.ok(seen.identity, `${name} arrived without a valid assertion: ${value}\n${context}`);
    } else {
      assert.equal(value, undefined, `${name} must not reach the origin\n${context}`);
    }
  }
  assert.ok(!(SESSION_COOKIE in seen.cookies), `the session cookie must not reach the origin: ${seen.headers.cookie}\n${context}`);
  assert.ok(!Object.keys(seen.cookies).some((n) => n.startsWith('edge-auth-') || n.startsWith('__Host-edge-auth-')), `no edge-auth cookie: ${seen.headers.cookie}`);
}

describe('the assertion', () => {
  test('GET /auth/jwks.json: one public ES256 key, no private part, public and cacheable', async () => {
    const r = await new Browserless().get(`${site}/auth/jwks.json`);
    assert.equal(r.status, 200, r.describe());
    const { keys } = r.json();
    assert.equal(keys.length, 1);
    const [k] = keys;
    assert.equal(k.kty, 'EC');
    assert.equal(k.crv, 'P-256');
    assert.equal(k.alg, 'ES256');
    assert.ok(k.kid);
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, `no ${priv}`);
  });

  test('a signed-in request reaches the origin with identity headers and an assertion the origin verifies', async () => {
    const b = await browserOf('member@corp.example');
    const { r, seen } = await through(b, '/app/page?x=1&y=two', { headers: { 'x-request-id': 'req-42', 'accept-language': 'de-CH' } });
    assert.equal(r.status, 200, r.describe());
    assert.equal(r.headers.get('x-test-origin'), '1', 'answered by the origin');
    assert.ok(seen, 'the origin was reached');
    assert.equal(seen.assertionError, undefined, seen.assertionError);
    assert.equal(seen.path, '/app/page?x=1&y=two');
    assert.equal(seen.headers['x-auth-request-email'], 'member@corp.example');
    assert.equal(seen.headers['x-auth-request-user'], 'member@corp.example');
    const a = seen.identity.assertion;
    assert.equal(a.iss, site);
    assert.equal(a.aud, backend.origin);
    assert.equal(a.email, 'member@corp.example');
    assert.equal(a.connector, 'corp');
    assert.equal(a.idp, stack.idp.issuer);
    assert.deepEqual(a.groups, ['g-team'], 'only groups some policy mentions');
    assert.ok(a.exp - a.iat <= 60 && a.exp > a.iat, `short-lived: ${JSON.stringify(a)}`);
    assert.equal(seen.identity.header.alg, 'ES256');
    assert.equal(seen.headers['x-request-id'], 'req-42');
    assert.equal(seen.headers['accept-language'], 'de-CH');
  });
});

describe('identity headers and cookies cannot be spoofed', () => {
  const extraCookies = 'theme=dark; analytics_id=abc123';

  async function spoofed(b, p, opts = {}) {
    // The jar's own cookies (the session, when signed in) plus others; the header replaces the jar's.
    const jar = Object.entries(b.cookies(site)).map(([k, v]) => `${k}=${v}`);
    const cookie = [...jar, extraCookies].join('; ');
    return through(b, p, { ...opts, headers: { ...SPOOFED, cookie, 'x-custom-header': 'kept' } });
  }

  test('signed in, protected path: the spoofed values are replaced; other cookies and headers arrive', async () => {
    const b = await browserOf('other@corp.example');
    const { r, seen } = await spoofed(b, '/app/data');
    assert.equal(r.status, 200, r.describe());
    const ctx = JSON.stringify(seen.headers, null, 1);
    assert.equal(seen.assertionError, undefined, `${seen.assertionError}\n${ctx}`);
    assert.equal(seen.headers['x-auth-request-email'], 'other@corp.example', ctx);
    assert.equal(seen.headers['x-auth-request-user'], 'other@corp.example', ctx);
    assert.notEqual(seen.headers['x-edge-auth-assertion'], SPOOFED['x-edge-auth-assertion'], ctx);
    assertNoSpoofArrived(seen, ctx);
    assert.equal(seen.cookies.theme, 'dark', ctx);
    assert.equal(seen.cookies.analytics_id, 'abc123', ctx);
    assert.equal(seen.headers['x-custom-header'], 'kept', ctx);
  });

  test('without a session, public path: none of them arrive, and neither does a planted session cookie', async () => {
    const b = new Browserless();
    b.setCookie(SESSION_COOKIE, 'v1.planted.value', { url: site });
    const { r, seen } = await spoofed(b, '/public/info');
    assert.equal(r.status, 200, r.describe());
    const ctx = JSON.stringify(seen.headers, null, 1);
    for (const name of SPOOFED_NAMES) assert.equal(seen.headers[name], undefined, `${name}\n${ctx}`);
    assert.equal(seen.identity, null, ctx);
    assertNoSpoofArrived(seen, ctx);
    assert.equal(seen.cookies.theme, 'dark', ctx);
    assert.equal(seen.headers['x-custom-header'], 'kept', ctx);
  });

  test('signed in, public path: the spoofed values never arrive, nor the session cookie', async () => {
    const b = await browserOf('other@corp.example');
    const { r, seen } = await spoofed(b, '/public/info');
    assert.equal(r.status, 200, r.describe());
    const ctx = JSON.stringify(seen.headers, null, 1);
    for (const [name, value] of Object.entries(SPOOFED)) assert.notEqual(seen.headers[name.toLowerCase()], value, `${name}\n${ctx}`);
    assertNoSpoofArrived(seen, ctx);
    assert.equal(seen.cookies.analytics_id, 'abc123', ctx);
  });

  test('without a session, protected path: the origin is never reached', async () => {
    const b = new Browserless();
    const api = await spoofed(b, '/app/data');
    assert.equal(api.r.status, 401, api.r.describe());
    assert.equal(api.seen, undefined, 'not proxied');
    const nav = await through(b, '/app/data', { navigate: true, headers: SPOOFED });
    assert.equal(nav.r.status, 302, nav.r.describe());
    assert.equal(nav.seen, undefined, 'not proxied');
    const post = await through(b, '/app/data', { method: 'POST', body: '{}', headers: { ...SPOOFED, 'content-type': 'application/json' } });
    assert.equal(post.r.status, 401, post.r.describe());
    assert.equal(post.seen, undefined, 'not proxied');
  });

  test('a POST with a body is proxied with the body and the identity', async () => {
    const b = await browserOf('other@corp.example');
    const { r, seen } = await through(b, '/app/items', { method: 'POST', body: '{"n":1}', headers: { ...SPOOFED, 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.describe());
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, '{"n":1}');
    assert.equal(seen.assertionError, undefined, seen.assertionError);
    assert.equal(seen.identity.email, 'other@corp.example');
    assertNoSpoofArrived(seen, JSON.stringify(seen.headers, null, 1));
  });
});

describe('policies', () => {
  function assertForbidden({ r, seen }, email, navigation) {
    assert.equal(r.status, 403, r.describe());
    assert.equal(r.errorCode, 'forbidden', r.describe());
    assert.equal(seen, undefined, 'the origin is not reached');
    if (navigation) {
      assert.match(r.headers.get('content-type') || '', /text\/html/i, r.describe());
      assert.ok(r.body.includes(email), `the page names the signed-in account\n${r.describe(2000)}`);
      assert.equal(r.metaErrorCode, 'forbidden', r.describe());
    } else {
      assert.match(r.headers.get('content-type') || '', /application\/json/i, r.describe());
      assert.equal(r.json().error, 'forbidden', r.describe());
    }
  }

  function assertAllowed({ r, seen }, email) {
    assert.equal(r.status, 200, r.describe());
    assert.ok(seen, 'proxied');
    assert.equal(seen.assertionError, undefined, seen.assertionError);
    assert.equal(seen.identity?.email, email);
  }

  test('public paths need no session', async () => {
    const b = new Browserless();
    for (const p of ['/public', '/public/', '/public/a/b.css']) {
      const { r, seen } = await through(b, p, { navigate: true });
      assert.equal(r.status, 200, `${p}\n${r.describe()}`);
      assert.ok(seen && seen.identity === null, p);
    }
    // A rule's prefix is a path segment: /publicity is protected.
    const { r, seen } = await through(b, '/publicity', { navigate: true });
    assert.equal(r.status, 302, r.describe());
    assert.equal(seen, undefined);
  });

  test('an email rule: boss gets /admin/*, others get 403 (page or JSON)', async () => {
    assertAllowed(await through(await browserOf('boss@corp.example'), '/admin/panel'), 'boss@corp.example');
    assertAllowed(await through(await browserOf('boss@corp.example'), '/admin'), 'boss@corp.example');
    for (const email of ['member@corp.example', 'other@corp.example']) {
      const b = await browserOf(email);
      assertForbidden(await through(b, '/admin/panel', { navigate: true }), email, true);
      assertForbidden(await through(b, '/admin', { navigate: true }), email, true);
      assertForbidden(await through(b, '/admin/api/x'), email, false);
      // Not under the rule's prefix: any session.
      assertAllowed(await through(b, '/administrator'), email);
    }
  });

  test('a group rule: members of g-team get /team/*, others get 403', async () => {
    assertAllowed(await through(await browserOf('member@corp.example'), '/team/board'), 'member@corp.example');
    for (const email of ['boss@corp.example', 'other@corp.example']) {
      const b = await browserOf(email);
      assertForbidden(await through(b, '/team/board', { navigate: true }), email, true);
      assertForbidden(await through(b, '/team/api'), email, false);
    }
  });

  test('a client cannot claim a group or an email by header', async () => {
    const b = await browserOf('other@corp.example');
    assertForbidden(await through(b, '/team/board', { headers: SPOOFED }), 'other@corp.example', false);
    assertForbidden(await through(b, '/admin/panel', { headers: SPOOFED }), 'other@corp.example', false);
  });

  test('without a session, a restricted path sends navigations to the login page and API calls get 401', async () => {
    const b = new Browserless();
    const nav = await through(b, '/admin/panel?tab=1', { navigate: true });
    assert.equal(nav.r.status, 302, nav.r.describe());
    const loc = new URL(nav.r.location);
    assert.equal(loc.pathname, '/auth/login');
    assert.equal(loc.searchParams.get('return_to'), '/admin/panel?tab=1');
    const api = await through(b, '/team/api');
    assert.equal(api.r.status, 401, api.r.describe());
    assert.equal(api.seen, undefined);
  });
});
