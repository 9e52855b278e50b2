// The revocation log (issue 13): sessions ended by the IdP (front- and back-channel logout) and by our own
// sign-out, in one SQLite-backed Durable Object. Writes are strongly consistent (one object, one event at a
// time, synchronous SQL); every isolate keeps a copy in memory and learns what changed by a cursor: each entry
// written gets the next sequence number, and `since(n)` answers the entries after n. The hot path never calls
// the object: isolates poll it in the background (core::session::revocation_state).
//
// Bounded: beyond maxPerConnector entries for one connector, or maxRows in all, a new entry is refused (the
// IdP is told 503 and the operator a log line) — never written and then evicted. Entries written by the
// unauthenticated front-channel logout have a share of their own (half of each limit), so a flood of made-up
// logouts cannot use up the room the signed back-channel and our own sign-out need. Each entry lasts until its
// `until` (the logout time plus the longest session lifetime): the alarm deletes it then, and isolates drop it
// from memory by the same time, so deletions need no cursor.
//
// Written in JS, not Rust: the class is a few SQL statements, and a workers-rs class would add its glue to
// the wasm every request loads. The worker calls it over RPC (src/platform/revocations.rs).
import { DurableObject } from "cloudflare:workers";

// The object's limits (exported so that a test can lower them).
export const limits = {
  // Entries the log holds in all, and per connector.
  maxRows: 40_000,
  maxPerConnector: 10_000,
  // The front-channel's share (unauthenticated writes): per connector, and in all.
  maxUnauthenticatedPerConnector: 5_000,
  maxUnauthenticated: 20_000,
  // The longest an entry may last (seconds): a session lives at most 30 days, plus leeway.
  maxTtl: 31 * 86_400,
  // Entries one `since` answers.
  pageSize: 1_000,
  // A row outlives its `until` by this much (seconds), for clocks that differ between isolates.
  grace: 60,
  // The alarm runs at most this often (milliseconds).
  purgeEveryMs: 60_000,
};

const KEY = /^rev:[A-Za-z0-9_-]{43}$/;
const CONNECTOR = /^[A-Za-z0-9_.-]{0,128}$/;
// The longest entry text, in UTF-16 code units (what `length` counts): well above what the worker writes (≤ 255-byte
// values, an issuer, a connector id).
const MAX_ENTRY_LENGTH = 2_048;

// Every string of a parsed entry, names included, is well-formed UTF-16.
function wellFormed(value) {
  if (typeof value === "string") return value.isWellFormed();
  if (value === null || typeof value !== "object") return true;
  return Object.entries(value).every(([name, v]) => name.isWellFormed() && wellFormed(v));
}

export class RevocationLog extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS revocations (key TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, " +
        "connector TEXT NOT NULL, unauthenticated INTEGER NOT NULL, until INTEGER NOT NULL, entry TEXT NOT NULL)",
    );
    this.sql.exec("CREATE INDEX IF NOT EXISTS revocations_until ON revocations (until)");
    // The log's identity: a new one (storage lost, the object deleted) makes every isolate read it again whole.
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    const meta = new Map(this.sql.exec("SELECT name, value FROM meta").toArray().map((r) => [r.name, r.value]));
    // The last number given out is kept in storage, not taken from the table: the alarm deletes rows, the highest
    // numbers among them, and a number given again after a restart would be below the cursor of every running
    // isolate, which would never read that entry. A log without it (written before it was kept) may have given
    // numbers again already: a new identity makes every isolate read it whole once.
    const kept = Number(meta.get("last_seq"));
    const stored = meta.has("last_seq") && Number.isSafeInteger(kept) && kept >= 0 ? kept : undefined;
    this.generation = stored !== undefined && meta.has("generation") ? meta.get("generation") : crypto.randomUUID();
    this.lastSeq = Math.max(stored ?? 0, this.sql.exec("SELECT COALESCE(MAX(seq), 0) AS s FROM revocations").one().s);
    // Written only when they change: a start of the object (every few minutes of quiet, in every deployment) is
    // otherwise a read, not two row writes.
    if (meta.get("generation") !== this.generation) {
      this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('generation', ?)", this.generation);
    }
    if (meta.get("last_seq") !== String(this.lastSeq)) {
      this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('last_seq', ?)", String(this.lastSeq));
    }
    // Counts, read once when the object starts and kept as rows come and go (a write under a flood must not
    // count the table).
    this.counts = new Map(); // "connector\0unauthenticated" -> rows
    for (const r of this.sql.exec(
      "SELECT connector, unauthenticated AS u, COUNT(*) AS n FROM revocations GROUP BY connector, unauthenticated",
    )) {
      this.counts.set(`${r.connector}\0${r.u}`, r.n);
    }
    this.alarmAt = undefined;
    // Whether `since` has given the log a new identity since the object started (see there).
    this.renamed = false;
  }

  // The next sequence number, stored before the row that carries it (same event: written together).
  #nextSeq() {
    this.lastSeq += 1;
    this.sql.exec("UPDATE meta SET value = ? WHERE name = 'last_seq'", String(this.lastSeq));
    return this.lastSeq;
  }

  #count(connector, unauthenticated) {
    return this.counts.get(`${connector}\0${unauthenticated ? 1 : 0}`) ?? 0;
  }

  #add(connector, unauthenticated, n) {
    const k = `${connector}\0${unauthenticated ? 1 : 0}`;
    const v = (this.counts.get(k) ?? 0) + n;
    if (v > 0) this.counts.set(k, v);
    else this.counts.delete(k);
  }

  #totals() {
    let all = 0;
    let unauthenticated = 0;
    for (const [k, n] of this.counts) {
      all += n;
      if (k.endsWith("\u00001")) unauthenticated += n;
    }
    return { all, unauthenticated };
  }

  /**
   * Record one revocation: `key` (its identity, core Revocation::store_key) and `entry` (its JSON text, as the
   * isolates read it back: "c" the connector it is accounted to, "u" true when it came through the
   * unauthenticated front-channel, "a" the logout time, "x" until when it lasts, seconds since the epoch).
   * Answers "written" (a new entry, or a known one that now says more: it gets a new sequence number), "known"
   * (nothing new), or a refusal "connector_full:COUNT:LIMIT" / "store_full:COUNT:LIMIT" (nothing written).
   */
  async record(key, entry) {
    if (typeof key !== "string" || !KEY.test(key) || typeof entry !== "string" || entry.length > MAX_ENTRY_LENGTH) {
      throw new Error("RevocationLog: malformed key or entry");
    }
    let e;
    try {
      e = JSON.parse(entry);
    } catch {
      throw new Error("RevocationLog: malformed entry");
    }
    const now = Math.floor(Date.now() / 1000);
    const connector = e?.c ?? "";
    const unauthenticated = e?.u === true;
    if (e === null || typeof e !== "object" || Array.isArray(e) || typeof connector !== "string" || !CONNECTOR.test(connector)) {
      throw new Error("RevocationLog: malformed entry");
    }
    // Well-formed text only: a lone surrogate (raw, or as a "\ud800" escape in the JSON) would be stored as an
    // escape the worker's JSON reader refuses.
    if (!wellFormed(e)) throw new Error("RevocationLog: malformed entry");
    if (!Number.isSafeInteger(e.a) || !Number.isSafeInteger(e.x) || e.x <= now || e.x > now + limits.maxTtl) {
      throw new Error(`RevocationLog: an entry needs a time "a" and an end "x" within ${limits.maxTtl} s`);
    }
    const old = this.sql.exec("SELECT entry, connector, unauthenticated AS u FROM revocations WHERE key = ?", key).toArray()[0];
    if (old !== undefined) {
      // The same session(s) again: keep what says more — the later logout time (a subject's later logout ends
      // more of its sessions), the later end, and "authenticated" once a signed channel has said so. An older
      // or anonymous repeat never weakens what is there.
      const was = JSON.parse(old.entry);
      const merged = { ...was, a: Math.max(was.a, e.a), x: Math.max(was.x, e.x) };
      const stillAnonymous = old.u === 1 && unauthenticated;
      if (stillAnonymous) merged.u = true;
      else delete merged.u;
      if (merged.a === was.a && merged.x === was.x && stillAnonymous === (old.u === 1)) return "known";
      this.sql.exec(
        "UPDATE revocations SET seq = ?, entry = ?, until = ?, unauthenticated = ? WHERE key = ?",
        this.#nextSeq(),
        JSON.stringify(merged),
        merged.x,
        stillAnonymous ? 1 : 0,
        key,
      );
      if (stillAnonymous !== (old.u === 1)) {
        this.#add(old.connector, true, -1);
        this.#add(old.connector, false, 1);
      }
      await this.#schedulePurge(merged.x);
      return "written";
    }
    const refusal = this.#refusal(connector, unauthenticated, now);
    if (refusal) return refusal;
    this.sql.exec(
      "INSERT INTO revocations (key, seq, connector, unauthenticated, until, entry) VALUES (?, ?, ?, ?, ?, ?)",
      key,
      this.#nextSeq(),
      connector,
      unauthenticated ? 1 : 0,
      e.x,
      // What was read here, written again: a member named twice is stored once, as this object counted it. The
      // worker's reader refuses a name given twice; an entry it cannot read would be one revocation lost.
      JSON.stringify(e),
    );
    this.#add(connector, unauthenticated, 1);
    await this.#schedulePurge(e.x);
    return "written";
  }

  // Why a new entry cannot be written (after deleting what expired, when that could make room), or undefined.
  #refusal(connector, unauthenticated, now) {
    const check = () => {
      const mine = this.#count(connector, false) + this.#count(connector, true);
      const totals = this.#totals();
      if (mine >= limits.maxPerConnector) return `connector_full:${mine}:${limits.maxPerConnector}`;
      if (totals.all >= limits.maxRows) return `store_full:${totals.all}:${limits.maxRows}`;
      if (unauthenticated) {
        const anonymous = this.#count(connector, true);
        if (anonymous >= limits.maxUnauthenticatedPerConnector) {
          return `connector_full:${anonymous}:${limits.maxUnauthenticatedPerConnector}`;
        }
        if (totals.unauthenticated >= limits.maxUnauthenticated) {
          return `store_full:${totals.unauthenticated}:${limits.maxUnauthenticated}`;
        }
      }
      return undefined;
    };
    const first = check();
    if (first === undefined) return undefined;
    this.#purge(now);
    return check();
  }

  /**
   * What was written after sequence number `cursor`, as JSON text (the isolates parse it with the worker's one
   * JSON reader): {"generation": "…", "next": N, "more": bool, "entries": [{"seq": N, "entry": {…}}, …]}.
   * `next` is the cursor for the following call; `more` says whether that call has more to read now.
   */
  async since(cursor) {
    if (!Number.isSafeInteger(cursor) || cursor < 0) throw new Error("RevocationLog: malformed cursor");
    if (cursor > this.lastSeq) {
      // A cursor this log never gave out: its numbering went back (storage restored to an earlier point, which
      // restarts the object). Under a new identity every isolate reads it whole, instead of waiting past numbers
      // that will be given again. Once per start: the other isolates with such a cursor hold the old identity
      // and read it whole anyway (a second change would only break the reads under way).
      if (!this.renamed) {
        this.generation = crypto.randomUUID();
        this.sql.exec("UPDATE meta SET value = ? WHERE name = 'generation'", this.generation);
        this.renamed = true;
      }
      cursor = 0;
    }
    const rows = this.sql
      .exec("SELECT seq, entry FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?", cursor, limits.pageSize + 1)
      .toArray();
    const more = rows.length > limits.pageSize;
    if (more) rows.pop();
    const next = rows.length ? rows[rows.length - 1].seq : Math.max(cursor, 0);
    const entries = rows.map((r) => `{"seq":${r.seq},"entry":${r.entry}}`).join(",");
    return `{"generation":${JSON.stringify(this.generation)},"next":${next},"more":${more},"entries":[${entries}]}`;
  }

  /** Counts, for tests and health checks: {rows, unauthenticated, perConnector: {id: rows}}. */
  async stats() {
    const perConnector = {};
    for (const [k, n] of this.counts) {
      const connector = k.slice(0, k.indexOf("\u0000"));
      perConnector[connector] = (perConnector[connector] ?? 0) + n;
    }
    const totals = this.#totals();
    return { rows: totals.all, unauthenticated: totals.unauthenticated, perConnector, lastSeq: this.lastSeq };
  }

  // Deletes what expired, through the index only, keeping the counts and the last sequence number.
  #purge(now) {
    const cutoff = now - limits.grace;
    const expired = this.sql
      .exec(
        "SELECT connector, unauthenticated AS u, COUNT(*) AS n FROM revocations WHERE until <= ? GROUP BY connector, unauthenticated",
        cutoff,
      )
      .toArray();
    if (expired.length === 0) return;
    this.sql.exec("DELETE FROM revocations WHERE until <= ?", cutoff);
    for (const r of expired) this.#add(r.connector, r.u === 1, -r.n);
  }

  // One alarm at a time, no earlier than purgeEveryMs from now, brought forward when this entry expires first.
  async #schedulePurge(until) {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    const due = Math.max((until + limits.grace) * 1000, Date.now() + limits.purgeEveryMs);
    if (this.alarmAt === null || due < this.alarmAt) {
      this.alarmAt = due;
      await this.ctx.storage.setAlarm(due);
    }
  }

  async alarm() {
    this.#purge(Math.floor(Date.now() / 1000));
    const next = this.sql.exec("SELECT MIN(until) AS m FROM revocations").one().m;
    this.alarmAt = next === null ? null : Math.max((next + limits.grace) * 1000, Date.now() + limits.purgeEveryMs);
    if (this.alarmAt !== null) await this.ctx.storage.setAlarm(this.alarmAt);
  }
}
