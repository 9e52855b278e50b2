// The authorization response at /auth/callback: state bound to the browser's transaction cookie, single use,
// the RFC 9207 iss parameter, and IdP error responses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE, TX_COOKIE } from '../../support/assert.mjs';
import { Browserless, startStack } from '../../support/harness.mjs';

let stack;
let origin;
before(async () => {
  stack = await startStack({ algs: ['RS256'] });
  origin = stack.worker.url;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const EMAIL = 'alice@rs256.example';

/** Run a login up to (not including) the worker's callback. */
async function upToCallback(b = new Browserless(), opts = {}) {
  const res = await b.login({ worker: origin, email: EMAIL, stopBeforeCallback: true, ...opts });
  const cb = new URL(res.callbackUrl);
  assert.equal(cb.origin, origin);
  assert.equal(cb.pathname, '/auth/callback');
  assert.ok(cb.searchParams.get('state'), `state in ${cb}`);
  return { b, cb, ...res };
}

test('sanity: the untouched callback signs in', async () => {
  const { b, cb } = await upToCallback();
  assert.ok(cb.searchParams.get('code'), `code in ${cb}`);
  assert.equal(cb.searchParams.get('iss'), stack.idp.issuer, 'oidc-provider sends the RFC 9207 iss parameter');
  const r = await b.navigate(cb.href);
  assert.equal(r.status, 302, r.describe());
  await me(b, origin, 200);
});

test('wrong state is refused: 400 state_mismatch, no session', async () => {
  const { b, cb } = await upToCallback();
  cb.searchParams.set('state', `${cb.searchParams.get('state')}x`);
  const r = await b.navigate(cb.href);
  assertRefusal(r, { status: 400, code: 'state_mismatch' });
  assertNoSessionSet(r);
  await me(b, origin, 401);
});

test('callback without the transaction cookie is refused: 400 login_expired', async () => {
  const { b, cb } = await upToCallback();
  assert.ok(b.getCookie(TX_COOKIE, origin), 'the login set the transaction cookie');
  b.deleteCookie(TX_COOKIE);
  const r = await b.navigate(cb.href);
  assertRefusal(r, { status: 400, code: 'login_expired' });
  assertNoSessionSet(r);
  await me(b, origin, 401);
});

test('callback with a tampered transaction cookie is refused: 400 login_expired', async () => {
  const { b, cb } = await upToCallback();
  b.tamperCookie(TX_COOKIE, (v) => {
    const i = Math.floor(v.length / 2);
    return v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
  });
  const r = await b.navigate(cb.href);
  assertRefusal(r, { status: 400, code: 'login_expired' });
  assertNoSessionSet(r);
  await me(b, origin, 401);
});

test("a callback URL from another browser's login (login CSRF) is refused: state_mismatch", async () => {
  // The attacker completes a login at the IdP as himself and stops before the callback...
  const attacker = await upToCallback(new Browserless(), { login: 'mallory@rs256.example' });
  // ...the victim has a login transaction of her own...
  const victim = new Browserless();
  const start = await victim.navigate(`${origin}/auth/login?email=${encodeURIComponent(EMAIL)}`);
  assert.equal(start.status, 302, start.describe());
  // ...and is made to open the attacker's callback URL.
  const r = await victim.navigate(attacker.cb.href);
  assertRefusal(r, { status: 400, code: 'state_mismatch' });
  assertNoSessionSet(r);
  await me(victim, origin, 401);
});

test('the iss response parameter must be the issuer: 400 issuer_mismatch', async () => {
  const { b, cb } = await upToCallback();
  cb.searchParams.set('iss', 'http://127.0.0.1:1/evil');
  const r = await b.navigate(cb.href);
  assertRefusal(r, { status: 400, code: 'issuer_mismatch' });
  assertNoSessionSet(r);
  await me(b, origin, 401);
});

test('IdP error=access_denied (user aborted at the IdP) is shown as a page: 403 idp_error', async () => {
  const b = new Browserless();
  const mark = stack.logs.mark();
  const { response: r, callbackUrl } = await b.login({ worker: origin, email: EMAIL, abortAt: 'login' });
  assert.equal(new URL(callbackUrl).searchParams.get('error'), 'access_denied');
  assertRefusal(r, { status: 403, code: 'idp_error' });
  assert.match(r.body, /<html|<!doctype/i, r.describe());
  assert.equal(r.headers.get('location'), null, 'a page, not a redirect');
  assertNoSessionSet(r);
  await assertLogged(stack.logs, mark, /idp_error \(the IdP returned error "access_denied"\)/);
  await me(b, origin, 401);
});

test('IdP error at the consent step is an idp_error page too: 403', async () => {
  const b = new Browserless();
  const mark = stack.logs.mark();
  const { response: r } = await b.login({ worker: origin, email: EMAIL, abortAt: 'consent' });
  assertRefusal(r, { status: 403, code: 'idp_error' });
  assertNoSessionSet(r);
  await assertLogged(stack.logs, mark, /idp_error \(the IdP returned error "access_denied"\)/);
  await me(b, origin, 401);
});

test('a forged error response with a wrong state does not pass as the IdP: 400 state_mismatch', async () => {
  // A login is under way (its transaction cookie is in the jar); the forged answer names another state.
  const { b } = await upToCallback();
  const forged = new URL('/auth/callback', origin);
  forged.searchParams.set('error', 'access_denied');
  forged.searchParams.set('state', 'forged-state-value');
  const mark = stack.logs.mark();
  const r = await b.navigate(forged.href);
  assertRefusal(r, { status: 400, code: 'state_mismatch' });
  assertNoSessionSet(r);
  await assertLogged(stack.logs, mark, /state_mismatch/);
  await me(b, origin, 401);
});

test('the callback is single use: replayed with its transaction cookie it is refused (already used), the session stays valid', async () => {
  const { b, cb } = await upToCallback();
  const tx = b.getCookie(TX_COOKIE, origin);
  assert.ok(tx, 'the login set the transaction cookie');
  const first = await b.navigate(cb.href);
  assert.equal(first.status, 302, first.describe());
  const session = b.getCookie(SESSION_COOKIE, origin);
  assert.ok(session);
  assert.equal(b.getCookie(TX_COOKIE, origin), undefined, 'the callback cleared the transaction cookie');
  // A real replay: the same callback URL with the same (still unexpired, validly sealed) transaction cookie.
  b.setCookie(TX_COOKIE, tx, { url: origin });
  const mark = stack.logs.mark();
  const again = await b.navigate(cb.href);
  assertRefusal(again, { status: 400, code: 'login_expired' });
  await assertLogged(stack.logs, mark, /login_expired \(the login transaction was already used/);
  assert.equal(b.getCookie(SESSION_COOKIE, origin), session, 'the existing session cookie is untouched');
  await me(b, origin, 200);
});

test('the callback replayed without the transaction cookie (cleared by the first) is refused: 400 login_expired', async () => {
  const { b, cb } = await upToCallback();
  const first = await b.navigate(cb.href);
  assert.equal(first.status, 302, first.describe());
  const mark = stack.logs.mark();
  const again = await b.navigate(cb.href);
  assertRefusal(again, { status: 400, code: 'login_expired' });
  await assertLogged(stack.logs, mark, /login_expired \(no valid login transaction cookie/);
  await me(b, origin, 200);
});

test('a bare /auth/callback (no transaction, no parameters) is 400 login_expired', async () => {
  const b = new Browserless();
  const mark = stack.logs.mark();
  const r = await b.navigate(`${origin}/auth/callback`);
  assertRefusal(r, { status: 400, code: 'login_expired' });
  assertNoSessionSet(r);
  await assertLogged(stack.logs, mark, /GET \/auth\/callback: login_expired/);
});
