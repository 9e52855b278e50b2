// The operator log, end to end through the real worker in workerd against the real oidc-provider (with
// Back-Channel Logout 1.0): every line the worker writes is one JSON object (docs/logging.md), and the events of
// a sign-in, a refused sign-in (the IdP's access_denied, a forged state), a sign-out, a back-channel revocation
// and an IdP outage carry their fields. No line ever holds the authorization code, the ID token, the session
// cookie's value, the client secret or the IdP's error_description.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';

import { SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, parseEvent, randomKey, startStack, startWorker } from '../../support/harness.mjs';
import { openCookieUnverified } from '../../support/fake-idp/index.mjs';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const HOSTILE_DESCRIPTION = 'PWNED-description <script>alert(1)</script>';

let stack;
let origin;
/** What must never be logged: the codes, ID tokens, session cookies seen in the tests, and the client secret. */
const secrets = new Set();

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
  });
  origin = stack.worker.url;
  secrets.add(stack.byId.corp.clientSecret);
  // The ID tokens (and access tokens) the IdP hands out at its token endpoint.
  stack.idp.provider.on('grant.success', (ctx) => {
    for (const k of ['id_token', 'access_token', 'refresh_token']) if (ctx.body?.[k]) secrets.add(ctx.body[k]);
  });
}, { timeout: 60_000 });

after(async () => {
  // Whatever the tests did: nothing secret in any line, and every line of the worker is an event.
  try {
    const lines = stack?.logs.all(0) ?? [];
    for (const line of lines) {
      for (const s of secrets) assert.ok(!line.includes(s), `a log line holds a secret (${s.slice(0, 12)}…): ${line}`);
      assert.ok(!line.includes(HOSTILE_DESCRIPTION.slice(0, 10)), `the IdP's error_description is logged: ${line}`);
      assert.ok(parseEvent(line), `not a JSON event line: ${line}`);
    }
    assert.ok(secrets.size >= 4, `the test saw codes, tokens and cookies to look for: ${secrets.size}`);
  } finally {
    await stack?.close();
  }
}, { timeout: 30_000 });

/** A whole sign-in; the code of the callback URL and the session cookie join the secrets. */
async function signIn(email) {
  const b = new Browserless();
  const res = await b.login({ worker: origin, email });
  assert.equal(res.response.status, 302, res.response.describe());
  const code = new URL(res.callbackUrl).searchParams.get('code');
  assert.ok(code, res.callbackUrl);
  secrets.add(code);
  const cookie = b.getCookie(SESSION_COOKIE, origin);
  assert.ok(cookie, 'a session cookie');
  secrets.add(cookie);
  return { b, cookie, payload: openCookieUnverified(cookie) };
}

/** The one event named `name` after `mark` that has `fields`, waited for. */
async function event(name, fields, mark) {
  const e = await stack.logs.waitForEvent(name, fields, mark);
  assert.ok(e, `a ${name} event with ${JSON.stringify(fields)}; the log:\n  ${stack.logs.all(mark).join('\n  ')}`);
  return e;
}

describe('the events of a sign-in', () => {
  test('success: sign_in, info, with the connector, subject, email, session id and request id', async () => {
    const mark = stack.logs.mark();
    const { payload } = await signIn('alice@corp.example');
    const e = await event('sign_in', { outcome: 'success' }, mark);
    assert.equal(e.level, 'info');
    assert.equal(e.connector, 'corp');
    assert.equal(e.email, 'alice@corp.example');
    assert.equal(e.subject, payload.sub);
    assert.equal(e.session_id, payload.sid);
    assert.match(e.request_id, /^[0-9a-zA-Z-]{8,64}$/);
    // Written with console.log: Workers Logs' level is the event's.
    const entry = stack.logs.entries.slice(mark).find((x) => parseEvent(x.message)?.event === 'sign_in');
    assert.ok(/info|log/i.test(String(entry.level)), `logged at info level: ${entry.level}`);
  });

  test("failure: the IdP's access_denied (its code, never its error_description)", async () => {
    const b = new Browserless();
    const started = await b.login({ worker: origin, email: 'bob@corp.example', stopBeforeCallback: true });
    const callback = new URL(started.callbackUrl);
    secrets.add(callback.searchParams.get('code'));
    const denied = new URL('/auth/callback', origin);
    for (const k of ['state', 'iss']) if (callback.searchParams.has(k)) denied.searchParams.set(k, callback.searchParams.get(k));
    denied.searchParams.set('error', 'access_denied');
    denied.searchParams.set('error_description', HOSTILE_DESCRIPTION);
    const mark = stack.logs.mark();
    const r = await b.navigate(denied.href);
    assert.equal(r.status, 403, r.describe());
    const e = await event('sign_in', { outcome: 'failure' }, mark);
    assert.deepEqual(
      { level: e.level, connector: e.connector, reason: e.reason, idp_error: e.idp_error, path: e.path },
      { level: 'warn', connector: 'corp', reason: 'idp_error', idp_error: 'access_denied', path: '/auth/callback' },
    );
    assert.ok(!stack.logs.all(mark).some((l) => l.includes('PWNED')), stack.logs.all(mark).join('\n'));
  });

  test('failure: a forged state', async () => {
    const b = new Browserless();
    const started = await b.login({ worker: origin, email: 'carol@corp.example', stopBeforeCallback: true });
    const forged = new URL(started.callbackUrl);
    secrets.add(forged.searchParams.get('code'));
    forged.searchParams.set('state', randomKey(16));
    const mark = stack.logs.mark();
    const r = await b.navigate(forged.href);
    assert.equal(r.status, 400, r.describe());
    const e = await event('sign_in', { outcome: 'failure', reason: 'state_mismatch' }, mark);
    assert.equal(e.connector, 'corp');
    assert.equal(e.idp_error, undefined);
  });
});

describe('the request id', () => {
  test("Cloudflare's cf-ray when the request has one (a plain token), else a random id per request", async () => {
    let mark = stack.logs.mark();
    assert.equal((await fetch(`${origin}/auth/nothing`, { headers: { 'cf-ray': '8f0c1d2e3a4b5c6d-ICN' } })).status, 404);
    const e = await event('request_refused', { path: '/auth/nothing' }, mark);
    assert.equal(e.request_id, '8f0c1d2e3a4b5c6d-ICN');
    assert.equal(e.reason, 'not_found');
    // Not a plain token (it would be a field of the attacker's choosing): a random id instead.
    mark = stack.logs.mark();
    await fetch(`${origin}/auth/nothing`, { headers: { 'cf-ray': 'x","event":"sign_in' } });
    await fetch(`${origin}/auth/nothing`);
    // Log lines arrive from workerd asynchronously: wait for the second.
    await stack.logs.waitForEvent('request_refused', {}, mark + 1);
    const ids = stack.logs.events(mark, 'request_refused').map((x) => x.request_id);
    assert.equal(ids.length, 2, JSON.stringify(ids));
    for (const id of ids) assert.match(id, /^[0-9a-f]{16}$/);
    assert.notEqual(ids[0], ids[1]);
  });
});

describe('sign-out and revocation', () => {
  test('our logout: sign_out with the connector and subject', async () => {
    const { b, payload } = await signIn('dave@corp.example');
    const mark = stack.logs.mark();
    const r = await b.submit(`${origin}/auth/logout`, {}, { from: `${origin}/` });
    assert.equal(r.status, 302, r.describe());
    const e = await event('sign_out', { outcome: 'success' }, mark);
    assert.deepEqual(
      { level: e.level, channel: e.channel, connector: e.connector, subject: e.subject, session_id: e.session_id },
      { level: 'info', channel: 'logout', connector: 'corp', subject: payload.sub, session_id: payload.sid },
    );
  });

  test('back-channel: revocation with the connector and the sid; a refused token is a failure', async () => {
    const { payload } = await signIn('erin@corp.example');
    const rsa = stack.idp.jwks.keys.find((k) => k.kty === 'RSA');
    const t = Math.floor(Date.now() / 1000);
    const claims = { iss: stack.idp.issuer, aud: stack.byId.corp.clientId, iat: t, exp: t + 120, jti: randomUUID(), events: { [EVENT]: {} }, sid: payload.sid };
    const token = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid, typ: 'logout+jwt' })
      .sign(await jose.importJWK(rsa, 'RS256'));
    secrets.add(token);
    const post = (body) =>
      fetch(`${origin}/auth/logout/backchannel`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: body }).toString(),
      });
    let mark = stack.logs.mark();
    assert.equal((await post(token)).status, 200);
    const e = await event('revocation', { outcome: 'success' }, mark);
    assert.deepEqual(
      { channel: e.channel, connector: e.connector, session_id: e.session_id, issuer: e.issuer },
      { channel: 'back_channel', connector: 'corp', session_id: payload.sid, issuer: stack.idp.issuer },
    );
    // The same token again (a replay): refused, logged as a failure, without the token.
    mark = stack.logs.mark();
    assert.equal((await post(token)).status, 400);
    const refused = await event('revocation', { outcome: 'failure' }, mark);
    assert.equal(refused.reason, 'invalid_logout_token');
    assert.match(refused.message, /replayed jti/);
  });
});

describe('an IdP outage', () => {
  test('the discovery document cannot be fetched: idp_fetch_failed (not stale) and the failed sign-in', async () => {
    const worker = await startWorker({
      config: {
        connectors: [
          // Nothing listens on port 9 (discard) of the loopback: the connection is refused.
          { id: 'down', kind: 'oidc', issuer: 'http://127.0.0.1:9/idp', client_id: 'edge', client_secret_binding: 'DOWN_SECRET', domains: ['down.example'] },
        ],
      },
      secrets: { DOWN_SECRET: 'down-client-secret-4f1c' },
    });
    try {
      const r = await new Browserless().navigate(`${worker.url}/auth/login?email=alice%40down.example`);
      assert.equal(r.status, 502, r.describe());
      const fetchFailed = await worker.logs.waitForEvent('idp_fetch_failed', { document: 'discovery' });
      assert.ok(fetchFailed, worker.logs.since(0).join('\n'));
      assert.deepEqual(
        { level: fetchFailed.level, connector: fetchFailed.connector, issuer: fetchFailed.issuer, stale: fetchFailed.stale, reason: fetchFailed.reason },
        { level: 'warn', connector: 'down', issuer: 'http://127.0.0.1:9/idp', stale: false, reason: 'idp_unreachable' },
      );
      assert.ok(['network', 'timeout', 'status'].includes(fetchFailed.error_class), JSON.stringify(fetchFailed));
      const failed = await worker.logs.waitForEvent('sign_in', { outcome: 'failure', reason: 'idp_unreachable' });
      assert.ok(failed, worker.logs.since(0).join('\n'));
      assert.equal(failed.path, '/auth/login');
      for (const line of worker.logs.all(0)) assert.ok(!line.includes('down-client-secret'), line);
    } finally {
      await worker.dispose();
    }
  });
});
