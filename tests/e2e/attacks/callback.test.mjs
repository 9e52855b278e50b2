// The authorization response from a hostile provider, end to end through the real worker in workerd:
// RFC 9207 `iss` response parameter (mix-up defence), and replay of state, nonce and code — including the same
// callback sent twice with the same transaction cookie.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, SESSION_COOKIE, TX_COOKIE } from '../../support/harness.mjs';
import { OMIT } from '../../support/fake-idp/index.mjs';
import { expectAccepted, expectRefused, loginThrough, startHostileStack } from '../../support/stacks.mjs';

let stack;
let origin;
before(async () => {
  stack = await startHostileStack({
    connectors: [
      { id: 'iss9207', op: { issParameter: true } },
      { id: 'plain' },
      { id: 'replay' },
      // a broken provider that redeems a code as often as it is presented
      { id: 'lenient', op: { codeReuse: true } },
      // response_mode=form_post (the provider posts the response back), RFC 9207 advertised
      { id: 'formpost', op: { issParameter: true }, connector: { response_mode: 'form_post' } },
    ],
    // two isolates of one deployment (their own memory, the same Durable Objects): the cross-isolate replay
    worker: { isolates: 2 },
  });
  origin = stack.origin;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/** A refused callback must not have reached the token endpoint (the code is never sent anywhere). */
async function refusedBeforeTokenExchange(connector, spec, reason) {
  const op = stack.ops[connector];
  const before = op.count('/token');
  const r = await expectRefused(stack, { connector, spec, code: 'issuer_mismatch', status: 400, reason, recover: false });
  assert.equal(op.count('/token'), before, 'the code was not redeemed');
  await expectAccepted(stack, { connector });
  return r;
}

describe('RFC 9207: the iss authorization-response parameter', () => {
  test('the provider advertises authorization_response_iss_parameter_supported and sends iss: accepted (control)', async () => {
    const op = stack.ops.iss9207;
    assert.equal(op.discoveryDocument().authorization_response_iss_parameter_supported, true);
    const { callbackUrl } = await expectAccepted(stack, { connector: 'iss9207' });
    assert.equal(new URL(callbackUrl).searchParams.get('iss'), op.issuer);
  });
  test('advertised, wrong iss -> 400 issuer_mismatch, code not redeemed', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { iss: 'https://issuer.evil.example' } }, /issuer_mismatch.*"https:\/\/issuer\.evil\.example"/);
  });
  test('advertised, no iss -> 400 issuer_mismatch, code not redeemed', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { iss: OMIT } }, /issuer_mismatch.*found: None|issuer_mismatch \(the authorization response iss None/);
  });
  test('advertised, iss with a trailing slash -> 400 issuer_mismatch', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { iss: `${stack.ops.iss9207.issuer}/` } }, /issuer_mismatch/);
  });
  test('advertised, iss of another provider this worker trusts (mix-up) -> 400 issuer_mismatch', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { iss: stack.ops.plain.issuer } }, /issuer_mismatch/);
  });
  test('advertised, an empty iss -> 400 issuer_mismatch', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { iss: '' } }, /issuer_mismatch/);
  });
  test('advertised, an error response without iss -> 400 issuer_mismatch (not shown as the provider\'s error)', async () => {
    await refusedBeforeTokenExchange('iss9207', { authResponse: { code: OMIT, iss: OMIT, error: 'access_denied' } }, /issuer_mismatch/);
  });
  test('advertised, an error response with the right iss -> idp_error (control)', async () => {
    await expectRefused(stack, { connector: 'iss9207', spec: { authResponse: { code: OMIT, error: 'access_denied' } }, code: 'idp_error', status: 403 });
  });
  test('not advertised, a wrong iss present -> 400 issuer_mismatch', async () => {
    await refusedBeforeTokenExchange('plain', { authResponse: { iss: 'https://issuer.evil.example' } }, /issuer_mismatch/);
  });
  test('not advertised, no iss: accepted (control)', async () => {
    const { callbackUrl } = await expectAccepted(stack, { connector: 'plain' });
    assert.equal(new URL(callbackUrl).searchParams.get('iss'), null);
  });
  test('not advertised, the right iss: accepted', async () => {
    await expectAccepted(stack, { connector: 'plain', spec: { authResponse: { iss: stack.ops.plain.issuer } } });
  });
});

/** Sign in up to the provider's redirect to the callback; return the callback URL and the transaction cookie. */
async function upToCallback(connector, b = new Browserless()) {
  const res = await loginThrough(stack, { connector, b, stopBeforeCallback: true });
  const tx = b.getCookie(TX_COOKIE, origin);
  assert.ok(tx, 'the login set a transaction cookie');
  return { b, callbackUrl: res.callbackUrl, callbackForm: res.callbackForm, tx };
}

/** Send the same callback twice with the same transaction cookie; the first is a normal sign-in. */
async function replayCallback(connector) {
  const op = stack.ops[connector];
  const { b, callbackUrl, tx } = await upToCallback(connector);
  const code = new URL(callbackUrl).searchParams.get('code');
  const first = await b.navigate(callbackUrl);
  assert.equal(first.status, 302, first.describe());
  assert.equal(first.setCookie(TX_COOKIE)?.value, '', 'the first callback clears the transaction cookie');
  const session = b.getCookie(SESSION_COOKIE, origin);
  assert.ok(session);
  // The replay: the same request, with the same (captured) transaction cookie.
  const replayer = new Browserless();
  replayer.setCookie(TX_COOKIE, tx, { url: origin });
  const logMark = stack.logs.mark();
  const again = await replayer.navigate(callbackUrl);
  const redemptions = op.tokenRequests.filter((t) => t.code === code);
  return { b, replayer, first, again, session, redemptions, logLines: () => stack.logs.since(logMark) };
}

describe('replay', () => {
  // Before the per-isolate spent-state guard (commit fc5070c) the worker redeemed the code a second time: an
  // honest provider refused it (502 token_exchange_failed), a lenient one got the replay a second session.
  test(
    'the same callback twice with the same transaction cookie (provider enforces single-use codes) -> the replay is refused by the worker with a 4xx, without redeeming the code again',
    async () => {
      const { b, replayer, again, redemptions, logLines } = await replayCallback('replay');
      const detail = `\n${again.describe()}\nworker log: ${logLines().join(' | ')}\nredemptions: ${JSON.stringify(redemptions.map((t) => t.outcome))}`;
      assertNoSessionSet(again);
      await me(replayer, origin, 401);
      await me(b, origin, 200); // the legitimate session is untouched
      assert.equal(redemptions.length, 1, `the worker did not present the code a second time${detail}`);
      assertRefusal(again, { status: 400, code: 'login_expired' });
      assert.ok(logLines().some((l) => /login_expired \(the login transaction was already used/.test(l)), `refused as a replay${detail}`);
    },
  );

  test(
    'the same callback twice with the same transaction cookie (provider redeems codes twice) -> the replay must not create a second session',
    async () => {
      const { b, replayer, again, redemptions, logLines } = await replayCallback('lenient');
      const detail = `\n${again.describe()}\nworker log: ${logLines().join(' | ')}\nredemptions: ${JSON.stringify(redemptions.map((t) => t.outcome))}`;
      await me(b, origin, 200);
      assert.equal(again.setCookie(SESSION_COOKIE)?.value ?? '', '', `a session cookie was set by the replay${detail}`);
      await me(replayer, origin, 401);
      assertRefusal(again, { status: 400, code: 'login_expired' });
      assert.ok(logLines().some((l) => /login_expired \(the login transaction was already used/.test(l)), `refused as a replay${detail}`);
      assert.equal(redemptions.length, 1, `the code was redeemed once${detail}`);
    },
  );

  /**
   * The replay sent to another isolate: the second copy of the worker in the stack (its own memory, the same
   * Durable Objects, configuration and SESSION_KEYS), with the transaction cookie of a completed login.
   */
  async function replayOnAnotherIsolate(connector) {
    const other = stack.worker.isolates[1];
    assert.ok(other && other.url !== origin, 'the stack runs a second isolate');
    const op = stack.ops[connector];
    const { b, callbackUrl, tx } = await upToCallback(connector);
    const code = new URL(callbackUrl).searchParams.get('code');
    const first = await b.navigate(callbackUrl);
    assert.equal(first.status, 302, first.describe());
    await me(b, origin, 200);
    const tokenRequests = op.count('/token');
    const replayUrl = new URL(callbackUrl);
    replayUrl.host = new URL(other.url).host;
    const replayer = new Browserless();
    replayer.setCookie(TX_COOKIE, tx, { url: other.url });
    const mark = stack.logs.mark();
    const again = await replayer.navigate(replayUrl.href);
    const redemptions = op.tokenRequests.filter((t) => t.code === code);
    const detail = `\n${again.describe()}\nredemptions: ${JSON.stringify(redemptions.map((t) => t.outcome))}`;
    assertNoSessionSet(again);
    assert.equal(replayer.getCookie(SESSION_COOKIE, other.url), undefined, `no session on the other isolate${detail}`);
    await me(replayer, other.url, 401);
    return { again, redemptions, detail, tokenRequests, op, mark };
  }

  // Issue 13: the per-isolate spent memory alone let another isolate accept the replay while the transaction
  // cookie lived (10 min); the login transaction is now claimed in the ReplayGuard Durable Object first.
  for (const [connector, kind] of [['replay', 'enforces single-use codes'], ['lenient', 'redeems codes twice']]) {
    test(`the same callback replayed on another isolate (provider ${kind}) -> 400 login_expired before any request reaches the IdP`, async () => {
      const { again, redemptions, detail, tokenRequests, op, mark } = await replayOnAnotherIsolate(connector);
      assertRefusal(again, { status: 400, code: 'login_expired' });
      assert.equal(op.count('/token'), tokenRequests, `the IdP saw no second token request${detail}`);
      assert.equal(redemptions.length, 1, `the code was redeemed once${detail}`);
      await assertLogged(stack.logs, mark, /GET \/auth\/callback: login_expired \(the login transaction was already used/);
    });
  }

  test('the callback replayed without its transaction cookie (what a browser sends after the first) -> 400 login_expired', async () => {
    const { b, callbackUrl } = await upToCallback('replay');
    const first = await b.navigate(callbackUrl);
    assert.equal(first.status, 302, first.describe());
    const before = stack.ops.replay.count('/token');
    const again = await b.navigate(callbackUrl);
    assertRefusal(again, { status: 400, code: 'login_expired' });
    assert.equal(stack.ops.replay.count('/token'), before, 'no second redemption');
    await me(b, origin, 200);
  });

  test('state replay: the callback of a finished login, with the transaction cookie of a new login -> 400 state_mismatch', async () => {
    const b = new Browserless();
    const old = await upToCallback('replay', b);
    const first = await b.navigate(old.callbackUrl);
    assert.equal(first.status, 302, first.describe());
    // A new login in the same browser: a new transaction (new state).
    const start = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent('alice@replay.example')}`);
    assert.equal(start.status, 302, start.describe());
    const before = stack.ops.replay.count('/token');
    const r = await b.navigate(old.callbackUrl);
    assertRefusal(r, { status: 400, code: 'state_mismatch' });
    assertNoSessionSet(r);
    assert.equal(stack.ops.replay.count('/token'), before, 'the old code was not redeemed');
  });

  test('nonce replay: the provider returns the ID token of an earlier login -> refused (nonce mismatch)', async () => {
    await expectAccepted(stack, { connector: 'replay' });
    const earlier = stack.ops.replay.tokenRequests.at(-1).idToken;
    assert.ok(earlier);
    await expectRefused(stack, { connector: 'replay', spec: { idToken: () => earlier }, code: 'id_token_invalid', status: 400, reason: /nonce does not match/ });
  });

  test('code injection: another login\'s code in this login\'s callback -> the provider refuses it (PKCE), no session', async () => {
    const victim = await upToCallback('replay');
    const attacker = await upToCallback('replay');
    const injected = new URL(victim.callbackUrl);
    injected.searchParams.set('code', new URL(attacker.callbackUrl).searchParams.get('code'));
    const r = await victim.b.navigate(injected.href);
    assertRefusal(r, { status: 502, code: 'token_exchange_failed' });
    assertNoSessionSet(r);
    await me(victim.b, origin, 401);
    assert.match(stack.ops.replay.tokenRequests.at(-1).outcome, /PKCE verification failed/);
  });
});

describe('response_mode=form_post', () => {
  test("the provider's page posts the response back: accepted (control)", async () => {
    const op = stack.ops.formpost;
    const { chain } = await expectAccepted(stack, { connector: 'formpost' });
    assert.equal(op.authRequests.at(-1).response_mode, 'form_post');
    const post = chain.find((r) => r.method === 'POST' && new URL(r.url).pathname === '/auth/callback');
    assert.ok(post, chain.map((r) => `${r.method} ${r.status} ${r.url}`).join('\n'));
  });
  test('a posted response with a wrong iss -> 400 issuer_mismatch, code not redeemed', async () => {
    await refusedBeforeTokenExchange('formpost', { authResponse: { iss: 'https://issuer.evil.example' } }, /issuer_mismatch/);
  });
  test('a posted response without iss -> 400 issuer_mismatch', async () => {
    await refusedBeforeTokenExchange('formpost', { authResponse: { iss: OMIT } }, /issuer_mismatch/);
  });
  test('the same posted response twice with the same transaction cookie -> the replay is refused, the code redeemed once', async () => {
    const op = stack.ops.formpost;
    const { b, callbackUrl, callbackForm, tx } = await upToCallback('formpost');
    assert.ok(callbackForm?.code && callbackForm?.state, JSON.stringify(callbackForm));
    const first = await b.submit(callbackUrl, callbackForm, { from: op.issuer });
    assert.equal(first.status, 302, first.describe());
    await me(b, origin, 200);
    const replayer = new Browserless();
    replayer.setCookie(TX_COOKIE, tx, { url: origin });
    const mark = stack.logs.mark();
    const again = await replayer.submit(callbackUrl, callbackForm, { from: op.issuer });
    assertRefusal(again, { status: 400, code: 'login_expired' });
    await assertLogged(stack.logs, mark, /POST \/auth\/callback: login_expired \(the login transaction was already used/);
    assertNoSessionSet(again);
    await me(replayer, origin, 401);
    assert.equal(op.tokenRequests.filter((t) => t.code === callbackForm.code).length, 1);
  });
  test('the response of a fresh transaction sent as a GET query instead of the expected POST -> 400 invalid_callback, the code never redeemed', async () => {
    // A fresh transaction (not spent by an earlier POST): only the response-mode rule can refuse this one.
    const op = stack.ops.formpost;
    const { b, callbackUrl, callbackForm } = await upToCallback('formpost');
    const asQuery = new URL(callbackUrl);
    for (const [k, v] of Object.entries(callbackForm)) asQuery.searchParams.set(k, v);
    const mark = stack.logs.mark();
    const before = op.count('/token');
    const r = await b.navigate(asQuery.href);
    assertRefusal(r, { status: 400, code: 'invalid_callback' });
    await assertLogged(stack.logs, mark, /GET \/auth\/callback: invalid_callback/);
    assertNoSessionSet(r);
    assert.equal(op.count('/token'), before, 'the code taken from the URL was not redeemed');
    await me(b, origin, 401);
    // The transaction is spent by the refusal: the genuine POST that follows is a replay.
    const late = await b.submit(callbackUrl, callbackForm, { from: op.issuer });
    assertRefusal(late, { status: 400, code: 'login_expired' });
    await me(b, origin, 401);
  });
  test('a query-mode connector refuses the response POSTed as a form -> 400 invalid_callback, the code never redeemed', async () => {
    const op = stack.ops.plain;
    const { b, callbackUrl } = await upToCallback('plain');
    const u = new URL(callbackUrl);
    const fields = Object.fromEntries(u.searchParams);
    const mark = stack.logs.mark();
    const before = op.count('/token');
    const r = await b.submit(`${u.origin}${u.pathname}`, fields, { from: op.issuer });
    assertRefusal(r, { status: 400, code: 'invalid_callback' });
    await assertLogged(stack.logs, mark, /POST \/auth\/callback: invalid_callback/);
    assertNoSessionSet(r);
    assert.equal(op.count('/token'), before, 'the code taken from the form was not redeemed');
    await me(b, origin, 401);
  });
});
