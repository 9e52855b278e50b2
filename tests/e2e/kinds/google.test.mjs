// Connector kind "google", end to end through the real worker in workerd against a Google-shaped provider
// (tests/support/fake-idp/shapes.mjs): the default issuer https://accounts.google.com (reached through the test
// outbound router, with Google's real token/JWKS hosts), an `issuer` override, Workspace `hosted_domains` (one
// domain: hd=DOMAIN; several: hd=*), both documented `iss` spellings, and the ways a Google account can fail to
// be the organisation's: no `hd` (a consumer account, even one created with a work address), another `hd`, a
// tampered `hd` in the redirect, an address outside the connector's domains, an unverified address.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, randomKey, TX_COOKIE } from '../../support/harness.mjs';
import { GOOGLE_API_ORIGINS, OMIT, startGoogleOp } from '../../support/fake-idp/index.mjs';
import { expectRefusedSignIn, expectSignedIn, startShapeStack } from '../../support/stacks.mjs';

const GOOGLE = 'https://accounts.google.com';
const WORKSPACES = ['acme.example', 'globex.example', 'globex-labs.example', 'initech.example', 'other-ws.example'];

let stack;
let google; // issuer https://accounts.google.com (routed)
let local; // issuer = its own http://127.0.0.1 URL (connector `issuer` override)

before(async () => {
  stack = await startShapeStack(async ({ redirectUri }) => {
    const client = { client_id: `1234567890-${randomKey(8).toLowerCase()}.apps.googleusercontent.com`, client_secret: `GOCSPX-${randomKey(18)}`, redirect_uris: [redirectUri] };
    google = await startGoogleOp({ name: 'google', clients: [client], workspaces: WORKSPACES, issuer: GOOGLE });
    local = await startGoogleOp({ name: 'google-local', clients: [client], workspaces: WORKSPACES });
    const common = { kind: 'google', client_id: client.client_id, client_secret_binding: 'GOOGLE_CLIENT_SECRET' };
    return {
      ops: { google, local },
      secrets: { GOOGLE_CLIENT_SECRET: client.client_secret },
      routes: Object.fromEntries(GOOGLE_API_ORIGINS.map((o) => [o, google.url])),
      connectors: [
        { id: 'acme', ...common, hosted_domains: ['acme.example'], domains: ['acme.example'] },
        { id: 'initech', ...common, hosted_domains: ['Initech.Example'], response_mode: 'form_post', domains: ['initech.example'] },
        { id: 'globex', ...common, issuer: local.url, hosted_domains: ['globex.example', 'globex-labs.example'], domains: ['globex.example', 'globex-labs.example'] },
        { id: 'gmail', ...common, issuer: local.url, domains: ['gmail.example'] },
      ],
    };
  });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const mismatch = (opts) => expectRefusedSignIn(stack, { op: google, code: 'hosted_domain_mismatch', status: 403, reason: /hosted_domain_mismatch/, ...opts });

describe('one Workspace domain (hd=DOMAIN), default issuer https://accounts.google.com', () => {
  test('a Workspace user signs in; the request carries hd and login_hint; the real Google URLs were used', async () => {
    const authMark = google.authRequests.length;
    const outMark = stack.outbound.length;
    const { session } = await expectSignedIn(stack, { op: google, email: 'alice@acme.example', expect: { connector: 'acme', iss: GOOGLE, name: 'Alice' } });
    assert.match(session.sub, /^acme:\d{21}$/, 'the user id: connector:Google sub');
    const q = google.authRequests[authMark];
    assert.equal(q.hd, 'acme.example');
    assert.equal(q.login_hint, 'alice@acme.example');
    assert.equal(q.domain_hint, undefined, 'no Entra domain_hint for Google');
    assert.equal(q.code_challenge_method, 'S256');
    assert.deepEqual(q.scope.split(' ').slice(0, 3), ['openid', 'profile', 'email']);
    const urls = stack.outbound.slice(outMark).map((o) => o.url);
    assert.ok(urls.includes('https://oauth2.googleapis.com/token'), urls.join('\n'));
    assert.ok(stack.outbound.some((o) => o.url === `${GOOGLE}/.well-known/openid-configuration`), 'discovery from accounts.google.com');
    assert.ok(stack.outbound.some((o) => o.url === 'https://www.googleapis.com/oauth2/v3/certs'), 'keys from www.googleapis.com');
    assert.deepEqual(stack.outbound.filter((o) => o.target === null), [], 'nothing left the machine');
  });

  test('iss "accounts.google.com" (without https://, as Google documents) is accepted', async () => {
    await expectSignedIn(stack, { op: google, email: 'alice@acme.example', spec: { claims: { iss: 'accounts.google.com' } }, expect: { iss: 'accounts.google.com' } });
  });

  for (const iss of ['http://accounts.google.com', `${GOOGLE}/`, 'accounts.google.com/', 'ACCOUNTS.GOOGLE.COM', 'https://accounts.google.com.evil.example', 'evil.example', ' accounts.google.com']) {
    test(`iss ${JSON.stringify(iss)} -> id_token_invalid`, async () => {
      await expectRefusedSignIn(stack, { op: google, email: 'alice@acme.example', spec: { claims: { iss } }, code: 'id_token_invalid', status: 400, reason: /iss .* is not the issuer/ });
    });
  }

  test('hd missing: the user picks a consumer Google account -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'alice@acme.example', login: 'alice@gmail.example' });
  });

  test('hd missing: a consumer Google account registered with the work address -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'bob@acme.example', spec: { account: { hd: OMIT } } });
  });

  test('hd of another Workspace -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'alice@acme.example', login: 'carol@other-ws.example' });
  });

  test('hd of another Workspace with an address in the connector domain -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'bob@acme.example', spec: { account: { hd: 'other-ws.example' } } });
  });

  test('hd only in the redirect (tampered), not in the ID token -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'bob@acme.example', spec: { account: { hd: OMIT }, authResponse: { hd: 'acme.example' } } });
  });

  for (const hd of ['acme.example.evil.example', 'evil-acme.example', 'sub.acme.example', '', '*']) {
    test(`hd ${JSON.stringify(hd)} -> hosted_domain_mismatch`, async () => {
      await mismatch({ email: 'bob@acme.example', spec: { account: { hd } } });
    });
  }

  test('hd not a string -> 400 id_token_invalid (malformed claims)', async () => {
    await expectRefusedSignIn(stack, { op: google, email: 'bob@acme.example', spec: { claims: { hd: ['acme.example'] } }, code: 'id_token_invalid', status: 400, reason: /id_token_invalid \(ID token refused: the claims are malformed: invalid type: sequence, expected a string/ });
  });

  test('the right hd but an address outside the connector domains -> email_domain_mismatch', async () => {
    await expectRefusedSignIn(stack, { op: google, email: 'dan@acme.example', spec: { account: { email: 'dan@acme-subsidiary.example' } }, code: 'email_domain_mismatch', status: 403 });
  });

  test('email_verified false -> email_unverified', async () => {
    await expectRefusedSignIn(stack, { op: google, email: 'erin@acme.example', spec: { account: { email_verified: false } }, code: 'email_unverified', status: 403 });
  });

  test('a wrong at_hash -> id_token_invalid', async () => {
    await expectRefusedSignIn(stack, { op: google, email: 'alice@acme.example', spec: { claims: { at_hash: 'AAAAAAAAAAAAAAAAAAAAAA' } }, code: 'id_token_invalid', status: 400, reason: /at_hash/ });
  });

  test('the user cancels at Google: error=access_denied -> idp_error, no session', async () => {
    const b = new Browserless();
    const { response: r, callbackUrl } = await b.login({ worker: stack.origin, email: 'alice@acme.example', abortAt: 'login' });
    assert.equal(new URL(callbackUrl).searchParams.get('error'), 'access_denied');
    assertRefusal(r, { status: 403, code: 'idp_error', html: false });
    assertNoSessionSet(r);
    await me(b, stack.origin, 401);
  });
});

describe('form_post with Google', () => {
  test('response_mode=form_post: the code comes back by POST; the transaction cookie was SameSite=None; Secure', async () => {
    const authMark = google.authRequests.length;
    const b = new Browserless();
    const res = await expectSignedIn(stack, { op: google, b, email: 'frank@initech.example', expect: { connector: 'initech' } });
    const q = google.authRequests[authMark];
    assert.equal(q.response_mode, 'form_post');
    assert.equal(q.hd, 'initech.example', 'hosted_domains are normalised');
    assert.equal(res.response.method, 'POST');
    const tx = res.start.setCookie(TX_COOKIE);
    assert.ok(tx, res.start.describe());
    assert.equal(String(tx.sameSite).toLowerCase(), 'none', tx.raw);
    assert.ok(tx.secure, tx.raw);
  });
  test('form_post with a consumer account -> hosted_domain_mismatch', async () => {
    await mismatch({ email: 'frank@initech.example', spec: { account: { hd: OMIT } } });
  });
});

describe('several Workspace domains (hd=*), issuer override', () => {
  test('a user of the first domain signs in; the request says hd=*', async () => {
    const mark = local.authRequests.length;
    await expectSignedIn(stack, { op: local, email: 'gina@globex.example', expect: { connector: 'globex', iss: local.url } });
    assert.equal(local.authRequests[mark].hd, '*');
    assert.ok(local.count('/.well-known/openid-configuration') >= 1, 'discovery from the configured issuer');
  });
  test('a user of the second domain signs in', async () => {
    await expectSignedIn(stack, { op: local, email: 'hank@globex-labs.example' });
  });
  test('a user of a third Workspace -> hosted_domain_mismatch', async () => {
    await expectRefusedSignIn(stack, { op: local, email: 'gina@globex.example', login: 'ivy@other-ws.example', code: 'hosted_domain_mismatch', status: 403 });
  });
  test('no hd -> hosted_domain_mismatch', async () => {
    await expectRefusedSignIn(stack, { op: local, email: 'gina@globex.example', spec: { account: { hd: OMIT } }, code: 'hosted_domain_mismatch', status: 403 });
  });
  test('the issuer of another provider (accounts.google.com) -> id_token_invalid', async () => {
    await expectRefusedSignIn(stack, { op: local, email: 'gina@globex.example', spec: { claims: { iss: GOOGLE } }, code: 'id_token_invalid', status: 400, reason: /is not the issuer/ });
  });
});

describe('no hosted_domains (consumer accounts)', () => {
  test('a consumer account of the connector domain signs in; no hd is requested', async () => {
    const mark = local.authRequests.length;
    await expectSignedIn(stack, { op: local, email: 'jack@gmail.example', expect: { connector: 'gmail' } });
    assert.equal(local.authRequests[mark].hd, undefined);
  });
  test('a Workspace account of another domain -> email_domain_mismatch', async () => {
    await expectRefusedSignIn(stack, { op: local, email: 'jack@gmail.example', login: 'ivy@other-ws.example', code: 'email_domain_mismatch', status: 403 });
  });
});
