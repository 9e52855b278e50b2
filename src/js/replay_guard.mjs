// The single-use store (issue 13): a SQLite-backed Durable Object. "Claim this id until T" answers "first" or
// "seen", atomically: one INSERT on a primary key, inside the object (a Durable Object runs one event at a time,
// and the SQL call is synchronous). The worker spreads ids over 16 objects by a hash (core::replay::shard_name)
// and calls `claim` over RPC (src/platform/replay.rs); it fails closed when the object cannot answer.
//
// Bounded: expired rows are deleted by the object's alarm (and at once when the object is full); beyond maxRows
// unexpired claims a claim is refused with an error (the sign-in fails closed) rather than the table growing
// without bound. Written in JS, not Rust: the class is a few SQL statements, and a workers-rs class would add
// its fetch/alarm glue to the wasm every request loads.
import { DurableObject } from "cloudflare:workers";

// The object's limits (exported so that a test can lower them: tests/support/replay-guard-probe.mjs).
export const limits = {
  // Unexpired claims one object keeps (16 objects: 1.6 million claims within a transaction's 10 minutes).
  maxRows: 100_000,
  // The longest a claim may last (seconds): a login transaction lasts 10 minutes.
  maxTtl: 86_400,
  // A row outlives its `until` by this much (seconds), for clocks that differ between isolates.
  grace: 60,
  // The alarm runs at most this often (milliseconds).
  purgeEveryMs: 60_000,
};
const SCOPE = /^[a-z_]{1,32}$/;
const ID = /^[A-Za-z0-9_-]{1,128}$/;

export class ReplayGuard extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS claims (scope TEXT NOT NULL, id TEXT NOT NULL, until INTEGER NOT NULL, " +
        "PRIMARY KEY (scope, id)) WITHOUT ROWID",
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS claims_until ON claims (until)");
    this.rows = this.count();
    this.alarmAt = undefined;
  }

  count() {
    return this.sql.exec("SELECT COUNT(*) AS n FROM claims").one().n;
  }

  // Deletes what expired, through the index only (a full object under a flood is asked on every claim: it must
  // not scan, or count, its whole table each time).
  #purge(now) {
    const cutoff = now - limits.grace;
    const expired = this.sql.exec("SELECT COUNT(*) AS n FROM claims WHERE until <= ?", cutoff).one().n;
    if (expired === 0) return;
    this.sql.exec("DELETE FROM claims WHERE until <= ?", cutoff);
    this.rows = Math.max(0, this.rows - expired);
  }

  /** "first" the first time `id` is claimed in `scope` (before `until`, seconds since the epoch), "seen" after. */
  async claim(scope, id, until) {
    if (typeof scope !== "string" || !SCOPE.test(scope) || typeof id !== "string" || !ID.test(id)) {
      throw new Error("ReplayGuard: malformed scope or id");
    }
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isSafeInteger(until) || until > now + limits.maxTtl) {
      throw new Error(`ReplayGuard: until must be a time within ${limits.maxTtl} s`);
    }
    if (this.rows >= limits.maxRows) {
      this.#purge(now);
      if (this.rows >= limits.maxRows) {
        // Full: a replay is still told apart (it is "seen"), anything new is refused.
        if (this.sql.exec("SELECT 1 FROM claims WHERE scope = ? AND id = ?", scope, id).toArray().length) return "seen";
        throw new Error(`ReplayGuard: full (${this.rows} unexpired claims in this object): claim refused`);
      }
    }
    const written = this.sql.exec(
      "INSERT INTO claims (scope, id, until) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      scope,
      id,
      until,
    ).rowsWritten;
    if (written === 0) return "seen";
    this.rows++;
    // The deletion of what expires: one alarm at a time, no earlier than the minute, and brought forward when
    // this claim expires before it (an alarm set for a long claim must not keep the shorter ones after it).
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    const due = Math.max((until + limits.grace) * 1000, Date.now() + limits.purgeEveryMs);
    if (this.alarmAt === null || due < this.alarmAt) {
      this.alarmAt = due;
      await this.ctx.storage.setAlarm(due);
    }
    return "first";
  }

  async alarm() {
    const now = Math.floor(Date.now() / 1000);
    this.#purge(now);
    const next = this.sql.exec("SELECT MIN(until) AS m FROM claims").one().m;
    this.alarmAt = next === null ? null : Math.max((next + limits.grace) * 1000, Date.now() + limits.purgeEveryMs);
    if (this.alarmAt !== null) await this.ctx.storage.setAlarm(this.alarmAt);
  }
}
