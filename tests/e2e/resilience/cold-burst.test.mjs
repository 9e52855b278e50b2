// A burst of sign-ins on a cold worker asks the IdP once (issue 10 §8), end to end through the real worker in
// workerd with the scriptable test OP (tests/support/fake-idp/op.mjs), which counts every request it receives.
//
// After a deploy every isolate is cold, and IdPs throttle: N concurrent sign-ins against a freshly started
// worker must all succeed, with exactly one discovery request and one key-set request reaching the IdP (one per
// document per isolate at a time: the first sign-in fetches, the others wait for its answer). The IdP holds its
// discovery and JWKS answers for a moment, so that the whole burst arrives while the first fetch is in flight
// (without single flight every one of them would ask). The IdP marks its documents `no-store`, so the location's
// Cache API cannot absorb the burst either: the count is the isolate's doing alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { expectAccepted, startHostileStack } from '../../support/stacks.mjs';

const DISCOVERY = '/.well-known/openid-configuration';
/** Concurrent sign-ins. */
const N = 100;
/** How long the IdP holds its discovery and JWKS answers. */
const HOLD_MS = 500;

test(`${N} concurrent sign-ins on a cold worker all succeed; the IdP is asked for discovery once and for its keys once`, { timeout: 60_000 }, async () => {
  const stack = await startHostileStack({ connectors: [{ id: 'main', op: { delays: { [DISCOVERY]: HOLD_MS, '/jwks': HOLD_MS } } }] });
  try {
    const op = stack.ops.main;
    const t0 = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: N }, (_, i) => expectAccepted(stack, { connector: 'main', email: `user${i}@main.example` })),
    );
    const ms = Math.round(performance.now() - t0);
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `${failed.length} of ${N} sign-ins failed; the first:\n${failed[0]?.reason?.message}`);
    const emails = new Set(results.map((r) => r.value.session.email));
    assert.equal(emails.size, N, 'every sign-in has its own session');
    assert.equal(op.count(DISCOVERY), 1, `discovery requests for ${N} concurrent sign-ins`);
    assert.equal(op.count('/jwks'), 1, `JWKS requests for ${N} concurrent sign-ins`);
    assert.equal(op.count('/token'), N, 'one token request per sign-in');
    assert.deepEqual(stack.logs.since(0), [], 'nothing to report');
    console.log(`# ${N} concurrent sign-ins in ${ms} ms (printed, not asserted)`);
  } finally {
    await stack.close();
  }
});
