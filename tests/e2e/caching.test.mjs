// Caching of the IdP's discovery document and keys (issue 6), end to end through the real worker in workerd
// with the scriptable test OP (tests/support/hostile-op.mjs), whose Cache-Control each test sets:
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
// workerd's clock cannot be moved, so the isolate's own expiry after max-age (at least 5 minutes) is tested on
// the host (tests/flow.rs, `in_memory_freshness_follows_the_platforms_fresh_for` and the stale-while-revalidate
// tests); here short lifetimes come from Cache API copies whose recorded expiry the test sets.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Browserless, startWorker } from '../support/harness.mjs';
import { expectAccepted, startHostileStack } from '../support/hostile-op.mjs';

const DISCOVERY = '/.well-known/openid-configuration';
const FRESH_UNTIL = 'x-edge-auth-fresh-until';
/** "At once": an answer that waited for no IdP request. */
const FAST_MS = 2_000;

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

/** The worker's Cache API copy of `url` (a Response), or undefined. */
async function cached(worker, url) {
  const caches = await worker.mf.getCaches();
  return caches.default.match(url);
}

/** Put a copy of `doc` at `url` in the worker's Cache API, as the worker would, with the given expiry header. */
async function seed(worker, url, doc, freshUntil) {
  const caches = await worker.mf.getCaches();
  const headers = { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' };
  if (freshUntil !== undefined) headers[FRESH_UNTIL] = String(freshUntil);
  const { Response } = await import('miniflare'); // Node's own Response cannot cross into workerd
  await caches.default.put(url, new Response(JSON.stringify(doc), { headers }));
}

/** GET /auth/login?connector=… : the redirect to the IdP, and how long it took. */
async function startLogin(stack, connector) {
  const t0 = performance.now();
  const r = await new Browserless().navigate(`${stack.origin}/auth/login?connector=${connector}`);
  const ms = Math.round(performance.now() - t0);
  assert.equal(r.status, 302, `${r.describe(600)}\nworker log:\n${stack.logs.since(0).join('\n')}`);
  return { location: new URL(r.location), ms };
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
      await seed(stack.worker, url, op.discoveryDocument(), until);

      const first = await startLogin(stack, 'main');
      assert.equal(first.location.pathname, '/authorize');
      assert.equal(op.count(DISCOVERY), 0, 'served from the Cache API');

      // The IdP moves its authorization endpoint; our copy's remaining seconds run out.
      op.setDiscovery({ authorization_endpoint: `${op.issuer}/authorize-v2` });
      await sleep((until + 1) * 1000 - Date.now() + 100);
      const mark = stack.logs.mark();
      const stale = await startLogin(stack, 'main');
      assert.equal(stale.location.pathname, '/authorize', 'answered from the stale document');
      assert.ok(stale.ms < FAST_MS, `answered in ${stale.ms} ms`);
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
        await seed(stack.worker, `${op.issuer}${DISCOVERY}`, op.discoveryDocument(), freshUntil);
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
      await seed(stack.worker, `${recent.issuer}${DISCOVERY}`, recent.discoveryDocument(), nowSeconds() - 600);
      await seed(stack.worker, `${old.issuer}${DISCOVERY}`, old.discoveryDocument(), nowSeconds() - 86_400 - 60);
      await recent.close();
      await old.close();
      const mark = stack.logs.mark();
      const { location } = await startLogin(stack, 'recent');
      assert.equal(location.origin + location.pathname, `${recent.issuer}/authorize`, 'the expired copy routes the sign-in');
      assert.match(stack.logs.since(mark).join('\n'), /failed .*using the expired copy in the cache/, 'the operator is told');
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

          // Another isolate: the first worker is gone, a new one (same config and port) shares its Cache API.
          await stack.worker.dispose();
          const second = await startWorker({
            config: stack.config,
            secrets: stack.secrets,
            sessionKeys: stack.sessionKeys,
            port: stack.worker.port,
            miniflare: { cachePersist, handleStructuredLogs: (entry) => stack.logs.push(entry) },
          });
          try {
            await expectAccepted(stack, { connector: 'main' });
            assert.equal(main.count(DISCOVERY), 1, 'discovery came from the Cache API');
            assert.equal(main.count('/jwks'), 1, 'the keys came from the Cache API');
            await startLogin(stack, 'nostore');
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
