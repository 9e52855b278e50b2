// The ReplayGuard Durable Object class (build/replay_guard.mjs) on its own, with lowered limits, behind a probe
// worker: `GET /claim?scope=&id=&until=[&object=]` answers its claim ("first"/"seen", or 503 with the error),
// `GET /rows?object=` how many rows the object holds. For tests/e2e/resilience/replay-guard.test.mjs (run with
// modulesRoot at the repository root).
import { limits, ReplayGuard as Guard } from '../../build/replay_guard.mjs';

Object.assign(limits, { maxRows: 5, grace: 0, purgeEveryMs: 200 });

// The class, with the rows its SQL statements read counted (`GET /read?object=`: what a claim costs).
export class ReplayGuard extends Guard {
  constructor(ctx, env) {
    super(ctx, env);
    const sql = this.sql;
    const cursors = [];
    this.cursors = cursors;
    this.sql = { exec: (...args) => { const c = sql.exec(...args); cursors.push(c); return c; } };
  }
  rowsRead() {
    return this.cursors.reduce((n, c) => n + c.rowsRead, 0);
  }
}

export default {
  async fetch(request, env) {
    const q = new URL(request.url).searchParams;
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(q.get('object') ?? 'replay-0'));
    try {
      if (new URL(request.url).pathname === '/rows') return new Response(String(await stub.count()));
      if (new URL(request.url).pathname === '/read') return new Response(String(await stub.rowsRead()));
      if (new URL(request.url).pathname === '/purge') return new Response(String(await stub.purge(Number(q.get('now')))));
      return new Response(await stub.claim(q.get('scope'), q.get('id'), Number(q.get('until'))));
    } catch (e) {
      return new Response(String(e?.message ?? e), { status: 503 });
    }
  },
};
