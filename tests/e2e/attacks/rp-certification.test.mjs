// The OpenID Foundation's RP-certification checks for the Basic and Config profiles (test ids rp-...), run
// against the real worker in workerd with the hostile test provider (tests/support/fake-idp/op.mjs). Every
// refused case also checks: a 4xx page with the error code, no session cookie, /auth/me still 401, and the
// very next valid sign-in through the same connector succeeds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, TX_COOKIE } from '../../support/harness.mjs';
import { generateKey, OMIT } from '../../support/fake-idp/index.mjs';
import { expectAccepted, expectRefused, startHostileStack } from '../../support/stacks.mjs';

let stack;
let origin;
before(async () => {
  stack = await startHostileStack({
    connectors: [
      // RS256 + ES256 keys with kids; client_secret_basic
      { id: 'basic' },
      { id: 'post', authMethod: 'client_secret_post' },
      // no token_endpoint_auth_method in AUTH_CONFIG: chosen from the provider's discovery document
      {
        id: 'auto',
        authMethod: 'client_secret_post',
        configAuthMethod: null,
        op: { discovery: { token_endpoint_auth_methods_supported: ['client_secret_post'] } },
      },
      // registered at the provider for client_secret_post, configured for client_secret_basic
      { id: 'wrongauth', authMethod: 'client_secret_post', configAuthMethod: 'client_secret_basic' },
      // a JWKS of exactly one key, without kid
      { id: 'single', op: { keys: [{ alg: 'RS256', kid: null }] } },
      // two RSA keys
      { id: 'multi', op: { keys: [{ alg: 'RS256' }, { alg: 'RS256' }] } },
      { id: 'rotation', op: { keys: [{ alg: 'RS256' }] } },
      { id: 'retire', op: { keys: [{ alg: 'RS256' }] } },
      // discovery documents whose issuer differs from the configured one
      { id: 'liar-other' },
      { id: 'liar-slash' },
      { id: 'liar-host' },
      { id: 'liar-missing' },
    ],
  });
  origin = stack.origin;
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

const ID_TOKEN_INVALID = { code: 'id_token_invalid', status: 400 };

describe('Basic profile: ID-token signatures and keys', () => {
  test('rp-id_token-sig-rs256: a valid RS256 token is accepted', async () => {
    const { tokenRequests } = await expectAccepted(stack, { connector: 'basic' });
    assert.match(tokenRequests[0].idToken, /^eyJ/);
    assert.equal(JSON.parse(Buffer.from(tokenRequests[0].idToken.split('.')[0], 'base64url')).alg, 'RS256');
  });

  test('rp-id_token-sig-es256: a valid ES256 token is accepted', async () => {
    const es = stack.ops.basic.key('ES256');
    await expectAccepted(stack, { connector: 'basic', spec: { header: { alg: 'ES256', kid: es.kid } } });
  });

  test('rp-id_token-kid-absent-single-jwks: no kid, exactly one key in the JWKS -> accepted', async () => {
    assert.equal(stack.ops.single.publishedJwks().keys.length, 1);
    assert.equal(stack.ops.single.publishedJwks().keys[0].kid, undefined);
    await expectAccepted(stack, { connector: 'single', spec: { header: { kid: OMIT } } });
  });

  test('no kid, one suitable key among keys of other types (RSA + EC, RS256 token) -> accepted', async () => {
    await expectAccepted(stack, { connector: 'basic', spec: { header: { kid: OMIT } } });
  });

  test('rp-id_token-kid-absent-multiple-jwks: no kid, two RSA keys -> the worker rejects the token', async () => {
    assert.equal(stack.ops.multi.publishedJwks().keys.length, 2);
    await expectRefused(stack, {
      connector: 'multi',
      spec: { header: { kid: OMIT } },
      ...ID_TOKEN_INVALID,
      reason: /no kid and several keys/,
    });
  });

  test('rp-id_token-bad-sig-rs256: a flipped bit in the RS256 signature -> refused', async () => {
    await expectRefused(stack, {
      connector: 'basic',
      spec: { signature: (sig) => Buffer.from(sig.map((b, i) => (i === 17 ? b ^ 0x01 : b))) },
      ...ID_TOKEN_INVALID,
      reason: /signature is invalid/,
    });
  });

  test('rp-id_token-bad-sig-es256: a flipped bit in the ES256 signature -> refused', async () => {
    const es = stack.ops.basic.key('ES256');
    await expectRefused(stack, {
      connector: 'basic',
      spec: {
        header: { alg: 'ES256', kid: es.kid },
        signature: (sig) => Buffer.from(sig.map((b, i) => (i === 40 ? b ^ 0x80 : b))),
      },
      ...ID_TOKEN_INVALID,
      reason: /signature is invalid/,
    });
  });

  test('rp-id_token-sig-none: an unsigned token (alg none, empty signature) -> refused', async () => {
    await expectRefused(stack, {
      connector: 'basic',
      spec: { header: { alg: 'none', kid: OMIT }, signAs: 'none' },
      ...ID_TOKEN_INVALID,
      reason: /compact JWS|not accepted/,
    });
  });
});

describe('Basic profile: ID-token claims', () => {
  test('rp-nonce-invalid: a nonce that is not this login\'s -> refused', async () => {
    await expectRefused(stack, { connector: 'basic', spec: { claims: { nonce: 'not-the-nonce' } }, ...ID_TOKEN_INVALID, reason: /nonce does not match/ });
  });

  test('rp-id_token-aud: an aud that is not the client_id -> refused', async () => {
    await expectRefused(stack, { connector: 'basic', spec: { claims: { aud: 'some-other-client' } }, ...ID_TOKEN_INVALID, reason: /aud does not contain/ });
  });

  test('rp-id_token-aud: no aud -> refused', async () => {
    await expectRefused(stack, { connector: 'basic', spec: { claims: { aud: OMIT } }, ...ID_TOKEN_INVALID, reason: /missing field `aud`/ });
  });

  test('rp-id_token-iat: no iat -> refused', async () => {
    await expectRefused(stack, { connector: 'basic', spec: { claims: { iat: OMIT } }, ...ID_TOKEN_INVALID, reason: /missing field `iat`/ });
  });

  test('rp-id_token-sub: no sub -> refused', async () => {
    await expectRefused(stack, { connector: 'basic', spec: { claims: { sub: OMIT } }, ...ID_TOKEN_INVALID, reason: /missing field `sub`/ });
  });

  test('rp-id_token-issuer-mismatch: an iss that is not the issuer -> refused', async () => {
    await expectRefused(stack, {
      connector: 'basic',
      spec: { claims: { iss: 'https://issuer.evil.example' } },
      ...ID_TOKEN_INVALID,
      reason: /iss "https:\/\/issuer\.evil\.example" is not the issuer/,
    });
  });
});

describe('Config profile: discovery', () => {
  const variants = {
    'liar-other': (op) => 'https://issuer.evil.example',
    'liar-slash': (op) => `${op.issuer}/`,
    'liar-host': (op) => op.issuer.replace('127.0.0.1', 'localhost'),
    'liar-missing': () => OMIT,
  };
  const labels = {
    'liar-other': 'another issuer',
    'liar-slash': 'the issuer with a trailing slash',
    'liar-host': 'the same port on localhost',
    'liar-missing': 'no issuer at all',
  };
  for (const [id, issuerOf] of Object.entries(variants)) {
    test(`rp-discovery-issuer-not-matching-config: discovery states ${labels[id]} -> 502 idp_unreachable at /auth/login, no redirect`, async () => {
      const op = stack.ops[id];
      op.setDiscovery({ issuer: issuerOf(op) });
      const mark = op.mark();
      const logMark = stack.logs.mark();
      const b = new Browserless();
      try {
        const r = await b.navigate(`${origin}/auth/login?email=${encodeURIComponent(`alice@${id}.example`)}`);
        assertRefusal(r, { status: 502, code: 'idp_unreachable' });
        assert.equal(r.headers.get('location'), null, r.describe());
        assert.equal(r.setCookie(TX_COOKIE), undefined, `no login transaction is started\n${r.describe()}`);
        assert.ok(await stack.logs.waitFor(/issuer|missing field `issuer`/, logMark), stack.logs.since(logMark).join('\n'));
        // Asked once more past every cache: the first answer may have been a copy the location's cache kept.
        assert.equal(op.count('/.well-known/openid-configuration', mark), 2);
        assert.equal(op.count('/authorize', mark), 0, 'the browser was never sent to the provider');
        await me(b, origin, 401);
      } finally {
        op.setDiscovery(null);
      }
      // The bad document was not cached: once the provider states the right issuer, sign-in works.
      await expectAccepted(stack, { connector: id });
    });
  }

  test('rp-discovery-openid-configuration / rp-discovery-jwks_uri-keys: endpoints and keys come from discovery', async () => {
    // The 'basic' connector signed in above: discovery once, JWKS once, then cached.
    const op = stack.ops.basic;
    assert.equal(op.count('/.well-known/openid-configuration'), 1, 'discovery fetched once per isolate');
    assert.equal(op.count('/jwks'), 1, 'JWKS fetched once per isolate');
    assert.ok(op.count('/token') >= 3);
  });
});

describe('Config profile: key rotation (rp-key-rotation-op-sign-key)', () => {
  test('a new signing key verifies after exactly one JWKS refetch; the old key still verifies while published; an unknown kid within the 60 s cooldown is refused without refetching', async () => {
    const op = stack.ops.rotation;
    let mark = op.mark();
    await expectAccepted(stack, { connector: 'rotation' });
    assert.equal(op.count('/jwks', mark), 1, 'first sign-in fetches the JWKS');

    const { previous, current } = await op.rotateKeys({ alg: 'RS256' });
    assert.notEqual(previous.kid, current.kid);
    assert.deepEqual(op.publishedJwks().keys.map((k) => k.kid), [previous.kid, current.kid]);

    mark = op.mark();
    await expectAccepted(stack, { connector: 'rotation' }); // signed with the new key
    assert.equal(op.count('/jwks', mark), 1, 'the unknown kid caused exactly one JWKS refetch');

    mark = op.mark();
    await expectAccepted(stack, { connector: 'rotation', spec: { key: previous, header: { kid: previous.kid } } });
    assert.equal(op.count('/jwks', mark), 0, 'the old key is still in the refetched set: no fetch');

    // An unknown kid right after the forced refetch: refused, and no further JWKS request (cooldown).
    const stranger = await generateKey({ alg: 'RS256', kid: 'never-published' });
    mark = op.mark();
    await expectRefused(stack, {
      connector: 'rotation',
      spec: { key: stranger, header: { kid: stranger.kid } },
      ...ID_TOKEN_INVALID,
      reason: /no key with the token's kid/,
    });
    assert.equal(op.count('/jwks', mark), 0, 'no JWKS refetch during the 60 s cooldown');

    // Consequence of the rate limit, documented: a second rotation within 60 s is not picked up yet.
    const second = await op.rotateKeys({ alg: 'RS256' });
    mark = op.mark();
    await expectRefused(stack, {
      connector: 'rotation',
      spec: { key: second.current, header: { kid: second.current.kid } },
      ...ID_TOKEN_INVALID,
      reason: /no key with the token's kid/,
      recover: false,
    });
    assert.equal(op.count('/jwks', mark), 0, 'still cooling down');
    await expectAccepted(stack, { connector: 'rotation', spec: { key: current, header: { kid: current.kid } } });
  });

  test('a retired key (no longer published) is refused once the worker has refetched the JWKS', async () => {
    const op = stack.ops.retire;
    await expectAccepted(stack, { connector: 'retire' });
    const { previous } = await op.rotateKeys({ alg: 'RS256', retire: true });
    assert.deepEqual(op.publishedJwks().keys.length, 1);
    let mark = op.mark();
    await expectAccepted(stack, { connector: 'retire' }); // new key: one refetch
    assert.equal(op.count('/jwks', mark), 1);
    mark = op.mark();
    await expectRefused(stack, {
      connector: 'retire',
      spec: { key: previous, header: { kid: previous.kid } },
      ...ID_TOKEN_INVALID,
      reason: /no key with the token's kid/,
    });
    assert.equal(op.count('/jwks', mark), 0);
  });
});

describe('Client authentication at the token endpoint (the provider checks it)', () => {
  test('rp-token_endpoint-client_secret_basic: Basic credentials, no secret in the body', async () => {
    const op = stack.ops.basic;
    const mark = op.mark();
    await expectAccepted(stack, { connector: 'basic' });
    const [tokenReq] = op.requests.slice(mark).filter((r) => r.path === '/token');
    assert.match(tokenReq.headers.authorization || '', /^Basic /);
    const body = new URLSearchParams(tokenReq.body);
    assert.equal(body.get('client_secret'), null);
    assert.equal(body.get('grant_type'), 'authorization_code');
    assert.match(body.get('code_verifier') || '', /^[A-Za-z0-9_-]{43,128}$/);
    assert.equal(op.tokenRequests.at(-1).authMethod, 'client_secret_basic');
  });

  test('rp-token_endpoint-client_secret_post: credentials in the body, no Authorization header', async () => {
    const op = stack.ops.post;
    const mark = op.mark();
    await expectAccepted(stack, { connector: 'post' });
    const [tokenReq] = op.requests.slice(mark).filter((r) => r.path === '/token');
    assert.equal(tokenReq.headers.authorization, undefined);
    const body = new URLSearchParams(tokenReq.body);
    assert.equal(body.get('client_id'), stack.byId.post.clientId);
    assert.equal(body.get('client_secret'), stack.byId.post.clientSecret);
    assert.equal(op.tokenRequests.at(-1).authMethod, 'client_secret_post');
  });

  test('without a configured method the worker uses the one discovery offers (client_secret_post)', async () => {
    await expectAccepted(stack, { connector: 'auto' });
    assert.equal(stack.ops.auto.tokenRequests.at(-1).authMethod, 'client_secret_post');
  });

  test('a provider that refuses the client authentication -> token_exchange_failed (502), no session', async () => {
    await expectRefused(stack, {
      connector: 'wrongauth',
      code: 'token_exchange_failed',
      status: 502,
      reason: /invalid_client/,
      recover: false,
    });
    assert.match(stack.ops.wrongauth.tokenRequests.at(-1).outcome, /invalid_client: client authenticated with client_secret_basic, registered client_secret_post/);
  });
});

describe('rp-response_type-code: the authorization request', () => {
  test('code flow with PKCE S256, state, nonce, scope openid, the registered redirect URI; fresh values each time', async () => {
    const op = stack.ops.basic;
    const before = op.authRequests.length;
    await expectAccepted(stack, { connector: 'basic' });
    await expectAccepted(stack, { connector: 'basic' });
    const [a, b] = op.authRequests.slice(before);
    for (const q of [a, b]) {
      assert.equal(q.response_type, 'code');
      assert.equal(q.client_id, stack.byId.basic.clientId);
      assert.equal(q.redirect_uri, `${origin}/auth/callback`);
      assert.ok(q.scope.split(' ').includes('openid'), q.scope);
      assert.equal(q.code_challenge_method, 'S256');
      assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
      assert.ok(q.state.length >= 32 && q.nonce.length >= 32, JSON.stringify(q));
      assert.equal(q.login_hint, 'alice@basic.example');
    }
    assert.notEqual(a.state, b.state);
    assert.notEqual(a.nonce, b.nonce);
    assert.notEqual(a.code_challenge, b.code_challenge);
  });
});
