// Complete sign-ins against the real worker (Miniflare/workerd) and the real oidc-provider, one connector per
// ID-token signing algorithm, plus a client_secret_post connector.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLoopbackCookie, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, startStack } from '../../support/harness.mjs';

const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

let stack;
before(async () => {
  stack = await startStack({
    algs: ALGS,
    extraConnectors: [{ id: 'post', alg: 'RS256', authMethod: 'client_secret_post' }],
  });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

async function signIn(connector, local = 'alice.smith') {
  const origin = stack.worker.url;
  const email = `${local}@${connector.domain}`;
  const b = new Browserless();
  const res = await b.login({ worker: origin, email });
  return { b, email, origin, ...res };
}

async function checkCompleteLogin(connector) {
  const { b, email, origin, response, authorizeUrl, idpPrompts } = await signIn(connector);
  assert.deepEqual(idpPrompts, ['login', 'consent'], 'the IdP asked for login and consent');
  const authz = new URL(authorizeUrl);
  assert.equal(authz.searchParams.get('client_id'), connector.clientId);

  assert.equal(response.status, 302, `callback\n${response.describe()}`);
  const loc = new URL(response.location);
  assert.equal(loc.origin, origin, `callback redirects within the site\n${response.describe()}`);
  assert.equal(loc.pathname, '/', `default return_to is "/"\n${response.describe()}`);
  assertLoopbackCookie(response.setCookie(SESSION_COOKIE), SESSION_COOKIE);
  assert.ok(b.getCookie(SESSION_COOKIE, origin), 'the jar holds the session cookie');

  const session = await me(b, origin, 200);
  assert.equal(session.email, email);
  assert.equal(session.sub, `${connector.id}:${email}`, 'sub is the user id connector:sub (the IdP login here)');
  assert.equal(session.name, 'Alice Smith');
  assert.equal(session.connector, connector.id);
  assert.equal(session.iss, stack.idp.issuer);
  const now = Math.floor(Date.now() / 1000);
  assert.equal(typeof session.exp, 'number', `exp is a number: ${JSON.stringify(session)}`);
  assert.ok(session.exp > now + 60, `exp in the future: ${session.exp}`);
  assert.ok(session.exp <= now + 8 * 3600 + 120, `default lifetime at most 8 h: ${session.exp}`);

  // The session opens the protected site.
  const home = await b.navigate(`${origin}/`);
  assert.equal(home.status, 200, `GET / with a session\n${home.describe()}`);
  assert.match(home.headers.get('content-type') || '', /text\/html/i);
  return { b, origin };
}

describe('complete login per ID-token signing algorithm', () => {
  for (const alg of ALGS) {
    test(`${alg}: login -> callback -> /auth/me 200 with the email`, async () => {
      await checkCompleteLogin(stack.byId[alg.toLowerCase()]);
    });
  }
});

test('client_secret_post connector: complete login', async () => {
  await checkCompleteLogin(stack.byId.post);
});

test('the ID tokens were really signed with each alg (IdP discovery advertises them)', async () => {
  const disc = await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json();
  for (const alg of ALGS) assert.ok(disc.id_token_signing_alg_values_supported.includes(alg), alg);
  const jwks = await (await fetch(disc.jwks_uri)).json();
  assert.deepEqual(jwks.keys.map((k) => k.kty).sort(), ['EC', 'OKP', 'RSA']);
});

test('a second login in the same browser reuses the IdP session (no prompts) and yields a session', async () => {
  const { b, origin } = await checkCompleteLogin(stack.byId.rs256);
  b.deleteCookie(SESSION_COOKIE);
  await me(b, origin, 401);
  const again = await b.login({ worker: origin, email: 'alice.smith@rs256.example' });
  assert.deepEqual(again.idpPrompts, [], 'no login/consent prompt the second time');
  assert.equal(again.response.status, 302, again.response.describe());
  const session = await me(b, origin, 200);
  assert.equal(session.email, 'alice.smith@rs256.example');
});

test('login through ?connector=ID signs in a user of that connector', async () => {
  const origin = stack.worker.url;
  const b = new Browserless();
  const { response } = await b.login({ worker: origin, connector: 'es256', login: 'carol@es256.example' });
  assert.equal(response.status, 302, response.describe());
  const session = await me(b, origin, 200);
  assert.equal(session.email, 'carol@es256.example');
  assert.equal(session.connector, 'es256');
});

/** The directives of a Content-Security-Policy header: { name: value }. */
function cspDirectives(header) {
  const out = {};
  for (const part of String(header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = values.join(' ');
  }
  return out;
}

describe('the visitor pages speak the visitor\'s language (Accept-Language)', () => {
  const cases = [
    ['ko-KR,ko;q=0.9,en-US;q=0.8', 'ko', '회사 이메일'],
    ['en-US,en;q=0.9', 'en', 'Work email'],
    ['fr-FR, de;q=0.5', 'en', 'Work email'],
    ['', 'en', 'Work email'],
  ];
  for (const [acceptLanguage, lang, text] of cases) {
    test(`Accept-Language "${acceptLanguage}" -> ${lang}`, async () => {
      const r = await new Browserless().navigate(`${stack.worker.url}/auth/login`, { headers: { 'accept-language': acceptLanguage } });
      assert.equal(r.status, 200, r.describe());
      assert.match(r.body, new RegExp(`<html lang="${lang}">`), r.describe());
      assert.ok(r.body.includes(text), r.describe());
      assert.equal(r.headers.get('content-language'), lang, r.describe());
      assert.match(r.headers.get('vary') || '', /accept-language/i, `a shared cache keeps one answer per language\n${r.describe()}`);
      assert.match(r.headers.get('cache-control') || '', /no-store/, r.describe());
    });
  }
  test('a refusal page in Korean keeps its machine-readable code', async () => {
    const r = await new Browserless().navigate(`${stack.worker.url}/auth/login?email=x%40nowhere.example`, { headers: { 'accept-language': 'ko' } });
    assert.equal(r.status, 403, r.describe());
    assert.equal(r.metaErrorCode, 'unknown_domain', r.describe());
    assert.ok(r.body.includes('nowhere.example에 대한 로그인이 이 사이트에 설정되어 있지 않습니다'), r.describe());
  });
});

describe('the pages edge-auth serves cannot be framed (clickjacking)', () => {
  // The login page first (where a visitor types an address): CSP frame-ancestors 'none'. Then every other page of
  // the worker's own (sign-out, the logout confirmation, error pages rendered or served from www/).
  const pages = [
    ['the login page', '/auth/login', 200],
    ['the signed-out page', '/auth/signed-out', 200],
    ['the logout confirmation', '/auth/logout', 200],
    ['an error page (invalid_email)', '/auth/login?email=not-an-address', 400],
    ['an error page (unknown_domain)', '/auth/login?email=x%40nowhere.example', 403],
    ['an error page (login_expired)', '/auth/callback?code=x&state=y', 400],
    // edge-auth's own files (the asset server answers; the worker adds the headers).
    ['the login script at its static URL', '/auth/static/login.js', 200],
    ['the stylesheet at its static URL', '/auth/static/style.css', 200],
  ];
  for (const [label, target, status] of pages) {
    test(`${label}: Content-Security-Policy frame-ancestors 'none'`, async () => {
      const r = await new Browserless().navigate(`${stack.worker.url}${target}`);
      assert.equal(r.status, status, r.describe());
      const csp = cspDirectives(r.headers.get('content-security-policy'));
      assert.equal(csp['frame-ancestors'], "'none'", `frame-ancestors\n${r.describe()}`);
      assert.equal(csp['default-src'], "'none'", `default-src\n${r.describe()}`);
    });
  }
  test('the login page is the rendered form, with its script allowed from self only', async () => {
    const r = await new Browserless().navigate(`${stack.worker.url}/auth/login`);
    assert.match(r.body, /<form\b/i, r.describe());
    assert.match(r.body, /<script src="\/auth\/static\/login.js" defer><\/script>/, r.describe());
    const csp = cspDirectives(r.headers.get('content-security-policy'));
    assert.equal(csp['script-src'], "'self'", r.describe());
    assert.equal(csp['base-uri'], "'none'", r.describe());
  });
});
