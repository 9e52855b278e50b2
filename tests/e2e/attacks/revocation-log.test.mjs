// The revocation log's numbering (src/js/revocation_log.mjs), end to end in workerd: isolates read the log by
// cursor (the sequence number of the last entry they read, core::session::revocation_state) and never read it
// whole again while its generation stays the same. So a number, once given out, must never be given again to
// another entry — whatever the log has deleted since and however often the object restarts (Cloudflare evicts
// an idle object, moves it, restarts it on a deploy; the isolates live on).
//
// Review of issue 13: the object took its last number from MAX(seq) of the table when it started. Once the
// alarm had purged the rows that held the highest numbers (a quiet spell of one session lifetime empties the log),
// a restart numbered new entries from there again, below the cursor of every running isolate: those isolates
// asked for "after N", got nothing, and never learnt the revocation — the revoked session kept working there.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, startWorker } from '../../support/harness.mjs';

/** The built worker with test routes to its revocation log (tests/support/revocation-log-probe.mjs). */
const PROBE = {
  scriptPath: path.join(ROOT, 'tests', 'support', 'revocation-log-probe.mjs'),
  miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }] },
};

let w;
before(async () => {
  // Rows are purged at their until (no grace), by an alarm that may run at once: the test waits seconds, not minutes.
  w = await startWorker({ config: '{}', secrets: { TEST_LOG_GRACE: '0', TEST_LOG_PURGE_EVERY_MS: '0' }, ...PROBE });
});
after(async () => {
  await w?.dispose();
});

async function call(route, params = {}, method = 'GET') {
  const r = await fetch(`${w.url}/__test/revocation-log/${route}?${new URLSearchParams(params)}`, { method });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sequence numbers of the revocation log', () => {
  test('are never given out twice: after a purge and a restart, an isolate at its old cursor still reads what is new', { timeout: 60_000 }, async () => {
    for (const sid of ['old-1', 'old-2', 'old-3']) {
      assert.deepEqual(await call('record', { sid, ttl: '2' }, 'POST'), { answer: 'written' });
    }
    // A running isolate has read up to here.
    const read = await call('since', { cursor: '0' });
    assert.equal(read.entries.length, 3);
    const cursor = read.next;
    // The entries expire and the alarm purges them: the log is empty.
    let stats;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      stats = await call('stats');
      if (stats.rows === 0) break;
    }
    assert.equal(stats.rows, 0, `purged: ${JSON.stringify(stats)}`);
    // The object is evicted and starts again from its storage; the isolate lives on with its cursor.
    await call('restart', {}, 'POST');
    assert.deepEqual(await call('record', { sid: 'genuine-logout' }, 'POST'), { answer: 'written' });
    const after = await call('stats');
    assert.ok(after.lastSeq > cursor, `numbered after ${cursor}, got ${after.lastSeq} (on fc5ef33: 1, a number already read)`);
    const page = await call('since', { cursor: String(cursor) });
    assert.deepEqual(
      page.entries.map((e) => e.entry.v),
      ['genuine-logout'],
      `the isolate at cursor ${cursor} must read the new revocation: ${JSON.stringify(page)}`,
    );
    assert.equal(page.generation, read.generation, 'the same log: no whole read to rescue the isolate');
  });

  test('a cursor the log never gave out gives the log a new identity: isolates read it whole, not wait past it', async () => {
    const before = await call('since', { cursor: '0' });
    const { lastSeq } = await call('stats');
    // An isolate read up to a number this log no longer knows (its storage restored to an earlier point).
    const ahead = await call('since', { cursor: String(lastSeq + 100) });
    assert.notEqual(ahead.generation, before.generation, 'a new identity: every isolate reads the log again from its start');
    const again = await call('since', { cursor: String(lastSeq + 100) });
    assert.equal(again.generation, ahead.generation, 'once: another isolate with such a cursor does not rename it again');
    const whole = await call('since', { cursor: '0' });
    assert.equal(whole.generation, ahead.generation);
    assert.deepEqual(whole.entries.map((e) => e.seq), before.entries.map((e) => e.seq), 'the entries stay');
  });

  test('a log written before its last number was kept gets a new identity once, then keeps it', async () => {
    const before = await call('since', { cursor: '0' });
    await call('restart', { forget: '1' }, 'POST');
    const upgraded = await call('since', { cursor: '0' });
    assert.notEqual(upgraded.generation, before.generation, 'it may have given numbers twice already: read whole');
    await call('restart', {}, 'POST');
    assert.equal((await call('since', { cursor: '0' })).generation, upgraded.generation, 'the same log after a plain restart');
  });
});
