// Protection of the site, the session cookie (tampering, keys, rotation), return_to, and logout.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, randomKey, startStack, startWorker } from '../../support/harness.mjs';

let stack;
let origin;
before(async () => {
  stack = await startStack({ algs: ['RS256'] });
  origin = stack.worker.url;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

async function signedIn(email = 'alice@rs256.example', opts = {}) {
  const b = new Browserless();
  const res = await b.login({ worker: origin, email, ...opts });
  assert.equal(res.response.status, 302, `login of ${email}\n${res.response.describe()}`);
  await me(b, origin, 200);
  return { b, ...res };
}

function loginRedirectOf(r) {
  assert.equal(r.status, 302, r.describe());
  const loc = new URL(r.location);
  assert.equal(loc.origin, origin, `redirect stays on the site\n${r.describe()}`);
  assert.equal(loc.pathname, '/auth/login', r.describe());
  // An absent return_to means the default, "/" (the worker omits it for "/").
  return loc.searchParams.get('return_to') ?? '/';
}

describe('without a session', () => {
  test('an HTML navigation to a protected page -> 302 /auth/login?return_to=<path+query>', async () => {
    const b = new Browserless();
    const r = await b.navigate(`${origin}/reports/q3?tab=2`);
    assert.equal(loginRedirectOf(r), '/reports/q3?tab=2');
    const home = await b.navigate(`${origin}/`);
    assert.equal(loginRedirectOf(home), '/');
  });

  test('return_to keeps a percent-encoded path+query (e.g. a space as %20)', async () => {
    const b = new Browserless();
    for (const target of ['/search?q=annual%20report', '/files/annual%20report.html']) {
      const r = await b.navigate(`${origin}${target}`);
      assert.equal(loginRedirectOf(r), target, r.describe());
    }
  });

  test('a GET with Accept: text/html (no Sec-Fetch-Mode) is a navigation too', async () => {
    const b = new Browserless();
    const r = await b.get(`${origin}/index.html`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    assert.ok(loginRedirectOf(r).startsWith('/index.html'), r.describe());
  });

  test('fetch with Accept: application/json -> 401 JSON', async () => {
    const b = new Browserless();
    const r = await b.get(`${origin}/api/data`, { headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' } });
    assert.equal(r.status, 401, r.describe());
    assert.match(r.headers.get('content-type') || '', /application\/json/i, r.describe());
    assert.equal(r.json().error, 'unauthenticated', r.describe());
    assert.equal(r.headers.get('location'), null);
  });

  test('a POST -> 401 JSON (never a redirect)', async () => {
    const b = new Browserless();
    const r = await b.request(`${origin}/api/items`, { method: 'POST', json: { a: 1 }, headers: { origin } });
    assert.equal(r.status, 401, r.describe());
    assert.equal(r.json().error, 'unauthenticated', r.describe());
  });

  test('/auth/me -> 401 JSON', async () => {
    const b = new Browserless();
    const body = await me(b, origin, 401);
    assert.equal(body.error, 'unauthenticated');
  });

  test('/auth/static/* is public', async () => {
    const b = new Browserless();
    const r = await b.get(`${origin}/auth/static/style.css`);
    assert.equal(r.status, 200, r.describe());
    assert.match(r.headers.get('content-type') || '', /text\/css/i, r.describe());
    const sig = await b.navigate(`${origin}/auth/signed-out`);
    assert.equal(sig.status, 200, sig.describe());
  });
});

describe('return_to', () => {
  test('round trip: protected page -> login -> IdP -> callback lands on the original path', async () => {
    const b = new Browserless();
    const target = '/reports/q3?tab=2';
    const first = await b.navigate(`${origin}${target}`);
    const returnTo = loginRedirectOf(first);
    assert.equal(returnTo, target);
    // The login page keeps return_to when the visitor submits the email form (GET /auth/login?email=..&return_to=..).
    const loginUrl = new URL(first.location);
    loginUrl.searchParams.set('email', 'alice@rs256.example');
    const { response } = await b.login({ worker: origin, loginUrl: loginUrl.href });
    assert.equal(response.status, 302, response.describe());
    const landed = new URL(response.location);
    assert.equal(landed.origin, origin, response.describe());
    assert.equal(`${landed.pathname}${landed.search}`, target, response.describe());
    // Admitted: the asset server answers (www/ has no /reports/q3: 404), not edge-auth (no error code, no login).
    const page = await b.navigate(landed.href);
    assert.equal(page.status, 404, page.describe());
    assert.equal(page.errorCode, null, `not an edge-auth refusal\n${page.describe()}`);
    await me(b, origin, 200);
  });

  test('return_to that leaves the site is never followed', async () => {
    const evil = [
      '//evil.example/x',
      '/\\evil.example/x',
      'https://evil.example/x',
      'http:evil.example',
      '/%2F%2Fevil.example',
      '/%5Cevil.example',
      'javascript:alert(1)',
      ' //evil.example',
    ];
    for (const returnTo of evil) {
      const b = new Browserless();
      const start = await b.navigate(
        `${origin}/auth/login?email=${encodeURIComponent('alice@rs256.example')}&return_to=${encodeURIComponent(returnTo)}`,
      );
      // The login must start (a refusal up front would leave nothing below to check).
      assert.equal(start.status, 302, `return_to=${returnTo}: the login starts\n${start.describe()}`);
      assert.notEqual(new URL(start.location).origin, origin, `return_to=${returnTo}: the login goes to the IdP`);
      const { response } = await b.login({ worker: origin, loginUrl: start.url });
      assert.equal(response.status, 302, `return_to=${returnTo}\n${response.describe()}`);
      const raw = response.headers.get('location');
      const landed = new URL(raw, origin);
      assert.equal(landed.origin, origin, `return_to=${JSON.stringify(returnTo)} led to ${raw}`);
      assert.ok(raw.startsWith('/') ? !/^\/[/\\]/.test(raw) : true, `Location ${raw} is not protocol-relative`);
    }
  });
});

describe('session cookie integrity', () => {
  const tampers = {
    'last character flipped': (v) => v.slice(0, -1) + (v.endsWith('A') ? 'B' : 'A'),
    'first character flipped': (v) => (v.startsWith('A') ? 'B' : 'A') + v.slice(1),
    'middle character flipped': (v) => {
      const i = Math.floor(v.length / 2);
      return v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
    },
    truncated: (v) => v.slice(0, Math.floor(v.length / 2)),
    'garbage': () => 'x',
    'empty': () => '',
    'JSON instead of a token': () => encodeURIComponent('{"sub":"admin","email":"admin@rs256.example"}'),
    'second segment dropped': (v) => (v.includes('.') ? v.split('.').slice(0, 1).join('.') : `${v}.`),
  };

  for (const [label, fn] of Object.entries(tampers)) {
    test(`tampered session cookie (${label}) -> navigation redirected to login, /auth/me 401`, async () => {
      const { b } = await signedIn();
      const original = b.getCookie(SESSION_COOKIE, origin);
      assert.ok(original);
      assert.equal(b.tamperCookie(SESSION_COOKIE, fn), 1);
      assert.notEqual(b.getCookie(SESSION_COOKIE, origin), original);

      const nav = await b.navigate(`${origin}/private/page`);
      assert.equal(loginRedirectOf(nav), '/private/page');
      const body = await me(b, origin, 401);
      assert.equal(body.error, 'unauthenticated');
      const api = await b.get(`${origin}/api/x`, { headers: { accept: 'application/json' } });
      assert.equal(api.status, 401, api.describe());

      // The real cookie still works: bad input leaves existing sessions untouched.
      b.tamperCookie(SESSION_COOKIE, () => original);
      await me(b, origin, 200);
    });
  }

  test('a cookie signed with another key is refused; key rotation ("new,old") keeps it valid', async () => {
    const { b } = await signedIn();
    const other = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: randomKey() });
    const rotated = await startWorker({
      config: stack.config,
      secrets: stack.secrets,
      sessionKeys: `${randomKey()},${stack.sessionKeys}`,
    });
    try {
      // Cookies are per host, not per port: the jar sends the session cookie to both workers.
      const foreign = await me(b, other.url, 401);
      assert.equal(foreign.error, 'unauthenticated');
      const kept = await me(b, rotated.url, 200);
      assert.equal(kept.email, 'alice@rs256.example');
    } finally {
      await Promise.allSettled([other.dispose(), rotated.dispose()]);
    }
  });
});

describe('logout', () => {
  test('POST /auth/logout without Origin is refused (403 csrf) and the session survives', async () => {
    const { b } = await signedIn();
    const r = await b.request(`${origin}/auth/logout`, { method: 'POST', navigate: true, form: {}, headers: { origin: null } });
    assertRefusal(r, { status: 403, code: 'csrf' });
    assertNoSessionSet(r);
    await me(b, origin, 200);
  });

  test('POST /auth/logout with a foreign Origin is refused (403 csrf) and the session survives', async () => {
    const { b } = await signedIn();
    for (const foreign of ['http://evil.example', 'null', `http://localhost:${stack.worker.port + 1}`, stack.idp.issuer]) {
      const r = await b.request(`${origin}/auth/logout`, { method: 'POST', navigate: true, form: {}, headers: { origin: foreign } });
      assertRefusal(r, { status: 403, code: 'csrf' });
      assertNoSessionSet(r);
    }
    await me(b, origin, 200);
  });

  test('POST /auth/logout with the site Origin ends the session and goes to the IdP end_session_endpoint', async () => {
    const { b } = await signedIn();
    const r = await b.submit(`${origin}/auth/logout`, {}, { from: `${origin}/` });
    assert.equal(r.status, 302, r.describe());
    const disc = await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json();
    const loc = new URL(r.location);
    assert.equal(`${loc.origin}${loc.pathname}`, disc.end_session_endpoint, r.describe());
    assert.equal(loc.searchParams.get('client_id'), stack.byId.rs256.clientId, r.describe());
    assert.equal(loc.searchParams.get('post_logout_redirect_uri'), `${origin}/auth/signed-out`, r.describe());

    const cleared = r.setCookie(SESSION_COOKIE);
    assert.ok(cleared, `the session cookie is cleared\n${r.describe()}`);
    assert.ok(
      cleared.value === '' || (cleared.maxAge !== undefined && cleared.maxAge <= 0) || (cleared.expires && cleared.expires < new Date()),
      `cleared: ${cleared.raw}`,
    );
    assert.equal(b.getCookie(SESSION_COOKIE, origin), undefined, 'the jar no longer holds a session');
    const body = await me(b, origin, 401);
    assert.equal(body.error, 'unauthenticated');
    const nav = await b.navigate(`${origin}/`);
    assert.equal(loginRedirectOf(nav), '/');

    // The IdP accepts the request (registered post_logout_redirect_uri) and sends the user back to the site.
    const { response: back, chain } = await b.idpLogout(r.location);
    assert.equal(new URL(back.url).origin, origin, chain.map((c) => `${c.status} ${c.url}`).join('\n'));
    assert.equal(new URL(back.url).pathname, '/auth/signed-out');
    assert.equal(back.status, 200, back.describe());
    await me(b, origin, 401);
  });

  // The browser drops its cookie at POST /auth/logout, but a session cookie is stateless: a copy (another tab's
  // jar, a stolen value) would live on unless the sign-out is recorded. No IdP logout is involved here (the
  // visitor never follows the redirect to end_session; no back-channel token arrives), so only the worker's own
  // record can refuse the copy — on this isolate, and on a fresh one that shares the revocation store.
  test('POST /auth/logout records the sign-out: a copy of the old cookie is refused here and on another isolate', async () => {
    // Two isolates of one deployment: the second serves nothing before it is asked about the copy.
    const own = await startStack({ algs: ['RS256'], worker: { isolates: 2 } });
    const other = own.worker.isolates[1];
    try {
      const site = own.worker.url;
      const b = new Browserless();
      const res = await b.login({ worker: site, email: 'alice@rs256.example' });
      assert.equal(res.response.status, 302, res.response.describe());
      const copy = b.getCookie(SESSION_COOKIE, site);
      assert.ok(copy, 'signed in');
      const withCopy = (at) => {
        const c = new Browserless();
        c.setCookie(SESSION_COOKIE, copy, { url: at });
        return c;
      };
      // Control: the copy works before the sign-out.
      assert.equal((await me(withCopy(site), site, 200)).email, 'alice@rs256.example');

      const mark = own.logs.mark();
      const out = await b.submit(`${site}/auth/logout`, {}, { from: `${site}/` });
      assert.equal(out.status, 302, out.describe());
      assert.equal(b.getCookie(SESSION_COOKIE, site), undefined, 'the browser dropped its cookie');
      assert.deepEqual(own.logs.since(mark), [], 'the sign-out was recorded without a warning');

      const here = withCopy(site);
      assert.equal((await me(here, site, 401)).error, 'unauthenticated', 'the copy is refused on the same isolate');
      const page = await here.get(`${site}/`, { headers: { accept: 'application/json' } });
      assert.equal(page.status, 401, `and on the site, not only at /auth/me\n${page.describe()}`);

      const there = withCopy(other.url);
      assert.equal((await me(there, other.url, 401)).error, 'unauthenticated', 'a fresh isolate refuses the copy (the shared log)');
      // Control on the other isolate: a session that was not signed out still works there.
      const bob = new Browserless();
      const bobRes = await bob.login({ worker: site, email: 'bob@rs256.example' });
      assert.equal(bobRes.response.status, 302, bobRes.response.describe());
      const bobCopy = new Browserless();
      bobCopy.setCookie(SESSION_COOKIE, bob.getCookie(SESSION_COOKIE, site), { url: other.url });
      assert.equal((await me(bobCopy, other.url, 200)).email, 'bob@rs256.example');
    } finally {
      await own.close();
    }
  });
});
