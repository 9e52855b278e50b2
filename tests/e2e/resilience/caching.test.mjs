// Caching of the IdP's discovery document and keys (issue 6), end to end through the real worker in workerd
// with the scriptable test OP (tests/support/fake-idp/op.mjs), whose Cache-Control each test sets:
//
// - the IdP's max-age decides how long an answer is fresh: it is fetched once for any number of sign-ins, and
//   the copy in the location's Cache API records its expiry (x-edge-auth-fresh-until), bounded to 5 min – 24 h;
//   `no-store` keeps it out of the Cache API;
// - stale-while-revalidate: a fresh isolate takes a copy from the Cache API with only a few seconds left, uses
//   it, and once it is stale answers the next sign-in from it at once while one background refresh fetches the
//   new document, which the sign-in after uses;
// - a Cache API copy past its recorded expiry (or without one) is a miss: the IdP is asked; when the IdP cannot
//   answer, a copy less than a day past its expiry is used instead (stale-if-error for a fresh isolate);
// - across isolates: a second worker sharing the persisted Cache API (Miniflare `cachePersist`, the first
//   worker disposed) signs in without asking the IdP for discovery or keys again — unless the IdP said
//   `no-store`.
//
// - only documents are cached, in edge-auth's own cache, authenticated (issue 10 §4): per-user UserInfo answers
//   are never shared (two users whose ID tokens lack the email each get their own), edge-auth's copies live in
//   `caches.open("edge-auth")` with a MAC derived from SESSION_KEYS, and documents another Worker of the zone
//   plants — in `caches.default`, or in edge-auth's cache without a valid MAC — are ignored: the sign-in goes to
//   the real IdP, the planted token endpoint is never called, a token signed with the planted key is refused.
//
// workerd's clock cannot be moved, so the isolate's own expiry after max-age (at least 5 minutes) is tested on
// the host (tests/flow.rs, `in_memory_freshness_follows_the_platforms_fresh_for` and the stale-while-revalidate
// tests); here short lifetimes come from Cache API copies whose recorded expiry the test sets.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Browserless, COMPATIBILITY_DATE, randomKey, startWorker } from '../../support/harness.mjs';
import { DOCUMENT_MAC_HEADER, documentMac, EDGE_AUTH_CACHE, generateKey, OMIT } from '../../support/fake-idp/index.mjs';
import { expectAccepted, expectRefused, startHostileStack, throughWorker } from '../../support/stacks.mjs';

const DISCOVERY = '/.well-known/openid-configuration';
const FRESH_UNTIL = 'x-edge-auth-fresh-until';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Poll `fn()` until it is truthy (or `timeoutMs` passed); returns its last value. */
async function eventually(fn, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await sleep(25);
  }
}

/** Run `fn(stack)` against a fresh worker; always disposes of worker and providers. */
async function withStack(connectors, fn, { cachePersist } = {}) {
  const stack = await startHostileStack({
    connectors,
    worker: cachePersist ? { miniflare: { cachePersist } } : {},
  });
  try {
    return await fn(stack);
  } finally {
    await stack.close();
  }
}

/** A directory for a persisted Cache API, removed after `fn`. */
async function withCacheDir(fn) {
  const dir = await mkdtemp(path.join(tmpdir(), 'edge-auth-cache-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The worker's Cache API copy of `url` (a Response) in edge-auth's own cache (or `cacheName`), or undefined. */
async function cached(worker, url, cacheName = EDGE_AUTH_CACHE) {
  const caches = await worker.mf.getCaches();
  return (cacheName === 'default' ? caches.default : await caches.open(cacheName)).match(url);
}

/**
 * Put a copy of `doc` at `url` in edge-auth's cache, as the worker would: the given expiry header and the MAC
 * under the stack's SESSION_KEYS (computed here independently of the worker: tests/support/fake-idp/codec.mjs).
 */
async function seed(stack, url, doc, freshUntil) {
  const caches = await stack.worker.mf.getCaches();
  const body = JSON.stringify(doc);
  const headers = { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' };
  if (freshUntil !== undefined) {
    headers[FRESH_UNTIL] = String(freshUntil);
    headers[DOCUMENT_MAC_HEADER] = documentMac(stack.sessionKeys, url, freshUntil, body);
  }
  const { Response } = await import('miniflare'); // Node's own Response cannot cross into workerd
  await (await caches.open(EDGE_AUTH_CACHE)).put(url, new Response(body, { headers }));
}

/** GET /auth/login?connector=… : the redirect to the IdP. */
async function startLogin(stack, connector) {
  const r = await new Browserless().navigate(`${stack.origin}/auth/login?connector=${connector}`);
  assert.equal(r.status, 302, `${r.describe(600)}\nworker log:\n${stack.logs.since(0).join('\n')}`);
  return { location: new URL(r.location) };
}

/** Assert a recorded expiry of about `seconds` from now. */
function assertFreshFor(copy, seconds, what) {
  assert.ok(copy, `${what}: a copy is in the Cache API`);
  const until = Number(copy.headers.get(FRESH_UNTIL));
  const left = until - nowSeconds();
  assert.ok(Math.abs(left - seconds) <= 10, `${what}: fresh for ${left} s, expected about ${seconds} s`);
  // The location keeps it a day past its freshness, for stale-if-error.
  assert.equal(copy.headers.get('cache-control'), `public, max-age=${seconds + 86_400}`, what);
}

describe("the IdP's Cache-Control decides how long discovery and keys are fresh", () => {
  test('fetched once for several sign-ins; the Cache API copy records max-age, bounded to 5 min – 24 h; no-store is not stored', async () => {
    const maxAge = (value) => ({ op: { cacheControl: { [DISCOVERY]: value, '/jwks': value } } });
    await withStack(
      [
        { id: 'main', ...maxAge('public, max-age=600') },
        { id: 'tiny', ...maxAge('max-age=30') },
        { id: 'huge', ...maxAge('public, max-age=864000') },
        { id: 'nostore', ...maxAge('no-store') },
      ],
      async (stack) => {
        const op = stack.ops.main;
        for (let i = 0; i < 3; i++) await expectAccepted(stack, { connector: 'main' });
        assert.equal(op.count(DISCOVERY), 1, 'discovery fetched once for three sign-ins');
        assert.equal(op.count('/jwks'), 1, 'keys fetched once for three sign-ins');
        assertFreshFor(await cached(stack.worker, `${op.issuer}${DISCOVERY}`), 600, 'max-age=600 discovery');
        assertFreshFor(await cached(stack.worker, `${op.issuer}/jwks`), 600, 'max-age=600 JWKS');
        // In edge-auth's own cache, with a MAC; nothing in the zone's shared caches.default.
        for (const url of [`${op.issuer}${DISCOVERY}`, `${op.issuer}/jwks`]) {
          const copy = await cached(stack.worker, url);
          const body = await copy.text();
          const mac = documentMac(stack.sessionKeys, url, Number(copy.headers.get(FRESH_UNTIL)), body);
          assert.equal(copy.headers.get(DOCUMENT_MAC_HEADER), mac, `${url}: the MAC binds URL, expiry and body`);
          assert.equal(await cached(stack.worker, url, 'default'), undefined, `${url}: not in caches.default`);
        }

        for (const id of ['tiny', 'huge', 'nostore']) await startLogin(stack, id);
        assertFreshFor(await cached(stack.worker, `${stack.ops.tiny.issuer}${DISCOVERY}`), 300, 'max-age=30: the 5 min floor');
        assertFreshFor(await cached(stack.worker, `${stack.ops.huge.issuer}${DISCOVERY}`), 86_400, 'max-age=10 days: the 24 h cap');
        assert.equal(await cached(stack.worker, `${stack.ops.nostore.issuer}${DISCOVERY}`), undefined, 'no-store: not in the Cache API');
        // no-store is still kept in the isolate's memory (5 min): a second login does not ask again.
        await startLogin(stack, 'nostore');
        assert.equal(stack.ops.nostore.count(DISCOVERY), 1);
      },
    );
  });
});

describe('stale-while-revalidate', () => {
  test('a stale document answers at once, one background refresh fetches the new one, the next sign-in uses it', async () => {
    await withStack([{ id: 'main', op: { cacheControl: { [DISCOVERY]: 'public, max-age=600' } } }], async (stack) => {
      const op = stack.ops.main;
      const url = `${op.issuer}${DISCOVERY}`;
      // The location's cache holds the document with 4 s left; the isolate has not seen it yet.
      const until = nowSeconds() + 4;
      await seed(stack, url, op.discoveryDocument(), until);

      const first = await startLogin(stack, 'main');
      assert.equal(first.location.pathname, '/authorize');
      assert.equal(op.count(DISCOVERY), 0, 'served from the Cache API');

      // The IdP moves its authorization endpoint; our copy's remaining seconds run out.
      op.setDiscovery({ authorization_endpoint: `${op.issuer}/authorize-v2` });
      await sleep((until + 1) * 1000 - Date.now() + 100);
      const mark = stack.logs.mark();
      const stale = await startLogin(stack, 'main');
      // "At once" without a stopwatch: had the worker waited for the refresh, it would have answered with the
      // moved endpoint.
      assert.equal(stale.location.pathname, '/authorize', 'answered from the stale document, not after the refresh');
      assert.ok(await eventually(() => op.count(DISCOVERY) === 1), `one background refresh reached the IdP (log: ${stack.logs.since(mark).join(' | ')})`);

      const fresh = await eventually(async () => {
        const { location } = await startLogin(stack, 'main');
        return location.pathname === '/authorize-v2' && location;
      });
      assert.ok(fresh, 'the refreshed document is used');
      assert.equal(op.count(DISCOVERY), 1, 'exactly one refetch');
      assertFreshFor(await cached(stack.worker, url), 600, 'the refreshed copy in the Cache API');
      assert.deepEqual(stack.logs.since(mark), [], 'nothing to report');
    });
  });

  test('a Cache API copy past its recorded expiry, or without one, is a miss: the IdP is asked', async () => {
    await withStack([{ id: 'expired' }, { id: 'unmarked' }], async (stack) => {
      for (const [id, freshUntil] of [['expired', nowSeconds() - 10], ['unmarked', undefined]]) {
        const op = stack.ops[id];
        await seed(stack, `${op.issuer}${DISCOVERY}`, op.discoveryDocument(), freshUntil);
        op.setDiscovery({ authorization_endpoint: `${op.issuer}/authorize-v2` });
        const { location } = await startLogin(stack, id);
        assert.equal(op.count(DISCOVERY), 1, `${id}: fetched from the IdP`);
        assert.equal(location.pathname, '/authorize-v2', `${id}: the IdP's document is used`);
      }
    });
  });
});

describe('stale-if-error across isolates', () => {
  test("the IdP down: a fresh isolate uses the location's expired copy instead of failing; a copy a day past its freshness is not used", async () => {
    await withStack([{ id: 'recent' }, { id: 'old' }], async (stack) => {
      const { recent, old } = stack.ops;
      await seed(stack, `${recent.issuer}${DISCOVERY}`, recent.discoveryDocument(), nowSeconds() - 600);
      await seed(stack, `${old.issuer}${DISCOVERY}`, old.discoveryDocument(), nowSeconds() - 86_400 - 60);
      await recent.close();
      await old.close();
      const mark = stack.logs.mark();
      const { location } = await startLogin(stack, 'recent');
      assert.equal(location.origin + location.pathname, `${recent.issuer}/authorize`, 'the expired copy routes the sign-in');
      const told = await stack.logs.waitForEvent('idp_fetch_failed', { stale: true, url: /\/\.well-known\/openid-configuration$/ }, mark);
      assert.ok(told && /using the expired copy in the location's cache/.test(told.message), `the operator is told\n${stack.logs.since(mark).join('\n')}`);
      const r = await new Browserless().navigate(`${stack.origin}/auth/login?connector=old`);
      assert.equal(r.status, 502, `beyond the stale window: the IdP error page\n${r.describe(300)}`);
    });
  });
});

describe('across isolates: the Cache API of the location', () => {
  test("a second worker signs in without asking the IdP for discovery or keys again; with no-store it asks", async () => {
    await withCacheDir(async (cachePersist) => {
      const cacheable = { op: { cacheControl: { [DISCOVERY]: 'public, max-age=600', '/jwks': 'public, max-age=600' } } };
      await withStack(
        [{ id: 'main', ...cacheable }, { id: 'nostore' }],
        async (stack) => {
          const { main, nostore } = stack.ops;
          await expectAccepted(stack, { connector: 'main' });
          await startLogin(stack, 'nostore');
          assert.deepEqual([main.count(DISCOVERY), main.count('/jwks'), nostore.count(DISCOVERY)], [1, 1, 1]);

          // Another isolate: the first worker is gone, a new one (same config, its own port) shares its Cache API.
          await stack.worker.dispose();
          const second = await startWorker({
            config: stack.config,
            secrets: stack.secrets,
            sessionKeys: stack.sessionKeys,
            miniflare: { cachePersist, handleStructuredLogs: (entry) => stack.logs.push(entry) },
          });
          try {
            const view = throughWorker(stack, second);
            await expectAccepted(view, { connector: 'main' });
            assert.equal(main.count(DISCOVERY), 1, 'discovery came from the Cache API');
            assert.equal(main.count('/jwks'), 1, 'the keys came from the Cache API');
            await startLogin(view, 'nostore');
            assert.equal(nostore.count(DISCOVERY), 2, 'no-store: the new isolate asked the IdP');
          } finally {
            await second.dispose();
          }
        },
        { cachePersist },
      );
    });
  });
});

describe("a key rotation the location's cache has not seen (review of issue 10)", () => {
  test("a cold isolate whose location's cache holds the key set from before the rotation refetches it once and signs in", async () => {
    await withStack([{ id: 'main' }], async (stack) => {
      const op = stack.ops.main;
      // The location's cache has the set from before the rotation, fresh for 10 more minutes.
      await seed(stack, `${op.issuer}/jwks`, op.publishedJwks(), nowSeconds() + 600);
      await op.rotateKeys({ alg: 'RS256' });
      // Before: the cached set was taken for "just fetched", the new kid refused without a refetch.
      await expectAccepted(stack, { connector: 'main' });
      assert.equal(op.count('/jwks'), 1, 'one refetch past the cache');
      await expectAccepted(stack, { connector: 'main' });
      assert.equal(op.count('/jwks'), 1, 'and the refetched set is used from then on');
    });
  });
});

describe('an IdP answer that is no document (review of issue 10)', () => {
  test("a maintenance page the IdP answered with 200 and a max-age does not keep failing sign-ins from the location's cache once the IdP is fine again", async () => {
    await withStack([{ id: 'main', op: { cacheControl: { '/jwks': 'public, max-age=600' } } }], async (stack) => {
      const op = stack.ops.main;
      op.setJwks('<html>down for maintenance</html>');
      await expectRefused(stack, { connector: 'main', code: 'idp_unreachable', status: 502, recover: false });
      op.setJwks(null);
      const mark = op.mark();
      // Before: the page, kept in the location's cache for 10 minutes, failed every sign-in of the isolate.
      await expectAccepted(stack, { connector: 'main' });
      assert.equal(op.count('/jwks', mark), 1, 'asked once more, past the cache');
      assert.equal((await (await cached(stack.worker, `${op.issuer}/jwks`)).json()).keys.length, op.publishedJwks().keys.length);
    });
  });
});

describe('per-user answers are never shared (issue 10 §4)', () => {
  test('two users whose ID tokens lack the email sign in one after the other: each gets their own email from UserInfo', async () => {
    // One IdP says nothing about caching its UserInfo answers, the other even marks them public for 10 minutes:
    // either way they are one user's, and must not answer the next user's sign-in.
    const noEmail = { claims: { email: OMIT, email_verified: OMIT } };
    await withStack(
      [
        { id: 'quiet', op: { cacheControl: { '/userinfo': OMIT } } },
        { id: 'public', op: { cacheControl: { '/userinfo': 'public, max-age=600' } } },
      ],
      async (stack) => {
        for (const id of ['quiet', 'public']) {
          const op = stack.ops[id];
          op.setDiscovery({ userinfo_endpoint: `${op.issuer}/userinfo` });
          op.setCase(noEmail);
          for (const user of ['alice', 'bob', 'carol']) {
            await expectAccepted(stack, { connector: id, email: `${user}@${id}.example` });
          }
          assert.equal(op.count('/userinfo'), 3, `${id}: UserInfo asked once per sign-in`);
          assert.ok(op.tokenRequests.every((t) => !JSON.parse(Buffer.from(t.idToken.split('.')[1], 'base64url')).email), 'the ID tokens had no email');
          for (const cacheName of [EDGE_AUTH_CACHE, 'default']) {
            assert.equal(await cached(stack.worker, `${op.issuer}/userinfo`, cacheName), undefined, `${id}: no UserInfo answer in ${cacheName}`);
          }
        }
      },
    );
  });
});

// ------------------------------------------------------------------------------------------------------------
// Another Worker of the zone plants IdP documents
// ------------------------------------------------------------------------------------------------------------

/** A Worker of the same zone (another script, same location cache): puts what it is told in the named cache. */
const PLANTER = `
export default {
  async fetch(request) {
    const plants = await request.json();
    for (const { cache, url, body, headers } of plants) {
      const target = cache === 'default' ? caches.default : await caches.open(cache);
      await target.put(url, new Response(body, { headers }));
    }
    return new Response('planted ' + plants.length);
  },
};
`;

/** Run the planting Worker on the persisted cache `cachePersist`, plant `plants`, and stop it. */
async function plantWithAnotherWorker(cachePersist, plants) {
  const { Miniflare } = await import('miniflare');
  const mf = new Miniflare({ modules: true, script: PLANTER, compatibilityDate: COMPATIBILITY_DATE, cf: false, cachePersist });
  try {
    const r = await mf.dispatchFetch('http://planter.example/', { method: 'POST', body: JSON.stringify(plants) });
    assert.equal(await r.text(), `planted ${plants.length}`);
  } finally {
    await mf.dispose();
  }
}

/** A server standing in for the attacker's token endpoint: records every request. */
async function startAttackerServer() {
  const server = (await import('node:http')).createServer((req, res) => {
    server.hits.push(`${req.method} ${req.url}`);
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":"invalid_grant"}');
  });
  server.hits = [];
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.url = `http://127.0.0.1:${server.address().port}`;
  return server;
}

describe('another Worker of the zone cannot plant IdP documents (issue 10 §4)', () => {
  test("planted in caches.default, or in edge-auth's cache without a valid MAC: ignored, the real IdP is asked, the planted token endpoint never called, the planted key refused", async () => {
    const attacker = await startAttackerServer();
    const attackerKey = await generateKey({ alg: 'RS256', kid: 'planted-key' });
    const ids = ['defaultdisco', 'defaultjwks', 'nomac', 'othermac', 'stretched', 'ownjwks'];
    try {
      await withCacheDir(async (cachePersist) => {
        await withStack(
          ids.map((id) => ({ id })),
          async (stack) => {
            // The worker has not asked anything yet; it stops while another Worker of the zone plants documents
            // at the IdPs' real URLs, then a new isolate starts on the same location cache.
            await stack.worker.dispose();
            const { ops } = stack;
            const now = nowSeconds();
            const until = now + 3600;
            const headers = (extra = {}) => ({ 'content-type': 'application/json', 'cache-control': 'public, max-age=86400', [FRESH_UNTIL]: String(until), ...extra });
            const discoveryUrl = (id) => `${ops[id].issuer}${DISCOVERY}`;
            const jwksUrl = (id) => `${ops[id].issuer}/jwks`;
            // A discovery document sending the code (and the client's credentials) to the attacker.
            const poisoned = (id) => JSON.stringify({ ...ops[id].discoveryDocument(), token_endpoint: `${attacker.url}/token-${id}` });
            // The IdP's real keys plus the attacker's.
            const withAttackerKey = (id) => JSON.stringify({ keys: [...ops[id].publishedJwks().keys, attackerKey.publicJwk] });
            const mac = (keys, id, freshUntil) => documentMac(keys, discoveryUrl(id), freshUntil, poisoned(id));
            await plantWithAnotherWorker(cachePersist, [
              { cache: 'default', url: discoveryUrl('defaultdisco'), body: poisoned('defaultdisco'), headers: headers() },
              { cache: 'default', url: jwksUrl('defaultjwks'), body: withAttackerKey('defaultjwks'), headers: headers() },
              { cache: EDGE_AUTH_CACHE, url: discoveryUrl('nomac'), body: poisoned('nomac'), headers: headers() },
              // A MAC under SESSION_KEYS the planter made up.
              { cache: EDGE_AUTH_CACHE, url: discoveryUrl('othermac'), body: poisoned('othermac'), headers: headers({ [DOCUMENT_MAC_HEADER]: mac(randomKey(), 'othermac', until) }) },
              // A MAC under the right key, but for an expiry two days past: the expiry header was moved forward.
              { cache: EDGE_AUTH_CACHE, url: discoveryUrl('stretched'), body: poisoned('stretched'), headers: headers({ [DOCUMENT_MAC_HEADER]: mac(stack.sessionKeys, 'stretched', now - 2 * 86_400) }) },
              { cache: EDGE_AUTH_CACHE, url: jwksUrl('ownjwks'), body: withAttackerKey('ownjwks'), headers: headers() },
            ]);
            const second = await startWorker({
              config: stack.config,
              secrets: stack.secrets,
              sessionKeys: stack.sessionKeys,
              miniflare: { cachePersist, handleStructuredLogs: (entry) => stack.logs.push(entry) },
            });
            try {
              const view = throughWorker(stack, second);
              for (const id of ids) {
                const op = ops[id];
                await expectAccepted(view, { connector: id });
                assert.equal(op.count(DISCOVERY), 1, `${id}: the discovery document came from the IdP`);
                assert.equal(op.tokenRequests.length, 1, `${id}: the code went to the IdP's token endpoint`);
                await expectRefused(view, { connector: id, spec: { key: attackerKey, header: { kid: attackerKey.kid } }, code: 'id_token_invalid', recover: false });
              }
              assert.deepEqual(attacker.hits, [], 'the planted token endpoints were never called');
              const warnings = stack.logs.events(0, 'cache').filter((e) => /ignored the copy .* MAC is missing or wrong/.test(e.message));
              for (const url of [discoveryUrl('nomac'), discoveryUrl('othermac'), discoveryUrl('stretched'), jwksUrl('ownjwks')]) {
                assert.equal(warnings.filter((e) => e.url === url).length, 1, `${url}: the operator is told, once\n${warnings.map((e) => JSON.stringify(e)).join('\n')}`);
              }
            } finally {
              await second.dispose();
            }
          },
          { cachePersist },
        );
      });
    } finally {
      await new Promise((resolve) => attacker.close(resolve));
    }
  });
});
