// Connector kind "facebook", end to end through the real worker in workerd against a Facebook-shaped OAuth 2.0
// provider with the Graph API (tests/support/fake-idp/shapes.mjs): the login dialog (and its `#_=_` redirect
// quirk), the access-token endpoint, and `/me?fields=id,name,email` with `appsecret_proof`, which the mock Graph
// API verifies and refuses when wrong. Endpoints both overridden in AUTH_CONFIG and left at their defaults
// (https://graph.facebook.com/v21.0/..., reached through the test outbound router). Refusals: a user without
// an email (no address, or the permission declined), an address of another connector's domain, a wrong proof,
// Graph and token-endpoint errors, the user cancelling.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, randomKey, TX_COOKIE } from '../../support/harness.mjs';
import { FACEBOOK_API_ORIGINS, OMIT, startFacebookOp } from '../../support/fake-idp/index.mjs';
import { expectRefusedSignIn, expectSignedIn, startShapeStack } from '../../support/stacks.mjs';

let stack;
let fb;
let app; // connector "fb": every endpoint overridden to the local mock
let app2; // connector "fb-default": only the dialog overridden; token and Graph at their defaults

before(async () => {
  stack = await startShapeStack(async ({ redirectUri }) => {
    app = { app_id: '1000000000000001', app_secret: randomKey(16).replace(/[-_]/g, 'a'), redirect_uris: [redirectUri] };
    app2 = { app_id: '1000000000000002', app_secret: randomKey(16).replace(/[-_]/g, 'b'), redirect_uris: [redirectUri] };
    fb = await startFacebookOp({ apps: [app, app2] });
    return {
      ops: { fb },
      secrets: { FB_APP_SECRET: app.app_secret, FB2_APP_SECRET: app2.app_secret },
      routes: Object.fromEntries(FACEBOOK_API_ORIGINS.map((o) => [o, fb.url])),
      connectors: [
        {
          id: 'fb',
          kind: 'facebook',
          client_id: app.app_id,
          client_secret_binding: 'FB_APP_SECRET',
          authorization_endpoint: `${fb.url}/v21.0/dialog/oauth`,
          token_endpoint: `${fb.url}/v21.0/oauth/access_token`,
          graph_me_endpoint: `${fb.url}/v21.0/me`,
          domains: ['fbusers.example'],
        },
        {
          id: 'fb-default',
          kind: 'facebook',
          client_id: app2.app_id,
          client_secret_binding: 'FB2_APP_SECRET',
          authorization_endpoint: `${fb.url}/v21.0/dialog/oauth`,
          domains: ['fbdefault.example'],
        },
      ],
    };
  });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const proof = (secret, token) => createHmac('sha256', secret).update(token).digest('hex');
const ok = (opts) => expectSignedIn(stack, { op: fb, ...opts });
const refused = (opts) => expectRefusedSignIn(stack, { op: fb, ...opts });

describe('sign-in through the dialog, the token endpoint and the Graph API', () => {
  test('a user with an email signs in; every request has the shape Facebook documents', async () => {
    const marks = { auth: fb.authRequests.length, token: fb.tokenRequests.length, graph: fb.graphRequests.length };
    const res = await ok({ email: 'kim.lee@fbusers.example', expect: { connector: 'fb', iss: 'https://www.facebook.com', name: 'Kim Lee' } });
    assert.match(res.session.sub, /^fb:\d+$/, 'the user id: connector:app-scoped user id');
    assert.ok(res.chain.some((r) => /#_=_$/.test(r.headers.get('location') || '')), 'the dialog redirect carries #_=_');

    const q = fb.authRequests[marks.auth];
    assert.equal(q.client_id, app.app_id);
    assert.equal(q.redirect_uri, `${stack.origin}/auth/callback`);
    assert.equal(q.response_type, 'code');
    assert.deepEqual(q.scope.split(/[ ,]/).sort(), ['email', 'public_profile']);
    assert.ok(q.state);
    assert.equal(q.code_challenge_method, 'S256');
    assert.equal(q.client_secret, undefined, 'the app secret never goes to the browser');

    const t = fb.tokenRequests[marks.token];
    assert.equal(t.method, 'POST');
    assert.equal(t.outcome, 'issued');
    for (const k of ['client_id', 'client_secret', 'redirect_uri', 'code', 'code_verifier']) assert.ok(t.params[k], `token request ${k}`);

    const g = fb.graphRequests[marks.graph];
    assert.equal(g.fields, 'id,name,email');
    assert.match(g.authorization, /^Bearer \S+$/);
    assert.equal(g.proof, proof(app.app_secret, g.token), 'appsecret_proof = hex HMAC-SHA256(app secret, access token)');
    const graphReq = fb.requests.filter((r) => r.path === '/v21.0/me').at(-1);
    assert.equal(graphReq.query.access_token, undefined, 'the access token is not in the URL');
    assert.equal(g.outcome, 'answered 200');
  });

  test('default token and Graph endpoints: the worker calls graph.facebook.com/v21.0', async () => {
    const mark = stack.outbound.length;
    await ok({ email: 'lee@fbdefault.example', expect: { connector: 'fb-default' } });
    const urls = stack.outbound.slice(mark).map((o) => o.url);
    assert.ok(urls.includes('https://graph.facebook.com/v21.0/oauth/access_token'), urls.join('\n'));
    const meUrl = urls.find((u) => u.startsWith('https://graph.facebook.com/v21.0/me?'));
    assert.ok(meUrl, urls.join('\n'));
    const g = fb.graphRequests.at(-1);
    assert.equal(g.proof, proof(app2.app_secret, g.token), 'the proof uses this connector\'s app secret');
    assert.deepEqual(stack.outbound.filter((o) => o.target === null), [], 'nothing left the machine');
  });
});

describe('who the user is', () => {
  test('an account without an email address -> 403 email_missing', async () => {
    await refused({ email: 'mo@fbusers.example', spec: { account: { email: OMIT } }, code: 'email_missing', status: 403 });
  });
  test('the email permission declined (Graph answers without email) -> 403 email_missing', async () => {
    await refused({ email: 'mo@fbusers.example', spec: { graph: { email: OMIT } }, code: 'email_missing', status: 403 });
  });
  test('an address of a domain no connector owns -> email_domain_mismatch', async () => {
    await refused({ email: 'ned@fbusers.example', login: 'ned@elsewhere.example', code: 'email_domain_mismatch', status: 403 });
  });
  test("an address of the other connector's domain -> email_domain_mismatch", async () => {
    await refused({ email: 'ned@fbusers.example', login: 'ned@fbdefault.example', code: 'email_domain_mismatch', status: 403 });
  });
  test('an email that is not an address -> 400 id_token_invalid', async () => {
    await refused({ email: 'ned@fbusers.example', spec: { graph: { email: 'not an address' } }, code: 'id_token_invalid', status: 400, reason: /id_token_invalid \(ID token refused: email claim: the email address contains spaces/ });
  });
  test('Graph answers without an id -> userinfo_failed', async () => {
    await refused({ email: 'ned@fbusers.example', spec: { graph: { id: OMIT } }, code: 'userinfo_failed', status: 502 });
  });
});

describe('appsecret_proof', () => {
  test('the mock Graph API refuses a wrong proof, a missing one, and accepts the right one', async () => {
    await ok({ email: 'olga@fbusers.example' });
    const { token } = fb.graphRequests.at(-1);
    const b = new Browserless();
    const ask = (query) => b.get(`${fb.url}/v21.0/me?fields=id,name,email${query}`, { headers: { authorization: `Bearer ${token}` } });
    const wrong = await ask(`&appsecret_proof=${proof('another-secret', token)}`);
    assert.equal(wrong.status, 400);
    assert.deepEqual({ ...wrong.json().error, fbtrace_id: undefined }, { message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100, fbtrace_id: undefined });
    const missing = await ask('');
    assert.equal(missing.status, 400);
    assert.match(missing.json().error.message, /require an appsecret_proof/);
    const right = await ask(`&appsecret_proof=${proof(app.app_secret, token)}`);
    assert.equal(right.status, 200, right.describe());
    assert.equal(right.json().email, 'olga@fbusers.example');
  });

  test('a proof the Graph API does not accept (app secret mismatch) -> 502 userinfo_failed', async () => {
    const mark = fb.graphRequests.length;
    await refused({ email: 'olga@fbusers.example', spec: { graphSecret: 'the-secret-facebook-knows' }, code: 'userinfo_failed', status: 502, reason: /userinfo_failed/ });
    assert.equal(fb.graphRequests[mark].outcome, 'Invalid appsecret_proof provided in the API argument');
  });
});

describe('errors from Facebook', () => {
  test('Graph: invalid access token (code 190) -> 502 userinfo_failed', async () => {
    await refused({
      email: 'pat@fbusers.example',
      spec: { graph: () => ({ status: 400, body: { error: { message: 'Error validating access token: Session has expired', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id: 'x' } } }) },
      code: 'userinfo_failed',
      status: 502,
    });
  });
  test('token endpoint: the code expired (code 100, subcode 36007) -> 502 token_exchange_failed', async () => {
    await refused({
      email: 'pat@fbusers.example',
      spec: { tokenError: { status: 400, body: { error: { message: 'This authorization code has expired.', type: 'OAuthException', code: 100, error_subcode: 36007, fbtrace_id: 'x' } } } },
      code: 'token_exchange_failed',
      status: 502,
    });
  });
  test('token endpoint answers without an access_token -> token_exchange_failed', async () => {
    await refused({ email: 'pat@fbusers.example', spec: { tokenError: { status: 200, body: { token_type: 'bearer' } } }, code: 'token_exchange_failed', status: 502 });
  });
  test('the user cancels the dialog (error_reason=user_denied) -> 403 idp_error, no session', async () => {
    const b = new Browserless();
    const { response: r, callbackUrl } = await b.login({ worker: stack.origin, email: 'pat@fbusers.example', abortAt: 'login' });
    const cb = new URL(callbackUrl);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('error_reason'), 'user_denied');
    assertRefusal(r, { status: 403, code: 'idp_error', html: false });
    assertNoSessionSet(r);
    await me(b, stack.origin, 401);
  });
  test('a replayed callback (with its transaction cookie) is refused as already used, and Facebook is not asked twice', async () => {
    const b = new Browserless();
    const res = await b.login({ worker: stack.origin, email: 'quinn@fbusers.example', stopBeforeCallback: true });
    const tx = b.getCookie(TX_COOKIE, stack.origin);
    assert.ok(tx, 'the login set the transaction cookie');
    const first = await b.navigate(res.callbackUrl);
    assert.equal(first.status, 302, first.describe());
    const tokenCount = fb.tokenRequests.length;
    // The replay: another browser presenting the same callback with the captured transaction cookie.
    const replayer = new Browserless();
    replayer.setCookie(TX_COOKIE, tx, { url: stack.origin });
    const mark = stack.logs.mark();
    const again = await replayer.navigate(res.callbackUrl);
    assertRefusal(again, { status: 400, code: 'login_expired' });
    assert.ok(await stack.logs.waitFor(/login_expired \(the login transaction was already used/, mark), stack.logs.since(mark).join('\n'));
    assertNoSessionSet(again);
    await me(replayer, stack.origin, 401);
    assert.equal(fb.tokenRequests.length, tokenCount, 'no second code redemption');
  });
});
