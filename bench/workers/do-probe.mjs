// A bench-only worker in edge-auth's workerd process (bench/lib/workerd.mjs: its own service and socket), bound
// to edge-auth's two Durable Object namespaces (the same classes, the same storage), that makes the calls the
// worker makes and times each one from the caller's side:
//   GET /claim?n=N          N ReplayGuard claims of fresh ids, one at a time: what each sign-in callback adds
//                           (scope "login", a 43-character id like core::replay::claim_key's, until now + 600 s,
//                           spread over the 16 objects "replay-0".."replay-15" like core::replay::shard_name)
//   GET /fill?n=N           writes N entries to the RevocationLog (made-up sid revocations over four connectors)
//   GET /since?n=N&cursor=C N calls of since(C), C the log's last sequence number (from /fill): an isolate's
//                           background poll when nothing is new
//   GET /read-all?n=N       N whole reads of the log from cursor 0, page after page while `more` (what a fresh
//                           isolate's first request waits for); each sample is one whole read
//   GET /                   nothing (the baseline of a request to this probe)
// Each call route answers {n, total_ms, samples_ms, ...}. A stub is made for every call, as
// src/platform/durable_object.rs does. The edge-auth worker itself is not changed: this module is not part of
// it and adds no route to it.
//
// Timing: performance.now() in workerd moves in whole milliseconds and only across I/O (coarse on purpose), so
// `samples_ms` are whole milliseconds (`clock_resolution_ms`, the smallest non-zero step seen, says so) and
// only `total_ms / n` is a usable per-call figure for sub-millisecond calls. bench/lib/durable-objects.mjs
// takes percentiles from the client instead (one call per request, against requests to `/`).

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomId = () => b64url(crypto.getRandomValues(new Uint8Array(32))); // 43 characters
const REPLAY_SHARDS = 16;

function summary(samples, extra = {}) {
  const total = samples.reduce((a, b) => a + b, 0);
  const steps = samples.filter((x) => x > 0);
  return { n: samples.length, total_ms: total, samples_ms: samples, clock_resolution_ms: steps.length ? Math.min(...steps) : null, ...extra };
}

async function claims(env, n) {
  const until = Math.floor(Date.now() / 1000) + 600;
  const samples = [];
  for (let i = 0; i < n; i++) {
    const id = randomId();
    const shard = crypto.getRandomValues(new Uint32Array(1))[0] % REPLAY_SHARDS;
    const t = performance.now();
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay-${shard}`));
    const answer = await stub.claim('login', id, until);
    samples.push(performance.now() - t);
    if (answer !== 'first') throw new Error(`claim of a fresh id answered ${answer}`);
  }
  return summary(samples);
}

const log = (env) => env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName('revocations'));

async function fill(env, n) {
  const now = Math.floor(Date.now() / 1000);
  const answers = {};
  const stub = log(env);
  for (let i = 0; i < n; i++) {
    const sid = crypto.randomUUID();
    const connector = ['rs256', 'es256', 'c3', 'c4'][i % 4];
    const entry = { k: 'sid', i: `https://${connector}.bench.example`, v: sid, a: now, c: connector, x: now + 3600 };
    const answer = await stub.record(`rev:${randomId()}`, JSON.stringify(entry));
    answers[answer] = (answers[answer] ?? 0) + 1;
  }
  return { answers, stats: await stub.stats() };
}

async function since(env, n, cursor) {
  const samples = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const text = await log(env).since(cursor);
    samples.push(performance.now() - t);
    bytes = text.length;
    if (!text.endsWith('"entries":[]}')) throw new Error(`since(${cursor}) answered entries: not the log's end`);
  }
  return summary(samples, { cursor, answer_bytes: bytes });
}

async function readAll(env, n) {
  const samples = [];
  let pages = 0;
  let bytes = 0;
  let cursor = 0;
  for (let i = 0; i < n; i++) {
    pages = 0;
    bytes = 0;
    cursor = 0;
    const t = performance.now();
    for (;;) {
      const text = await log(env).since(cursor);
      pages++;
      bytes += text.length;
      // Only the two fields the loop needs, read from the page's head (the worker parses the page with its own
      // JSON reader, in wasm: that parse is not a round trip and is not timed here).
      const head = /^\{"generation":"[^"]*","next":(\d+),"more":(true|false),/.exec(text);
      if (!head) throw new Error(`unexpected page: ${text.slice(0, 200)}`);
      cursor = Number(head[1]);
      if (head[2] === 'false') break;
    }
    samples.push(performance.now() - t);
  }
  return summary(samples, { pages, last_seq: cursor, answer_bytes: bytes });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Math.max(1, Math.min(100_000, Number(url.searchParams.get('n') ?? 1) || 1));
    try {
      switch (url.pathname) {
        case '/claim':
          return Response.json(await claims(env, n));
        case '/fill':
          return Response.json(await fill(env, n));
        case '/since':
          return Response.json(await since(env, n, Number(url.searchParams.get('cursor'))));
        case '/read-all':
          return Response.json(await readAll(env, n));
        case '/':
          return new Response('do-probe');
        default:
          return new Response('not found', { status: 404 });
      }
    } catch (e) {
      return new Response(String(e?.stack ?? e), { status: 500 });
    }
  },
};
