// Inputs bounded before they are read (issue 10 §6), end to end through the built worker in workerd: form
// bodies on /auth/* POST routes are capped at 64 KiB. A Content-Length over the cap is refused with 413 before
// the body is read; a body without Content-Length (chunked) is read only up to the cap, and the 413 comes while
// the client is still sending — the worker does not wait for (or buffer) the rest. Bodies within the cap are
// read as before.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { expectAccepted, startHostileStack } from '../../support/stacks.mjs';

const CAP = 64 * 1024;
let stack;
before(async () => {
  stack = await startHostileStack({ connectors: [{ id: 'main', connector: { response_mode: 'form_post' } }] });
}, { timeout: 60_000 });
after(async () => {
  await stack?.close();
}, { timeout: 30_000 });

/**
 * POST to the worker with a raw node:http request, chunked (no Content-Length). `chunks` are written one after another; with
 * `keepOpen` the request is not ended after them (the test ends it once it has the answer).
 * Resolves with { status, code, body, answeredBeforeEnd }.
 */
function rawPost(path, { chunks, keepOpen = false, contentType = 'application/x-www-form-urlencoded' }) {
  return new Promise((resolve, reject) => {
    let ended = false;
    const headers = { 'content-type': contentType };
    const req = http.request({ host: '127.0.0.1', port: stack.worker.port, path, method: 'POST', headers }, (res) => {
      const answeredBeforeEnd = !ended;
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        if (!ended) {
          ended = true;
          req.destroy();
        }
        resolve({ status: res.statusCode, code: res.headers['x-edge-auth-error'], body: Buffer.concat(parts).toString(), answeredBeforeEnd });
      });
    });
    req.on('error', reject);
    req.flushHeaders();
    (async () => {
      for (const c of chunks) {
        if (ended) return;
        if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      }
      if (!keepOpen) {
        ended = true;
        req.end();
      }
    })().catch(reject);
  });
}

const formOf = (bytes) => `logout_token=${'a'.repeat(bytes - 'logout_token='.length)}`;

describe('request bodies on /auth/* are capped before they are read', () => {
  test('Content-Length over 64 KiB: 413 payload_too_large (back-channel logout and form_post callback)', async () => {
    for (const path of ['/auth/logout/backchannel', '/auth/callback']) {
      const body = formOf(CAP + 1);
      const r = await fetch(`${stack.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      assert.equal(r.status, 413, `${path}: ${r.status} ${(await r.text()).slice(0, 200)}`);
      assert.equal(r.headers.get('x-edge-auth-error'), 'payload_too_large', path);
    }
  });

  test('a declared length far beyond the cap (1 MiB) is refused as such, not read and parsed', async () => {
    const body = `logout_token=${'a'.repeat(1024 * 1024)}`;
    const r = await fetch(`${stack.origin}/auth/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    assert.equal(r.status, 413);
    assert.equal(r.headers.get('x-edge-auth-error'), 'payload_too_large');
  });

  test('no Content-Length (chunked): 413 as soon as the stream passes the cap, while the client is still sending', async () => {
    const chunk = 'a'.repeat(16 * 1024);
    const chunks = ['logout_token=', ...Array.from({ length: 5 }, () => chunk)]; // 80 KiB + a bit, then the request stays open
    const r = await Promise.race([
      rawPost('/auth/logout/backchannel', { chunks, keepOpen: true }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s: the worker waits for the end of the body')), 5000)),
    ]);
    assert.equal(r.status, 413, `${r.status} ${r.code}`);
    assert.equal(r.code, 'payload_too_large');
    assert.ok(r.answeredBeforeEnd, 'answered before the request body ended');
  });

  test('bodies up to the cap are still read (control): exactly 64 KiB, with Content-Length or chunked', async () => {
    const body = formOf(CAP);
    const declared = await fetch(`${stack.origin}/auth/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const chunked = await rawPost('/auth/logout/backchannel', { chunks: [body.slice(0, 1000), body.slice(1000)] });
    for (const [label, status, code] of [['Content-Length', declared.status, declared.headers.get('x-edge-auth-error')], ['chunked', chunked.status, chunked.code]]) {
      // Read and refused on its merits (not a valid logout token), not for its size.
      assert.equal(status, 400, `${label}: ${status} ${code}`);
      assert.notEqual(code, 'payload_too_large', label);
    }
  });

  test('the worker is unharmed: a form_post sign-in works after the refusals', async () => {
    await expectAccepted(stack, { connector: 'main' });
  });
});

describe('IdP answers are capped while they stream (512 KiB)', () => {
  // An "IdP" whose discovery document never ends: 600 KiB sent, then the connection stays open. A worker that
  // reads answers whole waits for its 10 s timeout; a capped read gives up as soon as the cap is passed.
  let idp;
  let worker;
  const sockets = new Set();
  before(async () => {
    const { startWorker } = await import('../../support/harness.mjs');
    idp = http.createServer((req, res) => {
      const declared = req.url.startsWith('/declared');
      res.writeHead(200, { 'content-type': 'application/json', ...(declared ? { 'content-length': String(10 * 1024 * 1024) } : {}) });
      res.write('{"issuer":"');
      if (!declared) for (let i = 0; i < 600; i++) res.write('a'.repeat(1024));
      // ...and never end.
    });
    idp.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise((r) => idp.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${idp.address().port}`;
    worker = await startWorker({
      config: {
        connectors: [
          { id: 'endless', kind: 'oidc', issuer: `${base}/streamed`, client_id: 'c', client_secret_binding: 'S', domains: ['endless.example'] },
          { id: 'declared', kind: 'oidc', issuer: `${base}/declared`, client_id: 'c', client_secret_binding: 'S', domains: ['declared.example'] },
        ],
      },
      secrets: { S: 'secret' },
    });
  }, { timeout: 60_000 });
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.allSettled([worker?.dispose(), new Promise((r) => idp?.close(r))]);
  }, { timeout: 30_000 });

  for (const domain of ['endless.example', 'declared.example']) {
    test(`${domain}: the sign-in is refused (idp_unreachable) at the size cap, not by the 10 s IdP timeout`, async () => {
      const mark = worker.logs.mark();
      const r = await fetch(`${worker.url}/auth/login?email=${encodeURIComponent(`alice@${domain}`)}`, { redirect: 'manual' });
      assert.equal(r.status, 502, `${r.status}`);
      assert.equal(r.headers.get('x-edge-auth-error'), 'idp_unreachable');
      // Which limit ended the read, from the worker's log (no stopwatch): the cap, not the timeout.
      const why = await worker.logs.waitFor(/idp_unreachable/, mark);
      assert.match(why ?? '', /response larger than \d+ bytes/, `the worker stopped reading at the cap: ${worker.logs.since(mark).join(' | ')}`);
      assert.doesNotMatch(why ?? '', /no answer within/, 'not the timeout');
    });
  }
});
