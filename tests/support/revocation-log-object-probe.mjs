// The RevocationLog Durable Object class (build/revocation_log.mjs) on its own, with lowered limits, behind a
// probe worker. Every route is `POST /<route>` with a JSON body {object, args}: `object` names the instance
// (idFromName), `args` are passed as they are to the method, so that a test can send malformed values.
//   /record  record(key, entry)   /since  since(cursor)   /stats  stats()
//   /table   what the table holds, counted by SQL (not the counts the object keeps in memory)
//   /hold-alarms  the object's alarm does nothing from now on (until it restarts): to see what record does alone
//   /restart the object is reset (ctx.abort) and starts again from its storage on the next call
// Answers 200 {answer} or 503 with the error's message. For tests/e2e/resilience/revocation-log.test.mjs (run
// with modulesRoot at the repository root).
import { limits, RevocationLog as Log } from '../../build/revocation_log.mjs';

Object.assign(limits, {
  maxRows: 6,
  maxPerConnector: 4,
  maxUnauthenticatedPerConnector: 2,
  maxUnauthenticated: 3,
  pageSize: 3,
  grace: 0,
  purgeEveryMs: 200,
});

export class RevocationLog extends Log {
  constructor(ctx, env) {
    super(ctx, env);
    this.alarmsHeld = false;
  }

  async alarm() {
    if (this.alarmsHeld) return;
    await super.alarm();
  }

  holdAlarms() {
    this.alarmsHeld = true;
    return 'held';
  }

  /** The table as SQL counts it: {rows, unauthenticated, perConnector, maxSeq}. */
  table() {
    const perConnector = {};
    let rows = 0;
    let unauthenticated = 0;
    for (const r of this.ctx.storage.sql.exec(
      'SELECT connector, unauthenticated AS u, COUNT(*) AS n FROM revocations GROUP BY connector, unauthenticated',
    )) {
      perConnector[r.connector] = (perConnector[r.connector] ?? 0) + r.n;
      rows += r.n;
      if (r.u === 1) unauthenticated += r.n;
    }
    const maxSeq = this.ctx.storage.sql.exec('SELECT COALESCE(MAX(seq), 0) AS s FROM revocations').one().s;
    return { rows, unauthenticated, perConnector, maxSeq };
  }

  restart() {
    this.ctx.abort('restarted by the test');
  }
}

const METHODS = new Set(['record', 'since', 'stats', 'table', 'hold-alarms', 'restart']);

export default {
  async fetch(request, env) {
    const route = new URL(request.url).pathname.slice(1);
    if (request.method !== 'POST' || !METHODS.has(route)) return new Response('no such route', { status: 404 });
    const { object = 'log-0', args = [] } = await request.json();
    const stub = env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(object));
    try {
      const method = route === 'hold-alarms' ? 'holdAlarms' : route;
      return Response.json({ answer: await stub[method](...args) });
    } catch (e) {
      return new Response(String(e?.message ?? e), { status: 503 });
    }
  },
};
