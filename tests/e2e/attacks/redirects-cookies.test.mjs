// Redirect and cookie safety, end to end through the real worker in workerd with the hostile test provider:
// every trick to turn return_to into an off-site redirect (checked the way a browser resolves Location), the
// worker's own login redirects for crafted paths, and session / transaction cookies that are tampered, swapped
// for each other, signed with a key that is not in SESSION_KEYS, or expired (forged with a reimplementation
// of src/core/session/codec.rs).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, randomKey, SESSION_COOKIE, TX_COOKIE } from '../../support/harness.mjs';
import { openCookieUnverified, sealCookie } from '../../support/fake-idp/index.mjs';
import { expectAccepted, loginThrough, startHostileStack } from '../../support/stacks.mjs';

// SESSION_KEYS = "K_NEW,K_OLD": K_NEW signs, both verify. K_RETIRED was removed from the list.
const K_NEW = randomKey();
const K_OLD = randomKey();
const K_RETIRED = randomKey();

let stack;
let origin;
before(async () => {
  stack = await startHostileStack({ connectors: [{ id: 'main' }], sessionKeys: `${K_NEW},${K_OLD}` });
  origin = stack.origin;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const EMAIL = 'alice@main.example';
const now = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------------------------------------------------------
// return_to
// ------------------------------------------------------------------------------------------------------------

/** The Location a browser would follow, resolved like a browser (WHATWG URL, relative to the response URL). */
function assertStaysOnSite(r, label) {
  const raw = r.headers.get('location');
  assert.ok(raw !== null, `${label}: a Location\n${r.describe()}`);
  assert.ok(!/[\u0000-\u001f\u007f]/.test(raw), `${label}: no control characters in Location ${JSON.stringify(raw)}`);
  const resolved = new URL(raw, r.url);
  assert.equal(resolved.origin, origin, `${label}: Location ${JSON.stringify(raw)} leads to ${resolved.href}\n${r.describe()}`);
  for (const sc of r.setCookies) {
    assert.ok([SESSION_COOKIE, TX_COOKIE].includes(sc.name), `${label}: unexpected Set-Cookie ${sc.raw} (header injection?)`);
  }
  for (const [name] of r.headers) {
    assert.ok(!/^(x-injected|refresh)$/i.test(name), `${label}: injected header ${name}`);
  }
  return resolved;
}

const evilHost = 'evil.example';
// "{port}" is replaced by the worker's port.
const RETURN_TO_TRICKS = [
  `//${evilHost}`,
  `//${evilHost}/x`,
  `///${evilHost}`,
  `////${evilHost}`,
  `/\\${evilHost}`,
  `\\/${evilHost}`,
  `\\\\${evilHost}`,
  `/\\/${evilHost}`,
  `/\\\\${evilHost}`,
  `https://${evilHost}`,
  `HTTPS://${evilHost}`,
  `http:${evilHost}`,
  `https:/${evilHost}`,
  `https:\\\\${evilHost}`,
  `//${evilHost}@127.0.0.1:{port}`,
  `//127.0.0.1:{port}@${evilHost}`,
  `http://127.0.0.1:{port}@${evilHost}/`,
  `http://127.0.0.1:{port}.${evilHost}/`,
  `javascript:alert(1)`,
  `JaVaScRiPt:alert(1)`,
  ` javascript:alert(1)`,
  `java\tscript:alert(1)`,
  `data:text/html,<script>alert(1)</script>`,
  `vbscript:msgbox(1)`,
  `/%2F%2F${evilHost}`,
  `/%2f%2f${evilHost}`,
  `%2F%2F${evilHost}`,
  `/%2F${evilHost}`,
  `/%5C${evilHost}`,
  `/%5C%5C${evilHost}`,
  `%5C%5C${evilHost}`,
  `/%252F%252F${evilHost}`,
  `/%25252F%25252F${evilHost}`,
  `/%2525252F%2525252F${evilHost}`,
  `/%252525252F%252525252F${evilHost}`,
  `/\t/${evilHost}`,
  `/\n/${evilHost}`,
  `/\r/${evilHost}`,
  `\t//${evilHost}`,
  `/%09/${evilHost}`,
  `/%0a/${evilHost}`,
  `/%0d/${evilHost}`,
  ` //${evilHost}`,
  `/\u0000//${evilHost}`,
  `/%00//${evilHost}`,
  `/%0d%0aLocation:%20https://${evilHost}`,
  `/\r\nLocation: https://${evilHost}`,
  `/%0d%0aSet-Cookie:%20${SESSION_COOKIE}=forged`,
  `/\r\nX-Injected: 1`,
  `\uff0f\uff0f${evilHost}`,
  `/\uff0f${evilHost}`,
  `\u2215\u2215${evilHost}`,
  `//evil\u3002example`,
  `//${evilHost.replace('.', '%2E')}`,
  `/.//${evilHost}`,
  `/..//${evilHost}`,
  `/../\\${evilHost}`,
  `/x/../..//${evilHost}`,
  `?//${evilHost}`,
  `#//${evilHost}`,
  evilHost,
  `.${evilHost}`,
  `@${evilHost}`,
  `:${evilHost}`,
  `/auth/login?return_to=//${evilHost}`,
  `/${'a'.repeat(3000)}`,
  `http://127.0.0.1:{port}/same-origin-absolute`,
];

describe('return_to never leads off the site (complete sign-in; the callback\'s Location resolved like a browser)', () => {
  for (const template of RETURN_TO_TRICKS) {
    const shown = JSON.stringify(template.length > 60 ? `${template.slice(0, 40)}…(${template.length} chars)` : template);
    test(`return_to=${shown}`, async () => {
      const returnTo = template.replaceAll('{port}', String(stack.worker.port));
      const label = `return_to=${JSON.stringify(returnTo)}`;
      const b = new Browserless();
      const loginUrl = `${origin}/auth/login?email=${encodeURIComponent(EMAIL)}&return_to=${encodeURIComponent(returnTo)}`;
      // The login itself must start (a trick refused up front would make every check below vacuous): the worker
      // starts the sign-in for every one of these and keeps the visitor on the site at the end.
      const start = await b.navigate(loginUrl);
      assert.equal(start.status, 302, `${label}: the login starts\n${start.describe()}`);
      assert.notEqual(new URL(start.location).origin, origin, `${label}: the login goes to the provider`);
      const res = await loginThrough(stack, { connector: 'main', b, loginUrl });
      const r = res.response;
      assert.equal(r.status, 302, `${label}: the sign-in itself succeeds\n${r.describe()}`);
      const landed = assertStaysOnSite(r, label);
      await me(b, origin, 200);
      // Following it stays on the site too (the page, or a redirect that is itself on-site).
      const page = await b.navigate(landed.href);
      if (page.isRedirect) assertStaysOnSite(page, `${label} (after landing)`);
    });
  }
});

describe('return_to: other forms', () => {
  test('non-ASCII same-origin paths ("/✓", "/／evil.example") land on the site, not on an error', async () => {
    for (const returnTo of ['/\u2713', `/\uff0f${evilHost}`]) {
      const b = new Browserless();
      const loginUrl = `${origin}/auth/login?email=${encodeURIComponent(EMAIL)}&return_to=${encodeURIComponent(returnTo)}`;
      const res = await loginThrough(stack, { connector: 'main', b, loginUrl });
      const r = res.response;
      const lines = stack.logs.since(res.logMark).join(' | ');
      assert.equal(r.status, 302, `return_to=${JSON.stringify(returnTo)}: the sign-in succeeds\n${r.describe()}\nworker log: ${lines}`);
      assertStaysOnSite(r, returnTo);
      await me(b, origin, 200);
    }
  });

  test('non-ASCII return_to lands exactly where it was meant to, percent-encoded as UTF-8 (not raw bytes in Location)', async () => {
    for (const [returnTo, expected] of [
      ['/café', '/caf%C3%A9'],
      ['/문서/보고서?q=연간#요약', '/%EB%AC%B8%EC%84%9C/%EB%B3%B4%EA%B3%A0%EC%84%9C?q=%EC%97%B0%EA%B0%84#%EC%9A%94%EC%95%BD'],
      ['/caf%C3%A9', '/caf%C3%A9'],
    ]) {
      const b = new Browserless();
      const loginUrl = `${origin}/auth/login?email=${encodeURIComponent(EMAIL)}&return_to=${encodeURIComponent(returnTo)}`;
      const res = await loginThrough(stack, { connector: 'main', b, loginUrl });
      const r = res.response;
      assert.equal(r.status, 302, `${returnTo}: the sign-in succeeds\n${r.describe()}`);
      // The raw header bytes (node decodes header values as latin1: UTF-8 bytes would show up as "Ã©").
      const raw = r.headers.get('location');
      assert.equal(raw, expected, `${returnTo}: Location ${JSON.stringify(raw)}`);
      assert.equal(decodeURIComponent(new URL(raw, origin).pathname), returnTo.split(/[?#]/)[0].includes('%') ? '/café' : returnTo.split(/[?#]/)[0]);
    }
  });

  /** GET a raw request path (no client-side URL normalisation) as a browser navigation. */
  function rawNavigate(rawPath) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: stack.worker.port, path: rawPath, method: 'GET', headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  for (const rawPath of [`//${evilHost}`, `//${evilHost}/x`, `///${evilHost}`, `/\\${evilHost}`, `/%2F%2F${evilHost}`, `/%5C${evilHost}`, `/.//${evilHost}`, `//${evilHost}/..`, `/\\/${evilHost}`, `//${evilHost}?q=1`]) {
    test(`an unauthenticated navigation to ${rawPath} -> the login redirect and its return_to stay on the site`, async () => {
      const r = await rawNavigate(rawPath);
      assert.equal(r.status, 302, `${rawPath}: ${r.status}`);
      const loc = new URL(r.location, `${origin}/`);
      assert.equal(loc.origin, origin, `${rawPath}: Location ${r.location}`);
      assert.equal(loc.pathname, '/auth/login', `${rawPath}: Location ${r.location}`);
      // Complete the sign-in from that login URL: it must land on the site.
      const b = new Browserless();
      loc.searchParams.set('email', EMAIL);
      const res = await loginThrough(stack, { connector: 'main', b, loginUrl: loc.href });
      assert.equal(res.response.status, 302, res.response.describe());
      assertStaysOnSite(res.response, rawPath);
    });
  }
});

// ------------------------------------------------------------------------------------------------------------
// Cookies
// ------------------------------------------------------------------------------------------------------------

async function signedIn() {
  const { b } = await expectAccepted(stack, { connector: 'main' });
  const value = b.getCookie(SESSION_COOKIE, origin);
  assert.ok(value);
  return { b, value, payload: openCookieUnverified(value) };
}

function sessionPayload(overrides = {}) {
  const t = now();
  return { sub: 'sub-forged', email: 'mallory@main.example', name: 'Mallory', cid: 'main', iss: stack.ops.main.issuer, iat: t, exp: t + 600, ...overrides };
}

/** /auth/me and a protected page with exactly this session cookie value. */
async function withSessionCookie(value, name = SESSION_COOKIE) {
  const b = new Browserless();
  b.setCookie(name, value, { url: origin });
  const body = await me(b, origin);
  const page = await b.navigate(`${origin}/private/page`);
  return { b, body, page };
}

async function assertSessionRefused(value, name = SESSION_COOKIE) {
  const { body, page } = await withSessionCookie(value, name);
  assert.equal(body.error, 'unauthenticated', JSON.stringify(body));
  assert.equal(page.status, 302, page.describe());
  assert.equal(new URL(page.location).pathname, '/auth/login', page.describe());
  await expectAccepted(stack, { connector: 'main' }); // nothing poisoned
}

describe('session cookie', () => {
  test('the codec reimplementation reproduces the worker\'s own session cookie exactly (control)', async () => {
    const { value, payload } = await signedIn();
    const resealed = await sealCookie({ key: K_NEW, purpose: 'session', cookieName: SESSION_COOKIE, payload: Buffer.from(value.split('.')[1], 'base64url').toString() });
    assert.equal(resealed, value);
    assert.equal(payload.email, EMAIL);
  });

  test('forged with the signing key (K_NEW): accepted — the forgery machinery works (control)', async () => {
    const value = await sealCookie({ key: K_NEW, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload() });
    const { body } = await withSessionCookie(value);
    assert.equal(body.email, 'mallory@main.example', JSON.stringify(body));
  });

  test('signed with the older key still in SESSION_KEYS (K_OLD): accepted (rotation, control)', async () => {
    const value = await sealCookie({ key: K_OLD, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload() });
    const { body } = await withSessionCookie(value);
    assert.equal(body.email, 'mallory@main.example', JSON.stringify(body));
  });

  test('signed with a key no longer in SESSION_KEYS -> 401, and the real session still works', async () => {
    const { b } = await signedIn();
    await assertSessionRefused(await sealCookie({ key: K_RETIRED, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload() }));
    await me(b, origin, 200);
  });

  test('the real session re-signed with a key no longer in SESSION_KEYS -> 401', async () => {
    const { value } = await signedIn();
    const payload = Buffer.from(value.split('.')[1], 'base64url').toString();
    await assertSessionRefused(await sealCookie({ key: K_RETIRED, purpose: 'session', cookieName: SESSION_COOKIE, payload }));
  });

  test('signed with a random key -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: randomKey(), purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload() }));
  });

  test('signed with the right key for the login-transaction purpose -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_NEW, purpose: 'login-transaction', cookieName: SESSION_COOKIE, payload: sessionPayload() }));
  });

  test('signed with the right key for another cookie name (edge-auth-tx) -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_NEW, purpose: 'session', cookieName: TX_COOKIE, payload: sessionPayload() }));
  });

  test('signed with the right key for the https cookie name (__Host-edge-auth-session), sent on http -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_NEW, purpose: 'session', cookieName: `__Host-${SESSION_COOKIE}`, payload: sessionPayload() }));
  });

  test('expired (exp = now - 1), correctly signed -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_NEW, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload({ exp: now() - 1 }) }));
  });

  test('expired long ago, correctly signed with the old key -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_OLD, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload({ iat: now() - 90000, exp: now() - 3600 }) }));
  });

  test('issued an hour in the future, correctly signed -> 401', async () => {
    await assertSessionRefused(await sealCookie({ key: K_NEW, purpose: 'session', cookieName: SESSION_COOKIE, payload: sessionPayload({ iat: now() + 3600, exp: now() + 7200 }) }));
  });

  test('payload swapped (another user\'s claims) under the real tag -> 401, the real session still works', async () => {
    const { b, value } = await signedIn();
    const [v, , tag] = value.split('.');
    const forgedPayload = Buffer.from(JSON.stringify(sessionPayload({ email: 'admin@main.example' }))).toString('base64url');
    await assertSessionRefused(`${v}.${forgedPayload}.${tag}`);
    await me(b, origin, 200);
  });

  test('version prefix changed (v1 -> v2) -> 401', async () => {
    const { value } = await signedIn();
    await assertSessionRefused(value.replace(/^v1\./, 'v2.'));
  });

  test('tag truncated to 16 bytes -> 401', async () => {
    const { value } = await signedIn();
    const [v, p, tag] = value.split('.');
    await assertSessionRefused(`${v}.${p}.${Buffer.from(tag, 'base64url').subarray(0, 16).toString('base64url')}`);
  });

  test('the transaction cookie presented as the session cookie -> 401', async () => {
    const b = new Browserless();
    const start = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(EMAIL)}`);
    assert.equal(start.status, 302, start.describe());
    const tx = b.getCookie(TX_COOKIE, origin);
    assert.ok(tx);
    await assertSessionRefused(tx);
  });
});

describe('transaction cookie', () => {
  /** Run a login up to the callback, let `edit(tx)` replace the transaction cookie, and send the callback. */
  async function callbackWithTx(edit) {
    const b = new Browserless();
    const res = await loginThrough(stack, { connector: 'main', b, stopBeforeCallback: true });
    const tx = b.getCookie(TX_COOKIE, origin);
    assert.ok(tx);
    const replacement = await edit(tx, openCookieUnverified(tx));
    if (replacement === undefined) b.deleteCookie(TX_COOKIE);
    else b.setCookie(TX_COOKIE, replacement, { url: origin });
    const tokensBefore = stack.ops.main.count('/token');
    const r = await b.navigate(res.callbackUrl);
    return { b, r, redeemed: stack.ops.main.count('/token') - tokensBefore };
  }

  async function assertTxRefused(edit, code = 'login_expired') {
    const { b, r, redeemed } = await callbackWithTx(edit);
    assertRefusal(r, { status: 400, code });
    assertNoSessionSet(r);
    assert.equal(redeemed, 0, 'the code was not redeemed');
    await me(b, origin, 401);
    await expectAccepted(stack, { connector: 'main' });
  }

  const reseal = (key, payload, { purpose = 'login-transaction', cookieName = TX_COOKIE } = {}) =>
    sealCookie({ key, purpose, cookieName, payload });

  test('re-sealed unchanged with the signing key: accepted (control: the forgery machinery works)', async () => {
    const { b, r } = await callbackWithTx((tx, p) => reseal(K_NEW, p));
    assert.equal(r.status, 302, r.describe());
    await me(b, origin, 200);
  });

  test('the worker\'s transaction cookie is reproduced exactly by the codec reimplementation (control)', async () => {
    const { r } = await callbackWithTx(async (tx) => {
      const again = await reseal(K_NEW, Buffer.from(tx.split('.')[1], 'base64url').toString());
      assert.equal(again, tx);
      return tx;
    });
    assert.equal(r.status, 302, r.describe());
  });

  test('signed with a key no longer in SESSION_KEYS -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => reseal(K_RETIRED, p));
  });

  test('signed with a random key -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => reseal(randomKey(), p));
  });

  test('expired (e = now - 1), correctly signed -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => reseal(K_NEW, { ...p, e: now() - 1 }));
  });

  test('sealed with the session purpose -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => reseal(K_NEW, p, { purpose: 'session' }));
  });

  test('sealed for the session cookie name -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => reseal(K_NEW, p, { cookieName: SESSION_COOKIE }));
  });

  test('one character flipped -> 400 login_expired', async () => {
    await assertTxRefused((tx) => {
      const i = Math.floor(tx.length / 2);
      return tx.slice(0, i) + (tx[i] === 'A' ? 'B' : 'A') + tx.slice(i + 1);
    });
  });

  test('payload edited (return_to -> //evil.example) under the real tag -> 400 login_expired', async () => {
    await assertTxRefused((tx, p) => {
      const [v, , tag] = tx.split('.');
      return `${v}.${Buffer.from(JSON.stringify({ ...p, r: `//${evilHost}` })).toString('base64url')}.${tag}`;
    });
  });

  test('a session cookie presented as the transaction cookie -> 400 login_expired', async () => {
    const { value } = await signedIn();
    await assertTxRefused(() => value);
  });

  test('a transaction cookie of another login (another state) -> 400 state_mismatch', async () => {
    const other = new Browserless();
    const start = await other.navigate(`${origin}/auth/login?email=${encodeURIComponent(EMAIL)}`);
    assert.equal(start.status, 302, start.describe());
    const otherTx = other.getCookie(TX_COOKIE, origin);
    await assertTxRefused(() => otherTx, 'state_mismatch');
  });
});
