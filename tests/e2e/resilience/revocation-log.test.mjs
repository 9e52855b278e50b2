// The revocation log Durable Object class itself (src/js/revocation_log.mjs, built to build/revocation_log.mjs),
// in workerd, through tests/support/revocation-log-object-probe.mjs: the class with lowered limits (6 rows in
// all, 4 per connector, the front-channel's share 2 per connector and 3 in all, pages of 3, no grace, alarm
// every 200 ms). Each test names the rule it holds the class to; every instance (`object`) is used by one test.
// The worker's side (writing on logout, reading by cursor) is tested in tests/e2e/sessions/logout.test.mjs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ROOT, startWorker } from '../../support/harness.mjs';

let probe;
before(async () => {
  probe = await startWorker({
    config: {},
    scriptPath: path.join(ROOT, 'tests', 'support', 'revocation-log-object-probe.mjs'),
    replayGuard: false,
    miniflare: { modulesRoot: ROOT, modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }], assets: undefined },
  });
}, { timeout: 30_000 });
after(async () => {
  await probe?.dispose();
});

const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One call of the object's `route` with these arguments, as they are: {status, answer} or {status, error}. */
async function call(route, object, ...args) {
  const r = await fetch(`${probe.url}/${route}`, { method: 'POST', body: JSON.stringify({ object, args }) });
  if (r.status === 200) return { status: 200, answer: (await r.json()).answer };
  return { status: r.status, error: await r.text() };
}

/** A store key of the shape core Revocation::store_key makes: "rev:" + 43 base64url characters. */
function newKey() {
  return `rev:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`;
}

/** An entry as the worker writes it (core Revocation's members k, i, v, a, c, u, x), with `over` on top. */
function entryOf(over = {}) {
  const t = now();
  return { k: 'sid', i: 'https://idp.example', v: `sid-${crypto.randomUUID()}`, a: t, c: 'acme', x: t + 600, ...over };
}

/** record(key, entry): the answer ("written", "known", a refusal); fails the test on an error. */
async function record(object, key, entry) {
  const r = await call('record', object, key, typeof entry === 'string' ? entry : JSON.stringify(entry));
  assert.equal(r.status, 200, `record answered an error: ${r.error}`);
  return r.answer;
}

/** since(cursor), parsed (its answer is JSON text). */
async function since(object, cursor) {
  const r = await call('since', object, cursor);
  assert.equal(r.status, 200, `since(${cursor}) answered an error: ${r.error}`);
  assert.equal(typeof r.answer, 'string', 'since answers JSON text');
  return JSON.parse(r.answer);
}

async function stats(object) {
  return (await call('stats', object)).answer;
}

/** The table counted by SQL, as stats() reports it from the counts kept in memory. */
async function table(object) {
  return (await call('table', object)).answer;
}

/** Waits until `check()` is true (polling every 100 ms, at most `ms`). */
async function waitFor(check, ms = 8_000) {
  const deadline = Date.now() + ms;
  while (!(await check()) && Date.now() < deadline) await sleep(100);
  return check();
}

/** Waits until the object's clock (the same as ours) has passed `x`: an entry lasting until x has expired. */
async function waitPast(x) {
  while (now() <= x) await sleep(100);
}

describe('the RevocationLog object itself (lowered limits)', () => {
  test('malformed calls are errors, never "written", and write nothing', async () => {
    const object = 'malformed';
    const t = now();
    const good = newKey();
    const entry = (over) => JSON.stringify(entryOf(over));
    const withoutMember = (name) => {
      const e = entryOf();
      delete e[name];
      return JSON.stringify(e);
    };
    // A well-formed entry of exactly `n` characters (its "v" padded).
    const ofLength = (n) => {
      const bare = JSON.stringify({ ...entryOf(), v: '' });
      return bare.replace('"v":""', `"v":"${'s'.repeat(n - bare.length)}"`);
    };
    const cases = [
      ['key too short', 'rev:' + 'A'.repeat(42), entry()],
      ['key too long', 'rev:' + 'A'.repeat(44), entry()],
      ['key without "rev:"', 'key:' + 'A'.repeat(43), entry()],
      ['key in standard base64', 'rev:' + 'A+/'.repeat(14) + 'A', entry()],
      ['key not a string', 42, entry()],
      ['entry not JSON', good, '{"a": 1,'],
      ['entry an array', good, JSON.stringify([t, t + 600])],
      ['entry null', good, 'null'],
      ['entry a number', good, '42'],
      ['entry a JSON string', good, JSON.stringify(entry())],
      ['entry not a string', good, entryOf()],
      // JSON.parse would read it as its one string (String(["{…}"]) is the text), and its length would be 1.
      ['entry an array holding the JSON text', good, [entry()]],
      ['entry too long (2,049 characters)', good, ofLength(2_049)],
      ['connector with a space', good, entry({ c: 'ac me' })],
      ['connector with a slash', good, entry({ c: 'acme/../x' })],
      ['connector with a NUL (the counts\' separator)', good, entry({ c: 'acme\u0000x' })],
      ['connector not ASCII', good, entry({ c: 'äcme' })],
      ['connector of 129 characters', good, entry({ c: 'c'.repeat(129) })],
      ['connector a number', good, entry({ c: 7 })],
      ['no "a"', good, withoutMember('a')],
      ['"a" not an integer', good, entry({ a: t + 0.5 })],
      ['"a" a string', good, entry({ a: String(t) })],
      ['no "x"', good, withoutMember('x')],
      ['"x" not an integer', good, entry({ x: t + 600.5 })],
      ['"x" a string', good, entry({ x: String(t + 600) })],
      ['"x" in the past', good, entry({ x: t - 1 })],
      ['"x" beyond maxTtl (31 days)', good, entry({ x: t + 31 * 86_400 + 60 })],
      // A lone surrogate would be stored as a "\ud800" escape, which the worker's JSON reader refuses.
      ['a lone surrogate in "v" (as JSON.stringify escapes it)', good, entry({ v: 'sid-\ud800' })],
      ['a lone surrogate in "v" (raw)', good, entry({ v: 'sid-x' }).replace('sid-x', 'sid-\ud800')],
      ['a lone surrogate in a member name', good, entry({ ['n\udc00']: 1 })],
    ];
    for (const [why, key, e] of cases) {
      const r = await call('record', object, key, e);
      assert.equal(r.status, 503, `${why}: answered ${JSON.stringify(r.answer)}`);
      assert.match(r.error, /^RevocationLog: (malformed|an entry needs)/, `${why}: ${r.error}`);
    }
    assert.deepEqual(await stats(object), { rows: 0, unauthenticated: 0, perConnector: {}, lastSeq: 0 }, 'nothing was written');
    assert.deepEqual((await since(object, 0)).entries, []);

    // The nearest well-formed calls are written: the refusals above were for their defects.
    assert.equal(ofLength(2_049).length, 2_049);
    for (const [why, e] of [
      ['an entry of 2,048 characters', ofLength(2_048)],
      ['a connector of 128 characters', entry({ c: 'c'.repeat(128) })],
      ['no connector (accounted to "")', withoutMember('c')],
      ['a connector of letters, digits, "_", "." and "-"', entry({ c: 'Acme_2.eu-west' })],
      ['"x" at maxTtl', entry({ x: now() + 31 * 86_400 - 5 })],
    ]) {
      assert.equal(await record(object, newKey(), e), 'written', why);
    }
  });

  test('an entry is stored as read: a member named twice is stored once, with the value the object accounted', async () => {
    const object = 'normalised';
    const e = entryOf({ c: 'acme' });
    // The text names "c" twice (JSON.parse keeps the last); the worker's reader refuses such a text outright, so
    // stored verbatim it would be one revocation every isolate counts as unreadable.
    const text = JSON.stringify(e).replace('"c":"acme"', '"c":"other","c":"acme"');
    assert.match(text, /"c":"other","c":"acme"/);
    assert.equal(await record(object, newKey(), text), 'written');
    const r = await call('since', object, 0);
    assert.equal(r.status, 200, r.error);
    assert.equal(r.answer.match(/"c":/g).length, 1, r.answer);
    assert.deepEqual(JSON.parse(r.answer).entries, [{ seq: 1, entry: e }]);
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 0, perConnector: { acme: 1 }, lastSeq: 1 });
  });

  test('written, then known; a later "a" or "x" is written again under a new sequence number, an earlier one is not', async () => {
    const object = 'merge';
    const key = newKey();
    const first = entryOf();
    assert.equal(await record(object, key, first), 'written');
    assert.equal(await record(object, key, first), 'known', 'the same entry again');
    let page = await since(object, 0);
    assert.deepEqual(page.entries, [{ seq: 1, entry: first }], 'stored as written');

    // A later logout time: the subject's later logout ends more of its sessions, so isolates must learn it.
    assert.equal(await record(object, key, { ...first, a: first.a + 5 }), 'written');
    page = await since(object, 1);
    assert.deepEqual(page.entries, [{ seq: 2, entry: { ...first, a: first.a + 5 } }], 'since(the old cursor) answers it, under seq 2');
    assert.deepEqual((await since(object, 0)).entries.map((r) => r.seq), [2], 'one row per key: it moved, not copied');

    // An earlier logout time does not lower it (an older repeat never weakens what is there).
    assert.equal(await record(object, key, first), 'known');
    assert.equal(await record(object, key, { ...first, a: first.a - 100 }), 'known');
    assert.deepEqual((await since(object, 2)).entries, [], 'nothing new to read');

    // A later end is written again; an earlier "a" in the same repeat keeps the later one.
    assert.equal(await record(object, key, { ...first, a: first.a - 100, x: first.x + 60 }), 'written');
    page = await since(object, 2);
    assert.deepEqual(page.entries, [{ seq: 3, entry: { ...first, a: first.a + 5, x: first.x + 60 } }], 'the max of each');
    // An earlier end does not shorten it.
    assert.equal(await record(object, key, { ...first, a: first.a + 5, x: first.x }), 'known');
    assert.deepEqual((await since(object, 3)).entries, []);
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 0, perConnector: { acme: 1 }, lastSeq: 3 });
  });

  test('an anonymous entry repeated by a signed channel becomes authenticated; a signed one repeated anonymously stays so', async () => {
    const object = 'authenticated';
    // Front-channel first, then the back-channel for the same session.
    const anonymousKey = newKey();
    const anonymous = entryOf({ u: true });
    assert.equal(await record(object, anonymousKey, anonymous), 'written');
    assert.equal(await record(object, anonymousKey, anonymous), 'known', 'anonymous again: nothing new');
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 1, perConnector: { acme: 1 }, lastSeq: 1 });
    const { u: _u, ...signed } = anonymous;
    assert.equal(await record(object, anonymousKey, signed), 'written', 'the signed repeat says more');
    assert.deepEqual((await since(object, 1)).entries, [{ seq: 2, entry: signed }], 'read again without "u"');
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 0, perConnector: { acme: 1 }, lastSeq: 2 },
      'the row left the front-channel share');

    // Back-channel first: a front-channel repeat (same or later time) does not make it anonymous again.
    const signedKey = newKey();
    const signedFirst = entryOf();
    assert.equal(await record(object, signedKey, signedFirst), 'written');
    assert.equal(await record(object, signedKey, { ...signedFirst, u: true }), 'known');
    assert.equal(await record(object, signedKey, { ...signedFirst, a: signedFirst.a + 1, u: true }), 'written', 'a later time is news');
    assert.deepEqual((await since(object, 3)).entries, [{ seq: 4, entry: { ...signedFirst, a: signedFirst.a + 1 } }], 'still without "u"');
    assert.deepEqual(await stats(object), { rows: 2, unauthenticated: 0, perConnector: { acme: 2 }, lastSeq: 4 });
    assert.deepEqual(await table(object), { rows: 2, unauthenticated: 0, perConnector: { acme: 2 }, maxSeq: 4 }, 'the table agrees');

    // The share it left is room again: two anonymous entries fit in acme's front-channel share of 2.
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
  });

  test('bounded per connector: "connector_full:4:4", nothing written, another connector keeps its room, known entries still answered', async () => {
    const object = 'per-connector';
    const keys = [];
    for (let i = 0; i < 4; i++) {
      keys.push([newKey(), entryOf()]);
      assert.equal(await record(object, ...keys[i]), 'written');
    }
    const before = await stats(object);
    assert.equal(await record(object, newKey(), entryOf()), 'connector_full:4:4');
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'connector_full:4:4', 'the front-channel too');
    assert.deepEqual(await stats(object), before, 'nothing written, no sequence number used');
    assert.deepEqual((await since(object, before.lastSeq)).entries, [], 'nothing new to read');
    assert.deepEqual(await table(object), { rows: 4, unauthenticated: 0, perConnector: { acme: 4 }, maxSeq: 4 });

    // Entries it holds are still answered while it is full, and one that says more is still written.
    assert.equal(await record(object, ...keys[0]), 'known');
    assert.equal(await record(object, keys[1][0], { ...keys[1][1], a: keys[1][1].a + 1 }), 'written');
    assert.equal(await record(object, newKey(), entryOf({ c: 'other' })), 'written', 'another connector keeps its room');
    assert.deepEqual((await stats(object)).perConnector, { acme: 4, other: 1 });
  });

  test('bounded in all: "store_full:6:6", nothing written, known entries still answered', async () => {
    const object = 'in-all';
    const kept = [newKey(), entryOf({ c: 'a' })];
    assert.equal(await record(object, ...kept), 'written');
    for (const c of ['a', 'a', 'b', 'b', 'b']) assert.equal(await record(object, newKey(), entryOf({ c })), 'written');
    const before = await stats(object);
    assert.deepEqual(before, { rows: 6, unauthenticated: 0, perConnector: { a: 3, b: 3 }, lastSeq: 6 });
    assert.equal(await record(object, newKey(), entryOf({ c: 'c' })), 'store_full:6:6', 'a connector with no entries yet');
    assert.equal(await record(object, newKey(), entryOf({ c: 'a' })), 'store_full:6:6', 'a connector below its own bound');
    assert.deepEqual(await stats(object), before, 'nothing written');
    assert.deepEqual((await since(object, 6)).entries, []);
    assert.equal(await record(object, ...kept), 'known');
  });

  test('the front-channel has a share of its own, per connector (2) and in all (3); the signed channels keep their room', async () => {
    const object = 'front-channel';
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'connector_full:2:2', "acme's anonymous share is used up");
    assert.deepEqual(await stats(object), { rows: 2, unauthenticated: 2, perConnector: { acme: 2 }, lastSeq: 2 }, 'nothing written');
    assert.equal(await record(object, newKey(), entryOf()), 'written', 'the back-channel still writes for acme');
    assert.equal(await record(object, newKey(), entryOf({ c: 'other', u: true })), 'written', "another connector's share");
    assert.equal(await record(object, newKey(), entryOf({ c: 'third', u: true })), 'store_full:3:3', 'the anonymous share in all is used up');
    assert.deepEqual(await stats(object), { rows: 4, unauthenticated: 3, perConnector: { acme: 3, other: 1 }, lastSeq: 4 }, 'nothing written');
    assert.deepEqual((await since(object, 4)).entries, []);
    assert.equal(await record(object, newKey(), entryOf({ c: 'third' })), 'written', 'a signed write still has room');
    assert.deepEqual(await table(object), { rows: 5, unauthenticated: 3, perConnector: { acme: 3, other: 1, third: 1 }, maxSeq: 5 });
  });

  test('since: pages of 3 in sequence order, "more" until the end, "next" the last seq read, a stable generation', async () => {
    const object = 'pages';
    const written = [];
    for (const c of ['a', 'a', 'a', 'b', 'b']) {
      const e = entryOf({ c });
      written.push(e);
      assert.equal(await record(object, newKey(), e), 'written');
    }
    const first = await since(object, 0);
    assert.equal(typeof first.generation, 'string');
    assert.ok(first.generation.length > 0);
    assert.deepEqual(first, { generation: first.generation, next: 3, more: true, entries: written.slice(0, 3).map((entry, i) => ({ seq: i + 1, entry })) });
    const second = await since(object, first.next);
    assert.deepEqual(second, { generation: first.generation, next: 5, more: false, entries: written.slice(3).map((entry, i) => ({ seq: i + 4, entry })) });
    assert.deepEqual(await since(object, 5), { generation: first.generation, next: 5, more: false, entries: [] }, 'at the end: the cursor stays');
    assert.deepEqual((await since(object, 1)).entries.map((r) => r.seq), [2, 3, 4], 'from any cursor');

    // A sixth entry: exactly one page remains after 3, so "more" is false on it.
    written.push(entryOf({ c: 'b' }));
    assert.equal(await record(object, newKey(), written[5]), 'written');
    assert.deepEqual(await since(object, 3), { generation: first.generation, next: 6, more: false, entries: written.slice(3).map((entry, i) => ({ seq: i + 4, entry })) });
    assert.equal((await since(object, 2)).more, true, 'four after 2: one more to read');
    // A cursor beyond the end was never given out (storage restored to an earlier point): the log takes a new
    // identity and answers from its start, so every isolate reads it whole (attacks/revocation-log.test.mjs).
    const beyond = await since(object, 9);
    assert.notEqual(beyond.generation, first.generation, 'a new identity');
    assert.deepEqual(beyond.entries.map((r) => r.seq), [1, 2, 3], 'from the start');

    const other = await since('pages-other', 0);
    assert.notEqual(other.generation, first.generation, 'another log, another generation');
    assert.deepEqual(other, { generation: other.generation, next: 0, more: false, entries: [] });
  });

  test('since: a malformed cursor is an error', async () => {
    const object = 'cursor';
    for (const cursor of [-1, 1.5, '3', null, true, [1], 2 ** 53]) {
      const r = await call('since', object, cursor);
      assert.equal(r.status, 503, `since(${JSON.stringify(cursor)}) answered ${JSON.stringify(r.answer)}`);
      assert.match(r.error, /^RevocationLog: malformed cursor/);
    }
  });

  test('expiry: the alarm deletes what expired and its counts; sequence numbers go on from the last', async () => {
    const object = 'alarm';
    const short = now() + 2;
    const kept = entryOf({ c: 'b', x: now() + 600 });
    assert.equal(await record(object, newKey(), entryOf({ x: short })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ x: short, u: true })), 'written');
    assert.equal(await record(object, newKey(), kept), 'written');
    assert.equal(await record(object, newKey(), entryOf({ x: short })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ c: 'b', x: short, u: true })), 'written');
    assert.deepEqual(await stats(object), { rows: 5, unauthenticated: 2, perConnector: { acme: 3, b: 2 }, lastSeq: 5 });
    assert.ok(await waitFor(async () => (await stats(object)).rows === 1), 'the alarm deleted the expired entries');
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 0, perConnector: { b: 1 }, lastSeq: 5 });
    assert.deepEqual(await table(object), { rows: 1, unauthenticated: 0, perConnector: { b: 1 }, maxSeq: 3 }, 'the table agrees');
    assert.deepEqual((await since(object, 0)).entries, [{ seq: 3, entry: kept }]);
    // The highest sequence numbers were deleted: the next entry still gets a higher one (an isolate at cursor 5
    // must read it).
    const later = entryOf();
    assert.equal(await record(object, newKey(), later), 'written');
    assert.deepEqual((await since(object, 5)).entries, [{ seq: 6, entry: later }]);
  });

  test('expiry: a full connector gets room back from what expired at once, before the alarm runs', async () => {
    const object = 'purge-on-full';
    assert.equal((await call('hold-alarms', object)).answer, 'held');
    const short = now() + 2;
    for (const u of [false, false, true, true]) assert.equal(await record(object, newKey(), entryOf({ x: short, ...(u ? { u } : {}) })), 'written');
    assert.equal(await record(object, newKey(), entryOf()), 'connector_full:4:4');
    await waitPast(short);
    await sleep(300); // the alarm was due at `short` (+ 0 grace): it would have run by now
    assert.deepEqual(await stats(object), { rows: 4, unauthenticated: 2, perConnector: { acme: 4 }, lastSeq: 4 }, 'the alarm did nothing');
    const fresh = entryOf({ u: true });
    assert.equal(await record(object, newKey(), fresh), 'written', 'the expired entries were deleted to make room');
    assert.deepEqual(await stats(object), { rows: 1, unauthenticated: 1, perConnector: { acme: 1 }, lastSeq: 5 });
    assert.deepEqual(await table(object), { rows: 1, unauthenticated: 1, perConnector: { acme: 1 }, maxSeq: 5 });
    assert.deepEqual((await since(object, 4)).entries, [{ seq: 5, entry: fresh }]);
  });

  test('restarted, the object counts what its table holds and its sequence numbers never go back', async () => {
    // The counts are kept in memory, read from the table when the object starts; the last sequence number too.
    const object = 'restart';
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ c: 'b' })), 'written');
    const upgraded = [newKey(), entryOf({ c: 'b', u: true })];
    assert.equal(await record(object, ...upgraded), 'written');
    const { u: _u, ...signed } = upgraded[1];
    assert.equal(await record(object, upgraded[0], signed), 'written');
    const short = now() + 2;
    assert.equal(await record(object, newKey(), entryOf({ x: short })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ c: 'b', x: short, u: true })), 'written');
    const generation = (await since(object, 0)).generation;
    // Every entry written last expires, and the alarm deletes them (the highest sequence numbers) before the restart.
    assert.ok(await waitFor(async () => (await stats(object)).rows === 3), 'the alarm deleted the expired entries');
    const before = await stats(object);
    assert.deepEqual(before, { rows: 3, unauthenticated: 1, perConnector: { acme: 1, b: 2 }, lastSeq: 6 });

    assert.equal((await call('restart', object)).status, 503, 'the reset call itself fails');
    assert.deepEqual(await stats(object), before, 'the same counts and last sequence number, read again from storage');
    const t = await table(object);
    assert.deepEqual({ rows: t.rows, unauthenticated: t.unauthenticated, perConnector: t.perConnector },
      { rows: before.rows, unauthenticated: before.unauthenticated, perConnector: before.perConnector });
    assert.equal((await since(object, 0)).generation, generation, 'the same log: isolates keep their cursor');
    // An isolate that read up to 6 before the restart must read what is written after it.
    const after = entryOf({ c: 'b' });
    assert.equal(await record(object, newKey(), after), 'written');
    assert.deepEqual((await since(object, 6)).entries, [{ seq: 7, entry: after }]);
    // The bounds hold with the counts read again: acme's anonymous share has room for one more, b's connector one.
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ u: true })), 'connector_full:2:2');
    assert.equal(await record(object, newKey(), entryOf({ c: 'b' })), 'written');
    assert.equal(await record(object, newKey(), entryOf({ c: 'b' })), 'connector_full:4:4');
    assert.deepEqual(await stats(object), { rows: 6, unauthenticated: 2, perConnector: { acme: 2, b: 4 }, lastSeq: 9 });
  });
});
