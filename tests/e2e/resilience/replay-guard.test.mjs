// The single-use store (the ReplayGuard Durable Object, issue 13) when it cannot answer: sign-ins fail closed
// with a page and a code (503 replay_store_unavailable) and a log line for the operator, before the code is
// sent to the provider; signed-in sessions keep working (the hot path never asks the store).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { assertLogged, me } from '../../support/assert.mjs';
import { Browserless, ROOT, SESSION_COOKIE, startWorker } from '../../support/harness.mjs';
import { expectAccepted, expectRefused, startHostileStack, throughWorker } from '../../support/stacks.mjs';

let stack;
before(async () => {
  stack = await startHostileStack({ connectors: [{ id: 'acme' }] });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/** Another worker of the same deployment (configuration, SESSION_KEYS, provider), with these options. */
async function sibling(opts) {
  return startWorker({ config: stack.config, secrets: stack.secrets, sessionKeys: stack.sessionKeys, ...opts });
}

/** A sign-in through `worker`, refused at the callback with 503 replay_store_unavailable before any token request. */
async function refusedClosed(worker, reason) {
  const view = { ...throughWorker(stack, worker), logs: worker.logs };
  const op = stack.ops.acme;
  const before = op.count('/token');
  const { response } = await expectRefused(view, {
    connector: 'acme', code: 'replay_store_unavailable', status: 503, reason, recover: false, at: '/auth/callback',
  });
  assert.match(await response.text(), /used only once/, 'the page says why');
  assert.equal(op.count('/token'), before, 'the code was never sent to the provider');
}

describe('the single-use store cannot answer: sign-ins fail closed, sessions keep working', () => {
  test('control: with the store, a sign-in goes through', async () => {
    await expectAccepted(stack, { connector: 'acme' });
  });

  test('no REPLAY_GUARD binding -> 503 replay_store_unavailable, logged, code not redeemed; an existing session still works', async () => {
    const { b } = await expectAccepted(stack, { connector: 'acme' });
    const worker = await sibling({ replayGuard: false });
    try {
      await refusedClosed(worker, /GET \/auth\/callback: replay_store_unavailable \(the single-use store could not be reached: no Durable Object binding REPLAY_GUARD/);
      const session = b.getCookie(SESSION_COOKIE, stack.origin);
      const carried = new Browserless();
      carried.setCookie(SESSION_COOKIE, session, { url: worker.url });
      const who = await me(carried, worker.url, 200);
      assert.equal(who.email, 'alice@acme.example');
      const page = await carried.get(`${worker.url}/`);
      assert.equal(page.status, 200, page.describe());
    } finally {
      await worker.dispose();
    }
  });

  test('the object throws on every claim -> 503 replay_store_unavailable with its error in the log', async () => {
    const worker = await sibling({
      scriptPath: path.join(ROOT, 'tests', 'support', 'replay-guard-down.mjs'),
      // build/index.js is imported by the test double: an ES module, as the entry is.
      miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }] },
    });
    try {
      const mark = worker.logs.mark();
      await refusedClosed(worker, /replay_store_unavailable \(the single-use store could not be reached: REPLAY_GUARD: storage unavailable \(test double\)/);
      await assertLogged(worker.logs, mark, /replay_store_unavailable/);
    } finally {
      await worker.dispose();
    }
  });
});
