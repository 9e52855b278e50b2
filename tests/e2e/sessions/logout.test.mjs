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
//  - the revocation reaches a fresh worker through the shared KV store (REVOCATIONS, persisted on disk here);
//  - front-channel logout as IdPs send it: Microsoft Entra's `?sid=` alone (against the Entra-shaped provider of
//    tests/support/fake-idp/shapes.mjs), and a cross-site GET with a made-up sid that must not sign the
//    visitor out;
//  - the flood bounds of that unauthenticated GET: the per-connector rate limit (429 after the burst) and the
//    per-connector count limit (503 and an operator log line, with legitimate sessions unaffected);
//  - a session whose sid could not be kept (longer than 255 bytes) is refused at sign-in, not issued
//    without it.
// Revocations live in KV and in each isolate's memory; an isolate reloads them every 10 s in the background and
// the isolate that receives the logout applies it at once (one Miniflare worker = one isolate: immediate).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';

import { assertLogged, me, SESSION_COOKIE } from '../../support/assert.mjs';
import {
  ASSETS_DIR,
  Browserless,
  COMPATIBILITY_DATE,
  randomKey,
  startStack,
  startWorker,
  WORKER_SCRIPT,
  WorkerLog,
} from '../../support/harness.mjs';
import { b64u, guidFrom, openCookieUnverified, startEntraOp } from '../../support/fake-idp/index.mjs';
import { expectRefusedSignIn, expectSignedIn, startShapeStack } from '../../support/stacks.mjs';

/** The bounds of src/core/session/revocation_state.rs (RATE_BURST, MAX_REVOCATIONS_PER_CONNECTOR). */
const RATE_BURST = 20;
const MAX_REVOCATIONS_PER_CONNECTOR = 10_000;
/** MAX_UNAUTHENTICATED_PER_CONNECTOR: the front-channel's share of a connector's room. */
const MAX_UNAUTHENTICATED_PER_CONNECTOR = 5_000;

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

let stack;
let origin;
let issuer;
let clientId;
let kvDir;
const backchannel = []; // oidc-provider's own report of each logout token it posted: { ok, sid, error }

before(async () => {
  kvDir = mkdtempSync(path.join(os.tmpdir(), 'edge-auth-kv-'));
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
    // two isolates of one deployment (their own memory, the same Durable Objects): the cross-isolate jti replay
    worker: { kvPersist: kvDir, isolates: 2 },
  });
  origin = stack.worker.url;
  issuer = stack.idp.issuer;
  clientId = stack.byId.corp.clientId;
  stack.idp.provider.on('backchannel.success', (_ctx, _client, _sub, sid) => backchannel.push({ ok: true, sid }));
  stack.idp.provider.on('backchannel.error', (_ctx, err, _client, _sub, sid) => backchannel.push({ ok: false, sid, error: String(err?.message || err) }));
}, { timeout: 60_000 });

after(async () => {
  await stack?.close();
  if (kvDir) rmSync(kvDir, { recursive: true, force: true });
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

describe('the revocation store is shared', () => {
  test('a fresh worker on the same KV refuses sessions the IdP ended, from its first request', async () => {
    const kim = await signIn('kim@corp.example');
    const r = await postLogoutToken(await idpLogoutToken({ sid: kim.sid }));
    assert.equal(r.status, 200, await r.text());
    const lou = await signIn('lou@corp.example');
    const fresh = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, kvPersist: kvDir });
    try {
      // A protected request first: a fresh isolate loads the list before admitting anyone.
      assert.equal(await protectedStatus(kim.cookie, fresh.url), 401, 'protected content');
      assert.equal(await protectedStatus(lou.cookie, fresh.url), 200, 'an unrelated session');
      await meWith(kim.cookie, fresh.url, 401);
    } finally {
      await fresh.dispose();
    }
  });

  // Regression (fixed in src/platform/mod.rs `handle`): only requests outside /auth/ used to load the revocation list into a
  // fresh isolate; /auth/me is answered by check_session against the empty in-memory list, so a session the
  // IdP ended reads as signed in (200) on every isolate that has not yet served protected content.
  test('/auth/me as the very first request of a fresh isolate also knows the revocation', async () => {
    const mia = await signIn('mia@corp.example');
    const u = new URL('/auth/logout/frontchannel', origin);
    u.searchParams.set('iss', issuer);
    u.searchParams.set('sid', mia.sid);
    assert.equal((await new Browserless().get(u.href)).status, 200);
    const fresh = await startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, kvPersist: kvDir });
    try {
      await meWith(mia.cookie, fresh.url, 401);
    } finally {
      await fresh.dispose();
    }
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

describe('flood bounds on the revocation store', () => {
  /** A worker with the stack's configuration and session keys, its own (in-memory) KV, and its log captured. */
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

  test(`at ${MAX_REVOCATIONS_PER_CONNECTOR} revocations for a connector, new ones are refused (503, operator log), legitimate sessions keep working`, async () => {
    const rita = await signIn('rita@corp.example');
    const sam = await signIn('sam@corp.example');
    // A flood has filled the connector's share of the store (from many isolates).
    const w = await startWorkerWithFakeKv({ COUNT: MAX_REVOCATIONS_PER_CONNECTOR, REVOKED: [sam.sid] });
    try {
      // The fresh worker reads all of it before admitting anyone.
      await meWith(sam.cookie, w.url, 401);
      await meWith(rita.cookie, w.url, 200);
      const front = await frontChannel(new Browserless(), w.url, { iss: issuer, sid: rita.sid });
      assert.equal(front.status, 503, `on main: 200, written without bound\n${front.describe()}`);
      assert.match(await front.text(), /temporarily_unavailable/);
      const back = await postLogoutToken(await idpLogoutToken({ sid: rita.sid }), w.url);
      assert.equal(back.status, 503, await back.text());
      for (const channel of ['front-channel', 'back-channel']) {
        const line = await w.logs.waitFor(new RegExp(`${channel} logout refused: connector "corp" has 10001 revocations stored, its limit is 10000`));
        assert.ok(line, `${channel}\n${w.logs.since(0).join('\n')}`);
      }
      // Refused, not accepted and forgotten: the IdP was told, and nothing changed here.
      await meWith(rita.cookie, w.url, 200);
    } finally {
      await w.dispose();
    }
  });
});

describe("a front-channel flood leaves the signed channels their room (review of issue 10)", () => {
  test(`at ${MAX_UNAUTHENTICATED_PER_CONNECTOR} front-channel entries for a connector, front-channel is refused (503) but a signed back-channel logout is recorded`, async () => {
    const vic = await signIn('vic@corp.example');
    // Anonymous front-channel logouts with made-up sids (from many isolates) have filled the front-channel share.
    const w = await startWorkerWithFakeKv({ COUNT: MAX_UNAUTHENTICATED_PER_CONNECTOR, UNAUTHENTICATED: true });
    try {
      await meWith(vic.cookie, w.url, 200);
      const front = await frontChannel(new Browserless(), w.url, { iss: issuer, sid: 'one-more-made-up' });
      assert.equal(front.status, 503, `before: 200, the flood went on to the connector's whole limit\n${front.describe()}`);
      const back = await postLogoutToken(await idpLogoutToken({ sid: vic.sid }), w.url);
      assert.equal(back.status, 200, `the signed channel keeps its room: ${await back.text()}`);
      await meWith(vic.cookie, w.url, 401);
    } finally {
      await w.dispose();
    }
  });
});

describe('reloads never use a partial list', () => {
  test('a store beyond what a reload holds (50,000) fails closed instead of forgetting what it did not read', async () => {
    const tess = await signIn('tess@corp.example');
    const uma = await signIn('uma@corp.example');
    // 50,000 entries, then tess's revocation on the 51st page: on main a reload stopped after 50 pages, and tess
    // was signed in again.
    const w = await startWorkerWithFakeKv({ COUNT: 50_000, REVOKED: [tess.sid] });
    try {
      const body = await meWith(tess.cookie, w.url);
      assert.equal(body.error, 'unauthenticated', `on main: tess is signed in again (${JSON.stringify(body)})`);
      assert.equal(await protectedStatus(tess.cookie, w.url), 401);
      // Nothing can be vouched for: every session is refused, loudly.
      await meWith(uma.cookie, w.url, 401);
      const line = await w.logs.waitFor(/revocations: reload incomplete, the store holds more than 50000 revocations.*fail closed/);
      assert.ok(line, w.logs.since(0).join('\n'));
      // Writes are refused too: the store's size is unknown.
      assert.equal((await frontChannel(new Browserless(), w.url, { iss: issuer, sid: uma.sid })).status, 503);
    } finally {
      await w.dispose();
    }
  });

  test('concurrent first requests of a fresh isolate wait for one single reload', async () => {
    const wes = await signIn('wes@corp.example');
    const xena = await signIn('xena@corp.example');
    const w = await startWorkerWithFakeKv({ COUNT: 4_000, REVOKED: [wes.sid] });
    try {
      const mark = w.logs.mark();
      const statuses = await Promise.all(
        Array.from({ length: 24 }, (_, i) => protectedStatus(i % 2 ? wes.cookie : xena.cookie, w.url)),
      );
      assert.deepEqual(statuses, Array.from({ length: 24 }, (_, i) => (i % 2 ? 401 : 200)), w.logs.since(mark).join("\n"));
      const lists = w.logs.since(mark).filter((l) => l.startsWith('fake-kv: list'));
      assert.deepEqual(lists, ['fake-kv: list from 0', 'fake-kv: list from 1000', 'fake-kv: list from 2000', 'fake-kv: list from 3000', 'fake-kv: list from 4000'], `one reload of 5 pages, not one per request (main: one per request)\n${lists.length} list calls`);
    } finally {
      await w.dispose();
    }
  });

  test('a fresh isolate whose store cannot be listed refuses sessions (fail closed) instead of using an empty list', async () => {
    const vic = await signIn('vic@corp.example');
    const w = await startWorkerWithFakeKv({ FAILS: true });
    try {
      await meWith(vic.cookie, w.url, 401);
      assert.equal(await protectedStatus(vic.cookie, w.url), 401);
      assert.ok(await w.logs.waitFor(/could not be listed: .*KV list failed \(test\).*fail closed/), w.logs.since(0).join('\n'));
    } finally {
      await w.dispose();
    }
  });
});

// A KV namespace for the bounds tests (a Miniflare wrapped binding in the worker's own isolate): it lists COUNT
// synthetic revocations accounted to CONNECTOR, then those of REVOKED (sids of ISSUER), then what the worker
// put; FAILS makes every list call throw. Miniflare's real KV needs ~7 ms per put: 50,000 entries would take
// minutes to write.
const FAKE_KV = `
const puts = new Map();
class FakeKv {
  constructor(env) {
    this.count = Number(env.COUNT || 0);
    this.revoked = env.REVOKED || [];
    this.fails = !!env.FAILS;
    this.issuer = env.ISSUER;
    this.connector = env.CONNECTOR;
    this.unauthenticated = !!env.UNAUTHENTICATED;
    this.at = Math.floor(Date.now() / 1000);
  }
  entry(n) {
    const meta = (v) => ({ k: 'sid', i: this.issuer, v, a: this.at, c: this.connector });
    if (n < this.count) {
      const flood = meta('flood-' + n);
      return { name: 'rev:flood-' + n, metadata: this.unauthenticated ? { ...flood, u: true } : flood };
    }
    const r = this.revoked[n - this.count];
    if (r !== undefined) return { name: 'rev:revoked-' + n, metadata: meta(r) };
    const p = [...puts.entries()][n - this.count - this.revoked.length];
    return { name: p[0], metadata: p[1] };
  }
  async list({ limit = 1000, cursor } = {}) {
    const start = cursor ? Number(cursor) : 0;
    console.warn('fake-kv: list from ' + start);
    // Slow enough for concurrent requests to overlap a reload.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.fails) throw new Error('KV list failed (test)');
    const total = this.count + this.revoked.length + puts.size;
    const keys = [];
    for (let n = start; n < Math.min(total, start + limit); n++) keys.push(this.entry(n));
    const end = start + keys.length;
    return end < total ? { keys, list_complete: false, cursor: String(end) } : { keys, list_complete: true };
  }
  async put(key, _value, opts = {}) {
    puts.set(key, opts.metadata ?? null);
  }
  async get() {
    return null;
  }
}
export default function (env) {
  return new FakeKv(env);
}
`;

/** The stack's worker configuration, on a fresh worker whose REVOCATIONS is the fake KV above. */
async function startWorkerWithFakeKv(kv) {
  const { Miniflare } = await import('miniflare');
  const logs = new WorkerLog();
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    cf: false,
    handleStructuredLogs: (entry) => logs.push(entry),
    workers: [
      {
        name: 'edge-auth',
        modules: true,
        scriptPath: WORKER_SCRIPT,
        modulesRoot: path.dirname(WORKER_SCRIPT),
        modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
        compatibilityDate: COMPATIBILITY_DATE,
        bindings: { AUTH_CONFIG: JSON.stringify(stack.config), SESSION_KEYS: stack.sessionKeys, ...stack.secrets },
        assets: {
          directory: ASSETS_DIR,
          binding: 'ASSETS',
          routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
          assetConfig: { compatibility_date: COMPATIBILITY_DATE },
        },
        wrappedBindings: { REVOCATIONS: { scriptName: 'fake-kv', bindings: { ISSUER: issuer, CONNECTOR: 'corp', ...kv } } },
      },
      { name: 'fake-kv', modules: true, script: FAKE_KV },
    ],
  });
  const url = new URL(await mf.ready).origin;
  return { url, logs, dispose: () => mf.dispose() };
}
