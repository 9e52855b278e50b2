// The identity provider stopped, slow or rotating its keys while the worker runs (issue 6), end to end through
// the real worker in workerd with the scriptable test OP (tests/support/fake-idp/op.mjs):
//
// - stopped after a first sign-in: discovery and the JWKS are cached in the isolate, so existing sessions keep
//   working and new sign-ins still get their redirect to the IdP; the callback then fails cleanly (token
//   endpoint refused: 502 idp_unreachable, no session) at once;
// - never reachable: /auth/login answers 502 idp_unreachable at once;
// - slow (the socket accepted, no answer for 15 s): the worker gives up after its 10 s IdP timeout
//   (src/platform/mod.rs IDP_TIMEOUT) with the same 502 page, and nothing is poisoned: the next sign-in
//   against a responsive IdP succeeds on the same worker;
// - the JWKS endpoint down when a token with an unknown kid arrives: the one forced refetch fails, the token is
//   refused, and the cached keys keep verifying (stale-if-error).
//
// Every test starts its own worker and provider and disposes of them in `finally` (no orphan workerd). The two
// slow cases cost about 10 s each.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';

import { assertNoSessionSet, assertRefusal, me } from '../../support/assert.mjs';
import { Browserless, SESSION_COOKIE } from '../../support/harness.mjs';
import { expectAccepted, expectRefused, loginThrough, startHostileStack } from '../../support/stacks.mjs';

const UNREACHABLE = { status: 502, code: 'idp_unreachable' };
/** The worker's timeout on requests to an IdP (src/platform/mod.rs). */
const IDP_TIMEOUT_MS = 10_000;
/** How long the slow provider holds a request: longer than the worker's timeout. */
const SLOW_MS = 15_000;
// No test asserts how long an answer took (timing belongs to the benchmark; a loaded CI machine flips such
// thresholds). "At once" is checked by what the worker logs: a refused connection is reported as such, never as
// the timeout ("no answer within 10 s"); "gave up after the timeout" by the timeout's log line and a 502 where
// waiting for the slow answer would have signed in. Durations are printed for the reader.
const TIMEOUT_LOG = /no answer within/;
const DISCOVERY = '/.well-known/openid-configuration';

/** Run `fn(stack)` against a fresh worker with one connector `main`; always disposes of worker and provider. */
async function withStack(fn, opts = {}) {
  const stack = await startHostileStack({ connectors: [{ id: 'main', ...opts }] });
  try {
    return await fn(stack, stack.ops.main);
  } finally {
    await stack.close();
  }
}

/** `fn()`'s result and how long it took (ms). */
async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: Math.round(performance.now() - t0) };
}

/** Resolves true when nothing accepts connections on 127.0.0.1:`port` (the provider is really down). */
function refusesConnections(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** The 502 idp_unreachable page, no session set and none in the jar, /auth/me 401. */
async function assertUnreachablePage(r, b, origin, context = '') {
  try {
    assertRefusal(r, UNREACHABLE);
  } catch (err) {
    err.message += context;
    throw err;
  }
  assert.match(r.body, /Your identity provider is not answering/, `a page that says what happened\n${r.describe(600)}`);
  assert.match(r.body, /href="\/auth\/login"/, `a way to try again\n${r.describe(600)}`);
  assertNoSessionSet(r);
  assert.equal(b.getCookie(SESSION_COOKIE, origin), undefined, 'no session cookie in the jar');
  assert.equal((await me(b, origin, 401)).error, 'unauthenticated');
}

const loginUrl = (stack, email = `alice@${stack.byId.main.domain}`) =>
  `${stack.origin}/auth/login?email=${encodeURIComponent(email)}`;

describe('IdP stopped after a first sign-in (discovery and JWKS cached in the isolate)', () => {
  test('existing sessions keep working, new sign-ins still get the redirect, the callback fails at once with 502 idp_unreachable', async () => {
    await withStack(async (stack, op) => {
      const { origin } = stack;
      const { b: signedIn, session } = await expectAccepted(stack, { connector: 'main' });
      assert.equal(op.count(DISCOVERY), 1);
      assert.equal(op.count('/jwks'), 1);

      // A second visitor is at the IdP (signed in there, code issued) when it goes down.
      const midway = await loginThrough(stack, { connector: 'main', stopBeforeCallback: true });
      assert.match(midway.callbackUrl, /[?&]code=/);

      await op.close();
      assert.ok(await refusesConnections(op.port), 'the provider no longer accepts connections');

      // Existing session: the protected page and /auth/me, served from the cookie alone.
      const page = await signedIn.navigate(`${origin}/`);
      assert.equal(page.status, 200, page.describe());
      assert.match(page.body, /<title>Protected site/);
      assert.deepEqual(await me(signedIn, origin, 200), session);

      // A new sign-in: the redirect to the IdP comes from the cached discovery document.
      const newcomer = new Browserless();
      const start = await timed(() => newcomer.navigate(loginUrl(stack)));
      assert.equal(start.value.status, 302, start.value.describe());
      const authorize = new URL(start.value.location);
      assert.equal(`${authorize.origin}${authorize.pathname}`, `${op.issuer}/authorize`);

      // Its callback (as if the IdP had answered just before going down): the token endpoint is refused.
      const state = authorize.searchParams.get('state');
      const cb = await timed(() => newcomer.navigate(`${origin}/auth/callback?code=issued-before-the-outage&state=${encodeURIComponent(state)}`));
      await assertUnreachablePage(cb.value, newcomer, origin, `\nworker log:\n${stack.logs.since(0).join('\n')}`);

      // The visitor whose code was really issued: same answer.
      const mark = stack.logs.mark();
      const real = await timed(() => midway.b.navigate(midway.callbackUrl));
      await assertUnreachablePage(real.value, midway.b, origin);
      assert.ok(await stack.logs.waitFor(/token endpoint/, mark), `the worker logs which request failed: ${stack.logs.since(mark).join(' | ')}`);
      assert.ok(!stack.logs.since(0).some((l) => TIMEOUT_LOG.test(l)), `a refused connection fails at once, not by the timeout: ${stack.logs.since(0).join(' | ')}`);

      // And the existing session is still fine after those failures.
      assert.equal((await me(signedIn, origin, 200)).email, session.email);
      console.log(`[outage] stopped IdP: login redirect ${start.ms} ms, callbacks ${cb.ms} ms / ${real.ms} ms`);
    });
  });
});

describe('IdP never reachable', () => {
  test('the first /auth/login?email=… answers 502 idp_unreachable at once, every time', async () => {
    await withStack(async (stack, op) => {
      await op.close();
      assert.ok(await refusesConnections(op.port));
      const b = new Browserless();
      for (let i = 0; i < 2; i++) {
        const mark = stack.logs.mark();
        const { value: r, ms } = await timed(() => b.navigate(loginUrl(stack)));
        assert.equal(r.headers.get('location'), null, `no redirect\n${r.describe()}`);
        await assertUnreachablePage(r, b, stack.origin, `\nworker log:\n${stack.logs.since(mark).join('\n')}`);
        assert.ok(await stack.logs.waitFor(/discovery/, mark), `the worker logs the discovery failure: ${stack.logs.since(mark).join(' | ')}`);
        assert.ok(!stack.logs.since(mark).some((l) => TIMEOUT_LOG.test(l)), `a refused connection fails at once, not by the timeout: ${stack.logs.since(mark).join(' | ')}`);
        console.log(`[outage] IdP never reachable: attempt ${i + 1} answered in ${ms} ms`);
      }
      // The rest of the site still behaves: a page navigation without a session goes to the login page.
      const r = await b.navigate(`${stack.origin}/somewhere`);
      assert.equal(r.status, 302, r.describe());
      assert.equal(new URL(r.location).pathname, '/auth/login');
    });
  });
});

describe(`Slow IdP (answers after ${SLOW_MS / 1000} s): the worker gives up after its ${IDP_TIMEOUT_MS / 1000} s timeout`, () => {
  test('slow token endpoint: 502 idp_unreachable after ~10 s, no session; the next sign-in succeeds', async () => {
    await withStack(async (stack, op) => {
      op.setDelay('/token', SLOW_MS);
      const res = await loginThrough(stack, { connector: 'main', stopBeforeCallback: true, b: new Browserless({ timeoutMs: 30_000 }) });
      const mark = stack.logs.mark();
      const opMark = op.mark();
      const { value: r, ms } = await timed(() => res.b.navigate(res.callbackUrl));
      await assertUnreachablePage(r, res.b, stack.origin, `\nafter ${ms} ms\nworker log:\n${stack.logs.since(mark).join('\n')}`);
      // Had the worker waited for the slow answer (15 s), the sign-in would have succeeded: the 502 and the
      // timeout's log line say it gave up at its own timeout.
      const held = op.requests.slice(opMark).filter((q) => q.path === '/token');
      assert.equal(held.length, 1, 'the worker sent one token request, and did not retry it');
      assert.equal(held[0].held, SLOW_MS);
      assert.ok(await stack.logs.waitFor(/token endpoint.*no answer within 10 s/, mark), `the worker logs the timeout: ${stack.logs.since(mark).join(' | ')}`);
      console.log(`[outage] slow token endpoint: 502 after ${ms} ms`);

      op.setDelay('/token', 0);
      await expectAccepted(stack, { connector: 'main' });
    });
  });

  test('slow discovery: /auth/login answers 502 idp_unreachable after ~10 s; nothing cached, the next sign-in succeeds', async () => {
    await withStack(async (stack, op) => {
      op.setDelay(DISCOVERY, SLOW_MS);
      const b = new Browserless({ timeoutMs: 30_000 });
      const mark = stack.logs.mark();
      const { value: r, ms } = await timed(() => b.navigate(loginUrl(stack)));
      assert.equal(r.headers.get('location'), null, `no redirect\n${r.describe()}`);
      await assertUnreachablePage(r, b, stack.origin, `\nafter ${ms} ms\nworker log:\n${stack.logs.since(mark).join('\n')}`);
      assert.equal(op.count(DISCOVERY), 1, 'one discovery request, not retried');
      assert.ok(await stack.logs.waitFor(/discovery.*no answer within 10 s/, mark), `the worker logs the timeout: ${stack.logs.since(mark).join(' | ')}`);
      console.log(`[outage] slow discovery: 502 after ${ms} ms`);

      op.setDelay(DISCOVERY, 0);
      await expectAccepted(stack, { connector: 'main' });
      assert.equal(op.count(DISCOVERY), 2, 'the failed discovery was not cached: fetched again');
    });
  });
});

/**
 * A JWKS served from a server of its own (the provider's discovery points `jwks_uri` at it), so that the JWKS
 * alone can go down (connection refused) while the token endpoint still answers.
 */
async function startJwksHost(op) {
  const host = { hits: 0 };
  const server = http.createServer((req, res) => {
    host.hits += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(op.publishedJwks()));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  host.port = server.address().port;
  host.url = `http://127.0.0.1:${host.port}/jwks`;
  host.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return host;
}

describe('JWKS endpoint down when a token with an unknown kid arrives (stale-if-error for the JWKS)', () => {
  // Each mode: set up before the first sign-in, then take the JWKS down; `fetches()` counts JWKS requests that
  // reached a server.
  const modes = {
    'connection refused': async (op) => {
      const host = await startJwksHost(op);
      op.setDiscovery({ jwks_uri: host.url });
      return {
        fetches: () => host.hits,
        takeDown: async () => {
          await host.close();
          assert.ok(await refusesConnections(host.port));
        },
        dispose: () => host.close(),
      };
    },
    'HTTP 503': async (op) => ({
      fetches: () => op.count('/jwks'),
      takeDown: async () => op.serve('/jwks', { status: 503, type: 'text/plain', body: 'down for maintenance' }),
      dispose: async () => {},
    }),
  };
  for (const [label, setUp] of Object.entries(modes)) {
    test(`${label}: the one refetch fails, the new-key token is refused (id_token_invalid), the cached old key still verifies`, async () => {
      await withStack(
        async (stack, op) => {
          const jwks = await setUp(op);
          try {
            await expectAccepted(stack, { connector: 'main' });
            assert.equal(jwks.fetches(), 1, 'the first sign-in fetched the JWKS once');

            const { previous, current } = await op.rotateKeys({ alg: 'RS256' });
            assert.notEqual(previous.kid, current.kid);
            await jwks.takeDown();
            const before = jwks.fetches();

            // Signed with the new key: unknown kid -> one forced refetch, which fails -> refused with the cached set.
            const refused = await expectRefused(stack, {
              connector: 'main',
              spec: { key: current, header: { kid: current.kid } },
              code: 'id_token_invalid',
              status: 400,
              reason: /no key with the token's kid/,
              recover: false,
            });
            const fallback = await stack.logs.waitForEvent('idp_fetch_failed', { document: 'jwks', stale: true }, refused.logMark);
            assert.ok(fallback, `the worker tried the JWKS and kept its cached keys: ${stack.logs.since(refused.logMark).join(' | ')}`);
            assert.equal(
              stack.logs.events(refused.logMark, 'idp_fetch_failed').filter((e) => e.document === 'jwks').length,
              1,
              'exactly one refetch attempt',
            );
            // The 503 is seen by the server; a refused connection is not.
            assert.equal(jwks.fetches() - before, label === 'HTTP 503' ? 1 : 0);

            // Signed with the old key, cached before the outage: still verifies, without any JWKS request.
            const mark = stack.logs.mark();
            await expectAccepted(stack, { connector: 'main', spec: { key: previous, header: { kid: previous.kid } } });
            assert.equal(jwks.fetches() - before, label === 'HTTP 503' ? 1 : 0, 'no JWKS request for a cached kid');
            assert.deepEqual(stack.logs.since(mark).filter((l) => /JWKS|jwks_uri/.test(l)), []);
            console.log(`[outage] JWKS ${label}: ${JSON.stringify(fallback)}`);
          } finally {
            await jwks.dispose().catch(() => {});
          }
        },
        { op: { keys: [{ alg: 'RS256' }] } },
      );
    });
  }
});
