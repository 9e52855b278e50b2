// The site over https, end to end: the worker behind workerd's TLS socket (a certificate made at run time by
// tests/support/tls.mjs, trusted by the test browser only), the real oidc-provider, a complete sign-in. Every
// other e2e run is loopback http, where the contract's cookies are plain `edge-auth-*` without `Secure`; over
// https they must be `__Host-edge-auth-*` with `Secure; HttpOnly; Path=/`, no Domain — and the http-only names
// are not read there (a cookie planted under the plain name, e.g. by a sibling http site or a subdomain, must
// not count).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import {
  Browserless,
  SESSION_COOKIE,
  SESSION_COOKIE_HTTPS,
  startStack,
  TX_COOKIE,
  TX_COOKIE_HTTPS,
} from '../../support/harness.mjs';
import { openCookieUnverified, sealCookie } from '../../support/fake-idp/index.mjs';
import { selfSignedCert } from '../../support/tls.mjs';

const EMAIL = 'alice@rs256.example';

let stack;
let site;
let cert;
before(async () => {
  cert = selfSignedCert({ cn: '127.0.0.1', altNames: ['IP:127.0.0.1', 'DNS:localhost'] });
  stack = await startStack({ algs: ['RS256'], https: cert });
  site = stack.worker.url;
  assert.match(site, /^https:\/\/127\.0\.0\.1:\d+$/, 'the worker listens on https');
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const browser = () => new Browserless({ ca: cert.certPem });

/** The `__Host-` contract: Secure, HttpOnly, Path=/, no Domain (and the given SameSite). */
function assertHostCookie(sc, name, sameSite = 'lax') {
  assert.ok(sc, `no Set-Cookie for ${name}`);
  assert.equal(sc.name, name, sc.raw);
  assert.ok(sc.secure, `${name} must be Secure: ${sc.raw}`);
  assert.ok(sc.httpOnly, `${name} must be HttpOnly: ${sc.raw}`);
  assert.equal(sc.path, '/', `${name} must be Path=/: ${sc.raw}`);
  assert.equal(sc.domain, undefined, `${name} must be host-only: ${sc.raw}`);
  assert.equal(String(sc.sameSite).toLowerCase(), sameSite, sc.raw);
}

/** A complete sign-in over https: the browser, its session cookie value, the login's responses. */
async function signIn(email = EMAIL) {
  const b = browser();
  const res = await b.login({ worker: site, email });
  assert.equal(res.response.status, 302, res.response.describe());
  return { b, res, session: b.getCookie(SESSION_COOKIE_HTTPS, site) };
}

describe('a complete sign-in over https', () => {
  test('the transaction and session cookies are __Host- and Secure; no plain-named cookie is set', async () => {
    const { b, res, session } = await signIn();
    assertHostCookie(res.start.setCookie(TX_COOKIE_HTTPS), TX_COOKIE_HTTPS);
    assert.equal(res.start.setCookie(TX_COOKIE), undefined, `no ${TX_COOKIE} over https\n${res.start.describe()}`);
    const r = res.response;
    assertHostCookie(r.setCookie(SESSION_COOKIE_HTTPS), SESSION_COOKIE_HTTPS);
    assert.equal(r.setCookie(SESSION_COOKIE), undefined, `no ${SESSION_COOKIE} over https\n${r.describe()}`);
    // The callback spends the transaction: its deletion carries the same attributes (or a browser ignores it).
    const txCleared = r.setCookie(TX_COOKIE_HTTPS);
    assertHostCookie(txCleared, TX_COOKIE_HTTPS);
    assert.ok(txCleared.value === '' && txCleared.maxAge === 0, `the transaction cookie is deleted: ${txCleared.raw}`);
    assert.equal(new URL(r.location).origin, site, r.describe());
    assert.ok(session, 'the (browser-like) jar stored the __Host- session cookie');
    assert.equal((await me(b, site, 200)).email, EMAIL);
    const page = await b.get(`${site}/`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200, page.describe());
  });

  test('POST /auth/logout over https deletes the __Host- session cookie (with Secure, or a browser would keep it)', async () => {
    const { b } = await signIn('bob@rs256.example');
    const out = await b.submit(`${site}/auth/logout`, {}, { from: `${site}/` });
    assert.equal(out.status, 302, out.describe());
    const cleared = out.setCookie(SESSION_COOKIE_HTTPS);
    assertHostCookie(cleared, SESSION_COOKIE_HTTPS);
    assert.ok(cleared.value === '' && cleared.maxAge === 0, cleared.raw);
    assert.equal(b.getCookie(SESSION_COOKIE_HTTPS, site), undefined, 'the browser dropped it');
    await me(b, site, 401);
  });
});

describe('over https the http-only cookie names are not read', () => {
  test('a valid session sealed under the plain name edge-auth-session is refused (401); under __Host- it works', async () => {
    const { session } = await signIn('carol@rs256.example');
    const payload = openCookieUnverified(session);
    const key = stack.sessionKeys.split(',')[0];
    // Correctly sealed for the plain name (the name is bound into the MAC): only the name decides here.
    const plain = await sealCookie({ key, purpose: 'session', cookieName: SESSION_COOKIE, payload });
    const hosted = await sealCookie({ key, purpose: 'session', cookieName: SESSION_COOKIE_HTTPS, payload });
    const withCookie = (name, value) => {
      const b = browser();
      b.setCookie(name, value, { url: site });
      return b;
    };
    assert.equal((await me(withCookie(SESSION_COOKIE, plain), site, 401)).error, 'unauthenticated');
    const page = await withCookie(SESSION_COOKIE, plain).get(`${site}/`, { headers: { accept: 'application/json' } });
    assert.equal(page.status, 401, page.describe());
    // Control: the same payload under the __Host- name is a session.
    assert.equal((await me(withCookie(SESSION_COOKIE_HTTPS, hosted), site, 200)).email, 'carol@rs256.example');
  });

  test('a login transaction under the plain name edge-auth-tx is not read at the callback: 400 login_expired', async () => {
    const b = browser();
    const res = await b.login({ worker: site, email: 'dan@rs256.example', stopBeforeCallback: true });
    const tx = b.getCookie(TX_COOKIE_HTTPS, site);
    assert.ok(tx, 'the login set the __Host- transaction cookie');
    const payload = openCookieUnverified(tx);
    const key = stack.sessionKeys.split(',')[0];
    const plain = await sealCookie({ key, purpose: 'login-transaction', cookieName: TX_COOKIE, payload });
    b.deleteCookie(TX_COOKIE_HTTPS);
    b.setCookie(TX_COOKIE, plain, { url: site });
    const mark = stack.logs.mark();
    const r = await b.navigate(res.callbackUrl);
    assertRefusal(r, { status: 400, code: 'login_expired' });
    assertNoSessionSet(r);
    assert.equal(r.setCookie(SESSION_COOKIE_HTTPS), undefined, r.describe());
    assert.ok(await stack.logs.waitFor(/GET \/auth\/callback: login_expired/, mark), stack.logs.since(mark).join('\n'));
    await me(b, site, 401);
  });
});
