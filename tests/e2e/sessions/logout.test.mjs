// Single sign-out, end to end through the real worker in workerd against the real, OpenID-certified npm
// oidc-provider with Back-Channel Logout 1.0 enabled (dev/idp.mjs startIdp features.backchannelLogout; the
// client registers backchannel_logout_uri = WORKER/auth/logout/backchannel with
// backchannel_logout_session_required, so ID tokens carry `sid`):
//  - RP-initiated logout (our POST /auth/logout -> the IdP's end_session -> confirm): the IdP posts a logout
//    token to the worker, and the session cookie the browser had stops working (cookies are stateless: a copy
//    kept by anyone would otherwise still be valid);
//  - signing out at the IdP itself ends the edge session too;
//  - front-channel logout (GET /auth/logout/frontchannel?iss&sid; oidc-provider 9 has no front-channel
//    feature, so the test plays the IdP's iframe);
//  - forged back-channel logout tokens are refused (400) and end nothing;
//  - the revocation reaches the deployment's other isolates through the shared revocation log (the
//    RevocationLog Durable Object): a fresh isolate from its first request, a running one within the documented
//    bound (REFRESH_SECONDS, measured);
//  - front-channel logout as IdPs send it: Microsoft Entra's `?sid=` alone (against the Entra-shaped provider of
//    tests/support/fake-idp/shapes.mjs), and a cross-site GET with a made-up sid that must not sign the
//    visitor out;
//  - the flood bounds of that unauthenticated GET: the per-connector rate limit (429 after the burst) and the
//    log's count limits (503 and an operator log line, with legitimate sessions unaffected); thousands of
//    bogus writes straight to the log (as from many isolates) neither hide nor evict a genuine revocation, and
//    the log stays within its bounds;
//  - a session whose sid could not be kept (longer than 255 bytes) is refused at sign-in, not issued
//    without it.
// Revocations live in the log and in each isolate's memory; an isolate asks the log for what is new every 10 s
// in the background and the isolate that receives the logout applies it at once (one Miniflare worker = one
// isolate; `isolates: N` runs N copies of the worker in one workerd, sharing the Durable Objects).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';

import { assertLogged, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, randomKey, ROOT, startStack, startWorker, WorkerLog } from '../../support/harness.mjs';
import { b64u, guidFrom, openCookieUnverified, startEntraOp } from '../../support/fake-idp/index.mjs';
import { expectRefusedSignIn, expectSignedIn, startShapeStack } from '../../support/stacks.mjs';

/** The bounds of src/core/session/revocation_state.rs (RATE_BURST, REFRESH_SECONDS). */
const RATE_BURST = 20;
const REFRESH_SECONDS = 10;
/** The log's bounds (src/js/revocation_log.mjs `limits`): entries per connector, the front-channel's share. */
const MAX_PER_CONNECTOR = 10_000;
const MAX_UNAUTHENTICATED_PER_CONNECTOR = 5_000;

/** The built worker with test routes to its revocation log (tests/support/revocation-log-probe.mjs). */
const PROBE = {
  scriptPath: path.join(ROOT, 'tests', 'support', 'revocation-log-probe.mjs'),
  miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }] },
};

/**
 * Write `n` made-up sid revocations straight to the log of the worker at `at` (as many isolates would), in
 * requests of at most 500 writes (one request making ten thousand RPC calls failed on a loaded CI machine);
 * returns how many got each answer.
 */
async function flood(at, { n, connector = 'corp', unauthenticated = false, iss = issuer }) {
  const answers = {};
  for (let done = 0; done < n; done += 500) {
    const q = new URLSearchParams({ n: String(Math.min(500, n - done)), connector, iss, ...(unauthenticated ? { unauthenticated: '1' } : {}) });
    const r = await fetch(`${at}/__test/revocation-log/flood?${q}`, { method: 'POST' });
    assert.equal(r.status, 200, await r.clone().text());
    for (const [answer, count] of Object.entries((await r.json()).answers)) answers[answer] = (answers[answer] ?? 0) + count;
  }
  return answers;
}

/** The log's own counts. */
async function logStats(at) {
  const r = await fetch(`${at}/__test/revocation-log/stats`);
  assert.equal(r.status, 200);
  return r.json();
}

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

let stack;
let origin;
let issuer;
let clientId;
const backchannel = []; // oidc-provider's own report of each logout token it posted: { ok, sid, error }

before(async () => {
  stack = await startStack({
    algs: [],
    extraConnectors: [
      {
        id: 'corp',
        domains: ['corp.example'],
        client: (workerOrigin) => ({
          backchannel_logout_uri: `${workerOrigin}/auth/logout/backchannel`,
          backchannel_logout_session_required: true,
        }),
      },
    ],
    idp: { features: { backchannelLogout: { enabled: true } } },
    // Isolates of one deployment (their own memory, the same Durable Objects): [1] the cross-isolate jti replay
    // and the measured propagation bound, [2] and [3] fresh isolates (they serve nothing before their test).
    worker: { isolates: 4, ...PROBE },
  });
  origin = stack.worker.url;
  issuer = stack.idp.issuer;
  clientId = stack.byId.corp.clientId;
  stack.idp.provider.on('backchannel.success', (_ctx, _client, _sub, sid) => backchannel.push({ ok: true, sid }));
  stack.idp.provider.on('backchannel.error', (_ctx, err, _client, _sub, sid) => backchannel.push({ ok: false, sid, error: String(err?.message || err) }));
}, { timeout: 60_000 });

after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/** Sign in through the real IdP; returns the browser, the session cookie value and its (signed, readable) payload. */
async function signIn(email) {
  const b = new Browserless();
  const { response } = await b.login({ worker: origin, email });
  assert.equal(response.status, 302, response.describe());
  const cookie = b.getCookie(SESSION_COOKIE, origin);
  assert.ok(cookie?.startsWith('v1.'), `a signed session cookie: ${cookie}`);
  const payload = openCookieUnverified(cookie);
  assert.equal(payload.email, email);
  assert.ok(typeof payload.sid === 'string' && payload.sid.length > 0, `the session keeps the IdP's sid: ${JSON.stringify(payload)}`);
  return { b, cookie, payload, sid: payload.sid };
}

/** /auth/me with exactly this session cookie (as anyone holding a copy of it would send it). */
async function meWith(cookie, at = origin, status) {
  const b = new Browserless();
  b.setCookie(SESSION_COOKIE, cookie, { url: at });
  return me(b, at, status);
}

/** A protected API request with this cookie: the status (200 from www/, 401 without a valid session). */
async function protectedStatus(cookie, at = origin) {
  const b = new Browserless();
  b.setCookie(SESSION_COOKIE, cookie, { url: at });
  const r = await b.get(`${at}/`, { headers: { accept: 'application/json' } });
  return r.status;
}

/** A logout token signed with the IdP's own RSA key (valid unless `claims`/`opts` edit it); undefined claims are left out. */
async function idpLogoutToken(claims = {}, { header = {}, key, alg = 'RS256' } = {}) {
  const rsa = stack.idp.jwks.keys.find((k) => k.kty === 'RSA');
  const t = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, aud: clientId, iat: t, exp: t + 120, jti: randomUUID(), events: { [EVENT]: {} }, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg, kid: rsa.kid, typ: 'logout+jwt', ...header })
    .sign(key ?? (await jose.importJWK(rsa, 'RS256')));
}

function postLogoutToken(token, at = origin) {
  return fetch(`${at}/auth/logout/backchannel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: token === undefined ? '' : new URLSearchParams({ logout_token: token }).toString(),
  });
}

describe('back-channel logout from the real oidc-provider', () => {
  test('RP-initiated logout: POST /auth/logout -> IdP end_session -> confirm -> logout token -> the old cookie is dead', async () => {
    const alice = await signIn('alice@corp.example');
    const bob = await signIn('bob@corp.example');
    const mark = backchannel.length;

    const r = await alice.b.submit(`${origin}/auth/logout`, {}, { from: `${origin}/` });
    assert.equal(r.status, 302, r.describe());
    assert.equal(new URL(r.location).origin, issuer, `continues at the IdP\n${r.describe()}`);
    const { response: back, chain } = await alice.b.idpLogout(r.location);
    const hops = chain.map((c) => `${c.method} ${c.status} ${c.url}`).join('\n');
    assert.equal(new URL(back.url).origin, origin, hops);
    assert.equal(new URL(back.url).pathname, '/auth/signed-out', hops);

    const sent = backchannel.slice(mark);
    assert.deepEqual(sent, [{ ok: true, sid: alice.sid }], `the IdP posted one logout token and the worker answered 200: ${JSON.stringify(sent)}`);

    // The browser dropped its cookie at POST /auth/logout; a copy of it must not work either.
    const body = await meWith(alice.cookie, origin, 401);
    assert.equal(body.error, 'unauthenticated');
    assert.equal(await protectedStatus(alice.cookie), 401);
    // Only that session ended.
    assert.equal((await meWith(bob.cookie, origin, 200)).email, 'bob@corp.example');
    assert.equal(await protectedStatus(bob.cookie), 200);
  });

  test('signing out at the IdP itself (its end_session page) ends the edge session', async () => {
    const carol = await signIn('carol@corp.example');
    const mark = backchannel.length;
    const { response, chain } = await carol.b.idpLogout(`${issuer}/session/end`);
    assert.equal(response.status, 200, chain.map((c) => `${c.method} ${c.status} ${c.url}`).join('\n'));
    assert.equal(new URL(response.url).origin, issuer, 'the IdP shows its own signed-out page');
    assert.deepEqual(backchannel.slice(mark), [{ ok: true, sid: carol.sid }]);
    // The browser still holds the edge cookie (the worker was never visited), and it no longer works.
    assert.equal(carol.b.getCookie(SESSION_COOKIE, origin), carol.cookie);
    await me(carol.b, origin, 401);
    const nav = await carol.b.navigate(`${origin}/reports`);
    assert.equal(nav.status, 302, nav.describe());
    assert.equal(new URL(nav.location).pathname, '/auth/login', nav.describe());
  });
});

describe('front-channel logout', () => {
  test('GET /auth/logout/frontchannel?iss&sid ends that session (200, frameable), and only that one', async () => {
    const dave = await signIn('dave@corp.example');
    const erin = await signIn('erin@corp.example');
    const u = new URL('/auth/logout/frontchannel', origin);
    u.searchParams.set('iss', issuer);
    u.searchParams.set('sid', dave.sid);
    const r = await dave.b.get(u.href, { headers: { 'sec-fetch-dest': 'iframe', 'sec-fetch-site': 'cross-site' } });
    assert.equal(r.status, 200, r.describe());
    assert.doesNotMatch(r.headers.get('content-security-policy') || '', /frame-ancestors\s+'none'/, `the IdP loads it in an iframe\n${r.describe()}`);
    assert.notEqual((r.headers.get('x-frame-options') || '').toUpperCase(), 'DENY', r.describe());
    await meWith(dave.cookie, origin, 401);
    await me(dave.b, origin, 401);
    await meWith(erin.cookie, origin, 200);
  });

  test('an unknown iss, or a missing iss or sid -> 400, and nothing ends', async () => {
    const frank = await signIn('frank@corp.example');
    const cases = [
      { iss: 'http://127.0.0.1:1/', sid: frank.sid },
      { iss: `${issuer}/`, sid: frank.sid },
      { iss: 'https://evil.example', sid: frank.sid },
      { sid: frank.sid },
      { iss: issuer },
      { iss: issuer, sid: '' },
      { iss: issuer, sid: 'x'.repeat(300) },
    ];
    for (const params of cases) {
      const u = new URL('/auth/logout/frontchannel', origin);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      const r = await new Browserless().get(u.href);
      assert.equal(r.status, 400, `${JSON.stringify(params).slice(0, 120)}\n${r.describe()}`);
    }
    await meWith(frank.cookie, origin, 200);
  });
});

describe('forged back-channel logout tokens', () => {
  let victim;
  before(async () => {
    victim = await signIn('grace@corp.example');
  });

  const now = () => Math.floor(Date.now() / 1000);
  /** A logout token for the victim's session, signed with the IdP's key unless `opts.key`. */
  const logoutToken = (claims = {}, opts = {}) => idpLogoutToken({ sid: victim.sid, ...claims }, opts);

  test('each forgery gets 400 and the session survives', async () => {
    const other = await jose.generateKeyPair('RS256');
    const unsigned = (payload) => `${b64u(JSON.stringify({ alg: 'none', typ: 'logout+jwt' }))}.${b64u(JSON.stringify(payload))}.`;
    const forgeries = {
      'no logout_token': undefined,
      'not a JWT': 'not-a-jwt',
      'signed with another key (the IdP key id)': await logoutToken({}, { key: other.privateKey }),
      'signed with another key (an unknown key id)': await logoutToken({}, { key: other.privateKey, header: { kid: 'attacker-key' } }),
      'alg none': unsigned({ iss: issuer, aud: clientId, iat: now(), jti: randomUUID(), events: { [EVENT]: {} }, sid: victim.sid }),
      'HS256 with the client secret': await logoutToken({}, { alg: 'HS256', key: new TextEncoder().encode(stack.byId.corp.clientSecret) }),
      'wrong aud': await logoutToken({ aud: 'someone-else' }),
      'wrong iss (not a connector)': await logoutToken({ iss: 'https://evil.example' }),
      'with a nonce (an ID token, not a logout token)': await logoutToken({ nonce: 'n-0S6_WzA2Mj' }),
      'without events': await logoutToken({ events: undefined }),
      'events without the back-channel member': await logoutToken({ events: { 'http://schemas.openid.net/event/other': {} } }),
      'events member not an object': await logoutToken({ events: { [EVENT]: 'yes' } }),
      'expired iat (20 minutes old)': await logoutToken({ iat: now() - 1200, exp: undefined }),
      'iat in the future': await logoutToken({ iat: now() + 3600, exp: now() + 7200 }),
      'exp passed': await logoutToken({ iat: now() - 200, exp: now() - 100 }),
      'no jti': await logoutToken({ jti: undefined }),
      'neither sid nor sub': await logoutToken({ sid: undefined }),
      'typ of another token kind (at+jwt)': await logoutToken({}, { header: { typ: 'at+jwt' } }),
    };
    for (const [name, token] of Object.entries(forgeries)) {
      const r = await postLogoutToken(token);
      const text = await r.text();
      assert.equal(r.status, 400, `${name}: ${r.status} ${text}`);
      assert.equal((await meWith(victim.cookie, origin)).email, 'grace@corp.example', `${name}: the session must survive`);
    }
    assert.equal(await protectedStatus(victim.cookie), 200);
    const wrongMethod = await fetch(`${origin}/auth/logout/backchannel`);
    assert.equal(wrongMethod.status, 405);
  });

  test('a valid token ends the session once; its jti replayed for another session is refused', async () => {
    const bystander = await signIn('heidi@corp.example');
    const jti = randomUUID();
    const first = await postLogoutToken(await logoutToken({ jti }));
    assert.equal(first.status, 200, await first.text());
    assert.match(first.headers.get('cache-control') || '', /no-store/, 'Back-Channel Logout 1.0 §2.8: no-store');
    await meWith(victim.cookie, origin, 401);
    const replay = await postLogoutToken(await logoutToken({ jti, sid: bystander.sid }));
    assert.equal(replay.status, 400, await replay.text());
    await meWith(bystander.cookie, origin, 200);
  });

  // Issue 13: the jti was spent in one isolate's memory only; another isolate of the deployment accepted the
  // same token again. It is now claimed in the ReplayGuard Durable Object once the revocation is recorded.
  test('a logout token replayed on another isolate of the deployment is refused (400, replayed jti)', async () => {
    const other = stack.worker.isolates[1];
    assert.ok(other && other.url !== origin, 'the stack runs a second isolate');
    const olga = await signIn('olga@corp.example');
    const bystander = await signIn('pia@corp.example');
    const token = await idpLogoutToken({ sid: olga.sid });
    const first = await postLogoutToken(token);
    assert.equal(first.status, 200, await first.text());
    await meWith(olga.cookie, origin, 401);
    // The same token, as whoever saw it would replay it, sent to the other isolate (which never saw its jti).
    const mark = stack.logs.mark();
    const replay = await postLogoutToken(token, other.url);
    assert.equal(replay.status, 400, await replay.text());
    await assertLogged(stack.logs, mark, /back-channel logout refused: replayed jti/);
    await meWith(bystander.cookie, other.url, 200);
    // A fresh jti is accepted on the other isolate (control).
    const fresh = await postLogoutToken(await idpLogoutToken({ sid: bystander.sid }), other.url);
    assert.equal(fresh.status, 200, await fresh.text());
    await meWith(bystander.cookie, other.url, 401);
  });

  test('a token with only sub ends every session of that user issued before it', async () => {
    const one = await signIn('ivan@corp.example');
    const two = await signIn('ivan@corp.example');
    const judy = await signIn('judy@corp.example');
    assert.notEqual(one.sid, two.sid);
    const r = await postLogoutToken(await logoutToken({ sid: undefined, sub: one.payload.sub }));
    assert.equal(r.status, 200, await r.text());
    await meWith(one.cookie, origin, 401);
    await meWith(two.cookie, origin, 401);
    await meWith(judy.cookie, origin, 200);
  });
});

describe('the revocation log is shared by every isolate', () => {
  test('a fresh isolate refuses sessions the IdP ended, from its first request', async () => {
    const fresh = stack.worker.isolates[2].url;
    const kim = await signIn('kim@corp.example');
    const r = await postLogoutToken(await idpLogoutToken({ sid: kim.sid }));
    assert.equal(r.status, 200, await r.text());
    const lou = await signIn('lou@corp.example');
    // A protected request first: a fresh isolate reads the log before admitting anyone.
    assert.equal(await protectedStatus(kim.cookie, fresh), 401, 'protected content');
    assert.equal(await protectedStatus(lou.cookie, fresh), 200, 'an unrelated session');
    await meWith(kim.cookie, fresh, 401);
  });

  // Regression (fixed in src/platform/mod.rs `handle`): only requests outside /auth/ used to load the revocation
  // list into a fresh isolate; /auth/me read the empty in-memory list.
  test('/auth/me as the very first request of a fresh isolate also knows the revocation', async () => {
    const fresh = stack.worker.isolates[3].url;
    const mia = await signIn('mia@corp.example');
    const u = new URL('/auth/logout/frontchannel', origin);
    u.searchParams.set('iss', issuer);
    u.searchParams.set('sid', mia.sid);
    assert.equal((await new Browserless().get(u.href)).status, 200);
    await meWith(mia.cookie, fresh, 401);
  });

  test(`a revocation written on one isolate is enforced by a running one within ${REFRESH_SECONDS} s (measured)`, { timeout: 60_000 }, async (t) => {
    const running = stack.worker.isolates[1].url;
    const ned = await signIn('ned@corp.example');
    // The running isolate has just asked the log for what is new (a request makes it do so when it is due): the
    // logout below lands at the start of its interval, the worst case.
    await meWith(ned.cookie, running, 200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await meWith(ned.cookie, running, 200);
    const r = await postLogoutToken(await idpLogoutToken({ sid: ned.sid }));
    assert.equal(r.status, 200, await r.text());
    const start = Date.now();
    let elapsed;
    for (;;) {
      const status = await protectedStatus(ned.cookie, running);
      elapsed = Date.now() - start;
      if (status === 401) break;
      assert.ok(elapsed < (REFRESH_SECONDS + 5) * 1000, `still signed in on the other isolate after ${elapsed} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.diagnostic(`revocation enforced on another running isolate after ${elapsed} ms (bound: ${REFRESH_SECONDS} s + the log call)`);
    assert.ok(elapsed <= (REFRESH_SECONDS + 2) * 1000, `${elapsed} ms`);
  });
});

/** GET the front-channel logout URL with `params`, as the IdP's iframe in the browser `b` would. */
function frontChannel(b, at, params) {
  const u = new URL('/auth/logout/frontchannel', at);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return b.get(u.href, { headers: { 'sec-fetch-dest': 'iframe', 'sec-fetch-site': 'cross-site' } });
}

/** Whether the response deletes the session cookie. */
function clearsSession(r) {
  const sc = r.setCookie(SESSION_COOKIE);
  return !!sc && (sc.value === '' || (sc.maxAge !== undefined && sc.maxAge <= 0));
}

describe('front-channel logout cannot sign a visitor out with a made-up sid', () => {
  test('a cross-site GET naming another session (or none) leaves the visitor signed in; naming theirs signs them out', async () => {
    const visitor = await signIn('nina@corp.example');
    const other = await signIn('otto@corp.example');
    for (const params of [{ iss: issuer, sid: 'made-up-by-an-attacker' }, { iss: issuer, sid: other.sid }]) {
      const r = await frontChannel(visitor.b, origin, params);
      assert.equal(r.status, 200, r.describe());
      assert.ok(!clearsSession(r), `the visitor's cookie must not be cleared for ${JSON.stringify(params)}\n${r.describe()}`);
      assert.equal((await me(visitor.b, origin, 200)).email, 'nina@corp.example');
    }
    await meWith(other.cookie, origin, 401);
    const r = await frontChannel(visitor.b, origin, { iss: issuer, sid: visitor.sid });
    assert.ok(clearsSession(r), r.describe());
    await meWith(visitor.cookie, origin, 401);
  });
});

describe('front-channel logout from Microsoft Entra (?sid= alone)', () => {
  const CONTOSO = guidFrom('tenant:contoso');
  const TENANTS = [{ id: CONTOSO, name: 'Contoso', domains: ['contoso.example'] }];
  let entraStack;
  let entra;
  before(async () => {
    entraStack = await startShapeStack(async ({ redirectUri }) => {
      const client = { client_id: guidFrom('app:logout'), client_secret: `entra-secret-${randomKey(18)}`, redirect_uris: [redirectUri] };
      entra = await startEntraOp({ clients: [client], tenants: TENANTS });
      return {
        ops: { entra },
        secrets: { ENTRA_CLIENT_SECRET: client.client_secret },
        connectors: [
          { id: 'contoso', kind: 'entra', tenant: CONTOSO, authority: entra.url, client_id: client.client_id, client_secret_binding: 'ENTRA_CLIENT_SECRET', domains: ['contoso.example'] },
        ],
      };
    });
  }, { timeout: 60_000 });
  after(() => entraStack?.close(), { timeout: 30_000 });

  async function entraSignIn(email) {
    const res = await expectSignedIn(entraStack, { email });
    const cookie = res.b.getCookie(SESSION_COOKIE, entraStack.origin);
    const payload = openCookieUnverified(cookie);
    assert.match(payload.sid || '', /^[0-9a-f-]{36}$/, `the session keeps Entra's sid: ${JSON.stringify(payload)}`);
    return { ...res, cookie, sid: payload.sid };
  }

  test("Entra's ?sid= without iss ends that Entra session (and only it); a made-up sid signs nobody out", async () => {
    const ada = await entraSignIn('ada@contoso.example');
    const ben = await entraSignIn('ben@contoso.example');
    const forged = await frontChannel(ada.b, entraStack.origin, { sid: guidFrom('made-up') });
    assert.equal(forged.status, 200, forged.describe());
    assert.ok(!clearsSession(forged), forged.describe());
    await me(ada.b, entraStack.origin, 200);

    const r = await frontChannel(ada.b, entraStack.origin, { sid: ada.sid });
    assert.equal(r.status, 200, `on main: 400 "iss and sid are required", and the Entra user stayed signed in\n${r.describe()}`);
    assert.ok(clearsSession(r), r.describe());
    await meWith(ada.cookie, entraStack.origin, 401);
    await meWith(ben.cookie, entraStack.origin, 200);
  });

  test('a sid longer than a session keeps (300 bytes) refuses the sign-in instead of issuing a session no logout reaches', async () => {
    await expectRefusedSignIn(entraStack, {
      email: 'cy@contoso.example',
      op: entra,
      spec: { claims: { sid: 'x'.repeat(300) } },
      code: 'id_token_invalid',
      status: 400,
      reason: /sid claim .*300 bytes/,
    });
  });
});

describe('flood bounds on the revocation log', () => {
  /** A worker with the stack's configuration and session keys, its own revocation log, and its log lines captured. */
  async function worker() {
    const logs = new WorkerLog();
    const w = await startWorker({
      config: stack.config,
      secrets: stack.secrets,
      sessionKeys: stack.sessionKeys,
      miniflare: { handleStructuredLogs: (entry) => logs.push(entry) },
    });
    return { w, logs };
  }

  test(`front-channel logouts beyond the burst (${RATE_BURST}) get 429, and legitimate sessions keep working`, async () => {
    const pat = await signIn('pat@corp.example');
    const quinn = await signIn('quinn@corp.example');
    const { w, logs } = await worker();
    try {
      // All at once (the bucket refills 2 per second: a slow machine may see a few more accepted).
      const responses = await Promise.all(
        Array.from({ length: RATE_BURST + 10 }, (_, i) => frontChannel(new Browserless(), w.url, { iss: issuer, sid: `flood-${i}-${randomUUID()}` })),
      );
      const statuses = responses.map((r) => r.status);
      const accepted = statuses.filter((x) => x === 200).length;
      const limited = responses.filter((r) => r.status === 429);
      assert.ok(accepted >= RATE_BURST && accepted <= RATE_BURST + 4, `on main every one is written: ${statuses.join(' ')}`);
      assert.equal(accepted + limited.length, statuses.length, statuses.join(' '));
      assert.ok(limited.every((r) => r.headers.get('retry-after') === '1'), limited[0]?.describe());
      assert.ok(await logs.waitFor(/front-channel logout refused: .*"corp".*rate limit/), logs.since(0).join('\n'));
      await meWith(pat.cookie, w.url, 200);
      await meWith(quinn.cookie, w.url, 200);
      // The signed back-channel is not rate-limited: the IdP's logout still ends the session.
      const r = await postLogoutToken(await idpLogoutToken({ sid: quinn.sid }), w.url);
      assert.equal(r.status, 200, await r.text());
      await meWith(quinn.cookie, w.url, 401);
    } finally {
      await w.dispose();
    }
  });

  test(`at ${MAX_PER_CONNECTOR} revocations for a connector, new ones are refused (503, operator log), legitimate sessions keep working`, { timeout: 120_000 }, async () => {
    const rita = await signIn('rita@corp.example');
    const sam = await signIn('sam@corp.example');
    const w = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, ...PROBE });
    try {
      // A flood has filled the connector's room in the log (from many isolates), sam's logout among it.
      const answers = await flood(w.url, { n: MAX_PER_CONNECTOR - 1 });
      assert.deepEqual(answers, { written: MAX_PER_CONNECTOR - 1 });
      const back = await postLogoutToken(await idpLogoutToken({ sid: sam.sid }), w.url);
      assert.equal(back.status, 200, await back.text());
      assert.deepEqual(await flood(w.url, { n: 5 }), { [`connector_full:${MAX_PER_CONNECTOR}:${MAX_PER_CONNECTOR}`]: 5 });
      await meWith(sam.cookie, w.url, 401);
      await meWith(rita.cookie, w.url, 200);
      const front = await frontChannel(new Browserless(), w.url, { iss: issuer, sid: rita.sid });
      assert.equal(front.status, 503, front.describe());
      assert.match(await front.text(), /temporarily_unavailable/);
      const refused = await postLogoutToken(await idpLogoutToken({ sid: rita.sid }), w.url);
      assert.equal(refused.status, 503, await refused.text());
      for (const channel of ['front-channel', 'back-channel']) {
        const line = await w.logs.waitFor(new RegExp(`${channel} logout refused: connector "corp" has ${MAX_PER_CONNECTOR} revocations stored, its limit is ${MAX_PER_CONNECTOR}`));
        assert.ok(line, `${channel}\n${w.logs.since(0).join('\n')}`);
      }
      // Refused, not accepted and forgotten: the IdP was told, and nothing changed here.
      await meWith(rita.cookie, w.url, 200);
      assert.equal((await logStats(w.url)).rows, MAX_PER_CONNECTOR);
    } finally {
      await w.dispose();
    }
  });
});

describe('a flood of bogus writes neither hides nor evicts a genuine revocation (issue 13)', () => {
  test(`${MAX_UNAUTHENTICATED_PER_CONNECTOR * 3} made-up front-channel logouts: the log keeps ${MAX_UNAUTHENTICATED_PER_CONNECTOR}, the signed back-channel keeps its room, every isolate enforces the genuine one`, { timeout: 120_000 }, async () => {
    const vic = await signIn('vic@corp.example');
    const bystander = await signIn('bea@corp.example');
    const w = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, isolates: 2, ...PROBE });
    try {
      // Anonymous front-channel logouts with made-up sids, from many isolates (each under its own rate limit).
      const answers = await flood(w.url, { n: MAX_UNAUTHENTICATED_PER_CONNECTOR * 3, unauthenticated: true });
      assert.deepEqual(answers, {
        written: MAX_UNAUTHENTICATED_PER_CONNECTOR,
        [`connector_full:${MAX_UNAUTHENTICATED_PER_CONNECTOR}:${MAX_UNAUTHENTICATED_PER_CONNECTOR}`]: MAX_UNAUTHENTICATED_PER_CONNECTOR * 2,
      });
      // Through the worker too: refused at the log's bound.
      const front = await frontChannel(new Browserless(), w.url, { iss: issuer, sid: 'one-more-made-up' });
      assert.equal(front.status, 503, `the flood stops here\n${front.describe()}`);
      // The IdP's signed logout is recorded...
      const back = await postLogoutToken(await idpLogoutToken({ sid: vic.sid }), w.url);
      assert.equal(back.status, 200, `the signed channel keeps its room: ${await back.text()}`);
      await meWith(vic.cookie, w.url, 401);
      // ...and the other isolate, which reads the whole log from its first request, enforces it among the flood.
      const other = w.isolates[1].url;
      assert.equal(await protectedStatus(vic.cookie, other), 401);
      assert.equal(await protectedStatus(bystander.cookie, other), 200, 'the flood ended nobody');
      // More flooding after it changes nothing: nothing is evicted to make room.
      await flood(w.url, { n: 1000, unauthenticated: true });
      assert.equal(await protectedStatus(vic.cookie, other), 401);
      const stats = await logStats(w.url);
      assert.equal(stats.rows, MAX_UNAUTHENTICATED_PER_CONNECTOR + 1, JSON.stringify(stats));
      assert.equal(stats.unauthenticated, MAX_UNAUTHENTICATED_PER_CONNECTOR);
    } finally {
      await w.dispose();
    }
  });
});

describe('reading the log', () => {
  test('concurrent first requests of a fresh isolate wait for one single read of the log', async () => {
    const wes = await signIn('wes@corp.example');
    const xena = await signIn('xena@corp.example');
    const w = await startWorker({ config: stack.config, secrets: { ...stack.secrets, TEST_LOG_SINCE: '1' }, sessionKeys: stack.sessionKeys, isolates: 2, ...PROBE });
    try {
      // 2,500 entries (3 pages), wes's logout among them, written through the first isolate.
      await flood(w.url, { n: 2_500 });
      assert.equal((await postLogoutToken(await idpLogoutToken({ sid: wes.sid }), w.url)).status, 200);
      const fresh = w.isolates[1].url;
      const mark = w.logs.mark();
      const statuses = await Promise.all(Array.from({ length: 24 }, (_, i) => protectedStatus(i % 2 ? wes.cookie : xena.cookie, fresh)));
      assert.deepEqual(statuses, Array.from({ length: 24 }, (_, i) => (i % 2 ? 401 : 200)), w.logs.since(mark).join('\n'));
      const reads = w.logs.since(mark).filter((l) => l.startsWith('revocation-log: since'));
      assert.deepEqual(reads, ['revocation-log: since 0', 'revocation-log: since 1000', 'revocation-log: since 2000'], `one read of 3 pages, not one per request\n${reads.join('\n')}`);
      // Later, only what is new is asked for.
      await new Promise((resolve) => setTimeout(resolve, REFRESH_SECONDS * 1000 + 200));
      const later = w.logs.mark();
      await protectedStatus(xena.cookie, fresh);
      assert.ok(await w.logs.waitFor(/revocation-log: since 2501/, later), w.logs.since(later).join('\n'));
    } finally {
      await w.dispose();
    }
  });

  test('a fresh isolate whose log cannot be read refuses sessions (fail closed) instead of using an empty list', async () => {
    const vic = await signIn('vic2@corp.example');
    const w = await startWorker({ config: stack.config, secrets: { ...stack.secrets, TEST_LOG_SINCE_FAILS: '1' }, sessionKeys: stack.sessionKeys, ...PROBE });
    try {
      await meWith(vic.cookie, w.url, 401);
      assert.equal(await protectedStatus(vic.cookie, w.url), 401);
      assert.ok(await w.logs.waitFor(/revocation log could not be read: .*cannot be read \(test double\).*fail closed/), w.logs.since(0).join('\n'));
    } finally {
      await w.dispose();
    }
  });

  test('without the REVOCATION_LOG binding every session is refused, with a log line naming it', async () => {
    const vic = await signIn('vic3@corp.example');
    const w = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, revocationLog: false });
    try {
      await meWith(vic.cookie, w.url, 401);
      assert.ok(await w.logs.waitFor(/no Durable Object binding REVOCATION_LOG \(wrangler\.toml\).*fail closed/), w.logs.since(0).join('\n'));
    } finally {
      await w.dispose();
    }
  });
});
