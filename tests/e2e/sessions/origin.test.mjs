// Origin mode and access policies, end to end: the worker in workerd in front of a test origin
// (tests/support/test-origin.mjs) that verifies X-Edge-Auth-Assertion with npm jose against the worker's
// GET /auth/jwks.json, as a real backend would; sign-in through the real oidc-provider, whose accounts carry a
// `groups` claim (dev/idp.mjs startIdp claims option). The assertion signing key comes from
// scripts/generate-assertion-key.mjs.
//  - identity: X-Auth-Request-Email/User/Groups, X-Edge-Auth-Connector/Issuer and the assertion (iss = the
//    site the request came to, also for a reused assertion, aud = the origin) for signed-in requests, values percent-encoded; client-sent headers of every
//    identity family auth proxies use (any spelling, `_` for `-`) never reach the origin, with or without a
//    session, on protected and public paths; the edge-auth cookies never reach it either; other cookies and
//    headers do;
//  - two connectors on one IdP: a group grant admits only the connector it names; the same `sub` from two
//    connectors is two users (`connector:sub`) in /auth/me and at the origin;
//  - policies: public paths, email rules, group rules; the forbidden answer (403 page naming the signed-in
//    account for navigations, 403 JSON otherwise), and the origin is not reached.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { SESSION_COOKIE, me, signedInBrowsers } from '../../support/assert.mjs';
import { Browserless } from '../../support/harness.mjs';
import { startOriginStack } from '../../support/test-origin.mjs';

let stack;
let site; // the worker's origin
let backend; // the test origin
const ACCOUNTS = {
  'boss@corp.example': { groups: ['g-exec'] },
  'member@corp.example': { groups: ['g-team', 'g-unmentioned'] },
  'other@corp.example': { groups: ['g-unmentioned'] },
  // partner: another connector on the same IdP whose users carry the same group names
  'mallory@partner.example': { groups: ['g-team', 'g-exec'] },
  // an IdP asserting an address whose local part hides another address
  'quoted@corp.example': { email: '"boss@corp.example"@corp.example' },
  'twoat@corp.example': { email: 'boss@corp.example@corp.example' },
};
const POLICIES = [
  { path: '/public/*', public: true },
  { path: '/admin/*', emails: ['boss@corp.example'] },
  { path: '/team/*', groups: ['corp:g-team'] },
  { path: '/partner-team/*', groups: ['partner:g-team'] },
];
// The IdP's sub is the login name: the login `shared-7` signs in through both connectors, with the email of the
// connector being tested (set before each sign-in; the IdP reads it when it issues the token).
let sharedEmail;
const accountFor = (login) => (login === 'shared-7' ? { email: sharedEmail } : ACCOUNTS[login] || {});
const SPOOFED = {
  'x-auth-request-email': 'boss@corp.example',
  'x-auth-request-user': 'corp:boss@corp.example',
  'X-Auth-Request-Groups': 'corp:g-team',
  'x-edge-auth-assertion': 'eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImJvc3NAY29ycC5leGFtcGxlIn0.',
  'X-Edge-Auth-Connector': 'corp',
  'X-Edge-Auth-Issuer': 'https://idp.spoofed.example',
  'X-Edge-Auth-Anything': 'spoofed',
  'x-forwarded-user': 'boss@corp.example',
  'X-Forwarded-Email': 'boss@corp.example',
};
const SPOOFED_NAMES = Object.keys(SPOOFED).map((h) => h.toLowerCase());
/** The headers the worker sets itself: they may arrive, but only with the worker's values (checked by the origin). */
const OURS = ['x-auth-request-email', 'x-auth-request-user', 'x-auth-request-groups', 'x-edge-auth-assertion', 'x-edge-auth-connector', 'x-edge-auth-issuer'];
/** One header of every identity family auth proxies hand to origins (see README, Origin mode), in the spellings
 *  clients can send: `_` for `-` too (CGI/Apache/nginx/PHP/WSGI map both to one variable), and `.`, `+`, `~`
 *  (lighttpd maps every character but a letter or digit to `_`). */
const FAMILY_HEADERS = [
  // ours, oauth2-proxy, Keycloak Gatekeeper
  'X-Auth-Request-Preferred-Username', 'X-Auth-Request-Access-Token', 'X-Auth-Email', 'X-Auth-Userid', 'X-Auth-Roles',
  'X-Edge-Auth-Other', 'x_auth_request_email', 'x_edge_auth_assertion',
  'X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', 'X-Forwarded-Access-Token',
  'x_forwarded_user', 'X-Forwarded-Client-Cert', 'X-Forwarded-Tls-Client-Cert', 'x_forwarded_host', 'x_forwarded_proto',
  'GAP-Auth', 'GAP-Signature',
  // Authelia, Apache REMOTE_USER, Kubernetes
  'Remote-User', 'Remote-Email', 'Remote-Groups', 'Remote-Name', 'remote_user', 'X-Remote-User', 'X-Remote-Group', 'X-Remote-Extra-Scopes', 'x_remote_user',
  // Pomerium, Cloudflare Access, Grafana
  'X-Pomerium-Jwt-Assertion', 'X-Pomerium-Claim-Email', 'Cf-Access-Authenticated-User-Email', 'Cf-Access-Jwt-Assertion',
  'X-WEBAUTH-USER', 'x_webauth_user',
  // Google IAP, AWS ALB, Azure App Service
  'X-Goog-Authenticated-User-Email', 'X-Goog-Authenticated-User-Id', 'X-Goog-Iap-Jwt-Assertion', 'X-Amzn-Oidc-Data',
  'X-Amzn-Oidc-Identity', 'X-Amzn-Oidc-Accesstoken', 'X-MS-CLIENT-PRINCIPAL', 'X-MS-CLIENT-PRINCIPAL-NAME',
  'X-MS-CLIENT-PRINCIPAL-ID', 'X-MS-TOKEN-AAD-ID-TOKEN', 'X-ARR-ClientCert',
  // authentik, Vouch, X-Authenticated-*, Kong
  'X-authentik-username', 'X-authentik-groups', 'X-Vouch-User', 'X-Authenticated-User', 'X-Authenticated-Groups',
  'X-Authenticated-Userid', 'X-Consumer-Username', 'X-Credential-Identifier', 'X-Anonymous-Consumer',
  // mod_auth_openidc, Shibboleth, Tailscale, ngrok, Teleport, caddy-security, client certificates
  'OIDC_CLAIM_email', 'OIDC_access_token', 'Shib-Identity-Provider', 'Tailscale-User-Login', 'ngrok-auth-user-email',
  'Teleport-Jwt-Assertion', 'X-Token-User-Email', 'X-SSL-Client-Cert', 'SSL_CLIENT_S_DN', 'X-Client-Cert', 'X-Client-Verify',
  // request-target overrides (a path other than the one the policy decided on) and RFC 7239
  'X-Original-URL', 'X-Original-URI', 'X-Rewrite-URL', 'X-Envoy-Original-Path', 'x_original_url', 'Forwarded',
  // client addresses a proxy would vouch for
  'X-Real-IP', 'X-Client-IP', 'X-Cluster-Client-IP', 'True-Client-IP',
  // the ad-hoc family
  'X-User', 'X-User-Id', 'X-Username', 'X-User-Email', 'X-Email', 'X-Groups', 'X-Roles', 'X-Preferred-Username',
  // lighttpd's CGI/FastCGI/SCGI variable names read every character but a letter or digit as `_`
  'Remote.User', 'X+Forwarded+User', 'X-Auth-Request~Email', 'X.WebAuth.User',
  // API gateways' OIDC/JWT plugins (APISIX, kong-oidc, Envoy/Istio, WSO2, Google Cloud Endpoints / API Gateway)
  'X-Userinfo', 'X-ID-Token', 'x-jwt-payload', 'X-JWT-Assertion', 'X-Endpoint-API-UserInfo', 'X-Apigateway-Api-Userinfo',
];
const MARK = 'spoofed-by-the-client';

before(async () => {
  ({ stack, backend, site } = await startOriginStack({
    extraConnectors: [
      { id: 'corp', domains: ['corp.example'], connector: { scopes: ['groups'] } },
      { id: 'partner', domains: ['partner.example'], connector: { scopes: ['groups'] } },
    ],
    idp: { claims: { groups: ['groups'] } },
    accounts: accountFor,
    policies: POLICIES,
  }));
}, { timeout: 60_000 });

after(async () => {
  await Promise.allSettled([stack?.close(), backend?.close()]);
}, { timeout: 30_000 });

const browserOf = signedInBrowsers(() => site);

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
    if (OURS.includes(name)) {
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
    assert.equal(seen.headers['x-auth-request-user'], 'corp:member@corp.example', 'the user id is connector:sub');
    assert.equal(seen.headers['x-auth-request-groups'], 'corp:g-team', 'only groups some policy grants to this connector');
    assert.equal(seen.headers['x-edge-auth-connector'], 'corp');
    assert.equal(seen.headers['x-edge-auth-issuer'], stack.idp.issuer);
    const a = seen.identity.assertion;
    assert.equal(a.iss, site);
    assert.equal(a.aud, backend.origin);
    assert.equal(a.sub, 'corp:member@corp.example');
    assert.equal(a.email, 'member@corp.example');
    assert.equal(a.connector, 'corp');
    assert.equal(a.idp, stack.idp.issuer);
    assert.deepEqual(a.groups, ['corp:g-team'], 'only groups some policy grants, qualified by the connector');
    assert.ok(a.exp - a.iat <= 60 && a.exp > a.iat, `short-lived: ${JSON.stringify(a)}`);
    assert.equal(seen.identity.header.alg, 'ES256');
    assert.equal(seen.headers['x-request-id'], 'req-42');
    assert.equal(seen.headers['accept-language'], 'de-CH');
  });

  // Review of issue 12: signed assertions are reused per session, but each names the site the request came to
  // (`iss`); kept per session only, the one signed for one hostname of the worker went to the origin for requests
  // to another. The second hostname is the same worker reached with another Host (no DNS needed).
  test('an assertion names the hostname the request came to, also when the same session was just used at another', async () => {
    const b = await browserOf('member@corp.example');
    const otherHost = `localhost:${new URL(site).port}`;
    const claimsOf = (seen) => JSON.parse(Buffer.from(seen.headers['x-edge-auth-assertion'].split('.')[1], 'base64url').toString('utf8'));
    const first = await through(b, '/app/two-hosts');
    assert.ok(first.seen, first.r.describe());
    assert.equal(claimsOf(first.seen).iss, site);
    const second = await through(b, '/app/two-hosts', { headers: { host: otherHost } });
    assert.ok(second.seen, second.r.describe());
    assert.equal(second.seen.headers['x-forwarded-host'], 'localhost', 'the request reached the worker as the other hostname');
    assert.equal(claimsOf(second.seen).iss, `http://${otherHost}`, 'not the assertion signed for the first hostname');
    const third = await through(b, '/app/two-hosts');
    assert.equal(claimsOf(third.seen).iss, site);
    assert.equal(third.seen.assertionError, undefined, third.seen.assertionError);
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
    assert.equal(seen.headers['x-auth-request-user'], 'corp:other@corp.example', ctx);
    assert.equal(seen.headers['x-auth-request-groups'], undefined, `no groups, no groups header\n${ctx}`);
    assert.equal(seen.headers['x-edge-auth-connector'], 'corp', ctx);
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

describe('every identity-header family', () => {
  const spoofAll = () => Object.fromEntries(FAMILY_HEADERS.map((h) => [h, MARK]));

  function assertNoneArrived(seen, sent) {
    const ctx = JSON.stringify(seen.rawHeaders, null, 1);
    for (const [name, value] of seen.rawHeaders) {
      assert.notEqual(value, MARK, `the client's ${name} reached the origin\n${ctx}`);
    }
    for (const name of sent) {
      const lower = name.toLowerCase();
      if (OURS.includes(lower) || lower === 'x-forwarded-host' || lower === 'x-forwarded-proto') continue;
      assert.ok(!seen.rawHeaderNames.includes(lower), `${name} must not reach the origin\n${ctx}`);
    }
  }

  test('signed in, protected path: no client-sent identity header of any family or spelling arrives', async () => {
    const b = await browserOf('member@corp.example');
    const { r, seen } = await through(b, '/app/families', { headers: { ...spoofAll(), 'x-custom-header': 'kept' } });
    assert.equal(r.status, 200, r.describe());
    assert.equal(seen.assertionError, undefined, seen.assertionError);
    assertNoneArrived(seen, FAMILY_HEADERS);
    assert.equal(seen.headers['x-custom-header'], 'kept', 'other headers still arrive');
    assert.equal(seen.identity.user, 'corp:member@corp.example');
  });

  test('without a session, public path: none arrives either', async () => {
    const { r, seen } = await through(new Browserless(), '/public/families', { headers: spoofAll() });
    assert.equal(r.status, 200, r.describe());
    assert.equal(seen.identity, null);
    assertNoneArrived(seen, FAMILY_HEADERS);
  });
});

describe('identity across connectors (two connectors on one IdP)', () => {
  test('a group grant admits only the connector it names, whatever group names the other IdP asserts', async () => {
    const mallory = await browserOf('mallory@partner.example');
    // partner asserts g-team and g-exec for mallory: corp's g-team grant is not partner's g-team.
    const denied = await through(mallory, '/team/board');
    assert.equal(denied.r.status, 403, denied.r.describe());
    assert.equal(denied.seen, undefined, 'the origin is not reached');
    const mine = await through(mallory, '/partner-team/board');
    assert.equal(mine.r.status, 200, mine.r.describe());
    assert.equal(mine.seen.headers['x-auth-request-groups'], 'partner:g-team');
    assert.deepEqual(mine.seen.identity.assertion.groups, ['partner:g-team']);
    assert.equal(mine.seen.headers['x-edge-auth-connector'], 'partner');
    // And the other way round: corp's g-team members are not partner's.
    const member = await browserOf('member@corp.example');
    assert.equal((await through(member, '/partner-team/board')).r.status, 403);
    assert.equal((await through(member, '/team/board')).r.status, 200);
  });

  test('the same sub from two connectors is two users in /auth/me and at the origin', async () => {
    const signIn = async (email) => {
      sharedEmail = email;
      const b = new Browserless();
      const { response } = await b.login({ worker: site, email, login: 'shared-7' });
      assert.equal(response.status, 302, response.describe());
      return b;
    };
    const a = await signIn('same@corp.example');
    const b = await signIn('same@partner.example');
    const meA = await me(a, site, 200);
    const meB = await me(b, site, 200);
    assert.equal(meA.sub, 'corp:shared-7', JSON.stringify(meA));
    assert.equal(meB.sub, 'partner:shared-7', JSON.stringify(meB));
    assert.equal(meA.connector, 'corp');
    assert.equal(meB.connector, 'partner');
    const seenA = (await through(a, '/app/whoami')).seen;
    const seenB = (await through(b, '/app/whoami')).seen;
    assert.equal(seenA.assertionError, undefined, seenA.assertionError);
    assert.equal(seenB.assertionError, undefined, seenB.assertionError);
    assert.equal(seenA.headers['x-auth-request-user'], 'corp:shared-7');
    assert.equal(seenB.headers['x-auth-request-user'], 'partner:shared-7');
    assert.equal(seenA.identity.assertion.sub, 'corp:shared-7');
    assert.equal(seenB.identity.assertion.sub, 'partner:shared-7');
    assert.equal(seenA.headers['x-edge-auth-connector'], 'corp');
    assert.equal(seenB.headers['x-edge-auth-connector'], 'partner');
  });
});

describe('identity values are unambiguous', () => {
  test('a ü and a literal %C3%BC arrive as two different, percent-encoded values', async () => {
    const u = await browserOf('jürgen@corp.example');
    const literal = await browserOf('j%C3%BCrgen@corp.example');
    const seenU = (await through(u, '/app/who')).seen;
    const seenL = (await through(literal, '/app/who')).seen;
    assert.equal(seenU.headers['x-auth-request-email'], 'j%C3%BCrgen@corp.example');
    assert.equal(seenL.headers['x-auth-request-email'], 'j%25C3%25BCrgen@corp.example');
    assert.equal(seenU.headers['x-auth-request-user'], 'corp:j%C3%BCrgen@corp.example');
    assert.equal(seenL.headers['x-auth-request-user'], 'corp:j%25C3%25BCrgen@corp.example');
    // The origin's decoding gives back exactly what the IdP asserted.
    assert.equal(seenU.identity.email, 'jürgen@corp.example', seenU.assertionError);
    assert.equal(seenL.identity.email, 'j%C3%BCrgen@corp.example', seenL.assertionError);
  });

  test('an IdP asserting an address with a quoted local part or a second @ gets no session', async () => {
    for (const login of ['quoted@corp.example', 'twoat@corp.example']) {
      const b = new Browserless();
      const { response } = await b.login({ worker: site, email: login });
      assert.equal(response.status, 400, response.describe());
      assert.equal(response.errorCode, 'id_token_invalid', response.describe());
      await me(b, site, 401);
    }
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
