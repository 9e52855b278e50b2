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

  test('the object never answers -> 503 replay_store_unavailable after the claim timeout (5 s), not a hung sign-in', { timeout: 30_000 }, async () => {
    const worker = await sibling({
      scriptPath: path.join(ROOT, 'tests', 'support', 'replay-guard-hung.mjs'),
      miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }] },
    });
    try {
      const started = Date.now();
      await refusedClosed(worker, /replay_store_unavailable \(the single-use store could not be reached: REPLAY_GUARD: no answer within 5 s/);
      assert.ok(Date.now() - started < 15_000, 'answered within the timeout');
    } finally {
      await worker.dispose();
    }
  });
});

describe('the ReplayGuard object itself (lowered limits: 5 rows, no grace, alarm every 200 ms)', () => {
  let probe;
  before(async () => {
    probe = await startWorker({
      config: stack.config,
      scriptPath: path.join(ROOT, 'tests', 'support', 'replay-guard-probe.mjs'),
      revocationLog: false,
      miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }], assets: undefined },
    });
  }, { timeout: 30_000 });
  after(async () => {
    await probe?.dispose();
  });
  const now = () => Math.floor(Date.now() / 1000);
  async function claim(id, until, { scope = 'login', object = 'replay-0' } = {}) {
    const q = new URLSearchParams({ scope, id, until: String(until), object });
    const r = await fetch(`${probe.url}/claim?${q}`);
    return { status: r.status, text: await r.text() };
  }
  const rows = async (object = 'replay-0') => Number(await (await fetch(`${probe.url}/rows?object=${object}`)).text());

  test('first, then seen, atomically per (scope, id); another scope or object is another claim', async () => {
    const until = now() + 600;
    assert.deepEqual(await claim('id-a', until), { status: 200, text: 'first' });
    assert.deepEqual(await claim('id-a', until), { status: 200, text: 'seen' });
    assert.deepEqual(await claim('id-a', until + 5), { status: 200, text: 'seen' }, 'a later until does not renew it');
    assert.deepEqual(await claim('id-a', until, { scope: 'jti' }), { status: 200, text: 'first' });
    // Concurrent claims of one id: exactly one is first.
    const answers = await Promise.all(Array.from({ length: 8 }, () => claim('id-race', until, { object: 'replay-1' })));
    assert.deepEqual(answers.map((a) => a.text).sort(), ['first', ...Array(7).fill('seen')]);
  });

  test('malformed claims are errors, never "first"', async () => {
    for (const [id, until, scope] of [['', now() + 60, 'login'], ['x'.repeat(129), now() + 60, 'login'], ['a b', now() + 60, 'login'],
      ['ok', now() + 60, 'Login!'], ['ok', now() + 86_400 * 2, 'login'], ['ok', Number.NaN, 'login']]) {
      const r = await claim(id, until, { scope, object: 'replay-2' });
      assert.equal(r.status, 503, `${id}/${until}/${scope}: ${r.text}`);
      assert.match(r.text, /ReplayGuard: (malformed|until must be)/);
    }
  });

  test('bounded: beyond its rows a claim is refused with an error; expired rows make room and the alarm deletes them', async () => {
    const object = 'replay-3';
    for (let i = 0; i < 5; i++) assert.equal((await claim(`fill-${i}`, now() + 600, { object })).text, 'first');
    const full = await claim('one-more', now() + 600, { object });
    assert.equal(full.status, 503, full.text);
    assert.match(full.text, /ReplayGuard: full \(5 unexpired claims in this object\): claim refused/);
    assert.equal(await rows(object), 5, 'the flood did not grow the table');
    // A still-unexpired claim stays seen while the object is full.
    assert.equal((await claim('fill-0', now() + 600, { object })).text, 'seen');

    // Expired claims make room at once when the object is full.
    const stale = 'replay-5';
    for (let i = 0; i < 5; i++) assert.equal((await claim(`old-${i}`, now() - 1, { object: stale })).text, 'first');
    assert.equal((await claim('new', now() + 600, { object: stale })).text, 'first');
    assert.equal(await rows(stale), 1);

    const other = 'replay-4';
    const soon = now() + 1;
    for (let i = 0; i < 5; i++) assert.equal((await claim(`short-${i}`, soon, { object: other })).text, 'first');
    // The alarm (at until + grace, no earlier than 200 ms) deletes what expired.
    const deadline = Date.now() + 10_000;
    while ((await rows(other)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await rows(other), 0, 'the alarm deleted the expired claims');
    assert.equal((await claim('short-0', now() + 600, { object: other })).text, 'first', 'an expired id may be claimed again');
  });

  test('a full object refuses a flood of claims without reading its whole table for each', async () => {
    // Full of unexpired claims, every refused claim deleted with a scan (`until + grace <= now` cannot use the
    // index) and counted every row again: a flood cost rows read (billed, and the free plan's daily limit) in
    // proportion to the bound, on the one object the shard's sign-ins wait for.
    const object = 'replay-7';
    const read = async () => Number(await (await fetch(`${probe.url}/read?object=${object}`)).text());
    for (let i = 0; i < 5; i++) assert.equal((await claim(`keep-${i}`, now() + 600, { object })).text, 'first');
    const before = await read();
    for (let i = 0; i < 20; i++) assert.equal((await claim(`flood-${i}`, now() + 600, { object })).status, 503);
    const perClaim = ((await read()) - before) / 20;
    assert.ok(perClaim <= 2, `a refused claim read ${perClaim} rows (the table holds 5)`);
    assert.equal(await rows(object), 5);
  });

  test('RPC reaches claim only: no caller can purge unexpired claims by naming a time', async () => {
    // `purge(now)` was a public method, so callable over RPC by any code holding a stub: purge(far future)
    // deleted every unexpired claim, and each replayed id was "first" again.
    const object = 'replay-8';
    assert.equal((await claim('kept', now() + 600, { object })).text, 'first');
    const r = await fetch(`${probe.url}/purge?object=${object}&now=${now() + 86_400 * 365}`);
    assert.equal(r.status, 503, await r.text());
    assert.equal((await claim('kept', now() + 600, { object })).text, 'seen');
  });

  test('a long claim does not put off the deletion of the shorter ones claimed after it', async () => {
    // The alarm was set once, for the first claim: a claim until tomorrow (a jti, a SAML assertion) pinned every
    // shorter claim after it in storage until then.
    const object = 'replay-6';
    assert.equal((await claim('long', now() + 3_600, { object })).text, 'first');
    for (let i = 0; i < 3; i++) assert.equal((await claim(`brief-${i}`, now() + 1, { object })).text, 'first');
    const deadline = Date.now() + 10_000;
    while ((await rows(object)) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await rows(object), 1, 'the expired claims were deleted, the long one kept');
    assert.equal((await claim('long', now() + 3_600, { object })).text, 'seen');
  });
});
