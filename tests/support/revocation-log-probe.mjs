// The built worker (build/index.js) with test-only routes that reach its revocation log (the RevocationLog
// Durable Object, binding REVOCATION_LOG) directly, as many other isolates of the deployment — or an attacker
// with a botnet behind the unauthenticated front-channel — would write to it:
//   POST /__test/revocation-log/flood?n=&connector=&unauthenticated=1&iss=   writes n entries with made-up sids
//        (sid revocations of `iss`), answers {answers: {written: n1, "connector_full:…": n2, …}}
//   GET  /__test/revocation-log/stats    the object's counts ({rows, unauthenticated, perConnector, lastSeq})
//   POST /__test/revocation-log/record?sid=&ttl=&iss=&connector=   writes one sid revocation lasting ttl seconds,
//        answers {answer}
//   GET  /__test/revocation-log/since?cursor=   the log's answer to since(cursor), as JSON
//   POST /__test/revocation-log/restart   the object is reset (ctx.abort): the next call starts it again from its
//        storage, as when Cloudflare evicts an idle object or moves it; with ?forget=1 its stored last sequence
//        number is deleted first (the storage of a log written before that number was kept)
// Everything else goes to the worker. Variants of the log, chosen by text bindings of the worker:
//   TEST_LOG_SINCE=1        every `since` call is logged ("revocation-log: since N") and answered 20 ms late
//   TEST_LOG_SINCE_FAILS=1  every `since` call throws (a log that cannot be read)
//   TEST_LOG_GRACE=S, TEST_LOG_PURGE_EVERY_MS=M   the object's `limits.grace` and `limits.purgeEveryMs` (so that
//                           a test sees expired rows purged within seconds)
// For tests/e2e/sessions/logout.test.mjs; run with modulesRoot at the repository root.
import worker, { ReplayGuard, RevocationLog as Log } from '../../build/index.js';
import { limits } from '../../build/revocation_log.mjs';

export { ReplayGuard };

export class RevocationLog extends Log {
  constructor(ctx, env) {
    super(ctx, env);
    this.testEnv = env;
    if (env.TEST_LOG_GRACE !== undefined) limits.grace = Number(env.TEST_LOG_GRACE);
    if (env.TEST_LOG_PURGE_EVERY_MS !== undefined) limits.purgeEveryMs = Number(env.TEST_LOG_PURGE_EVERY_MS);
  }

  /** Reset the object (test only): its memory is gone, its storage stays. */
  async restart() {
    this.ctx.abort(new Error('restarted by the test'));
  }

  /** Delete the stored last sequence number (test only; an event of its own: an abort discards its writes). */
  async forgetLastSeq() {
    this.ctx.storage.sql.exec("DELETE FROM meta WHERE name = 'last_seq'");
  }

  async since(cursor) {
    if (this.testEnv.TEST_LOG_SINCE_FAILS) throw new Error('the revocation log cannot be read (test double)');
    if (this.testEnv.TEST_LOG_SINCE) {
      console.warn(`revocation-log: since ${cursor}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return super.since(cursor);
  }
}

/** core::session::revocation::Revocation::store_key for a sid revocation: "rev:" + base64url(SHA-256). */
async function storeKey(iss, sid) {
  const data = new TextEncoder().encode(`sid\0${iss}\0${sid}`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return `rev:${btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith('/__test/revocation-log/')) return worker.fetch(request, env, ctx);
    const log = env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName('revocations'));
    if (url.pathname.endsWith('/stats')) return Response.json(await log.stats());
    const q = url.searchParams;
    if (url.pathname.endsWith('/since')) return new Response(await log.since(Number(q.get('cursor') ?? 0)));
    if (url.pathname.endsWith('/restart')) {
      if (q.get('forget') === '1') await log.forgetLastSeq();
      await log.restart().catch(() => {});
      return Response.json({ restarted: true });
    }
    if (url.pathname.endsWith('/record')) {
      const iss = q.get('iss') ?? 'https://flood.example';
      const sid = q.get('sid') ?? '';
      const now = Math.floor(Date.now() / 1000);
      const entry = { k: 'sid', i: iss, v: sid, a: now, c: q.get('connector') ?? '', x: now + Number(q.get('ttl') ?? 3600) };
      return Response.json({ answer: await log.record(await storeKey(iss, sid), JSON.stringify(entry)) });
    }
    const n = Number(q.get('n') ?? 0);
    const connector = q.get('connector') ?? '';
    const iss = q.get('iss') ?? 'https://flood.example';
    const unauthenticated = q.get('unauthenticated') === '1';
    const now = Math.floor(Date.now() / 1000);
    const answers = {};
    for (let i = 0; i < n; i++) {
      const sid = `flood-${crypto.randomUUID()}`;
      const entry = { k: 'sid', i: iss, v: sid, a: now, c: connector, ...(unauthenticated ? { u: true } : {}), x: now + 3600 };
      const answer = await log.record(await storeKey(iss, sid), JSON.stringify(entry));
      answers[answer] = (answers[answer] ?? 0) + 1;
    }
    return Response.json({ answers });
  },
};
