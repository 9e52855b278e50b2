// Home-realm discovery (email domain -> connector) and the identity checks at the callback: a user of one
// connector's IdP can never obtain a session for a domain owned by another connector.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertLoopbackCookie, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE, TX_COOKIE } from '../../support/assert.mjs';
import { Browserless, startStack } from '../../support/harness.mjs';

let stack;
let origin;
before(async () => {
  stack = await startStack({
    algs: ['RS256', 'ES256'],
    accounts: {
      'vera@rs256.example': { email_verified: false },
    },
  });
  origin = stack.worker.url;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

test('GET /auth/login without parameters is the login page', async () => {
  const b = new Browserless();
  const r = await b.navigate(`${origin}/auth/login`);
  assert.equal(r.status, 200, r.describe());
  assert.match(r.headers.get('content-type') || '', /text\/html/i, r.describe());
  assert.match(r.body, /<form\b/i, 'the login page has a form');
  assert.match(r.body, /name\s*=\s*["']?email/i, 'the login page has an email field');
});

test('the email domain picks the connector: 302 to its IdP with PKCE, state, nonce, login_hint', async () => {
  const b = new Browserless();
  const email = 'alice@rs256.example';
  const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  assert.equal(r.status, 302, r.describe());
  const disc = await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json();
  const loc = new URL(r.location);
  assert.equal(`${loc.origin}${loc.pathname}`, disc.authorization_endpoint, r.describe());
  const p = loc.searchParams;
  assert.equal(p.get('client_id'), stack.byId.rs256.clientId);
  assert.equal(p.get('response_type'), 'code');
  assert.equal(p.get('redirect_uri'), `${origin}/auth/callback`);
  const scopes = (p.get('scope') || '').split(' ');
  for (const s of ['openid', 'profile', 'email']) assert.ok(scopes.includes(s), `scope has ${s}: ${p.get('scope')}`);
  assert.equal(p.get('code_challenge_method'), 'S256');
  assert.match(p.get('code_challenge') || '', /^[A-Za-z0-9_-]{43}$/, 'S256 challenge is 43 base64url chars');
  assert.ok((p.get('state') || '').length >= 16, `state is long enough: ${p.get('state')}`);
  assert.ok((p.get('nonce') || '').length >= 16, `nonce is long enough: ${p.get('nonce')}`);
  assert.equal(p.get('login_hint'), email);
  assertLoopbackCookie(r.setCookie(TX_COOKIE), TX_COOKIE);

  // A second attempt uses fresh state, nonce and PKCE.
  const r2 = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(email)}`);
  const p2 = new URL(r2.location).searchParams;
  assert.notEqual(p2.get('state'), p.get('state'));
  assert.notEqual(p2.get('nonce'), p.get('nonce'));
  assert.notEqual(p2.get('code_challenge'), p.get('code_challenge'));
});

test('another domain picks the other connector', async () => {
  const b = new Browserless();
  const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent('bob@es256.example')}`);
  assert.equal(r.status, 302, r.describe());
  assert.equal(new URL(r.location).searchParams.get('client_id'), stack.byId.es256.clientId);
});

test('?connector=ID goes straight to that connector', async () => {
  const b = new Browserless();
  const r = await b.navigate(`${origin}/auth/login?connector=es256`);
  assert.equal(r.status, 302, r.describe());
  assert.equal(new URL(r.location).origin, new URL(stack.idp.issuer).origin);
  assert.equal(new URL(r.location).searchParams.get('client_id'), stack.byId.es256.clientId);
});

test('unknown domain is refused: 403 unknown_domain, no transaction started', async () => {
  const b = new Browserless();
  const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent('alice@unknown.example')}`);
  assertRefusal(r, { status: 403, code: 'unknown_domain' });
  assert.equal(r.setCookie(TX_COOKIE)?.value || '', '', `no transaction cookie\n${r.describe()}`);
  assert.equal(r.headers.get('location'), null);
});

test('malformed email is refused: 400 invalid_email', async () => {
  const b = new Browserless();
  for (const bad of ['not-an-email', '@rs256.example', 'alice@']) {
    const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(bad)}`);
    assertRefusal(r, { status: 400, code: 'invalid_email' });
  }
});

test('addresses that origins and parsers read differently are refused at routing: 400 invalid_email', async () => {
  // Quoted local parts, a second @, comments, backslashes, stray dots, invisible and full-width characters: one
  // string, two possible accounts (the first @ or the last, with or without the quotes). Only plain dot-atoms.
  const b = new Browserless();
  for (const bad of [
    '"boss@rs256.example"@rs256.example',
    '"alice"@rs256.example',
    'boss@es256.example@rs256.example',
    'alice(boss)@rs256.example',
    'al\\ice@rs256.example',
    '.alice@rs256.example',
    'al..ice@rs256.example',
    'alice\uFF20es256.example@rs256.example',
    'al\u200Bice@rs256.example',
    'al\u202Eice@rs256.example',
  ]) {
    const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(bad)}`);
    assertRefusal(r, { status: 400, code: 'invalid_email' });
    assert.equal(r.setCookie(TX_COOKIE), undefined, `no login transaction for ${bad}`);
  }
  // Plain dot-atoms with any atext, and non-ASCII letters, still route (control).
  for (const good of ["o'brien+tag@rs256.example", 'j%C3%BCrgen@rs256.example', 'jürgen@rs256.example']) {
    const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(good)}`);
    assert.equal(r.status, 302, `${good}\n${r.describe()}`);
  }
});

test('unknown connector is refused: 404 unknown_connector', async () => {
  const b = new Browserless();
  const r = await b.navigate(`${origin}/auth/login?connector=nope`);
  assertRefusal(r, { status: 404, code: 'unknown_connector' });
});

test('user routed as alice@rs256.example who signs in at the IdP as mallory@es256.example is refused', async () => {
  const b = new Browserless();
  const { response } = await b.login({ worker: origin, email: 'alice@rs256.example', login: 'mallory@es256.example' });
  assertRefusal(response, { status: 403, code: 'email_domain_mismatch' });
  assertNoSessionSet(response);
  assert.equal(b.getCookie(SESSION_COOKIE, origin), undefined, 'no session cookie in the jar');
  const body = await me(b, origin, 401);
  assert.equal(body.error, 'unauthenticated');
});

test('the same mismatch through ?connector=ID is refused too', async () => {
  const b = new Browserless();
  const { response } = await b.login({ worker: origin, connector: 'rs256', login: 'mallory@es256.example' });
  assertRefusal(response, { status: 403, code: 'email_domain_mismatch' });
  assertNoSessionSet(response);
  await me(b, origin, 401);
});

test('email_verified=false is refused: 403 email_unverified', async () => {
  const b = new Browserless();
  const { response } = await b.login({ worker: origin, email: 'vera@rs256.example' });
  assertRefusal(response, { status: 403, code: 'email_unverified' });
  assertNoSessionSet(response);
  await me(b, origin, 401);
});

test('an ID token without email is refused: 403 email_missing', async () => {
  const b = new Browserless();
  // The dev IdP gives no email claim to a login without "@".
  const { response } = await b.login({ worker: origin, email: 'bob@rs256.example', login: 'bob' });
  assertRefusal(response, { status: 403, code: 'email_missing' });
  assertNoSessionSet(response);
  await me(b, origin, 401);
});
